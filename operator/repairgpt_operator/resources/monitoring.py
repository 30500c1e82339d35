"""Builds the monitoring objects of an instance: the ServiceMonitor or PodMonitor and the
PrometheusRule `<instance>-api` (prometheus-operator kinds), and the dashboard ConfigMap
`<instance>-dashboard` that Grafana's sidecar loads."""

from __future__ import annotations

import json
from typing import Any

from repairgpt_operator.instance.model import Instance
from repairgpt_operator.monitoring.dashboard import dashboard
from repairgpt_operator.monitoring.discovery import MONITORING_GROUP_VERSION
from repairgpt_operator.monitoring.rules import api_job, rule_groups
from repairgpt_operator.ownership import child_metadata, selector_labels

METRICS_PATH = "/metrics"
METRICS_PORT = "http"
GRAFANA_DASHBOARD_LABEL = "grafana_dashboard"


def _metadata(instance: Instance) -> dict[str, Any]:
    metadata = child_metadata(instance)
    # The user's labels (for the Prometheus selectors) never replace the operator's own.
    metadata["labels"] = {**instance.spec.monitoring.labels, **metadata["labels"]}
    return metadata


def _endpoint(instance: Instance) -> dict[str, Any]:
    return {
        "port": METRICS_PORT,
        "path": METRICS_PATH,
        "interval": instance.spec.monitoring.interval,
        # The same job for both kinds, which the rules and the dashboard select on.
        "relabelings": [
            {"action": "replace", "targetLabel": "job", "replacement": api_job(instance)}
        ],
    }


def _monitor_spec(instance: Instance) -> dict[str, Any]:
    return {
        "selector": {"matchLabels": selector_labels(instance, "api")},
        "namespaceSelector": {"matchNames": [instance.namespace]},
    }


def _prometheus_operator_object(
    instance: Instance, kind: str, spec: dict[str, Any]
) -> dict[str, Any]:
    return {
        "apiVersion": MONITORING_GROUP_VERSION,
        "kind": kind,
        "metadata": _metadata(instance),
        "spec": spec,
    }


def build_service_monitor(instance: Instance) -> dict[str, Any]:
    """Scrapes /metrics of the API through the Service `<instance>-api`."""
    spec = {**_monitor_spec(instance), "endpoints": [_endpoint(instance)]}
    return _prometheus_operator_object(instance, "ServiceMonitor", spec)


def build_pod_monitor(instance: Instance) -> dict[str, Any]:
    """Scrapes /metrics of each API pod directly."""
    spec = {**_monitor_spec(instance), "podMetricsEndpoints": [_endpoint(instance)]}
    return _prometheus_operator_object(instance, "PodMonitor", spec)


def build_prometheus_rule(instance: Instance) -> dict[str, Any]:
    """The alerting rules of the instance (`monitoring/rules.py`)."""
    return _prometheus_operator_object(
        instance, "PrometheusRule", {"groups": rule_groups(instance)}
    )


def dashboard_file_name(instance: Instance) -> str:
    """The ConfigMap key: one file per instance, unique across namespaces for the sidecar."""
    return f"repairgpt-{instance.namespace}-{instance.name}.json"


def build_dashboard_configmap(instance: Instance) -> dict[str, Any]:
    """The dashboard JSON in a ConfigMap labelled for Grafana's dashboard sidecar."""
    metadata = child_metadata(instance, "dashboard")
    metadata["labels"][GRAFANA_DASHBOARD_LABEL] = "1"
    return {
        "apiVersion": "v1",
        "kind": "ConfigMap",
        "metadata": metadata,
        "data": {
            dashboard_file_name(instance): json.dumps(dashboard(instance), indent=1, sort_keys=True)
        },
    }
