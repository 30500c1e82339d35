"""Backup decisions without I/O: status.backup from the Jobs, the BackupHealthy condition."""

from __future__ import annotations

from collections.abc import Mapping
from datetime import datetime
from typing import Any

from repairgpt_contract import results
from repairgpt_operator.backup.job_output import pod_error, pod_result
from repairgpt_operator.backup.jobs import BackupObservation, finished_job, latest_time
from repairgpt_operator.backup.rpo import ScheduledRuns, Wording, freshness_condition
from repairgpt_operator.conditions import BACKUP_HEALTHY
from repairgpt_operator.events import Event
from repairgpt_operator.instance.model import Instance
from repairgpt_operator.resources.backup_cronjob import BACKUP_SOURCE_ANNOTATION
from repairgpt_operator.timestamps import parse_time


def _cronjob_source(cronjob: Mapping[str, Any] | None) -> str | None:
    template = ((cronjob or {}).get("spec") or {}).get("jobTemplate") or {}
    source = ((template.get("metadata") or {}).get("annotations") or {}).get(
        BACKUP_SOURCE_ANNOTATION
    )
    return str(source) if source else None


def backup_status(previous: Mapping[str, Any], observed: BackupObservation) -> dict[str, Any]:
    """status.backup from the CronJob and the Jobs that still exist; times only move forward
    (the history limits delete old Jobs, the status keeps what they reported)."""
    before = dict(previous)
    cron_status = (observed.cronjob or {}).get("status") or {}
    finished = sorted(
        (f for f in (finished_job(job) for job in observed.jobs) if f is not None),
        key=lambda f: parse_time(f.finished),
    )
    started = [
        (job.get("status") or {}).get("startTime")
        or (job.get("metadata") or {}).get("creationTimestamp")
        for job in observed.jobs
    ]
    successes = [f for f in finished if f.succeeded]
    failures = [f for f in finished if not f.succeeded]
    status = {
        "lastScheduleTime": latest_time(
            before.get("lastScheduleTime"), cron_status.get("lastScheduleTime"), *started
        ),
        "lastSuccessfulTime": latest_time(
            before.get("lastSuccessfulTime"),
            cron_status.get("lastSuccessfulTime"),
            *(f.finished for f in successes),
        ),
        "lastFailureTime": latest_time(
            before.get("lastFailureTime"), *(f.finished for f in failures)
        ),
        "lastError": before.get("lastError"),
        "lastLocation": before.get("lastLocation"),
        "lastSizeBytes": before.get("lastSizeBytes"),
        "lastManualToken": before.get("lastManualToken"),
        "lastSource": before.get("lastSource"),
        # Where the next backup dumps from, as the CronJob was last applied.
        "source": _cronjob_source(observed.cronjob) or before.get("source"),
    }
    if failures and status["lastFailureTime"] == failures[-1].finished:
        status["lastError"] = (
            pod_error(observed.pods, failures[-1].name)
            or failures[-1].message
            or "the backup Job failed"
        )
    if successes and status["lastSuccessfulTime"] == successes[-1].finished:
        if successes[-1].source is not None:
            status["lastSource"] = successes[-1].source
        result = pod_result(observed.pods, successes[-1].name) or {}
        if isinstance(result.get(results.LOCATION), str):
            status["lastLocation"] = result[results.LOCATION]
        if isinstance(result.get(results.SIZE_BYTES), int):
            status["lastSizeBytes"] = result[results.SIZE_BYTES]
    manual = [f for f in finished if f.token is not None]
    if manual:
        status["lastManualToken"] = manual[-1].token
    return {key: value for key, value in status.items() if value is not None}


def _from_replica_note(status: Mapping[str, Any]) -> str:
    if status.get("source") == "replica":
        return "; backups are taken from the replica while the instance is failed over"
    return ""


# What BackupHealthy says for each verdict; suspended on purpose, an aged backup is expected
# (Unknown), not an alarm.
BACKUP_HEALTH_WORDING: Wording = {
    "failed": ("False", "BackupFailed", "the last backup failed at {failure}:{error}{note}"),
    "fresh": (
        "True",
        "BackupSucceeded",
        "the newest successful backup finished at {success}{taken}{note}",
    ),
    "suspended": ("Unknown", "Suspended", "scheduled backups are suspended"),
    "too-old": (
        "False",
        "BackupTooOld",
        "the newest successful backup ({success}) is older than twice the schedule interval "
        "({window}){note}",
    ),
    "never-succeeded": (
        "False",
        "NoSuccessfulBackup",
        "no backup has succeeded since the schedule began ({created}){note}",
    ),
    "awaiting": ("True", "AwaitingFirstBackup", "no backup has run yet{note}"),
}


def backup_condition(
    instance: Instance, status: Mapping[str, Any], observed: BackupObservation, *, now: datetime
) -> dict[str, Any]:
    """BackupHealthy: False when the newest finished backup failed or the newest success is
    older than its RPO window (two scheduled runs have passed without a newer one); Unknown when
    suspended without a recent backup."""
    backup = instance.spec.backup
    runs = ScheduledRuns(
        success=status.get("lastSuccessfulTime"),
        failure=status.get("lastFailureTime"),
        schedule=backup.schedule,
        suspended=backup.suspend,
        cronjob=observed.cronjob,
    )
    return freshness_condition(
        BACKUP_HEALTHY,
        BACKUP_HEALTH_WORDING,
        runs,
        now=now,
        generation=instance.generation,
        # An empty error leaves no blank after the colon.
        error=(" " + (status.get("lastError") or "")).rstrip(),
        taken=" (taken from the replica)" if status.get("lastSource") == "replica" else "",
        note=_from_replica_note(status),
    )


def backup_events(before: Mapping[str, Any], after: Mapping[str, Any]) -> list[Event]:
    """BackupSucceeded / BackupFailed when status.backup records a new outcome."""
    events = []
    success = after.get("lastSuccessfulTime")
    if success and success != before.get("lastSuccessfulTime"):
        events.append(
            Event("Normal", "BackupSucceeded", f"a backup finished successfully at {success}")
        )
    failure = after.get("lastFailureTime")
    if failure and failure != before.get("lastFailureTime"):
        error = after.get("lastError") or "the backup Job failed"
        message = f"backup failed at {failure}: {error}"
        events.append(Event("Warning", "BackupFailed", message))
    return events
