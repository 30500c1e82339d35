"""Backup verification: its outcome in status.backup, BackupVerified, and its events."""

from __future__ import annotations

import json
from datetime import UTC, datetime
from typing import Any

from repairgpt_operator.backup.jobs import JobsObservation
from repairgpt_operator.backup.verification import (
    verification_condition,
    verification_events,
    verification_status,
)
from tests.operator.factories import make_instance

VERIFY: dict[str, Any] = {
    "backup": {
        "enabled": True,
        "s3": {"bucket": "shop-backups"},
        "verify": {"enabled": True, "schedule": "30 3 * * *"},
    }
}
NOW = datetime(2026, 11, 28, 12, 0, tzinfo=UTC)


def _job(name: str, outcome: str | None, end: str = "2026-11-28T03:40:00Z") -> dict[str, Any]:
    status: dict[str, Any] = {"startTime": "2026-11-28T03:30:00Z"}
    if outcome is not None:
        status["conditions"] = [
            {
                "type": outcome,
                "status": "True",
                "lastTransitionTime": end,
                "message": "" if outcome == "Complete" else "BackoffLimitExceeded",
            }
        ]
    if outcome == "Complete":
        status["completionTime"] = end
    return {"metadata": {"name": name}, "status": status}


def _pod(job: str, exit_code: int, message: str) -> dict[str, Any]:
    terminated = {"exitCode": exit_code, "message": message}
    return {
        "metadata": {"labels": {"batch.kubernetes.io/job-name": job}},
        "status": {"containerStatuses": [{"name": "verify", "state": {"terminated": terminated}}]},
    }


def _result(verified: bool, mismatches: list[dict[str, Any]] | None = None) -> str:
    return json.dumps(
        {
            "key": "db/repairgpt-20261128T030000Z.sql.gz",
            "location": "s3://shop-backups/db/repairgpt-20261128T030000Z.sql.gz",
            "verified": verified,
            "tables": 7,
            "rows": 120000,
            "mismatches": mismatches or [],
            "duration_seconds": 41.5,
        }
    )


def test_a_verified_backup_is_recorded_with_its_location() -> None:
    observed = JobsObservation(jobs=(_job("v1", "Complete"),), pods=(_pod("v1", 0, _result(True)),))
    status = verification_status({}, observed)
    assert status == {
        "lastVerifiedTime": "2026-11-28T03:40:00Z",
        "lastVerifiedLocation": "s3://shop-backups/db/repairgpt-20261128T030000Z.sql.gz",
    }
    condition = verification_condition(make_instance(VERIFY), status, observed, now=NOW)
    assert (condition["type"], condition["status"], condition["reason"]) == (
        "BackupVerified",
        "True",
        "Verified",
    )
    assert "repairgpt-20261128T030000Z" in condition["message"]


def test_a_row_count_mismatch_names_the_table_and_both_counts() -> None:
    mismatch = [{"table": "public.repair_guides", "expected": 43, "actual": 41}]
    observed = JobsObservation(
        jobs=(_job("v1", "Failed"),), pods=(_pod("v1", 34, _result(False, mismatch)),)
    )
    status = verification_status({}, observed)
    assert status["lastVerificationFailureTime"] == "2026-11-28T03:40:00Z"
    assert (
        "public.repair_guides (43 in the manifest, 41 restored)" in status["lastVerificationError"]
    )
    condition = verification_condition(make_instance(VERIFY), status, observed, now=NOW)
    assert (condition["status"], condition["reason"]) == ("False", "VerificationFailed")
    assert "public.repair_guides" in condition["message"]


def test_a_failed_verification_reports_the_command_error() -> None:
    log = "verify: downloading\nrepairgpt backup: error: db/x.sql.gz is corrupted: sha256 ...\n"
    observed = JobsObservation(jobs=(_job("v1", "Failed"),), pods=(_pod("v1", 30, log),))
    status = verification_status({}, observed)
    assert status["lastVerificationError"] == "db/x.sql.gz is corrupted: sha256 ..."


def test_a_later_success_clears_the_alarm_and_history_survives_deleted_jobs() -> None:
    previous = {
        "lastVerificationFailureTime": "2026-11-27T03:40:00Z",
        "lastVerificationError": "boom",
    }
    observed = JobsObservation(jobs=(_job("v2", "Complete"),), pods=())
    status = verification_status(previous, observed)
    assert status["lastVerificationFailureTime"] == "2026-11-27T03:40:00Z"
    condition = verification_condition(make_instance(VERIFY), status, observed, now=NOW)
    assert condition["status"] == "True"
    # The Jobs are gone (history limit): the status keeps what they reported.
    assert verification_status(status, JobsObservation()) == status


def test_an_old_verification_is_overdue_after_two_intervals() -> None:
    status = {"lastVerifiedTime": "2026-11-25T03:40:00Z"}
    condition = verification_condition(make_instance(VERIFY), status, JobsObservation(), now=NOW)
    assert (condition["status"], condition["reason"]) == ("False", "VerificationTooOld")


def test_no_verification_yet_is_unknown_until_two_intervals_have_passed() -> None:
    young = JobsObservation(cronjob={"metadata": {"creationTimestamp": "2026-11-28T10:00:00Z"}})
    old = JobsObservation(cronjob={"metadata": {"creationTimestamp": "2026-11-25T10:00:00Z"}})
    instance = make_instance(VERIFY)
    assert verification_condition(instance, {}, young, now=NOW)["status"] == "Unknown"
    assert verification_condition(instance, {}, old, now=NOW)["reason"] == "NeverVerified"


def test_events_only_for_new_outcomes() -> None:
    before = {"lastVerifiedTime": "2026-11-27T03:40:00Z"}
    assert verification_events(before, dict(before)) == []
    after = {**before, "lastVerificationFailureTime": "2026-11-28T03:40:00Z"}
    [event] = verification_events(before, after)
    assert (event.type, event.reason) == ("Warning", "BackupVerificationFailed")


def test_until_verified_the_condition_says_the_application_role_needs_createdb() -> None:
    waiting = verification_condition(make_instance(VERIFY), {}, JobsObservation(), now=NOW)
    assert waiting["reason"] == "AwaitingVerification"
    assert "Secret repairgpt-db key database-url" in waiting["message"]
    assert "needs CREATEDB" in waiting["message"]
    assert "spec.backup.verify.database" in waiting["message"]
    # With a role of its own for verification, the application's role needs nothing more.
    elsewhere = {
        "backup": {
            **VERIFY["backup"],
            "verify": {
                **VERIFY["backup"]["verify"],
                "database": {"secretName": "verify-db", "key": "database-url"},
            },
        }
    }
    own = verification_condition(make_instance(elsewhere), {}, JobsObservation(), now=NOW)
    assert "CREATEDB" not in own["message"]


def test_a_verification_refused_create_database_is_reported_as_such() -> None:
    log = (
        "repairgpt backup: error: the role shop may not create databases, and verify restores "
        "into a throwaway database; grant it with `ALTER ROLE shop CREATEDB` (as a superuser) "
        "or pass --database-url with a role that has CREATEDB\n"
    )
    observed = JobsObservation(jobs=(_job("v1", "Failed"),), pods=(_pod("v1", 36, log),))
    status = verification_status({}, observed)
    condition = verification_condition(make_instance(VERIFY), status, observed, now=NOW)
    assert (condition["status"], condition["reason"]) == ("False", "CreateDatabaseDenied")
    assert "set spec.backup.verify.database" in condition["message"]


def test_a_weekly_verification_is_not_overdue_within_its_week() -> None:
    weekly = {
        "backup": {**VERIFY["backup"], "verify": {"enabled": True, "schedule": "0 4 * * SUN"}}
    }
    status = {"lastVerifiedTime": "2026-11-22T04:30:00Z"}
    condition = verification_condition(make_instance(weekly), status, JobsObservation(), now=NOW)
    assert (condition["status"], condition["reason"]) == ("True", "Verified")
