"""Computes the status of an instance from what the operator observed, without I/O."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from repairgpt_operator.backup import (
    BackupObservation,
    backup_condition,
    backup_status,
    parse_time,
)
from repairgpt_operator.conditions import (
    BACKUP_HEALTHY,
    BACKUP_VERIFIED,
    DEGRADED,
    FAILED_OVER,
    MAINTENANCE,
    READY,
    RECONCILED,
    is_true,
    make_condition,
    set_condition,
)
from repairgpt_operator.maintenance import MaintenanceState
from repairgpt_operator.ownership import label_selector, selector_labels
from repairgpt_operator.spec import Instance
from repairgpt_operator.verification import verification_condition, verification_status


def deployment_counts(deployment: Mapping[str, Any] | None) -> tuple[int, int, int]:
    """(wanted, current, ready) pods of a Deployment as its controller reports them."""
    if not deployment:
        return 0, 0, 0
    spec = deployment.get("spec") or {}
    status = deployment.get("status") or {}
    return (
        int(spec.get("replicas", 1)),
        int(status.get("replicas") or 0),
        int(status.get("readyReplicas") or 0),
    )


def ready_condition(instance: Instance, deployment: Mapping[str, Any] | None) -> dict[str, Any]:
    """Ready=True when every wanted pod of the current revision is ready."""
    generation = instance.generation
    if not deployment:
        return make_condition(
            READY,
            "False",
            reason="DeploymentMissing",
            message="the API Deployment does not exist yet",
            observed_generation=generation,
        )
    wanted, _, ready = deployment_counts(deployment)
    status = deployment.get("status") or {}
    updated = int(status.get("updatedReplicas") or 0)
    rolled_out = int(status.get("observedGeneration") or 0) >= int(
        (deployment.get("metadata") or {}).get("generation") or 0
    )
    if wanted == 0:
        return make_condition(
            READY,
            "False",
            reason="ScaledToZero",
            message="the API Deployment has 0 replicas",
            observed_generation=generation,
        )
    if rolled_out and ready >= wanted and updated >= wanted:
        return make_condition(
            READY,
            "True",
            reason="AllReplicasReady",
            message=f"{ready}/{wanted} API pods are ready",
            observed_generation=generation,
        )
    return make_condition(
        READY,
        "False",
        reason="ReplicasNotReady",
        message=f"{ready}/{wanted} API pods are ready",
        observed_generation=generation,
    )


def reconciled_condition(instance: Instance, error: str | None, applied: int) -> dict[str, Any]:
    """Reconciled=True when every child was applied; False with the server's message if not."""
    if error:
        return make_condition(
            RECONCILED,
            "False",
            reason="ApplyFailed",
            message=error,
            observed_generation=instance.generation,
        )
    return make_condition(
        RECONCILED,
        "True",
        reason="Applied",
        message=f"{applied} child objects match the spec",
        observed_generation=instance.generation,
    )


def maintenance_status(state: MaintenanceState) -> dict[str, Any]:
    """status.maintenance as the CRD spells it."""
    return {"phase": state.phase, "previousReplicas": state.previous_replicas}


def maintenance_condition(instance: Instance) -> dict[str, Any]:
    """Maintenance=True from entering until the Service points at the API again."""
    state = instance.state.maintenance
    if state.phase == "On":
        was = "" if state.previous_replicas is None else f" (was {state.previous_replicas})"
        hold = instance.state.restore_hold
        held = f" while RepairGPTRestore {hold} runs" if hold else ""
        return make_condition(
            MAINTENANCE,
            "True",
            reason="RestoreInProgress" if hold else "MaintenanceOn",
            message=f"the API is scaled to 0{was}; {instance.name}-maintenance serves the "
            f"maintenance page{held}",
            observed_generation=instance.generation,
        )
    if state.phase == "Exiting":
        return make_condition(
            MAINTENANCE,
            "True",
            reason="Exiting",
            message="the API is scaling back; the Service switches back once an API pod is ready",
            observed_generation=instance.generation,
        )
    return make_condition(
        MAINTENANCE,
        "False",
        reason="MaintenanceOff",
        message="the Service points at the API",
        observed_generation=instance.generation,
    )


def invalid_spec_status(
    previous: Mapping[str, Any], *, generation: int, message: str, now: str
) -> dict[str, Any]:
    """The status of an instance whose spec the operator cannot use."""
    condition = make_condition(
        RECONCILED,
        "False",
        reason="InvalidSpec",
        message=message,
        observed_generation=generation,
    )
    conditions = set_condition(previous.get("conditions") or [], condition, now=now)
    return {"observedGeneration": generation, "phase": "Degraded", "conditions": conditions}


def compute_status(
    instance: Instance,
    *,
    previous: Mapping[str, Any],
    deployment: Mapping[str, Any] | None,
    now: str,
    children_synced: bool = True,
    error: str | None = None,
    applied: int = 0,
    backup: BackupObservation | None = None,
) -> dict[str, Any]:
    """The fields of .status the core reconciliation owns; the rest of `previous` is untouched.

    With children_synced=False (a refresh after a Deployment event) the Reconciled condition and
    observedGeneration stay as the last full reconciliation left them; without `backup` (not
    observed this time) status.backup and BackupHealthy stay as they were.
    """
    conditions = list(previous.get("conditions") or [])
    backup_fields: dict[str, Any] = {}
    if backup is not None and instance.spec.backup.enabled:
        previous_backup = previous.get("backup") or {}
        backup_fields = backup_status(previous_backup, backup)
        healthy = backup_condition(instance, backup_fields, backup, now=parse_time(now))
        conditions = set_condition(conditions, healthy, now=now)
        if backup.verify is not None and instance.spec.backup.verify.enabled:
            verified = verification_status(previous_backup, backup.verify)
            backup_fields.update(verified)
            condition = verification_condition(
                instance, verified, backup.verify, now=parse_time(now)
            )
            conditions = set_condition(conditions, condition, now=now)
        else:
            conditions = [c for c in conditions if c.get("type") != BACKUP_VERIFIED]
    elif backup is not None:
        # Backups switched off: a stale verdict would keep alerting.
        stale = (BACKUP_HEALTHY, BACKUP_VERIFIED)
        conditions = [c for c in conditions if c.get("type") not in stale]
    conditions = set_condition(conditions, ready_condition(instance, deployment), now=now)
    if children_synced:
        conditions = set_condition(
            conditions, reconciled_condition(instance, error, applied), now=now
        )
    in_maintenance = instance.state.maintenance.phase != "Off"
    if in_maintenance or "maintenance" in previous:
        conditions = set_condition(conditions, maintenance_condition(instance), now=now)
    failing = any(c.get("type") == RECONCILED and c.get("status") == "False" for c in conditions)
    _, current, ready = deployment_counts(deployment)
    if is_true(conditions, MAINTENANCE):
        phase = "Maintenance"
    elif is_true(conditions, FAILED_OVER):
        phase = "FailedOver"
    elif failing or is_true(conditions, DEGRADED):
        phase = "Degraded"
    elif is_true(conditions, READY):
        phase = "Running"
    else:
        phase = "Progressing"
    status: dict[str, Any] = {
        "phase": phase,
        "conditions": conditions,
        "replicas": current,
        "readyReplicas": ready,
        "selector": label_selector(selector_labels(instance, "api")),
    }
    if children_synced:
        status = {"observedGeneration": instance.generation, **status}
    if not previous.get("database"):
        status["database"] = {"active": "primary", "consecutiveFailures": 0}
    if in_maintenance or "maintenance" in previous:
        status["maintenance"] = maintenance_status(instance.state.maintenance)
    if backup_fields:
        status["backup"] = backup_fields
    return status


def status_patch(previous: Mapping[str, Any], computed: Mapping[str, Any]) -> dict[str, Any]:
    """The fields of `computed` that differ from `previous` (empty: nothing to write)."""
    return {key: value for key, value in computed.items() if previous.get(key) != value}
