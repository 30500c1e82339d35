"""Connections, the snapshot a backup is taken in, and the tables and row counts it holds."""

from __future__ import annotations

import re
from collections.abc import Sequence
from dataclasses import dataclass

import psycopg
from psycopg import sql
from psycopg.rows import TupleRow

from repairgpt.backup.dsn import LibpqTarget, scrub
from repairgpt.backup.errors import BackupError, DatabaseUnreachableError

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
