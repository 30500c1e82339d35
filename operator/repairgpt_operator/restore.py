"""Restore decisions without I/O: what a RepairGPTRestore needs next, and its status.

Pending: the backup to restore is being named (`latest` becomes a key when the restore is
accepted), the instance is failed over (a restore into its own database waits for the failback),
the instance is being put into maintenance (or another restore of it runs first), or, for a
clean restore into the instance's own database, that database is being backed up first.
Running: the API holds no database connection any more and the restore Job runs.
Succeeded/Failed: from the Job's outcome and the result the restore command wrote to its
termination message; the maintenance hold is lifted then and the API comes back.
"""

from __future__ import annotations

import dataclasses
import re
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any, Literal

from repairgpt_operator.backup import finished_job, pod_error, pod_result
from repairgpt_operator.conditions import set_condition
from repairgpt_operator.resources.backup_cronjob import BACKUP_CONTAINER
from repairgpt_operator.resources.restore_job import (
    FIND_CONTAINER,
    RESTORE_CONTAINER,
    RestoreRequest,
    RestoreStep,
    restore_job_name,
)
from repairgpt_operator.spec import BackupS3, DatabaseSecretRef, Instance
from repairgpt_operator.verification import describe_mismatch

Phase = Literal["Pending", "Running", "Succeeded", "Failed"]
TERMINAL: tuple[Phase, ...] = ("Succeeded", "Failed")
COMPLETE = "Complete"
MAX_PROGRESS_LENGTH = 200
FAILED = "Failed"
LATEST = "latest"


@dataclass(frozen=True)
class RestoreView:
    """What the operator saw around one restore."""

    restore: RestoreRequest
    status: Mapping[str, Any]
    instance: Instance | None
    instance_error: str | None = None  # the instance exists but its spec cannot be used
    api_pods: int = 0  # pods of the instance's API Deployment (status.replicas)
    job: Mapping[str, Any] | None = None  # the restore Job
    find_job: Mapping[str, Any] | None = None  # the Job that named the backup for `latest`
    backup_job: Mapping[str, Any] | None = None  # the backup taken before a clean restore
    pods: tuple[Mapping[str, Any], ...] = ()  # the pods of the restore's Jobs
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
    """What to do: the status to write, the hold to take or lift, which Job to start."""

    status: dict[str, Any]
    hold: Literal["take", "release"] | None = None
    start: RestoreStep | None = None
    events: list[RestoreEvent] = field(default_factory=list)

    @property
    def start_job(self) -> bool:
        """Whether the restore Job itself starts."""
        return self.start == "restore"

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


def safety_backup_needed(restore: RestoreRequest) -> bool:
    """A clean restore into the instance's own database drops and recreates its tables: it is
    preceded by a backup of that database, and does not start without one."""
    return restore.spec.clean and restore.spec.target is None


def safety_backup_location(view: RestoreView) -> BackupS3 | None:
    """Where that backup goes: the instance's backup location, else where the restore reads."""
    if view.instance is not None and view.instance.spec.backup.s3 is not None:
        return view.instance.spec.backup.s3
    return source_of(view)


def _describe_s3(s3: BackupS3) -> str:
    return f"s3://{s3.bucket}/{s3.prefix}"


def _key_of(result: Mapping[str, Any]) -> str | None:
    """The dump key a `repairgpt backup` result names (from `key`, else from `location`)."""
    key = result.get("key")
    if isinstance(key, str) and key:
        return key
    location = result.get("location")
    if isinstance(location, str) and location.startswith("s3://") and location.count("/") >= 3:
        return location.split("/", 3)[3] or None
    return None


def _with(view: RestoreView, **fields: Any) -> RestoreView:
    """The view with fields added to the restore's status (kept by every later plan)."""
    kept = {key: value for key, value in fields.items() if value is not None}
    return dataclasses.replace(view, status={**view.status, **kept})


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
        if view.status.get("preRestoreBackupKey"):
            message += (
                f"; the database as it was before is in the backup "
                f"{view.status['preRestoreBackupKey']}"
            )
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


def _find_step(view: RestoreView, *, now: str) -> RestoreView | RestorePlan:
    """Name the backup to restore: a key as given, or `latest` as it is when the restore is
    accepted (before the hold), so that no backup taken later becomes the one restored."""
    restore = view.restore
    if view.status.get("backupKey"):
        return view
    if restore.spec.backup != LATEST:
        return _with(view, backupKey=restore.spec.backup)
    source = source_of(view)
    assert source is not None
    finding = f"finding the newest backup in {_describe_s3(source)}"
    if view.find_job is None:
        return RestorePlan(status=_status(view, "Pending", finding, now=now), start="find")
    ended = finished_job(view.find_job)
    if ended is None:
        return RestorePlan(status=_status(view, "Pending", finding, now=now))
    result = pod_result(view.pods, ended.name, container=FIND_CONTAINER) or {}
    key = _key_of(result)
    if not ended.succeeded or key is None:
        error = pod_error(view.pods, ended.name) or ended.message or "the find Job failed"
        return _fail(view, "BackupNotFound", f"no backup to restore: {error}", now=now)
    location = result.get("location") if isinstance(result.get("location"), str) else None
    return _with(view, backupKey=key, location=location)


def _safety_backup_step(view: RestoreView, *, now: str) -> RestoreView | RestorePlan:
    """Back up the instance's database before a clean restore replaces its tables; a restore
    whose backup failed does not go on."""
    if not safety_backup_needed(view.restore) or view.status.get("preRestoreBackupKey"):
        return view
    assert view.instance is not None
    database = view.instance.spec.database.primary.secret_name
    where = safety_backup_location(view)
    assert where is not None
    message = (
        f"backing up the database of Secret {database} to {_describe_s3(where)} before the "
        "clean restore replaces its tables"
    )
    if view.backup_job is None:
        return RestorePlan(
            status=_status(view, "Pending", message, now=now),
            start="backup",
            events=[RestoreEvent("Normal", "PreRestoreBackup", message, on_instance=True)],
        )
    ended = finished_job(view.backup_job)
    if ended is None:
        name = view.backup_job["metadata"]["name"]
        return RestorePlan(status=_status(view, "Pending", f"{message} (Job {name})", now=now))
    result = pod_result(view.pods, ended.name, container=BACKUP_CONTAINER) or {}
    key = _key_of(result)
    if not ended.succeeded or key is None:
        error = pod_error(view.pods, ended.name) or ended.message or "the backup Job failed"
        message = f"the backup before the restore failed, so nothing was restored: {error}"
        return _fail(view, "PreRestoreBackupFailed", message, now=now)
    location = result.get("location") if isinstance(result.get("location"), str) else None
    return _with(view, preRestoreBackupKey=key, preRestoreBackupLocation=location)


def plan_restore(view: RestoreView, *, now: str) -> RestorePlan:
    """The next step of a restore; idempotent, so it can run on every event and tick."""
    restore = view.restore
    instance = view.instance
    holds = instance is not None and instance.state.restore_hold == restore.name
    if is_terminal(view.status):
        # Finished: only make sure the instance is not still held (e.g. after a crash).
        return RestorePlan(status=dict(view.status), hold="release" if holds else None)
    key = view.status.get("backupKey") or restore.spec.backup
    if view.job is not None:
        finished = _finished(view, now=now)
        if finished is not None:
            return finished
        start = (view.job.get("status") or {}).get("startTime") or view.status.get("startTime")
        job_name = view.job["metadata"]["name"]
        message = f"restoring {key} (Job {job_name})"
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
    found = _find_step(view, now=now)
    if isinstance(found, RestorePlan):
        return found
    view = found
    key = view.status["backupKey"]
    if restore.spec.target is None and instance.state.database_active == "replica":
        message = (
            f"{instance.name} is failed over to its replica database: the restore into its "
            "primary database waits for the failback (or set spec.target to restore into "
            "another database)"
        )
        # The read-only API stays up meanwhile, unless the backup before the restore was taken.
        release = holds and view.backup_job is None
        return RestorePlan(
            status=_status(view, "Pending", message, now=now),
            hold="release" if release else None,
        )
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
    backed_up = _safety_backup_step(view, now=now)
    if isinstance(backed_up, RestorePlan):
        return backed_up
    view = backed_up
    message = f"starting the restore of {key}"
    return RestorePlan(
        status=_status(
            view, "Running", message, now=now, startTime=now, jobName=restore_job_name(restore)
        ),
        start="restore",
        events=[
            RestoreEvent(
                "Normal",
                "RestoreStarted",
                f"restoring {key} into "
                f"{(target_of(view) or instance.spec.database.primary).secret_name}",
                on_instance=True,
            )
        ],
    )
