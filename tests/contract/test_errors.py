"""A failed backup command's error line and exit code are what the operator reports."""

from __future__ import annotations

import signal
from collections.abc import Iterator

import pytest

from repairgpt.backup.__main__ import main as backup_main
from repairgpt.backup.errors import EXIT_CODE_MEANINGS, BackupError
from repairgpt.backup.errors import ExitCode as AppExitCode
from repairgpt_contract.argv import RESTORE_TARGET_ENV
from repairgpt_contract.exit_codes import ExitCode
from repairgpt_contract.messages import ERROR_PREFIX, MAX_ERROR_LENGTH, error_from_log
from tests.utils.servers import S3Server


@pytest.fixture
def backup_command(monkeypatch: pytest.MonkeyPatch) -> Iterator[None]:
    """Runs `repairgpt backup` in this process; its SIGTERM handler is put back afterwards."""
    handler = signal.getsignal(signal.SIGTERM)
    monkeypatch.delenv(RESTORE_TARGET_ENV, raising=False)
    monkeypatch.delenv("DATABASE_URL", raising=False)
    yield
    signal.signal(signal.SIGTERM, handler)


@pytest.fixture
def s3_environment(s3_server: S3Server, monkeypatch: pytest.MonkeyPatch) -> None:
    for name, value in s3_server.env.items():
        monkeypatch.setenv(name, value)


@pytest.mark.usefixtures("backup_command")
def test_a_restore_without_a_target_names_what_is_missing(
    capsys: pytest.CaptureFixture[str],
) -> None:
    code = backup_main(["backup", "restore", "latest", "--bucket", "shop-backups"])
    err = capsys.readouterr().err
    assert code == ExitCode.USAGE
    assert err.startswith(ERROR_PREFIX)
    assert error_from_log(err) == f"--target-url or {RESTORE_TARGET_ENV} is required"


@pytest.mark.usefixtures("backup_command")
def test_a_backup_without_a_database_names_what_is_missing(
    capsys: pytest.CaptureFixture[str],
) -> None:
    code = backup_main(["backup", "create", "--bucket", "shop-backups"])
    assert code == ExitCode.USAGE
    assert error_from_log(capsys.readouterr().err) == "--database-url or DATABASE_URL is required"


@pytest.mark.usefixtures("backup_command", "s3_environment")
def test_a_missing_bucket_is_reported_with_its_own_exit_code(
    capsys: pytest.CaptureFixture[str],
) -> None:
    code = backup_main(["backup", "find", "latest", "--bucket", "no-such-bucket-h3"])
    error = error_from_log(capsys.readouterr().err)
    assert code == ExitCode.S3_BUCKET_MISSING
    assert error is not None and "no-such-bucket-h3" in error
    assert not error.startswith(ERROR_PREFIX)


@pytest.mark.usefixtures("backup_command", "s3_environment")
def test_a_missing_backup_is_reported_with_its_own_exit_code(
    s3_bucket: str, capsys: pytest.CaptureFixture[str]
) -> None:
    code = backup_main(["backup", "find", "db/repairgpt-nothing.sql.gz", "--bucket", s3_bucket])
    error = error_from_log(capsys.readouterr().err)
    assert code == ExitCode.BACKUP_NOT_FOUND
    assert error is not None and "repairgpt-nothing" in error


def test_the_last_error_line_wins_over_what_follows_it() -> None:
    log = (
        "backup db/k: uploaded: 1.0 MiB, 1.0 MiB/s\n"
        f"{ERROR_PREFIX} first\n"
        f"  {ERROR_PREFIX}   second failure  \n"
        "pg_dump: some noise after it\n\n"
    )
    assert error_from_log(log) == "second failure"


def test_without_an_error_line_the_last_line_is_the_error() -> None:
    assert error_from_log("Traceback (most recent call last):\n  boom\nValueError: x\n\n") == (
        "ValueError: x"
    )
    assert error_from_log("\n  \n") is None
    assert error_from_log("") is None


def test_an_error_is_cut_to_the_length_a_status_field_holds() -> None:
    assert error_from_log(f"{ERROR_PREFIX} {'x' * 2000}") == "x" * MAX_ERROR_LENGTH
    assert error_from_log("y" * 2000) == "y" * MAX_ERROR_LENGTH


def test_the_app_ends_with_the_contracts_exit_codes() -> None:
    assert AppExitCode is ExitCode
    assert set(EXIT_CODE_MEANINGS) == set(ExitCode)
    failures = [BackupError, *BackupError.__subclasses__()]
    assert {failure.exit_code for failure in failures} <= set(ExitCode)
