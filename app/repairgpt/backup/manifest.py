"""The manifest written beside each dump: building it, its JSON form, and checking it."""

from __future__ import annotations

import json
import re
from collections.abc import Mapping
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

from repairgpt.backup.errors import BackupError

FORMAT = "repairgpt-backup/v1"
_SHA256 = re.compile(r"^[0-9a-f]{64}$")


class ManifestError(BackupError):
    """A manifest that cannot be trusted: unreadable, incomplete, or not about its dump."""


@dataclass(frozen=True)
class Manifest:
    """What a successful backup holds; its existence is what makes a backup successful."""

    key: str
    created_at: datetime  # when the snapshot was taken
    completed_at: datetime
    size_bytes: int
    sha256: str
    database: str
    server_version: str
    pg_dump_version: str
    tables: Mapping[str, int] = field(default_factory=dict)  # "schema.table" -> rows
    dump_format: str = "plain"
    compression: str = "gzip"
    format: str = FORMAT

    @property
    def total_rows(self) -> int:
        return sum(self.tables.values())

    @property
    def duration_seconds(self) -> float:
        return (self.completed_at - self.created_at).total_seconds()


def build_manifest(
    *,
    key: str,
    created_at: datetime,
    completed_at: datetime,
    size_bytes: int,
    sha256: str,
    database: str,
    server_version: str,
    pg_dump_version: str,
    tables: Mapping[str, int],
) -> Manifest:
    manifest = Manifest(
        key=key,
        created_at=created_at,
        completed_at=completed_at,
        size_bytes=size_bytes,
        sha256=sha256,
        database=database,
        server_version=server_version,
        pg_dump_version=pg_dump_version,
        tables=dict(sorted(tables.items())),
    )
    problems = validate_manifest(manifest)
    if problems:
        raise ManifestError("; ".join(problems))
    return manifest


def validate_manifest(manifest: Manifest) -> list[str]:
    """Every reason not to trust this manifest; empty when it is sound."""
    problems: list[str] = []
    if manifest.format != FORMAT:
        problems.append(f"unknown manifest format {manifest.format!r}")
    if not manifest.key:
        problems.append("no dump key")
    if manifest.size_bytes <= 0:
        problems.append(f"size must be positive, got {manifest.size_bytes}")
    if not _SHA256.match(manifest.sha256):
        problems.append("sha256 is not 64 lowercase hex digits")
    if manifest.created_at.tzinfo is None or manifest.completed_at.tzinfo is None:
        problems.append("times must carry a time zone")
    elif manifest.completed_at < manifest.created_at:
        problems.append("completed before it was created")
    for table, rows in manifest.tables.items():
        if not isinstance(rows, int) or isinstance(rows, bool) or rows < 0:
            problems.append(f"row count of {table} is not a non-negative integer")
    if manifest.dump_format != "plain" or manifest.compression != "gzip":
        problems.append(
            f"unsupported dump {manifest.dump_format!r} with compression {manifest.compression!r}"
        )
    return problems


def manifest_to_dict(manifest: Manifest) -> dict[str, Any]:
    return {
        "format": manifest.format,
        "key": manifest.key,
        "created_at": manifest.created_at.isoformat(),
        "completed_at": manifest.completed_at.isoformat(),
        "duration_seconds": round(manifest.duration_seconds, 3),
        "size_bytes": manifest.size_bytes,
        "sha256": manifest.sha256,
        "dump_format": manifest.dump_format,
        "compression": manifest.compression,
        "database": manifest.database,
        "server_version": manifest.server_version,
        "pg_dump_version": manifest.pg_dump_version,
        "total_rows": manifest.total_rows,
        "tables": dict(manifest.tables),
    }


def manifest_to_json(manifest: Manifest) -> bytes:
    return (json.dumps(manifest_to_dict(manifest), indent=2, ensure_ascii=False) + "\n").encode()


def parse_manifest(data: bytes) -> Manifest:
    """The manifest in `data`; ManifestError when it is not a sound manifest."""
    try:
        raw = json.loads(data)
    except (UnicodeDecodeError, json.JSONDecodeError) as exc:
        raise ManifestError(f"manifest is not JSON: {exc}") from exc
    if not isinstance(raw, dict):
        raise ManifestError("manifest is not a JSON object")
    try:
        tables = raw.get("tables", {})
        if not isinstance(tables, dict):
            raise TypeError("tables is not an object")
        manifest = Manifest(
            key=str(raw["key"]),
            created_at=datetime.fromisoformat(raw["created_at"]),
            completed_at=datetime.fromisoformat(raw["completed_at"]),
            size_bytes=_integer(raw["size_bytes"]),
            sha256=str(raw["sha256"]),
            database=str(raw.get("database", "")),
            server_version=str(raw.get("server_version", "")),
            pg_dump_version=str(raw.get("pg_dump_version", "")),
            tables={str(name): rows for name, rows in tables.items()},
            dump_format=str(raw.get("dump_format", "plain")),
            compression=str(raw.get("compression", "gzip")),
            format=str(raw.get("format", "")),
        )
    except KeyError as exc:
        raise ManifestError(f"manifest lacks the field {exc.args[0]!r}") from exc
    except (TypeError, ValueError) as exc:
        raise ManifestError(f"manifest has a malformed field: {exc}") from exc
    problems = validate_manifest(manifest)
    if problems:
        raise ManifestError("; ".join(problems))
    return manifest


def _integer(value: object) -> int:
    if isinstance(value, bool) or not isinstance(value, int):
        raise TypeError(f"expected an integer, got {value!r}")
    return value


def manifest_matches_object(manifest: Manifest, *, key: str, size_bytes: int) -> list[str]:
    """Reasons the manifest does not describe the dump object it sits beside."""
    problems: list[str] = []
    if manifest.key != key:
        problems.append(f"manifest is about {manifest.key!r}, not {key!r}")
    if manifest.size_bytes != size_bytes:
        problems.append(
            f"dump is {size_bytes} bytes but the manifest says {manifest.size_bytes} bytes"
        )
    return problems
