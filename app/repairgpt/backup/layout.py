"""Where a backup's objects live in the bucket: names of dumps and manifests, and their parsing."""

from __future__ import annotations

import re
from dataclasses import dataclass
from datetime import UTC, datetime

DUMP_SUFFIX = ".sql.gz"
MANIFEST_SUFFIX = ".manifest.json"
_NAME = re.compile(
    r"^repairgpt-(?P<stamp>\d{8}T\d{6}\.\d{3}Z)(?P<suffix>\.sql\.gz|\.manifest\.json)$"
)
_STAMP_FORMAT = "%Y%m%dT%H%M%S"


def normalize_prefix(prefix: str | None) -> str:
    """`database` and `database/` both mean the folder `database/`; no prefix is the bucket root."""
    cleaned = (prefix or "").strip().lstrip("/")
    if cleaned and not cleaned.endswith("/"):
        cleaned += "/"
    return cleaned


def backup_stamp(when: datetime) -> str:
    """A sortable UTC time stamp with milliseconds: `20261128T201500.123Z`."""
    utc = when.astimezone(UTC)
    return f"{utc.strftime(_STAMP_FORMAT)}.{utc.microsecond // 1000:03d}Z"


def dump_key(prefix: str, when: datetime) -> str:
    return f"{normalize_prefix(prefix)}repairgpt-{backup_stamp(when)}{DUMP_SUFFIX}"


def manifest_key(dump: str) -> str:
    """The manifest object that sits beside a dump."""
    if not dump.endswith(DUMP_SUFFIX):
        raise ValueError(f"not a dump key: {dump!r}")
    return dump[: -len(DUMP_SUFFIX)] + MANIFEST_SUFFIX


def dump_key_of_manifest(manifest: str) -> str:
    if not manifest.endswith(MANIFEST_SUFFIX):
        raise ValueError(f"not a manifest key: {manifest!r}")
    return manifest[: -len(MANIFEST_SUFFIX)] + DUMP_SUFFIX


@dataclass(frozen=True)
class ParsedKey:
    kind: str  # "dump" | "manifest"
    dump_key: str
    taken_at: datetime


def parse_key(key: str, prefix: str) -> ParsedKey | None:
    """What a key under the prefix is; None for objects that are not this tool's (never touched)."""
    prefix = normalize_prefix(prefix)
    if not key.startswith(prefix):
        return None
    match = _NAME.match(key[len(prefix) :])
    if match is None:
        return None
    stamp = match["stamp"]
    taken_at = datetime.strptime(stamp[:15], _STAMP_FORMAT).replace(
        microsecond=int(stamp[16:19]) * 1000, tzinfo=UTC
    )
    if match["suffix"] == DUMP_SUFFIX:
        return ParsedKey("dump", key, taken_at)
    return ParsedKey("manifest", dump_key_of_manifest(key), taken_at)
