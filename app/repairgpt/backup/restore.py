"""Restoring a backup: verify the dump's checksum first, then apply it in one transaction.

The dump is downloaded once into an anonymous spool file (deleted when closed, even on a crash)
and hashed on the way. Only a verified spool is applied, so what reaches the database is
byte for byte what was checked, with a single download and flat memory; the cost is disk space
for the compressed dump, which is checked up front.
"""

from __future__ import annotations

import shutil
import tempfile
from collections.abc import Iterator, Mapping
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import IO

from repairgpt.backup.catalog import find_backup
from repairgpt.backup.dsn import LibpqTarget, libpq_target
from repairgpt.backup.dump import (
    PgTools,
    apply_dump,
    connect,
    count_rows,
    some_user_relations,
    split_label,
)
from repairgpt.backup.errors import ChecksumMismatchError, NoSpaceError, TargetNotEmptyError
from repairgpt.backup.inventory import BackupEntry
from repairgpt.backup.manifest import Manifest
from repairgpt.backup.progress import Progress
from repairgpt.backup.s3 import S3Client, S3Location, check_bucket, download_to_file, make_client

_SPACE_MARGIN = 64 * 1024 * 1024


@dataclass(frozen=True)
class TableCheck:
    table: str
    expected: int
    actual: int  # -1 when the table is missing after the restore

    @property
    def ok(self) -> bool:
        return self.expected == self.actual


@dataclass(frozen=True)
class RestoreReport:
    key: str
    manifest: Manifest
    tables: list[TableCheck]

    @property
    def counts_match(self) -> bool:
        return all(check.ok for check in self.tables)

    @property
    def mismatches(self) -> list[TableCheck]:
        return [check for check in self.tables if not check.ok]

    @property
    def restored_rows(self) -> int:
        return sum(max(check.actual, 0) for check in self.tables)


def check_spool_space(spool_dir: Path, needed: int) -> None:
    free = shutil.disk_usage(spool_dir).free
    if free < needed + _SPACE_MARGIN:
        raise NoSpaceError(
            f"the dump is {needed} bytes but {spool_dir} has only {free} bytes free; "
            "pass --spool-dir with more space"
        )


def compare_counts(expected: Mapping[str, int], actual: Mapping[str, int]) -> list[TableCheck]:
    """One check per table of the manifest; a table absent from `actual` counts as missing."""
    return [TableCheck(table, rows, actual.get(table, -1)) for table, rows in expected.items()]


@contextmanager
def verified_dump(
    client: S3Client,
    location: S3Location,
    entry: BackupEntry,
    *,
    spool_dir: Path | None = None,
    progress_interval: float = 5.0,
    label: str = "restore",
) -> Iterator[IO[bytes]]:
    """The backup's dump in an anonymous spool file, rewound, once its checksum matches."""
    manifest = entry.manifest
    assert manifest is not None  # find_backup returns successful backups only
    spool_root = spool_dir or Path(tempfile.gettempdir())
    check_spool_space(spool_root, manifest.size_bytes)
    with tempfile.TemporaryFile(dir=spool_root, prefix="repairgpt-restore-") as spool:
        download = Progress(
            f"{label} {entry.dump_key}: downloaded",
            total=manifest.size_bytes,
            interval=progress_interval,
        )
        size, sha256 = download_to_file(client, location, entry.dump_key, spool, progress=download)
        download.finish("verifying")
        if sha256 != manifest.sha256 or size != manifest.size_bytes:
            raise ChecksumMismatchError(
                f"{entry.dump_key} is corrupted: sha256 {sha256} ({size} bytes) but the manifest "
                f"says {manifest.sha256} ({manifest.size_bytes} bytes); the target was not touched"
            )
        spool.seek(0)
        yield spool


def apply_and_count(
    tools: PgTools,
    target: LibpqTarget,
    entry: BackupEntry,
    spool: IO[bytes],
    *,
    progress_interval: float = 5.0,
    label: str = "restore",
) -> list[TableCheck]:
    """Apply a verified dump to the target and compare its row counts with the manifest."""
    manifest = entry.manifest
    assert manifest is not None
    applied = Progress(
        f"{label} {entry.dump_key}: applied",
        total=manifest.size_bytes,
        interval=progress_interval,
    )
    apply_dump(tools, target, spool, progress=applied)
    applied.finish("restored")
    with connect(target, autocommit=True) as conn:
        actual = count_rows(conn, target, [split_label(table) for table in manifest.tables])
    return compare_counts(manifest.tables, actual)


def restore_backup(
    *,
    location: S3Location,
    target_url: str,
    key: str = "latest",
    clean: bool = False,
    tools: PgTools | None = None,
    spool_dir: Path | None = None,
    progress_interval: float = 5.0,
    client: S3Client | None = None,
) -> RestoreReport:
    """Restore `key` (or the newest successful backup) into the target database.

    Refuses a target that has tables unless `clean` (the dump then drops and recreates its own
    objects). Nothing touches the target before the checksum is verified; the dump is applied
    in a single transaction, so a failed restore leaves the target as it was.
    """
    tools = tools or PgTools()
    target = libpq_target(target_url)
    tools.path("psql")
    client = client or make_client(location)
    check_bucket(client, location)
    entry = find_backup(client, location, key)
    manifest = entry.manifest
    assert manifest is not None  # find_backup returns successful backups only
    existing = some_user_relations(target)
    if existing and not clean:
        raise TargetNotEmptyError(
            f"the target database {target.display} is not empty (it has {', '.join(existing)}"
            f"{', ...' if len(existing) == 5 else ''}); restore into an empty database or pass "
            "--clean to replace the objects the backup contains"
        )
    with verified_dump(
        client, location, entry, spool_dir=spool_dir, progress_interval=progress_interval
    ) as spool:
        checks = apply_and_count(tools, target, entry, spool, progress_interval=progress_interval)
    return RestoreReport(key=entry.dump_key, manifest=manifest, tables=checks)
