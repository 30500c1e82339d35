"""The backups in a bucket: reading them with their manifests, finding one, pruning old ones."""

from __future__ import annotations

from concurrent.futures import ThreadPoolExecutor
from datetime import UTC, datetime

from repairgpt.backup.errors import BackupNotFoundError
from repairgpt.backup.layout import (
    DUMP_SUFFIX,
    MANIFEST_SUFFIX,
    dump_key_of_manifest,
    manifest_key,
    parse_key,
)
from repairgpt.backup.manifest import Manifest, ManifestError, parse_manifest
from repairgpt.backup.retention import PrunePlan, plan_prune
from repairgpt.backup.s3 import S3Client, S3Location, abort_upload, check_bucket, make_client
from repairgpt.backup.s3_objects import (
    delete_objects,
    head_object,
    list_objects,
    list_pending_uploads,
    read_small_object,
)
from repairgpt.backup.stored_backups import (
    BackupEntry,
    group_objects,
    newest_successful,
    with_manifest,
)


def _read_manifest(client: S3Client, location: S3Location, entry: BackupEntry) -> BackupEntry:
    if entry.manifest_object is None:
        return with_manifest(entry, None)
    # S3 errors propagate: a manifest that could not be *read* must never make its backup look
    # incomplete, or a flaky store could get a good backup pruned.
    data = read_small_object(client, location, entry.manifest_key)
    try:
        return with_manifest(entry, parse_manifest(data))
    except ManifestError as exc:
        return with_manifest(entry, None, f"unusable manifest: {exc.message}")


def load_backups(client: S3Client, location: S3Location) -> list[BackupEntry]:
    """Every backup under the prefix with its manifest checked, newest first."""
    entries = group_objects(list_objects(client, location), location.normalized_prefix)
    with ThreadPoolExecutor(max_workers=8, thread_name_prefix="manifest") as pool:
        return list(pool.map(lambda e: _read_manifest(client, location, e), entries))


def list_backups(*, location: S3Location, client: S3Client | None = None) -> list[BackupEntry]:
    client = client or make_client(location)
    check_bucket(client, location)
    return load_backups(client, location)


def find_backup(client: S3Client, location: S3Location, key: str) -> BackupEntry:
    """`latest` (the newest successful backup) or a dump or manifest key, with or without the
    prefix; only successful backups are returned."""
    if key == "latest":
        newest = newest_successful(load_backups(client, location))
        if newest is None:
            raise BackupNotFoundError(f"no successful backup in {location.describe()}")
        return newest
    prefix = location.normalized_prefix
    candidates = [key] if key.startswith(prefix) else [prefix + key, key]
    for candidate in candidates:
        dump = dump_key_of_manifest(candidate) if candidate.endswith(MANIFEST_SUFFIX) else candidate
        if not dump.endswith(DUMP_SUFFIX):
            continue
        dump_object = head_object(client, location, dump)
        if dump_object is None:
            continue
        parsed = parse_key(dump, prefix)
        entry = BackupEntry(
            dump_key=dump,
            taken_at=parsed.taken_at if parsed else dump_object.last_modified,
            dump=dump_object,
            manifest_object=head_object(client, location, manifest_key(dump)),
        )
        entry = _read_manifest(client, location, entry)
        if not entry.successful:
            raise BackupNotFoundError(f"{dump} is not a successful backup: {entry.problem}")
        return entry
    raise BackupNotFoundError(f"no backup {key!r} in {location.describe()}")


def open_backup(
    location: S3Location, key: str, client: S3Client | None = None
) -> tuple[S3Client, BackupEntry, Manifest]:
    """The client, and the successful backup `key` stands for with its manifest, once the
    bucket has been checked."""
    client = client or make_client(location)
    check_bucket(client, location)
    entry = find_backup(client, location, key)
    manifest = entry.manifest
    assert manifest is not None  # find_backup returns successful backups only
    return client, entry, manifest


def prune_backups(
    *,
    location: S3Location,
    retention_days: int,
    dry_run: bool = False,
    now: datetime | None = None,
    client: S3Client | None = None,
) -> PrunePlan:
    """Delete what `plan_prune` decides (unless `dry_run`) and return the plan."""
    client = client or make_client(location)
    check_bucket(client, location)
    entries = load_backups(client, location)
    prefix = location.normalized_prefix
    uploads = [
        upload
        for upload in list_pending_uploads(client, location)
        if (parsed := parse_key(upload.key, prefix)) is not None and parsed.kind == "dump"
    ]
    plan = plan_prune(
        entries,
        now=now or datetime.now(UTC),
        retention_days=retention_days,
        pending_uploads=uploads,
    )
    if not dry_run:
        delete_objects(client, location, plan.keys_to_delete)
        for upload in plan.abort_uploads:
            abort_upload(client, location, upload.key, upload.upload_id)
    return plan
