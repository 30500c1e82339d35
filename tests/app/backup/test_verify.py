"""`repairgpt backup verify` and `restore --result-file`: real PostgreSQL, moto's S3 server."""

from __future__ import annotations

import gzip
import hashlib
import json
import re
from collections.abc import Iterator
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import pytest

from repairgpt.backup.verify import stale_throwaways, throwaway_database_name
from tests.app.backup.sample_database import Database, RunCli, sql
from tests.utils.servers import PostgresServer, S3Server, free_port

THROWAWAY = re.compile(r"repairgpt_verify_\d{14}_[0-9a-f]{6}")


def created(run: RunCli, db: Database, bucket: str) -> dict[str, Any]:
    result = run("create", "--database-url", db.url, "--bucket", bucket, "--json")
    assert result.returncode == 0, result.stderr
    manifest: dict[str, Any] = json.loads(result.stdout)
    return manifest


def throwaway_databases(server: PostgresServer) -> list[str]:
    rows = sql(
        server.url,
        r"SELECT datname FROM pg_database WHERE datname LIKE 'repairgpt\_verify\_%' ORDER BY 1",
    )
    return [str(name) for (name,) in rows]


def rewrite_manifest(
    s3_server: S3Server, bucket: str, dump_key: str, change: dict[str, Any]
) -> dict[str, Any]:
    client = s3_server.client()
    key = dump_key.replace(".sql.gz", ".manifest.json")
    manifest: dict[str, Any] = json.loads(client.get_object(Bucket=bucket, Key=key)["Body"].read())
    manifest.update(change)
    client.put_object(Bucket=bucket, Key=key, Body=json.dumps(manifest).encode())
    return manifest


@pytest.fixture
def verify_cli(backup_cli: RunCli, postgres_server: PostgresServer) -> Iterator[RunCli]:
    """`backup verify` on the shared server; the test must leave no throwaway database behind."""
    before = set(throwaway_databases(postgres_server))

    def run(*args: str, **kwargs: Any) -> Any:
        return backup_cli("verify", *args, "--progress-interval", "0", **kwargs)

    yield run
    left = set(throwaway_databases(postgres_server)) - before
    for name in left:  # so that one leak fails one test, not the ones after it
        sql(postgres_server.url, f"DROP DATABASE {name} WITH (FORCE)")
    assert not left, f"throwaway databases left behind: {sorted(left)}"


@pytest.mark.slow
def test_verifying_a_good_backup_succeeds_reports_its_counts_and_drops_the_throwaway_database(
    backup_cli: RunCli,
    verify_cli: RunCli,
    small_database: Database,
    postgres_server: PostgresServer,
    s3_bucket: str,
    tmp_path: Path,
) -> None:
    manifest = created(backup_cli, small_database, s3_bucket)
    result_file = tmp_path / "termination-log"
    # The app's own URL spelling, from the environment, with a password the server ignores.
    app_url = postgres_server.url.replace(
        "postgresql://postgres@", "postgresql+psycopg://postgres:hunter2@"
    )
    result = verify_cli(
        "latest", "--bucket", s3_bucket, "--result-file", str(result_file),
        env={"DATABASE_URL": app_url},
    )  # fmt: skip
    assert result.returncode == 0, result.stderr
    assert "hunter2" not in result.stdout + result.stderr
    assert "downloaded" in result.stderr and "applied" in result.stderr  # progress lines
    assert THROWAWAY.search(result.stderr), result.stderr
    assert f"verified s3://{s3_bucket}/{manifest['key']}" in result.stdout
    assert '"Audit Log"' in result.stdout and "MISMATCH" not in result.stdout

    report = json.loads(result_file.read_text())
    assert report.pop("duration_seconds") > 0
    assert report == {
        "key": manifest["key"],
        "location": f"s3://{s3_bucket}/{manifest['key']}",
        "verified": True,
        "tables": 6,
        "rows": 1135,
        "mismatches": [],
    }
    assert len(result_file.read_bytes()) < 4096, "fits a Kubernetes termination message"
    assert result_file.read_text().count("\n") == 1


@pytest.mark.slow
def test_keep_database_leaves_the_restored_copy_for_inspection(
    backup_cli: RunCli,
    small_database: Database,
    postgres_server: PostgresServer,
    s3_bucket: str,
) -> None:
    created(backup_cli, small_database, s3_bucket)
    before = set(throwaway_databases(postgres_server))
    result = backup_cli(
        "verify", "latest", "--bucket", s3_bucket, "--database-url", postgres_server.url,
        "--keep-database", "--json",
    )  # fmt: skip
    assert result.returncode == 0, result.stderr
    report = json.loads(result.stdout)
    kept = report["database"]
    try:
        assert THROWAWAY.fullmatch(kept) and report["database_dropped"] is False
        assert set(throwaway_databases(postgres_server)) - before == {kept}
        copy = Database(postgres_server.url_for(kept), kept)
        assert copy.fingerprints() == small_database.fingerprints()
    finally:
        sql(postgres_server.url, f"DROP DATABASE IF EXISTS {kept} WITH (FORCE)")


@pytest.mark.slow
def test_a_corrupted_dump_fails_verification_and_leaves_no_database(
    backup_cli: RunCli,
    verify_cli: RunCli,
    small_database: Database,
    postgres_server: PostgresServer,
    s3_server: S3Server,
    s3_bucket: str,
    tmp_path: Path,
) -> None:
    manifest = created(backup_cli, small_database, s3_bucket)
    client = s3_server.client()
    data = bytearray(client.get_object(Bucket=s3_bucket, Key=manifest["key"])["Body"].read())
    data[len(data) // 2] ^= 0xFF
    client.put_object(Bucket=s3_bucket, Key=manifest["key"], Body=bytes(data))
    result_file = tmp_path / "termination-log"

    result = verify_cli(
        "latest", "--bucket", s3_bucket, "--database-url", postgres_server.url,
        "--result-file", str(result_file),
    )  # fmt: skip
    assert result.returncode == 30, result.stderr
    assert "repairgpt backup: error:" in result.stderr and "corrupted" in result.stderr
    assert not result_file.exists()
    assert "dropped repairgpt_verify_" in result.stderr  # the fixture checks none is left


@pytest.mark.slow
def test_a_role_without_createdb_gets_an_error_naming_the_fix_before_any_download(
    backup_cli: RunCli,
    verify_cli: RunCli,
    small_database: Database,
    postgres_server: PostgresServer,
    s3_bucket: str,
    tmp_path: Path,
) -> None:
    created(backup_cli, small_database, s3_bucket)
    role = "nocreatedb_" + small_database.name[4:]
    sql(postgres_server.url, f"CREATE ROLE {role} LOGIN NOCREATEDB")
    result_file = tmp_path / "termination-log"

    result = verify_cli(
        "latest", "--bucket", s3_bucket,
        "--database-url", postgres_server.url.replace("postgres@", f"{role}@"),
        "--result-file", str(result_file),
    )  # fmt: skip
    assert result.returncode == 36, result.stderr
    assert f"repairgpt backup: error: the role {role} may not create databases" in result.stderr
    assert f"ALTER ROLE {role} CREATEDB" in result.stderr
    assert "downloaded" not in result.stderr
    assert not result_file.exists()


@pytest.mark.slow
def test_a_manifest_whose_row_count_is_wrong_fails_verification_naming_the_table(
    backup_cli: RunCli,
    verify_cli: RunCli,
    small_database: Database,
    postgres_server: PostgresServer,
    s3_server: S3Server,
    s3_bucket: str,
    tmp_path: Path,
) -> None:
    manifest = created(backup_cli, small_database, s3_bucket)
    # Only the count is wrong: the dump and its sha256 still agree, so the restore itself works.
    tables = {**manifest["tables"], "public.steps": manifest["tables"]["public.steps"] + 7}
    rewrite_manifest(s3_server, s3_bucket, manifest["key"], {"tables": tables})
    result_file = tmp_path / "termination-log"

    result = verify_cli(
        manifest["key"], "--bucket", s3_bucket, "--database-url", postgres_server.url,
        "--result-file", str(result_file),
    )  # fmt: skip
    assert result.returncode == 34, result.stderr
    assert "row counts differ from the manifest for public.steps" in result.stderr
    assert "verification FAILED" in result.stdout and "MISMATCH" in result.stdout
    report = json.loads(result_file.read_text())
    assert report["verified"] is False
    assert report["mismatches"] == [{"table": "public.steps", "expected": 507, "actual": 500}]
    assert report["tables"] == 6 and report["rows"] == 1135


@pytest.mark.slow
def test_a_dump_that_fails_to_apply_still_drops_the_throwaway_database(
    backup_cli: RunCli,
    verify_cli: RunCli,
    small_database: Database,
    postgres_server: PostgresServer,
    s3_server: S3Server,
    s3_bucket: str,
    tmp_path: Path,
) -> None:
    manifest = created(backup_cli, small_database, s3_bucket)
    # A dump whose checksum is right but whose SQL fails halfway through the restore.
    broken = gzip.compress(b"CREATE TABLE half (id int);\nSELECT 1 / 0;\n")
    s3_server.client().put_object(Bucket=s3_bucket, Key=manifest["key"], Body=broken)
    rewrite_manifest(
        s3_server,
        s3_bucket,
        manifest["key"],
        {"size_bytes": len(broken), "sha256": hashlib.sha256(broken).hexdigest()},
    )
    result_file = tmp_path / "termination-log"

    result = verify_cli(
        "latest", "--bucket", s3_bucket, "--database-url", postgres_server.url,
        "--result-file", str(result_file),
    )  # fmt: skip
    assert result.returncode == 33, result.stderr
    assert "division by zero" in result.stderr
    assert re.search(r"dropped repairgpt_verify_", result.stderr), result.stderr
    assert not result_file.exists()


@pytest.mark.slow
def test_an_unreachable_server_fails_verification_without_showing_the_password(
    backup_cli: RunCli, small_database: Database, s3_bucket: str, tmp_path: Path
) -> None:
    created(backup_cli, small_database, s3_bucket)
    result_file = tmp_path / "termination-log"
    result = backup_cli(
        "verify", "latest", "--bucket", s3_bucket,
        "--database-url", f"postgresql://app:hunter2@127.0.0.1:{free_port()}/repairgpt",
        "--result-file", str(result_file),
    )  # fmt: skip
    assert result.returncode == 20
    assert "cannot connect" in result.stderr and "app:***@" in result.stderr
    assert "hunter2" not in result.stderr
    assert not result_file.exists()


@pytest.mark.slow
def test_the_restore_result_file_tells_the_operator_what_was_restored(
    backup_cli: RunCli,
    small_database: Database,
    empty_database: Database,
    s3_bucket: str,
    tmp_path: Path,
) -> None:
    manifest = created(backup_cli, small_database, s3_bucket)
    result_file = tmp_path / "termination-log"
    result = backup_cli(
        "restore", "latest", "--bucket", s3_bucket, "--target-url", empty_database.url,
        "--result-file", str(result_file),
    )  # fmt: skip
    assert result.returncode == 0, result.stderr
    assert json.loads(result_file.read_text()) == {
        "key": manifest["key"],
        "location": f"s3://{s3_bucket}/{manifest['key']}",
        "tables": 6,
        "rows": 1135,
        "counts_match": True,
        "mismatches": [],
    }
    assert len(result_file.read_bytes()) < 4096


@pytest.mark.slow
def test_the_restore_result_file_is_written_on_a_row_count_mismatch_too(
    backup_cli: RunCli,
    small_database: Database,
    empty_database: Database,
    s3_server: S3Server,
    s3_bucket: str,
    tmp_path: Path,
) -> None:
    manifest = created(backup_cli, small_database, s3_bucket)
    tables = {**manifest["tables"], "archive.old_chats": 6}
    rewrite_manifest(s3_server, s3_bucket, manifest["key"], {"tables": tables})
    result_file = tmp_path / "termination-log"
    result = backup_cli(
        "restore", "latest", "--bucket", s3_bucket, "--target-url", empty_database.url,
        "--result-file", str(result_file),
    )  # fmt: skip
    assert result.returncode == 34, result.stderr
    report = json.loads(result_file.read_text())
    assert report["counts_match"] is False
    assert report["mismatches"] == [{"table": "archive.old_chats", "expected": 6, "actual": 5}]


def test_throwaway_database_names_are_recognisable_sortable_and_valid_identifiers() -> None:
    name = throwaway_database_name(datetime(2026, 11, 28, 22, 45, 1, tzinfo=UTC), "a1b2c3")
    assert name == "repairgpt_verify_20261128224501_a1b2c3"
    assert len(name) <= 63  # PostgreSQL's identifier limit


def test_only_throwaway_databases_older_than_a_day_count_as_stale() -> None:
    now = datetime(2026, 11, 28, 12, 0, tzinfo=UTC)
    names = [
        "repairgpt_verify_20261126120000_a1b2c3",  # two days old: left by a killed run
        "repairgpt_verify_20261128110000_d4e5f6",  # an hour old: maybe still running
        "repairgpt_verify_notatimestamp_0000",
        "repairgpt",
    ]
    assert stale_throwaways(names, now) == ["repairgpt_verify_20261126120000_a1b2c3"]


@pytest.mark.slow
def test_a_throwaway_database_left_by_a_killed_verification_is_dropped_by_the_next_one(
    backup_cli: RunCli,
    verify_cli: RunCli,
    small_database: Database,
    postgres_server: PostgresServer,
    s3_bucket: str,
) -> None:
    created(backup_cli, small_database, s3_bucket)
    leftover = "repairgpt_verify_20200101000000_abcdef"
    sql(postgres_server.url, f"CREATE DATABASE {leftover}")
    result = verify_cli("latest", "--bucket", s3_bucket, "--database-url", postgres_server.url)
    assert result.returncode == 0, result.stderr
    assert leftover not in throwaway_databases(postgres_server)
