"""Guide import keeps step images: MyFixit `Images` and the project format's `images`."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest
from sqlalchemy import select

from repairgpt.core.config import normalize_database_url
from repairgpt.core.db import build_session_factory, create_db_engine, migrate, session_scope
from repairgpt.models import GuideStep, RepairGuide
from repairgpt.services.importer import (
    GuideFileError,
    ImportReport,
    import_guide_file,
    read_guide_file,
)

CDN = "https://guide-images.example.net/igi"


def _manual(guide_id: int, images: list[Any]) -> dict[str, Any]:
    """A MyFixit manual with the fields the importer reads; step 1 comes second on purpose."""
    return {
        "Title": "Kickstand Replacement",
        "Guidid": guide_id,
        "Category": "Example Tablet",
        "Ancestors": ["Tablet", "Root"],
        "Url": f"https://www.example.net/Guide/{guide_id}",
        "Toolbox": [{"Name": "Spudger"}],
        "Subject": "Kickstand",
        "Steps": [
            {"Order": 1, "Text_raw": "Lift the kickstand.", "Images": images, "Lines": []},
            {"Order": 0, "Text_raw": "Power off the tablet.", "Images": [], "Lines": []},
        ],
    }


def _write_jsonl(path: Path, manuals: list[dict[str, Any]]) -> Path:
    path.write_text("\n".join(json.dumps(m) for m in manuals) + "\n", encoding="utf-8")
    return path


def _import(url: str, path: Path) -> tuple[ImportReport, dict[str, list[list[str]]]]:
    engine = create_db_engine(normalize_database_url(url))
    try:
        migrate(engine)
        factory = build_session_factory(engine)
        with session_scope(factory) as session:
            report = import_guide_file(session, read_guide_file(path))
        with factory() as session:
            rows = session.execute(
                select(RepairGuide.source_id, GuideStep.images)
                .join(GuideStep.guide)
                .order_by(RepairGuide.source_id, GuideStep.position)
            ).all()
    finally:
        engine.dispose()
    images: dict[str, list[list[str]]] = {}
    for source_id, step_images in rows:
        images.setdefault(source_id, []).append(step_images)
    return report, images


def test_myfixit_step_images_are_imported_in_step_order_and_reimported_in_place(
    database_url: str, tmp_path: Path
) -> None:
    pictures = [f"{CDN}/a.standard", f"{CDN}/b.standard"]
    path = _write_jsonl(tmp_path / "Tablet.jsonl", [_manual(101, pictures), _manual(102, [])])
    report, images = _import(database_url, path)
    assert report.guides_created == 2
    assert images == {"101": [[], pictures], "102": [[], []]}

    again, _ = _import(database_url, path)
    assert again.guides_unchanged == 2

    changed = _write_jsonl(
        tmp_path / "Tablet.jsonl", [_manual(101, pictures[:1]), _manual(102, [])]
    )
    update, images = _import(database_url, changed)
    assert update.guides_updated == 1 and update.guides_unchanged == 1
    assert images["101"] == [[], pictures[:1]]


def test_myfixit_images_that_a_step_may_not_carry_are_dropped(
    sqlite_url: str, tmp_path: Path
) -> None:
    kept = f"{CDN}/kept.standard"
    dropped = ["http://plain.example.net/a.jpg", "javascript:alert(1)", 7, None, kept]
    path = _write_jsonl(tmp_path / "Tablet.jsonl", [_manual(201, dropped)])
    _, images = _import(sqlite_url, path)
    assert images == {"201": [[], [kept]]}


def test_project_format_step_images_are_imported_and_bad_ones_refuse_the_file(
    sqlite_url: str, tmp_path: Path
) -> None:
    document: dict[str, Any] = {
        "format": "repairgpt-guides/v1",
        "devices": [{"name": "Example Tablet", "slug": "example-tablet"}],
        "guides": [
            {
                "source_id": "t-kickstand",
                "device": "example-tablet",
                "title": "Kickstand Replacement",
                "steps": [{"text": "Lift the kickstand.", "images": [f"{CDN}/c.standard"]}],
            }
        ],
    }
    path = tmp_path / "guides.json"
    path.write_text(json.dumps(document), encoding="utf-8")
    _, images = _import(sqlite_url, path)
    assert images == {"t-kickstand": [[f"{CDN}/c.standard"]]}

    document["guides"][0]["steps"][0]["images"] = ["http://plain.example.net/a.jpg"]
    path.write_text(json.dumps(document), encoding="utf-8")
    with pytest.raises(GuideFileError, match=r"steps\[0\]\.images"):
        read_guide_file(path)
