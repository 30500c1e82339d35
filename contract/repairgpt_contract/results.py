"""The one-line JSON results job commands write with --result-file (the operator reads them back
from a container's termination message): their keys, writer and reader."""

from __future__ import annotations

import json
from collections.abc import Mapping
from pathlib import Path
from typing import Any, Final, TypedDict

# Where a container's result goes so that the kubelet copies it into the pod's status.
TERMINATION_LOG: Final = "/dev/termination-log"
# A Kubernetes termination message holds at most 4 KiB; the result files stay well below.
RESULT_FILE_LIMIT = 3072
# Restore and verify report at most this many tables whose row counts differ.
RESULT_MISMATCHES = 5

KEY: Final = "key"
LOCATION: Final = "location"
SIZE_BYTES: Final = "size_bytes"
SHA256: Final = "sha256"
TAKEN_AT: Final = "taken_at"
TABLES: Final = "tables"
ROWS: Final = "rows"
COUNTS_MATCH: Final = "counts_match"
MISMATCHES: Final = "mismatches"
VERIFIED: Final = "verified"
DURATION_SECONDS: Final = "duration_seconds"
# The figures of `repairgpt db prune-chats` (numbers), in the order the operator reports them.
PRUNE_CHATS_FIGURES: Final = (
    "rows_deleted",
    "messages_deleted",
    "sessions_deleted",
    "batches",
    "seconds",
    "max_batch_seconds",
)


class Mismatch(TypedDict):
    """A table whose restored row count differs from the manifest (-1: the table is missing)."""

    table: str
    expected: int
    actual: int


class CreateResult(TypedDict):
    """`repairgpt backup create --result-file`: where the dump went."""

    key: str
    location: str
    size_bytes: int
    sha256: str


class FindResult(TypedDict):
    """`repairgpt backup find --result-file`: the backup `latest` or a key stands for."""

    key: str
    location: str
    taken_at: str


class RestoreResult(TypedDict):
    """`repairgpt backup restore --result-file`, also written on a row count mismatch."""

    key: str
    location: str
    tables: int
    rows: int
    counts_match: bool
    mismatches: list[Mismatch]


class VerifyResult(TypedDict):
    """`repairgpt backup verify --result-file`, also written when the row counts differ."""

    key: str
    location: str
    verified: bool
    tables: int
    rows: int
    mismatches: list[Mismatch]
    duration_seconds: float


class PruneChatsResult(TypedDict):
    """`repairgpt db prune-chats`: printed on stdout and written with --result-file."""

    cutoff: str
    messages_deleted: int
    sessions_deleted: int
    batches: int
    seconds: float
    max_batch_seconds: float
    analyzed: list[str]
    dry_run: bool
    rows_deleted: int


def s3_location(bucket: str, key: str) -> str:
    """`s3://BUCKET/KEY`, the `location` of a result."""
    return f"s3://{bucket}/{key}"


def encode_result(result: Mapping[str, Any], *, limit: int = RESULT_FILE_LIMIT) -> str:
    """One compact JSON line (without its newline); mismatches are shed from the end while it
    would be longer than `limit` bytes."""
    fitted = dict(result)
    text = json.dumps(fitted, ensure_ascii=False, separators=(",", ":"))
    while len(text.encode()) > limit and fitted.get(MISMATCHES):
        fitted[MISMATCHES] = fitted[MISMATCHES][:-1]
        text = json.dumps(fitted, ensure_ascii=False, separators=(",", ":"))
    return text


def write_result(path: Path, result: Mapping[str, Any]) -> None:
    """The result as one JSON line in `path`, such as /dev/termination-log."""
    path.write_text(encode_result(result) + "\n", encoding="utf-8")


def read_result(message: str) -> dict[str, Any] | None:
    """The JSON object of a result (a termination message), or None for anything else."""
    try:
        result = json.loads(message)
    except ValueError:
        return None
    return result if isinstance(result, dict) else None


def key_of(result: Mapping[str, Any]) -> str | None:
    """The dump key a result names: its `key`, else the key in its `s3://` location."""
    key = result.get(KEY)
    if isinstance(key, str) and key:
        return key
    location = result.get(LOCATION)
    if isinstance(location, str) and location.startswith("s3://") and location.count("/") >= 3:
        return location.split("/", 3)[3] or None
    return None
