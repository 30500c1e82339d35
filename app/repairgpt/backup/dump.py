"""pg_dump and psql as child processes, their SQL flowing through gzip streams."""

from __future__ import annotations

import collections
import fcntl
import os
import subprocess
import threading
from collections.abc import Callable, Iterable, Iterator
from contextlib import contextmanager
from typing import IO

from repairgpt.backup.compression import CorruptDumpError, GzipReader, gunzip_chunks
from repairgpt.backup.copy_rows import CopyStatements, CopyTags, rows_per_table
from repairgpt.backup.dsn import LibpqTarget, scrub
from repairgpt.backup.errors import BackupError, DatabaseUnreachableError, RestoreFailedError
from repairgpt.backup.pg_tools import PgTools, explain_dump_failure, message_tail
from repairgpt.backup.snapshot import split_label, table_label

_F_SETPIPE_SZ = getattr(fcntl, "F_SETPIPE_SZ", 1031)


class _StderrTail:
    """Drains a child's stderr in a thread (a full pipe would block the child) and keeps its end."""

    def __init__(self, stream: IO[bytes]) -> None:
        self._lines: collections.deque[str] = collections.deque(maxlen=200)
        self._thread = threading.Thread(target=self._drain, args=(stream,), daemon=True)
        self._thread.start()

    def _drain(self, stream: IO[bytes]) -> None:
        for raw in iter(stream.readline, b""):
            self._lines.append(raw.decode("utf-8", "replace").rstrip())
        stream.close()

    def text(self) -> str:
        self._thread.join(timeout=5)
        return "\n".join(self._lines)


class DumpPipe:
    """`pg_dump` as a child process; `stdout` is its SQL, gzip-compressed in this process.

    Compression (zlib at gzip's default level) is the bottleneck of a backup; doing it here on
    several threads, instead of in a single `gzip` process, keeps up with pg_dump.
    """

    def __init__(
        self,
        tools: PgTools,
        target: LibpqTarget,
        snapshot_id: str | None,
        *,
        compress_threads: int = 2,
    ) -> None:
        self.target = target
        command = [
            tools.path("pg_dump"),
            "--format=plain",
            "--clean",
            "--if-exists",
            "--no-owner",
            "--no-privileges",
            f"--dbname={target.conninfo}",
        ]
        if snapshot_id:
            command.append(f"--snapshot={snapshot_id}")
        env = target.child_env(dict(os.environ))
        env.setdefault("PGCONNECT_TIMEOUT", "10")
        self.dump = subprocess.Popen(
            command, stdout=subprocess.PIPE, stderr=subprocess.PIPE, env=env
        )
        assert self.dump.stdout is not None and self.dump.stderr is not None
        _grow_pipe(self.dump.stdout)
        self.stdout = GzipReader(self.dump.stdout, threads=compress_threads)
        self._dump_err = _StderrTail(self.dump.stderr)

    @property
    def sql_bytes(self) -> int:
        return self.stdout.raw_bytes

    def check(self) -> None:
        """Raise unless pg_dump ended cleanly (called before the upload is completed)."""
        returncode = self.dump.wait()
        if returncode != 0:
            raise explain_dump_failure(scrub(self._dump_err.text(), self.target), returncode)

    def kill(self) -> None:
        if self.dump.poll() is None:
            self.dump.kill()
        self.dump.wait()
        self.stdout.close()
        assert self.dump.stdout is not None
        self.dump.stdout.close()


def _grow_pipe(stream: IO[bytes]) -> None:
    """A 1 MiB pipe lets pg_dump run ahead while a chunk is compressed (Linux only)."""
    try:
        fcntl.fcntl(stream.fileno(), _F_SETPIPE_SZ, 1024 * 1024)
    except OSError:
        pass


@contextmanager
def dump_pipe(
    tools: PgTools, target: LibpqTarget, snapshot_id: str | None, *, compress_threads: int = 2
) -> Iterator[DumpPipe]:
    pipe = DumpPipe(tools, target, snapshot_id, compress_threads=compress_threads)
    try:
        yield pipe
    except BaseException:
        pipe.kill()
        raise
    pipe.kill()


def _start_psql(tools: PgTools, target: LibpqTarget) -> subprocess.Popen[bytes]:
    """`psql` reading SQL on stdin and stopping at the first error."""
    env = target.child_env(dict(os.environ))
    # The dump's DROP ... IF EXISTS statements raise a NOTICE per missing object: noise.
    env["PGOPTIONS"] = (env.get("PGOPTIONS", "") + " -c client_min_messages=warning").strip()
    env.setdefault("PGCONNECT_TIMEOUT", "10")
    return subprocess.Popen(
        [
            tools.path("psql"),
            "--no-psqlrc",
            "--set=ON_ERROR_STOP=1",
            f"--dbname={target.conninfo}",
        ],
        stdin=subprocess.PIPE,
        stdout=subprocess.PIPE,  # command tags: `COPY n` says how many rows a table got
        stderr=subprocess.PIPE,
        env=env,
    )


def _psql_failure(returncode: int, message: str) -> BackupError:
    """The error of a psql that exited non-zero, from its (scrubbed) stderr."""
    if returncode == 2 and ("connection to server" in message or "could not connect" in message):
        return DatabaseUnreachableError(f"psql cannot connect: {message_tail(message)}")
    return RestoreFailedError(
        f"psql stopped at an error (exit {returncode}); the restore transaction was rolled "
        f"back, the target is unchanged: {message_tail(message)}"
    )


def apply_dump(
    tools: PgTools,
    target: LibpqTarget,
    compressed: Iterable[bytes],
    *,
    before_commit: Callable[[], None] | None = None,
) -> dict[str, int] | None:
    """Decompress into `psql` running one transaction that stops at the first error.

    The transaction is committed only after the whole dump was applied and `before_commit`
    (the checksum check) returned; on any failure psql is killed instead, so the transaction
    rolls back and the target stays as it was. Returns the rows loaded per table (labels as
    in the manifest) from psql's COPY tags, or None if they cannot be paired with the dump's
    COPY statements.
    """
    psql = _start_psql(tools, target)
    assert psql.stdin is not None and psql.stdout is not None and psql.stderr is not None
    _grow_pipe(psql.stdin)
    psql_err = _StderrTail(psql.stderr)
    tags = CopyTags(psql.stdout)
    statements = CopyStatements()

    try:
        try:
            psql.stdin.write(b"BEGIN;\n")
            for sql_piece in gunzip_chunks(compressed):
                statements.feed(sql_piece)
                psql.stdin.write(sql_piece)
            if before_commit is not None:
                before_commit()
            psql.stdin.write(b"\nCOMMIT;\n")
            psql.stdin.close()
        except BrokenPipeError:
            pass  # psql stopped early; its exit status and stderr tell why
        returncode = psql.wait()
    except BaseException as exc:
        psql.kill()
        psql.wait()
        if isinstance(exc, CorruptDumpError):
            raise RestoreFailedError(
                f"the dump cannot be decompressed ({exc}); the restore transaction was rolled "
                "back, the target is unchanged"
            ) from exc
        raise
    if returncode != 0:
        raise _psql_failure(returncode, scrub(psql_err.text(), target))
    return rows_per_table(statements.tables, tags.wait(), normalise_label)


def normalise_label(name: str) -> str:
    """A table name as a dump spells it (`public."user"`) as the manifest does (`public.user`)."""
    return table_label(*split_label(name))
