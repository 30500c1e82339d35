"""Restoring a backup in one transaction that commits only once its checksum matches.

By default the dump is applied as it downloads and hashed on the way; psql runs one
transaction that is committed only after the last byte has arrived and its sha256 and size
match the manifest, and is rolled back otherwise. Each 1 MiB gzip member's CRC is checked
before its SQL is passed on, so a damaged object stops the restore early. Memory stays flat
and no disk space is needed.

`verify_first` instead downloads the dump into an anonymous spool file (deleted when closed,
even on a crash), checks it, and only then connects psql: nothing reaches the target before the
checksum is known to match, at the cost of a second pass and disk space for the compressed
dump (checked up front).
"""

from __future__ import annotations

import hashlib
import shutil
import tempfile
from collections.abc import Iterable, Iterator, Mapping
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import IO

from repairgpt.backup.catalog import open_backup
from repairgpt.backup.dsn import LibpqTarget, libpq_target
from repairgpt.backup.dump import apply_dump
from repairgpt.backup.errors import (
    ChecksumMismatchError,
    NoSpaceError,
    RestoreFailedError,
    TargetNotEmptyError,
)
from repairgpt.backup.manifest import Manifest
from repairgpt.backup.pg_tools import PgTools
from repairgpt.backup.progress import Progress
from repairgpt.backup.s3 import (
    S3Client,
    S3Location,
    download_to_file,
    iter_object,
)
from repairgpt.backup.snapshot import connect, count_rows, some_user_relations, split_label
from repairgpt.backup.stored_backups import BackupEntry
from repairgpt_contract.progress import (
    APPLIED,
    DOWNLOADED,
    DOWNLOADED_AND_APPLIED,
    RESTORE,
    progress_label,
)

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


def _mismatch_message(key: str, manifest: Manifest, sha256: str, size: int) -> str:
    return (
        f"{key} is corrupted: sha256 {sha256} ({size} bytes) but the manifest says "
        f"{manifest.sha256} ({manifest.size_bytes} bytes)"
    )


class DumpDownload:
    """A backup's dump as it downloads, hashed on the way; iterate it once, then `check()`."""

    def __init__(
        self, client: S3Client, location: S3Location, entry: BackupEntry, progress: Progress
    ) -> None:
        assert entry.manifest is not None
        self.key = entry.dump_key
        self.manifest = entry.manifest
        self.size = 0
        self._digest = hashlib.sha256()
        self._progress = progress
        self._chunks = self._read(iter_object(client, location, entry.dump_key))

    def _read(self, chunks: Iterable[bytes]) -> Iterator[bytes]:
        for chunk in chunks:
            self._digest.update(chunk)
            self.size += len(chunk)
            self._progress.add(len(chunk))
            yield chunk

    def __iter__(self) -> Iterator[bytes]:
        return self._chunks

    def check(self) -> None:
        """Download what is left, then raise unless the whole object matches the manifest."""
        for _ in self._chunks:
            pass
        sha256 = self._digest.hexdigest()
        if sha256 != self.manifest.sha256 or self.size != self.manifest.size_bytes:
            raise ChecksumMismatchError(
                _mismatch_message(self.key, self.manifest, sha256, self.size)
                + "; the restore transaction was rolled back, the target is unchanged"
            )


@contextmanager
def verified_dump(
    client: S3Client,
    location: S3Location,
    entry: BackupEntry,
    *,
    spool_dir: Path | None = None,
    progress_interval: float = 5.0,
    label: str = RESTORE,
) -> Iterator[IO[bytes]]:
    """The backup's dump in an anonymous spool file, rewound, once its checksum matches."""
    manifest = entry.manifest
    assert manifest is not None  # find_backup returns successful backups only
    spool_root = spool_dir or Path(tempfile.gettempdir())
    check_spool_space(spool_root, manifest.size_bytes)
    with tempfile.TemporaryFile(dir=spool_root, prefix="repairgpt-restore-") as spool:
        download = Progress(
            progress_label(label, entry.dump_key, DOWNLOADED),
            total=manifest.size_bytes,
            interval=progress_interval,
        )
        size, sha256 = download_to_file(client, location, entry.dump_key, spool, progress=download)
        download.finish("verifying")
        if sha256 != manifest.sha256 or size != manifest.size_bytes:
            raise ChecksumMismatchError(
                _mismatch_message(entry.dump_key, manifest, sha256, size)
                + "; the target was not touched"
            )
        spool.seek(0)
        yield spool


def _file_chunks(
    source: IO[bytes], progress: Progress, chunk_size: int = 1024 * 1024
) -> Iterator[bytes]:
    while chunk := source.read(chunk_size):
        progress.add(len(chunk))
        yield chunk


def apply_and_count(
    tools: PgTools,
    target: LibpqTarget,
    client: S3Client,
    location: S3Location,
    entry: BackupEntry,
    *,
    verify_first: bool = False,
    spool_dir: Path | None = None,
    progress_interval: float = 5.0,
    label: str = RESTORE,
) -> list[TableCheck]:
    """Apply the backup's dump to the target, committed only if its checksum matches, and
    compare the target's row counts with the manifest."""
    manifest = entry.manifest
    assert manifest is not None
    if verify_first:
        with verified_dump(
            client,
            location,
            entry,
            spool_dir=spool_dir,
            progress_interval=progress_interval,
            label=label,
        ) as spool:
            applied = Progress(
                progress_label(label, entry.dump_key, APPLIED),
                total=manifest.size_bytes,
                interval=progress_interval,
            )
            loaded = apply_dump(tools, target, _file_chunks(spool, applied))
    else:
        applied = Progress(
            progress_label(label, entry.dump_key, DOWNLOADED_AND_APPLIED),
            total=manifest.size_bytes,
            interval=progress_interval,
        )
        download = DumpDownload(client, location, entry, applied)
        try:
            loaded = apply_dump(tools, target, download, before_commit=download.check)
        except RestoreFailedError:
            # A damaged object explains psql's or gzip's error better than the error itself.
            download.check()
            raise
    applied.finish("restored")
    # psql's COPY tags give the rows of every table the dump loaded; only tables without one
    # (or all, if the tags could not be paired with the dump) are counted by reading them.
    actual = {table: rows for table, rows in (loaded or {}).items() if table in manifest.tables}
    unseen = [split_label(table) for table in manifest.tables if table not in actual]
    if unseen:
        with connect(target, autocommit=True) as conn:
            actual.update(count_rows(conn, target, unseen))
    return compare_counts(manifest.tables, actual)


def restore_backup(
    *,
    location: S3Location,
    target_url: str,
    key: str = "latest",
    clean: bool = False,
    verify_first: bool = False,
    tools: PgTools | None = None,
    spool_dir: Path | None = None,
    progress_interval: float = 5.0,
    client: S3Client | None = None,
) -> RestoreReport:
    """Restore `key` (or the newest successful backup) into the target database.

    Refuses a target that has tables unless `clean` (the dump then drops and recreates its own
    objects). The dump is applied in a single transaction that commits only if its checksum
    matches, so a failed restore leaves the target as it was; with `verify_first` nothing is
    sent to the target before the checksum has been checked.
    """
    tools = tools or PgTools()
    target = libpq_target(target_url)
    tools.path("psql")
    client, entry, manifest = open_backup(location, key, client)
    existing = some_user_relations(target)
    if existing and not clean:
        raise TargetNotEmptyError(
            f"the target database {target.display} is not empty (it has {', '.join(existing)}"
            f"{', ...' if len(existing) == 5 else ''}); restore into an empty database or pass "
            "--clean to replace the objects the backup contains"
        )
    checks = apply_and_count(
        tools,
        target,
        client,
        location,
        entry,
        verify_first=verify_first,
        spool_dir=spool_dir,
        progress_interval=progress_interval,
    )
    return RestoreReport(key=entry.dump_key, manifest=manifest, tables=checks)
