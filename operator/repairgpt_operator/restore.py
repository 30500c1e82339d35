"""Restore decisions without I/O: what a RepairGPTRestore needs next, and its status.

Pending: the instance is being put into maintenance (or another restore of it runs first).
Running: the API holds no database connection any more and the restore Job runs.
Succeeded/Failed: from the Job's outcome and the result the restore command wrote to its
termination message; the maintenance hold is lifted then and the API comes back.
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any, Literal

from repairgpt_operator.backup import finished_job, pod_error, pod_result
from repairgpt_operator.conditions import set_condition
from repairgpt_operator.resources.restore_job import (
    RESTORE_CONTAINER,
    RestoreRequest,
    restore_job_name,
)
from repairgpt_operator.spec import BackupS3, DatabaseSecretRef, Instance
from repairgpt_operator.verification import describe_mismatch

Phase = Literal["Pending", "Running", "Succeeded", "Failed"]
TERMINAL: tuple[Phase, ...] = ("Succeeded", "Failed")
COMPLETE = "Complete"
MAX_PROGRESS_LENGTH = 200
FAILED = "Failed"


@dataclass(frozen=True)
class RestoreView:
    """What the operator saw around one restore."""

    restore: RestoreRequest
    status: Mapping[str, Any]
    instance: Instance | None
    instance_error: str | None = None  # the instance exists but its spec cannot be used
    api_pods: int = 0  # pods of the instance's API Deployment (status.replicas)
    job: Mapping[str, Any] | None = None
    pods: tuple[Mapping[str, Any], ...] = ()
    log_tail: str = ""  # the last lines of the running restore container's log


@dataclass(frozen=True)
class RestoreEvent:
    """An Event to record about the restore (and, with `on_instance`, the instance too)."""

    type: str
    reason: str
    message: str
    on_instance: bool = False


@dataclass(frozen=True)
class RestorePlan:
    """What to do: the status to write, the hold to take or lift, whether to start the Job."""

    status: dict[str, Any]
    hold: Literal["take", "release"] | None = None
    start_job: bool = False
    events: list[RestoreEvent] = field(default_factory=list)

    @property
    def phase(self) -> Phase | None:
        phase = self.status.get("phase")
        return phase if phase in ("Pending", "Running", "Succeeded", "Failed") else None


# `repairgpt backup restore` prints `restore KEY: downloaded and applied: 512.0 MiB of 1.0 GiB
# (50 %), 30.1 MiB/s` (with --verify-first: `downloaded: ...`, then `applied: ...`).
_PROGRESS = re.compile(r"restore (?P<line>\S+: (?:downloaded and applied|downloaded|applied): .+)")


def progress_line(log_tail: str) -> str | None:
    """The newest progress line of the restore command in the tail of its log, without the
    leading `restore `."""
    for line in reversed(log_tail.splitlines()):
        progress = _PROGRESS.fullmatch(line.strip())
        if progress is not None:
            return progress["line"][:MAX_PROGRESS_LENGTH]
    return None


def is_terminal(status: Mapping[str, Any]) -> bool:
    """Whether a restore has finished (either way)."""
    return status.get("phase") in TERMINAL


def source_of(view: RestoreView) -> BackupS3 | None:
    """The S3 location: the restore's own, else the instance's backup location."""
    if view.restore.spec.s3 is not None:
        return view.restore.spec.s3
    if view.instance is not None:
        return view.instance.spec.backup.s3
    return None


def target_of(view: RestoreView) -> DatabaseSecretRef | None:
    """The database restored into: the restore's target, else the instance's primary."""
    if view.restore.spec.target is not None:
        return view.restore.spec.target
    if view.instance is not None:
        return view.instance.spec.database.primary
    return None


def _status(
    view: RestoreView, phase: Phase, message: str, *, now: str, **fields: Any
) -> dict[str, Any]:
    """The previous status with a new phase and message; Complete and Failed conditions once the
    restore has ended."""
    status: dict[str, Any] = {**view.status, "phase": phase, "message": message, **fields}
    if phase in TERMINAL:
        succeeded = phase == "Succeeded"
        conditions = list(view.status.get("conditions") or [])
        for type_, holds in ((COMPLETE, succeeded), (FAILED, not succeeded)):
            condition = {
                "type": type_,
                "status": "True" if holds else "False",
                "reason": "RestoreSucceeded" if succeeded else "RestoreFailed",
                "message": message,
            }
            conditions = set_condition(conditions, condition, now=now)
        status["conditions"] = conditions
    return {key: value for key, value in status.items() if value is not None}


def _fail(view: RestoreView, reason: str, message: str, *, now: str) -> RestorePlan:
    holds = view.instance is not None and view.instance.state.restore_hold == view.restore.name
    return RestorePlan(
        status=_status(view, "Failed", message, now=now, completionTime=now),
        hold="release" if holds else None,
        events=[RestoreEvent("Warning", reason, message, on_instance=view.instance is not None)],
    )


def _finished(view: RestoreView, *, now: str) -> RestorePlan | None:
    """The plan once the Job has ended, or None while it runs."""
    assert view.job is not None
    ended = finished_job(view.job)
    if ended is None:
        return None
    name = ended.name
    result = pod_result(view.pods, name, container=RESTORE_CONTAINER, succeeded_only=False) or {}
    fields: dict[str, Any] = {"completionTime": ended.finished}
    if isinstance(result.get("key"), str):
        fields["backupKey"] = result["key"]
    if isinstance(result.get("location"), str):
        fields["location"] = result["location"]
    if isinstance(result.get("tables"), int):
        fields["restoredTables"] = result["tables"]
    if isinstance(result.get("rows"), int):
        fields["restoredRows"] = result["rows"]
    holds = view.instance is not None and view.instance.state.restore_hold == view.restore.name
    release: Literal["release"] | None = "release" if holds else None
    if ended.succeeded and result.get("counts_match", True) is not False:
        where = fields.get("location") or fields.get("backupKey") or view.restore.spec.backup
        counted = ""
        if "restoredRows" in fields and "restoredTables" in fields:
            counted = (
                f": {fields['restoredRows']} rows in {fields['restoredTables']} tables, "
                "as in the backup's manifest"
            )
        message = f"restored {where}{counted}"
        return RestorePlan(
            status=_status(view, "Succeeded", message, now=now, **fields),
            hold=release,
            events=[RestoreEvent("Normal", "RestoreSucceeded", message, on_instance=True)],
        )
    if result.get("counts_match") is False:
        error = describe_mismatch(result)
    else:
        error = pod_error(view.pods, name) or ended.message or "the restore Job failed"
    message = f"the restore failed: {error}"
    return RestorePlan(
        status=_status(view, "Failed", message, now=now, **fields),
        hold=release,
        events=[RestoreEvent("Warning", "RestoreFailed", message, on_instance=True)],
    )


def plan_restore(view: RestoreView, *, now: str) -> RestorePlan:
    """The next step of a restore; idempotent, so it can run on every event and tick."""
    restore = view.restore
    instance = view.instance
    holds = instance is not None and instance.state.restore_hold == restore.name
    if is_terminal(view.status):
        # Finished: only make sure the instance is not still held (e.g. after a crash).
        return RestorePlan(status=dict(view.status), hold="release" if holds else None)
    if view.job is not None:
        finished = _finished(view, now=now)
        if finished is not None:
            return finished
        start = (view.job.get("status") or {}).get("startTime") or view.status.get("startTime")
        job_name = view.job["metadata"]["name"]
        message = f"restoring {restore.spec.backup} (Job {job_name})"
        progress = progress_line(view.log_tail)
        if progress:
            message += f": {progress}"
        return RestorePlan(
            status=_status(
                view, "Running", message, now=now, startTime=start or now, jobName=job_name
            ),
            hold=None,
        )
    if view.status.get("phase") == "Running":
        message = "the restore Job was deleted before it finished"
        return _fail(view, "RestoreJobLost", message, now=now)
    if instance is None:
        if view.instance_error:
            message = f"RepairGPTInstance {restore.spec.instance_name} has an invalid spec: "
            return _fail(view, "InvalidInstance", message + view.instance_error, now=now)
        message = f"RepairGPTInstance {restore.spec.instance_name} does not exist in this namespace"
        return _fail(view, "InstanceNotFound", message, now=now)
    if source_of(view) is None:
        message = "no backup location: set spec.s3 or the instance's spec.backup.s3"
        return _fail(view, "NoBackupLocation", message, now=now)
    if restore.spec.maintenance:
        holder = instance.state.restore_hold
        if holder is not None and holder != restore.name:
            message = f"waiting for RepairGPTRestore {holder} to finish"
            return RestorePlan(status=_status(view, "Pending", message, now=now))
        if holder is None:
            message = f"putting {instance.name} into maintenance mode"
            return RestorePlan(
                status=_status(view, "Pending", message, now=now),
                hold="take",
                events=[
                    RestoreEvent(
                        "Normal",
                        "RestoreHold",
                        f"maintenance mode held while RepairGPTRestore {restore.name} runs",
                        on_instance=True,
                    )
                ],
            )
        if instance.state.maintenance.phase != "On" or view.api_pods > 0:
            message = (
                f"waiting for the API of {instance.name} to stop ({view.api_pods} pods left) "
                "before the restore starts"
            )
            return RestorePlan(status=_status(view, "Pending", message, now=now))
    message = f"starting the restore of {restore.spec.backup}"
    return RestorePlan(
        status=_status(
            view, "Running", message, now=now, startTime=now, jobName=restore_job_name(restore)
        ),
        start_job=True,
        events=[
            RestoreEvent(
                "Normal",
                "RestoreStarted",
                f"restoring {restore.spec.backup} into "
                f"{(target_of(view) or instance.spec.database.primary).secret_name}",
                on_instance=True,
            )
        ],
    )
