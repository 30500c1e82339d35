"""`repairgpt backup` end to end: real PostgreSQL, moto's S3 server, the CLI as a process."""

from __future__ import annotations

import json
import subprocess
import sys
import time
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest

from repairgpt.backup import S3Location, prune_backups
from tests.app.backup.sample_database import Database, RunCli
from tests.utils.servers import PostgresServer, S3Server, free_port

pytestmark = pytest.mark.slow


def created(run: RunCli, db: Database, bucket: str, *extra: str) -> dict[str, Any]:
    result = run("create", "--database-url", db.url, "--bucket", bucket, "--json", *extra)
    assert result.returncode == 0, result.stderr
    manifest: dict[str, Any] = json.loads(result.stdout)
    return manifest


def listed(run: RunCli, bucket: str, *extra: str) -> list[dict[str, Any]]:
    result = run("list", "--bucket", bucket, "--json", *extra)
    assert result.returncode == 0, result.stderr
    entries: list[dict[str, Any]] = json.loads(result.stdout)
    return entries


def bucket_keys(s3_server: S3Server, bucket: str) -> list[str]:
    response = s3_server.client().list_objects_v2(Bucket=bucket)
    return sorted(item["Key"] for item in response.get("Contents", []))


def pending_uploads(s3_server: S3Server, bucket: str) -> list[str]:
    return [
        u["Key"]
        for u in s3_server.client().list_multipart_uploads(Bucket=bucket).get("Uploads", [])
    ]


def test_a_backup_of_100k_rows_restores_with_equal_rows_and_data(
    backup_cli: RunCli,
    large_database: Database,
    empty_database: Database,
    s3_server: S3Server,
    s3_bucket: str,
) -> None:
    source = large_database.fingerprints()
    assert sum(rows for rows, _ in source.values()) >= 100_000

    # The app's own URL spelling, from the environment, with a password the server ignores.
    app_url = large_database.url.replace(
        "postgresql://postgres@", "postgresql+psycopg://postgres:hunter2@"
    )
    result = backup_cli(
        "create", "--bucket", s3_bucket, "--prefix", "database", "--json",
        "--progress-interval", "0",
        env={"DATABASE_URL": app_url},
    )  # fmt: skip
    assert result.returncode == 0, result.stderr
    assert "hunter2" not in result.stdout + result.stderr
    assert "uploaded" in result.stderr  # progress lines
    manifest = json.loads(result.stdout)
    assert manifest["key"].startswith("database/repairgpt-")
    assert manifest["tables"] == {table: rows for table, (rows, _) in source.items()}
    assert manifest["server_version"].startswith("15") and manifest["pg_dump_version"]
    assert bucket_keys(s3_server, s3_bucket) == sorted(
        [manifest["key"], manifest["key"].replace(".sql.gz", ".manifest.json")]
    )
    assert pending_uploads(s3_server, s3_bucket) == []

    (entry,) = listed(backup_cli, s3_bucket, "--prefix", "database/")
    assert entry["key"] == manifest["key"] and entry["verified"] is True
    assert entry["size_bytes"] == manifest["size_bytes"]

    result = backup_cli(
        "restore", "latest", "--bucket", s3_bucket, "--prefix", "database",
        "--target-url", empty_database.url,
    )  # fmt: skip
    assert result.returncode == 0, result.stderr
    assert "MISMATCH" not in result.stdout and '"Audit Log"' in result.stdout
    assert empty_database.fingerprints() == source
    # Sequences come back too: the next row gets the next id, not a duplicate key.
    assert empty_database.sql(
        "INSERT INTO devices (slug, name, created_at) VALUES ('new', 'New', now()) RETURNING id"
    ) == [(2001,)]
    assert empty_database.sql("SELECT count(*) FROM active_guides") == [(48_000,)]


def test_a_non_empty_target_is_refused_unless_clean_which_replaces_the_data(
    backup_cli: RunCli, small_database: Database, postgres_server: PostgresServer, s3_bucket: str
) -> None:
    created(backup_cli, small_database, s3_bucket)
    source = small_database.fingerprints()
    target = Database(postgres_server.create_database("target_" + small_database.name), "")
    target.sql("CREATE TABLE precious (note text); INSERT INTO precious VALUES ('keep me')")

    refused = backup_cli("restore", "latest", "--bucket", s3_bucket, "--target-url", target.url)
    assert refused.returncode == 32
    assert "not empty" in refused.stderr and "--clean" in refused.stderr
    assert target.sql("SELECT note FROM precious") == [("keep me",)]

    restored_once = backup_cli(
        "restore", "latest", "--bucket", s3_bucket, "--target-url", target.url, "--clean"
    )
    assert restored_once.returncode == 0, restored_once.stderr
    # A target that has drifted from the backup since: changed, extra and missing rows.
    target.sql("DELETE FROM steps WHERE position % 2 = 0; UPDATE devices SET name = 'changed'")
    target.sql("INSERT INTO archive.old_chats VALUES (999999, 'extra', NULL)")

    result = backup_cli(
        "restore", "latest", "--bucket", s3_bucket, "--target-url", target.url, "--clean"
    )
    assert result.returncode == 0, result.stderr
    fingerprints = target.fingerprints()
    assert {t: v for t, v in fingerprints.items() if t != "public.precious"} == source
    # --clean replaces the backup's own objects; tables it does not know stay.
    assert target.sql("SELECT note FROM precious") == [("keep me",)]


@pytest.mark.parametrize(
    ("flags", "said"),
    [((), "the restore transaction was rolled back"), (("--verify-first",), "not touched")],
    ids=["streamed", "verify-first"],
)
def test_a_corrupted_dump_is_refused_and_the_target_is_not_touched(
    backup_cli: RunCli,
    small_database: Database,
    empty_database: Database,
    s3_server: S3Server,
    s3_bucket: str,
    flags: tuple[str, ...],
    said: str,
) -> None:
    manifest = created(backup_cli, small_database, s3_bucket)
    client = s3_server.client()
    data = bytearray(client.get_object(Bucket=s3_bucket, Key=manifest["key"])["Body"].read())
    data[len(data) // 2] ^= 0xFF  # one flipped byte, same size
    client.put_object(Bucket=s3_bucket, Key=manifest["key"], Body=bytes(data))

    result = backup_cli(
        "restore", manifest["key"], "--bucket", s3_bucket, "--target-url", empty_database.url,
        *flags,
    )  # fmt: skip
    assert result.returncode == 30, result.stderr
    assert "corrupted" in result.stderr and said in result.stderr
    assert empty_database.fingerprints() == {}


def test_a_dump_that_does_not_match_its_manifest_is_applied_but_never_committed(
    backup_cli: RunCli,
    small_database: Database,
    postgres_server: PostgresServer,
    s3_server: S3Server,
    s3_bucket: str,
) -> None:
    """The dump itself is intact (valid gzip, valid SQL) but its sha256 is not the manifest's:
    the whole dump goes through psql, and the check at the end rolls it all back, the --clean
    drops included."""
    manifest = created(backup_cli, small_database, s3_bucket)
    target = Database(postgres_server.create_database("drifted_" + small_database.name), "")
    restored = backup_cli(
        "restore", "latest", "--bucket", s3_bucket, "--target-url", target.url, "--clean"
    )
    assert restored.returncode == 0, restored.stderr
    target.sql("DELETE FROM steps WHERE position % 2 = 0; UPDATE devices SET name = 'changed'")
    before = target.fingerprints()
    client = s3_server.client()
    manifest_key = manifest["key"].removesuffix(".sql.gz") + ".manifest.json"
    stored = json.loads(client.get_object(Bucket=s3_bucket, Key=manifest_key)["Body"].read())
    stored["sha256"] = "0" * 64
    client.put_object(Bucket=s3_bucket, Key=manifest_key, Body=json.dumps(stored).encode())

    result = backup_cli(
        "restore", "latest", "--bucket", s3_bucket, "--target-url", target.url, "--clean",
        "--progress-interval", "0",
    )  # fmt: skip
    assert result.returncode == 30, result.stderr
    assert "downloaded and applied" in result.stderr  # it did go through psql
    assert f"but the manifest says {'0' * 64}" in result.stderr
    assert "rolled back, the target is unchanged" in result.stderr
    assert target.fingerprints() == before


def test_prune_keeps_the_newest_backup_and_removes_old_and_abandoned_ones(
    backup_cli: RunCli, small_database: Database, s3_server: S3Server, s3_bucket: str
) -> None:
    keys = [
        created(backup_cli, small_database, s3_bucket, "--prefix", "db")["key"] for _ in range(3)
    ]
    client = s3_server.client()
    abandoned = "db/repairgpt-20200101T000000.000Z.sql.gz"  # a dump that never got its manifest
    client.put_object(Bucket=s3_bucket, Key=abandoned, Body=b"partial")
    client.put_object(Bucket=s3_bucket, Key="db/README.txt", Body=b"not a backup")

    entries = listed(backup_cli, s3_bucket, "--prefix", "db")
    assert [e["key"] for e in entries] == [*reversed(keys), abandoned]  # newest first
    assert [e["verified"] for e in entries] == [True, True, True, False]

    dry = backup_cli(
        "prune", "--bucket", s3_bucket, "--prefix", "db", "--retention-days", "0", "--dry-run"
    )
    assert dry.returncode == 0, dry.stderr
    assert "would delete" in dry.stdout
    assert len(bucket_keys(s3_server, s3_bucket)) == 8

    month = backup_cli("prune", "--bucket", s3_bucket, "--prefix", "db", "--retention-days", "30")
    assert month.returncode == 0, month.stderr
    assert len(bucket_keys(s3_server, s3_bucket)) == 8
    # The abandoned dump was written moments ago: it may belong to a backup still running.
    assert f"kept {abandoned}: incomplete but recent" in month.stdout

    everything = backup_cli(
        "prune", "--bucket", s3_bucket, "--prefix", "db", "--retention-days", "0", "--json"
    )
    assert everything.returncode == 0, everything.stderr
    newest = [keys[-1], keys[-1].replace(".sql.gz", ".manifest.json")]
    assert bucket_keys(s3_server, s3_bucket) == sorted(["db/README.txt", abandoned, *newest])

    # A day later the abandoned dump and an upload that never finished are debris.
    unfinished = client.create_multipart_upload(
        Bucket=s3_bucket, Key="db/repairgpt-20200102T000000.000Z.sql.gz"
    )["UploadId"]
    location = S3Location(bucket=s3_bucket, prefix="db", endpoint_url=s3_server.endpoint_url)
    plan = prune_backups(
        location=location,
        retention_days=0,
        now=datetime.now(UTC) + timedelta(days=2),
        client=client,
    )
    assert [u.upload_id for u in plan.abort_uploads] == [unfinished]
    assert bucket_keys(s3_server, s3_bucket) == sorted(["db/README.txt", *newest])
    assert pending_uploads(s3_server, s3_bucket) == []


def test_an_unreachable_s3_fails_fast_with_a_clear_message(
    backup_cli: RunCli, small_database: Database
) -> None:
    started = time.monotonic()
    result = backup_cli(
        "create", "--database-url", small_database.url.replace("postgres@", "postgres:hunter2@"),
        "--bucket", "backups", "--endpoint-url", f"http://127.0.0.1:{free_port()}",
    )  # fmt: skip
    assert result.returncode == 10
    assert "cannot reach S3" in result.stderr
    assert "hunter2" not in result.stderr
    assert time.monotonic() - started < 60


def test_a_missing_bucket_is_named_in_the_error(
    backup_cli: RunCli, small_database: Database
) -> None:
    result = backup_cli(
        "create", "--database-url", small_database.url, "--bucket", "no-such-bucket"
    )
    assert result.returncode == 12
    assert "'no-such-bucket' does not exist" in result.stderr
    listing = backup_cli("list", "--bucket", "no-such-bucket")
    assert listing.returncode == 12


def test_credentials_the_store_rejects_are_reported_as_such(
    backup_cli: RunCli, small_database: Database, s3_requiring_auth: str
) -> None:
    result = backup_cli(
        "create", "--database-url", small_database.url, "--bucket", "backups",
        "--endpoint-url", s3_requiring_auth,
    )  # fmt: skip
    assert result.returncode == 11, result.stderr
    assert "rejected the credentials" in result.stderr
    assert "testing" not in result.stderr.replace("AWS_ACCESS_KEY_ID", "")  # no secret key echoed


def test_an_unreachable_database_writes_nothing_and_hides_the_password(
    backup_cli: RunCli, s3_server: S3Server, s3_bucket: str
) -> None:
    url = f"postgresql://app:hunter2@127.0.0.1:{free_port()}/repairgpt"
    result = backup_cli("create", "--database-url", url, "--bucket", s3_bucket)
    assert result.returncode == 20
    assert "cannot connect" in result.stderr and "app:***@" in result.stderr
    assert "hunter2" not in result.stderr
    assert bucket_keys(s3_server, s3_bucket) == []


def test_a_dump_that_fails_midway_leaves_no_object_and_no_open_upload(
    backup_cli: RunCli, small_database: Database, s3_server: S3Server, s3_bucket: str
) -> None:
    # A role that may connect but not read one table: pg_dump fails after the upload has begun.
    role = "limited_" + small_database.name[4:]
    small_database.sql(
        f"CREATE ROLE {role} LOGIN; GRANT USAGE ON SCHEMA public, archive TO {role};"
        f" GRANT SELECT ON ALL TABLES IN SCHEMA public TO {role};"
        f" REVOKE SELECT ON guides FROM {role}"
    )
    url = small_database.url.replace("postgresql://postgres@", f"postgresql://{role}@")
    result = backup_cli("create", "--database-url", url, "--bucket", s3_bucket)
    assert result.returncode != 0
    assert "permission denied" in result.stderr
    assert bucket_keys(s3_server, s3_bucket) == []
    assert pending_uploads(s3_server, s3_bucket) == []


def test_restore_of_a_backup_that_does_not_exist_says_so(
    backup_cli: RunCli, empty_database: Database, s3_bucket: str
) -> None:
    latest = backup_cli(
        "restore", "latest", "--bucket", s3_bucket, "--target-url", empty_database.url
    )
    assert latest.returncode == 31
    assert "no successful backup" in latest.stderr
    named = backup_cli(
        "restore", "repairgpt-20200101T000000.000Z.sql.gz", "--bucket", s3_bucket,
        "--target-url", empty_database.url,
    )  # fmt: skip
    assert named.returncode == 31


def test_the_backup_commands_also_run_as_a_module_of_their_own() -> None:
    result = subprocess.run(
        [sys.executable, "-m", "repairgpt.backup", "backup", "restore", "--help"],
        capture_output=True,
        text=True,
        check=False,
    )
    assert result.returncode == 0, result.stderr
    assert "--target-url" in result.stdout and "--clean" in result.stdout


def test_a_restore_that_fails_halfway_is_rolled_back_entirely(
    backup_cli: RunCli, small_database: Database, postgres_server: PostgresServer, s3_bucket: str
) -> None:
    created(backup_cli, small_database, s3_bucket)
    target = Database(postgres_server.create_database("fail_" + small_database.name), "")
    # The target's own view depends on `steps`, so the dump's DROP TABLE steps must fail.
    target.sql(
        "CREATE TABLE steps (guide_id bigint, position int, body text);"
        "INSERT INTO steps VALUES (1, 1, 'mine');"
        "CREATE VIEW my_steps AS SELECT body FROM steps;"
        "CREATE TABLE devices (id int); INSERT INTO devices VALUES (42);"
    )
    before = target.fingerprints()

    result = backup_cli(
        "restore", "latest", "--bucket", s3_bucket, "--target-url", target.url, "--clean"
    )
    assert result.returncode == 33, result.stderr
    assert "rolled back" in result.stderr and "my_steps" in result.stderr
    assert target.fingerprints() == before
    assert target.sql("SELECT body FROM my_steps") == [("mine",)]


def test_registering_the_backup_commands_leaves_boto3_and_psycopg_unloaded() -> None:
    # Every `repairgpt` command registers these subcommands; only backups should pay for them.
    probe = (
        "import sys, argparse; from repairgpt.backup.commands import add_backup_commands;"
        "add_backup_commands(argparse.ArgumentParser().add_subparsers());"
        "print(sorted({'boto3', 'botocore', 'psycopg'} & set(sys.modules)))"
    )
    result = subprocess.run(
        [sys.executable, "-c", probe], capture_output=True, text=True, check=True
    )
    assert result.stdout.strip() == "[]"


def test_the_result_file_says_where_the_backup_went_for_the_operator(
    backup_cli: RunCli, small_database: Database, s3_bucket: str, tmp_path: Any
) -> None:
    result_file = tmp_path / "termination-log"
    manifest = created(backup_cli, small_database, s3_bucket, "--result-file", str(result_file))
    result = json.loads(result_file.read_text())
    assert result == {
        "key": manifest["key"],
        "location": f"s3://{s3_bucket}/{manifest['key']}",
        "size_bytes": manifest["size_bytes"],
        "sha256": manifest["sha256"],
    }
    assert len(result_file.read_bytes()) < 4096, "fits a Kubernetes termination message"


def test_restore_reads_the_target_url_from_the_environment_not_from_its_arguments(
    backup_cli: RunCli, small_database: Database, empty_database: Database, s3_bucket: str
) -> None:
    created(backup_cli, small_database, s3_bucket)
    result = backup_cli(
        "restore", "latest", "--bucket", s3_bucket, env={"RESTORE_TARGET_URL": empty_database.url}
    )
    assert result.returncode == 0, result.stderr
    assert empty_database.fingerprints() == small_database.fingerprints()


def test_restore_without_a_target_names_both_ways_to_give_one(
    backup_cli: RunCli, s3_bucket: str
) -> None:
    result = backup_cli("restore", "latest", "--bucket", s3_bucket, env={"RESTORE_TARGET_URL": ""})
    assert result.returncode == 2
    assert "--target-url or RESTORE_TARGET_URL is required" in result.stderr


def test_find_names_the_backup_latest_stands_for_and_writes_it_for_the_operator(
    backup_cli: RunCli, small_database: Database, s3_bucket: str, tmp_path: Any
) -> None:
    created(backup_cli, small_database, s3_bucket)
    newest = created(backup_cli, small_database, s3_bucket)
    result_file = tmp_path / "termination-log"
    found = backup_cli("find", "latest", "--bucket", s3_bucket, "--result-file", str(result_file))
    assert found.returncode == 0, found.stderr
    assert found.stdout.strip() == newest["key"]
    result = json.loads(result_file.read_text())
    assert (result["key"], result["location"]) == (
        newest["key"],
        f"s3://{s3_bucket}/{newest['key']}",
    )
    missing = backup_cli("find", "latest", "--bucket", s3_bucket, "--prefix", "elsewhere/")
    assert missing.returncode == 31
    assert "no successful backup" in missing.stderr
