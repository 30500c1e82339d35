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
from pathlib import Path
from types import FrameType
from typing import TypeAlias

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
    _add_create(commands)
    _add_find(commands)
    _add_list(commands)
    _add_restore(commands)
    _add_verify(commands)
    _add_prune(commands)


def _command(
    commands: Subparsers, name: str, summary: str, body: Command
) -> argparse.ArgumentParser:
    parser = commands.add_parser(
        name,
        help=summary,
        epilog=exit_codes_epilog(),
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    parser.set_defaults(func=_guarded(body))
    return parser


def _add_create(commands: Subparsers) -> None:
    create = _command(
        commands, "create", "dump the database into S3 with a manifest", subcommands.run_create
    )
    _add_location(create)
    _add_database_url(
        create,
        "database to back up (default: $DATABASE_URL); postgresql+psycopg:// is accepted",
    )
    create.add_argument(
        "--part-size-mib",
        type=_positive_int,
        default=8,
        help="multipart upload part size; memory use is about three parts (default: 8)",
    )
    create.add_argument(
        "--compress-threads",
        type=_positive_int,
        default=2,
        help="threads compressing the dump (gzip level 6) (default: 2)",
    )
    _add_tools(create)
    create.add_argument("--json", action="store_true", help="print the manifest as JSON")
    _add_result_file(
        create,
        "also write {location, size_bytes, sha256} as JSON to this file, e.g. "
        "/dev/termination-log so that the operator can report where the backup went",
    )


def _add_find(commands: Subparsers) -> None:
    find = _command(
        commands,
        "find",
        "name the backup that `latest` or a key stands for, without restoring",
        subcommands.run_find,
    )
    _add_key(find)
    _add_location(find)
    find.add_argument("--json", action="store_true", help="print JSON")
    _add_result_file(
        find,
        "also write {key, location, taken_at} as JSON to this file, e.g. "
        "/dev/termination-log so that the operator can record which backup a restore uses",
    )


def _add_list(commands: Subparsers) -> None:
    listing = _command(commands, "list", "list backups, newest first", subcommands.run_list)
    _add_location(listing)
    listing.add_argument("--json", action="store_true", help="print JSON")


def _add_restore(commands: Subparsers) -> None:
    restore = _command(
        commands,
        "restore",
        "restore a backup in one transaction that commits only if its checksum matches",
        subcommands.run_restore,
    )
    _add_key(restore)
    _add_location(restore)
    restore.add_argument(
        "--target-url",
        default=os.environ.get(RESTORE_TARGET_ENV),
        help=f"database to restore into (default: ${RESTORE_TARGET_ENV}, which keeps the URL out "
        "of the process list); postgresql+psycopg:// is accepted",
    )
    restore.add_argument(
        "--clean",
        action="store_true",
        help="allow a non-empty target: the backup's objects are dropped and recreated",
    )
    restore.add_argument(
        "--verify-first",
        action="store_true",
        help="download and check the whole dump before connecting to the target (needs disk "
        "space for the compressed dump, see --spool-dir, and the download no longer overlaps "
        "the restore). By default the dump is applied as it downloads, in one transaction "
        "that commits only if the checksum matches",
    )
    restore.add_argument(
        "--spool-dir",
        type=Path,
        default=None,
        help="with --verify-first: where the compressed dump is kept (default: TMPDIR)",
    )
    _add_tools(restore)
    restore.add_argument("--json", action="store_true", help="print the report as JSON")
    _add_result_file(
        restore,
        "also write {key, location, tables, rows, counts_match, mismatches} as JSON to this "
        "file when the restore ends (also on a row count mismatch), e.g. /dev/termination-log",
    )


def _add_verify(commands: Subparsers) -> None:
    verify = _command(
        commands,
        "verify",
        "restore a backup into a throwaway database, compare row counts with the manifest, drop it",
        subcommands.run_verify,
    )
    verify.description = textwrap.fill(
        "Test a backup by restoring it: on the server --database-url points at, create the "
        "database repairgpt_verify_<time>_<hex> (the role needs CREATEDB), restore the backup "
        "into it (committed only if its checksum matches), compare every table's row count "
        "with the manifest, and drop the database again (WITH (FORCE)), also when anything fails. "
        "The database --database-url names is only used to connect."
    )
    _add_key(verify)
    _add_location(verify)
    _add_database_url(
        verify,
        "server to verify on, as any database URL on it (default: $DATABASE_URL); "
        "postgresql+psycopg:// is accepted",
    )
    verify.add_argument(
        "--keep-database",
        action="store_true",
        help="leave the throwaway database for inspection instead of dropping it",
    )
    _add_tools(verify)
    verify.add_argument("--json", action="store_true", help="print the report as JSON")
    _add_result_file(
        verify,
        "also write {key, location, verified, tables, rows, mismatches, duration_seconds} "
        "as JSON to this file when the verification ends, e.g. /dev/termination-log",
    )


def _add_prune(commands: Subparsers) -> None:
    prune = _command(
        commands,
        "prune",
        "delete backups older than N days, never the newest successful one",
        subcommands.run_prune,
    )
    _add_location(prune)
    prune.add_argument("--retention-days", type=_non_negative_int, required=True)
    prune.add_argument("--dry-run", action="store_true", help="only show what would be deleted")
    prune.add_argument("--json", action="store_true", help="print the plan as JSON")


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


def _add_database_url(parser: argparse.ArgumentParser, help_text: str) -> None:
    parser.add_argument("--database-url", default=os.environ.get("DATABASE_URL"), help=help_text)


def _add_result_file(parser: argparse.ArgumentParser, help_text: str) -> None:
    parser.add_argument("--result-file", type=Path, default=None, help=help_text)


def _add_tools(parser: argparse.ArgumentParser) -> None:
    parser.add_argument(
        "--pg-bin-dir",
        type=Path,
        default=Path(os.environ["PG_BIN_DIR"]) if os.environ.get("PG_BIN_DIR") else None,
        help="folder of pg_dump/psql to use (default: $PG_BIN_DIR, then PATH)",
    )


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
