"""What search works on and returns: guides as `GuideDoc`s and ranked results as `SearchHit`s."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any, TypedDict


@dataclass(frozen=True)
class GuideDoc:
    """What the index and the answer engines see of one guide."""

    id: int
    source_id: str | None
    title: str
    summary: str
    language: str
    device_name: str
    device_category: str | None
    device_brand: str | None
    device_aliases: tuple[str, ...]
    difficulty: str | None
    time_minutes: int | None
    tools: tuple[str, ...]
    parts: tuple[str, ...]
    safety_warnings: tuple[str, ...]
    keywords: tuple[str, ...]
    steps: tuple[tuple[str, str], ...]
    source_url: str | None = None


@dataclass(frozen=True)
class SearchHit:
    """One ranked result: the guide, its score and the sentence that best matches the query."""

    guide: GuideDoc
    score: float
    snippet: str
    # Share (0..1) of the question's own words, weighted by rarity, that the guide contains; a
    # low share means the guide only touches the question through a common word.
    coverage: float = 1.0


class Filters(TypedDict, total=False):
    """What a search may be narrowed to; a filter left out or None does not narrow it."""

    language: str | None
    device: str | None
    difficulty: str | None


def docs_from_guide_file(data: Mapping[str, Any], *, first_id: int = 1) -> list[GuideDoc]:
    """GuideDocs of a guide file in the project's JSON format (repairgpt-guides/v1).

    Ids are assigned in file order from first_id, as a database would on a fresh import.
    """
    devices = {device["slug"]: device for device in data.get("devices", [])}
    docs: list[GuideDoc] = []
    for offset, guide in enumerate(data.get("guides", [])):
        device = devices.get(guide["device"], {"name": guide["device"]})
        docs.append(
            GuideDoc(
                id=first_id + offset,
                source_id=guide.get("source_id"),
                title=guide["title"],
                summary=guide.get("summary") or "",
                language=guide.get("language") or "en",
                device_name=device.get("name") or guide["device"],
                device_category=device.get("category"),
                device_brand=device.get("brand"),
                device_aliases=tuple(device.get("aliases") or ()),
                difficulty=guide.get("difficulty"),
                time_minutes=guide.get("time_minutes"),
                tools=tuple(guide.get("tools") or ()),
                parts=tuple(guide.get("parts") or ()),
                safety_warnings=tuple(guide.get("safety_warnings") or ()),
                keywords=tuple(guide.get("keywords") or ()),
                steps=tuple((s.get("title") or "", s.get("text") or "") for s in guide["steps"]),
                source_url=guide.get("source_url"),
            )
        )
    return docs
