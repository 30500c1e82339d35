"""The OpenAI-compatible engine: chat completions from OpenAI, llama.cpp's server or the like."""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from typing import TYPE_CHECKING, Any

from repairgpt.services.engines.model import ClientOptions, Messages, ModelEngine

if TYPE_CHECKING:
    from openai import OpenAI


class OpenAIEngine(ModelEngine):
    """Answers through an OpenAI-compatible `/v1/chat/completions` endpoint."""

    def _connect(self, options: ClientOptions) -> None:
        from openai import OpenAI  # imported here so the offline default needs no openai

        self._client: OpenAI = OpenAI(**options)

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
