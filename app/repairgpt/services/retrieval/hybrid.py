"""Hybrid search: BM25F fused with dense ranking, by scaled scores (the default) or by weighted
reciprocal rank fusion.

The weights depend on the question's language: Japanese questions lean on BM25F and its
lexicon more than English ones do. Without a query vector (no endpoint, or it failed) the search
is BM25F's alone.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from typing import Literal, TypeVar, Unpack

from repairgpt.services.retrieval.analysis import detect_language, query_terms
from repairgpt.services.retrieval.dense import DenseIndex, Vectors
from repairgpt.services.retrieval.documents import Filters, GuideDoc, SearchHit
from repairgpt.services.retrieval.index import GuideIndex

Key = TypeVar("Key", int, str)

RRF_K = 60
# How deep each ranking is read before fusing.
FUSION_DEPTH = 50


@dataclass(frozen=True)
class FusionWeights:
    """How much each ranking adds: weight / (RRF_K + rank) with `rrf`; with `scores`, weight
    times the score scaled to 0..1 within its list (BM25F by its best score, cosine min-max),
    which keeps a confident BM25F ranking from being reordered by near ties."""

    bm25: float = 1.0
    dense: float = 1.0
    method: Literal["rrf", "scores"] = "rrf"


# Chosen on the tuning question sets of bench/retrieval_eval.py --tune (never on the held-out
# sets): English MRR 0.981 (BM25F) -> 0.996; Japanese 0.920 -> 0.933 (the seed questions, on
# which the lexicon was built, and 47 questions for MyFixit guides the lexicon never saw).
DEFAULT_WEIGHTS: Mapping[str, FusionWeights] = {
    "en": FusionWeights(bm25=1.0, dense=0.5, method="scores"),
    "ja": FusionWeights(bm25=1.0, dense=0.1, method="scores"),
}

QueryVector = Callable[[str], Vectors | None]
"""The query's vector, or None when there is none to be had (search then uses BM25F alone)."""


def fuse(
    lexical: Sequence[Key],
    dense: Sequence[Key],
    weights: FusionWeights,
    *,
    k: int = RRF_K,
) -> list[tuple[float, Key]]:
    """(score, guide) best first; ties keep the order in which the lists first named them."""
    scores: dict[Key, float] = {}
    for ranking, weight in ((lexical, weights.bm25), (dense, weights.dense)):
        if weight <= 0:
            continue
        for position, guide_id in enumerate(ranking, start=1):
            scores[guide_id] = scores.get(guide_id, 0.0) + weight / (k + position)
    return sorted(((score, guide_id) for guide_id, score in scores.items()), key=lambda x: -x[0])


def fuse_scores(
    lexical: Sequence[tuple[Key, float]],
    dense: Sequence[tuple[Key, float]],
    weights: FusionWeights,
) -> list[tuple[float, Key]]:
    """(score, guide) best first, from (guide, score) lists; see `FusionWeights`."""
    scores: dict[Key, float] = {}
    if lexical and weights.bm25 > 0:
        best = max(score for _, score in lexical) or 1.0
        for key, score in lexical:
            scores[key] = scores.get(key, 0.0) + weights.bm25 * score / best
    if dense and weights.dense > 0:
        high = max(score for _, score in dense)
        low = min(score for _, score in dense)
        spread = (high - low) or 1.0
        for key, score in dense:
            scores[key] = scores.get(key, 0.0) + weights.dense * (score - low) / spread
    return sorted(((score, key) for key, score in scores.items()), key=lambda x: -x[0])


class HybridIndex:
    """`GuideIndex`'s search, with dense ranking fused in whenever a query vector is had."""

    def __init__(
        self,
        lexical: GuideIndex,
        dense: DenseIndex,
        query_vector: QueryVector,
        *,
        weights: Mapping[str, FusionWeights] = DEFAULT_WEIGHTS,
    ) -> None:
        self.lexical = lexical
        self.dense = dense
        self._query_vector = query_vector
        self._weights = weights
        self._docs: dict[int, GuideDoc] = {doc.id: doc for doc in lexical.all_docs()}

    def __len__(self) -> int:
        return len(self.lexical)

    def all_docs(self) -> Sequence[GuideDoc]:
        return self.lexical.all_docs()

    def search(
        self, query: str, *, limit: int = 10, snippets: bool = True, **filters: Unpack[Filters]
    ) -> list[SearchHit]:
        """Same contract as `GuideIndex.search`; scores are fused scores when dense ranking ran."""
        if limit <= 0 or not query.strip() or not query_terms(query):
            return self.lexical.search(query, limit=limit, snippets=snippets, **filters)
        weights = self._weights.get(detect_language(query), FusionWeights())
        if weights.dense <= 0:
            # Nothing to fuse: skip the query's round trip to the endpoint.
            return self.lexical.search(query, limit=limit, snippets=snippets, **filters)
        vector = self._query_vector(query)
        depth = max(FUSION_DEPTH, limit)
        if vector is None:
            return self.lexical.search(query, limit=limit, snippets=snippets, **filters)
        # Snippets only for the guides shown, not for the whole depth that is fused.
        lexical = self.lexical.ranked(query, limit=depth, **filters)
        allowed = self.lexical.allowed_ids(**filters)
        dense_ranked = self.dense.rank(vector, allowed=allowed, depth=depth)
        if weights.method == "scores":
            fused = fuse_scores(
                list(zip(lexical.ids, lexical.scores, strict=True)), dense_ranked, weights
            )
        else:
            fused = fuse(lexical.ids, [guide_id for guide_id, _ in dense_ranked], weights)
        shown = fused[:limit]
        chosen = (
            self.lexical.snippets(query, [guide_id for _, guide_id in shown]) if snippets else {}
        )
        coverage = dict(zip(lexical.ids, lexical.coverage, strict=True))
        hits = []
        for score, guide_id in shown:
            doc = self._docs[guide_id]
            # A guide found by meaning alone covers none of the question's words.
            hits.append(
                SearchHit(
                    doc,
                    round(score, 6),
                    chosen.get(guide_id, doc.summary),
                    coverage.get(guide_id, 0.0),
                )
            )
        return hits
