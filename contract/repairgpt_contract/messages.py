"""The error and notice lines a backup command prints on stderr, and how to read them back."""

from __future__ import annotations

COMMAND = "repairgpt backup"
ERROR_PREFIX = f"{COMMAND}: error:"
INTERRUPTED_NOTICE = f"{COMMAND}: interrupted; nothing was left half-written"
TERMINATED_NOTICE = f"{COMMAND}: terminated; nothing was left half-written"
# Status fields and Events stay readable; a termination message holds at most 4 KiB anyway.
MAX_ERROR_LENGTH = 512


def format_error(message: str) -> str:
    """`repairgpt backup: error: MESSAGE`, the line a failed command ends its stderr with."""
    return f"{ERROR_PREFIX} {message}"


def error_from_log(log: str, *, limit: int = MAX_ERROR_LENGTH) -> str | None:
    """The message of the last error line in a log tail (such as a termination message), else
    its last non-empty line, at most `limit` characters; None for an empty log."""
    lines = [line.strip() for line in log.splitlines()]
    lines = [line for line in lines if line]
    errors = [line for line in lines if line.startswith(ERROR_PREFIX)]
    if errors:
        return errors[-1][len(ERROR_PREFIX) :].strip()[:limit]
    if lines:
        return lines[-1][:limit]
    return None
