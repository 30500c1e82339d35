"""Dense and hybrid rankers for bench/retrieval_eval.py, on the app's own code paths.

Guide vectors come from an OpenAI-compatible embeddings server (the app's `EmbeddingsClient`,
passage texts from `passage_text`), optionally kept in an .npz cache keyed by the sha256 of the
embedded text (the format bench/dense_probe.py writes). `fused` ranks with the app's
`HybridIndex`, so the weights scored are the weights served.
"""

from __future__ import annotations

import sys
import time
from collections.abc import Iterable, Mapping, Sequence
from pathlib import Path
from typing import Any

import numpy as np
from retrieval_eval import TUNING_SETS, Corpus, Ranker, RankerFactory, evaluate, sets_for

from repairgpt.services.embeddings import EmbeddingsClient, EmbeddingsConfig
from repairgpt.services.embeddings.client import Vectors
from repairgpt.services.embeddings.passages import passage_text, text_hash
from repairgpt.services.retrieval import GuideDoc
from repairgpt.services.retrieval.dense import DenseIndex
from repairgpt.services.retrieval.hybrid import (
    DEFAULT_WEIGHTS,
    FUSION_DEPTH,
    FusionWeights,
    HybridIndex,
)

# Dense weights tried per language and fusion method (BM25F's weight stays 1) when tuning.
WEIGHT_GRID = (0.0, 0.1, 0.2, 0.3, 0.5, 0.75, 1.0, 1.5)


class GuideVectors:
    """Passage vectors of every benchmark guide by source id, and memoised query vectors."""

    def __init__(
        self, client: EmbeddingsClient, docs: Sequence[GuideDoc], *, cache: Path | None
    ) -> None:
        self._client = client
        config = client.config
        texts = [config.prepared(passage_text(doc), "passage") for doc in docs]
        keys = [text_hash(text) for text in texts]
        known: dict[str, Vectors] = {}
        if cache is not None and cache.exists():
            with np.load(cache) as stored:
                known = dict(zip(stored["keys"].tolist(), stored["vectors"], strict=True))
        missing = [i for i, key in enumerate(keys) if key not in known]
        start = time.perf_counter()
        if missing:
            fresh = client.embed_prepared([texts[i] for i in missing], "passage")
            known.update((keys[i], row) for i, row in zip(missing, fresh, strict=True))
            if cache is not None:
                np.savez(cache, keys=np.array(list(known)), vectors=np.vstack(list(known.values())))
        self.embedded = len(missing)
        self.seconds = time.perf_counter() - start
        self.by_source = {
            doc.source_id or "": known[key] for doc, key in zip(docs, keys, strict=True)
        }
        self._queries: dict[str, Vectors] = {}
        print(f"embedded {self.embedded} guides in {self.seconds:.1f} s", file=sys.stderr)

    def query(self, question: str) -> Vectors:
        vector = self._queries.get(question)
        if vector is None:
            vector = self._client.embed([question], "query")[0]
            self._queries[question] = vector
        return vector

    def dense_index(self, docs: Iterable[GuideDoc]) -> DenseIndex:
        docs = list(docs)
        return DenseIndex.build(docs, {d.id: self.by_source[d.source_id or ""] for d in docs})


def client_for(
    url: str, model: str, passage_model: str | None, *, input_type: bool
) -> EmbeddingsClient:
    config = EmbeddingsConfig(
        base_url=url,
        model=model,
        passage_model=passage_model,
        input_type=input_type,
        timeout=600.0,
    )
    return EmbeddingsClient(config)


def hybrid_ranker_factory(
    vectors: GuideVectors, weights: Mapping[str, FusionWeights] = DEFAULT_WEIGHTS
) -> RankerFactory:
    """A RankerFactory of the app's HybridIndex with the given weights."""

    def factory(corpus: Corpus) -> Ranker:
        dense = vectors.dense_index(corpus.docs)
        hybrid = HybridIndex(corpus.index, dense, vectors.query, weights=weights)

        def rank(question: str) -> list[str]:
            hits = hybrid.search(question, limit=FUSION_DEPTH, snippets=False)
            return [hit.guide.source_id or "" for hit in hits]

        return rank

    return factory


def dense_ranker_factory(vectors: GuideVectors) -> RankerFactory:
    """A RankerFactory of cosine ranking alone."""

    def factory(corpus: Corpus) -> Ranker:
        dense = vectors.dense_index(corpus.docs)
        source = {doc.id: doc.source_id or "" for doc in corpus.docs}

        def rank(question: str) -> list[str]:
            ranked = dense.rank(vectors.query(question), depth=FUSION_DEPTH)
            return [source[guide_id] for guide_id, _ in ranked]

        return rank

    return factory


def tune_weights(
    vectors: GuideVectors, corpora: Sequence[Corpus], evaluation: dict[str, Any]
) -> dict[str, Any]:
    """The dense weight per language with the best MRR (then top-1) on the TUNING sets only.

    Each tuning set is scored on the corpus it was written for, as `run` does; questions are
    pooled per language, since the weight is chosen by the question's language.
    """
    table: dict[str, dict[str, dict[str, float]]] = {}
    for method, weight in [(m, w) for m in ("rrf", "scores") for w in WEIGHT_GRID]:
        same = FusionWeights(bm25=1.0, dense=weight, method=method)  # type: ignore[arg-type]
        factory = hybrid_ranker_factory(vectors, {"en": same, "ja": same})
        pooled: dict[str, dict[str, float]] = {}
        for corpus in corpora:
            ranker = factory(corpus)
            for set_name in sets_for(corpus, evaluation):
                if set_name not in TUNING_SETS:
                    continue
                scores = evaluate(ranker, evaluation[set_name], repeats=1)
                for language in ("en", "ja"):
                    if language not in scores:
                        continue
                    stats = scores[language]
                    into = pooled.setdefault(language, {"n": 0, "mrr": 0.0, "top1": 0.0})
                    into["n"] += stats["questions"]
                    into["mrr"] += stats["mrr"] * stats["questions"]
                    into["top1"] += stats["top1"] * stats["questions"]
        for language, stats in pooled.items():
            n = stats["n"]
            table.setdefault(language, {})[f"{method} {weight}"] = {
                "questions": n,
                "mrr": round(stats["mrr"] / n, 3),
                "top1": round(stats["top1"] / n, 3),
            }
    # The best MRR, then top-1; among equals the smallest dense weight (the least change).
    chosen = {
        language: max(
            by_weight,
            key=lambda w: (
                by_weight[w]["mrr"],
                by_weight[w]["top1"],
                -float(w.split()[1]),
                w.startswith("scores"),
            ),
        )
        for language, by_weight in table.items()
    }
    return {"grid": table, "chosen": chosen}
