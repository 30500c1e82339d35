"""The OpenAI-compatible engine: chat completions from OpenAI, llama.cpp's server or the like."""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from typing import TYPE_CHECKING, Any

from repairgpt.core.config import Settings
from repairgpt.services.engines.base import AnswerEngine
from repairgpt.services.engines.model import Messages, ModelEngine
from repairgpt.services.engines.prompt import GUIDE_CONTEXT_CHARS

if TYPE_CHECKING:
    from openai import OpenAI


class OpenAIEngine(ModelEngine):
    """Answers through an OpenAI-compatible `/v1/chat/completions` endpoint."""

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
        from openai import OpenAI  # imported here so the offline default needs no openai

        super().__init__(
            model=model,
            fallback=fallback,
            max_tokens=max_tokens,
            temperature=temperature,
            guide_context_chars=guide_context_chars,
        )
        self._client: OpenAI = OpenAI(
            base_url=base_url or None,
            api_key=api_key or "not-needed",
            timeout=timeout,
            max_retries=max_retries,
        )

    def _request(self, messages: Messages, *, stream: bool) -> Any:
        return self._client.chat.completions.create(
            model=self.model,
            messages=messages,  # type: ignore[arg-type]
            max_tokens=self.max_tokens,
            temperature=self.temperature,
            stream=stream,
        )

    def complete(self, messages: Messages) -> str:
        completion = self._request(messages, stream=False)
        return str(completion.choices[0].message.content or "")

    @contextmanager
    def stream_deltas(self, messages: Messages) -> Iterator[Iterator[str]]:
        # The context manager closes the HTTP response even if the reader stops early.
        with self._request(messages, stream=True) as response:
            yield (
                chunk.choices[0].delta.content
                for chunk in response
                if chunk.choices and chunk.choices[0].delta.content
            )


def configured(settings: Settings) -> bool:
    """OpenAI is the chosen provider and an API key or a base URL points at an endpoint."""
    return settings.llm_provider == "openai" and settings.llm_configured


def from_settings(settings: Settings, *, fallback: AnswerEngine) -> OpenAIEngine:
    api_key = settings.openai_api_key.get_secret_value() if settings.openai_api_key else ""
    return OpenAIEngine(
        base_url=settings.openai_base_url,
        api_key=api_key,
        model=settings.llm_model,
        timeout=settings.llm_timeout,
        fallback=fallback,
    )
