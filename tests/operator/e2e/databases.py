"""A real PostgreSQL primary with its streaming replica, the instances that point at them, and a
schema migration held open."""

from __future__ import annotations

import time
import uuid
from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any

import psycopg

from tests.utils.servers import PostgresServer

DATABASE = "repairgpt"
SECRET_KEY = "database-url"


class PrimaryAndReplica:
    """A primary and a hot-standby replica streaming from it, both on 127.0.0.1.

    The connection URLs carry a password although the servers trust loopback: it is the marker
    that tests look for to prove a Secret's value never leaks.
    """

    def __init__(self) -> None:
        self.password = f"pw-{uuid.uuid4().hex}"
        self.primary = PostgresServer()
        self.replica = PostgresServer()

    def start(self, *replica_conf: str) -> PrimaryAndReplica:
        """Start both; `replica_conf` lines go into the replica's postgresql.conf."""
        self.primary.init().start()
        self.primary.create_database(DATABASE)
        self.replica.init_replica_of(self.primary)
        if replica_conf:
            with (self.replica.data_dir / "postgresql.conf").open("a") as fh:
                fh.write("\n".join(replica_conf) + "\n")
        self.replica.start()
        self.wait_replica_caught_up()
        return self

    def url(self, server: PostgresServer) -> str:
        return f"postgresql://postgres:{self.password}@127.0.0.1:{server.port}/{DATABASE}"

    @property
    def primary_url(self) -> str:
        return self.url(self.primary)

    @property
    def replica_url(self) -> str:
        return self.url(self.replica)

    def wait_replica_caught_up(self, timeout: float = 30) -> None:
        """Until the replica has replayed everything the primary has committed so far.

        The test servers commit asynchronously (`synchronous_commit = off`), so a commit may still
        sit in the primary's WAL buffers. A synchronous commit of a transaction that wrote WAL (a
        transactional logical message; one that wrote none is not flushed) first flushes the
        WAL up to itself, every earlier commit included; the flush position is then the target.
        """
        self.primary.psql(
            "SET synchronous_commit = on; SELECT pg_logical_emit_message(true, 'test', 'flush')"
        )
        target = self.primary.psql("SELECT pg_current_wal_flush_lsn()")
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            behind = self.replica.psql(
                f"SELECT pg_wal_lsn_diff('{target}', pg_last_wal_replay_lsn()) > 0"
            )
            if behind == "f":
                return
            time.sleep(0.1)
        raise TimeoutError(f"the replica did not replay up to {target} within {timeout:.0f} s")

    def cleanup(self) -> None:
        self.replica.cleanup()
        self.primary.cleanup()


def database_secrets(pair: PrimaryAndReplica, primary: str, replica: str) -> list[dict[str, Any]]:
    """The two Secrets an instance references for its primary and its replica."""
    return [
        {
            "apiVersion": "v1",
            "kind": "Secret",
            "metadata": {"name": name},
            "type": "Opaque",
            "stringData": {SECRET_KEY: url},
        }
        for name, url in ((primary, pair.primary_url), (replica, pair.replica_url))
    ]


def instance_manifest(name: str, **spec: Any) -> dict[str, Any]:
    """A RepairGPTInstance on the Secret `repairgpt-db`; keyword arguments extend its spec."""
    return {
        "apiVersion": "repairgpt.io/v1alpha1",
        "kind": "RepairGPTInstance",
        "metadata": {"name": name},
        "spec": {
            "image": "ghcr.io/example/repairgpt-app:1.2.3",
            "database": {"primary": {"secretName": "repairgpt-db", "key": SECRET_KEY}},
            **spec,
        },
    }


@contextmanager
def schema_migration_in_progress(database_url: str) -> Iterator[None]:
    """Hold the schema's version table as a migration still running would: API pods that start
    meanwhile wait in their start-up migration, running but not ready, until it is released."""
    with psycopg.connect(database_url, connect_timeout=10) as connection:
        connection.execute("LOCK TABLE alembic_version IN ACCESS EXCLUSIVE MODE")
        yield
        connection.rollback()
