"""Hybrid search through the API: searches and answers find guides by meaning; `/ready` and the
metrics say which mode search is in, and a dead endpoint falls back to BM25F."""

from __future__ import annotations

import re
from pathlib import Path
from typing import Any

import numpy as np
import pytest
from fastapi.testclient import TestClient

from repairgpt.core.config import normalize_database_url
from repairgpt.core.db import build_session_factory, create_db_engine, migrate, session_scope
from repairgpt.models import GuideVector, RepairGuide
from repairgpt.services.embeddings import EmbeddingsClient
from repairgpt.services.embeddings.passages import passage_text
from repairgpt.services.embeddings.store import embed_guides
from repairgpt.services.guides import guide_to_doc
from repairgpt.services.importer import import_guide_file, read_guide_file
from repairgpt.services.retrieval import GuideIndex, docs_from_guide_file
from tests.app.conftest import ADMIN_KEY, AppFactory, start_chat
from tests.app.services.embeddings.conftest import PARAPHRASE_GUIDES, embeddings_config
from tests.utils.embeddings_server import PASSAGE_MODEL, EmbeddingsServer
from tests.utils.servers import free_port

PARAPHRASE = "computer running very warm"


@pytest.fixture
def database_with_vectors(database_url: str, embeddings_server: EmbeddingsServer) -> str:
    """The paraphrase guides and their vectors, on SQLite and on PostgreSQL (where offline
    answers are composed on the event loop, and hybrid search must leave it)."""
    url = normalize_database_url(database_url)
    engine = create_db_engine(url)
    try:
        migrate(engine)
        factory = build_session_factory(engine)
        with session_scope(factory) as session:
            import_guide_file(session, read_guide_file(PARAPHRASE_GUIDES))
        client = EmbeddingsClient(embeddings_config(embeddings_server))
        assert embed_guides(factory, client).computed == 8
    finally:
        engine.dispose()
    return url


def _metric(client: TestClient, name: str) -> float:
    text = client.get("/metrics").text
    found = re.search(rf"^{re.escape(name)} (\S+)$", text, re.MULTILINE)
    return float(found.group(1)) if found else 0.0


def _bm25f_order(query: str) -> list[str]:
    import json

    docs = docs_from_guide_file(json.loads(PARAPHRASE_GUIDES.read_text(encoding="utf-8")))
    return [hit.guide.source_id or "" for hit in GuideIndex.build(docs).search(query)]


def _search(client: TestClient, query: str) -> list[str]:
    response = client.get("/api/v1/guides", params={"q": query})
    assert response.status_code == 200, response.text
    return [hit["source_id"] for hit in response.json()["data"]]


def test_search_and_answers_use_hybrid_ranking(
    make_client: AppFactory, database_with_vectors: str, embeddings_server: EmbeddingsServer
) -> None:
    client = make_client(database_url=database_with_vectors, **embeddings_server.settings())
    assert client.get("/ready").json()["checks"]["search"] == "hybrid"
    assert _metric(client, "repairgpt_search_hybrid") == 1.0
    assert _bm25f_order(PARAPHRASE)[0] != "p-t480-fan"
    assert _search(client, PARAPHRASE)[0] == "p-t480-fan"
    session_id, headers = start_chat(client)
    answer = client.post(
        f"/api/v1/chat/sessions/{session_id}/messages",
        json={"content": PARAPHRASE},
        headers=headers,
    ).json()
    assert answer["citations"][0]["source_id"] == "p-t480-fan"
    assert _metric(client, 'repairgpt_search_fallbacks_total{reason="endpoint_error"}') == 0


def test_a_dead_endpoint_gives_bm25f_results_and_ready_and_metrics_say_so(
    make_client: AppFactory, database_with_vectors: str, embeddings_server: EmbeddingsServer
) -> None:
    closed = f"http://127.0.0.1:{free_port()}/v1"
    client = make_client(
        database_url=database_with_vectors,
        **embeddings_server.settings(embeddings_base_url=closed, embeddings_retry_seconds=0),
    )
    assert _search(client, PARAPHRASE) == _bm25f_order(PARAPHRASE)
    ready = client.get("/ready")
    assert ready.status_code == 200 and ready.json()["status"] == "ready"
    assert ready.json()["checks"]["search"].startswith("bm25f (embeddings endpoint failed")
    assert _metric(client, "repairgpt_search_hybrid") == 0.0
    assert _metric(client, 'repairgpt_search_fallbacks_total{reason="endpoint_error"}') >= 1


def test_without_vectors_or_endpoint_search_is_bm25f(
    make_client: AppFactory, embeddings_server: EmbeddingsServer, tmp_path: Path
) -> None:
    plain = make_client(seed_guides_file=PARAPHRASE_GUIDES)
    assert plain.get("/ready").json()["checks"]["search"] == "bm25f"
    no_vectors = make_client(
        database_url=f"sqlite:///{tmp_path / 'other.db'}",
        seed_guides_file=PARAPHRASE_GUIDES,
        **embeddings_server.settings(),
    )
    checks = no_vectors.get("/ready").json()["checks"]
    assert checks["search"] == "bm25f (no vectors for model e5-passage)"
    assert _search(no_vectors, PARAPHRASE) == _bm25f_order(PARAPHRASE)
    assert _metric(no_vectors, 'repairgpt_search_fallbacks_total{reason="no_vectors"}') == 1


def _vector_row(url: str, guide_id: int) -> tuple[str, bytes] | None:
    engine = create_db_engine(url)
    try:
        with build_session_factory(engine)() as session:
            row = session.get(GuideVector, (guide_id, PASSAGE_MODEL))
            return None if row is None else (row.text_hash, row.vector)
    finally:
        engine.dispose()


def _new_guide(client: TestClient, title: str) -> dict[str, Any]:
    device_id = client.get("/api/v1/devices").json()["data"][0]["id"]
    created = client.post(
        "/api/v1/guides",
        json={
            "device_id": device_id,
            "title": title,
            "summary": "The laptop shuts down when it gets hot under load.",
            "steps": [{"title": "Open", "text": "Remove the bottom cover screws."}],
        },
        headers={"X-API-Key": ADMIN_KEY},
    )
    assert created.status_code == 201, created.text
    guide: dict[str, Any] = created.json()
    return guide


def test_a_guide_created_or_changed_through_the_api_gets_its_vector(
    make_client: AppFactory, database_with_vectors: str, embeddings_server: EmbeddingsServer
) -> None:
    client = make_client(database_url=database_with_vectors, **embeddings_server.settings())
    guide = _new_guide(client, "Replace the cooling fan of a gaming laptop")
    stored = _vector_row(database_with_vectors, guide["id"])
    assert stored is not None, "the new guide has no vector"
    # The vector is the one the model gives the guide's passage text.
    engine = create_db_engine(database_with_vectors)
    try:
        with build_session_factory(engine)() as session:
            doc = guide_to_doc(session.get_one(RepairGuide, guide["id"]))
    finally:
        engine.dispose()
    config = embeddings_config(embeddings_server)
    expected = EmbeddingsClient(config).embed([passage_text(doc)], "passage")[0]
    assert float(np.frombuffer(stored[1], dtype="<f4") @ expected) > 0.999

    admin = {"X-API-Key": ADMIN_KEY}
    path = f"/api/v1/guides/{guide['id']}"
    # A change of what is embedded (the title) recomputes it; one of something else does not.
    assert client.patch(path, json={"title": "Clean the fan"}, headers=admin).status_code == 200
    renamed = _vector_row(database_with_vectors, guide["id"])
    assert renamed is not None and renamed[0] != stored[0]
    assert client.patch(path, json={"time_minutes": 25}, headers=admin).status_code == 200
    assert _vector_row(database_with_vectors, guide["id"]) == renamed
    assert client.get("/ready").json()["checks"]["search"] == "hybrid"


def test_a_guide_saved_while_the_endpoint_is_down_gets_its_vector_from_guides_embed(
    make_client: AppFactory,
    database_with_vectors: str,
    embeddings_server: EmbeddingsServer,
    caplog: pytest.LogCaptureFixture,
) -> None:
    closed = f"http://127.0.0.1:{free_port()}/v1"
    guides = []
    # Retried at once, the call is made and fails; while backing off, it is not made at all.
    for retry_seconds, error in ((0, "embeddings endpoint failed"), (30, "backing off")):
        client = make_client(
            database_url=database_with_vectors,
            **embeddings_server.settings(
                embeddings_base_url=closed, embeddings_retry_seconds=retry_seconds
            ),
        )
        caplog.clear()
        guide = _new_guide(client, f"Replace the cooling fan ({retry_seconds})")
        assert client.get(f"/api/v1/guides/{guide['id']}").status_code == 200
        assert _vector_row(database_with_vectors, guide["id"]) is None
        logged = [r for r in caplog.records if r.getMessage().startswith("guide vector not")]
        assert len(logged) == 1 and error in str(logged[0].__dict__["error"])
        guides.append(guide["id"])
    engine = create_db_engine(database_with_vectors)
    try:
        report = embed_guides(
            build_session_factory(engine), EmbeddingsClient(embeddings_config(embeddings_server))
        )
    finally:
        engine.dispose()
    assert (report.computed, report.missing) == (2, 0)
    assert all(_vector_row(database_with_vectors, guide_id) is not None for guide_id in guides)
