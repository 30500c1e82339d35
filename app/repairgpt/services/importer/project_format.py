"""Parsing of the project's own guide format (repairgpt-guides/v1): curated devices and guides."""

from __future__ import annotations

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
    texts,
)

PROJECT_FORMAT = "repairgpt-guides/v1"
DIFFICULTIES = frozenset({"very_easy", "easy", "moderate", "difficult", "very_difficult"})


def parse_project_device(record: dict[str, Any], *, position: int) -> DeviceRecord:
    where = f"devices[{position}]"
    name = required_text(record, "name", where=where)
    return DeviceRecord(
        slug=optional_text(record, "slug", where=where) or slugify(name),
        name=name,
        category=optional_text(record, "category", where=where),
        brand=optional_text(record, "brand", where=where),
        model=optional_text(record, "model", where=where),
        aliases=texts(record.get("aliases"), where=f"{where}.aliases"),
    )


def _parse_steps(raw_steps: Any, *, where: str) -> tuple[StepRecord, ...]:
    if not isinstance(raw_steps, list):
        raise GuideFileError(f"{where}: steps must be a list")
    steps: list[StepRecord] = []
    for number, step in enumerate(raw_steps):
        if not isinstance(step, dict):
            raise GuideFileError(f"{where}.steps[{number}] must be an object")
        step_text = optional_text(step, "text", where=f"{where}.steps[{number}]")
        images = texts(step.get("images"), where=f"{where}.steps[{number}].images")
        if len(images) > MAX_STEP_IMAGES or not all(map(is_step_image, images)):
            raise GuideFileError(
                f"{where}.steps[{number}].images: at most {MAX_STEP_IMAGES}, each an https:// "
                "URL or a guide-image path"
            )
        if step_text:
            title = optional_text(step, "title", where=where) or ""
            steps.append(StepRecord(title, step_text, images))
    return tuple(steps)


def parse_project_guide(record: dict[str, Any], *, position: int) -> GuideRecord:
    where = f"guides[{position}]"
    difficulty = optional_text(record, "difficulty", where=where)
    if difficulty is not None and difficulty not in DIFFICULTIES:
        raise GuideFileError(
            f"{where}: difficulty {difficulty!r} is not one of {sorted(DIFFICULTIES)}"
        )
    minutes = record.get("time_minutes")
    if minutes is not None and (
        not isinstance(minutes, int) or isinstance(minutes, bool) or minutes < 0
    ):
        raise GuideFileError(f"{where}: time_minutes must be a non-negative integer or null")
    language = record.get("language", "en")
    if language not in ("en", "ja"):
        raise GuideFileError(f"{where}: language must be 'en' or 'ja'")
    steps = _parse_steps(record.get("steps") or [], where=where)
    return GuideRecord(
        source=optional_text(record, "source", where=where) or "repairgpt",
        source_id=required_text(record, "source_id", where=where),
        device_slug=required_text(record, "device", where=where),
        title=required_text(record, "title", where=where),
        language=language,
        summary=optional_text(record, "summary", where=where) or "",
        difficulty=difficulty,
        time_minutes=minutes,
        tools=texts(record.get("tools"), where=f"{where}.tools"),
        parts=texts(record.get("parts"), where=f"{where}.parts"),
        safety_warnings=texts(record.get("safety_warnings"), where=f"{where}.safety_warnings"),
        keywords=texts(record.get("keywords"), where=f"{where}.keywords"),
        steps=steps,
        source_url=optional_text(record, "source_url", where=where),
        license=optional_text(record, "license", where=where),
    )


def parse_project_document(document: Any) -> tuple[list[DeviceRecord], list[GuideRecord]]:
    if not isinstance(document, dict) or document.get("format") != PROJECT_FORMAT:
        raise GuideFileError(f"not a {PROJECT_FORMAT} document")
    devices = document.get("devices") or []
    guides = document.get("guides") or []
    if not isinstance(devices, list) or not isinstance(guides, list):
        raise GuideFileError("'devices' and 'guides' must be lists")
    return (
        [parse_project_device(item, position=i) for i, item in enumerate(devices)],
        [parse_project_guide(item, position=i) for i, item in enumerate(guides)],
    )
