"""Events, metrics and log lines that tell what a reconciliation or a restore pass did."""

from __future__ import annotations

import logging
from collections.abc import Mapping
from typing import Any

from repairgpt_operator import metrics
from repairgpt_operator.events import Event, post_events
from repairgpt_operator.instance.outcome import Outcome
from repairgpt_operator.kube import Kube
from repairgpt_operator.restore.reconcile import RestoreOutcome

log = logging.getLogger(__name__)

MAINTENANCE_EVENTS = {
    "Entering": ("MaintenanceEntering", "maintenance mode on: starting the maintenance page"),
    "On": ("MaintenanceOn", "maintenance mode on: API scaled to 0, maintenance page served"),
    "Exiting": ("MaintenanceExiting", "maintenance mode off: scaling the API back"),
    "Off": ("MaintenanceOff", "the API is ready again; the Service points back at it"),
}


def record_metrics(trigger: str, outcome: Outcome) -> None:
    """The reconciliation, per-instance and child-write metrics of one reconciliation."""
    metrics.record_reconciliation(
        trigger,
        wrote=outcome.wrote,
        failed=bool(outcome.error_message),
        duration_seconds=outcome.duration_seconds,
    )
    if outcome.instance is not None and trigger != "status":
        # A status refresh applies nothing: it says nothing of a failing apply.
        metrics.INSTANCES.count_reconciliation(
            outcome.instance.namespace, outcome.instance.name, failed=bool(outcome.error_message)
        )
    for action, items in (("apply", outcome.applied), ("delete", outcome.deleted)):
        for item in items:
            metrics.CHILD_WRITES.labels(kind=item.split("/", 1)[0], action=action).inc()


def change_event(body: Mapping[str, Any], trigger: str, outcome: Outcome) -> Event | None:
    """The Event that names the children one reconciliation applied or deleted."""
    changed = outcome.applied + [f"deleted {item}" for item in outcome.deleted]
    if not changed:
        return None
    generation = (body.get("metadata") or {}).get("generation")
    summary = ", ".join(changed)
    if trigger == "create":
        return Event("Normal", "Created", f"created {summary}")
    if trigger == "update":
        return Event("Normal", "Updated", f"applied generation {generation}: {summary}")
    if trigger in ("resync", "child"):
        return Event("Normal", "DriftCorrected", f"restored {summary}")
    return Event("Normal", "Applied", f"{trigger}: {summary}")


def outcome_events(body: Mapping[str, Any], trigger: str, outcome: Outcome) -> list[Event]:
    """Every Event one reconciliation asks for, in the order they are recorded."""
    if outcome.invalid_spec:
        return [Event("Warning", "InvalidSpec", outcome.invalid_spec)]
    events: list[Event] = []
    if outcome.errors:
        message = outcome.error_message or "the API server refused a child object"
        events.append(Event("Warning", "ApplyFailed", message))
    events += maintenance_events(body, outcome)
    if outcome.started_job:
        message = f"started the on-demand backup Job {outcome.started_job}"
        events.append(Event("Normal", "BackupStarted", message))
    events += outcome.backup_events
    change = change_event(body, trigger, outcome)
    if change is not None:
        events.append(change)
    return events


def maintenance_events(body: Mapping[str, Any], outcome: Outcome) -> list[Event]:
    """The Event of a maintenance phase change between `body` and the reconciled instance."""
    if outcome.instance is None:
        return []
    before = ((body.get("status") or {}).get("maintenance") or {}).get("phase", "Off")
    after = outcome.instance.state.maintenance.phase
    if before == after:
        return []
    reason, message = MAINTENANCE_EVENTS[after]
    return [Event("Normal", reason, message)]


def report(kube: Kube, body: Mapping[str, Any], trigger: str, outcome: Outcome) -> None:
    """Metrics and Events for one reconciliation."""
    record_metrics(trigger, outcome)
    post_events(kube, body, outcome_events(body, trigger, outcome))


def log_outcome(body: Mapping[str, Any], trigger: str, outcome: Outcome) -> None:
    """One log line for a reconciliation that wrote or failed."""
    if not (outcome.wrote or outcome.error_message):
        return
    metadata = body.get("metadata") or {}
    log.info(
        "reconciled %s/%s (%s): applied=%s deleted=%s status=%s error=%s in %.3fs",
        metadata.get("namespace"),
        metadata.get("name"),
        trigger,
        outcome.applied,
        outcome.deleted,
        outcome.status_written,
        outcome.error_message,
        outcome.duration_seconds,
    )


def report_restore(kube: Kube, body: Mapping[str, Any], outcome: RestoreOutcome) -> None:
    """Events (on the restore, and on its instance where asked), the metric and a log line."""
    spec = body.get("spec") or {}
    metadata = body.get("metadata") or {}
    instance_body = None
    for event in outcome.events:
        post_events(kube, body, [event])
        if event.on_instance:
            instance_body = instance_body or kube.get_instance(
                str(metadata.get("namespace")), str(spec.get("instanceName"))
            )
            if instance_body is not None:
                message = f"RepairGPTRestore {metadata.get('name')}: {event.message}"
                post_events(kube, instance_body, [Event(event.type, event.reason, message)])
    before = (body.get("status") or {}).get("phase")
    if outcome.phase in ("Succeeded", "Failed") and before != outcome.phase:
        metrics.RESTORES.labels(outcome=outcome.phase.lower()).inc()
    if outcome.wrote or outcome.error:
        log.info(
            "restore %s/%s: phase=%s error=%s in %.3fs",
            metadata.get("namespace"),
            metadata.get("name"),
            outcome.phase,
            outcome.error,
            outcome.duration_seconds,
        )
