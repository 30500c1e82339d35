"""The `repairgpt backup create|find|list|restore|verify|prune` commands and their arguments."""

from __future__ import annotations

import argparse
import logging
import os
import signal
import sys
import textwrap
import threading
from collections.abc import Callable
from dataclasses import dataclass
from functools import partial
from pathlib import Path
from types import FrameType
from typing import Any, TypeAlias

from repairgpt.backup import subcommands
from repairgpt.backup.errors import EXIT_CODE_MEANINGS, BackupError
from repairgpt_contract.argv import RESTORE_TARGET_ENV
from repairgpt_contract.exit_codes import INTERRUPTED_EXIT_CODE, terminated_exit_code
from repairgpt_contract.messages import INTERRUPTED_NOTICE, TERMINATED_NOTICE, format_error

# The command bodies import boto3 and psycopg when they run, not when `repairgpt` starts.
Command = Callable[[argparse.Namespace], int]
Subparsers: TypeAlias = "argparse._SubParsersAction[argparse.ArgumentParser]"


def exit_codes_epilog() -> str:
    lines = [f"  {int(code):>3}  {meaning}" for code, meaning in EXIT_CODE_MEANINGS.items()]
    return "exit codes:\n" + "\n".join(lines)


def add_backup_commands(subparsers: Subparsers) -> None:
    """Register `backup` with its subcommands on the main `repairgpt` parser."""
    backup = subparsers.add_parser(
        "backup",
        help="PostgreSQL backups to S3: create, find, list, restore, verify, prune",
        description=textwrap.fill(
            "Back up the database to S3 and restore it. S3 credentials come from the "
            "standard AWS environment (AWS_ACCESS_KEY_ID, AWS_SECRET_ACCESS_KEY, "
            "AWS_ENDPOINT_URL, AWS_DEFAULT_REGION, ...) unless given as flags."
        ),
        epilog=exit_codes_epilog(),
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    commands = backup.add_subparsers(dest="backup_command", required=True, metavar="COMMAND")
    for subcommand in SUBCOMMANDS:
        parser = commands.add_parser(
            subcommand.name,
            help=subcommand.summary,
            description=textwrap.fill(subcommand.description) if subcommand.description else None,
            epilog=exit_codes_epilog(),
            formatter_class=argparse.RawDescriptionHelpFormatter,
        )
        parser.set_defaults(func=_guarded(subcommand.body))
        for add_arguments in subcommand.arguments:
            add_arguments(parser)


# Each adds one or more arguments to a subcommand's parser; defaults that come from the
# environment are read when the parser is built.
Arguments = Callable[[argparse.ArgumentParser], None]


def _add_key(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("key", metavar="latest|KEY", help="`latest` or a dump key")


def _add_location(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--bucket", required=True, help="S3 bucket of the backups")
    parser.add_argument("--prefix", default="", help="folder in the bucket, e.g. database/")
    parser.add_argument(
        "--endpoint-url", default=None, help="S3 endpoint (default: $AWS_ENDPOINT_URL or AWS)"
    )
    parser.add_argument("--region", default=None, help="S3 region (default: $AWS_DEFAULT_REGION)")
    parser.add_argument(
        "--progress-interval",
        type=float,
        default=5.0,
        help="seconds between progress lines on stderr; negative for none (default: 5)",
    )


def _add_tools(parser: argparse.ArgumentParser) -> None:
    parser.add_argument(
        "--pg-bin-dir",
        type=Path,
        default=Path(os.environ["PG_BIN_DIR"]) if os.environ.get("PG_BIN_DIR") else None,
        help="folder of pg_dump/psql to use (default: $PG_BIN_DIR, then PATH)",
    )


def _add_target_url(parser: argparse.ArgumentParser) -> None:
    parser.add_argument(
        "--target-url",
        default=os.environ.get(RESTORE_TARGET_ENV),
        help=f"database to restore into (default: ${RESTORE_TARGET_ENV}, which keeps the URL out "
        "of the process list); postgresql+psycopg:// is accepted",
    )


def _add_spool_dir(parser: argparse.ArgumentParser) -> None:
    parser.add_argument(
        "--spool-dir",
        type=Path,
        default=None,
        help="with --verify-first: where the compressed dump is kept (default: TMPDIR)",
    )


def _add_retention_days(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--retention-days", type=_non_negative_int, required=True)


def _database_url(help_text: str) -> Arguments:
    return partial(_add_option, flag="--database-url", default_env="DATABASE_URL", help=help_text)


def _result_file(help_text: str) -> Arguments:
    return partial(_add_option, flag="--result-file", type=Path, help=help_text)


def _switch(flag: str, help_text: str) -> Arguments:
    return partial(_add_option, flag=flag, action="store_true", help=help_text)


def _count(flag: str, default: int, help_text: str) -> Arguments:
    help_text = f"{help_text} (default: {default})"
    return partial(_add_option, flag=flag, type=_positive_int, default=default, help=help_text)


def _add_option(
    parser: argparse.ArgumentParser, *, flag: str, default_env: str | None = None, **settings: Any
) -> None:
    if default_env is not None:
        settings["default"] = os.environ.get(default_env)
    parser.add_argument(flag, **settings)


def _positive_int(text: str) -> int:
    value = int(text)
    if value < 1:
        raise argparse.ArgumentTypeError("must be at least 1")
    return value


def _non_negative_int(text: str) -> int:
    value = int(text)
    if value < 0:
        raise argparse.ArgumentTypeError("must be 0 or more")
    return value


@dataclass(frozen=True)
class Subcommand:
    """One `repairgpt backup` subcommand: its body and its arguments, in --help order."""

    name: str
    summary: str
    body: Command
    arguments: tuple[Arguments, ...]
    description: str = ""


SUBCOMMANDS = (
    Subcommand(
        "create",
        "dump the database into S3 with a manifest",
        subcommands.run_create,
        (
            _add_location,
            _database_url(
                "database to back up (default: $DATABASE_URL); postgresql+psycopg:// is accepted"
            ),
            _count(
                "--part-size-mib", 8, "multipart upload part size; memory use is about three parts"
            ),
            _count("--compress-threads", 2, "threads compressing the dump (gzip level 6)"),
            _add_tools,
            _switch("--json", "print the manifest as JSON"),
            _result_file(
                "also write {location, size_bytes, sha256} as JSON to this file, e.g. "
                "/dev/termination-log so that the operator can report where the backup went"
            ),
        ),
    ),
    Subcommand(
        "find",
        "name the backup that `latest` or a key stands for, without restoring",
        subcommands.run_find,
        (
            _add_key,
            _add_location,
            _switch("--json", "print JSON"),
            _result_file(
                "also write {key, location, taken_at} as JSON to this file, e.g. "
                "/dev/termination-log so that the operator can record which backup a restore uses"
            ),
        ),
    ),
    Subcommand(
        "list",
        "list backups, newest first",
        subcommands.run_list,
        (_add_location, _switch("--json", "print JSON")),
    ),
    Subcommand(
        "restore",
        "restore a backup in one transaction that commits only if its checksum matches",
        subcommands.run_restore,
        (
            _add_key,
            _add_location,
            _add_target_url,
            _switch(
                "--clean",
                "allow a non-empty target: the backup's objects are dropped and recreated",
            ),
            _switch(
                "--verify-first",
                "download and check the whole dump before connecting to the target (needs disk "
                "space for the compressed dump, see --spool-dir, and the download no longer "
                "overlaps the restore). By default the dump is applied as it downloads, in one "
                "transaction that commits only if the checksum matches",
            ),
            _add_spool_dir,
            _add_tools,
            _switch("--json", "print the report as JSON"),
            _result_file(
                "also write {key, location, tables, rows, counts_match, mismatches} as JSON to "
                "this file when the restore ends (also on a row count mismatch), e.g. "
                "/dev/termination-log"
            ),
        ),
    ),
    Subcommand(
        "verify",
        "restore a backup into a throwaway database, compare row counts with the manifest, drop it",
        subcommands.run_verify,
        (
            _add_key,
            _add_location,
            _database_url(
                "server to verify on, as any database URL on it (default: $DATABASE_URL); "
                "postgresql+psycopg:// is accepted"
            ),
            _switch(
                "--keep-database",
                "leave the throwaway database for inspection instead of dropping it",
            ),
            _add_tools,
            _switch("--json", "print the report as JSON"),
            _result_file(
                "also write {key, location, verified, tables, rows, mismatches, duration_seconds} "
                "as JSON to this file when the verification ends, e.g. /dev/termination-log"
            ),
        ),
        description="Test a backup by restoring it: on the server --database-url points at, "
        "create the database repairgpt_verify_<time>_<hex> (the role needs CREATEDB), restore "
        "the backup into it (committed only if its checksum matches), compare every table's row "
        "count with the manifest, and drop the database again (WITH (FORCE)), also when anything "
        "fails. The database --database-url names is only used to connect.",
    ),
    Subcommand(
        "prune",
        "delete backups older than N days, never the newest successful one",
        subcommands.run_prune,
        (
            _add_location,
            _add_retention_days,
            _switch("--dry-run", "only show what would be deleted"),
            _switch("--json", "print the plan as JSON"),
        ),
    ),
)


class _Terminated(Exception):
    def __init__(self, signum: int) -> None:
        super().__init__(signum)
        self.exit_code = terminated_exit_code(signum)


def _terminate(signum: int, frame: FrameType | None) -> None:
    # Unwinding (instead of dying) aborts the multipart upload and stops pg_dump.
    raise _Terminated(signum)


def _guarded(command: Command) -> Command:
    def run(args: argparse.Namespace) -> int:
        # botocore logs every credential lookup at INFO; the progress lines are what matters here.
        for name in ("botocore", "boto3", "urllib3"):
            logging.getLogger(name).setLevel(logging.WARNING)
        if threading.current_thread() is threading.main_thread():
            signal.signal(signal.SIGTERM, _terminate)
        try:
            return command(args)
        except BackupError as exc:
            print(format_error(exc.message), file=sys.stderr)
            return int(exc.exit_code)
        except KeyboardInterrupt:
            print(INTERRUPTED_NOTICE, file=sys.stderr)
            return INTERRUPTED_EXIT_CODE
        except _Terminated as exc:
            print(TERMINATED_NOTICE, file=sys.stderr)
            return exc.exit_code

    return run
