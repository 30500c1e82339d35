"""Backup decisions without I/O: on-demand Jobs, backup status, the RPO check and its events."""

from __future__ import annotations

import copy
import hashlib
import json
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from typing import Any

from cronsim import CronSim, CronSimError

from repairgpt_operator.conditions import BACKUP_HEALTHY, make_condition
from repairgpt_operator.ownership import child_name, owner_reference
from repairgpt_operator.resources.backup_cronjob import BACKUP_SOURCE_ANNOTATION
from repairgpt_operator.spec import Instance

BACKUP_NOW_ANNOTATION = "repairgpt.io/backup-now"
# The token is kept as an annotation: label values cannot hold arbitrary text (e.g. timestamps).
BACKUP_TOKEN_ANNOTATION = "repairgpt.io/backup-token"
TRIGGER_LABEL = "repairgpt.io/backup-trigger"
# Finished on-demand Jobs go after a week; their outcome is already in the instance status.
MANUAL_JOB_TTL_SECONDS = 7 * 24 * 3600

# The CronJob controller's macros, as the five-field schedules they stand for.
MACROS = {
    "@hourly": "0 * * * *",
    "@daily": "0 0 * * *",
    "@midnight": "0 0 * * *",
    "@weekly": "0 0 * * 0",
    "@monthly": "0 0 1 * *",
    "@yearly": "0 0 1 1 *",
    "@annually": "0 0 1 1 *",
}
# For a schedule the cron library cannot read (the CRD's pattern lets few through): two days.
FALLBACK_WINDOW = timedelta(days=2)


# --- the schedule --------------------------------------------------------------------------------


@dataclass(frozen=True)
class RpoWindow:
    """How long a backup finished at `since` stays recent enough: from the scheduled run at or
    before it to the second run after that (twice the interval of a regular schedule), so one
    missed or failed run is tolerated and a second one is not."""

    since: datetime
    runs: tuple[datetime, ...]  # the two scheduled runs that should bring a newer backup
    limit: timedelta

    @property
    def deadline(self) -> datetime:
        return self.since + self.limit

    @property
    def seconds(self) -> int:
        return int(self.limit.total_seconds())


def rpo_window(schedule: str, since: datetime) -> RpoWindow:
    """The RPO window of a backup finished at `since` under a cron schedule (read in UTC, as
    the CronJob controller does without spec.timeZone), e.g. 14 days for `0 3 * * MON`."""
    expression = MACROS.get(schedule.strip(), schedule.strip())
    since = since.astimezone(UTC).replace(microsecond=0)
    try:
        # One second later, so that a run exactly at `since` counts as the one at or before it.
        previous = next(CronSim(expression, since + timedelta(seconds=1), reverse=True))
        upcoming = CronSim(expression, previous)
        runs = (next(upcoming), next(upcoming))
    except (CronSimError, StopIteration):
        return RpoWindow(since=since, runs=(), limit=FALLBACK_WINDOW)
    return RpoWindow(since=since, runs=runs, limit=runs[1] - previous)


def describe_runs(window: RpoWindow) -> str:
    """`the runs at A and B`, for condition messages."""
    if not window.runs:
        return f"{window.seconds} s"
    times = " and ".join(run.strftime("%Y-%m-%dT%H:%M:%SZ") for run in window.runs)
    return f"{window.seconds} s; the runs at {times} brought no newer one"


# --- backup now ----------------------------------------------------------------------------------


def requested_token(body: Mapping[str, Any]) -> str | None:
    """The backup-now token annotated on the instance, if any."""
    annotations = (body.get("metadata") or {}).get("annotations") or {}
    token = annotations.get(BACKUP_NOW_ANNOTATION)
    return str(token) if token else None


def manual_job_name(instance: Instance, token: str) -> str:
    """`<instance>-backup-<10 hex digits of the token's sha256>`: one Job per token."""
    digest = hashlib.sha256(token.encode()).hexdigest()[:10]
    return f"{child_name(instance, 'backup')}-{digest}"


def build_manual_job(instance: Instance, cronjob: Mapping[str, Any], token: str) -> dict[str, Any]:
    """A Job from the CronJob's jobTemplate (the same pod), owned by the instance."""
    template = copy.deepcopy(dict(cronjob["spec"]["jobTemplate"]))
    labels = {**(template.get("metadata") or {}).get("labels", {}), TRIGGER_LABEL: "manual"}
    job_spec = template["spec"]
    job_spec["ttlSecondsAfterFinished"] = MANUAL_JOB_TTL_SECONDS
    return {
        "apiVersion": "batch/v1",
        "kind": "Job",
        "metadata": {
            "name": manual_job_name(instance, token),
            "namespace": instance.namespace,
            "labels": labels,
            "annotations": {
                **((template.get("metadata") or {}).get("annotations") or {}),
                BACKUP_TOKEN_ANNOTATION: token,
            },
            "ownerReferences": [owner_reference(instance)],
        },
        "spec": job_spec,
    }


def wants_manual_job(body: Mapping[str, Any]) -> str | None:
    """The token to start a Job for: annotated and not yet echoed in the status."""
    token = requested_token(body)
    if token is None:
        return None
    done = ((body.get("status") or {}).get("backup") or {}).get("lastManualToken")
    return None if token == done else token


# --- status --------------------------------------------------------------------------------------


@dataclass(frozen=True)
class FinishedJob:
    """A backup Job that has ended, and how."""

    name: str
    succeeded: bool
    started: str | None
    finished: str
    message: str
    token: str | None
    source: str | None = None  # primary or replica (backup Jobs only)

    @property
    def duration_seconds(self) -> float | None:
        if not self.started:
            return None
        return (parse_time(self.finished) - parse_time(self.started)).total_seconds()


def parse_time(text: str) -> datetime:
    """An RFC 3339 timestamp as the API server writes it."""
    return datetime.strptime(text, "%Y-%m-%dT%H:%M:%SZ").replace(tzinfo=UTC)


def _latest(*times: str | None) -> str | None:
    present = [t for t in times if t]
    return max(present, key=parse_time) if present else None


def finished_job(job: Mapping[str, Any]) -> FinishedJob | None:
    """How a Job ended (from its Complete or Failed condition), or None while it runs."""
    status = job.get("status") or {}
    metadata = job.get("metadata") or {}
    for condition in status.get("conditions") or []:
        if condition.get("status") != "True" or condition.get("type") not in ("Complete", "Failed"):
            continue
        succeeded = condition["type"] == "Complete"
        finished = (
            (status.get("completionTime") if succeeded else None)
            or condition.get("lastTransitionTime")
            or condition.get("lastProbeTime")
        )
        if not finished:
            continue
        message = str(condition.get("message") or condition.get("reason") or "")
        return FinishedJob(
            name=str(metadata.get("name")),
            succeeded=succeeded,
            started=status.get("startTime"),
            finished=str(finished),
            message=message if not succeeded else "",
            token=(metadata.get("annotations") or {}).get(BACKUP_TOKEN_ANNOTATION),
            source=(metadata.get("annotations") or {}).get(BACKUP_SOURCE_ANNOTATION),
        )
    return None


@dataclass(frozen=True)
class JobsObservation:
    """A CronJob and the Jobs and pods of its component."""

    cronjob: Mapping[str, Any] | None = None
    jobs: tuple[Mapping[str, Any], ...] = field(default_factory=tuple)
    pods: tuple[Mapping[str, Any], ...] = field(default_factory=tuple)


@dataclass(frozen=True)
class BackupObservation(JobsObservation):
    """What the operator saw of the backups of one instance: the CronJob and the Jobs, and the
    same for their verification (when it is enabled)."""

    verify: JobsObservation | None = None


JOB_NAME_LABELS = ("batch.kubernetes.io/job-name", "job-name")
CLI_ERROR_PREFIX = "repairgpt backup: error:"
MAX_ERROR_LENGTH = 512


def _terminations(pods: Iterable[Mapping[str, Any]], job_name: str) -> list[dict[str, Any]]:
    """(container name, terminated state) of the containers that ended in the Job's pods."""
    ended = []
    for pod in pods:
        labels = (pod.get("metadata") or {}).get("labels") or {}
        if not any(labels.get(label) == job_name for label in JOB_NAME_LABELS):
            continue
        status = pod.get("status") or {}
        for item in (status.get("initContainerStatuses") or []) + (
            status.get("containerStatuses") or []
        ):
            terminated = (item.get("state") or {}).get("terminated")
            if terminated:
                ended.append({"container": item.get("name"), **terminated})
    return ended


def pod_error(pods: Iterable[Mapping[str, Any]], job_name: str) -> str | None:
    """The backup command's own error line from a failed container's termination message (the
    tail of its log, thanks to terminationMessagePolicy FallbackToLogsOnError)."""
    for ended in _terminations(pods, job_name):
        if int(ended.get("exitCode") or 0) == 0:
            continue
        lines = [line.strip() for line in str(ended.get("message") or "").splitlines()]
        lines = [line for line in lines if line]
        errors = [line for line in lines if line.startswith(CLI_ERROR_PREFIX)]
        if errors:
            return errors[-1][len(CLI_ERROR_PREFIX) :].strip()[:MAX_ERROR_LENGTH]
        if lines:
            return lines[-1][:MAX_ERROR_LENGTH]
    return None


def pod_result(
    pods: Iterable[Mapping[str, Any]],
    job_name: str,
    *,
    container: str = "backup",
    succeeded_only: bool = True,
) -> Mapping[str, Any] | None:
    """The JSON object a container wrote to its termination message with --result-file (for the
    backup container: where the dump went and its size)."""
    for ended in _terminations(pods, job_name):
        if ended.get("container") != container:
            continue
        if succeeded_only and int(ended.get("exitCode") or 0) != 0:
            continue
        try:
            result = json.loads(str(ended.get("message") or ""))
        except ValueError:
            return None
        return result if isinstance(result, dict) else None
    return None


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
        "lastScheduleTime": _latest(
            before.get("lastScheduleTime"), cron_status.get("lastScheduleTime"), *started
        ),
        "lastSuccessfulTime": _latest(
            before.get("lastSuccessfulTime"),
            cron_status.get("lastSuccessfulTime"),
            *(f.finished for f in successes),
        ),
        "lastFailureTime": _latest(before.get("lastFailureTime"), *(f.finished for f in failures)),
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
        if isinstance(result.get("location"), str):
            status["lastLocation"] = result["location"]
        if isinstance(result.get("size_bytes"), int):
            status["lastSizeBytes"] = result["size_bytes"]
    manual = [f for f in finished if f.token is not None]
    if manual:
        status["lastManualToken"] = manual[-1].token
    return {key: value for key, value in status.items() if value is not None}


def _from_replica_note(status: Mapping[str, Any]) -> str:
    if status.get("source") == "replica":
        return "; backups are taken from the replica while the instance is failed over"
    return ""


def backup_condition(
    instance: Instance, status: Mapping[str, Any], observed: BackupObservation, *, now: datetime
) -> dict[str, Any]:
    """BackupHealthy: False when the newest finished backup failed or the newest success is
    older than its RPO window (two scheduled runs have passed without a newer one); Unknown when
    suspended without a recent backup."""
    backup = instance.spec.backup
    generation = instance.generation
    note = _from_replica_note(status)
    success = status.get("lastSuccessfulTime")
    failure = status.get("lastFailureTime")
    if failure and (not success or parse_time(failure) >= parse_time(success)):
        error = status.get("lastError") or ""
        return make_condition(
            BACKUP_HEALTHY,
            "False",
            reason="BackupFailed",
            message=f"the last backup failed at {failure}: {error}".strip() + note,
            observed_generation=generation,
        )
    window = rpo_window(backup.schedule, parse_time(success)) if success else None
    if success and window is not None and now <= window.deadline:
        last = status.get("lastSource")
        taken = " (taken from the replica)" if last == "replica" else ""
        return make_condition(
            BACKUP_HEALTHY,
            "True",
            reason="BackupSucceeded",
            message=f"the newest successful backup finished at {success}{taken}{note}",
            observed_generation=generation,
        )
    if backup.suspend:
        # Suspended on purpose: an aged backup is expected, not an alarm.
        return make_condition(
            BACKUP_HEALTHY,
            "Unknown",
            reason="Suspended",
            message="scheduled backups are suspended",
            observed_generation=generation,
        )
    if success and window is not None:
        return make_condition(
            BACKUP_HEALTHY,
            "False",
            reason="BackupTooOld",
            message=f"the newest successful backup ({success}) is older than twice the "
            f"schedule interval ({describe_runs(window)}){note}",
            observed_generation=generation,
        )
    created = ((observed.cronjob or {}).get("metadata") or {}).get("creationTimestamp")
    if created and now > rpo_window(backup.schedule, parse_time(created)).deadline:
        return make_condition(
            BACKUP_HEALTHY,
            "False",
            reason="NoSuccessfulBackup",
            message=f"no backup has succeeded since the schedule began ({created}){note}",
            observed_generation=generation,
        )
    return make_condition(
        BACKUP_HEALTHY,
        "True",
        reason="AwaitingFirstBackup",
        message=f"no backup has run yet{note}",
        observed_generation=generation,
    )


@dataclass(frozen=True)
class BackupEvent:
    """An Event to record about the instance."""

    type: str
    reason: str
    message: str


def backup_events(before: Mapping[str, Any], after: Mapping[str, Any]) -> list[BackupEvent]:
    """BackupSucceeded / BackupFailed when status.backup records a new outcome."""
    events = []
    success = after.get("lastSuccessfulTime")
    if success and success != before.get("lastSuccessfulTime"):
        events.append(
            BackupEvent("Normal", "BackupSucceeded", f"a backup finished successfully at {success}")
        )
    failure = after.get("lastFailureTime")
    if failure and failure != before.get("lastFailureTime"):
        error = after.get("lastError") or "the backup Job failed"
        message = f"backup failed at {failure}: {error}"
        events.append(BackupEvent("Warning", "BackupFailed", message))
    return events
