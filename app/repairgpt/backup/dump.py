"""PostgreSQL side of backups: snapshots, row counts, running pg_dump and psql on gzip streams."""

from __future__ import annotations

import collections
import fcntl
import os
import re
import shutil
import subprocess
import threading
from collections.abc import Callable, Iterable, Iterator, Sequence
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import IO

import psycopg
from psycopg import sql
from psycopg.rows import TupleRow

from repairgpt.backup.compression import CorruptDumpError, GzipReader, gunzip_chunks
from repairgpt.backup.copy_rows import CopyStatements, CopyTags, rows_per_table
from repairgpt.backup.dsn import LibpqTarget, scrub
from repairgpt.backup.errors import (
    BackupError,
    DatabaseUnreachableError,
    DumpFailedError,
    RestoreFailedError,
    ToolMissingError,
    VersionMismatchError,
)

_F_SETPIPE_SZ = getattr(fcntl, "F_SETPIPE_SZ", 1031)
_VERSION = re.compile(r"\(PostgreSQL\)\s+(\d+)(?:\.(\d+))?")
_USER_SCHEMAS = """
    n.nspname NOT IN ('pg_catalog', 'information_schema')
    AND n.nspname NOT LIKE 'pg\\_toast%' AND n.nspname NOT LIKE 'pg\\_temp\\_%'
    AND NOT EXISTS (SELECT 1 FROM pg_depend d
                    WHERE d.classid = 'pg_class'::regclass AND d.objid = c.oid
                      AND d.deptype = 'e')
"""
# Tables whose rows the dump holds; extension-owned tables are recreated by their extension.
_TABLES_QUERY = f"""
    SELECT n.nspname, c.relname FROM pg_class c JOIN pg_namespace n ON n.oid = c.relnamespace
    WHERE c.relkind = 'r' AND {_USER_SCHEMAS}
    ORDER BY 1, 2
"""
_RELATIONS_QUERY = f"""
    SELECT format('%I.%I', n.nspname, c.relname)
    FROM pg_class c JOIN pg_namespace n ON n.oid = c.relnamespace
    WHERE c.relkind IN ('r', 'p', 'v', 'm', 'f') AND {_USER_SCHEMAS}
    ORDER BY 1 LIMIT 5
"""


@dataclass(frozen=True)
class PgTools:
    """Where pg_dump and psql are found: `bin_dir` first, then PATH."""

    bin_dir: Path | None = None

    def path(self, name: str) -> str:
        if self.bin_dir is not None:
            candidate = self.bin_dir / name
            if candidate.exists():
                return str(candidate)
        found = shutil.which(name)
        if found is None:
            where = f" in {self.bin_dir} or" if self.bin_dir is not None else ""
            raise ToolMissingError(
                f"{name} not found{where} on PATH; install the PostgreSQL client "
                "(e.g. Debian's postgresql-client) or pass --pg-bin-dir"
            )
        return found

    def version(self, name: str) -> str:
        binary = self.path(name)
        out = subprocess.run([binary, "--version"], capture_output=True, text=True, check=False)
        version = parse_tool_version(out.stdout)
        if version is None:
            raise ToolMissingError(f"cannot tell the version of {binary}: {out.stdout.strip()!r}")
        return version


def parse_tool_version(output: str) -> str | None:
    """`pg_dump (PostgreSQL) 15.18 (Debian ...)` -> `15.18`."""
    match = _VERSION.search(output)
    if match is None:
        return None
    return match[1] if match[2] is None else f"{match[1]}.{match[2]}"


def major_of(version: str) -> int:
    return int(re.split(r"\D", version.strip(), maxsplit=1)[0])


def check_dump_compatible(*, server_version_num: int, pg_dump_version: str) -> None:
    """pg_dump can dump servers of its own major version and older, never newer ones."""
    server_major = server_version_num // 10000
    tool_major = major_of(pg_dump_version)
    if server_major > tool_major:
        raise VersionMismatchError(version_mismatch_advice(str(server_major), pg_dump_version))


def version_mismatch_advice(server_version: str, pg_dump_version: str) -> str:
    return (
        f"pg_dump {pg_dump_version} cannot dump a PostgreSQL {server_version} server "
        "(pg_dump must be the server's major version or newer); install a newer client "
        f"(e.g. postgresql-client-{major_of(server_version)}) or point --pg-bin-dir at it"
    )


_SERVER_MISMATCH = re.compile(
    r"server version:\s*(\d[\w.]*)[^;\n]*;\s*pg_dump version:\s*(\d[\w.]*)"
)


def explain_dump_failure(stderr: str, returncode: int) -> BackupError:
    """Turn pg_dump's stderr into an error a person can act on."""
    mismatch = _SERVER_MISMATCH.search(stderr)
    if mismatch:
        return VersionMismatchError(version_mismatch_advice(mismatch[1], mismatch[2]))
    if "server version mismatch" in stderr:
        return VersionMismatchError(
            "pg_dump is older than the PostgreSQL server and refuses to dump it; install the "
            f"client of the server's major version or newer: {_tail(stderr)}"
        )
    if "connection to server" in stderr or "could not connect" in stderr:
        return DatabaseUnreachableError(f"pg_dump cannot connect: {_tail(stderr)}")
    return DumpFailedError(f"pg_dump failed (exit {returncode}): {_tail(stderr)}")


def _tail(text: str, lines: int = 6) -> str:
    kept = [line for line in text.strip().splitlines() if line.strip()][-lines:]
    return " | ".join(kept) or "no message"


def connect(target: LibpqTarget, *, autocommit: bool = False) -> psycopg.Connection[TupleRow]:
    try:
        return psycopg.connect(
            target.conninfo,
            password=target.password,
            autocommit=autocommit,
            connect_timeout=10,
            application_name="repairgpt-backup",
        )
    except psycopg.OperationalError as exc:
        raise DatabaseUnreachableError(
            f"cannot connect to {target.display}: {scrub(str(exc).strip(), target)}"
        ) from exc


@dataclass(frozen=True)
class ServerInfo:
    database: str
    server_version: str
    server_version_num: int


class Snapshot:
    """A read-only REPEATABLE READ transaction whose snapshot pg_dump shares, so the row counts
    taken here describe exactly the rows in the dump."""

    def __init__(self, target: LibpqTarget) -> None:
        self.target = target
        self.conn = connect(target)
        try:
            self.conn.isolation_level = psycopg.IsolationLevel.REPEATABLE_READ
            self.conn.read_only = True
            with self.conn.cursor() as cur:
                # Counting must not take the cores the dump and compression need, and an
                # idle-in-transaction timeout must not end the snapshot before pg_dump imports it.
                cur.execute("SET max_parallel_workers_per_gather = 0")
                cur.execute("SET idle_in_transaction_session_timeout = 0")
                cur.execute("SET statement_timeout = 0")
                cur.execute(
                    "SELECT pg_export_snapshot(), current_database(),"
                    " current_setting('server_version'),"
                    " current_setting('server_version_num')::int"
                )
                row = cur.fetchone()
            assert row is not None
            self.snapshot_id = str(row[0])
            self.info = ServerInfo(str(row[1]), str(row[2]).split()[0], int(str(row[3])))
        except psycopg.Error as exc:
            self.conn.close()
            raise DatabaseUnreachableError(
                f"cannot open a snapshot on {target.display}: {scrub(str(exc), target)}"
            ) from exc

    def count_rows(self) -> dict[str, int]:
        return count_rows(self.conn, self.target)

    def close(self) -> None:
        try:
            self.conn.rollback()
        except psycopg.Error:
            pass
        self.conn.close()


def user_tables(conn: psycopg.Connection[TupleRow]) -> list[tuple[str, str]]:
    with conn.cursor() as cur:
        cur.execute(_TABLES_QUERY)
        return [(str(schema), str(name)) for schema, name in cur.fetchall()]


def table_label(schema: str, name: str) -> str:
    """`schema.table` as the manifest spells it (quoted the way PostgreSQL would need it)."""
    return f"{_quote_ident(schema)}.{_quote_ident(name)}"


def _quote_ident(name: str) -> str:
    if re.fullmatch(r"[a-z_][a-z0-9_$]*", name):
        return name
    return '"' + name.replace('"', '""') + '"'


def count_rows(
    conn: psycopg.Connection[TupleRow],
    target: LibpqTarget,
    tables: Sequence[tuple[str, str]] | None = None,
) -> dict[str, int]:
    """Exact row counts; a table that does not exist counts -1.

    Each count runs in a savepoint when inside a transaction, so a failing count cannot end the
    transaction whose exported snapshot pg_dump may not have imported yet.
    """
    counts: dict[str, int] = {}
    try:
        for schema, name in tables if tables is not None else user_tables(conn):
            with conn.transaction(), conn.cursor() as cur:
                cur.execute("SELECT to_regclass(%s) IS NOT NULL", (table_label(schema, name),))
                exists = cur.fetchone()
                if not exists or not exists[0]:
                    counts[table_label(schema, name)] = -1
                    continue
                cur.execute(
                    sql.SQL("SELECT count(*) FROM {}.{}").format(
                        sql.Identifier(schema), sql.Identifier(name)
                    )
                )
                row = cur.fetchone()
                counts[table_label(schema, name)] = int(str(row[0])) if row else 0
    except psycopg.Error as exc:
        raise BackupError(
            f"counting rows on {target.display} failed: {scrub(str(exc), target)}"
        ) from exc
    return counts


def split_label(label: str) -> tuple[str, str]:
    """Inverse of table_label."""
    parts: list[str] = []
    current = ""
    quoted = False
    i = 0
    while i < len(label):
        ch = label[i]
        if quoted:
            if ch == '"' and label[i + 1 : i + 2] == '"':
                current += '"'
                i += 1
            elif ch == '"':
                quoted = False
            else:
                current += ch
        elif ch == '"':
            quoted = True
        elif ch == ".":
            parts.append(current)
            current = ""
        else:
            current += ch
        i += 1
    parts.append(current)
    if len(parts) != 2:
        raise ValueError(f"not a schema.table name: {label!r}")
    return parts[0], parts[1]


def some_user_relations(target: LibpqTarget) -> list[str]:
    """Up to five tables or views of the database; empty means nothing would be overwritten."""
    with connect(target, autocommit=True) as conn, conn.cursor() as cur:
        cur.execute(_RELATIONS_QUERY)
        return [str(row[0]) for row in cur.fetchall()]


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
    env = target.child_env(dict(os.environ))
    # The dump's DROP ... IF EXISTS statements raise a NOTICE per missing object: noise.
    env["PGOPTIONS"] = (env.get("PGOPTIONS", "") + " -c client_min_messages=warning").strip()
    env.setdefault("PGCONNECT_TIMEOUT", "10")
    psql = subprocess.Popen(
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
        message = scrub(psql_err.text(), target)
        if returncode == 2 and (
            "connection to server" in message or "could not connect" in message
        ):
            raise DatabaseUnreachableError(f"psql cannot connect: {_tail(message)}")
        raise RestoreFailedError(
            f"psql stopped at an error (exit {returncode}); the restore transaction was rolled "
            f"back, the target is unchanged: {_tail(message)}"
        )
    return rows_per_table(statements.tables, tags.wait(), normalise_label)


def normalise_label(name: str) -> str:
    """A table name as a dump spells it (`public."user"`) as the manifest does (`public.user`)."""
    return table_label(*split_label(name))
