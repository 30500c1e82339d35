"""The backups under a prefix, assembled from a bucket listing and their manifests (no I/O)."""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass, replace
from datetime import datetime

from repairgpt.backup.layout import manifest_key, parse_key
from repairgpt.backup.manifest import Manifest, manifest_matches_object


@dataclass(frozen=True)
class StoredObject:
    key: str
    size_bytes: int
    last_modified: datetime


@dataclass(frozen=True)
class PendingUpload:
    """A multipart upload that was started and never completed nor aborted."""

    key: str
    upload_id: str
    initiated: datetime


@dataclass(frozen=True)
class BackupEntry:
    """One backup: its dump and manifest objects, either of which may be missing."""

    dump_key: str
    taken_at: datetime
    dump: StoredObject | None = None
    manifest_object: StoredObject | None = None
    manifest: Manifest | None = None
    problem: str | None = None  # why the manifest is not trusted, if it is not

    @property
    def manifest_key(self) -> str:
        return manifest_key(self.dump_key)

    @property
    def successful(self) -> bool:
        """A dump with a sound manifest that describes it: the only kind worth restoring."""
        return self.dump is not None and self.manifest is not None and self.problem is None

    @property
    def size_bytes(self) -> int | None:
        return self.dump.size_bytes if self.dump else None

    @property
    def last_activity(self) -> datetime:
        times = [self.taken_at]
        times += [o.last_modified for o in (self.dump, self.manifest_object) if o is not None]
        return max(times)

    @property
    def object_keys(self) -> tuple[str, ...]:
        return tuple(o.key for o in (self.dump, self.manifest_object) if o is not None)


def group_objects(objects: Iterable[StoredObject], prefix: str) -> list[BackupEntry]:
    """Pair dumps with manifests, newest first; objects that are not this tool's are ignored."""
    entries: dict[str, BackupEntry] = {}
    for obj in objects:
        parsed = parse_key(obj.key, prefix)
        if parsed is None:
            continue
        entry = entries.get(parsed.dump_key) or BackupEntry(parsed.dump_key, parsed.taken_at)
        if parsed.kind == "dump":
            entry = replace(entry, dump=obj)
        else:
            entry = replace(entry, manifest_object=obj)
        entries[parsed.dump_key] = entry
    return sorted(entries.values(), key=lambda e: e.taken_at, reverse=True)


def with_manifest(
    entry: BackupEntry, manifest: Manifest | None, problem: str | None = None
) -> BackupEntry:
    """The entry with its manifest read; a manifest that does not match its dump is a problem."""
    if problem is None and entry.manifest_object is None:
        problem = "no manifest (the backup did not finish)"
    elif problem is None and entry.dump is None:
        problem = "the dump object is missing"
    elif problem is None and manifest is not None and entry.dump is not None:
        mismatches = manifest_matches_object(
            manifest, key=entry.dump_key, size_bytes=entry.dump.size_bytes
        )
        problem = "; ".join(mismatches) or None
    return replace(entry, manifest=manifest, problem=problem)


def newest_successful(entries: Iterable[BackupEntry]) -> BackupEntry | None:
    successful = [e for e in entries if e.successful]
    return max(successful, key=lambda e: e.taken_at, default=None)
