"""Fixtures of the backup tests: the CLI as a subprocess, and databases worth backing up."""

from __future__ import annotations

import os
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path

import pytest

from tests.app.backup.sample_database import Database, RunCli, make_database
from tests.utils.servers import PostgresServer, S3Server, free_port, port_open, wait_until

REPO_ROOT = Path(__file__).resolve().parents[3]
VENV_BIN = Path(sys.executable).parent


@pytest.fixture(scope="module")
def large_database(postgres_server: PostgresServer) -> Database:
    """113,500 rows over six tables."""
    return make_database(postgres_server, 1000)


@pytest.fixture
def small_database(postgres_server: PostgresServer) -> Database:
    """1,135 rows, same shape as the large one."""
    return make_database(postgres_server, 10)


@pytest.fixture
def empty_database(postgres_server: PostgresServer, postgres_url: str) -> Database:
    return Database(postgres_url, postgres_url.rsplit("/", 1)[1])


def backup_command() -> list[str]:
    """`repairgpt backup` once the main CLI registers it; until then the package's own entry."""
    main_cli = REPO_ROOT / "app" / "repairgpt" / "cli.py"
    script = VENV_BIN / "repairgpt"
    if script.exists() and main_cli.exists() and "add_backup_commands" in main_cli.read_text():
        return [str(script), "backup"]
    return [sys.executable, "-m", "repairgpt.backup", "backup"]


@pytest.fixture
def backup_cli(s3_server: S3Server, postgres_server: PostgresServer) -> RunCli:
    """Runs `repairgpt backup ARGS` as its own process with S3 settings in the environment."""

    def run(
        *args: str, env: dict[str, str] | None = None, timeout: float = 300
    ) -> subprocess.CompletedProcess[str]:
        full_env = {
            **os.environ,
            **s3_server.env,
            "PG_BIN_DIR": str(postgres_server.bin_dir),
            **(env or {}),
        }
        return subprocess.run(
            [*backup_command(), *args],
            env=full_env,
            capture_output=True,
            text=True,
            timeout=timeout,
            check=False,
        )

    return run


@pytest.fixture(scope="module")
def s3_requiring_auth() -> Iterator[str]:
    """A second moto server that checks credentials like AWS does (none are valid on it)."""
    port = free_port()
    process = subprocess.Popen(
        [sys.executable, "-m", "moto.server", "-H", "127.0.0.1", "-p", str(port)],
        env={**os.environ, "INITIAL_NO_AUTH_ACTION_COUNT": "0"},
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    try:
        wait_until(lambda: port_open(port), timeout=30, what="moto S3 server with auth")
        yield f"http://127.0.0.1:{port}"
    finally:
        process.terminate()
        process.wait(timeout=10)
