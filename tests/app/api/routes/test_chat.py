"""Chat over the REST API: tokens, grounded answers in the user's language, history, SSE."""

from __future__ import annotations

import json
import time
from concurrent.futures import ThreadPoolExecutor
from datetime import datetime

import pytest
from fastapi.testclient import TestClient
from sqlalchemy import create_engine, event, make_url, text

from repairgpt.core.config import normalize_database_url
from repairgpt.core.db import build_session_factory, create_db_engine
from repairgpt.main import CHAT_STORE_CONNECTIONS
from repairgpt.services.chat_sessions import Exchange, SessionNotFound, record_exchange
from repairgpt.services.chat_store import libpq_conninfo
from tests.app.conftest import AppFactory, assert_problem, start_chat
from tests.utils.servers import free_port


def _ask(client: TestClient, session_id: str, headers: dict[str, str], content: str) -> dict:
    response = client.post(
        f"/api/v1/chat/sessions/{session_id}/messages", json={"content": content}, headers=headers
    )
    assert response.status_code == 200, response.text
    body: dict = response.json()
    return body


def test_a_question_gets_an_answer_citing_the_guide_it_used(client: TestClient) -> None:
    session_id, headers = start_chat(client)
    body = _ask(client, session_id, headers, "My iPhone 13 battery drains fast, what can I do?")
    assert body["language"] == "en"
    assert body["engine"] == "offline"
    assert body["saved"] is True
    assert body["answer"]
    cited = [citation["source_id"] for citation in body["citations"]]
    assert "t-iphone-13-battery-en" in cited
    assert {"guide_id", "source_id", "title", "url"} <= body["citations"][0].keys()


def test_a_japanese_question_is_answered_in_japanese(client: TestClient) -> None:
    session_id, headers = start_chat(client)
    body = _ask(
        client, session_id, headers, "iPhone 13の電池の減りが早いです。どうすればいいですか？"
    )
    assert body["language"] == "ja"
    assert any("\u3040" <= ch <= "\u30ff" for ch in body["answer"])
    assert body["citations"]


def test_history_is_kept_in_order_and_needs_the_token(client: TestClient) -> None:
    session_id, headers = start_chat(client)
    _ask(client, session_id, headers, "Joy-Con drift")
    _ask(client, session_id, headers, "XPS 13 overheating")
    history = client.get(f"/api/v1/chat/sessions/{session_id}/messages", headers=headers)
    assert history.status_code == 200
    messages = history.json()["data"]
    assert [m["role"] for m in messages] == ["user", "assistant", "user", "assistant"]
    assert messages[0]["content"] == "Joy-Con drift"
    assert messages[3]["citations"]
    assert_problem(client.get(f"/api/v1/chat/sessions/{session_id}/messages"), 401)


def test_a_wrong_token_or_unknown_session_is_refused(client: TestClient) -> None:
    session_id, _ = start_chat(client)
    other_id, other_headers = start_chat(client)
    url = f"/api/v1/chat/sessions/{session_id}/messages"
    response = client.post(url, json={"content": "hi"}, headers=other_headers)
    body = assert_problem(response, 401)
    assert response.headers["WWW-Authenticate"].startswith("Bearer")
    assert "Bearer" in body["detail"]
    assert_problem(
        client.post(
            f"/api/v1/chat/sessions/{'0' * 32}/messages",
            json={"content": "hi"},
            headers=other_headers,
        ),
        404,
    )
    assert other_id != session_id


def test_tokens_are_unguessable_and_only_their_hash_is_stored(
    client: TestClient, database_url: str
) -> None:
    tokens = {client.post("/api/v1/chat/sessions").json()["token"] for _ in range(3)}
    assert len(tokens) == 3 and all(len(token) >= 40 for token in tokens)
    engine = create_engine(normalize_database_url(database_url))
    with engine.connect() as connection:
        stored = connection.execute(text("SELECT token_hash FROM chat_sessions")).scalars().all()
    engine.dispose()
    assert stored and not tokens & set(stored)


def test_the_streaming_variant_sends_deltas_then_a_done_event_with_citations(
    client: TestClient,
) -> None:
    session_id, headers = start_chat(client)
    with client.stream(
        "POST",
        f"/api/v1/chat/sessions/{session_id}/messages/stream",
        json={"content": "How do I fix Joy-Con drift?"},
        headers=headers,
    ) as response:
        assert response.status_code == 200
        assert response.headers["content-type"].startswith("text/event-stream")
        raw = "".join(response.iter_text())
    events = []
    for block in raw.strip().split("\n\n"):
        lines = dict(line.split(": ", 1) for line in block.splitlines())
        events.append((lines["event"], json.loads(lines["data"])))
    kinds = [kind for kind, _ in events]
    assert kinds[-1] == "done" and kinds.count("done") == 1
    assert kinds[:-1] and set(kinds[:-1]) == {"delta"}
    done = events[-1][1]
    assert "".join(data["text"] for kind, data in events if kind == "delta") == done["answer"]
    assert done["citations"][0]["source_id"] == "t-switch-joycon-drift-en"
    assert done["saved"] is True
    history = client.get(f"/api/v1/chat/sessions/{session_id}/messages", headers=headers).json()
    assert history["count"] == 2


def test_an_empty_question_is_a_validation_problem(client: TestClient) -> None:
    session_id, headers = start_chat(client)
    response = client.post(
        f"/api/v1/chat/sessions/{session_id}/messages", json={"content": ""}, headers=headers
    )
    body = assert_problem(response, 422)
    assert body["errors"][0]["loc"] == ["body", "content"]


def test_when_the_model_endpoint_is_down_the_offline_engine_still_answers(
    make_client: AppFactory, database_url: str
) -> None:
    dead = f"http://127.0.0.1:{free_port()}/v1"  # nothing listens there
    client = make_client(
        database_url=database_url, openai_base_url=dead, openai_api_key="unused", llm_timeout=2
    )
    session_id, headers = start_chat(client)
    body = _ask(client, session_id, headers, "Joy-Con drift, what do I do?")
    assert body["engine"] == "offline-fallback"
    assert body["citations"][0]["source_id"] == "t-switch-joycon-drift-en"
    assert body["saved"] is True
    history = client.get(f"/api/v1/chat/sessions/{session_id}/messages", headers=headers).json()
    assert [m["role"] for m in history["data"]] == ["user", "assistant"]


def _stored_exchange(database_url: str, session_id: str) -> tuple[list[tuple], datetime]:
    engine = create_engine(normalize_database_url(database_url))
    with engine.connect() as connection:
        rows = connection.execute(
            text(
                "SELECT id, role, content, citations, language, engine FROM chat_messages "
                "WHERE session_id = :s ORDER BY created_at, id"
            ),
            {"s": session_id},
        ).all()
        touched = connection.execute(
            text("SELECT last_active_at FROM chat_sessions WHERE id = :s"), {"s": session_id}
        ).scalar_one()
    engine.dispose()
    return [tuple(row) for row in rows], touched


def test_an_exchange_is_stored_as_question_then_answer_and_touches_the_session(
    client: TestClient, database_url: str
) -> None:
    session_id, headers = start_chat(client)
    _, created = _stored_exchange(database_url, session_id)
    body = _ask(client, session_id, headers, "洗濯機の水が抜けない")
    rows, touched = _stored_exchange(database_url, session_id)
    assert [row[1] for row in rows] == ["user", "assistant"]
    (question_id, _, question, no_citations, language, no_engine) = rows[0]
    (answer_id, _, answer, citations, _, engine) = rows[1]
    assert question == "洗濯機の水が抜けない" and answer == body["answer"]
    assert body["message_id"] == answer_id and question_id < answer_id
    assert no_citations in ([], "[]") and no_engine is None
    cited = json.loads(citations) if isinstance(citations, str) else citations
    assert [c["guide_id"] for c in cited] == [c["guide_id"] for c in body["citations"]]
    assert language == "ja" and engine == "offline"
    assert touched > created


def test_an_exchange_for_a_session_removed_meanwhile_is_refused_and_stores_nothing(
    database_url: str, make_client: AppFactory
) -> None:
    make_client(database_url=database_url)  # migrates the database
    engine = create_db_engine(normalize_database_url(database_url))
    try:
        with build_session_factory(engine)() as session:
            with pytest.raises(SessionNotFound):
                record_exchange(
                    session=session,
                    exchange=Exchange(
                        session_id="f" * 32,
                        question="q",
                        answer="a",
                        citations=[],
                        language="en",
                        engine="offline",
                    ),
                )
            session.rollback()
            assert session.execute(text("SELECT count(*) FROM chat_messages")).scalar_one() == 0
    finally:
        engine.dispose()


def test_libpq_urls_keep_credentials_and_options_of_the_sqlalchemy_url() -> None:
    url = make_url("postgresql+psycopg://app:p%40ss%2Fw@db.example:5433/repair?sslmode=require")
    expected = "postgresql://app:p%40ss%2Fw@db.example:5433/repair?sslmode=require"
    assert libpq_conninfo(url) == expected


def test_many_concurrent_questions_are_answered_and_saved_without_outgrowing_the_pool(
    make_client: AppFactory, postgres_url: str
) -> None:
    client = make_client(database_url=postgres_url)
    engine = client.app.state.context.db_engine  # type: ignore[attr-defined]
    opened: list[int] = []
    event.listen(engine, "connect", lambda *_: opened.append(1))
    # A slow database: each checkout takes a while, so many requests want a connection at once.
    event.listen(engine, "checkout", lambda *_: time.sleep(0.02))
    sessions = [start_chat(client) for _ in range(8)]
    questions = [
        "Joy-Con drift",
        "XPS 13 overheating",
        "iPhone 13の電池の減りが早い",
        "iPhone 13 battery",
    ]

    def ask(n: int) -> dict:
        session_id, headers = sessions[n % len(sessions)]
        return _ask(client, session_id, headers, questions[n % len(questions)])

    with ThreadPoolExecutor(max_workers=32) as pool:
        answers = list(pool.map(ask, range(96)))
    assert [a for a in answers if not (a["saved"] and a["citations"])] == []
    assert len({a["message_id"] for a in answers}) == 96
    # Chat work waits for a pooled connection rather than opening extra ones past the pool:
    # the exchanges go through the chat store's pool, the rest through SQLAlchemy's.
    assert len(opened) <= engine.pool.size()
    store = client.app.state.context.chat_store  # type: ignore[attr-defined]
    assert 0 < store.connections_opened() <= CHAT_STORE_CONNECTIONS
    for session_id, headers in sessions:
        history = client.get(f"/api/v1/chat/sessions/{session_id}/messages", headers=headers)
        assert history.json()["count"] == 2 * 96 // len(sessions)


def test_when_the_database_refuses_the_write_only_the_session_holder_gets_an_unsaved_answer(
    make_client: AppFactory, postgres_url: str
) -> None:
    client = make_client(database_url=postgres_url)
    session_id, headers = start_chat(client)
    _, other_headers = start_chat(client)
    engine = create_engine(normalize_database_url(postgres_url))
    with engine.begin() as connection:  # every new message now fails, as on a failing primary
        connection.execute(
            text("ALTER TABLE chat_messages ADD CONSTRAINT refuse_all CHECK (false) NOT VALID")
        )
    engine.dispose()
    url = f"/api/v1/chat/sessions/{session_id}/messages"
    answer = _ask(client, session_id, headers, "Joy-Con drift")
    assert answer["saved"] is False and answer["note"] and answer["citations"]
    assert_problem(client.post(url, json={"content": "Joy-Con drift"}, headers=other_headers), 401)
    assert_problem(client.post(url, json={"content": "Joy-Con drift"}), 401)
    unknown = f"/api/v1/chat/sessions/{'0' * 32}/messages"
    assert_problem(client.post(unknown, json={"content": "Joy-Con drift"}, headers=headers), 404)
