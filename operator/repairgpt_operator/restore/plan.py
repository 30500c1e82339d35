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
from collections.abc import Mapping
from typing import Any, Literal

from repairgpt_contract import argv, latest_progress, results
from repairgpt_operator.backup.job_output import pod_error, pod_result
from repairgpt_operator.backup.jobs import finished_job
from repairgpt_operator.backup.spec import BackupS3
from repairgpt_operator.backup.verification import describe_mismatch
from repairgpt_operator.conditions import set_condition
from repairgpt_operator.instance.model import Instance
from repairgpt_operator.resources.backup_cronjob import BACKUP_CONTAINER
from repairgpt_operator.resources.restore_job import (
    FIND_CONTAINER,
    RESTORE_CONTAINER,
    restore_job_name,
)
from repairgpt_operator.restore.view import (
    COMPLETE,
    FAILED,
    TERMINAL,
    Phase,
    RestoreEvent,
    RestorePlan,
    RestoreView,
    is_terminal,
    safety_backup_location,
    safety_backup_needed,
    source_of,
    target_of,
)

# What a restore's result reports and the status fields it fills.
_RESTORE_RESULT_FIELDS: tuple[tuple[str, str, type], ...] = (
    (results.KEY, "backupKey", str),
    (results.LOCATION, "location", str),
    (results.TABLES, "restoredTables", int),
    (results.ROWS, "restoredRows", int),
)


def _describe_s3(s3: BackupS3) -> str:
    return f"s3://{s3.bucket}/{s3.prefix}"


def _location_of(result: Mapping[str, Any]) -> str | None:
    location = result.get(results.LOCATION)
    return location if isinstance(location, str) else None


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
    for key, field, kind in _RESTORE_RESULT_FIELDS:
        if isinstance(result.get(key), kind):
            fields[field] = result[key]
    holds = view.instance is not None and view.instance.state.restore_hold == view.restore.name
    release: Literal["release"] | None = "release" if holds else None
    if ended.succeeded and result.get(results.COUNTS_MATCH, True) is not False:
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
    if result.get(results.COUNTS_MATCH) is False:
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
    if restore.spec.backup != argv.LATEST:
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
    key = results.key_of(result)
    if not ended.succeeded or key is None:
        error = pod_error(view.pods, ended.name) or ended.message or "the find Job failed"
        return _fail(view, "BackupNotFound", f"no backup to restore: {error}", now=now)
    location = _location_of(result)
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
    key = results.key_of(result)
    if not ended.succeeded or key is None:
        error = pod_error(view.pods, ended.name) or ended.message or "the backup Job failed"
        message = f"the backup before the restore failed, so nothing was restored: {error}"
        return _fail(view, "PreRestoreBackupFailed", message, now=now)
    location = _location_of(result)
    return _with(view, preRestoreBackupKey=key, preRestoreBackupLocation=location)


def _running(view: RestoreView, job: Mapping[str, Any], key: str, *, now: str) -> RestorePlan:
    """The restore Job runs: its progress in the status."""
    start = (job.get("status") or {}).get("startTime") or view.status.get("startTime")
    job_name = job["metadata"]["name"]
    message = f"restoring {key} (Job {job_name})"
    progress = latest_progress(view.log_tail)
    if progress:
        message += f": {progress}"
    return RestorePlan(
        status=_status(view, "Running", message, now=now, startTime=start or now, jobName=job_name),
        hold=None,
    )


def _refused(view: RestoreView, *, now: str) -> RestorePlan | None:
    """The failure of a restore that cannot start at all (no instance, no backup location)."""
    restore = view.restore
    if view.status.get("phase") == "Running":
        message = "the restore Job was deleted before it finished"
        return _fail(view, "RestoreJobLost", message, now=now)
    if view.instance is None:
        if view.instance_error:
            message = f"RepairGPTInstance {restore.spec.instance_name} has an invalid spec: "
            return _fail(view, "InvalidInstance", message + view.instance_error, now=now)
        message = f"RepairGPTInstance {restore.spec.instance_name} does not exist in this namespace"
        return _fail(view, "InstanceNotFound", message, now=now)
    if source_of(view) is None:
        message = "no backup location: set spec.s3 or the instance's spec.backup.s3"
        return _fail(view, "NoBackupLocation", message, now=now)
    return None


def _waiting(view: RestoreView, instance: Instance, holds: bool, *, now: str) -> RestorePlan | None:
    """What the restore waits for before its Job may start (failback, maintenance), if any."""
    restore = view.restore
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
    if not restore.spec.maintenance:
        return None
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
    return None


def _start(view: RestoreView, instance: Instance, key: str, *, now: str) -> RestorePlan:
    """Start the restore Job."""
    restore = view.restore
    message = f"starting the restore of {key}"
    target = (target_of(view) or instance.spec.database.primary).secret_name
    return RestorePlan(
        status=_status(
            view, "Running", message, now=now, startTime=now, jobName=restore_job_name(restore)
        ),
        start="restore",
        events=[
            RestoreEvent(
                "Normal", "RestoreStarted", f"restoring {key} into {target}", on_instance=True
            )
        ],
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
        key = view.status.get("backupKey") or restore.spec.backup
        return _running(view, view.job, str(key), now=now)
    refused = _refused(view, now=now)
    if refused is not None:
        return refused
    assert instance is not None  # _refused fails a restore whose instance is missing
    found = _find_step(view, now=now)
    if isinstance(found, RestorePlan):
        return found
    view = found
    key = view.status["backupKey"]
    waiting = _waiting(view, instance, holds, now=now)
    if waiting is not None:
        return waiting
    backed_up = _safety_backup_step(view, now=now)
    if isinstance(backed_up, RestorePlan):
        return backed_up
    return _start(backed_up, instance, key, now=now)
