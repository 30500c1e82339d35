"""Reading a guide file: which format it is in, and its devices and guides as records."""

from __future__ import annotations

import json
from collections.abc import Iterable
from dataclasses import dataclass
from pathlib import Path

from repairgpt.services.importer.ifixit_jsonl import (
    MYFIXIT_FORMAT,
    count_manuals,
    is_myfixit_manual,
    iter_myfixit,
)
from repairgpt.services.importer.project_format import PROJECT_FORMAT, parse_project_document
from repairgpt.services.importer.records import DeviceRecord, GuideFileError, GuideRecord


@dataclass(frozen=True)
class GuideFile:
    """A parsed guide file: its devices and an iterator of (device, guide) work items."""

    format: str
    total: int
    devices: list[DeviceRecord]
    items: Iterable[tuple[DeviceRecord | None, GuideRecord]]


def read_guide_file(path: Path) -> GuideFile:
    """Detect the format of `path` and parse it (JSON-lines files are streamed)."""
    if not path.is_file():
        raise GuideFileError(f"{path}: no such file")
    with path.open(encoding="utf-8") as handle:
        first_line = next((line for line in handle if line.strip()), "")
    if not first_line:
        raise GuideFileError(f"{path}: the file is empty")
    try:
        first = json.loads(first_line)
    except json.JSONDecodeError:
        first = None
    if is_myfixit_manual(first):
        return GuideFile(MYFIXIT_FORMAT, count_manuals(path), [], iter_myfixit(path))
    try:
        document = json.loads(path.read_text(encoding="utf-8"))
    except json.JSONDecodeError as exc:
        raise GuideFileError(
            f"{path}: neither {PROJECT_FORMAT} JSON nor MyFixit JSON lines ({exc.msg})"
        ) from exc
    devices, guides = parse_project_document(document)
    return GuideFile(PROJECT_FORMAT, len(guides), devices, [(None, guide) for guide in guides])
