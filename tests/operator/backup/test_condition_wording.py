"""What BackupHealthy and BackupVerified say, word for word, for every verdict on their Jobs."""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

import pytest

from repairgpt_operator.backup.jobs import BackupObservation, JobsObservation
from repairgpt_operator.backup.status import backup_condition
from repairgpt_operator.backup.verification import verification_condition
from tests.operator.factories import make_instance

NOW = datetime(2026, 11, 28, 12, 30, tzinfo=UTC)
OLD_CRONJOB = {"metadata": {"creationTimestamp": "2026-11-20T09:00:00Z"}}
HOURLY: dict[str, Any] = {
    "backup": {"enabled": True, "schedule": "0 * * * *", "s3": {"bucket": "shop-backups"}}
}
SUSPENDED = {"backup": {**HOURLY["backup"], "suspend": True}}
FAILED = {"lastSuccessfulTime": "2026-11-28T11:00:00Z", "lastFailureTime": "2026-11-28T12:02:00Z"}
REPLICA = " (taken from the replica); backups are taken from the replica while the instance is "
HOURLY_WINDOW = (
    "7200 s; the runs at 2026-11-28T11:00:00Z and 2026-11-28T12:00:00Z brought no newer one"
)


@pytest.mark.parametrize(
    ("spec", "status", "cronjob", "expected"),
    [
        pytest.param(
            HOURLY,
            {**FAILED, "lastError": "BackoffLimitExceeded"},
            {},
            (
                "False",
                "BackupFailed",
                "the last backup failed at 2026-11-28T12:02:00Z: BackoffLimitExceeded",
            ),
            id="failed",
        ),
        pytest.param(
            HOURLY,
            {**FAILED, "source": "replica"},
            {},
            (
                "False",
                "BackupFailed",
                "the last backup failed at 2026-11-28T12:02:00Z:; backups "
                "are taken from the replica while the instance is failed over",
            ),
            id="failed-without-error-while-failed-over",
        ),
        pytest.param(
            HOURLY,
            {
                "lastSuccessfulTime": "2026-11-28T12:10:00Z",
                "lastSource": "replica",
                "source": "replica",
            },
            {},
            (
                "True",
                "BackupSucceeded",
                "the newest successful backup finished at "
                "2026-11-28T12:10:00Z" + REPLICA + "failed over",
            ),
            id="fresh-from-the-replica",
        ),
        pytest.param(
            SUSPENDED,
            {"lastSuccessfulTime": "2026-11-20T10:00:00Z"},
            {},
            ("Unknown", "Suspended", "scheduled backups are suspended"),
            id="suspended",
        ),
        pytest.param(
            HOURLY,
            {"lastSuccessfulTime": "2026-11-28T10:29:00Z"},
            {},
            (
                "False",
                "BackupTooOld",
                "the newest successful backup (2026-11-28T10:29:00Z) is "
                f"older than twice the schedule interval ({HOURLY_WINDOW})",
            ),
            id="too-old",
        ),
        pytest.param(
            HOURLY,
            {},
            OLD_CRONJOB,
            (
                "False",
                "NoSuccessfulBackup",
                "no backup has succeeded since the schedule began (2026-11-20T09:00:00Z)",
            ),
            id="never-succeeded",
        ),
        pytest.param(
            HOURLY, {}, {}, ("True", "AwaitingFirstBackup", "no backup has run yet"), id="awaiting"
        ),
    ],
)
def test_backup_healthy_says_for_each_verdict(
    spec: dict[str, Any],
    status: dict[str, Any],
    cronjob: dict[str, Any],
    expected: tuple[str, str, str],
) -> None:
    instance = make_instance(spec)
    condition = backup_condition(instance, status, BackupObservation(cronjob=cronjob), now=NOW)
    assert (condition["status"], condition["reason"], condition["message"]) == expected
    assert condition["observedGeneration"] == instance.generation


VERIFY: dict[str, Any] = {
    "backup": {
        **HOURLY["backup"],
        "verify": {"enabled": True, "schedule": "0 * * * *"},
    }
}
NEEDS = (
    "; verification creates a throwaway database with the role of Secret repairgpt-db key "
    "database-url (the application's role), which needs CREATEDB; set "
    "spec.backup.verify.database to verify with another role"
)
VERIFY_FAILED = {
    "lastVerifiedTime": "2026-11-28T11:00:00Z",
    "lastVerificationFailureTime": "2026-11-28T12:02:00Z",
}


@pytest.mark.parametrize(
    ("spec", "status", "cronjob", "expected"),
    [
        pytest.param(
            VERIFY,
            {**VERIFY_FAILED, "lastVerificationError": "row counts differ"},
            {},
            (
                "False",
                "VerificationFailed",
                "the verification at 2026-11-28T12:02:00Z failed: row counts differ",
            ),
            id="failed",
        ),
        pytest.param(
            VERIFY,
            VERIFY_FAILED,
            {},
            (
                "False",
                "VerificationFailed",
                "the verification at 2026-11-28T12:02:00Z failed: the verification Job failed",
            ),
            id="failed-without-error",
        ),
        pytest.param(
            VERIFY,
            {**VERIFY_FAILED, "lastVerificationError": "the role needs CREATEDB"},
            {},
            (
                "False",
                "CreateDatabaseDenied",
                "the verification at 2026-11-28T12:02:00Z failed: the role needs CREATEDB" + NEEDS,
            ),
            id="create-database-denied",
        ),
        pytest.param(
            VERIFY,
            {"lastVerifiedTime": "2026-11-28T12:10:00Z", "lastVerifiedLocation": "s3://b/k"},
            {},
            (
                "True",
                "Verified",
                "s3://b/k restored into a throwaway database with the row counts "
                "of its manifest at 2026-11-28T12:10:00Z",
            ),
            id="fresh",
        ),
        pytest.param(
            {"backup": {**VERIFY["backup"], "suspend": True}},
            {},
            {},
            ("Unknown", "Suspended", "scheduled backups and their verification are suspended"),
            id="suspended",
        ),
        pytest.param(
            VERIFY,
            {"lastVerifiedTime": "2026-11-28T10:29:00Z"},
            {},
            (
                "False",
                "VerificationTooOld",
                "the newest successful verification "
                "(2026-11-28T10:29:00Z) is older than twice the verification interval "
                f"({HOURLY_WINDOW})",
            ),
            id="too-old",
        ),
        pytest.param(
            VERIFY,
            {},
            OLD_CRONJOB,
            (
                "False",
                "NeverVerified",
                "no verification has succeeded since the schedule began "
                "(2026-11-20T09:00:00Z)" + NEEDS,
            ),
            id="never-succeeded",
        ),
        pytest.param(
            VERIFY,
            {},
            {},
            ("Unknown", "AwaitingVerification", "no verification has run yet" + NEEDS),
            id="awaiting",
        ),
    ],
)
def test_backup_verified_says_for_each_verdict(
    spec: dict[str, Any],
    status: dict[str, Any],
    cronjob: dict[str, Any],
    expected: tuple[str, str, str],
) -> None:
    instance = make_instance(spec)
    observed = JobsObservation(cronjob=cronjob)
    condition = verification_condition(instance, status, observed, now=NOW)
    assert (condition["status"], condition["reason"], condition["message"]) == expected
    assert condition["observedGeneration"] == instance.generation
