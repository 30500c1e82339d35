"""Backup before upgrade, without I/O: with `spec.backup.beforeUpgrade`, a change of `spec.image`
waits (the Deployment keeps the running image) until a backup Job for that change succeeds.

Each change is recorded in `status.rollout.upgrade` with the generation that made it; the Job's
name derives from the running image, the target image and that generation, so one Job is
started per change. A failed backup keeps the hold; deleting the Job tries again, and
`kubectl annotate rgi NAME repairgpt.io/skip-backup-before-upgrade=<image>` skips it once.
"""

from __future__ import annotations

import hashlib
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any, Literal

from repairgpt_operator.annotations import annotation
from repairgpt_operator.backup.jobs import FinishedJob
from repairgpt_operator.conditions import BACKUP_BEFORE_UPGRADE, ConditionStatus, make_condition
from repairgpt_operator.events import Event

SKIP_ANNOTATION = "repairgpt.io/skip-backup-before-upgrade"
Phase = Literal["Pending", "Running", "Failed", "Succeeded", "Skipped"]
HOLDING: frozenset[str] = frozenset({"Pending", "Running", "Failed"})


def skip_requested(body: Mapping[str, Any]) -> str | None:
    """The image whose backup the annotation skips, if any."""
    return annotation(body, SKIP_ANNOTATION)


def upgrade_job_name(instance_name: str, from_image: str, image: str, generation: int) -> str:
    """`<instance>-upgrade-<10 hex digits>`, one per change of the image."""
    digest = hashlib.sha256(f"{from_image}\n{image}\n{generation}".encode()).hexdigest()[:10]
    return f"{instance_name}-upgrade-{digest}"


def pending_change(
    previous: Mapping[str, Any] | None,
    *,
    enabled: bool,
    running_image: str | None,
    target: str,
    generation: int,
    instance_name: str,
) -> dict[str, Any] | None:
    """status.rollout.upgrade before looking at its Job: the same record while the same change
    waits, a new one (phase Pending) for a new change; a finished one stays as the last word,
    an unfinished one whose change went away is dropped."""
    record = dict(previous or {})
    if not enabled or running_image is None or running_image == target:
        return record if record.get("phase") in ("Succeeded", "Skipped") else None
    if (record.get("image"), record.get("fromImage")) == (target, running_image):
        return record
    return {
        "image": target,
        "fromImage": running_image,
        "generation": generation,
        "job": upgrade_job_name(instance_name, running_image, target, generation),
        "phase": "Pending",
    }


@dataclass(frozen=True)
class UpgradeJob:
    """What the operator saw of the backup Job of one change."""

    exists: bool = False
    finished: FinishedJob | None = None
    error: str | None = None  # the backup command's own error line, from its pods


def judge(record: Mapping[str, Any], job: UpgradeJob, *, skip: str | None) -> dict[str, Any]:
    """The record with its phase (and message) after looking at the Job."""
    judged = {key: value for key, value in record.items() if key != "message"}
    if judged.get("phase") in ("Succeeded", "Skipped"):
        return judged
    if skip is not None and skip == record.get("image"):
        judged["phase"] = "Skipped"
    elif not job.exists:
        judged["phase"] = "Pending"
    elif job.finished is None:
        judged["phase"] = "Running"
    elif job.finished.succeeded:
        judged["phase"] = "Succeeded"
    else:
        judged["phase"] = "Failed"
        judged["message"] = job.error or job.finished.message or "the backup Job failed"
    return judged


def holds(record: Mapping[str, Any] | None) -> bool:
    """Whether the change waits for its backup (the Deployment keeps the running image)."""
    return bool(record) and (record or {}).get("phase") in HOLDING


def upgrade_condition(
    record: Mapping[str, Any] | None, *, instance_name: str, generation: int
) -> dict[str, Any]:
    """BackupBeforeUpgrade: False while a change of spec.image waits for its backup (reason
    Pending, Running or Failed), True otherwise."""
    record = record or {}
    phase = record.get("phase")
    status: ConditionStatus
    image, job, running = record.get("image"), record.get("job"), record.get("fromImage")
    if phase in HOLDING:
        status = "False"
        message = f"spec.image {image} waits for the backup Job {job}; the API keeps {running}"
        if phase == "Failed":
            message = (
                f"the backup Job {job} failed: {record.get('message')}; spec.image {image} is "
                f"not applied and the API keeps {running}. Delete the Job to try again, or skip "
                f"the backup once: kubectl annotate rgi {instance_name} {SKIP_ANNOTATION}={image}"
            )
        reason = str(phase)
    elif phase == "Succeeded":
        status, reason = "True", "BackupSucceeded"
        message = f"the backup Job {job} succeeded before {image} was applied"
    elif phase == "Skipped":
        status, reason = "True", "Skipped"
        message = f"the backup before {image} was skipped ({SKIP_ANNOTATION})"
    else:
        status, reason = "True", "NoChangeWaiting"
        message = "the next change of spec.image starts a backup Job first"
    return make_condition(
        BACKUP_BEFORE_UPGRADE,
        status,
        reason=reason,
        message=message,
        observed_generation=generation,
    )


def upgrade_events(
    before: Mapping[str, Any] | None, after: Mapping[str, Any] | None
) -> list[Event]:
    """(type, reason, message) of the Events for a change of the upgrade record's phase."""
    old, new = before or {}, after or {}
    if not new or (old.get("job"), old.get("phase")) == (new.get("job"), new.get("phase")):
        return []
    phase, image, job = new.get("phase"), new.get("image"), new.get("job")
    if phase in ("Pending", "Running") and old.get("job") != new.get("job"):
        message = f"spec.image {image} waits for the backup Job {job}"
        return [Event("Normal", "UpgradeHeld", f"{message}; the API keeps {new.get('fromImage')}")]
    if phase == "Failed":
        message = f"the backup Job {job} failed: {new.get('message')}; {image} is not applied"
        return [Event("Warning", "UpgradeBackupFailed", message)]
    if phase == "Succeeded":
        return [
            Event("Normal", "UpgradeBackupSucceeded", f"the backup Job {job} succeeded: {image}")
        ]
    if phase == "Skipped":
        return [Event("Normal", "UpgradeBackupSkipped", f"the backup before {image} was skipped")]
    return []
