"""Backup, verification and retention Jobs as the status needs them: how each ended, and when."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

from repairgpt_operator.resources.backup_cronjob import BACKUP_SOURCE_ANNOTATION
from repairgpt_operator.resources.backup_job import BACKUP_TOKEN_ANNOTATION
from repairgpt_operator.timestamps import parse_time

# Set by the Job controller on the pods of each Job.
JOB_NAME_LABEL = "batch.kubernetes.io/job-name"


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


def latest_time(*times: str | None) -> str | None:
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
