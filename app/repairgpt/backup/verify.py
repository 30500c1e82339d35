"""Restore tests of backups: restore one into a throwaway database, compare row counts, drop it.

The order keeps failures cheap and leaves nothing behind: S3, the backup and the role's right to
create databases are checked before the download; the checksum is verified before the throwaway
database exists; and once it exists it is dropped whatever happens next (unless asked to keep
it), with `WITH (FORCE)` so that a stuck session cannot keep it alive.
"""

from __future__ import annotations

import re
import secrets
import sys
import time
from collections.abc import Callable
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta

import psycopg
from psycopg import sql
from psycopg.conninfo import conninfo_to_dict, make_conninfo
from psycopg.rows import TupleRow

from repairgpt.backup.catalog import open_backup
from repairgpt.backup.dsn import LibpqTarget, libpq_target, scrub
from repairgpt.backup.errors import BackupError, CannotCreateDatabaseError
from repairgpt.backup.pg_tools import PgTools
from repairgpt.backup.restore import RestoreReport, apply_and_count
from repairgpt.backup.s3 import S3Client, S3Location
from repairgpt.backup.snapshot import connect
from repairgpt_contract.progress import VERIFY
from repairgpt_contract.results import s3_location

THROWAWAY_PREFIX = "repairgpt_verify_"
# A verification killed without a chance to clean up (SIGKILL, a lost node) leaves its throwaway
# database behind; the next run drops those older than this. No verification runs that long.
STALE_AFTER = timedelta(days=1)
_THROWAWAY_NAME = re.compile(rf"^{THROWAWAY_PREFIX}(\d{{14}})_[0-9a-f]+$")
_FORCE_DROP_SINCE = 130000  # DROP DATABASE ... WITH (FORCE) exists from PostgreSQL 13


@dataclass(frozen=True)
class VerifyReport(RestoreReport):
    """A restore report of the throwaway database, and what became of that database."""

    location: str  # s3://bucket/key
    database: str  # the throwaway database the backup was restored into
    dropped: bool
    duration_seconds: float

    @property
    def verified(self) -> bool:
        return self.counts_match


def throwaway_database_name(now: datetime, token: str) -> str:
    """`repairgpt_verify_20261128224500_a1b2c3`: sortable, recognisable, never a real database."""
    return f"{THROWAWAY_PREFIX}{now.astimezone(UTC):%Y%m%d%H%M%S}_{token}"


def stale_throwaways(names: list[str], now: datetime) -> list[str]:
    """The throwaway databases among `names` created more than STALE_AFTER before `now`."""
    stale = []
    for name in names:
        match = _THROWAWAY_NAME.match(name)
        if match is None:
            continue
        created = datetime.strptime(match.group(1), "%Y%m%d%H%M%S").replace(tzinfo=UTC)
        if now - created > STALE_AFTER:
            stale.append(name)
    return sorted(stale)


def drop_stale_throwaways(server: LibpqTarget, now: datetime) -> list[str]:
    """Drop throwaway databases that earlier, killed verifications left behind."""
    with connect(server, autocommit=True) as conn:
        rows = conn.execute(
            "SELECT datname FROM pg_database WHERE starts_with(datname, %s)", (THROWAWAY_PREFIX,)
        ).fetchall()
    stale = stale_throwaways([str(row[0]) for row in rows], now)
    for name in stale:
        drop_database(server, name)
    return stale


def database_on_server(server: LibpqTarget, dbname: str) -> LibpqTarget:
    """Another database on the same server, reached with the same role and password."""
    params = {k: str(v) for k, v in conninfo_to_dict(server.conninfo).items() if v is not None}
    params["dbname"] = dbname
    return LibpqTarget(
        conninfo=make_conninfo("", **params),
        password=server.password,
        display=f"the database {dbname} on the server of {server.display}",
    )


def cannot_create_advice(role: str) -> str:
    quoted = role if re.fullmatch(r"[a-z_][a-z0-9_$]*", role) else sql.Identifier(role).as_string()
    return (
        f"the role {role} may not create databases, and verify restores into a throwaway "
        f"database; grant it with `ALTER ROLE {quoted} CREATEDB` (as a superuser) or pass "
        "--database-url with a role that has CREATEDB"
    )


def check_can_create_database(conn: psycopg.Connection[TupleRow]) -> None:
    """Fail before the download, not after it, when CREATE DATABASE is bound to be refused."""
    with conn.cursor() as cur:
        cur.execute(
            "SELECT current_user, rolcreatedb OR rolsuper"
            " FROM pg_roles WHERE rolname = current_user"
        )
        row = cur.fetchone()
    if row is not None and not row[1]:
        raise CannotCreateDatabaseError(cannot_create_advice(str(row[0])))


def create_database(server: LibpqTarget, name: str) -> None:
    # template0: the dump expects an empty database, not whatever was added to template1.
    statement = sql.SQL("CREATE DATABASE {} TEMPLATE template0").format(sql.Identifier(name))
    with connect(server, autocommit=True) as conn:
        try:
            conn.execute(statement)
        except psycopg.errors.InsufficientPrivilege as exc:
            role = conn.info.parameter_status("session_authorization") or "of --database-url"
            raise CannotCreateDatabaseError(cannot_create_advice(role)) from exc
        except psycopg.Error as exc:
            raise BackupError(
                f"creating the throwaway database {name} on {server.display} failed: "
                f"{scrub(str(exc).strip(), server)}"
            ) from exc


def drop_database(server: LibpqTarget, name: str) -> None:
    with connect(server, autocommit=True) as conn:
        force = " WITH (FORCE)" if conn.info.server_version >= _FORCE_DROP_SINCE else ""
        statement = sql.SQL("DROP DATABASE IF EXISTS {}" + force).format(sql.Identifier(name))
        try:
            conn.execute(statement)
        except psycopg.Error as exc:
            raise BackupError(
                f"dropping the throwaway database {name} failed: {scrub(str(exc).strip(), server)}"
                f"; drop it by hand with DROP DATABASE {name}"
            ) from exc


def verify_backup(
    *,
    location: S3Location,
    database_url: str,
    key: str = "latest",
    keep_database: bool = False,
    tools: PgTools | None = None,
    progress_interval: float = 5.0,
    client: S3Client | None = None,
    now: Callable[[], datetime] = lambda: datetime.now(UTC),
    clock: Callable[[], float] = time.monotonic,
) -> VerifyReport:
    """Restore `key` (or the newest successful backup) into a new database on the server of
    `database_url`, compare its row counts with the manifest, and drop that database again.

    The database `database_url` names is only used to connect; nothing in it is touched.
    """
    started = clock()
    tools = tools or PgTools()
    server = libpq_target(database_url)
    tools.path("psql")
    client, entry, manifest = open_backup(location, key, client)
    with connect(server, autocommit=True) as conn:
        check_can_create_database(conn)
    name = throwaway_database_name(now(), secrets.token_hex(3))

    note = _notes(entry.dump_key, progress_interval)

    for stale in drop_stale_throwaways(server, now()):
        note(f"dropped {stale}, left behind by an earlier verification that was killed")

    create_database(server, name)
    note(f"restoring into the throwaway database {name}")
    try:
        checks = apply_and_count(
            tools,
            database_on_server(server, name),
            client,
            location,
            entry,
            progress_interval=progress_interval,
            label=VERIFY,
        )
    except BaseException:
        if not keep_database:
            _drop_after_failure(server, name, note)
        raise
    if not keep_database:
        drop_database(server, name)
        note(f"dropped {name}")
    return VerifyReport(
        key=entry.dump_key,
        location=s3_location(location.bucket, entry.dump_key),
        manifest=manifest,
        database=name,
        dropped=not keep_database,
        tables=checks,
        duration_seconds=clock() - started,
    )


def _notes(key: str, progress_interval: float) -> Callable[[str], None]:
    """Prints `verify KEY: TEXT` between the progress lines, unless progress is off."""

    def note(text: str) -> None:
        if progress_interval >= 0:
            print(f"{VERIFY} {key}: {text}", file=sys.stderr, flush=True)

    return note


def _drop_after_failure(server: LibpqTarget, name: str, note: Callable[[str], None]) -> None:
    # The failure already in flight is the one to report; a failed drop is only worth a line.
    try:
        drop_database(server, name)
        note(f"dropped {name}")
    except BackupError as exc:
        print(f"repairgpt backup: warning: {exc.message}", file=sys.stderr, flush=True)
