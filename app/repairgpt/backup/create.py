"""Taking a backup: one snapshot shared by pg_dump and the row counts, streamed into S3."""

from __future__ import annotations

import threading
from dataclasses import dataclass
from datetime import UTC, datetime

from repairgpt.backup.dsn import LibpqTarget, libpq_target
from repairgpt.backup.dump import dump_pipe
from repairgpt.backup.errors import BackupError
from repairgpt.backup.layout import dump_key, manifest_key
from repairgpt.backup.manifest import Manifest, build_manifest, manifest_to_json
from repairgpt.backup.pg_tools import PgTools, check_dump_compatible
from repairgpt.backup.progress import Progress
from repairgpt.backup.s3 import (
    DEFAULT_PART_SIZE,
    S3Client,
    S3Location,
    UploadResult,
    check_bucket,
    make_client,
    s3_errors,
    upload_stream,
)
from repairgpt.backup.s3_objects import put_small_object
from repairgpt.backup.snapshot import Snapshot
from repairgpt_contract.progress import BACKUP, UPLOADED, human_bytes, progress_label


class _RowCounter:
    """Counts rows in the snapshot's transaction while pg_dump streams the same snapshot."""

    def __init__(self, snapshot: Snapshot) -> None:
        self.snapshot = snapshot
        self.counts: dict[str, int] | None = None
        self.error: BaseException | None = None
        self._thread = threading.Thread(target=self._run, name="row-counts", daemon=True)

    def _run(self) -> None:
        try:
            self.counts = self.snapshot.count_rows()
        except BaseException as exc:  # handed to the main thread in result()
            self.error = exc

    def start(self) -> None:
        self._thread.start()

    def result(self) -> dict[str, int]:
        self._thread.join()
        if self.error is not None:
            raise self.error
        assert self.counts is not None
        return self.counts

    def stop(self) -> None:
        if self._thread.is_alive():
            self.snapshot.conn.cancel()
            self._thread.join(timeout=30)


def create_backup(
    *,
    database_url: str,
    location: S3Location,
    tools: PgTools | None = None,
    part_size: int = DEFAULT_PART_SIZE,
    compress_threads: int = 2,
    progress_interval: float = 5.0,
    client: S3Client | None = None,
) -> Manifest:
    """Dump the database into `<prefix>repairgpt-<time>.sql.gz` and write its manifest beside it.

    The backup exists only once its manifest does; on any failure the upload is aborted.
    """
    tools = tools or PgTools()
    target = libpq_target(database_url)
    pg_dump_version = tools.version("pg_dump")
    client = client or make_client(location)
    check_bucket(client, location)
    snapshot = Snapshot(target)
    try:
        check_dump_compatible(
            server_version_num=snapshot.info.server_version_num, pg_dump_version=pg_dump_version
        )
        created_at = datetime.now(UTC)
        key = dump_key(location.prefix, created_at)
        progress = Progress(progress_label(BACKUP, key, UPLOADED), interval=progress_interval)
        upload, counts = _dump_into(
            client,
            location,
            key,
            _Dump(tools, target, snapshot, compress_threads),
            part_size=part_size,
            progress=progress,
        )
        manifest = build_manifest(
            key=key,
            created_at=created_at,
            completed_at=datetime.now(UTC),
            size_bytes=upload.size_bytes,
            sha256=upload.sha256,
            database=snapshot.info.database,
            server_version=snapshot.info.server_version,
            pg_dump_version=pg_dump_version,
            tables=counts,
        )
    finally:
        snapshot.close()
    _put_manifest(client, location, manifest)
    return manifest


@dataclass(frozen=True)
class _Dump:
    """What pg_dump reads: the target's database as of the snapshot."""

    tools: PgTools
    target: LibpqTarget
    snapshot: Snapshot
    compress_threads: int


def _dump_into(
    client: S3Client,
    location: S3Location,
    key: str,
    dump: _Dump,
    *,
    part_size: int,
    progress: Progress,
) -> tuple[UploadResult, dict[str, int]]:
    """Stream the compressed dump into `key` while the rows are counted in the same snapshot;
    the upload completes only if both finished cleanly."""
    counter = _RowCounter(dump.snapshot)
    try:
        with dump_pipe(
            dump.tools,
            dump.target,
            dump.snapshot.snapshot_id,
            compress_threads=dump.compress_threads,
        ) as pipe:
            counter.start()

            def finished_cleanly() -> None:
                pipe.check()
                counter.result()

            upload = upload_stream(
                client,
                location,
                key,
                pipe.stdout,
                part_size=part_size,
                before_complete=finished_cleanly,
                progress=progress,
            )
    finally:
        counter.stop()
    progress.finish(
        f"{human_bytes(pipe.sql_bytes)} of SQL in {upload.parts} "
        f"part{'s' if upload.parts != 1 else ''}"
    )
    return upload, counter.result()


def _put_manifest(client: S3Client, location: S3Location, manifest: Manifest) -> None:
    """Write the manifest beside its dump; without it the dump is not a backup, so it goes."""
    try:
        put_small_object(
            client,
            location,
            manifest_key(manifest.key),
            manifest_to_json(manifest),
            "application/json",
        )
    except BackupError:
        # Do not leave the dump looking like a backup.
        try:
            with s3_errors(location, "removing the dump without manifest"):
                client.delete_object(Bucket=location.bucket, Key=manifest.key)
        except BackupError:
            pass
        raise
