"""A database worth backing up, and fingerprints of its contents to compare restores with."""

from __future__ import annotations

import subprocess
import uuid
from collections.abc import Callable
from dataclasses import dataclass

import psycopg

from tests.utils.servers import PostgresServer

RunCli = Callable[..., subprocess.CompletedProcess[str]]

# A database with the kinds of data a dump must carry exactly: unicode, control characters and
# backslashes in text, NULLs, arrays, jsonb, bytea, numerics, time zones, a quoted table name,
# a second schema, identity and serial sequences, foreign keys, a view and an empty table.
SCHEMA_SQL = """
CREATE TABLE devices (
    id serial PRIMARY KEY,
    slug text UNIQUE NOT NULL,
    name text NOT NULL,
    aliases text[] NOT NULL DEFAULT '{}',
    created_at timestamptz NOT NULL
);
CREATE TABLE guides (
    id bigserial PRIMARY KEY,
    device_id int NOT NULL REFERENCES devices(id),
    title text NOT NULL,
    difficulty text,
    time_minutes int,
    price numeric(10, 2),
    rating double precision,
    active boolean NOT NULL,
    meta jsonb,
    uid uuid NOT NULL,
    thumbnail bytea,
    published date
);
CREATE INDEX guides_device ON guides (device_id);
CREATE TABLE steps (
    guide_id bigint NOT NULL REFERENCES guides(id) ON DELETE CASCADE,
    position int NOT NULL,
    body text NOT NULL,
    PRIMARY KEY (guide_id, position)
);
CREATE TABLE "Audit Log" (
    id int GENERATED ALWAYS AS IDENTITY PRIMARY KEY, event text, at timestamp
);
CREATE SCHEMA archive;
CREATE TABLE archive.old_chats (id int PRIMARY KEY, question text, answer text);
CREATE TABLE empty_table (id int);
CREATE VIEW active_guides AS SELECT id, title FROM guides WHERE active;
"""


def fill_sql(scale: int) -> str:
    """Rows in proportion to `scale`: scale 1000 gives 113,500 rows."""
    return f"""
INSERT INTO devices (slug, name, aliases, created_at)
SELECT 'device-' || i,
       CASE WHEN i % 3 = 0 THEN 'アイフォン ' || i ELSE 'Device ' || i END,
       ARRAY['alias-' || i, 'エイリアス' || i],
       timestamptz '2024-01-01 00:00+09' + i * interval '1 minute 7 seconds'
FROM generate_series(1, {2 * scale}) AS i;
INSERT INTO guides (device_id, title, difficulty, time_minutes, price, rating, active, meta, uid,
                    thumbnail, published)
SELECT 1 + i % {2 * scale},
       'Guide ' || i || E' with a tab\\there, a newline\\nand a backslash \\\\ ' || md5(i::text),
       (ARRAY['easy', 'moderate', 'difficult', NULL])[1 + i % 4],
       CASE WHEN i % 7 = 0 THEN NULL ELSE i % 240 END,
       (i % 10000) / 100.0,
       CASE WHEN i % 11 = 0 THEN NULL ELSE i / 7.0 END,
       i % 5 <> 0,
       jsonb_build_object('tools', jsonb_build_array('spudger', 'P2 ' || i), 'n', i, 'ja', '修理'),
       md5('uid' || i)::uuid,
       CASE WHEN i % 13 = 0 THEN NULL ELSE decode(md5(i::text), 'hex') END,
       date '2020-01-01' + i % 2000
FROM generate_series(1, {60 * scale}) AS i;
INSERT INTO steps (guide_id, position, body)
SELECT 1 + i % {60 * scale}, i, 'Step ' || i || ': 電源を切ります. ' || repeat('x', i % 50)
FROM generate_series(1, {50 * scale}) AS i;
INSERT INTO "Audit Log" (event, at)
SELECT 'event ' || i, timestamp '2025-06-01' + i * interval '1 second'
FROM generate_series(1, {scale}) AS i;
INSERT INTO archive.old_chats SELECT i, 'why ' || i, NULL FROM generate_series(1, {scale // 2}) i;
"""


def sql(url: str, statement: str) -> list[tuple[object, ...]]:
    with psycopg.connect(url, autocommit=True) as conn, conn.cursor() as cur:
        cur.execute(statement)
        return cur.fetchall() if cur.description else []


def table_fingerprints(url: str) -> dict[str, tuple[int, str]]:
    """Row count and a checksum of every row's text form, per table."""
    tables = sql(
        url,
        "SELECT format('%I.%I', schemaname, tablename) FROM pg_tables "
        "WHERE schemaname NOT IN ('pg_catalog', 'information_schema') ORDER BY 1",
    )
    result: dict[str, tuple[int, str]] = {}
    for (table,) in tables:
        ((count, digest),) = sql(
            url,
            f"SELECT count(*), md5(coalesce(string_agg(t::text, E'\\n' ORDER BY t::text), ''))"
            f" FROM {table} t",
        )
        result[str(table)] = (int(str(count)), str(digest))
    return result


@dataclass
class Database:
    url: str
    name: str

    def fingerprints(self) -> dict[str, tuple[int, str]]:
        return table_fingerprints(self.url)

    def sql(self, statement: str) -> list[tuple[object, ...]]:
        return sql(self.url, statement)


def make_database(server: PostgresServer, scale: int) -> Database:
    name = f"src_{uuid.uuid4().hex[:10]}"
    url = server.create_database(name)
    with psycopg.connect(url, autocommit=True) as conn:
        conn.execute(SCHEMA_SQL)
        conn.execute(fill_sql(scale))
        conn.execute("ANALYZE")
    return Database(url, name)
