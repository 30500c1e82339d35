"""Which backups to prune: a pure decision that never gives up the newest successful backup."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field
from datetime import datetime, timedelta

from repairgpt.backup.stored_backups import BackupEntry, PendingUpload, newest_successful

# A dump without a manifest may be a backup still being written; after a day it is debris.
INCOMPLETE_GRACE = timedelta(days=1)


@dataclass(frozen=True)
class PruneDecision:
    dump_key: str
    reason: str
    object_keys: tuple[str, ...] = ()


@dataclass(frozen=True)
class PrunePlan:
    delete: list[PruneDecision] = field(default_factory=list)
    keep: list[PruneDecision] = field(default_factory=list)
    abort_uploads: list[PendingUpload] = field(default_factory=list)

    @property
    def keys_to_delete(self) -> list[str]:
        return [key for decision in self.delete for key in decision.object_keys]


def plan_prune(
    entries: Sequence[BackupEntry],
    *,
    now: datetime,
    retention_days: int,
    pending_uploads: Sequence[PendingUpload] = (),
    incomplete_grace: timedelta = INCOMPLETE_GRACE,
) -> PrunePlan:
    """Successful backups older than `retention_days` go, except the newest successful one;
    unfinished backups and abandoned uploads go once they are older than `incomplete_grace`."""
    if retention_days < 0:
        raise ValueError("retention_days must be >= 0")
    newest = newest_successful(entries)
    plan = PrunePlan()
    for entry in sorted(entries, key=lambda e: e.taken_at, reverse=True):
        if entry is newest:
            plan.keep.append(PruneDecision(entry.dump_key, "newest successful backup"))
            continue
        expired, reason = _judge(entry, now, retention_days, incomplete_grace)
        if expired:
            plan.delete.append(PruneDecision(entry.dump_key, reason, entry.object_keys))
        else:
            plan.keep.append(PruneDecision(entry.dump_key, reason))
    plan.abort_uploads.extend(
        upload for upload in pending_uploads if now - upload.initiated > incomplete_grace
    )
    return plan


def _judge(
    entry: BackupEntry, now: datetime, retention_days: int, incomplete_grace: timedelta
) -> tuple[bool, str]:
    """Whether a backup (not the newest successful one) has expired, and why or why not."""
    if entry.successful:
        age = now - entry.taken_at
        if age > timedelta(days=retention_days):
            return True, f"older than {retention_days} days ({_days(age)})"
        return False, f"within retention ({_days(age)})"
    age = now - entry.last_activity
    if age > incomplete_grace:
        return True, f"incomplete ({entry.problem or 'no manifest'}), {_days(age)}"
    return False, "incomplete but recent; may still be running"


def _days(age: timedelta) -> str:
    return f"{age.total_seconds() / 86400:.1f} days old"
