"""Hybrid search: dense ranking fused with BM25F finds guides by meaning, and falls back."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import numpy as np
from sqlalchemy.orm import Session, sessionmaker

from repairgpt.core.db import build_session_factory, create_db_engine, migrate, session_scope
from repairgpt.services.embeddings import EmbeddingsClient, QueryEmbedder
from repairgpt.services.embeddings.search import HybridSearch
from repairgpt.services.embeddings.store import embed_guides
from repairgpt.services.guides import GuideCatalog
from repairgpt.services.importer import import_guide_file, read_guide_file
from repairgpt.services.retrieval import GuideIndex, docs_from_guide_file
from repairgpt.services.retrieval.dense import DenseIndex
from repairgpt.services.retrieval.hybrid import FusionWeights, fuse, fuse_scores
from tests.app.services.embeddings.conftest import PARAPHRASE_GUIDES, embeddings_config
from tests.utils.embeddings_server import EmbeddingsServer
from tests.utils.servers import free_port

# No word of it names the fan guide ("Remove dust from the cooling fan and heatsink when the
# laptop overheats"); BM25F ranks the vacuum's battery ("run time") first.
PARAPHRASE = "computer running very warm"


def test_fusion_adds_weighted_reciprocal_ranks() -> None:
    fused = fuse([1, 2, 3], [3, 4], FusionWeights(bm25=1.0, dense=1.0), k=60)
    assert [guide_id for _, guide_id in fused] == [3, 1, 2, 4]
    assert fused[0][0] == 1 / 63 + 1 / 61
    lexical_only = fuse([1, 2], [2, 1], FusionWeights(bm25=1.0, dense=0.0))
    assert [guide_id for _, guide_id in lexical_only] == [1, 2]
    leaning = fuse([1, 2], [2, 1], FusionWeights(bm25=1.0, dense=0.5))
    assert [guide_id for _, guide_id in leaning] == [1, 2]


def test_score_fusion_lets_dense_ranking_reorder_only_close_bm25f_scores() -> None:
    weights = FusionWeights(bm25=1.0, dense=0.5, method="scores")
    dense = [(2, 0.90), (1, 0.80)]
    confident = fuse_scores([(1, 10.0), (2, 2.0)], dense, weights)
    assert [guide_id for _, guide_id in confident] == [1, 2]  # 1.0 against 0.2 + 0.5
    close = fuse_scores([(1, 10.0), (2, 9.0)], dense, weights)
    assert [guide_id for _, guide_id in close] == [2, 1]  # 0.9 + 0.5 against 1.0
    assert close[0][0] == 0.9 + 0.5


def test_dense_ranking_is_by_cosine_within_the_filters(guide_data: dict[str, Any]) -> None:
    docs = docs_from_guide_file(guide_data)[:3]
    vectors = {
        docs[0].id: np.array([1.0, 0.0], dtype=np.float32),
        docs[1].id: np.array([0.6, 0.8], dtype=np.float32),
        docs[2].id: np.array([0.0, 2.0], dtype=np.float32),  # not unit length: normalised
    }
    dense = DenseIndex.build(docs, vectors)
    query = np.array([0.0, 1.0], dtype=np.float32)
    assert [guide_id for guide_id, _ in dense.rank(query)] == [docs[2].id, docs[1].id, docs[0].id]
    assert dense.rank(query)[0][1] == 1.0
    allowed = {docs[0].id, docs[1].id}
    assert [guide_id for guide_id, _ in dense.rank(query, allowed=allowed, depth=1)] == [docs[1].id]
    assert dense.rank(np.ones(3, dtype=np.float32)) == []  # another model's size


def _catalog(
    factory: sessionmaker[Session], client: EmbeddingsClient, **options: Any
) -> tuple[GuideCatalog, HybridSearch, list[str]]:
    fallbacks: list[str] = []
    hybrid = HybridSearch(QueryEmbedder(client, on_fallback=fallbacks.append, **options))
    catalog = GuideCatalog(factory, hybrid)
    catalog.rebuild()
    return catalog, hybrid, fallbacks


def test_hybrid_search_finds_a_paraphrase_that_bm25f_ranks_lower(
    guides_db: sessionmaker[Session], embeddings_client: EmbeddingsClient
) -> None:
    embed_guides(guides_db, embeddings_client)
    catalog, hybrid, fallbacks = _catalog(guides_db, embeddings_client)
    assert hybrid.mode().describe() == "hybrid"
    lexical = GuideIndex.build(catalog.snapshot.docs_by_id.values())
    lexical_order = [hit.guide.source_id for hit in lexical.search(PARAPHRASE)]
    assert lexical_order[0] != "p-t480-fan" and "p-t480-fan" in lexical_order
    hits = catalog.snapshot.index.search(PARAPHRASE, limit=3)
    assert hits[0].guide.source_id == "p-t480-fan"
    # Filters hold for the dense half too.
    filtered = catalog.snapshot.index.search(PARAPHRASE, device="Dyson V8")
    assert {hit.guide.device_name for hit in filtered} == {"Dyson V8"}
    assert fallbacks == []


def test_without_vectors_search_is_bm25f_and_says_why(
    guides_db: sessionmaker[Session], embeddings_client: EmbeddingsClient
) -> None:
    catalog, hybrid, fallbacks = _catalog(guides_db, embeddings_client)
    assert hybrid.mode().describe() == "bm25f (no vectors for model e5-passage)"
    hits = catalog.snapshot.index.search(PARAPHRASE)
    assert hits[0].guide.source_id != "p-t480-fan"
    assert fallbacks == ["no_vectors"]
    # The filters reach BM25F.
    filtered = catalog.snapshot.index.search(PARAPHRASE, device="Dyson V8")
    assert filtered and {hit.guide.device_name for hit in filtered} == {"Dyson V8"}


def test_a_dead_endpoint_is_tried_once_per_back_off(
    guides_db: sessionmaker[Session],
    embeddings_client: EmbeddingsClient,
    embeddings_server: EmbeddingsServer,
) -> None:
    embed_guides(guides_db, embeddings_client)
    closed = embeddings_config(embeddings_server, base_url=f"http://127.0.0.1:{free_port()}/v1")
    now = [1000.0]
    catalog, hybrid, fallbacks = _catalog(
        guides_db, EmbeddingsClient(closed), retry_seconds=30, clock=lambda: now[0]
    )
    # The probe at build time already found the endpoint dead.
    assert hybrid.mode().mode == "bm25f" and "embeddings endpoint failed" in str(hybrid.mode())
    lexical = GuideIndex.build(catalog.snapshot.docs_by_id.values())
    expected = [hit.guide.source_id for hit in lexical.search(PARAPHRASE)]
    assert [h.guide.source_id for h in catalog.snapshot.index.search(PARAPHRASE)] == expected
    assert fallbacks == ["backoff"]
    now[0] += 31
    catalog.snapshot.index.search("fan")
    assert fallbacks == ["backoff", "endpoint_error"]
    # Japanese questions are fused too: past the back-off they try the endpoint as well.
    now[0] += 31
    assert catalog.snapshot.index.search("ファンの掃除") is not None
    assert fallbacks == ["backoff", "endpoint_error", "endpoint_error"]


def test_query_vectors_are_cached(
    embeddings_client: EmbeddingsClient, embeddings_server: EmbeddingsServer
) -> None:
    embedder = QueryEmbedder(embeddings_client)
    first = embedder("laptop fan noise")
    assert first is not None and first.shape == (384,)
    # Point it at a closed port: a cached query still has its vector, a new one has none.
    closed = embeddings_config(embeddings_server, base_url=f"http://127.0.0.1:{free_port()}/v1")
    embedder.client = EmbeddingsClient(closed)
    cached = embedder("laptop fan noise")
    assert cached is not None and np.array_equal(cached, first)
    assert embedder("phone screen cracked") is None


def test_a_database_without_the_vectors_table_is_searched_with_bm25f(
    tmp_path: Path, embeddings_client: EmbeddingsClient
) -> None:
    engine = create_db_engine(f"sqlite:///{tmp_path / 'old.db'}")
    try:
        migrate(engine, "0002")  # a replica or a server not yet migrated
        factory = build_session_factory(engine)
        with session_scope(factory) as session:
            import_guide_file(session, read_guide_file(PARAPHRASE_GUIDES))
        catalog, hybrid, _ = _catalog(factory, embeddings_client)
        assert hybrid.mode().mode == "bm25f"
        assert catalog.snapshot.index.search("fan cleaning")[0].guide.source_id == "p-t480-fan"
        assert catalog.refresh_if_changed() is False
    finally:
        engine.dispose()
