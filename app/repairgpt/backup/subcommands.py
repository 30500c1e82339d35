"""What each `repairgpt backup` command does once its arguments are parsed: run it, print its
report, write its result for the operator."""

from __future__ import annotations

import argparse
import json
import sys
from datetime import UTC
from typing import TYPE_CHECKING, Any

from repairgpt.backup.manifest import manifest_to_dict
from repairgpt.backup.stored_backups import BackupEntry
from repairgpt_contract.argv import RESTORE_TARGET_ENV
from repairgpt_contract.exit_codes import ExitCode
from repairgpt_contract.messages import format_error
from repairgpt_contract.progress import human_bytes
from repairgpt_contract.results import (
    RESULT_MISMATCHES,
    CreateResult,
    FindResult,
    Mismatch,
    RestoreResult,
    VerifyResult,
    s3_location,
    write_result,
)

if TYPE_CHECKING:
    from repairgpt.backup.restore import TableCheck
    from repairgpt.backup.s3 import S3Location

MiB = 1024 * 1024


def _location(args: argparse.Namespace) -> S3Location:
    from repairgpt.backup.s3 import S3Location

    return S3Location(
        bucket=args.bucket, prefix=args.prefix, endpoint_url=args.endpoint_url, region=args.region
    )


def _missing(value: str | None, source: str) -> bool:
    """Whether a required URL is missing; says so on stderr then."""
    if value:
        return False
    print(format_error(f"{source} is required"), file=sys.stderr)
    return True


def _print_json(data: Any, *, ensure_ascii: bool = False) -> None:
    print(json.dumps(data, indent=2, ensure_ascii=ensure_ascii))


def _check_dicts(checks: list[TableCheck]) -> list[Mismatch]:
    return [{"table": c.table, "expected": c.expected, "actual": c.actual} for c in checks]


def _mismatches(checks: list[TableCheck]) -> list[Mismatch]:
    return _check_dicts([c for c in checks if not c.ok])[:RESULT_MISMATCHES]


def _print_counts(checks: list[TableCheck]) -> None:
    width = max([len(c.table) for c in checks] + [5])
    print(f"{'TABLE':<{width}}  {'BACKUP':>12}  {'RESTORED':>12}")
    for check in checks:
        actual = "missing" if check.actual < 0 else str(check.actual)
        mark = "" if check.ok else "  MISMATCH"
        print(f"{check.table:<{width}}  {check.expected:>12}  {actual:>12}{mark}")


def _mismatch_error(checks: list[TableCheck]) -> int:
    names = ", ".join(c.table for c in checks if not c.ok)
    print(format_error(f"row counts differ from the manifest for {names}"), file=sys.stderr)
    return int(ExitCode.ROW_COUNT_MISMATCH)


def run_create(args: argparse.Namespace) -> int:
    from repairgpt.backup.create import create_backup
    from repairgpt.backup.pg_tools import PgTools

    if _missing(args.database_url, "--database-url or DATABASE_URL"):
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
    where = s3_location(location.bucket, manifest.key)
    if args.result_file is not None:
        result: CreateResult = {
            "key": manifest.key,
            "location": where,
            "size_bytes": manifest.size_bytes,
            "sha256": manifest.sha256,
        }
        write_result(args.result_file, result)
    if args.json:
        _print_json(manifest_to_dict(manifest))
    else:
        print(
            f"backup written: {where} "
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


def run_list(args: argparse.Namespace) -> int:
    from repairgpt.backup.catalog import list_backups

    entries = list_backups(location=_location(args))
    if args.json:
        _print_json([_entry_dict(e) for e in entries])
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


def run_find(args: argparse.Namespace) -> int:
    from repairgpt.backup.catalog import open_backup

    location = _location(args)
    _, entry, _ = open_backup(location, args.key)
    result: FindResult = {
        "key": entry.dump_key,
        "location": s3_location(location.bucket, entry.dump_key),
        "taken_at": entry.taken_at.astimezone(UTC).isoformat(),
    }
    if args.result_file is not None:
        write_result(args.result_file, result)
    print(json.dumps(result) if args.json else entry.dump_key)
    return 0


def run_restore(args: argparse.Namespace) -> int:
    from repairgpt.backup.pg_tools import PgTools
    from repairgpt.backup.restore import restore_backup

    if _missing(args.target_url, f"--target-url or {RESTORE_TARGET_ENV}"):
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
        result: RestoreResult = {
            "key": report.key,
            "location": s3_location(location.bucket, report.key),
            "tables": len(report.tables),
            "rows": report.restored_rows,
            "counts_match": report.counts_match,
            "mismatches": _mismatches(report.tables),
        }
        write_result(args.result_file, result)
    if args.json:
        _print_json(
            {
                "key": report.key,
                "counts_match": report.counts_match,
                "tables": _check_dicts(report.tables),
            }
        )
    else:
        print(f"restored {report.key} (taken {report.manifest.created_at.isoformat()})")
        _print_counts(report.tables)
    if not report.counts_match:
        return _mismatch_error(report.tables)
    return 0


def run_verify(args: argparse.Namespace) -> int:
    from repairgpt.backup.pg_tools import PgTools
    from repairgpt.backup.verify import verify_backup

    if _missing(args.database_url, "--database-url or DATABASE_URL"):
        return int(ExitCode.USAGE)
    report = verify_backup(
        location=_location(args),
        database_url=args.database_url,
        key=args.key,
        keep_database=args.keep_database,
        tools=PgTools(args.pg_bin_dir),
        progress_interval=args.progress_interval,
    )
    duration = round(report.duration_seconds, 3)
    if args.result_file is not None:
        result: VerifyResult = {
            "key": report.key,
            "location": report.location,
            "verified": report.verified,
            "tables": len(report.tables),
            "rows": report.restored_rows,
            "mismatches": _mismatches(report.tables),
            "duration_seconds": duration,
        }
        write_result(args.result_file, result)
    if args.json:
        _print_json(
            {
                "key": report.key,
                "location": report.location,
                "verified": report.verified,
                "database": report.database,
                "database_dropped": report.dropped,
                "duration_seconds": duration,
                "tables": _check_dicts(report.tables),
            }
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


def run_prune(args: argparse.Namespace) -> int:
    from repairgpt.backup.catalog import prune_backups

    plan = prune_backups(
        location=_location(args), retention_days=args.retention_days, dry_run=args.dry_run
    )
    if args.json:
        deleted = [
            {"key": d.dump_key, "reason": d.reason, "objects": list(d.object_keys)}
            for d in plan.delete
        ]
        _print_json(
            {
                "dry_run": args.dry_run,
                "deleted": deleted,
                "kept": [{"key": d.dump_key, "reason": d.reason} for d in plan.keep],
                "aborted_uploads": [u.key for u in plan.abort_uploads],
            },
            ensure_ascii=True,
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
