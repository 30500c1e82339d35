"""Exit codes of the job commands, which a Job's status shows when nothing else is read."""

from __future__ import annotations

from enum import IntEnum


class ExitCode(IntEnum):
    """Exit codes of `repairgpt backup ...`; distinct so a Job's status tells what went wrong."""

    OK = 0
    FAILED = 1
    USAGE = 2
    S3_UNREACHABLE = 10
    S3_BAD_CREDENTIALS = 11
    S3_BUCKET_MISSING = 12
    S3_ERROR = 13
    DATABASE_UNREACHABLE = 20
    VERSION_MISMATCH = 21
    DUMP_FAILED = 22
    TOOL_MISSING = 23
    CHECKSUM_MISMATCH = 30
    BACKUP_NOT_FOUND = 31
    TARGET_NOT_EMPTY = 32
    RESTORE_FAILED = 33
    ROW_COUNT_MISMATCH = 34
    NO_SPACE = 35
    VERIFY_CANNOT_CREATE_DATABASE = 36


# Ctrl-C, as a shell reports it (128 + SIGINT).
INTERRUPTED_EXIT_CODE = 130


def terminated_exit_code(signum: int) -> int:
    """The exit code after a signal, as a shell reports it: 143 for SIGTERM."""
    return 128 + signum
