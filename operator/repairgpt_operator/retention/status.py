"""Chat retention decisions without I/O: status.retention from the `<name>-retention` Jobs.

Each retention Job writes its one-line JSON result (rows deleted, batches, seconds, the longest
transaction) to its termination message, as the backup Jobs do; on failure the tail of its log
is the message. The newest finished Job is what the status reports.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from repairgpt_contract import results
from repairgpt_operator.backup.job_output import pod_error, pod_result
from repairgpt_operator.backup.jobs import FinishedJob, JobsObservation, finished_job
from repairgpt_operator.events import Event
from repairgpt_operator.resources.retention_cronjob import RETENTION_CONTAINER
from repairgpt_operator.timestamps import parse_time

# The status field each figure of `repairgpt db prune-chats` fills.
_FIGURE_FIELDS = dict(
    zip(
        results.PRUNE_CHATS_FIGURES,
        (
            "rowsDeleted",
            "messagesDeleted",
            "sessionsDeleted",
            "batches",
            "seconds",
            "maxBatchSeconds",
        ),
        strict=True,
    )
)


def _newest(observed: JobsObservation) -> FinishedJob | None:
    finished = [f for f in (finished_job(job) for job in observed.jobs) if f is not None]
    return max(finished, key=lambda f: parse_time(f.finished), default=None)


def _is_newer(candidate: str, than: str | None) -> bool:
    return than is None or parse_time(candidate) > parse_time(than)


def retention_status(previous: Mapping[str, Any], observed: JobsObservation) -> dict[str, Any]:
    """status.retention: when and how the newest finished retention Job ended; the figures of
    the last successful run and the error of the last failed one. Unchanged while no Job newer
    than the one recorded has finished (finished Jobs are deleted after a while)."""
    status = dict(previous)
    newest = _newest(observed)
    if newest is None or not _is_newer(newest.finished, status.get("lastRunTime")):
        return status
    status["lastRunTime"] = newest.finished
    status["outcome"] = "Succeeded" if newest.succeeded else "Failed"
    if newest.succeeded:
        status["lastSuccessfulTime"] = newest.finished
        result = pod_result(observed.pods, newest.name, container=RETENTION_CONTAINER) or {}
        for key, field in _FIGURE_FIELDS.items():
            value = result.get(key)
            if isinstance(value, int | float) and not isinstance(value, bool):
                status[field] = value
    else:
        status["lastError"] = (
            pod_error(observed.pods, newest.name) or newest.message or "the retention Job failed"
        )
    return status


def retention_events(before: Mapping[str, Any], after: Mapping[str, Any]) -> list[Event]:
    """RetentionSucceeded / RetentionFailed when status.retention records a new run."""
    run = after.get("lastRunTime")
    if not run or run == before.get("lastRunTime"):
        return []
    if after.get("outcome") == "Succeeded":
        rows = after.get("rowsDeleted")
        deleted = f"deleted {rows} rows of chat history" if rows is not None else "ran"
        return [Event("Normal", "RetentionSucceeded", f"chat retention {deleted} at {run}")]
    error = after.get("lastError") or "the retention Job failed"
    return [Event("Warning", "RetentionFailed", f"chat retention failed at {run}: {error}")]
