"""The Claude engine: answers through Anthropic's Messages API (`/v1/messages`)."""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from typing import TYPE_CHECKING, Any

from repairgpt.services.engines.model import ClientOptions, Messages, ModelEngine

if TYPE_CHECKING:
    from anthropic import Anthropic


def split_system(messages: Messages) -> tuple[str, list[dict[str, str]]]:
    """The system prompt apart, as the Messages API takes it, and the turns after it.

    Consecutive turns of one role are joined into one, since the API expects the roles to
    alternate (a history can end with a user turn whose answer was never stored).
    """
    system = "\n\n".join(m["content"] for m in messages if m["role"] == "system")
    turns: list[dict[str, str]] = []
    for message in messages:
        if message["role"] == "system":
            continue
        if turns and turns[-1]["role"] == message["role"]:
            turns[-1] = {**turns[-1], "content": turns[-1]["content"] + "\n\n" + message["content"]}
        else:
            turns.append({"role": message["role"], "content": message["content"]})
    return system, turns


class AnthropicEngine(ModelEngine):
    """Answers through Claude, or any server that speaks the Messages API.

    It sends no temperature, which current releases of the anthropic SDK no longer accept.
    """

    def _connect(self, options: ClientOptions) -> None:
        from anthropic import Anthropic  # imported here so the offline default needs no anthropic

        self._client: Anthropic = Anthropic(**options)

    def _params(self, messages: Messages) -> dict[str, Any]:
        system, turns = split_system(messages)
        return {
            "model": self.model,
            "system": system,
            "messages": turns,
            "max_tokens": self.max_tokens,
        }

    def complete(self, messages: Messages) -> str:
        reply = self._client.messages.create(**self._params(messages))
        return "".join(block.text for block in reply.content if block.type == "text")

    @contextmanager
    def stream_deltas(self, messages: Messages) -> Iterator[Iterator[str]]:
        # The context manager closes the HTTP response even if the reader stops early.
        with self._client.messages.stream(**self._params(messages)) as stream:
            yield (text for text in stream.text_stream if text)
