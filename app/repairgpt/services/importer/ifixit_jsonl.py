"""Parsing of iFixit guides in the MyFixit JSON-lines format, one manual per line."""

from __future__ import annotations

import json
import re
from collections.abc import Iterator, Sequence
from pathlib import Path
from typing import Any

from repairgpt.schemas import MAX_STEP_IMAGES, is_step_image
from repairgpt.services.importer.records import (
    DeviceRecord,
    GuideFileError,
    GuideRecord,
    StepRecord,
    optional_text,
    required_text,
    slugify,
)

MYFIXIT_FORMAT = "myfixit-jsonl"
MYFIXIT_LICENSE = "CC BY-NC-SA 3.0"


def is_myfixit_manual(record: Any) -> bool:
    """Whether a parsed JSON value looks like a MyFixit manual (the first line tells the format)."""
    return isinstance(record, dict) and "Guidid" in record


def _words(text_value: str) -> set[str]:
    return {word for word in re.findall(r"\w+", text_value.lower()) if len(word) > 1}


def device_category_from_ancestors(device_name: str, ancestors: Sequence[str]) -> str | None:
    """The first ancestor that names a kind of device rather than a product family.

    MyFixit ancestors run from specific to general ("Kenmore Washer", "Washing Machine", ...,
    "Root"). A family shares a word with the device ("Kenmore", "Roomba"); a kind shares none,
    or ends the device's own name ("Kenmore Elite HE3 Washing Machine").
    """
    useful = [a.strip() for a in ancestors if a and a.strip() and a.strip().lower() != "root"]
    device = device_name.strip().lower()
    device_words = _words(device)
    for ancestor in useful:
        lowered = ancestor.lower()
        if lowered == device:
            continue
        if not (_words(lowered) & device_words) or device.endswith(" " + lowered):
            return ancestor
    return useful[-1] if useful else None


def _summary_from_steps(steps: Sequence[StepRecord], limit: int = 280) -> str:
    if not steps:
        return ""
    first = " ".join(steps[0].text.split())
    if len(first) <= limit:
        return first
    return first[:limit].rsplit(" ", 1)[0] + " ..."


def myfixit_step_images(step: dict[str, Any]) -> tuple[str, ...]:
    """A MyFixit step's image URLs that a step may carry; other values are dropped."""
    images = step.get("Images") or []
    if not isinstance(images, list):
        return ()
    kept = [url.strip() for url in images if isinstance(url, str) and is_step_image(url.strip())]
    return tuple(dict.fromkeys(kept))[:MAX_STEP_IMAGES]


def parse_myfixit_manual(manual: dict[str, Any], *, line: int) -> tuple[DeviceRecord, GuideRecord]:
    where = f"line {line}"
    if "Guidid" not in manual:
        raise GuideFileError(f"{where}: not a MyFixit manual (no 'Guidid')")
    title = required_text(manual, "Title", where=where)[:500]
    device_name = (optional_text(manual, "Category", where=where) or title)[:300]
    ancestors = [a for a in manual.get("Ancestors") or [] if isinstance(a, str)]
    steps: list[StepRecord] = []
    for step in sorted(manual.get("Steps") or [], key=lambda s: s.get("Order", 0)):
        raw = step.get("Text_raw")
        if not isinstance(raw, str) or not raw.strip():
            raw = " ".join(line_.get("Text", "") for line_ in step.get("Lines") or [])
        if raw.strip():
            steps.append(StepRecord("", " ".join(raw.split()), myfixit_step_images(step)))
    tools: list[str] = []
    for tool in manual.get("Toolbox") or []:
        name = tool.get("Name") if isinstance(tool, dict) else None
        if isinstance(name, str) and name.strip() and name.strip() not in tools:
            tools.append(name.strip())
    subject = optional_text(manual, "Subject", where=where)
    device = DeviceRecord(
        slug=slugify(device_name),
        name=device_name,
        category=device_category_from_ancestors(device_name, ancestors),
        authoritative=False,
    )
    guide = GuideRecord(
        source="ifixit",
        source_id=str(manual["Guidid"]),
        device_slug=device.slug,
        title=title,
        language="en",
        summary=_summary_from_steps(steps),
        tools=tuple(tools),
        parts=(subject,) if subject else (),
        keywords=(subject,) if subject else (),
        steps=tuple(steps),
        source_url=optional_text(manual, "Url", where=where),
        license=MYFIXIT_LICENSE,
    )
    return device, guide


def iter_myfixit(path: Path) -> Iterator[tuple[DeviceRecord | None, GuideRecord]]:
    """(device, guide) of each manual of a MyFixit file, read line by line."""
    with path.open(encoding="utf-8") as handle:
        for number, raw in enumerate(handle, start=1):
            if not raw.strip():
                continue
            try:
                manual = json.loads(raw)
            except json.JSONDecodeError as exc:
                raise GuideFileError(f"line {number}: invalid JSON ({exc.msg})") from exc
            device, guide = parse_myfixit_manual(manual, line=number)
            yield device, guide


def count_manuals(path: Path) -> int:
    """The number of manuals (non-blank lines) of a MyFixit file."""
    with path.open(encoding="utf-8") as handle:
        return sum(1 for raw in handle if raw.strip())
