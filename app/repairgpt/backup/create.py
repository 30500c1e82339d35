"""Taking a backup: one snapshot shared by pg_dump and the row counts, streamed into S3."""

from __future__ import annotations

import threading
from datetime import UTC, datetime

from repairgpt.backup.dsn import libpq_target
from repairgpt.backup.dump import PgTools, Snapshot, check_dump_compatible, dump_pipe
from repairgpt.backup.errors import BackupError
from repairgpt.backup.layout import dump_key, manifest_key
from repairgpt.backup.manifest import Manifest, build_manifest, manifest_to_json
from repairgpt.backup.progress import Progress, human_bytes
from repairgpt.backup.s3 import (
    DEFAULT_PART_SIZE,
    S3Client,
    S3Location,
    check_bucket,
    make_client,
    put_small_object,
    s3_errors,
    upload_stream,
)


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
        progress = Progress(f"backup {key}: uploaded", interval=progress_interval)
        counter = _RowCounter(snapshot)
        try:
            with dump_pipe(
                tools, target, snapshot.snapshot_id, compress_threads=compress_threads
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
        manifest = build_manifest(
            key=key,
            created_at=created_at,
            completed_at=datetime.now(UTC),
            size_bytes=upload.size_bytes,
            sha256=upload.sha256,
            database=snapshot.info.database,
            server_version=snapshot.info.server_version,
            pg_dump_version=pg_dump_version,
            tables=counter.result(),
        )
    finally:
        snapshot.close()
    try:
        put_small_object(
            client, location, manifest_key(key), manifest_to_json(manifest), "application/json"
        )
    except BackupError:
        # Without its manifest the dump is not a backup; do not leave it looking like one.
        try:
            with s3_errors(location, "removing the dump without manifest"):
                client.delete_object(Bucket=location.bucket, Key=key)
        except BackupError:
            pass
        raise
    return manifest
