"""What a guide file parses into, whatever its format, and the checks its fields go through."""

from __future__ import annotations

import re
import unicodedata
from dataclasses import dataclass
from typing import Any, NamedTuple


class GuideFileError(ValueError):
    """The file is not a guide file this importer understands, or a record in it is invalid."""


@dataclass(frozen=True)
class DeviceRecord:
    slug: str
    name: str
    category: str | None = None
    brand: str | None = None
    model: str | None = None
    aliases: tuple[str, ...] = ()
    # Curated records (the project format) overwrite a device; derived ones only fill gaps.
    authoritative: bool = True


class StepRecord(NamedTuple):
    title: str
    text: str
    images: tuple[str, ...] = ()


@dataclass(frozen=True)
class GuideRecord:
    source: str
    source_id: str
    device_slug: str
    title: str
    language: str = "en"
    summary: str = ""
    difficulty: str | None = None
    time_minutes: int | None = None
    tools: tuple[str, ...] = ()
    parts: tuple[str, ...] = ()
    safety_warnings: tuple[str, ...] = ()
    keywords: tuple[str, ...] = ()
    steps: tuple[StepRecord, ...] = ()
    source_url: str | None = None
    license: str | None = None


def slugify(name: str) -> str:
    """A URL-safe slug; non-Latin names keep their characters rather than becoming empty."""
    normalized = unicodedata.normalize("NFKC", name).lower()
    slug = re.sub(r"[^\w]+", "-", normalized).strip("-")
    return slug[:200] or "device"


def texts(value: Any, *, where: str) -> tuple[str, ...]:
    """A list of strings, stripped, blanks dropped; None is an empty list."""
    if value is None:
        return ()
    if not isinstance(value, list) or not all(isinstance(item, str) for item in value):
        raise GuideFileError(f"{where} must be a list of strings")
    return tuple(item.strip() for item in value if item.strip())


def required_text(record: dict[str, Any], key: str, *, where: str) -> str:
    value = record.get(key)
    if not isinstance(value, str) or not value.strip():
        raise GuideFileError(f"{where}: '{key}' is required and must be a non-empty string")
    return value.strip()


def optional_text(record: dict[str, Any], key: str, *, where: str) -> str | None:
    value = record.get(key)
    if value is None or (isinstance(value, str) and not value.strip()):
        return None
    if not isinstance(value, str):
        raise GuideFileError(f"{where}: '{key}' must be a string or null")
    return value.strip()
