"""Writing parsed guides into the database: upserts keyed by (source, source_id), and the seed.

(source, source_id) is the identity of a guide, so importing the same file twice updates the
guides in place and never creates duplicates.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from sqlalchemy import select, text
from sqlalchemy.orm import Session, selectinload

from repairgpt.models import Device, GuideStep, RepairGuide, utcnow
from repairgpt.services.importer.guide_file import GuideFile, read_guide_file
from repairgpt.services.importer.records import (
    DeviceRecord,
    GuideFileError,
    GuideRecord,
    StepRecord,
)

SEED_FILE = Path(__file__).resolve().parents[2] / "data" / "seed_guides.json"
_SEED_LOCK_KEY = 4_242_002


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
