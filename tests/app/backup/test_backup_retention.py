"""Retention: old backups go, the newest successful one never does, debris goes after a day."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest

from repairgpt.backup.layout import dump_key, manifest_key
from repairgpt.backup.manifest import build_manifest
from repairgpt.backup.retention import plan_prune
from repairgpt.backup.stored_backups import (
    BackupEntry,
    PendingUpload,
    StoredObject,
    group_objects,
    with_manifest,
)

NOW = datetime(2026, 11, 28, 12, 0, tzinfo=UTC)
PREFIX = "db/"


def backup(days_ago: float, *, manifest: bool = True, size: int = 100) -> BackupEntry:
    taken = NOW - timedelta(days=days_ago)
    key = dump_key(PREFIX, taken)
    objects = [StoredObject(key, size, taken + timedelta(minutes=1))]
    if manifest:
        objects.append(StoredObject(manifest_key(key), 500, taken + timedelta(minutes=1)))
    (entry,) = group_objects(objects, PREFIX)
    if not manifest:
        return with_manifest(entry, None)
    return with_manifest(
        entry,
        build_manifest(
            key=key,
            created_at=taken,
            completed_at=taken + timedelta(minutes=1),
            size_bytes=100,
            sha256="0" * 64,
            database="d",
            server_version="15.18",
            pg_dump_version="15.18",
            tables={"public.t": 1},
        ),
    )


def deleted(entries: list[BackupEntry], days: int) -> set[str]:
    plan = plan_prune(entries, now=NOW, retention_days=days)
    return {d.dump_key for d in plan.delete}


def test_backups_older_than_the_retention_are_deleted_with_their_manifests() -> None:
    old, recent = backup(40), backup(5)
    plan = plan_prune([old, recent], now=NOW, retention_days=30)
    assert [d.dump_key for d in plan.delete] == [old.dump_key]
    assert set(plan.keys_to_delete) == {old.dump_key, old.manifest_key}
    assert [d.dump_key for d in plan.keep] == [recent.dump_key]


def test_the_newest_successful_backup_is_kept_however_old_it_is() -> None:
    newest, older = backup(400), backup(500)
    assert deleted([older, newest], 30) == {older.dump_key}


def test_a_failed_newer_backup_does_not_cost_the_last_good_one() -> None:
    good = backup(60)
    failed = backup(2, manifest=False)
    assert deleted([good, failed], 30) == {failed.dump_key}


def test_a_backup_whose_dump_does_not_match_its_manifest_is_not_the_one_kept() -> None:
    good = backup(60)
    truncated = backup(50, size=42)  # the manifest says 100 bytes
    assert not truncated.successful
    assert deleted([good, truncated], 30) == {truncated.dump_key}


def test_retention_zero_keeps_only_the_newest_successful_backup() -> None:
    entries = [backup(d) for d in (0.5, 1.5, 3)]
    assert deleted(entries, 0) == {entries[1].dump_key, entries[2].dump_key}


def test_an_unfinished_backup_is_left_alone_for_a_day_then_removed() -> None:
    running = backup(0.2, manifest=False)
    abandoned = backup(1.5, manifest=False)
    assert deleted([backup(3), running, abandoned], 30) == {abandoned.dump_key}


def test_a_manifest_without_its_dump_is_debris_after_a_day() -> None:
    taken = NOW - timedelta(days=3)
    key = dump_key(PREFIX, taken)
    (orphan,) = group_objects([StoredObject(manifest_key(key), 500, taken)], PREFIX)
    orphan = with_manifest(orphan, None)
    plan = plan_prune([orphan], now=NOW, retention_days=30)
    assert plan.keys_to_delete == [manifest_key(key)]


def test_abandoned_multipart_uploads_are_aborted_after_a_day_only() -> None:
    old = PendingUpload("db/a.sql.gz", "u1", NOW - timedelta(days=2))
    live = PendingUpload("db/b.sql.gz", "u2", NOW - timedelta(hours=2))
    plan = plan_prune([], now=NOW, retention_days=30, pending_uploads=[old, live])
    assert plan.abort_uploads == [old]


def test_nothing_is_deleted_when_every_backup_is_within_retention() -> None:
    assert deleted([backup(d) for d in (1, 2, 29)], 30) == set()


def test_a_negative_retention_is_refused() -> None:
    with pytest.raises(ValueError):
        plan_prune([], now=NOW, retention_days=-1)


def test_the_newest_successful_backup_survives_any_retention_over_many_histories() -> None:
    # Every combination of success/failure over six backups: the newest good one always stays.
    ages = [0.1, 0.9, 2, 10, 40, 90]
    for mask in range(1 << len(ages)):
        entries = [backup(age, manifest=bool(mask >> i & 1)) for i, age in enumerate(ages)]
        good = [e for e in entries if e.successful]
        for days in (0, 1, 7, 30):
            gone = deleted(entries, days)
            if good:
                newest = min(good, key=lambda e: NOW - e.taken_at)
                assert newest.dump_key not in gone
