"""Monitoring of instances: alerting rules, the Grafana dashboard, the operator's per-instance
metrics and the MonitoringReady condition (the builders of the objects are in
`resources/monitoring.py`)."""
