"""The LLM engine answers through a real OpenAI-compatible server and falls back when it fails."""

from __future__ import annotations

import json
import socket
import threading
import time
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

import pytest

from repairgpt.core.config import Settings
from repairgpt.services.engines import Answer, select_answer_engine
from repairgpt.services.engines.grounding import safety_preamble
from repairgpt.services.engines.offline import OfflineEngine
from repairgpt.services.engines.openai import OpenAIEngine
from repairgpt.services.engines.prompt import build_messages
from repairgpt.services.retrieval import GuideIndex
from tests.app.services.conftest import LlamaServer, free_port

QUESTION = "water stays in the drum of my washer after the cycle"


def small_engine(base_url: str, model: str = "smollm2", timeout: float = 300.0) -> OpenAIEngine:
    # One guide and a short answer keep the 135M model within seconds on a busy CI machine
    # (about 500 prompt tokens); the timeout is generous because CI cores are shared.
    return OpenAIEngine(
        base_url=base_url,
        api_key="test-key",
        model=model,
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
    yield f"http://127.0.0.1:{listener.getsockname()[1]}/v1"
    stop.set()
    thread.join(timeout=2)
    for conn in accepted:
        conn.close()
    listener.close()


def test_the_prompt_numbers_the_retrieved_guides_and_asks_for_the_question_language(
    seed_index: GuideIndex,
) -> None:
    hits = seed_index.search("洗濯機の水が抜けない", limit=3)
    messages = build_messages(
        "洗濯機の水が抜けない", hits, language="ja", history=[("user", "こんにちは")]
    )
    system = messages[0]["content"]
    assert messages[0]["role"] == "system"
    assert "Japanese" in system and "Safety first" in system
    for number, hit in enumerate(hits, 1):
        assert f"[{number}] {hit.guide.title}" in system
    assert [m["role"] for m in messages[1:]] == ["user", "user"]
    assert messages[-1]["content"] == "洗濯機の水が抜けない"


def test_an_unreachable_server_falls_back_to_the_offline_answer(seed_index: GuideIndex) -> None:
    hits = seed_index.search(QUESTION, limit=3)
    engine = small_engine(f"http://127.0.0.1:{free_port()}/v1", timeout=5)
    answer = engine.answer(QUESTION, hits, language="en")
    assert answer.engine == "offline-fallback"
    offline = OfflineEngine().answer(QUESTION, hits, language="en")
    assert (answer.text, answer.citations) == (offline.text, offline.citations)
    assert answer.citations[0].guide_id == hits[0].guide.id


def test_a_server_that_never_answers_times_out_and_falls_back(
    seed_index: GuideIndex, hanging_server: str
) -> None:
    hits = seed_index.search(QUESTION, limit=3)
    engine = small_engine(hanging_server, timeout=1.0)
    start = time.monotonic()
    answer = engine.answer(QUESTION, hits, language="en")
    assert answer.engine == "offline-fallback"
    assert time.monotonic() - start < 10


def test_a_failed_stream_falls_back_with_the_whole_offline_text(
    seed_index: GuideIndex,
) -> None:
    hits = seed_index.search("冷蔵庫が冷えない", limit=3)
    engine = small_engine(f"http://127.0.0.1:{free_port()}/v1", timeout=5)
    *deltas, final = list(engine.stream("冷蔵庫が冷えない", hits, language="ja"))
    assert isinstance(final, Answer)
    assert final.engine == "offline-fallback" and final.language == "ja"
    assert "".join(d for d in deltas if isinstance(d, str)) == final.text
    assert "安全上の注意" in final.text


@pytest.mark.slow
def test_the_llm_answers_with_the_citations_of_the_retrieved_guides(
    llama_server: LlamaServer, seed_index: GuideIndex
) -> None:
    hits = seed_index.search(QUESTION, limit=1)
    engine = small_engine(llama_server.base_url, llama_server.model)
    answer = engine.answer(QUESTION, hits, language="en")
    llama_server.check_alive()
    assert answer.engine == "llm"
    assert answer.text.strip()
    assert answer.language == "en"
    assert [c.source_id for c in answer.citations] == [h.guide.source_id for h in hits]
    assert answer.text != OfflineEngine().answer(QUESTION, hits, language="en").text


@pytest.mark.slow
def test_the_llm_stream_yields_deltas_then_one_final_answer(
    llama_server: LlamaServer, seed_index: GuideIndex
) -> None:
    hits = seed_index.search("PS5が熱くなって勝手に電源が落ちる", limit=1)
    engine = small_engine(llama_server.base_url, llama_server.model)
    pieces = list(engine.stream("PS5が熱くなって勝手に電源が落ちる", hits, language="ja"))
    llama_server.check_alive()
    *deltas, final = pieces
    assert len(deltas) >= 2 and all(isinstance(d, str) for d in deltas)
    assert isinstance(final, Answer)
    assert final.engine == "llm" and final.language == "ja"
    assert final.text == "".join(d for d in deltas if isinstance(d, str))
    assert [c.guide_id for c in final.citations] == [h.guide.id for h in hits]


@pytest.mark.slow
def test_an_unknown_model_name_falls_back_instead_of_failing(
    llama_server: LlamaServer, seed_index: GuideIndex
) -> None:
    # llama.cpp's server answers any model name, so use a wrong path prefix instead: a 404.
    hits = seed_index.search(QUESTION, limit=3)
    engine = small_engine(llama_server.base_url.removesuffix("/v1") + "/nope/v1")
    assert engine.answer(QUESTION, hits, language="en").engine == "offline-fallback"


@pytest.mark.slow
def test_an_engine_selected_by_a_base_url_talks_to_the_server(
    llama_server: LlamaServer, seed_index: GuideIndex
) -> None:
    engine = select_answer_engine(
        Settings(
            openai_api_key=None,
            openai_base_url=llama_server.base_url,
            llm_model=llama_server.model,
            llm_timeout=300,
        )
    )
    assert isinstance(engine, OpenAIEngine)
    engine.max_tokens = 8
    engine.guide_context_chars = 400
    hits = seed_index.search("my left joycon keeps drifting", limit=1)
    answer = engine.answer("my left joycon keeps drifting", hits, language="en")
    llama_server.check_alive()
    assert answer.engine == "llm"


@pytest.fixture
def stream_breaking_server() -> Iterator[str]:
    """An OpenAI-style endpoint whose stream sends one delta and then a corrupt event."""

    class Handler(BaseHTTPRequestHandler):
        def do_POST(self) -> None:  # noqa: N802 - the name http.server dispatches to
            self.rfile.read(int(self.headers.get("Content-Length") or 0))
            chunk = {
                "id": "c1",
                "object": "chat.completion.chunk",
                "created": 0,
                "model": "m",
                "choices": [{"index": 0, "delta": {"content": "Unplug it first."}}],
            }
            self.send_response(200)
            self.send_header("Content-Type", "text/event-stream")
            self.end_headers()
            self.wfile.write(f"data: {json.dumps(chunk)}\n\n".encode())
            self.wfile.write(b"data: {this is not json\n\n")
            self.wfile.flush()

        def log_message(self, format: str, *args: object) -> None:
            pass

    server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    yield f"http://127.0.0.1:{server.server_address[1]}/v1"
    server.shutdown()
    server.server_close()


def test_a_stream_that_breaks_midway_keeps_what_was_sent_and_appends_the_offline_answer(
    seed_index: GuideIndex, stream_breaking_server: str
) -> None:
    hits = seed_index.search(QUESTION, limit=3)
    engine = small_engine(stream_breaking_server, timeout=10)
    *deltas, final = list(engine.stream(QUESTION, hits, language="en"))
    warnings = safety_preamble(hits, QUESTION, "en")
    assert deltas[:2] == [warnings, "Unplug it first."]
    assert isinstance(final, Answer)
    assert final.engine == "offline-fallback"
    assert final.text.startswith(warnings + "Unplug it first.\n\n")
    assert final.text.endswith(OfflineEngine().answer(QUESTION, hits, language="en").text)
    assert "".join(d for d in deltas if isinstance(d, str)) == final.text
