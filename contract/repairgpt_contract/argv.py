"""The command lines the operator runs in the app image, one builder per Job command."""

from __future__ import annotations

from typing import Final

from repairgpt_contract.results import TERMINATION_LOG

PROGRAM: Final = "repairgpt"
LATEST: Final = "latest"
# Read by `repairgpt backup restore` when --target-url is not given: an argument would show the
# URL in the node's process list.
RESTORE_TARGET_ENV: Final = "RESTORE_TARGET_URL"
# Progress lines every 30 s are enough in a pod log.
JOB_PROGRESS_INTERVAL_SECONDS = 30


def location_argv(*, bucket: str, prefix: str) -> list[str]:
    """`--bucket BUCKET --prefix PREFIX`, the S3 location of every backup command."""
    return ["--bucket", bucket, "--prefix", prefix]


def _progress_and_result() -> list[str]:
    return [
        "--progress-interval",
        str(JOB_PROGRESS_INTERVAL_SECONDS),
        "--result-file",
        TERMINATION_LOG,
    ]


def _backup(command: str, *arguments: str, bucket: str, prefix: str) -> list[str]:
    """`repairgpt backup COMMAND ARGUMENTS... --bucket BUCKET --prefix PREFIX`."""
    return [PROGRAM, "backup", command, *arguments, *location_argv(bucket=bucket, prefix=prefix)]


def backup_create_argv(*, bucket: str, prefix: str) -> list[str]:
    """`repairgpt backup create`, its result (where the dump went) in the termination message."""
    return [*_backup("create", bucket=bucket, prefix=prefix), *_progress_and_result()]


def backup_prune_argv(*, bucket: str, prefix: str, retention_days: int) -> list[str]:
    """`repairgpt backup prune`, the retention pass after a successful dump."""
    return [
        *_backup("prune", bucket=bucket, prefix=prefix),
        "--retention-days",
        str(retention_days),
    ]


def backup_verify_argv(*, bucket: str, prefix: str, key: str = LATEST) -> list[str]:
    """`repairgpt backup verify`: restore into a throwaway database and compare row counts."""
    return [*_backup("verify", key, bucket=bucket, prefix=prefix), *_progress_and_result()]


def backup_restore_argv(key: str, *, bucket: str, prefix: str, clean: bool) -> list[str]:
    """`repairgpt backup restore KEY` into the database of $RESTORE_TARGET_URL."""
    argv = [*_backup("restore", key, bucket=bucket, prefix=prefix), *_progress_and_result()]
    if clean:
        argv.append("--clean")
    return argv


def backup_find_argv(key: str, *, bucket: str, prefix: str) -> list[str]:
    """`repairgpt backup find KEY`: name the backup `latest` stands for, without restoring."""
    return [*_backup("find", key, bucket=bucket, prefix=prefix), "--result-file", TERMINATION_LOG]


def prune_chats_argv(*, older_than_days: int, batch_size: int) -> list[str]:
    """`repairgpt db prune-chats`, its JSON result also in the termination message."""
    return [
        PROGRAM,
        "db",
        "prune-chats",
        "--older-than-days",
        str(older_than_days),
        "--batch-size",
        str(batch_size),
        "--result-file",
        TERMINATION_LOG,
    ]
