"""Every command line the operator builds is one the app's own parser accepts as meant."""

from __future__ import annotations

import argparse
from importlib.metadata import entry_points
from pathlib import Path

import pytest

from repairgpt.cli import build_parser, cmd_db_prune_chats
from repairgpt_contract.argv import (
    PROGRAM,
    RESTORE_TARGET_ENV,
    backup_create_argv,
    backup_find_argv,
    backup_prune_argv,
    backup_restore_argv,
    backup_verify_argv,
    prune_chats_argv,
)
from repairgpt_contract.results import TERMINATION_LOG

BUCKET = "shop-backups"
PREFIX = "db/"
KEY = "db/repairgpt-20261128T224501.000Z.sql.gz"


def parsed(argv: list[str]) -> argparse.Namespace:
    """The arguments `repairgpt` itself makes of a command line the operator runs."""
    assert argv[0] == PROGRAM
    return build_parser().parse_args(argv[1:])


def assert_location_progress_and_result(args: argparse.Namespace) -> None:
    assert (args.command, args.bucket, args.prefix) == ("backup", BUCKET, PREFIX)
    assert args.progress_interval == 30.0
    assert args.result_file == Path(TERMINATION_LOG)


def test_the_program_the_operator_runs_is_the_installed_repairgpt_command() -> None:
    (script,) = entry_points(group="console_scripts", name=PROGRAM)
    assert script.value == "repairgpt.cli:main"


def test_the_backup_command_line_dumps_into_the_location_and_reports_to_the_operator() -> None:
    argv = backup_create_argv(bucket=BUCKET, prefix=PREFIX)
    assert argv == [
        "repairgpt", "backup", "create", "--bucket", BUCKET, "--prefix", PREFIX,
        "--progress-interval", "30", "--result-file", "/dev/termination-log",
    ]  # fmt: skip
    args = parsed(argv)
    assert args.backup_command == "create"
    assert_location_progress_and_result(args)
    assert not args.json


def test_the_prune_command_line_keeps_backups_for_the_retention_days() -> None:
    argv = backup_prune_argv(bucket=BUCKET, prefix=PREFIX, retention_days=30)
    assert argv == [
        "repairgpt", "backup", "prune", "--bucket", BUCKET, "--prefix", PREFIX,
        "--retention-days", "30",
    ]  # fmt: skip
    args = parsed(argv)
    assert (args.backup_command, args.bucket, args.prefix) == ("prune", BUCKET, PREFIX)
    assert args.retention_days == 30
    assert not args.dry_run


def test_the_verify_command_line_tests_the_newest_backup() -> None:
    argv = backup_verify_argv(bucket=BUCKET, prefix=PREFIX)
    assert argv == [
        "repairgpt", "backup", "verify", "latest", "--bucket", BUCKET, "--prefix", PREFIX,
        "--progress-interval", "30", "--result-file", "/dev/termination-log",
    ]  # fmt: skip
    args = parsed(argv)
    assert (args.backup_command, args.key) == ("verify", "latest")
    assert_location_progress_and_result(args)
    assert not args.keep_database


@pytest.mark.parametrize("clean", [False, True], ids=["into-an-empty-database", "clean"])
def test_the_restore_command_line_reads_its_target_from_the_environment(
    clean: bool, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv(RESTORE_TARGET_ENV, "postgresql://restore@db/target")
    argv = backup_restore_argv(KEY, bucket=BUCKET, prefix=PREFIX, clean=clean)
    assert argv == [
        "repairgpt", "backup", "restore", KEY, "--bucket", BUCKET, "--prefix", PREFIX,
        "--progress-interval", "30", "--result-file", "/dev/termination-log",
        *(["--clean"] if clean else []),
    ]  # fmt: skip
    args = parsed(argv)
    assert (args.backup_command, args.key, args.clean) == ("restore", KEY, clean)
    assert_location_progress_and_result(args)
    assert args.target_url == "postgresql://restore@db/target"
    assert not args.verify_first


def test_the_find_command_line_names_the_backup_a_restore_of_latest_uses() -> None:
    argv = backup_find_argv("latest", bucket=BUCKET, prefix=PREFIX)
    assert argv == [
        "repairgpt", "backup", "find", "latest", "--bucket", BUCKET, "--prefix", PREFIX,
        "--result-file", "/dev/termination-log",
    ]  # fmt: skip
    args = parsed(argv)
    assert (args.backup_command, args.key, args.bucket, args.prefix) == (
        "find",
        "latest",
        BUCKET,
        PREFIX,
    )
    assert args.result_file == Path(TERMINATION_LOG)


def test_the_chat_retention_command_line_prunes_in_batches_and_reports_to_the_operator() -> None:
    argv = prune_chats_argv(older_than_days=365, batch_size=5000)
    assert argv == [
        "repairgpt", "db", "prune-chats", "--older-than-days", "365", "--batch-size", "5000",
        "--result-file", "/dev/termination-log",
    ]  # fmt: skip
    args = parsed(argv)
    assert (args.command, args.db_command, args.func) == ("db", "prune-chats", cmd_db_prune_chats)
    assert (args.older_than_days, args.older_than, args.batch_size) == (365, None, 5000)
    assert args.result_file == TERMINATION_LOG
    assert not args.dry_run
