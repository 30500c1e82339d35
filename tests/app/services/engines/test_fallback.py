"""Both model engines fall back to the offline answer, whole or after what they already sent,
when their endpoint is unreachable, hangs or breaks off a stream."""

from __future__ import annotations

import json
import socket
import threading
import time
from collections.abc import Callable, Iterator
from http.server import BaseHTTPRequestHandler
from typing import Any, NamedTuple

import pytest

from repairgpt.services.engines import Answer
from repairgpt.services.engines.anthropic import AnthropicEngine
from repairgpt.services.engines.grounding import safety_preamble
from repairgpt.services.engines.model import ModelEngine
from repairgpt.services.engines.offline import OfflineEngine
from repairgpt.services.engines.openai import OpenAIEngine
from repairgpt.services.retrieval import GuideIndex
from tests.app.services.engines.test_anthropic import serve, stream_start, text_delta
from tests.utils.servers import free_port

QUESTION = "water stays in the drum of my washer after the cycle"


def break_messages_stream(handler: BaseHTTPRequestHandler, _: dict[str, Any]) -> None:
    """A Messages-API stream with one delta, then a corrupt event."""
    stream_start(handler)
    handler.wfile.write(text_delta("Unplug it first."))
    handler.wfile.write(b"event: content_block_delta\ndata: {this is not json\n\n")
    handler.wfile.flush()


def break_chat_stream(handler: BaseHTTPRequestHandler, _: dict[str, Any]) -> None:
    """A chat-completions stream with one delta, then a corrupt event."""
    chunk = {
        "id": "c1",
        "object": "chat.completion.chunk",
        "created": 0,
        "model": "m",
        "choices": [{"index": 0, "delta": {"content": "Unplug it first."}}],
    }
    handler.send_response(200)
    handler.send_header("Content-Type", "text/event-stream")
    handler.end_headers()
    handler.wfile.write(f"data: {json.dumps(chunk)}\n\n".encode())
    handler.wfile.write(b"data: {this is not json\n\n")
    handler.wfile.flush()


class Provider(NamedTuple):
    engine: type[ModelEngine]
    path: str  # what the base URL ends with, before the SDK's own path
    break_stream: Callable[[BaseHTTPRequestHandler, dict[str, Any]], None]


PROVIDERS = [
    pytest.param(Provider(AnthropicEngine, "", break_messages_stream), id="anthropic"),
    pytest.param(Provider(OpenAIEngine, "/v1", break_chat_stream), id="openai"),
]


def small_engine(provider: Provider, server_url: str, timeout: float) -> ModelEngine:
    return provider.engine(
        base_url=server_url + provider.path,
        api_key="test-key",
        model="smollm2",
        timeout=timeout,
        max_retries=0,
        fallback=OfflineEngine(),
        max_tokens=16,
        guide_context_chars=500,
    )


@pytest.fixture
def hanging_server() -> Iterator[str]:
    """A TCP server that accepts connections and never answers: a stuck model endpoint."""
    listener = socket.socket()
    listener.bind(("127.0.0.1", 0))
    listener.listen(8)
    accepted: list[socket.socket] = []
    stop = threading.Event()

    def accept() -> None:
        listener.settimeout(0.2)
        while not stop.is_set():
            try:
                conn, _ = listener.accept()
                accepted.append(conn)
            except TimeoutError:
                continue
            except OSError:
                return

    thread = threading.Thread(target=accept, daemon=True)
    thread.start()
    yield f"http://127.0.0.1:{listener.getsockname()[1]}"
    stop.set()
    thread.join(timeout=2)
    for conn in accepted:
        conn.close()
    listener.close()


@pytest.mark.parametrize("provider", PROVIDERS)
def test_an_unreachable_server_falls_back_to_the_offline_answer(
    seed_index: GuideIndex, provider: Provider
) -> None:
    hits = seed_index.search(QUESTION, limit=3)
    model = small_engine(provider, f"http://127.0.0.1:{free_port()}", timeout=5)
    answer = model.answer(QUESTION, hits, language="en")
    assert answer.engine == "offline-fallback"
    offline = OfflineEngine().answer(QUESTION, hits, language="en")
    assert (answer.text, answer.citations) == (offline.text, offline.citations)
    assert answer.citations[0].guide_id == hits[0].guide.id


@pytest.mark.parametrize("provider", PROVIDERS)
def test_a_server_that_never_answers_times_out_and_falls_back(
    seed_index: GuideIndex, hanging_server: str, provider: Provider
) -> None:
    hits = seed_index.search(QUESTION, limit=3)
    model = small_engine(provider, hanging_server, timeout=1.0)
    start = time.monotonic()
    answer = model.answer(QUESTION, hits, language="en")
    assert answer.engine == "offline-fallback"
    assert time.monotonic() - start < 10


@pytest.mark.parametrize("provider", PROVIDERS)
def test_a_failed_stream_falls_back_with_the_whole_offline_text_in_japanese(
    seed_index: GuideIndex, provider: Provider
) -> None:
    hits = seed_index.search("冷蔵庫が冷えない", limit=3)
    model = small_engine(provider, f"http://127.0.0.1:{free_port()}", timeout=5)
    *deltas, final = list(model.stream("冷蔵庫が冷えない", hits, language="ja"))
    assert isinstance(final, Answer)
    assert final.engine == "offline-fallback" and final.language == "ja"
    assert "".join(d for d in deltas if isinstance(d, str)) == final.text
    assert "安全上の注意" in final.text


@pytest.mark.parametrize("provider", PROVIDERS)
def test_a_stream_that_breaks_midway_keeps_what_was_sent_and_appends_the_offline_answer(
    seed_index: GuideIndex, provider: Provider
) -> None:
    hits = seed_index.search(QUESTION, limit=3)
    with serve(provider.break_stream) as url:
        model = small_engine(provider, url, timeout=10)
        *deltas, final = list(model.stream(QUESTION, hits, language="en"))
    warnings = safety_preamble(hits, QUESTION, "en")
    assert deltas[:2] == [warnings, "Unplug it first."]
    assert isinstance(final, Answer)
    assert final.engine == "offline-fallback"
    assert final.text.startswith(warnings + "Unplug it first.\n\n")
    assert final.text.endswith(OfflineEngine().answer(QUESTION, hits, language="en").text)
    assert "".join(d for d in deltas if isinstance(d, str)) == final.text
