"""Chat over the REST API with `LLM_PROVIDER=anthropic`: Claude's engine behind the same routes."""

from __future__ import annotations

import json
import re

import pytest
from fastapi import FastAPI

from repairgpt.services.engines.anthropic import AnthropicEngine
from tests.app.conftest import AppFactory, start_chat
from tests.utils.servers import MessagesServer, free_port

JA_QUESTION = "iPhone 13の電池の減りが早いです。どうすればいいですか？"
JA_WARNING = "作業前にバッテリー残量を25%以下にしてください。"


def test_when_the_messages_endpoint_is_down_the_offline_engine_still_answers(
    make_client: AppFactory,
) -> None:
    client = make_client(
        llm_provider="anthropic",
        anthropic_base_url=f"http://127.0.0.1:{free_port()}",  # nothing listens there
        anthropic_api_key="unused",
        llm_timeout=2,
    )
    session_id, headers = start_chat(client)
    response = client.post(
        f"/api/v1/chat/sessions/{session_id}/messages",
        json={"content": "Joy-Con drift, what do I do?"},
        headers=headers,
    )
    assert response.status_code == 200, response.text
    body = response.json()
    assert body["engine"] == "offline-fallback"
    assert body["citations"][0]["source_id"] == "t-switch-joycon-drift-en"
    assert body["saved"] is True


@pytest.mark.slow
def test_claude_answers_a_japanese_question_in_japanese_with_the_guides_warnings(
    make_client: AppFactory, messages_server: MessagesServer
) -> None:
    client = make_client(
        llm_provider="anthropic",
        anthropic_base_url=messages_server.base_url,
        llm_model=messages_server.model,
        llm_timeout=300,
    )
    app = client.app
    assert isinstance(app, FastAPI)
    engine = app.state.context.answer_engine
    assert isinstance(engine, AnthropicEngine)
    # A short answer from little context keeps the 135M model within seconds on shared cores.
    engine.max_tokens = 16
    engine.guide_context_chars = 500
    session_id, headers = start_chat(client)
    with client.stream(
        "POST",
        f"/api/v1/chat/sessions/{session_id}/messages/stream",
        json={"content": JA_QUESTION},
        headers=headers,
    ) as response:
        assert response.status_code == 200
        raw = "".join(response.iter_text())
    assert messages_server.alive(), messages_server.log_tail()
    events = []
    for block in raw.strip().split("\n\n"):
        lines = dict(line.split(": ", 1) for line in block.splitlines())
        events.append((lines["event"], json.loads(lines["data"])))
    kinds = [kind for kind, _ in events]
    assert kinds[-1] == "done" and set(kinds[:-1]) == {"delta"}
    done = events[-1][1]
    assert done["engine"] == "llm" and done["language"] == "ja"
    assert "".join(data["text"] for kind, data in events if kind == "delta") == done["answer"]
    # The model's own words are its own; the warnings and their heading are guaranteed Japanese.
    assert done["answer"].startswith("**安全上の注意")
    assert JA_WARNING in done["answer"]
    cited = [citation["source_id"] for citation in done["citations"]]
    assert cited and cited[0] == "t-iphone-13-battery-ja"
    numbers = {int(n) for n in re.findall(r"\[(\d+)\]", done["answer"])}
    assert numbers <= set(range(1, len(cited) + 1))
    assert done["saved"] is True
