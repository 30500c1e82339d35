"""A deadline on query embeddings: a search that cannot wait goes on with BM25F alone, while
the vector is computed once in the background and serves the next search of the question."""

from __future__ import annotations

import time
from collections.abc import Sequence

import pytest
from sqlalchemy.orm import Session, sessionmaker

from repairgpt.services.embeddings import EmbeddingsClient, QueryEmbedder, query
from repairgpt.services.embeddings.client import Kind, Vectors
from repairgpt.services.embeddings.search import HybridSearch
from repairgpt.services.embeddings.store import embed_guides
from repairgpt.services.guides import GuideCatalog
from repairgpt.services.retrieval import GuideIndex
from tests.app.services.embeddings.conftest import embeddings_config
from tests.utils.embeddings_server import EmbeddingsServer

PARAPHRASE = "computer running very warm"


class CountingClient(EmbeddingsClient):
    """The real client, counting the texts it sends to the server."""

    def __init__(self, server: EmbeddingsServer) -> None:
        super().__init__(embeddings_config(server))
        self.sent: list[str] = []

    def embed(self, texts: Sequence[str], kind: Kind) -> Vectors:
        self.sent.extend(texts)
        return super().embed(texts, kind)


def _until_cached(embedder: QueryEmbedder, text: str, timeout: float = 30) -> Vectors:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        vector = embedder(text)
        if vector is not None:
            return vector
        time.sleep(0.05)
    raise AssertionError(f"no vector for {text!r} within {timeout} s")


def test_a_late_vector_is_left_behind_then_cached_from_one_call(
    embeddings_server: EmbeddingsServer,
) -> None:
    client = CountingClient(embeddings_server)
    fallbacks: list[str] = []
    # No model answers within a microsecond: the first searches go on without a vector.
    embedder = QueryEmbedder(client, on_fallback=fallbacks.append, deadline_seconds=1e-6)
    assert embedder("laptop fan noise") is None
    assert fallbacks == ["deadline"]
    vector = _until_cached(embedder, "laptop fan noise")
    assert client.sent == ["laptop fan noise"], "one call per question, however many searches"
    direct = EmbeddingsClient(embeddings_config(embeddings_server)).embed(
        ["laptop fan noise"], "query"
    )[0]
    assert float(vector @ direct) > 0.999
    assert set(fallbacks) == {"deadline"}


def test_with_too_many_questions_waiting_a_search_does_not_queue_another(
    embeddings_server: EmbeddingsServer, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(query, "MAX_PENDING", 0)
    client = CountingClient(embeddings_server)
    fallbacks: list[str] = []
    embedder = QueryEmbedder(client, on_fallback=fallbacks.append, deadline_seconds=5.0)
    assert embedder("laptop fan noise") is None
    assert fallbacks == ["busy"] and client.sent == []


def test_a_deadline_the_server_meets_changes_nothing(
    guides_db: sessionmaker[Session], embeddings_server: EmbeddingsServer
) -> None:
    client = CountingClient(embeddings_server)
    embed_guides(guides_db, client)
    fallbacks: list[str] = []
    hybrid = HybridSearch(
        QueryEmbedder(client, on_fallback=fallbacks.append, deadline_seconds=30.0)
    )
    catalog = GuideCatalog(guides_db, hybrid)
    catalog.rebuild()
    lexical = GuideIndex.build(catalog.snapshot.docs_by_id.values())
    assert lexical.search(PARAPHRASE)[0].guide.source_id != "p-t480-fan"
    assert catalog.snapshot.index.search(PARAPHRASE)[0].guide.source_id == "p-t480-fan"
    assert fallbacks == []
