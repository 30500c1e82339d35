"""The Prometheus alerting rules of one instance, as plain rule groups (promtool reads them too).

Every expression is scoped to the instance: the API's series by `namespace` and
`job="<name>-api"` (the ServiceMonitor and PodMonitor give the API's targets that job), the
operator's per-instance series by `namespace` and `name` (the operator's own scrape keeps its
labels, `honorLabels: true`, see deploy/monitoring/).
"""

from __future__ import annotations

import re
from typing import Any

from repairgpt_operator.instance.model import Instance

RUNBOOK_BASE = "https://github.com/repairgpt/repairgpt-operator/blob/main/README.md"
# The label every alert of an instance carries, besides namespace and severity.
INSTANCE_ALERT_LABEL = "repairgpt_instance"
_UNITS = {"ms": 0.001, "s": 1, "m": 60, "h": 3600, "d": 86400, "w": 604800, "y": 31536000}


def duration_seconds(duration: str) -> float:
    """Seconds of a Prometheus duration such as 1h30m."""
    parts = re.findall(r"([0-9]+)(ms|s|m|h|d|w|y)", duration)
    if not parts or "".join(n + u for n, u in parts) != duration:
        raise ValueError(f"not a Prometheus duration: {duration!r}")
    return sum(int(number) * _UNITS[unit] for number, unit in parts)


def api_job(instance: Instance) -> str:
    """The `job` label of the API's scraped series."""
    return f"{instance.name}-api"


def api_selector(instance: Instance, *extra: str) -> str:
    """`{namespace="…",job="…-api",…}`: the API series of this instance only."""
    matchers = [f'namespace="{instance.namespace}"', f'job="{api_job(instance)}"', *extra]
    return "{" + ",".join(matchers) + "}"


def operator_selector(instance: Instance, *extra: str) -> str:
    """`{namespace="…",name="…",…}`: the operator's series about this instance only."""
    matchers = [f'namespace="{instance.namespace}"', f'name="{instance.name}"', *extra]
    return "{" + ",".join(matchers) + "}"


def _alert(
    instance: Instance,
    name: str,
    expr: str,
    for_: str,
    severity: str,
    summary: str,
    description: str,
) -> dict[str, Any]:
    return {
        "alert": name,
        "expr": expr,
        "for": for_,
        "labels": {
            "severity": severity,
            "namespace": instance.namespace,
            INSTANCE_ALERT_LABEL: instance.name,
        },
        "annotations": {
            "summary": summary,
            "description": description,
            "runbook_url": f"{RUNBOOK_BASE}#{name.lower()}",
        },
    }


def api_rules(instance: Instance) -> list[dict[str, Any]]:
    """The operations guide's alerts on the API's own metrics."""
    alerts = instance.spec.monitoring.alerts
    who = f"{instance.namespace}/{instance.name}"
    errors = alerts.high_error_rate
    latency = alerts.high_response_time
    five_xx = api_selector(instance, 'status=~"5.."')
    return [
        _alert(
            instance,
            "HighErrorRate",
            f"sum(rate(http_requests_total{five_xx}[5m])) > {errors.threshold:g}",
            errors.for_,
            "warning",
            f"RepairGPT {who} answers many requests with 5xx",
            f"{{{{ $value | humanize }}}} responses per second with status 5xx (more than "
            f"{errors.threshold:g}) for {errors.for_}.",
        ),
        _alert(
            instance,
            "HighResponseTime",
            "histogram_quantile(0.95, sum by (le) "
            f"(rate(http_request_duration_seconds_bucket{api_selector(instance)}[5m]))) "
            f"> {latency.threshold:g}",
            latency.for_,
            "warning",
            f"RepairGPT {who} responds slowly",
            f"The 95th percentile of the request duration is {{{{ $value | humanizeDuration }}}} "
            f"(more than {latency.threshold:g} s) for {latency.for_}.",
        ),
        _alert(
            instance,
            "DatabaseConnectionFailure",
            f"max(repairgpt_database_up{api_selector(instance)}) == 0",
            alerts.database_down_for,
            "critical",
            f"RepairGPT {who} cannot reach its database",
            "No API pod has reached the PostgreSQL database in its readiness checks for "
            f"{alerts.database_down_for}: requests that need the database get 503.",
        ),
    ]


def operator_rules(instance: Instance) -> list[dict[str, Any]]:
    """Alerts on what the operator observes about the instance."""
    alerts = instance.spec.monitoring.alerts
    who = f"{instance.namespace}/{instance.name}"
    sel = operator_selector(instance)
    most = alerts.maintenance_max_duration
    degraded = operator_selector(instance, 'phase="Degraded"')
    rules = [
        _alert(
            instance,
            "RepairGPTInstanceDegraded",
            f"repairgpt_instance_phase{degraded} == 1",
            alerts.degraded_for,
            "warning",
            f"RepairGPT {who} is degraded",
            "The operator cannot bring the instance in line with its spec (condition "
            f"Reconciled or Degraded) for {alerts.degraded_for}; see kubectl describe rgi.",
        ),
        _alert(
            instance,
            "RepairGPTFailedOver",
            f"repairgpt_instance_failed_over{sel} == 1",
            "1m",
            "critical",
            f"RepairGPT {who} runs on its replica database",
            "The primary database stopped answering and the API was switched to the replica: "
            "it is read-only until it fails back.",
        ),
        _alert(
            instance,
            "RepairGPTMaintenanceTooLong",
            f"time() - repairgpt_instance_maintenance_since_timestamp_seconds{sel} "
            f"> {duration_seconds(most):g}",
            "0s",
            "warning",
            f"RepairGPT {who} has been in maintenance mode for over {most}",
            "Maintenance mode began {{ $value | humanizeDuration }} ago; the API serves only "
            "the maintenance page meanwhile.",
        ),
    ]
    if instance.spec.backup.enabled:
        rules += backup_rules(instance)
    return rules


def backup_rules(instance: Instance) -> list[dict[str, Any]]:
    """Alerts on the backups and their verification."""
    alerts = instance.spec.monitoring.alerts
    who = f"{instance.namespace}/{instance.name}"
    sel = operator_selector(instance)
    rules = [
        _alert(
            instance,
            "RepairGPTBackupFailed",
            f"repairgpt_instance_backup_last_failed{sel} == 1",
            alerts.backup_failed_for,
            "warning",
            f"The last backup of RepairGPT {who} failed",
            "The newest backup Job failed; status.backup.lastError says why.",
        ),
        _alert(
            instance,
            "RepairGPTBackupTooOld",
            f"time() > repairgpt_instance_backup_rpo_deadline_timestamp_seconds{sel}",
            "0s",
            "critical",
            f"The newest backup of RepairGPT {who} is older than its RPO",
            "Two scheduled backup runs have passed without a newer successful backup; the "
            "newest stopped being recent at {{ $value | humanizeTimestamp }}.",
        ),
    ]
    if instance.spec.backup.verify.enabled:
        rules.append(
            _alert(
                instance,
                "RepairGPTBackupVerificationFailed",
                f"repairgpt_instance_backup_verification_failed{sel} == 1",
                "0s",
                "warning",
                f"The restore test of RepairGPT {who}'s backups failed",
                "The newest verification Job could not restore the newest backup with "
                "matching row counts; status.backup.lastVerificationError says why.",
            )
        )
    return rules


def rule_groups(instance: Instance) -> list[dict[str, Any]]:
    """The rule groups of the instance (the `groups` of a rule file or a PrometheusRule)."""
    prefix = f"repairgpt.{instance.namespace}.{instance.name}"
    return [
        {"name": f"{prefix}.api", "rules": api_rules(instance)},
        {"name": f"{prefix}.operator", "rules": operator_rules(instance)},
    ]
