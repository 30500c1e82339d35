"""Backup decisions: schedule intervals, on-demand Jobs, status, BackupHealthy and its events."""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

from repairgpt_operator.backup.jobs import BackupObservation
from repairgpt_operator.backup.on_demand import BACKUP_NOW_ANNOTATION, wants_manual_job
from repairgpt_operator.backup.status import backup_condition, backup_events, backup_status
from repairgpt_operator.resources.backup_cronjob import build_backup_cronjob
from repairgpt_operator.resources.backup_job import (
    BACKUP_TOKEN_ANNOTATION,
)
from tests.operator.factories import instance_body, make_instance

BACKUP: dict[str, Any] = {
    "backup": {"enabled": True, "schedule": "0 * * * *", "s3": {"bucket": "shop-backups"}}
}


def test_a_weekly_backup_stays_healthy_all_week_and_breaks_the_rpo_after_two_missed_runs() -> None:
    weekly = {"backup": {**BACKUP["backup"], "schedule": "0 3 * * MON"}}
    # Monday's backup on Saturday: no run has been missed.
    saturday = datetime(2026, 12, 5, 12, tzinfo=UTC)
    status = {"lastSuccessfulTime": "2026-11-30T03:10:00Z"}
    instance = make_instance(weekly)
    condition = backup_condition(instance, status, BackupObservation(cronjob={}), now=saturday)
    assert (condition["status"], condition["reason"]) == ("True", "BackupSucceeded")
    # Two Mondays later both runs have passed without a newer backup.
    late = datetime(2026, 12, 14, 4, tzinfo=UTC)
    condition = backup_condition(instance, status, BackupObservation(cronjob={}), now=late)
    assert (condition["status"], condition["reason"]) == ("False", "BackupTooOld")
    assert "2026-12-07T03:00:00Z and 2026-12-14T03:00:00Z" in condition["message"]


def test_a_token_is_wanted_until_the_status_echoes_it() -> None:
    body = instance_body(BACKUP)
    assert wants_manual_job(body) is None
    body["metadata"]["annotations"] = {BACKUP_NOW_ANNOTATION: "t1"}
    assert wants_manual_job(body) == "t1"
    body["status"] = {"backup": {"lastManualToken": "t1"}}
    assert wants_manual_job(body) is None
    body["metadata"]["annotations"] = {BACKUP_NOW_ANNOTATION: "t2"}
    assert wants_manual_job(body) == "t2"


def _job(
    name: str,
    outcome: str | None,
    *,
    start: str = "2026-11-28T10:00:00Z",
    end: str = "2026-11-28T10:05:00Z",
    token: str | None = None,
    message: str = "Job has reached the specified backoff limit",
) -> dict[str, Any]:
    status: dict[str, Any] = {"startTime": start}
    if outcome == "Complete":
        status["completionTime"] = end
    if outcome is not None:
        status["conditions"] = [
            {
                "type": outcome,
                "status": "True",
                "lastTransitionTime": end,
                "message": "" if outcome == "Complete" else message,
            }
        ]
    metadata: dict[str, Any] = {"name": name, "creationTimestamp": start}
    if token:
        metadata["annotations"] = {BACKUP_TOKEN_ANNOTATION: token}
    return {"metadata": metadata, "status": status}


def test_status_reports_schedule_success_and_the_newest_error() -> None:
    observed = BackupObservation(
        cronjob={"status": {"lastScheduleTime": "2026-11-28T12:00:00Z"}},
        jobs=(
            _job("a", "Complete", end="2026-11-28T10:05:00Z"),
            _job("b", "Failed", start="2026-11-28T11:00:00Z", end="2026-11-28T11:02:00Z"),
            _job("c", None, start="2026-11-28T12:00:00Z"),
        ),
    )
    status = backup_status({}, observed)
    assert status["lastScheduleTime"] == "2026-11-28T12:00:00Z"
    assert status["lastSuccessfulTime"] == "2026-11-28T10:05:00Z"
    assert status["lastFailureTime"] == "2026-11-28T11:02:00Z"
    assert status["lastError"] == "Job has reached the specified backoff limit"


def test_status_keeps_what_deleted_jobs_reported() -> None:
    previous = {"lastSuccessfulTime": "2026-11-28T10:05:00Z", "lastManualToken": "t1"}
    status = backup_status(previous, BackupObservation(cronjob={}, jobs=()))
    assert status["lastSuccessfulTime"] == "2026-11-28T10:05:00Z"
    assert status["lastManualToken"] == "t1"


def test_status_echoes_the_token_only_once_its_job_has_finished() -> None:
    running = BackupObservation(jobs=(_job("m", None, token="t1"),))
    assert "lastManualToken" not in backup_status({}, running)
    done = BackupObservation(jobs=(_job("m", "Complete", token="t1"),))
    assert backup_status({}, done)["lastManualToken"] == "t1"


NOW = datetime(2026, 11, 28, 12, 30, tzinfo=UTC)


def _healthy(
    spec: dict[str, Any], status: dict[str, Any], cron: dict[str, Any] | None = None
) -> Any:
    observed = BackupObservation(cronjob=cron or {})
    return backup_condition(make_instance(spec), status, observed, now=NOW)


def test_backup_is_healthy_when_the_newest_success_is_within_twice_the_interval() -> None:
    condition = _healthy(BACKUP, {"lastSuccessfulTime": "2026-11-28T11:00:00Z"})
    assert (condition["type"], condition["status"]) == ("BackupHealthy", "True")


def test_backup_is_unhealthy_when_the_newest_finished_backup_failed() -> None:
    condition = _healthy(
        BACKUP,
        {
            "lastSuccessfulTime": "2026-11-28T11:00:00Z",
            "lastFailureTime": "2026-11-28T12:02:00Z",
            "lastError": "BackoffLimitExceeded",
        },
    )
    assert (condition["status"], condition["reason"]) == ("False", "BackupFailed")
    assert "BackoffLimitExceeded" in condition["message"]


def test_a_success_after_a_failure_makes_the_backup_healthy_again() -> None:
    condition = _healthy(
        BACKUP,
        {"lastSuccessfulTime": "2026-11-28T12:10:00Z", "lastFailureTime": "2026-11-28T11:02:00Z"},
    )
    assert condition["status"] == "True"


def test_backup_older_than_twice_the_schedule_interval_breaks_the_rpo() -> None:
    condition = _healthy(BACKUP, {"lastSuccessfulTime": "2026-11-28T10:29:00Z"})
    assert (condition["status"], condition["reason"]) == ("False", "BackupTooOld")
    daily = {"backup": {**BACKUP["backup"], "schedule": "0 3 * * *"}}
    assert _healthy(daily, {"lastSuccessfulTime": "2026-11-28T03:00:00Z"})["status"] == "True"


def test_suspended_backups_are_not_reported_as_failing_the_rpo() -> None:
    suspended = {"backup": {**BACKUP["backup"], "suspend": True}}
    old = _healthy(suspended, {"lastSuccessfulTime": "2026-11-20T10:00:00Z"})
    assert (old["status"], old["reason"]) == ("Unknown", "Suspended")
    fresh = _healthy(suspended, {"lastSuccessfulTime": "2026-11-28T12:00:00Z"})
    assert fresh["status"] == "True"


def test_no_backup_at_all_is_unhealthy_only_after_two_intervals() -> None:
    young = {"metadata": {"creationTimestamp": "2026-11-28T12:00:00Z"}}
    old = {"metadata": {"creationTimestamp": "2026-11-28T09:00:00Z"}}
    assert _healthy(BACKUP, {}, young)["status"] == "True"
    assert _healthy(BACKUP, {}, old)["reason"] == "NoSuccessfulBackup"


def test_events_are_recorded_for_new_outcomes_only() -> None:
    before = {"lastSuccessfulTime": "2026-11-28T10:05:00Z"}
    assert backup_events(before, dict(before)) == []
    after = {**before, "lastFailureTime": "2026-11-28T11:02:00Z", "lastError": "boom"}
    [failed] = backup_events(before, after)
    assert (failed.type, failed.reason) == ("Warning", "BackupFailed")
    assert "boom" in failed.message
    [succeeded] = backup_events(after, {**after, "lastSuccessfulTime": "2026-11-28T12:05:00Z"})
    assert succeeded.reason == "BackupSucceeded"


def _pod(job: str, container: str, exit_code: int, message: str) -> dict[str, Any]:
    statuses = [
        {"name": container, "state": {"terminated": {"exitCode": exit_code, "message": message}}}
    ]
    key = "initContainerStatuses" if container == "backup" else "containerStatuses"
    return {
        "metadata": {"labels": {"batch.kubernetes.io/job-name": job}},
        "status": {key: statuses},
    }


def test_last_error_is_the_command_error_from_the_failed_pod_log_tail() -> None:
    log_tail = (
        "backup db/x: uploaded 3 MiB\n"
        "repairgpt backup: error: cannot reach S3 at http://127.0.0.1:9: connection refused\n"
    )
    observed = BackupObservation(
        jobs=(_job("b", "Failed", end="2026-11-28T11:02:00Z"),),
        pods=(_pod("other", "backup", 1, "repairgpt backup: error: not this one"),
              _pod("b", "backup", 2, log_tail)),
    )  # fmt: skip
    status = backup_status({}, observed)
    assert status["lastError"] == "cannot reach S3 at http://127.0.0.1:9: connection refused"


def test_last_error_falls_back_to_the_job_condition_without_a_pod() -> None:
    observed = BackupObservation(jobs=(_job("b", "Failed"),))
    assert backup_status({}, observed)["lastError"] == "Job has reached the specified backoff limit"


def test_location_and_size_come_from_the_backup_container_result() -> None:
    result = '{"location": "s3://shop-backups/db/repairgpt-1.sql.gz", "size_bytes": 4096}'
    observed = BackupObservation(
        jobs=(_job("a", "Complete"),),
        pods=(_pod("a", "backup", 0, result), _pod("a", "prune", 0, "")),
    )
    status = backup_status({}, observed)
    assert status["lastLocation"] == "s3://shop-backups/db/repairgpt-1.sql.gz"
    assert status["lastSizeBytes"] == 4096


def test_location_is_left_alone_when_the_container_wrote_no_result() -> None:
    previous = {"lastLocation": "s3://shop-backups/db/old.sql.gz"}
    observed = BackupObservation(
        jobs=(_job("a", "Complete"),), pods=(_pod("a", "backup", 0, "backup written"),)
    )
    assert backup_status(previous, observed)["lastLocation"] == "s3://shop-backups/db/old.sql.gz"


def test_status_and_condition_say_backups_come_from_the_replica_while_failed_over() -> None:
    spec = {
        **BACKUP,
        "database": {"replica": {"secretName": "repairgpt-db-replica", "key": "database-url"}},
    }
    instance = make_instance(spec, status={"database": {"active": "replica"}})
    cronjob = build_backup_cronjob(instance)
    done = _job("shop-backup-1", "Complete", end="2026-11-28T12:05:00Z")
    done["metadata"]["annotations"] = dict(
        cronjob["spec"]["jobTemplate"]["metadata"]["annotations"]
    )
    observed = BackupObservation(cronjob=cronjob, jobs=(done,))
    status = backup_status({}, observed)
    assert (status["source"], status["lastSource"]) == ("replica", "replica")
    condition = backup_condition(instance, status, observed, now=NOW)
    assert condition["status"] == "True"
    assert "taken from the replica" in condition["message"]
    assert "failed over" in condition["message"]
