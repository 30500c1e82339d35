"""Hybrid search for the API: the catalog's index extension, and which mode search is in."""

from __future__ import annotations

import logging
from collections.abc import Callable
from dataclasses import dataclass
from typing import Unpack

from sqlalchemy import func, inspect, select
from sqlalchemy.orm import Session, sessionmaker

from repairgpt.models import GuideVector
from repairgpt.services.embeddings.client import EmbeddingsError
from repairgpt.services.embeddings.query import QueryEmbedder
from repairgpt.services.embeddings.store import load_vectors, refresh_guide_vector
from repairgpt.services.guides import SearchIndex
from repairgpt.services.retrieval import Filters, GuideDoc, GuideIndex, SearchHit
from repairgpt.services.retrieval.dense import DenseIndex
from repairgpt.services.retrieval.hybrid import HybridIndex

log = logging.getLogger(__name__)

HYBRID = "hybrid"
BM25F = "bm25f"


@dataclass(frozen=True)
class SearchMode:
    """`hybrid` or `bm25f`, and why search is not hybrid when it is not."""

    mode: str
    reason: str | None = None

    def describe(self) -> str:
        return self.mode if self.reason is None else f"{self.mode} ({self.reason})"


class HybridSearch:
    """Wraps each lexical index the catalog builds with the dense vectors of the model."""

    def __init__(self, embedder: QueryEmbedder) -> None:
        self.embedder = embedder
        self.config = embedder.client.config
        self._vectors = 0

    def version(self, session: Session) -> str:
        if not _has_vectors_table(session):
            return "v-"
        count, newest = session.execute(
            select(func.count(), func.max(GuideVector.computed_at)).where(
                GuideVector.model == self.config.vector_model
            )
        ).one()
        return f"v{count}:{newest}"

    def build(self, session: Session, docs: list[GuideDoc], lexical: GuideIndex) -> SearchIndex:
        by_guide = (
            load_vectors(session, self.config, docs).by_guide if _has_vectors_table(session) else {}
        )
        dense = DenseIndex.build(docs, by_guide)
        self._vectors = len(dense)
        log.info(
            "dense vectors loaded",
            extra={"model": self.config.vector_model, "vectors": len(dense), "guides": len(docs)},
        )
        if not len(dense):
            return _CountingFallback(lexical, self.embedder.count_fallback)
        if self.embedder.available:
            # So that /ready and the mode metric are right before the first search.
            self.embedder.probe()
        return HybridIndex(lexical, dense, self.embedder)

    def refresh_guide(self, session_factory: sessionmaker[Session], guide_id: int) -> None:
        """Compute the vector of a guide created or changed through the API.

        While the endpoint is known to be down (the query embedder backs off) it is not called.
        When it fails or is skipped, the guide stays as saved, ranked by BM25F alone, until
        `repairgpt guides embed` computes what is missing; that is logged, not raised.
        """
        error = None if self.embedder.available else "backing off after a failure"
        if error is None:
            try:
                refresh_guide_vector(session_factory, self.embedder.client, guide_id)
            except EmbeddingsError as exc:
                error = str(exc)
        if error is not None:
            log.warning(
                "guide vector not computed; `repairgpt guides embed` will",
                extra={"guide_id": guide_id, "model": self.config.vector_model, "error": error},
            )

    def mode(self) -> SearchMode:
        if not self._vectors:
            return SearchMode(BM25F, f"no vectors for model {self.config.vector_model}")
        if self.embedder.last_error is not None:
            # Until a query embedding succeeds again (tried at most once per back-off period).
            return SearchMode(
                BM25F, f"embeddings endpoint failed, retry in {self.embedder.retry_in():.0f}s"
            )
        return SearchMode(HYBRID)


def _has_vectors_table(session: Session) -> bool:
    """False on a database not yet migrated to the vectors table (read-only, auto-migrate off)."""
    return inspect(session.connection()).has_table(GuideVector.__tablename__)


class _CountingFallback:
    """BM25F alone while no guide has a vector: each search counts as a fallback."""

    def __init__(self, lexical: GuideIndex, on_fallback: Callable[[str], None]) -> None:
        self._lexical = lexical
        self._on_fallback = on_fallback

    def __len__(self) -> int:
        return len(self._lexical)

    def search(
        self, query: str, *, limit: int = 10, snippets: bool = True, **filters: Unpack[Filters]
    ) -> list[SearchHit]:
        if query.strip():
            self._on_fallback("no_vectors")
        return self._lexical.search(query, limit=limit, snippets=snippets, **filters)
