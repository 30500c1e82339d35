"""What every engine backed by a language model shares: the prompt, the guide's safety warnings,
citations of retrieved guides only, and the fallback.

A model engine falls back to another engine (the offline one) whenever the model endpoint
fails, so a chat never ends in an error because a model server is down. A new provider only
says how to make its client, send one request and stream one (and `factory.py` where its
settings are).
"""

from __future__ import annotations

import logging
from abc import ABC, abstractmethod
from collections.abc import Iterator, Sequence
from contextlib import AbstractContextManager
from dataclasses import replace
from typing import Self, TypedDict

from pydantic import SecretStr

from repairgpt.core.config import Settings
from repairgpt.services.engines.base import (
    Answer,
    AnswerEngine,
    History,
    Hits,
    Pieces,
    citations_for,
    line_chunks,
)
from repairgpt.services.engines.grounding import (
    CitationFilter,
    drop_unknown_citations,
    safety_preamble,
)
from repairgpt.services.engines.prompt import GUIDE_CONTEXT_CHARS, build_messages
from repairgpt.services.retrieval import SearchHit

logger = logging.getLogger(__name__)

Messages = list[dict[str, str]]
# A provider's base URL (None for its own service) and API key.
Endpoint = tuple[str | None, SecretStr | None]


class ClientOptions(TypedDict):
    """What both SDK clients take to reach an endpoint."""

    base_url: str | None
    api_key: str
    timeout: float
    max_retries: int


class ModelEngine(ABC):
    """Answers through a language model, falling back to `fallback` on any failure."""

    name = "llm"
    uses_history = True

    def __init__(
        self,
        *,
        base_url: str | None,
        api_key: str,
        model: str,
        timeout: float = 20.0,
        max_retries: int = 2,
        fallback: AnswerEngine,
        max_tokens: int = 800,
        temperature: float = 0.2,
        guide_context_chars: int = GUIDE_CONTEXT_CHARS,
    ) -> None:
        self.model = model
        self.fallback = fallback
        self.max_tokens = max_tokens
        self.temperature = temperature
        self.guide_context_chars = guide_context_chars
        self._connect(
            ClientOptions(
                base_url=base_url or None,
                # A local server needs no key, but the SDKs refuse to send a request without one.
                api_key=api_key or "not-needed",
                timeout=timeout,
                max_retries=max_retries,
            )
        )

    @classmethod
    def from_settings(
        cls, settings: Settings, endpoint: Endpoint, *, fallback: AnswerEngine
    ) -> Self:
        """The engine for `endpoint`, with the model and timeout of `settings`."""
        base_url, api_key = endpoint
        return cls(
            base_url=base_url,
            api_key=api_key.get_secret_value() if api_key else "",
            model=settings.llm_model,
            timeout=settings.llm_timeout,
            fallback=fallback,
        )

    @abstractmethod
    def _connect(self, options: ClientOptions) -> None:
        """Create the provider's client (its SDK is imported only when an engine is made)."""

    @abstractmethod
    def complete(self, messages: Messages) -> str:
        """The model's whole reply to `messages` (system message first)."""

    @abstractmethod
    def stream_deltas(self, messages: Messages) -> AbstractContextManager[Iterator[str]]:
        """The model's reply in pieces; leaving the context ends the model's response."""

    def _messages(
        self, question: str, hits: Sequence[SearchHit], language: str, history: History
    ) -> Messages:
        return build_messages(
            question,
            hits,
            language=language,
            history=history,
            context_chars=self.guide_context_chars,
        )

    def _fallback_answer(
        self, question: str, hits: Sequence[SearchHit], language: str, history: History
    ) -> Answer:
        answer = self.fallback.answer(question, hits, language=language, history=history)
        return replace(answer, engine="offline-fallback")

    def answer(self, question: str, hits: Hits, *, language: str, history: History = ()) -> Answer:
        messages = self._messages(question, hits, language, history)
        try:
            text = self.complete(messages).strip()
        except Exception as exc:  # any endpoint failure must still give the user an answer
            logger.warning("LLM request failed, using the offline engine: %s", type(exc).__name__)
            return self._fallback_answer(question, hits, language, history)
        text = drop_unknown_citations(text, len(hits)).strip()
        if not text:
            logger.warning("LLM returned an empty answer, using the offline engine")
            return self._fallback_answer(question, hits, language, history)
        return Answer(
            text=safety_preamble(hits, question, language) + text,
            citations=citations_for(hits),
            language=language,
            engine=self.name,
        )

    def stream(self, question: str, hits: Hits, *, language: str, history: History = ()) -> Pieces:
        messages = self._messages(question, hits, language, history)
        emitted: list[str] = []
        try:
            with self.stream_deltas(messages) as deltas:
                for piece in _grounded(deltas, hits, question, language):
                    emitted.append(piece)
                    yield piece
        except Exception as exc:  # fall back mid-stream too; what was sent stays sent
            logger.warning("LLM stream failed, using the offline engine: %s", type(exc).__name__)
        else:
            if emitted:
                yield Answer(
                    text="".join(emitted),
                    citations=citations_for(hits),
                    language=language,
                    engine=self.name,
                )
                return
        fallback = self._fallback_answer(question, hits, language, history)
        separator = "\n\n" if emitted else ""
        yield from line_chunks(separator + fallback.text)
        yield replace(fallback, text="".join(emitted) + separator + fallback.text)


def _grounded(deltas: Iterator[str], hits: Hits, question: str, language: str) -> Iterator[str]:
    """The model's pieces without unknown citation markers, after the safety warnings.

    The warnings go out with the model's first words, so a model that fails before writing
    anything leaves only the offline answer, which carries them itself.
    """
    citations = CitationFilter(len(hits))
    preamble = safety_preamble(hits, question, language)

    def filtered() -> Iterator[str]:
        for delta in deltas:
            yield citations.feed(delta)
        yield citations.flush()

    started = False
    for piece in filtered():
        if not started:
            piece = piece.lstrip()
            if not piece:
                continue
            started = True
            if preamble:
                yield preamble
        if piece:
            yield piece
