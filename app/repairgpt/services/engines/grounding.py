"""What a model's answer is held to: the best guide's safety warnings first, and citation
markers only of guides that retrieval found."""

from __future__ import annotations

import re
from collections.abc import Sequence

from repairgpt.services.engines.safety import safety_warnings
from repairgpt.services.retrieval import SearchHit

_SAFETY_HEADING = {"en": "Safety first", "ja": "安全上の注意（最初に確認してください）"}
_MARKER = re.compile(r"\[(\d{1,4})\]")
# A `[` this close to the end of a streamed piece may start a marker the next piece finishes.
_LONGEST_MARKER = 6


def safety_preamble(hits: Sequence[SearchHit], question: str, language: str) -> str:
    """The best guide's safety warnings as a block to start an answer with; empty if none.

    A model may skip or mistranslate the warnings the prompt gives it, so they are never left
    to the model.
    """
    if not hits:
        return ""
    lang = language if language in _SAFETY_HEADING else "en"
    warnings = safety_warnings(hits[0].guide, question, lang)
    if not warnings:
        return ""
    lines = [f"**{_SAFETY_HEADING[lang]}**", *(f"- {warning}" for warning in warnings)]
    return "\n".join(lines) + "\n\n"


def drop_unknown_citations(text: str, count: int) -> str:
    """`text` without the `[n]` markers that name no retrieved guide (n outside 1..count)."""
    return _MARKER.sub(lambda m: m.group(0) if 1 <= int(m.group(1)) <= count else "", text)


class CitationFilter:
    """`drop_unknown_citations` over a stream whose markers may be split between pieces."""

    def __init__(self, count: int) -> None:
        self.count = count
        self._held = ""

    def feed(self, piece: str) -> str:
        text = self._held + piece
        start = text.rfind("[")
        if start != -1 and "]" not in text[start:] and len(text) - start < _LONGEST_MARKER:
            text, self._held = text[:start], text[start:]
        else:
            self._held = ""
        return drop_unknown_citations(text, self.count)

    def flush(self) -> str:
        text, self._held = self._held, ""
        return drop_unknown_citations(text, self.count)
