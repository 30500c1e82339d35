"""The Claude engine answers through a real Messages-API server and falls back when it fails."""

from __future__ import annotations

import json
import re
import sys
import threading
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any

import pytest
from pydantic import ValidationError

from repairgpt.core.config import Settings
from repairgpt.services.engines import Answer, select_answer_engine
from repairgpt.services.engines.anthropic import AnthropicEngine, split_system
from repairgpt.services.engines.grounding import safety_preamble
from repairgpt.services.engines.offline import OfflineEngine
from repairgpt.services.engines.openai import OpenAIEngine
from repairgpt.services.engines.prompt import build_messages
from repairgpt.services.retrieval import GuideIndex
from tests.app.services.test_llama_build import non_portable_instructions
from tests.utils.servers import MessagesServer

QUESTION = "water stays in the drum of my washer after the cycle"
JA_QUESTION = "洗濯機の水が抜けない"
MARKERS = re.compile(r"\[(\d+)\]")


def small_engine(base_url: str, model: str = "smollm2", timeout: float = 300.0) -> AnthropicEngine:
    # One guide and a short answer keep the 135M model within seconds on a busy CI machine;
    # the timeout is generous because CI cores are shared.
    return AnthropicEngine(
        base_url=base_url,
        api_key="test-key",
        model=model,
        timeout=timeout,
        max_retries=0,
        fallback=OfflineEngine(),
        max_tokens=16,
        guide_context_chars=500,
    )


def cited_numbers(text: str) -> set[int]:
    return {int(number) for number in MARKERS.findall(text)}


@contextmanager
def serve(respond: Callable[[BaseHTTPRequestHandler, dict[str, Any]], None]) -> Iterator[str]:
    """A scripted Messages-API endpoint on loopback: `respond` writes the reply to each POST."""

    class Handler(BaseHTTPRequestHandler):
        def do_POST(self) -> None:  # noqa: N802 - the name http.server dispatches to
            body = json.loads(self.rfile.read(int(self.headers.get("Content-Length") or 0)))
            respond(self, body)

        def log_message(self, format: str, *args: object) -> None:
            pass

    server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        yield f"http://127.0.0.1:{server.server_address[1]}"
    finally:
        server.shutdown()
        server.server_close()


def send_json(handler: BaseHTTPRequestHandler, status: int, payload: dict[str, Any]) -> None:
    data = json.dumps(payload).encode()
    handler.send_response(status)
    handler.send_header("Content-Type", "application/json")
    handler.send_header("Content-Length", str(len(data)))
    handler.end_headers()
    handler.wfile.write(data)


def message(text: str) -> dict[str, Any]:
    return {
        "id": "msg_1",
        "type": "message",
        "role": "assistant",
        "model": "m",
        "content": [{"type": "text", "text": text}],
        "stop_reason": "end_turn",
        "stop_sequence": None,
        "usage": {"input_tokens": 1, "output_tokens": 1},
    }


def sse(event: str, data: dict[str, Any]) -> bytes:
    return f"event: {event}\ndata: {json.dumps(data)}\n\n".encode()


def stream_start(handler: BaseHTTPRequestHandler) -> None:
    handler.send_response(200)
    handler.send_header("Content-Type", "text/event-stream")
    handler.end_headers()
    start = {**message(""), "content": [], "stop_reason": None}
    handler.wfile.write(sse("message_start", {"type": "message_start", "message": start}))
    block = {"type": "text", "text": ""}
    event = {"type": "content_block_start", "index": 0, "content_block": block}
    handler.wfile.write(sse("content_block_start", event))


def text_delta(text: str) -> bytes:
    delta = {"type": "text_delta", "text": text}
    return sse("content_block_delta", {"type": "content_block_delta", "index": 0, "delta": delta})


def test_the_system_prompt_goes_apart_and_the_turns_alternate(seed_index: GuideIndex) -> None:
    hits = seed_index.search(JA_QUESTION, limit=2)
    history = [("user", "こんにちは"), ("assistant", "どうしましたか"), ("user", "洗濯機です")]
    messages = build_messages(JA_QUESTION, hits, language="ja", history=history)
    system, turns = split_system(messages)
    assert system == messages[0]["content"] and "Japanese" in system
    assert [t["role"] for t in turns] == ["user", "assistant", "user"]
    assert turns[-1]["content"] == "洗濯機です\n\n" + JA_QUESTION


def test_the_provider_setting_chooses_the_engine() -> None:
    claude = select_answer_engine(
        Settings(llm_provider="anthropic", anthropic_api_key="k", openai_api_key="o")
    )
    assert isinstance(claude, AnthropicEngine)
    openai = select_answer_engine(Settings(anthropic_api_key="k", openai_api_key="o"))
    assert isinstance(openai, OpenAIEngine)
    # A key of the provider not chosen switches no model on.
    assert isinstance(select_answer_engine(Settings(anthropic_api_key="k")), OfflineEngine)
    assert isinstance(
        select_answer_engine(Settings(llm_provider="anthropic", openai_api_key="o")), OfflineEngine
    )


def test_the_start_up_summary_names_the_provider_and_hides_its_key() -> None:
    described = Settings(
        llm_provider="anthropic", anthropic_api_key="sk-ant-secret", llm_model="claude-x"
    ).describe()
    assert described["answer_engine"] == "llm"
    assert described["llm_provider"] == "anthropic"
    assert "sk-ant-secret" not in str(described)
    assert Settings(llm_provider="anthropic").describe()["answer_engine"] == "offline"


def test_an_unknown_provider_is_refused_at_start_up(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("LLM_PROVIDER", "claude")
    with pytest.raises(ValidationError, match="llm_provider"):
        Settings()


@pytest.mark.parametrize("status", [400, 401, 429, 500, 529])
def test_an_error_status_falls_back_to_the_offline_answer(
    seed_index: GuideIndex, status: int
) -> None:
    error = {"type": "error", "error": {"type": "api_error", "message": "no"}}
    hits = seed_index.search(QUESTION, limit=3)
    with serve(lambda handler, _: send_json(handler, status, error)) as url:
        engine = small_engine(url, timeout=5)
        assert engine.answer(QUESTION, hits, language="en").engine == "offline-fallback"
        *_, final = list(engine.stream(QUESTION, hits, language="en"))
    assert isinstance(final, Answer) and final.engine == "offline-fallback"


def test_the_request_carries_the_system_prompt_apart_and_the_model_settings(
    seed_index: GuideIndex,
) -> None:
    seen: list[dict[str, Any]] = []

    def respond(handler: BaseHTTPRequestHandler, body: dict[str, Any]) -> None:
        seen.append(body)
        send_json(handler, 200, message("Drain the filter [1]."))

    hits = seed_index.search(QUESTION, limit=2)
    with serve(respond) as url:
        small_engine(url, model="claude-test").answer(QUESTION, hits, language="en")
    (body,) = seen
    assert body["model"] == "claude-test" and body["max_tokens"] == 16
    assert "RepairGPT" in body["system"] and "[1]" in body["system"]
    assert body["messages"] == [{"role": "user", "content": QUESTION}]


def test_markers_of_guides_that_were_not_retrieved_are_removed(seed_index: GuideIndex) -> None:
    reply = "Clean the drain filter [1]. Check the pump [2]. Replace the board [7]."
    pieces = ["Clean the drain filter [1]. Check the pump [", "2]. Replace the board [", "7]."]

    def respond(handler: BaseHTTPRequestHandler, body: dict[str, Any]) -> None:
        if not body.get("stream"):
            send_json(handler, 200, message(reply))
            return
        stream_start(handler)
        for piece in pieces:
            handler.wfile.write(text_delta(piece))
        handler.wfile.write(sse("message_stop", {"type": "message_stop"}))

    hits = seed_index.search(QUESTION, limit=2)
    warnings = safety_preamble(hits, QUESTION, "en")
    expected = warnings + "Clean the drain filter [1]. Check the pump [2]. Replace the board ."
    with serve(respond) as url:
        engine = small_engine(url)
        answer = engine.answer(QUESTION, hits, language="en")
        *deltas, final = list(engine.stream(QUESTION, hits, language="en"))
    assert answer.engine == "llm" and answer.text == expected
    assert isinstance(final, Answer) and final.engine == "llm" and final.text == expected
    assert "".join(d for d in deltas if isinstance(d, str)) == expected
    assert [c.guide_id for c in answer.citations] == [h.guide.id for h in hits]


@pytest.mark.slow
def test_claude_answers_with_the_guides_citations_and_safety_warnings(
    messages_server: MessagesServer, seed_index: GuideIndex
) -> None:
    hits = seed_index.search(QUESTION, limit=1)
    engine = small_engine(messages_server.base_url, messages_server.model)
    answer = engine.answer(QUESTION, hits, language="en")
    assert messages_server.alive(), messages_server.log_tail()
    assert answer.engine == "llm" and answer.language == "en"
    assert [c.source_id for c in answer.citations] == [h.guide.source_id for h in hits]
    assert cited_numbers(answer.text) <= {1}
    assert hits[0].guide.safety_warnings
    assert answer.text.startswith(safety_preamble(hits, QUESTION, "en"))
    for warning in hits[0].guide.safety_warnings:
        assert warning in answer.text
    # Something beyond the warnings came from the model, not from the offline engine.
    assert answer.text.removeprefix(safety_preamble(hits, QUESTION, "en")).strip()
    assert answer.text != OfflineEngine().answer(QUESTION, hits, language="en").text


@pytest.mark.slow
def test_claude_streams_a_japanese_answer_in_deltas_then_one_final_answer(
    messages_server: MessagesServer, seed_index: GuideIndex
) -> None:
    hits = seed_index.search(JA_QUESTION, limit=1)
    assert hits[0].guide.language == "ja" and hits[0].guide.safety_warnings
    engine = small_engine(messages_server.base_url, messages_server.model)
    pieces = list(engine.stream(JA_QUESTION, hits, language="ja"))
    assert messages_server.alive(), messages_server.log_tail()
    *deltas, final = pieces
    assert len(deltas) >= 2 and all(isinstance(d, str) for d in deltas)
    assert isinstance(final, Answer)
    assert final.engine == "llm" and final.language == "ja"
    assert final.text == "".join(d for d in deltas if isinstance(d, str))
    assert [c.guide_id for c in final.citations] == [h.guide.id for h in hits]
    assert cited_numbers(final.text) <= {1}
    # The warnings are the Japanese guide's own, under a Japanese heading, before the model's.
    assert deltas[0] == safety_preamble(hits, JA_QUESTION, "ja")
    assert "安全上の注意" in deltas[0]
    for warning in hits[0].guide.safety_warnings:
        assert warning in final.text


@pytest.mark.slow
def test_a_wrong_path_on_the_real_server_falls_back_instead_of_failing(
    messages_server: MessagesServer, seed_index: GuideIndex
) -> None:
    hits = seed_index.search(QUESTION, limit=3)
    engine = small_engine(messages_server.base_url + "/nope")
    assert engine.answer(QUESTION, hits, language="en").engine == "offline-fallback"
    *_, final = list(engine.stream(QUESTION, hits, language="en"))
    assert isinstance(final, Answer) and final.engine == "offline-fallback"


@pytest.mark.slow
def test_an_engine_selected_by_the_settings_talks_to_the_server(
    messages_server: MessagesServer, seed_index: GuideIndex
) -> None:
    engine = select_answer_engine(
        Settings(
            llm_provider="anthropic",
            anthropic_base_url=messages_server.base_url,
            llm_model=messages_server.model,
            llm_timeout=300,
        )
    )
    assert isinstance(engine, AnthropicEngine)
    engine.max_tokens = 8
    engine.guide_context_chars = 400
    hits = seed_index.search("my left joycon keeps drifting", limit=1)
    answer = engine.answer("my left joycon keeps drifting", hits, language="en")
    assert messages_server.alive(), messages_server.log_tail()
    assert answer.engine == "llm"


@pytest.mark.slow
def test_the_messages_server_is_built_for_a_portable_cpu_baseline() -> None:
    binary = Path(sys.executable).parent / "llama-server"
    assert binary.exists(), "run scripts/install-llama-messages-server.sh .venv (make test does)"
    assert not non_portable_instructions(binary)
