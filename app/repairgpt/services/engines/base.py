"""The interface every answer engine implements, and the types and helpers they share."""

from __future__ import annotations

import re
from collections.abc import Iterator, Sequence
from dataclasses import dataclass
from typing import Protocol

from repairgpt.services.retrieval import SearchHit

History = Sequence[tuple[str, str]]
Hits = Sequence[SearchHit]


@dataclass(frozen=True)
class Citation:
    """A guide that an answer relies on."""

    guide_id: int
    source_id: str | None
    title: str
    url: str | None


@dataclass(frozen=True)
class Answer:
    """An answer to one question, with the guides it cites and the engine that wrote it."""

    text: str
    citations: tuple[Citation, ...]
    language: str
    engine: str


# A streamed answer: text deltas, then the whole `Answer` last.
Pieces = Iterator[str | Answer]


class AnswerEngine(Protocol):
    """Turns a question and the guides found for it into an answer."""

    name: str
    # False when answers ignore the conversation so far: then the caller need not read it.
    uses_history: bool

    def answer(self, question: str, hits: Hits, *, language: str, history: History = ()) -> Answer:
        """The whole answer at once."""

    def stream(self, question: str, hits: Hits, *, language: str, history: History = ()) -> Pieces:
        """Pieces of the answer text as they are written, then the whole `Answer`."""


def citations_for(hits: Sequence[SearchHit]) -> tuple[Citation, ...]:
    """One citation per hit, in ranking order: an answer cites only guides retrieval found."""
    return tuple(
        Citation(
            guide_id=hit.guide.id,
            source_id=hit.guide.source_id,
            title=hit.guide.title,
            url=hit.guide.source_url,
        )
        for hit in hits
    )


def clip(text: str, limit: int) -> str:
    """`text` on one line, cut to `limit` characters with an ellipsis."""
    text = " ".join(text.split())
    return text if len(text) <= limit else text[: limit - 3].rstrip() + "..."


def line_chunks(text: str) -> Iterator[str]:
    """Line-sized deltas, so a streamed composed answer renders progressively."""
    start = 0
    for match in re.finditer(r"\n", text):
        yield text[start : match.end()]
        start = match.end()
    if start < len(text):
        yield text[start:]
