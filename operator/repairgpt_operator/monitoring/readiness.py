"""The MonitoringReady condition and its Event, without I/O."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any

from repairgpt_operator.conditions import find_condition, make_condition, set_condition
from repairgpt_operator.instance.model import Instance
from repairgpt_operator.monitoring.discovery import Kind

MONITORING_READY = "MonitoringReady"
PROMETHEUS_OPERATOR_MISSING = "PrometheusOperatorMissing"


def monitoring_condition(instance: Instance, missing: frozenset[Kind]) -> dict[str, Any] | None:
    """MonitoringReady while spec.monitoring is enabled (None: the condition is removed)."""
    monitoring = instance.spec.monitoring
    if not monitoring.enabled:
        return None
    wanted = {monitoring.scrape, "PrometheusRule"}
    absent = sorted(kind for _, kind in missing if kind in wanted)
    dashboard = f"; the dashboard ConfigMap {instance.name}-dashboard is created" * (
        monitoring.dashboard
    )
    if absent:
        return make_condition(
            MONITORING_READY,
            "False",
            reason=PROMETHEUS_OPERATOR_MISSING,
            message=f"the cluster does not serve monitoring.coreos.com/v1 {', '.join(absent)} "
            f"(install the prometheus-operator CRDs){dashboard}",
            observed_generation=instance.generation,
        )
    return make_condition(
        MONITORING_READY,
        "True",
        reason="Created",
        message=f"{monitoring.scrape} and PrometheusRule {instance.name}-api are created"
        f"{dashboard}",
        observed_generation=instance.generation,
    )


def monitoring_turned_unready(
    before: Sequence[Mapping[str, Any]], after: Sequence[Mapping[str, Any]]
) -> Mapping[str, Any] | None:
    """The new MonitoringReady condition if it has just turned False (one Event per change)."""
    old = find_condition(before, MONITORING_READY)
    new = find_condition(after, MONITORING_READY)
    if new is None or new.get("status") != "False":
        return None
    if old is not None and old.get("status") == "False" and old.get("reason") == new.get("reason"):
        return None
    return new


def with_monitoring_condition(
    conditions: Sequence[Mapping[str, Any]],
    instance: Instance,
    missing: frozenset[Kind],
    *,
    now: str,
) -> list[dict[str, Any]]:
    """The conditions with MonitoringReady set (or removed while monitoring is off)."""
    condition = monitoring_condition(instance, missing)
    if condition is None:
        return [dict(c) for c in conditions if c.get("type") != MONITORING_READY]
    return set_condition(conditions, condition, now=now)
