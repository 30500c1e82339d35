"""Guide import from the project's JSON format and the iFixit / MyFixit JSON-lines format.

(source, source_id) is the identity of a guide, so importing the same file twice updates the
guides in place and never creates duplicates.
"""

from __future__ import annotations

import json
import re
import unicodedata
from collections.abc import Callable, Iterable, Iterator, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, NamedTuple

from sqlalchemy import select, text
from sqlalchemy.orm import Session, selectinload

from repairgpt.models import Device, GuideStep, RepairGuide, utcnow
from repairgpt.schemas import MAX_STEP_IMAGES, is_step_image

PROJECT_FORMAT = "repairgpt-guides/v1"
MYFIXIT_LICENSE = "CC BY-NC-SA 3.0"
DIFFICULTIES = frozenset({"very_easy", "easy", "moderate", "difficult", "very_difficult"})
SEED_FILE = Path(__file__).resolve().parent.parent / "data" / "seed_guides.json"
_SEED_LOCK_KEY = 4_242_002


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


@dataclass
class ImportReport:
    guides_created: int = 0
    guides_updated: int = 0
    guides_unchanged: int = 0
    devices_created: int = 0
    devices_updated: int = 0
    errors: list[str] = field(default_factory=list)

    @property
    def guides_total(self) -> int:
        return self.guides_created + self.guides_updated + self.guides_unchanged


# Pure parsing


def slugify(name: str) -> str:
    """A URL-safe slug; non-Latin names keep their characters rather than becoming empty."""
    normalized = unicodedata.normalize("NFKC", name).lower()
    slug = re.sub(r"[^\w]+", "-", normalized).strip("-")
    return slug[:200] or "device"


def _texts(value: Any, *, where: str) -> tuple[str, ...]:
    if value is None:
        return ()
    if not isinstance(value, list) or not all(isinstance(item, str) for item in value):
        raise GuideFileError(f"{where} must be a list of strings")
    return tuple(item.strip() for item in value if item.strip())


def _required_text(record: dict[str, Any], key: str, *, where: str) -> str:
    value = record.get(key)
    if not isinstance(value, str) or not value.strip():
        raise GuideFileError(f"{where}: '{key}' is required and must be a non-empty string")
    return value.strip()


def _optional_text(record: dict[str, Any], key: str, *, where: str) -> str | None:
    value = record.get(key)
    if value is None or (isinstance(value, str) and not value.strip()):
        return None
    if not isinstance(value, str):
        raise GuideFileError(f"{where}: '{key}' must be a string or null")
    return value.strip()


def parse_project_device(record: dict[str, Any], *, position: int) -> DeviceRecord:
    where = f"devices[{position}]"
    name = _required_text(record, "name", where=where)
    return DeviceRecord(
        slug=_optional_text(record, "slug", where=where) or slugify(name),
        name=name,
        category=_optional_text(record, "category", where=where),
        brand=_optional_text(record, "brand", where=where),
        model=_optional_text(record, "model", where=where),
        aliases=_texts(record.get("aliases"), where=f"{where}.aliases"),
    )


def parse_project_guide(record: dict[str, Any], *, position: int) -> GuideRecord:
    where = f"guides[{position}]"
    difficulty = _optional_text(record, "difficulty", where=where)
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
    raw_steps = record.get("steps") or []
    if not isinstance(raw_steps, list):
        raise GuideFileError(f"{where}: steps must be a list")
    steps: list[StepRecord] = []
    for number, step in enumerate(raw_steps):
        if not isinstance(step, dict):
            raise GuideFileError(f"{where}.steps[{number}] must be an object")
        step_text = _optional_text(step, "text", where=f"{where}.steps[{number}]")
        images = _texts(step.get("images"), where=f"{where}.steps[{number}].images")
        if len(images) > MAX_STEP_IMAGES or not all(map(is_step_image, images)):
            raise GuideFileError(
                f"{where}.steps[{number}].images: at most {MAX_STEP_IMAGES}, each an https:// "
                "URL or a guide-image path"
            )
        if step_text:
            title = _optional_text(step, "title", where=where) or ""
            steps.append(StepRecord(title, step_text, images))
    return GuideRecord(
        source=_optional_text(record, "source", where=where) or "repairgpt",
        source_id=_required_text(record, "source_id", where=where),
        device_slug=_required_text(record, "device", where=where),
        title=_required_text(record, "title", where=where),
        language=language,
        summary=_optional_text(record, "summary", where=where) or "",
        difficulty=difficulty,
        time_minutes=minutes,
        tools=_texts(record.get("tools"), where=f"{where}.tools"),
        parts=_texts(record.get("parts"), where=f"{where}.parts"),
        safety_warnings=_texts(record.get("safety_warnings"), where=f"{where}.safety_warnings"),
        keywords=_texts(record.get("keywords"), where=f"{where}.keywords"),
        steps=tuple(steps),
        source_url=_optional_text(record, "source_url", where=where),
        license=_optional_text(record, "license", where=where),
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
    title = _required_text(manual, "Title", where=where)[:500]
    device_name = (_optional_text(manual, "Category", where=where) or title)[:300]
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
    subject = _optional_text(manual, "Subject", where=where)
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
        source_url=_optional_text(manual, "Url", where=where),
        license=MYFIXIT_LICENSE,
    )
    return device, guide


# Reading files


@dataclass(frozen=True)
class GuideFile:
    """A parsed guide file: its devices and an iterator of (device, guide) work items."""

    format: str
    total: int
    devices: list[DeviceRecord]
    items: Iterable[tuple[DeviceRecord | None, GuideRecord]]


def _iter_myfixit(path: Path) -> Iterator[tuple[DeviceRecord | None, GuideRecord]]:
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
    if isinstance(first, dict) and "Guidid" in first:
        with path.open(encoding="utf-8") as handle:
            total = sum(1 for raw in handle if raw.strip())
        return GuideFile("myfixit-jsonl", total, [], _iter_myfixit(path))
    try:
        document = json.loads(path.read_text(encoding="utf-8"))
    except json.JSONDecodeError as exc:
        raise GuideFileError(
            f"{path}: neither {PROJECT_FORMAT} JSON nor MyFixit JSON lines ({exc.msg})"
        ) from exc
    devices, guides = parse_project_document(document)
    return GuideFile(PROJECT_FORMAT, len(guides), devices, [(None, guide) for guide in guides])


# Writing to the database


def _upsert_device(
    session: Session, record: DeviceRecord, known: dict[str, Device], report: ImportReport
) -> Device:
    device = (
        known.get(record.slug)
        or session.scalars(select(Device).where(Device.slug == record.slug)).first()
    )
    if device is None:
        device = Device(
            slug=record.slug,
            name=record.name,
            category=record.category,
            brand=record.brand,
            model=record.model,
            aliases=list(record.aliases),
        )
        session.add(device)
        session.flush()
        report.devices_created += 1
    else:
        wanted: dict[str, Any] = {}
        for name in ("name", "category", "brand", "model"):
            value = getattr(record, name)
            if value is not None and (record.authoritative or getattr(device, name) is None):
                wanted[name] = value
        aliases = (
            list(record.aliases)
            if record.authoritative
            else list(dict.fromkeys([*(device.aliases or []), *record.aliases]))
        )
        if record.authoritative or record.aliases:
            wanted["aliases"] = aliases
        changed = {k: v for k, v in wanted.items() if getattr(device, k) != v}
        if changed:
            for name, value in changed.items():
                setattr(device, name, value)
            report.devices_updated += 1
    known[record.slug] = device
    return device


def _guide_fields(record: GuideRecord, device: Device) -> dict[str, Any]:
    return {
        "device_id": device.id,
        "title": record.title,
        "summary": record.summary,
        "language": record.language,
        "difficulty": record.difficulty,
        "time_minutes": record.time_minutes,
        "tools": list(record.tools),
        "parts": list(record.parts),
        "safety_warnings": list(record.safety_warnings),
        "keywords": list(record.keywords),
        "source_url": record.source_url,
        "license": record.license,
    }


def _step_rows(steps: Sequence[StepRecord]) -> list[GuideStep]:
    return [
        GuideStep(position=n, title=step.title, text=step.text, images=list(step.images))
        for n, step in enumerate(steps, start=1)
    ]


def _upsert_guide(
    session: Session, record: GuideRecord, device: Device, report: ImportReport
) -> None:
    guide = session.scalars(
        select(RepairGuide)
        .where(RepairGuide.source == record.source, RepairGuide.source_id == record.source_id)
        .options(selectinload(RepairGuide.steps))
    ).first()
    fields = _guide_fields(record, device)
    if guide is None:
        guide = RepairGuide(
            source=record.source, source_id=record.source_id, is_active=True, **fields
        )
        guide.steps = _step_rows(record.steps)
        session.add(guide)
        report.guides_created += 1
        return
    changed = {k: v for k, v in fields.items() if getattr(guide, k) != v}
    current_steps = tuple(
        StepRecord(step.title, step.text, tuple(step.images or ())) for step in guide.steps
    )
    if not changed and current_steps == record.steps:
        report.guides_unchanged += 1
        return
    for name, value in changed.items():
        setattr(guide, name, value)
    if current_steps != record.steps:
        guide.steps.clear()
        session.flush()  # positions are unique per guide: drop the old rows first
        guide.steps.extend(_step_rows(record.steps))
    guide.updated_at = utcnow()
    report.guides_updated += 1


def import_guide_file(
    session: Session, guide_file: GuideFile, *, progress: Callable[[int], None] | None = None
) -> ImportReport:
    """Write a parsed file into the database inside the caller's transaction."""
    report = ImportReport()
    known: dict[str, Device] = {}
    for listed in guide_file.devices:
        _upsert_device(session, listed, known, report)
    for count, (device_record, guide_record) in enumerate(guide_file.items, start=1):
        if device_record is not None:
            device = _upsert_device(session, device_record, known, report)
        else:
            found = (
                known.get(guide_record.device_slug)
                or session.scalars(
                    select(Device).where(Device.slug == guide_record.device_slug)
                ).first()
            )
            if found is None:
                raise GuideFileError(
                    f"guide {guide_record.source_id!r}: unknown device {guide_record.device_slug!r}"
                )
            known[guide_record.device_slug] = found
            device = found
        _upsert_guide(session, guide_record, device, report)
        if count % 100 == 0:
            session.flush()
        if progress is not None:
            progress(1)
    session.flush()
    return report


def seed_if_empty(session: Session, seed_file: Path = SEED_FILE) -> ImportReport | None:
    """Import the bundled seed guides when the guides table is empty; None if nothing to do."""
    if session.get_bind().dialect.name == "postgresql":
        # Replicas starting together: one seeds, the others then see a non-empty table.
        session.execute(text("SELECT pg_advisory_xact_lock(:key)"), {"key": _SEED_LOCK_KEY})
    if session.scalars(select(RepairGuide.id).limit(1)).first() is not None:
        return None
    if not seed_file.is_file():
        return None
    return import_guide_file(session, read_guide_file(seed_file))
