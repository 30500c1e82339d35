"""The models of `spec.monitoring`: scrape objects, alert thresholds and the dashboard.

Kept beside the monitoring code and imported by `spec.py`, which remains the one model of the
custom resource.
"""

from __future__ import annotations

import re
from typing import Annotated, Literal

from pydantic import Field, model_validator

from repairgpt_operator.instance.spec_fields import CamelModel, section

# A Prometheus duration such as 30s, 5m, 1h30m (units from the largest down, as
# prometheus-operator's CRDs accept it).
DURATION_PATTERN = r"^([0-9]+y)?([0-9]+w)?([0-9]+d)?([0-9]+h)?([0-9]+m)?([0-9]+s)?([0-9]+ms)?$"
# A label key (optional DNS prefix and a name) and a label value, as Kubernetes accepts them.
LABEL_KEY_PATTERN = (
    r"^([a-z0-9]([-a-z0-9]*[a-z0-9])?(\.[a-z0-9]([-a-z0-9]*[a-z0-9])?)*/)?"
    r"[A-Za-z0-9]([-A-Za-z0-9_.]*[A-Za-z0-9])?$"
)
LABEL_VALUE_PATTERN = r"^(([A-Za-z0-9][-A-Za-z0-9_.]*)?[A-Za-z0-9])?$"

Duration = Annotated[str, Field(pattern=DURATION_PATTERN, min_length=2, max_length=32)]
LabelValue = Annotated[
    str,
    Field(pattern=LABEL_VALUE_PATTERN, max_length=63, description="A label value."),
]


def _check_keys(labels: dict[str, str], where: str) -> None:
    for key in labels:
        if len(key) > 317 or not re.match(LABEL_KEY_PATTERN, key):
            raise ValueError(f"{where}: {key!r} is not a label key")


class LabelSelectorRequirement(CamelModel):
    """One requirement of a label selector."""

    key: str = Field(min_length=1, max_length=317, pattern=LABEL_KEY_PATTERN, description="Key.")
    operator: Literal["In", "NotIn", "Exists", "DoesNotExist"] = Field(
        description="In, NotIn, Exists or DoesNotExist."
    )
    values: list[LabelValue] = Field(
        default_factory=list,
        max_length=64,
        description="Values for In and NotIn; empty for Exists and DoesNotExist.",
    )


class NamespaceSelector(CamelModel):
    """A label selector of namespaces (as in a NetworkPolicy peer)."""

    match_labels: dict[str, LabelValue] = Field(
        default_factory=dict, description="Labels a namespace must all carry."
    )
    match_expressions: list[LabelSelectorRequirement] = Field(
        default_factory=list, max_length=16, description="Requirements a namespace must meet."
    )

    @model_validator(mode="after")
    def _not_empty(self) -> NamespaceSelector:
        _check_keys(self.match_labels, "monitoring.scrapeNamespaceSelector.matchLabels")
        # An empty selector would admit every namespace: refuse it rather than widen silently.
        if not self.match_labels and not self.match_expressions:
            raise ValueError("monitoring.scrapeNamespaceSelector must not be empty")
        return self


class ThresholdAlert(CamelModel):
    """An alert on a value above a threshold for some time."""

    threshold: float = Field(ge=0, description="The value above which the alert is pending.")
    for_: Duration = Field(alias="for", description="How long before the alert fires.")


class Alerts(CamelModel):
    """Thresholds and durations of the per-instance alerts (the operations guide's values)."""

    high_error_rate: ThresholdAlert = Field(
        default_factory=lambda: ThresholdAlert(threshold=0.1, for_="5m"),
        description="HighErrorRate: 5xx responses per second of the instance, over 5 minutes.",
        json_schema_extra={"default": {"threshold": 0.1, "for": "5m"}},
    )
    high_response_time: ThresholdAlert = Field(
        default_factory=lambda: ThresholdAlert(threshold=2.0, for_="5m"),
        description="HighResponseTime: 95th percentile of the request duration in seconds.",
        json_schema_extra={"default": {"threshold": 2.0, "for": "5m"}},
    )
    database_down_for: Duration = Field(
        default="2m",
        description="DatabaseConnectionFailure fires once no API pod has reached the database "
        "for this long.",
    )
    backup_failed_for: Duration = Field(
        default="5m", description="RepairGPTBackupFailed fires after this long."
    )
    degraded_for: Duration = Field(
        default="10m", description="RepairGPTInstanceDegraded fires after this long."
    )
    maintenance_max_duration: Duration = Field(
        default="2h",
        description="RepairGPTMaintenanceTooLong fires once maintenance mode has been on this "
        "long.",
    )


class Monitoring(CamelModel):
    """Prometheus scrape objects, alerting rules and a Grafana dashboard for the instance.

    ServiceMonitor, PodMonitor and PrometheusRule need the prometheus-operator CRDs
    (monitoring.coreos.com/v1); without them the condition MonitoringReady says so and the
    rest of the instance is created as usual.
    """

    enabled: bool = Field(
        default=False,
        description="Create the scrape object and the PrometheusRule <name>-api, and the "
        "dashboard ConfigMap <name>-dashboard.",
    )
    scrape: Literal["ServiceMonitor", "PodMonitor"] = Field(
        default="ServiceMonitor",
        description="ServiceMonitor (through the Service) or PodMonitor (each API pod).",
    )
    interval: Duration = Field(default="30s", description="Scrape interval of the API pods.")
    labels: dict[str, LabelValue] = Field(
        default_factory=dict,
        description="Extra labels of the ServiceMonitor/PodMonitor and PrometheusRule, so that "
        "a Prometheus' serviceMonitorSelector/podMonitorSelector/ruleSelector picks them, e.g. "
        "release: kube-prometheus-stack.",
    )
    alerts: Alerts = section(Alerts, "Thresholds and durations of the alerts.")
    dashboard: bool = Field(
        default=True,
        description="Create the Grafana dashboard ConfigMap <name>-dashboard in the instance's "
        'namespace, labelled grafana_dashboard: "1" for Grafana\'s dashboard sidecar.',
    )
    scrape_namespace_selector: NamespaceSelector | None = Field(
        default=None,
        description="Namespaces (by labels) whose pods the NetworkPolicy admits to the API port "
        "to scrape /metrics, besides spec.networkPolicy.metricsNamespaces.",
    )

    @model_validator(mode="after")
    def _label_keys(self) -> Monitoring:
        _check_keys(self.labels, "monitoring.labels")
        return self
