"""`kubectl repairgpt status NAME`: one screen on an instance, ending with what to do next."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from datetime import UTC, datetime
from typing import Any

RECENT_EVENTS = 8
MESSAGE_WIDTH = 90


def _age(timestamp: str | None, now: datetime) -> str:
    """`5m`, `3h`, `2d` since an RFC 3339 timestamp, as kubectl shows ages."""
    if not timestamp:
        return "-"
    try:
        then = datetime.strptime(timestamp[:19], "%Y-%m-%dT%H:%M:%S").replace(tzinfo=UTC)
    except ValueError:
        return timestamp
    seconds = max(0, int((now - then).total_seconds()))
    for unit, size in (("d", 86400), ("h", 3600), ("m", 60)):
        if seconds >= size:
            return f"{seconds // size}{unit}"
    return f"{seconds}s"


def _when(timestamp: Any, now: datetime) -> str:
    return f"{timestamp} ({_age(str(timestamp), now)} ago)" if timestamp else "never"


def _short(text: Any, width: int = MESSAGE_WIDTH) -> str:
    line = " ".join(str(text or "").split())
    return line if len(line) <= width else line[: width - 1] + "…"


def _backup_lines(spec: Mapping[str, Any], backup: Mapping[str, Any], now: datetime) -> list[str]:
    if not (spec.get("backup") or {}).get("enabled"):
        return ["Backups:        off"]
    lines = [
        f"Backups:        schedule {(spec.get('backup') or {}).get('schedule', '-')}",
        f"  last success: {_when(backup.get('lastSuccessfulTime'), now)}",
    ]
    if backup.get("lastLocation"):
        lines.append(f"  location:     {backup['lastLocation']} ({backup.get('lastSizeBytes')} B)")
    if backup.get("lastFailureTime"):
        failure = _when(backup["lastFailureTime"], now)
        lines.append(f"  last failure: {failure}: {_short(backup.get('lastError'), 60)}")
    if ((spec.get("backup") or {}).get("verify") or {}).get("enabled"):
        lines.append(f"  verified:     {_when(backup.get('lastVerifiedTime'), now)}")
        if backup.get("lastVerificationFailureTime"):
            lines.append(f"  verify error: {_short(backup.get('lastVerificationError'), 60)}")
    return lines


def _retention_line(spec: Mapping[str, Any], retention: Mapping[str, Any], now: datetime) -> str:
    days = (spec.get("retention") or {}).get("chatHistoryDays", 365)
    if not days:
        return "Retention:      off (chatHistoryDays 0)"
    last = retention.get("lastRunTime")
    if not last:
        return f"Retention:      chat history {days} days; no run yet"
    outcome = retention.get("outcome", "?")
    detail = (
        f"{retention.get('rowsDeleted', 0)} rows deleted"
        if outcome == "Succeeded"
        else _short(retention.get("lastError"), 50)
    )
    return (
        f"Retention:      chat history {days} days; last run {_when(last, now)} {outcome}: {detail}"
    )


def _condition_lines(conditions: Sequence[Mapping[str, Any]]) -> list[str]:
    if not conditions:
        return ["  (none yet: is the operator running?)"]
    width = max(len(str(c.get("type", ""))) for c in conditions)
    return [
        f"  {str(c.get('type', '')):<{width}}  {str(c.get('status', '')):<7}  "
        f"{str(c.get('reason', '')):<22}  {_short(c.get('message'), 70)}"
        for c in conditions
    ]


def _event_lines(events: Sequence[Mapping[str, Any]], now: datetime) -> list[str]:
    def stamp(event: Mapping[str, Any]) -> str:
        return str(
            event.get("lastTimestamp") or event.get("eventTime") or event.get("firstTimestamp")
            or (event.get("metadata") or {}).get("creationTimestamp") or ""
        )  # fmt: skip

    recent = sorted(events, key=stamp)[-RECENT_EVENTS:]
    if not recent:
        return ["  (none)"]
    return [
        f"  {_age(stamp(e), now):>4}  {str(e.get('type', '')):<7}  {str(e.get('reason', '')):<22}  "
        f"{_short(e.get('message'), 70)}"
        for e in recent
    ]


def next_steps(body: Mapping[str, Any]) -> list[str]:
    """What to try next, from the state the status shows."""
    name = (body.get("metadata") or {}).get("name")
    status = body.get("status") or {}
    conditions = {c.get("type"): c for c in status.get("conditions") or []}
    steps = []
    if (status.get("database") or {}).get("active") == "replica":
        steps.append(f"once the primary is back: kubectl repairgpt failback {name}")
    ready = conditions.get("Ready") or {}
    # Scaled to zero on purpose (replicas 0, maintenance): no pod to look at.
    if ready.get("status") == "False" and ready.get("reason") != "ScaledToZero":
        steps.append(f"see why pods are not ready: kubectl repairgpt logs {name}")
    if (status.get("rollout") or {}).get("failure"):
        steps.append(f"go back to the last good image: kubectl repairgpt rollback {name}")
    if (conditions.get("BackupHealthy") or {}).get("status") == "False":
        steps.append(f"take a backup now: kubectl repairgpt backup {name} --wait")
    if ((body.get("spec") or {}).get("maintenance") or {}).get("enabled"):
        steps.append(f"leave maintenance: kubectl repairgpt maintenance off {name}")
    return steps or [f"nothing to do; details: kubectl describe rgi {name}"]


def render_status(
    body: Mapping[str, Any], events: Sequence[Mapping[str, Any]], now: datetime | None = None
) -> str:
    """The summary of one instance: phase, replicas, database, backups, maintenance,
    retention, conditions, recent Events and next steps."""
    now = now or datetime.now(UTC)
    metadata, spec = body.get("metadata") or {}, body.get("spec") or {}
    status = body.get("status") or {}
    database = status.get("database") or {}
    maintenance = status.get("maintenance") or {}
    rollout = status.get("rollout") or {}
    observed = status.get("observedGeneration")
    generation = metadata.get("generation")
    lag = "" if observed == generation else f" (spec generation {generation}, observed {observed})"
    lines = [
        f"RepairGPTInstance {metadata.get('namespace')}/{metadata.get('name')}",
        f"Phase:          {status.get('phase', 'Unknown')}{lag}",
        f"Image:          {spec.get('image')}"
        + (
            f" (running {rollout['image']})"
            if rollout.get("image") not in (None, spec.get("image"))
            else ""
        ),
        f"Replicas:       {status.get('readyReplicas', 0)}/{status.get('replicas', 0)} ready",
        f"Database:       {database.get('active', 'primary')} active"
        f" (primary probe failures: {database.get('consecutiveFailures', 0)})",
        f"Maintenance:    {maintenance.get('phase', 'Off')}"
        + (" (requested)" if (spec.get("maintenance") or {}).get("enabled") else ""),
        *_backup_lines(spec, status.get("backup") or {}, now),
        _retention_line(spec, status.get("retention") or {}, now),
    ]
    if rollout.get("lastGoodImage"):
        lines.append(f"Last good image: {rollout['lastGoodImage']}")
    lines += ["", "Conditions:", *_condition_lines(status.get("conditions") or [])]
    lines += ["", "Recent events:", *_event_lines(events, now)]
    lines += ["", "Next:", *(f"  {step}" for step in next_steps(body))]
    return "\n".join(lines) + "\n"
