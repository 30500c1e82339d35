"""The bundled seed guides are valid, varied and bilingual."""

from __future__ import annotations

from collections import Counter
from typing import Any

DIFFICULTIES = {"very_easy", "easy", "moderate", "difficult", "very_difficult", None}
GUIDE_FIELDS = {
    "source_id", "device", "language", "title", "summary", "difficulty", "time_minutes", "tools",
    "parts", "safety_warnings", "keywords", "steps", "source", "source_url", "license",
}  # fmt: skip


def test_the_seed_file_follows_the_guide_format(seed_data: dict[str, Any]) -> None:
    assert seed_data["format"] == "repairgpt-guides/v1"
    slugs = {device["slug"] for device in seed_data["devices"]}
    for device in seed_data["devices"]:
        assert device["name"] and device["category"]
        assert isinstance(device["aliases"], list)
    for guide in seed_data["guides"]:
        assert set(guide) == GUIDE_FIELDS, guide["source_id"]
        assert guide["device"] in slugs
        assert guide["language"] in {"en", "ja"}
        assert guide["difficulty"] in DIFFICULTIES
        assert guide["time_minutes"] is None or guide["time_minutes"] > 0
        assert guide["title"].strip() and guide["summary"].strip()
        assert 4 <= len(guide["steps"]) <= 8, guide["source_id"]
        assert all(step["title"].strip() and step["text"].strip() for step in guide["steps"])
        assert guide["keywords"], guide["source_id"]
        assert guide["source"] == "repairgpt" and guide["license"] == "CC-BY-4.0"


def test_there_are_enough_guides_in_both_languages(seed_data: dict[str, Any]) -> None:
    languages = Counter(guide["language"] for guide in seed_data["guides"])
    assert sum(languages.values()) >= 36
    assert languages["ja"] >= 12 and languages["en"] >= 12


def test_phones_laptops_consoles_and_appliances_are_covered(seed_data: dict[str, Any]) -> None:
    category_of = {device["slug"]: device["category"] for device in seed_data["devices"]}
    covered = Counter(category_of[guide["device"]] for guide in seed_data["guides"])
    for category in ("phone", "laptop", "game console", "appliance"):
        assert covered[category] >= 4, category


def test_source_ids_are_unique(seed_data: dict[str, Any]) -> None:
    ids = [guide["source_id"] for guide in seed_data["guides"]]
    assert len(ids) == len(set(ids))


def test_every_device_has_a_japanese_alias(seed_data: dict[str, Any]) -> None:
    for device in seed_data["devices"]:
        assert any(
            any("\u3040" <= c <= "\u30ff" or "\u4e00" <= c <= "\u9fff" for c in alias)
            for alias in device["aliases"]
        ), device["slug"]


def test_dangerous_repairs_carry_their_safety_warnings(seed_data: dict[str, Any]) -> None:
    by_id = {guide["source_id"]: guide for guide in seed_data["guides"]}
    assert "capacitor" in " ".join(by_id["rg-microwave-not-heating-en"]["safety_warnings"])
    assert "コンデンサー" in " ".join(by_id["rg-microwave-not-heating-ja"]["safety_warnings"])
    assert "swollen" in " ".join(by_id["rg-iphone-13-battery-en"]["safety_warnings"])
    category_of = {device["slug"]: device["category"] for device in seed_data["devices"]}
    for guide in seed_data["guides"]:
        if category_of[guide["device"]] == "appliance" or "battery" in guide["source_id"]:
            assert guide["safety_warnings"], guide["source_id"]
