"""Databases with data and real backups of them in S3, for the backup and restore tests."""

from __future__ import annotations

import os
import subprocess

from tests.operator.e2e.kubelet import COMMAND_TIMEOUT_SECONDS, REPAIRGPT
from tests.utils.servers import PostgresServer, S3Server

SEEDED_ROWS = 2500
SEEDED_TABLES = 2


def seed_database(postgres: PostgresServer) -> str:
    """A new database with two tables and SEEDED_ROWS + 2 rows; its URL."""
    url = postgres.create_database(f"src_{os.urandom(4).hex()}")
    postgres.psql(
        "CREATE TABLE parts (id serial PRIMARY KEY, name text NOT NULL);"
        f"INSERT INTO parts (name) SELECT 'part ' || g FROM generate_series(1, {SEEDED_ROWS}) g;"
        "CREATE TABLE devices (id serial PRIMARY KEY, name text);"
        "INSERT INTO devices (name) VALUES ('phone'), ('console');",
        dbname=url.rsplit("/", 1)[1],
    )
    return url


def back_up(url: str, bucket: str, s3: S3Server, postgres: PostgresServer) -> None:
    """`repairgpt backup create` of the database into bucket/db/."""
    env = {**os.environ, **s3.env, "PG_BIN_DIR": str(postgres.bin_dir)}
    result = subprocess.run(
        [str(REPAIRGPT), "backup", "create", "--database-url", url, "--bucket", bucket,
         "--prefix", "db/"],
        env=env, capture_output=True, text=True, timeout=COMMAND_TIMEOUT_SECONDS, check=False,
    )  # fmt: skip
    assert result.returncode == 0, result.stderr
