"""The LLM engine answers through a real OpenAI-compatible server and falls back when it fails."""

from __future__ import annotations

import pytest

from repairgpt.core.config import Settings
from repairgpt.services.engines import Answer, select_answer_engine
from repairgpt.services.engines.offline import OfflineEngine
from repairgpt.services.engines.openai import OpenAIEngine
from repairgpt.services.engines.prompt import build_messages
from repairgpt.services.retrieval import GuideIndex
from tests.app.services.conftest import LlamaServer

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
