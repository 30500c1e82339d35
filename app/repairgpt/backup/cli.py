"""The `repairgpt backup create|find|list|restore|verify|prune` commands."""

from __future__ import annotations

import argparse
import json
import logging
import os
import signal
import sys
import textwrap
import threading
from collections.abc import Callable
from datetime import UTC
from pathlib import Path
from types import FrameType
from typing import TYPE_CHECKING, Any

from repairgpt.backup.errors import EXIT_CODE_MEANINGS, BackupError, ExitCode
from repairgpt.backup.inventory import BackupEntry
from repairgpt.backup.manifest import manifest_to_dict
from repairgpt.backup.progress import human_bytes

if TYPE_CHECKING:
    from repairgpt.backup.restore import TableCheck
    from repairgpt.backup.s3 import S3Location

# The command bodies import boto3 and psycopg when they run, not when `repairgpt` starts.
Command = Callable[[argparse.Namespace], int]
MiB = 1024 * 1024
# A Kubernetes termination message holds at most 4 KiB; the result files stay well below.
RESULT_FILE_LIMIT = 3072
RESULT_MISMATCHES = 5
# The restore target's URL as an environment variable (set from a Secret by the operator's
# restore Job): an argument would show in the process list of the node.
RESTORE_TARGET_ENV = "RESTORE_TARGET_URL"


def exit_codes_epilog() -> str:
    lines = [f"  {int(code):>3}  {meaning}" for code, meaning in EXIT_CODE_MEANINGS.items()]
    return "exit codes:\n" + "\n".join(lines)


def add_backup_commands(subparsers: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
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

    def command(name: str, summary: str) -> argparse.ArgumentParser:
        return commands.add_parser(
            name,
            help=summary,
            epilog=exit_codes_epilog(),
            formatter_class=argparse.RawDescriptionHelpFormatter,
        )

    create = command("create", "dump the database into S3 with a manifest")
    _add_location(create)
    create.add_argument(
        "--database-url",
        default=os.environ.get("DATABASE_URL"),
        help="database to back up (default: $DATABASE_URL); postgresql+psycopg:// is accepted",
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
    create.add_argument(
        "--result-file",
        type=Path,
        default=None,
        help="also write {location, size_bytes, sha256} as JSON to this file, e.g. "
        "/dev/termination-log so that the operator can report where the backup went",
    )
    create.set_defaults(func=_guarded(_create))

    find = command("find", "name the backup that `latest` or a key stands for, without restoring")
    find.add_argument("key", metavar="latest|KEY", help="`latest` or a dump key")
    _add_location(find)
    find.add_argument("--json", action="store_true", help="print JSON")
    find.add_argument(
        "--result-file",
        type=Path,
        default=None,
        help="also write {key, location, taken_at} as JSON to this file, e.g. "
        "/dev/termination-log so that the operator can record which backup a restore uses",
    )
    find.set_defaults(func=_guarded(_find))

    listing = command("list", "list backups, newest first")
    _add_location(listing)
    listing.add_argument("--json", action="store_true", help="print JSON")
    listing.set_defaults(func=_guarded(_list))

    restore = command(
        "restore", "restore a backup in one transaction that commits only if its checksum matches"
    )
    restore.add_argument("key", metavar="latest|KEY", help="`latest` or a dump key")
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
    restore.add_argument(
        "--result-file",
        type=Path,
        default=None,
        help="also write {key, location, tables, rows, counts_match, mismatches} as JSON to this "
        "file when the restore ends (also on a row count mismatch), e.g. /dev/termination-log",
    )
    restore.set_defaults(func=_guarded(_restore))

    verify = command(
        "verify",
        "restore a backup into a throwaway database, compare row counts with the manifest, drop it",
    )
    verify.description = textwrap.fill(
        "Test a backup by restoring it: on the server --database-url points at, create the "
        "database repairgpt_verify_<time>_<hex> (the role needs CREATEDB), restore the backup "
        "into it (committed only if its checksum matches), compare every table's row count "
        "with the manifest, and drop the database again (WITH (FORCE)), also when anything fails. "
        "The database --database-url names is only used to connect."
    )
    verify.add_argument("key", metavar="latest|KEY", help="`latest` or a dump key")
    _add_location(verify)
    verify.add_argument(
        "--database-url",
        default=os.environ.get("DATABASE_URL"),
        help="server to verify on, as any database URL on it (default: $DATABASE_URL); "
        "postgresql+psycopg:// is accepted",
    )
    verify.add_argument(
        "--keep-database",
        action="store_true",
        help="leave the throwaway database for inspection instead of dropping it",
    )
    _add_tools(verify)
    verify.add_argument("--json", action="store_true", help="print the report as JSON")
    verify.add_argument(
        "--result-file",
        type=Path,
        default=None,
        help="also write {key, location, verified, tables, rows, mismatches, duration_seconds} "
        "as JSON to this file when the verification ends, e.g. /dev/termination-log",
    )
    verify.set_defaults(func=_guarded(_verify))

    prune = command("prune", "delete backups older than N days, never the newest successful one")
    _add_location(prune)
    prune.add_argument("--retention-days", type=_non_negative_int, required=True)
    prune.add_argument("--dry-run", action="store_true", help="only show what would be deleted")
    prune.add_argument("--json", action="store_true", help="print the plan as JSON")
    prune.set_defaults(func=_guarded(_prune))


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


def _location(args: argparse.Namespace) -> S3Location:
    from repairgpt.backup.s3 import S3Location

    return S3Location(
        bucket=args.bucket, prefix=args.prefix, endpoint_url=args.endpoint_url, region=args.region
    )


class _Terminated(Exception):
    def __init__(self, signum: int) -> None:
        super().__init__(signum)
        self.exit_code = 128 + signum


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
            print(f"repairgpt backup: error: {exc.message}", file=sys.stderr)
            return int(exc.exit_code)
        except KeyboardInterrupt:
            print("repairgpt backup: interrupted; nothing was left half-written", file=sys.stderr)
            return 130
        except _Terminated as exc:
            print("repairgpt backup: terminated; nothing was left half-written", file=sys.stderr)
            return exc.exit_code

    return run


def _create(args: argparse.Namespace) -> int:
    from repairgpt.backup.create import create_backup
    from repairgpt.backup.dump import PgTools

    if not args.database_url:
        print(
            "repairgpt backup: error: --database-url or DATABASE_URL is required", file=sys.stderr
        )
        return int(ExitCode.USAGE)
    location = _location(args)
    manifest = create_backup(
        database_url=args.database_url,
        location=location,
        tools=PgTools(args.pg_bin_dir),
        part_size=args.part_size_mib * MiB,
        compress_threads=args.compress_threads,
        progress_interval=args.progress_interval,
    )
    if args.result_file is not None:
        # Small on purpose: a termination message holds at most 4 KiB.
        result = {
            "key": manifest.key,
            "location": f"s3://{location.bucket}/{manifest.key}",
            "size_bytes": manifest.size_bytes,
            "sha256": manifest.sha256,
        }
        args.result_file.write_text(json.dumps(result) + "\n")
    if args.json:
        print(json.dumps(manifest_to_dict(manifest), indent=2, ensure_ascii=False))
    else:
        print(
            f"backup written: s3://{location.bucket}/{manifest.key} "
            f"({human_bytes(manifest.size_bytes)}, {len(manifest.tables)} tables, "
            f"{manifest.total_rows} rows, sha256 {manifest.sha256})"
        )
    return 0


def _entry_dict(entry: BackupEntry) -> dict[str, Any]:
    return {
        "key": entry.dump_key,
        "time": entry.taken_at.isoformat(),
        "size_bytes": entry.size_bytes,
        "verified": entry.successful,
        "problem": entry.problem,
        "manifest": manifest_to_dict(entry.manifest) if entry.manifest else None,
    }


def _list(args: argparse.Namespace) -> int:
    from repairgpt.backup.catalog import list_backups

    entries = list_backups(location=_location(args))
    if args.json:
        print(json.dumps([_entry_dict(e) for e in entries], indent=2, ensure_ascii=False))
        return 0
    if not entries:
        print(f"no backups in {_location(args).describe()}")
        return 0
    print(f"{'TIME (UTC)':<24}{'SIZE':>12}  {'VERIFIED':<9}{'ROWS':>12}  KEY")
    for entry in entries:
        size = human_bytes(entry.size_bytes) if entry.size_bytes is not None else "-"
        rows = str(entry.manifest.total_rows) if entry.manifest else "-"
        verified = "yes" if entry.successful else "no"
        when = entry.taken_at.astimezone(UTC).strftime("%Y-%m-%d %H:%M:%S")
        note = f"  ({entry.problem})" if entry.problem else ""
        print(f"{when:<24}{size:>12}  {verified:<9}{rows:>12}  {entry.dump_key}{note}")
    return 0


def _mismatch_dicts(checks: list[TableCheck]) -> list[dict[str, Any]]:
    return [
        {"table": c.table, "expected": c.expected, "actual": c.actual} for c in checks if not c.ok
    ][:RESULT_MISMATCHES]


def write_result_file(path: Path, result: dict[str, Any]) -> None:
    """One compact JSON line; mismatches are shed if it would outgrow a termination message."""
    result = dict(result)
    text = json.dumps(result, ensure_ascii=False, separators=(",", ":"))
    while len(text.encode()) > RESULT_FILE_LIMIT and result.get("mismatches"):
        result["mismatches"] = result["mismatches"][:-1]
        text = json.dumps(result, ensure_ascii=False, separators=(",", ":"))
    path.write_text(text + "\n", encoding="utf-8")


def _print_counts(checks: list[TableCheck]) -> None:
    width = max([len(c.table) for c in checks] + [5])
    print(f"{'TABLE':<{width}}  {'BACKUP':>12}  {'RESTORED':>12}")
    for check in checks:
        actual = "missing" if check.actual < 0 else str(check.actual)
        mark = "" if check.ok else "  MISMATCH"
        print(f"{check.table:<{width}}  {check.expected:>12}  {actual:>12}{mark}")


def _mismatch_error(checks: list[TableCheck]) -> int:
    names = ", ".join(c.table for c in checks if not c.ok)
    print(
        f"repairgpt backup: error: row counts differ from the manifest for {names}",
        file=sys.stderr,
    )
    return int(ExitCode.ROW_COUNT_MISMATCH)


def _find(args: argparse.Namespace) -> int:
    from repairgpt.backup.catalog import find_backup
    from repairgpt.backup.s3 import check_bucket, make_client

    location = _location(args)
    client = make_client(location)
    check_bucket(client, location)
    entry = find_backup(client, location, args.key)
    result = {
        "key": entry.dump_key,
        "location": f"s3://{location.bucket}/{entry.dump_key}",
        "taken_at": entry.taken_at.astimezone(UTC).isoformat(),
    }
    if args.result_file is not None:
        write_result_file(args.result_file, result)
    print(json.dumps(result) if args.json else entry.dump_key)
    return 0


def _restore(args: argparse.Namespace) -> int:
    from repairgpt.backup.dump import PgTools
    from repairgpt.backup.restore import restore_backup

    if not args.target_url:
        print(
            f"repairgpt backup: error: --target-url or {RESTORE_TARGET_ENV} is required",
            file=sys.stderr,
        )
        return int(ExitCode.USAGE)
    location = _location(args)
    report = restore_backup(
        location=location,
        target_url=args.target_url,
        key=args.key,
        clean=args.clean,
        verify_first=args.verify_first,
        tools=PgTools(args.pg_bin_dir),
        spool_dir=args.spool_dir,
        progress_interval=args.progress_interval,
    )
    if args.result_file is not None:
        write_result_file(
            args.result_file,
            {
                "key": report.key,
                "location": f"s3://{location.bucket}/{report.key}",
                "tables": len(report.tables),
                "rows": report.restored_rows,
                "counts_match": report.counts_match,
                "mismatches": _mismatch_dicts(report.tables),
            },
        )
    if args.json:
        print(
            json.dumps(
                {
                    "key": report.key,
                    "counts_match": report.counts_match,
                    "tables": [
                        {"table": c.table, "expected": c.expected, "actual": c.actual}
                        for c in report.tables
                    ],
                },
                indent=2,
                ensure_ascii=False,
            )
        )
    else:
        print(f"restored {report.key} (taken {report.manifest.created_at.isoformat()})")
        _print_counts(report.tables)
    if not report.counts_match:
        return _mismatch_error(report.tables)
    return 0


def _verify(args: argparse.Namespace) -> int:
    from repairgpt.backup.dump import PgTools
    from repairgpt.backup.verify import verify_backup

    if not args.database_url:
        print(
            "repairgpt backup: error: --database-url or DATABASE_URL is required", file=sys.stderr
        )
        return int(ExitCode.USAGE)
    report = verify_backup(
        location=_location(args),
        database_url=args.database_url,
        key=args.key,
        keep_database=args.keep_database,
        tools=PgTools(args.pg_bin_dir),
        progress_interval=args.progress_interval,
    )
    if args.result_file is not None:
        write_result_file(
            args.result_file,
            {
                "key": report.key,
                "location": report.location,
                "verified": report.verified,
                "tables": len(report.tables),
                "rows": report.restored_rows,
                "mismatches": _mismatch_dicts(report.tables),
                "duration_seconds": round(report.duration_seconds, 3),
            },
        )
    if args.json:
        print(
            json.dumps(
                {
                    "key": report.key,
                    "location": report.location,
                    "verified": report.verified,
                    "database": report.database,
                    "database_dropped": report.dropped,
                    "duration_seconds": round(report.duration_seconds, 3),
                    "tables": [
                        {"table": c.table, "expected": c.expected, "actual": c.actual}
                        for c in report.tables
                    ],
                },
                indent=2,
                ensure_ascii=False,
            )
        )
    else:
        outcome = "verified" if report.verified else "verification FAILED for"
        where = "dropped" if report.dropped else "kept"
        print(
            f"{outcome} {report.location} (taken {report.manifest.created_at.isoformat()}) "
            f"in {report.duration_seconds:.1f} s; throwaway database {report.database} {where}"
        )
        _print_counts(report.tables)
    if not report.verified:
        return _mismatch_error(report.tables)
    return 0


def _prune(args: argparse.Namespace) -> int:
    from repairgpt.backup.catalog import prune_backups

    plan = prune_backups(
        location=_location(args), retention_days=args.retention_days, dry_run=args.dry_run
    )
    if args.json:
        print(
            json.dumps(
                {
                    "dry_run": args.dry_run,
                    "deleted": [
                        {"key": d.dump_key, "reason": d.reason, "objects": list(d.object_keys)}
                        for d in plan.delete
                    ],
                    "kept": [{"key": d.dump_key, "reason": d.reason} for d in plan.keep],
                    "aborted_uploads": [u.key for u in plan.abort_uploads],
                },
                indent=2,
            )
        )
        return 0
    verb = "would delete" if args.dry_run else "deleted"
    for decision in plan.delete:
        print(f"{verb} {decision.dump_key}: {decision.reason}")
    for upload in plan.abort_uploads:
        print(f"{'would abort' if args.dry_run else 'aborted'} unfinished upload {upload.key}")
    for decision in plan.keep:
        print(f"kept {decision.dump_key}: {decision.reason}")
    print(f"{len(plan.delete)} {verb}, {len(plan.keep)} kept")
    return 0
