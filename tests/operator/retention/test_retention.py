"""Chat retention: the outcome of the retention Jobs in status.retention, and its events."""

from __future__ import annotations

import json
from typing import Any

from repairgpt_operator.backup.jobs import JobsObservation
from repairgpt_operator.instance.observed import compute_status
from repairgpt_operator.retention.status import retention_events, retention_status
from tests.operator.factories import make_instance

RESULT = {
    "cutoff": "2025-11-28T04:15:00+00:00",
    "messages_deleted": 80000,
    "sessions_deleted": 3500,
    "rows_deleted": 83500,
    "batches": 26,
    "seconds": 1.9,
    "max_batch_seconds": 0.093,
    "analyzed": ["chat_messages", "chat_sessions"],
    "dry_run": False,
}


def _job(name: str, outcome: str, end: str) -> dict[str, Any]:
    status: dict[str, Any] = {
        "startTime": "2026-11-28T04:15:00Z",
        "conditions": [{"type": outcome, "status": "True", "lastTransitionTime": end}],
    }
    if outcome == "Complete":
        status["completionTime"] = end
    return {"metadata": {"name": name}, "status": status}


def _pod(job: str, exit_code: int, message: str) -> dict[str, Any]:
    terminated = {"exitCode": exit_code, "message": message}
    return {
        "metadata": {"labels": {"batch.kubernetes.io/job-name": job}},
        "status": {
            "containerStatuses": [{"name": "retention", "state": {"terminated": terminated}}]
        },
    }


def test_a_finished_job_reports_rows_deleted_and_its_timing() -> None:
    observed = JobsObservation(
        jobs=(_job("r1", "Complete", "2026-11-28T04:16:00Z"),),
        pods=(_pod("r1", 0, json.dumps(RESULT)),),
    )
    status = retention_status({}, observed)
    assert status == {
        "lastRunTime": "2026-11-28T04:16:00Z",
        "lastSuccessfulTime": "2026-11-28T04:16:00Z",
        "outcome": "Succeeded",
        "rowsDeleted": 83500,
        "messagesDeleted": 80000,
        "sessionsDeleted": 3500,
        "batches": 26,
        "seconds": 1.9,
        "maxBatchSeconds": 0.093,
    }
    [event] = retention_events({}, status)
    assert (event.type, event.reason) == ("Normal", "RetentionSucceeded")
    assert "83500 rows" in event.message
    assert retention_events(status, status) == []


def test_a_newer_failure_reports_the_command_error_and_keeps_the_last_success() -> None:
    before = retention_status(
        {},
        JobsObservation(
            jobs=(_job("r1", "Complete", "2026-11-27T04:16:00Z"),),
            pods=(_pod("r1", 0, json.dumps(RESULT)),),
        ),
    )
    observed = JobsObservation(
        jobs=(
            _job("r1", "Complete", "2026-11-27T04:16:00Z"),
            _job("r2", "Failed", "2026-11-28T04:16:30Z"),
        ),
        pods=(_pod("r2", 1, "Traceback ...\nsqlalchemy.exc.OperationalError: connection refused"),),
    )
    after = retention_status(before, observed)
    assert after["outcome"] == "Failed"
    assert after["lastRunTime"] == "2026-11-28T04:16:30Z"
    assert after["lastSuccessfulTime"] == "2026-11-27T04:16:00Z"
    assert after["lastError"].endswith("connection refused")
    [event] = retention_events(before, after)
    assert (event.type, event.reason) == ("Warning", "RetentionFailed")


def test_an_older_or_running_job_changes_nothing() -> None:
    recorded = {"lastRunTime": "2026-11-28T04:16:00Z", "outcome": "Succeeded", "rowsDeleted": 5}
    running = {"metadata": {"name": "r3"}, "status": {"startTime": "2026-11-29T04:15:00Z"}}
    observed = JobsObservation(jobs=(_job("r0", "Failed", "2026-11-20T04:16:00Z"), running))
    assert retention_status(recorded, observed) == recorded


def test_compute_status_writes_status_retention_only_when_observed() -> None:
    instance = make_instance()
    observed = JobsObservation(
        jobs=(_job("r1", "Complete", "2026-11-28T04:16:00Z"),),
        pods=(_pod("r1", 0, json.dumps(RESULT)),),
    )
    kwargs: dict[str, Any] = {"previous": {}, "deployment": None, "now": "2026-11-28T05:00:00Z"}
    assert compute_status(instance, retention=observed, **kwargs)["retention"]["rowsDeleted"] == (
        83500
    )
    assert "retention" not in compute_status(instance, **kwargs)
