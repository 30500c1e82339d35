"""Computes the status of an instance from what the operator observed, without I/O."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any

from repairgpt_operator.backup.jobs import BackupObservation, JobsObservation
from repairgpt_operator.backup.status import backup_condition, backup_status
from repairgpt_operator.backup.verification import verification_condition, verification_status
from repairgpt_operator.conditions import (
    BACKUP_HEALTHY,
    BACKUP_VERIFIED,
    DEGRADED,
    FAILED_OVER,
    MAINTENANCE,
    READY,
    RECONCILED,
    UPLOAD_STORAGE,
    ConditionStatus,
    find_condition,
    is_true,
    make_condition,
    set_condition,
)
from repairgpt_operator.events import Event
from repairgpt_operator.instance.model import Instance
from repairgpt_operator.maintenance.state import MaintenanceState
from repairgpt_operator.ownership import label_selector, selector_labels
from repairgpt_operator.retention.status import retention_status
from repairgpt_operator.timestamps import parse_time


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


def _pod_ready(pod: Mapping[str, Any]) -> bool:
    conditions = (pod.get("status") or {}).get("conditions") or []
    return any(c.get("type") == "Ready" and c.get("status") == "True" for c in conditions)


def why_not_ready(pod: Mapping[str, Any]) -> str:
    """Why one API pod is not ready, in words that stay the same while the cause does (so that
    a resync of a failing instance writes nothing new: the kubelet's own messages change with
    every back-off, and a crash loop alternates between waiting and running)."""
    status = pod.get("status") or {}
    scheduled: Mapping[str, Any] = next(
        (c for c in status.get("conditions") or [] if c.get("type") == "PodScheduled"), {}
    )
    if scheduled.get("status") == "False":
        return f"not scheduled: {scheduled.get('message') or scheduled.get('reason')}"
    containers = status.get("containerStatuses") or []
    if not containers:
        return f"{status.get('phase', 'Pending')}"
    container = containers[0]
    state = container.get("state") or {}
    last = (container.get("lastState") or {}).get("terminated") or {}
    waiting = state.get("waiting") or {}
    reason = waiting.get("reason", "")
    if reason in ("ErrImagePull", "ImagePullBackOff", "InvalidImageName"):
        return f"the image {container.get('image', '')} cannot be pulled"
    if reason in ("CreateContainerConfigError", "CreateContainerError"):
        message = str(waiting.get("message") or "").splitlines()[0][:200]
        return f"{reason}: {message}" if message else reason
    restarting = f"restarting (last exit code {last.get('exitCode')}, {last.get('reason')})"
    if reason == "CrashLoopBackOff" and last:
        return restarting
    if reason:
        return str(reason)
    if "running" in state:
        if not container.get("started", True):
            # Between two crashes of a crash loop the container runs, not yet started.
            return (
                restarting if last else "starting (the startup probe, /health, has not passed yet)"
            )
        return "running, but /ready fails: the database is unreachable or not migrated"
    if "terminated" in state:
        return f"terminated ({(state['terminated'] or {}).get('reason')})"
    return str(status.get("phase", "Pending"))


def not_ready_reasons(pods: Sequence[Mapping[str, Any]], limit: int = 2) -> str:
    """`pod: reason` for the first few API pods that are not ready (terminating ones aside)."""
    reasons = [
        f"{(p.get('metadata') or {}).get('name')}: {why_not_ready(p)}"
        for p in sorted(pods, key=lambda p: str((p.get("metadata") or {}).get("name")))
        if not (p.get("metadata") or {}).get("deletionTimestamp") and not _pod_ready(p)
    ]
    return "; ".join(reasons[:limit])


def ready_condition(
    instance: Instance,
    deployment: Mapping[str, Any] | None,
    pods: Sequence[Mapping[str, Any]] = (),
) -> dict[str, Any]:
    """Ready=True when every wanted pod of the current revision is ready; when not, the message
    says why, from the API pods (`pods`, observed only then)."""
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
    why = not_ready_reasons(pods)
    return make_condition(
        READY,
        "False",
        reason="ReplicasNotReady",
        message=f"{ready}/{wanted} API pods are ready" + (f" ({why})" if why else ""),
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
    status: ConditionStatus = "True"
    if state.phase == "On":
        was = "" if state.previous_replicas is None else f" (was {state.previous_replicas})"
        hold = instance.state.restore_hold
        held = f" while RepairGPTRestore {hold} runs" if hold else ""
        reason = "RestoreInProgress" if hold else "MaintenanceOn"
        message = (
            f"the API is scaled to 0{was}; {instance.name}-maintenance serves the "
            f"maintenance page{held}"
        )
    elif state.phase == "Entering":
        reason = "Entering"
        message = (
            f"{instance.name}-maintenance is starting; the API serves until its page is "
            "ready, then the Service switches to it and the API is scaled to 0"
        )
    elif state.phase == "Exiting":
        reason = "Exiting"
        message = "the API is scaling back; the Service switches back once an API pod is ready"
    else:
        status, reason, message = "False", "MaintenanceOff", "the Service points at the API"
    return make_condition(
        MAINTENANCE,
        status,
        reason=reason,
        message=message,
        observed_generation=instance.generation,
    )


def max_api_replicas(instance: Instance) -> int:
    """The most API pods the spec lets run at once: the HPA's maximum, or spec.replicas."""
    autoscaling = instance.spec.autoscaling
    return autoscaling.max_replicas if autoscaling.enabled else instance.spec.replicas


def upload_storage_condition(instance: Instance) -> dict[str, Any]:
    """UploadStorage=False when several API pods keep uploads in their own emptyDirs: an upload
    is then served only by the pod that took it, and every rollout loses them all."""
    generation = instance.generation
    s3 = instance.spec.storage.s3
    if s3 is not None:
        return make_condition(
            UPLOAD_STORAGE,
            "True",
            reason="S3",
            message=f"uploads are stored in the S3 bucket {s3.bucket}, shared by every API pod",
            observed_generation=generation,
        )
    most = max_api_replicas(instance)
    if most > 1:
        return make_condition(
            UPLOAD_STORAGE,
            "False",
            reason="EmptyDirWithReplicas",
            message=f"up to {most} API pods keep uploads in an emptyDir each: an upload is "
            "visible only to the pod that received it, and every rollout loses them; set "
            "spec.storage.s3",
            observed_generation=generation,
        )
    return make_condition(
        UPLOAD_STORAGE,
        "True",
        reason="EmptyDirSingleReplica",
        message="the one API pod keeps uploads in an emptyDir, lost on every rollout; set "
        "spec.storage.s3 to keep them",
        observed_generation=generation,
    )


def upload_storage_events(
    before: Sequence[Mapping[str, Any]], after: Sequence[Mapping[str, Any]]
) -> list[Event]:
    """A Warning when UploadStorage turns False, a Normal Event when it recovers."""
    old = find_condition(before, UPLOAD_STORAGE)
    new = find_condition(after, UPLOAD_STORAGE)
    if new is None or (old is not None and old.get("status") == new.get("status")):
        return []
    if new.get("status") == "False":
        return [Event("Warning", str(new["reason"]), str(new["message"]))]
    if old is not None and old.get("status") == "False":
        return [Event("Normal", str(new["reason"]), str(new["message"]))]
    return []


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


def _backup_status(
    instance: Instance,
    previous: Mapping[str, Any],
    conditions: list[dict[str, Any]],
    backup: BackupObservation,
    now: str,
) -> tuple[dict[str, Any], list[dict[str, Any]]]:
    """status.backup and the conditions with BackupHealthy and BackupVerified brought up to date."""
    if not instance.spec.backup.enabled:
        # Backups switched off: a stale verdict would keep alerting.
        stale = (BACKUP_HEALTHY, BACKUP_VERIFIED)
        return {}, [c for c in conditions if c.get("type") not in stale]
    previous_backup = previous.get("backup") or {}
    backup_fields = backup_status(previous_backup, backup)
    healthy = backup_condition(instance, backup_fields, backup, now=parse_time(now))
    conditions = set_condition(conditions, healthy, now=now)
    if backup.verify is not None and instance.spec.backup.verify.enabled:
        verified = verification_status(previous_backup, backup.verify)
        backup_fields.update(verified)
        condition = verification_condition(instance, verified, backup.verify, now=parse_time(now))
        conditions = set_condition(conditions, condition, now=now)
    else:
        conditions = [c for c in conditions if c.get("type") != BACKUP_VERIFIED]
    return backup_fields, conditions


def phase_of(conditions: Sequence[Mapping[str, Any]]) -> str:
    """status.phase: what matters most among the conditions."""
    failing = any(c.get("type") == RECONCILED and c.get("status") == "False" for c in conditions)
    if is_true(conditions, MAINTENANCE):
        return "Maintenance"
    if is_true(conditions, FAILED_OVER):
        return "FailedOver"
    if failing or is_true(conditions, DEGRADED):
        return "Degraded"
    if is_true(conditions, READY):
        return "Running"
    return "Progressing"


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
    pods: Sequence[Mapping[str, Any]] = (),
    retention: JobsObservation | None = None,
) -> dict[str, Any]:
    """The fields of .status the core reconciliation owns; the rest of `previous` is untouched.

    With children_synced=False (a refresh after a Deployment event) the Reconciled condition and
    observedGeneration stay as the last full reconciliation left them; without `backup` (not
    observed this time) status.backup and BackupHealthy stay as they were.
    """
    conditions = list(previous.get("conditions") or [])
    backup_fields: dict[str, Any] = {}
    if backup is not None:
        backup_fields, conditions = _backup_status(instance, previous, conditions, backup, now)
    conditions = set_condition(conditions, ready_condition(instance, deployment, pods), now=now)
    conditions = set_condition(conditions, upload_storage_condition(instance), now=now)
    if children_synced:
        conditions = set_condition(
            conditions, reconciled_condition(instance, error, applied), now=now
        )
    in_maintenance = instance.state.maintenance.phase != "Off"
    if in_maintenance or "maintenance" in previous:
        conditions = set_condition(conditions, maintenance_condition(instance), now=now)
    _, current, ready = deployment_counts(deployment)
    status: dict[str, Any] = {
        "phase": phase_of(conditions),
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
    if retention is not None:
        retention_fields = retention_status(previous.get("retention") or {}, retention)
        if retention_fields:
            status["retention"] = retention_fields
    return status


def status_patch(previous: Mapping[str, Any], computed: Mapping[str, Any]) -> dict[str, Any]:
    """The fields of `computed` that differ from `previous` (empty: nothing to write)."""
    return {key: value for key, value in computed.items() if previous.get(key) != value}
