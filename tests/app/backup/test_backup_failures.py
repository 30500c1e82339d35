"""How failures are explained: each cause gets its own message and exit code (no servers)."""

from __future__ import annotations

import io

import pytest
from botocore.exceptions import ClientError, EndpointConnectionError, NoCredentialsError

from repairgpt.backup.errors import BackupError, ExitCode
from repairgpt.backup.pg_tools import (
    check_dump_compatible,
    explain_dump_failure,
    parse_tool_version,
)
from repairgpt.backup.progress import Progress
from repairgpt.backup.s3 import MiB, S3Location, part_size_for, s3_failure
from repairgpt.backup.snapshot import split_label, table_label

LOCATION = S3Location(bucket="backups", prefix="db", endpoint_url="http://127.0.0.1:1")


def client_error(code: str, message: str = "") -> ClientError:
    return ClientError({"Error": {"Code": code, "Message": message}}, "PutObject")


@pytest.mark.parametrize(
    ("error", "exit_code", "says"),
    [
        (NoCredentialsError(), ExitCode.S3_BAD_CREDENTIALS, "AWS_ACCESS_KEY_ID"),
        (client_error("InvalidAccessKeyId"), ExitCode.S3_BAD_CREDENTIALS, "credentials"),
        (client_error("SignatureDoesNotMatch"), ExitCode.S3_BAD_CREDENTIALS, "credentials"),
        (client_error("AccessDenied"), ExitCode.S3_BAD_CREDENTIALS, "permissions"),
        (client_error("NoSuchBucket"), ExitCode.S3_BUCKET_MISSING, "'backups' does not exist"),
        (
            EndpointConnectionError(endpoint_url="http://127.0.0.1:1"),
            ExitCode.S3_UNREACHABLE,
            "cannot reach S3",
        ),
        (client_error("SlowDown", "reduce your rate"), ExitCode.S3_ERROR, "reduce your rate"),
    ],
)
def test_each_s3_failure_gets_its_own_exit_code_and_message(
    error: Exception, exit_code: ExitCode, says: str
) -> None:
    failure = s3_failure(error, LOCATION, "uploading")
    assert failure.exit_code == exit_code
    assert says in failure.message
    # Every message names the location, but "no credentials": nothing was sent anywhere.
    names_location = not isinstance(error, NoCredentialsError)
    assert ("s3://backups/db/" in failure.message) is names_location


REAL_MISMATCH = (
    "pg_dump: error: aborting because of server version mismatch\n"
    "pg_dump: detail: server version: 16.1 (Debian 16.1-1.pgdg120+1); "
    "pg_dump version: 15.18 (Debian 15.18-0+deb12u1)\n"
)


def test_pg_dumps_server_version_mismatch_is_explained_with_a_fix() -> None:
    failure = explain_dump_failure(REAL_MISMATCH, 1)
    assert failure.exit_code == ExitCode.VERSION_MISMATCH
    assert "pg_dump 15.18 cannot dump a PostgreSQL 16.1 server" in failure.message
    assert "postgresql-client-16" in failure.message


def test_a_newer_server_is_refused_before_any_dump_starts() -> None:
    with pytest.raises(BackupError) as caught:
        check_dump_compatible(server_version_num=170002, pg_dump_version="15.18")
    assert caught.value.exit_code == ExitCode.VERSION_MISMATCH
    check_dump_compatible(server_version_num=150018, pg_dump_version="15.18")
    check_dump_compatible(server_version_num=140010, pg_dump_version="15.18")


def test_other_pg_dump_failures_keep_the_end_of_its_message() -> None:
    failure = explain_dump_failure("pg_dump: error: query failed: permission denied\n", 1)
    assert failure.exit_code == ExitCode.DUMP_FAILED
    assert "permission denied" in failure.message
    unreachable = explain_dump_failure(
        'pg_dump: error: connection to server at "db" (10.0.0.1), port 5432 failed\n', 1
    )
    assert unreachable.exit_code == ExitCode.DATABASE_UNREACHABLE


@pytest.mark.parametrize(
    ("output", "version"),
    [
        ("pg_dump (PostgreSQL) 15.18 (Debian 15.18-0+deb12u1)\n", "15.18"),
        ("pg_dump (PostgreSQL) 17devel\n", "17"),
        ("psql (PostgreSQL) 9.6.24\n", "9.6"),
        ("something else", None),
    ],
)
def test_tool_versions_are_read_from_their_banner(output: str, version: str | None) -> None:
    assert parse_tool_version(output) == version


@pytest.mark.parametrize(
    ("schema", "table", "label"),
    [("public", "guides", "public.guides"), ("Odd Schema", 'we"ird.t', '"Odd Schema"."we""ird.t"')],
)
def test_table_names_in_the_manifest_round_trip_even_when_quoted(
    schema: str, table: str, label: str
) -> None:
    assert table_label(schema, table) == label
    assert split_label(label) == (schema, table)


def test_parts_stay_small_until_a_dump_would_outgrow_the_s3_part_limit() -> None:
    assert part_size_for(1) == 8 * MiB
    assert part_size_for(2000) == 8 * MiB
    assert part_size_for(2001) == 16 * MiB
    total = sum(part_size_for(n) for n in range(1, 10_001))
    assert total > 200 * 1024 * MiB  # over 200 GiB of compressed dump in 10,000 parts
    assert max(part_size_for(n) for n in range(1, 10_001)) <= 512 * MiB


def test_progress_lines_report_amount_and_rate_at_intervals() -> None:
    now = [0.0]
    out = io.StringIO()
    progress = Progress("restore", total=200 * MiB, interval=5, stream=out, clock=lambda: now[0])
    progress.add(10 * MiB)
    assert out.getvalue() == ""
    now[0] = 5.0
    progress.add(40 * MiB)
    assert out.getvalue() == "restore: 50.0 MiB of 200.0 MiB (25 %), 10.0 MiB/s\n"
