"""Backup verification without I/O: the outcome of the `<name>-verify` Jobs, kept in
status.backup, and the BackupVerified condition.

A verification Job restores the newest backup into a throwaway database, compares the row counts
with the backup's manifest and writes a JSON result to its termination message; that result (or
the command's error line) is what the status reports.
"""

from __future__ import annotations

from collections.abc import Mapping
from datetime import datetime
from typing import Any

from repairgpt_contract import results
from repairgpt_operator.backup.job_output import pod_error, pod_result
from repairgpt_operator.backup.jobs import JobsObservation, finished_job
from repairgpt_operator.backup.rpo import ScheduledRuns, Wording, freshness_condition
from repairgpt_operator.conditions import BACKUP_VERIFIED, ConditionStatus
from repairgpt_operator.events import Event
from repairgpt_operator.instance.model import Instance
from repairgpt_operator.resources.backup_cronjob import VERIFY_CONTAINER
from repairgpt_operator.timestamps import parse_time

VERIFICATION_FIELDS = (
    "lastVerifiedTime",
    "lastVerifiedLocation",
    "lastVerificationFailureTime",
    "lastVerificationError",
)
MAX_MISMATCHES_SHOWN = 3


def _later(first: str | None, second: str | None) -> str | None:
    if not first or not second:
        return first or second
    return max(first, second, key=parse_time)


def describe_mismatch(result: Mapping[str, Any]) -> str:
    """A sentence naming the tables whose restored row counts differ from the manifest."""
    mismatches = [m for m in result.get(results.MISMATCHES) or [] if isinstance(m, Mapping)]
    parts = []
    for mismatch in mismatches[:MAX_MISMATCHES_SHOWN]:
        actual = mismatch.get("actual")
        restored = "missing" if isinstance(actual, int) and actual < 0 else f"{actual} restored"
        expected = mismatch.get("expected")
        parts.append(f"{mismatch.get('table')} ({expected} in the manifest, {restored})")
    location = result.get(results.LOCATION) or result.get(results.KEY) or "the newest backup"
    if not parts:
        return f"{location} did not restore with the row counts of its manifest"
    more = len(mismatches) - len(parts)
    tail = f" and {more} more" if more > 0 else ""
    return f"row counts of {location} differ from its manifest: {', '.join(parts)}{tail}"


def verification_status(previous: Mapping[str, Any], observed: JobsObservation) -> dict[str, Any]:
    """The verification fields of status.backup: times only move forward, as for backups."""
    status = {key: previous.get(key) for key in VERIFICATION_FIELDS}
    finished = sorted(
        (f for f in (finished_job(job) for job in observed.jobs) if f is not None),
        key=lambda f: parse_time(f.finished),
    )
    for outcome in finished:
        result = pod_result(
            observed.pods, outcome.name, container=VERIFY_CONTAINER, succeeded_only=False
        )
        if outcome.succeeded:
            if _later(status["lastVerifiedTime"], outcome.finished) != outcome.finished:
                continue
            status["lastVerifiedTime"] = outcome.finished
            if result and isinstance(result.get(results.LOCATION), str):
                status["lastVerifiedLocation"] = result[results.LOCATION]
            continue
        newest = _later(status["lastVerificationFailureTime"], outcome.finished)
        if newest != outcome.finished:
            continue
        status["lastVerificationFailureTime"] = outcome.finished
        if result and result.get(results.VERIFIED) is False:
            status["lastVerificationError"] = describe_mismatch(result)
        else:
            status["lastVerificationError"] = (
                pod_error(observed.pods, outcome.name)
                or outcome.message
                or "the verification Job failed"
            )
    return {key: value for key, value in status.items() if value is not None}


def needs_create_database(instance: Instance) -> str | None:
    """What the verification needs of the application's own role: it restores into a throwaway
    database, created with the role of spec.backup.verify.database or, by default, of the
    primary's Secret (the application's role); None when another role is configured."""
    if instance.spec.backup.verify.database is not None:
        return None
    primary = instance.spec.database.primary
    return (
        f"verification creates a throwaway database with the role of Secret "
        f"{primary.secret_name} key {primary.key} (the application's role), which needs "
        "CREATEDB; set spec.backup.verify.database to verify with another role"
    )


# What BackupVerified says for each verdict; the {note} on CREATEDB shows until one succeeds.
VERIFIED_WORDING: Wording = {
    "failed": ("False", "VerificationFailed", "the verification at {failure} failed: {error}"),
    "fresh": (
        "True",
        "Verified",
        "{location} restored into a throwaway database with the row counts of its manifest at "
        "{success}",
    ),
    "suspended": ("Unknown", "Suspended", "scheduled backups and their verification are suspended"),
    "too-old": (
        "False",
        "VerificationTooOld",
        "the newest successful verification ({success}) is older than twice the verification "
        "interval ({window})",
    ),
    "never-succeeded": (
        "False",
        "NeverVerified",
        "no verification has succeeded since the schedule began ({created}){note}",
    ),
    "awaiting": ("Unknown", "AwaitingVerification", "no verification has run yet{note}"),
}
# A failure for want of CREATEDB says which role needs it.
CREATE_DATABASE_DENIED: tuple[ConditionStatus, str, str] = (
    "False",
    "CreateDatabaseDenied",
    "the verification at {failure} failed: {error}{note}",
)


def verification_condition(
    instance: Instance, status: Mapping[str, Any], observed: JobsObservation, *, now: datetime
) -> dict[str, Any]:
    """BackupVerified: True while the newest verification succeeded within its RPO window (two
    scheduled runs); False when it failed, is overdue, or none has ever succeeded. Until one has
    succeeded, the message says when the application's own role needs CREATEDB."""
    error = status.get("lastVerificationError") or "the verification Job failed"
    wording: Wording = VERIFIED_WORDING
    if "CREATEDB" in error:
        wording = {**VERIFIED_WORDING, "failed": CREATE_DATABASE_DENIED}
    needs = needs_create_database(instance)
    runs = ScheduledRuns(
        success=status.get("lastVerifiedTime"),
        failure=status.get("lastVerificationFailureTime"),
        schedule=instance.spec.backup.verify.schedule,
        suspended=instance.spec.backup.suspend,
        cronjob=observed.cronjob,
    )
    return freshness_condition(
        BACKUP_VERIFIED,
        wording,
        runs,
        now=now,
        generation=instance.generation,
        error=error,
        location=status.get("lastVerifiedLocation") or "the newest backup",
        note=f"; {needs}" if needs else "",
    )


def verification_events(before: Mapping[str, Any], after: Mapping[str, Any]) -> list[Event]:
    """BackupVerified / BackupVerificationFailed when the status records a new outcome."""
    events = []
    success = after.get("lastVerifiedTime")
    if success and success != before.get("lastVerifiedTime"):
        location = after.get("lastVerifiedLocation") or "the newest backup"
        events.append(
            Event(
                "Normal",
                "BackupVerified",
                f"{location} restored with matching row counts at {success}",
            )
        )
    failure = after.get("lastVerificationFailureTime")
    if failure and failure != before.get("lastVerificationFailureTime"):
        error = after.get("lastVerificationError") or "the verification Job failed"
        events.append(Event("Warning", "BackupVerificationFailed", f"verification failed: {error}"))
    return events
