"""A model's answer starts with the guide's warnings and cites only guides retrieval found."""

from __future__ import annotations

from repairgpt.services.engines.grounding import (
    CitationFilter,
    drop_unknown_citations,
    safety_preamble,
)
from repairgpt.services.retrieval import GuideIndex


def test_markers_outside_the_retrieved_guides_are_dropped() -> None:
    text = "Open it [1]. Test it [2][3]. See [0] and [12]; keep [a] and [1, 2]."
    assert (
        drop_unknown_citations(text, 2)
        == "Open it [1]. Test it [2]. See  and ; keep [a] and [1, 2]."
    )
    assert drop_unknown_citations(text, 0).count("[") == 2


def test_markers_split_between_streamed_pieces_are_judged_whole() -> None:
    text = "Drain it [1]. Check [3] then [2]. Done [1"
    whole = drop_unknown_citations(text, 2)
    for size in range(1, 8):
        citations = CitationFilter(2)
        pieces = [citations.feed(text[i : i + size]) for i in range(0, len(text), size)]
        assert "".join(pieces) + citations.flush() == whole


def test_the_preamble_holds_the_best_guides_warnings_in_the_answer_language(
    seed_index: GuideIndex,
) -> None:
    hits = seed_index.search("電子レンジが温まらない", limit=3)
    preamble = safety_preamble(hits, "電子レンジが温まらない", "ja")
    assert preamble.startswith("**安全上の注意")
    for warning in hits[0].guide.safety_warnings:
        assert f"- {warning}\n" in preamble
    assert preamble.endswith("\n\n")
    english = seed_index.search("microwave does not heat", limit=3)
    assert safety_preamble(english, "microwave does not heat", "en").startswith("**Safety first**")
    assert safety_preamble([], "anything", "en") == ""
