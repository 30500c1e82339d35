"""Guide import: both formats, idempotent re-import, and the rules that map MyFixit fields."""

from __future__ import annotations

import itertools
import json
from pathlib import Path

import pytest
from sqlalchemy import func, select

from repairgpt.core.config import normalize_database_url
from repairgpt.core.db import build_session_factory, create_db_engine, migrate, session_scope
from repairgpt.models import Device, GuideStep, RepairGuide
from repairgpt.services.importer import (
    GuideFileError,
    device_category_from_ancestors,
    import_guide_file,
    read_guide_file,
    slugify,
)
from tests.app.conftest import MYFIXIT_DIR, SAMPLE_GUIDES


def _run_import(url: str, path: Path) -> tuple[object, dict[str, int]]:
    engine = create_db_engine(normalize_database_url(url))
    try:
        migrate(engine)
        factory = build_session_factory(engine)
        with session_scope(factory) as session:
            report = import_guide_file(session, read_guide_file(path))
        with factory() as session:
            counts = {
                "guides": session.scalar(select(func.count(RepairGuide.id))) or 0,
                "steps": session.scalar(select(func.count(GuideStep.id))) or 0,
                "devices": session.scalar(select(func.count(Device.id))) or 0,
            }
    finally:
        engine.dispose()
    return report, counts


def test_reimporting_the_project_format_updates_and_never_duplicates(
    database_url: str, tmp_path: Path
) -> None:
    first, counts = _run_import(database_url, SAMPLE_GUIDES)
    assert first.guides_created == 4 and first.devices_created == 3  # type: ignore[attr-defined]
    assert counts == {"guides": 4, "steps": 9, "devices": 3}

    again, counts_again = _run_import(database_url, SAMPLE_GUIDES)
    assert again.guides_unchanged == 4 and again.guides_created == 0  # type: ignore[attr-defined]
    assert counts_again == counts

    document = json.loads(SAMPLE_GUIDES.read_text())
    document["guides"][0]["title"] = "iPhone 13 Battery Swap"
    document["guides"][0]["steps"] = document["guides"][0]["steps"][:1]
    changed = tmp_path / "changed.json"
    changed.write_text(json.dumps(document, ensure_ascii=False))
    update, counts_update = _run_import(database_url, changed)
    assert update.guides_updated == 1 and update.guides_unchanged == 3  # type: ignore[attr-defined]
    assert counts_update == {"guides": 4, "steps": 7, "devices": 3}
    engine = create_db_engine(normalize_database_url(database_url))
    with build_session_factory(engine)() as session:
        titles = session.scalars(select(RepairGuide.title)).all()
        aliases = session.scalars(select(Device.aliases).where(Device.slug == "iphone-13")).one()
    engine.dispose()
    assert "iPhone 13 Battery Swap" in titles
    assert "アイフォン13" in aliases


@pytest.mark.skipif(not MYFIXIT_DIR.is_dir(), reason=f"MyFixit data not present at {MYFIXIT_DIR}")
def test_a_myfixit_sample_imports_with_attribution_and_reimports_idempotently(
    database_url: str, tmp_path: Path
) -> None:
    sample = tmp_path / "appliance-sample.jsonl"
    with (MYFIXIT_DIR / "Appliance.jsonl").open(encoding="utf-8") as source:
        lines = list(itertools.islice(source, 40))
    sample.write_text("".join(lines), encoding="utf-8")
    manuals = [json.loads(line) for line in lines]

    first, counts = _run_import(database_url, sample)
    assert first.guides_created == len({m["Guidid"] for m in manuals})  # type: ignore[attr-defined]
    again, counts_again = _run_import(database_url, sample)
    assert again.guides_created == 0 and counts_again == counts  # type: ignore[attr-defined]

    engine = create_db_engine(normalize_database_url(database_url))
    with build_session_factory(engine)() as session:
        guide = session.scalars(
            select(RepairGuide).where(RepairGuide.source_id == str(manuals[0]["Guidid"]))
        ).one()
        assert guide.source == "ifixit"
        assert guide.source_url == manuals[0]["Url"]
        assert guide.license == "CC BY-NC-SA 3.0"
        assert guide.language == "en"
        assert guide.device.name == manuals[0]["Category"]
        assert guide.device.category == "Washing Machine"
        assert len(guide.steps) == len(manuals[0]["Steps"])
    engine.dispose()


def test_device_category_is_the_first_ancestor_naming_a_kind_of_device() -> None:
    assert (
        device_category_from_ancestors(
            "Kenmore Elite HE3 Washing Machine",
            ["Kenmore Washer", "Washing Machine", "Washer and Dryer", "Appliance", "Root"],
        )
        == "Washing Machine"
    )
    assert (
        device_category_from_ancestors(
            "iRobot Roomba 4100", ["Roomba", "Vacuum Cleaner", "Appliance", "Root"]
        )
        == "Vacuum Cleaner"
    )
    assert (
        device_category_from_ancestors("Video Card", ["Computer Hardware", "Root"])
        == "Computer Hardware"
    )
    assert (
        device_category_from_ancestors(
            "iPod 1st Generation", ["iPod Original", "iPod", "MP3 Player", "Media Player", "Root"]
        )
        == "MP3 Player"
    )
    assert device_category_from_ancestors("Thing", ["Root"]) is None


def test_slugs_keep_japanese_names_readable() -> None:
    assert slugify("iPhone 13 Pro Max") == "iphone-13-pro-max"
    assert slugify("ニンテンドースイッチ") == "ニンテンドースイッチ"


def test_a_file_in_neither_format_is_refused_with_a_clear_error(tmp_path: Path) -> None:
    bogus = tmp_path / "bogus.json"
    bogus.write_text('{"hello": "world"}')
    with pytest.raises(GuideFileError, match="repairgpt-guides/v1"):
        read_guide_file(bogus)
    bad_difficulty = tmp_path / "bad.json"
    document = json.loads(SAMPLE_GUIDES.read_text())
    document["guides"][1]["difficulty"] = "impossible"
    bad_difficulty.write_text(json.dumps(document))
    with pytest.raises(GuideFileError, match=r"guides\[1\]: difficulty"):
        read_guide_file(bad_difficulty)
