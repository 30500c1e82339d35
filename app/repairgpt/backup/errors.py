"""Failures of backup commands, each with the exit code the command ends with."""

from __future__ import annotations

from repairgpt_contract.exit_codes import ExitCode as ExitCode

# What each exit code means, for `--help`; a Job's exit code is often all an operator sees.
EXIT_CODE_MEANINGS: dict[ExitCode, str] = {
    ExitCode.OK: "success (for restore and verify: every row count matches the manifest)",
    ExitCode.FAILED: "other failure, explained on stderr",
    ExitCode.USAGE: "wrong arguments",
    ExitCode.S3_UNREACHABLE: "S3 cannot be reached",
    ExitCode.S3_BAD_CREDENTIALS: "S3 rejected the credentials or their permissions",
    ExitCode.S3_BUCKET_MISSING: "the bucket does not exist",
    ExitCode.S3_ERROR: "another S3 error",
    ExitCode.DATABASE_UNREACHABLE: "the database cannot be reached",
    ExitCode.VERSION_MISMATCH: "pg_dump is older than the server",
    ExitCode.DUMP_FAILED: "pg_dump failed",
    ExitCode.TOOL_MISSING: "pg_dump or psql not found",
    ExitCode.CHECKSUM_MISMATCH: "the dump does not match its manifest's sha256 (corrupted)",
    ExitCode.BACKUP_NOT_FOUND: "no such backup, or no successful one",
    ExitCode.TARGET_NOT_EMPTY: "the restore target is not empty and --clean was not given",
    ExitCode.RESTORE_FAILED: "applying the dump failed; it was rolled back",
    ExitCode.ROW_COUNT_MISMATCH: "restored row counts differ from the manifest",
    ExitCode.NO_SPACE: "not enough disk space to spool the dump (--verify-first)",
    ExitCode.VERIFY_CANNOT_CREATE_DATABASE: "verify: the role may not create databases "
    "(ALTER ROLE ... CREATEDB)",
}


class BackupError(Exception):
    """A failure that is explained to the user; its message never holds a secret."""

    exit_code: ExitCode = ExitCode.FAILED

    def __init__(self, message: str) -> None:
        super().__init__(message)
        self.message = message


class S3UnreachableError(BackupError):
    exit_code = ExitCode.S3_UNREACHABLE


class S3CredentialsError(BackupError):
    exit_code = ExitCode.S3_BAD_CREDENTIALS


class BucketMissingError(BackupError):
    exit_code = ExitCode.S3_BUCKET_MISSING


class S3Error(BackupError):
    exit_code = ExitCode.S3_ERROR


class DatabaseUnreachableError(BackupError):
    exit_code = ExitCode.DATABASE_UNREACHABLE


class VersionMismatchError(BackupError):
    exit_code = ExitCode.VERSION_MISMATCH


class DumpFailedError(BackupError):
    exit_code = ExitCode.DUMP_FAILED


class ToolMissingError(BackupError):
    exit_code = ExitCode.TOOL_MISSING


class ChecksumMismatchError(BackupError):
    exit_code = ExitCode.CHECKSUM_MISMATCH


class BackupNotFoundError(BackupError):
    exit_code = ExitCode.BACKUP_NOT_FOUND


class TargetNotEmptyError(BackupError):
    exit_code = ExitCode.TARGET_NOT_EMPTY


class RestoreFailedError(BackupError):
    exit_code = ExitCode.RESTORE_FAILED


class NoSpaceError(BackupError):
    exit_code = ExitCode.NO_SPACE


class CannotCreateDatabaseError(BackupError):
    exit_code = ExitCode.VERIFY_CANNOT_CREATE_DATABASE
