"""Progress lines of long transfers (`restore KEY: applied: 1.0 MiB of 2.0 MiB (50 %), ...`):
written by the commands on stderr, read back from a Job's log."""

from __future__ import annotations

import re
from dataclasses import dataclass
from typing import Final

UPLOADED: Final = "uploaded"
DOWNLOADED: Final = "downloaded"
APPLIED: Final = "applied"
DOWNLOADED_AND_APPLIED: Final = "downloaded and applied"
# Longest first: the parser tries them in this order.
PHASES: Final = (DOWNLOADED_AND_APPLIED, DOWNLOADED, APPLIED, UPLOADED)
# What a restore prints: streamed, `downloaded and applied`; with --verify-first, `downloaded`
# then `applied`.
RESTORE_PHASES: Final = (DOWNLOADED_AND_APPLIED, DOWNLOADED, APPLIED)
RESTORE: Final = "restore"
VERIFY: Final = "verify"
BACKUP: Final = "backup"
# A status message holds one progress line, not a log.
MAX_PROGRESS_LENGTH = 200

_LINE = re.compile(
    r"(?P<command>\S+) (?P<key>\S+): (?P<phase>"
    + "|".join(re.escape(phase) for phase in PHASES)
    + r"): (?P<amount>.+)"
)
_PERCENT = re.compile(r" \((?P<percent>\d+) %\)")


def human_bytes(size: float) -> str:
    """`512 B`, `1.5 MiB`: binary units with one decimal, whole bytes below 1 KiB."""
    for unit in ("B", "KiB", "MiB", "GiB", "TiB"):
        if abs(size) < 1024 or unit == "TiB":
            return f"{size:.0f} {unit}" if unit == "B" else f"{size:.1f} {unit}"
        size /= 1024
    raise AssertionError("unreachable")


def progress_label(command: str, key: str, phase: str) -> str:
    """`restore KEY: applied`, what a progress line starts with."""
    return f"{command} {key}: {phase}"


def format_progress(label: str, done: int, *, total: int | None, rate: float) -> str:
    """`LABEL: N MiB[ of T MiB (P %)], X MiB/s`."""
    amount = human_bytes(done)
    if total:
        amount += f" of {human_bytes(total)} ({100 * done / total:.0f} %)"
    return f"{label}: {amount}, {human_bytes(rate)}/s"


def format_progress_end(line: str, note: str, elapsed: float) -> str:
    """The last progress line of a transfer: `LINE, NOTE in S s`."""
    return f"{line}, {note} in {elapsed:.1f} s"


@dataclass(frozen=True)
class ProgressLine:
    """One progress line, taken apart."""

    command: str  # restore, verify, backup
    key: str
    phase: str
    amount: str  # `512.0 MiB of 1.0 GiB (50 %), 30.1 MiB/s[, restored in 3.0 s]`

    @property
    def text(self) -> str:
        """The line without its leading command: `KEY: PHASE: AMOUNT`."""
        return f"{self.key}: {self.phase}: {self.amount}"

    @property
    def percent(self) -> int | None:
        found = _PERCENT.search(self.amount)
        return int(found["percent"]) if found else None


def parse_progress_line(line: str) -> ProgressLine | None:
    """A progress line taken apart, or None for any other line."""
    found = _LINE.fullmatch(line.strip())
    if found is None:
        return None
    return ProgressLine(found["command"], found["key"], found["phase"], found["amount"])


def latest_progress(
    log_tail: str,
    *,
    command: str = RESTORE,
    phases: tuple[str, ...] = RESTORE_PHASES,
    limit: int = MAX_PROGRESS_LENGTH,
) -> str | None:
    """The newest progress line of `command` in a log tail, without the leading command, at
    most `limit` characters (a restore's by default)."""
    for line in reversed(log_tail.splitlines()):
        progress = parse_progress_line(line)
        if progress is not None and progress.command == command and progress.phase in phases:
            return progress.text[:limit]
    return None
