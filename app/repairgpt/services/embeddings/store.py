"""Guide vectors in the database: which are stale, computing them in batches, reading them back.

A vector is kept per (guide, model) with the hash of the text that was embedded, so an import
recomputes only the guides whose text changed, and a new model recomputes them all.
"""

from __future__ import annotations

import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass

import numpy as np
from sqlalchemy import select
from sqlalchemy.orm import Session, sessionmaker

from repairgpt.models import GuideVector, RepairGuide, utcnow
from repairgpt.services.embeddings.client import (
    EmbeddingsClient,
    EmbeddingsConfig,
    EmbeddingsError,
    Vectors,
)
from repairgpt.services.embeddings.passages import passage_text, text_hash
from repairgpt.services.guides import guide_to_doc, load_guide_docs
from repairgpt.services.retrieval import GuideDoc

Progress = Callable[[int, int, float], None]
"""Called after each batch with (guides done, guides to do, seconds so far)."""


@dataclass(frozen=True)
class Passage:
    guide_id: int
    text: str  # as sent to the model, prefix included
    hash: str


@dataclass
class EmbedReport:
    model: str
    computed: int = 0
    unchanged: int = 0
    missing: int = 0  # stale guides left without a fresh vector (the endpoint failed)
    dimensions: int | None = None
    seconds: float = 0.0
    error: str | None = None

    @property
    def guides_per_second(self) -> float:
        return self.computed / self.seconds if self.seconds > 0 else 0.0


def passages_of(docs: Sequence[GuideDoc], config: EmbeddingsConfig) -> list[Passage]:
    passages = []
    for doc in docs:
        text = config.prepared(passage_text(doc), "passage")
        passages.append(Passage(doc.id, text, text_hash(text)))
    return passages


def stored_hashes(session: Session, model: str) -> dict[int, str]:
    rows = session.execute(
        select(GuideVector.guide_id, GuideVector.text_hash).where(GuideVector.model == model)
    )
    return {int(guide_id): str(digest) for guide_id, digest in rows}


def stale_passages(session: Session, config: EmbeddingsConfig) -> tuple[list[Passage], int]:
    """The active guides whose vector for the model is missing or was made from other text,
    and how many are up to date."""
    passages = passages_of(load_guide_docs(session), config)
    known = stored_hashes(session, config.vector_model)
    stale = [p for p in passages if known.get(p.guide_id) != p.hash]
    return stale, len(passages) - len(stale)


def save_vectors(
    session: Session, model: str, passages: Sequence[Passage], vectors: Vectors
) -> None:
    for passage, row in zip(passages, vectors, strict=True):
        session.merge(
            GuideVector(
                guide_id=passage.guide_id,
                model=model,
                text_hash=passage.hash,
                dimensions=int(row.shape[0]),
                vector=row.astype("<f4").tobytes(),
                computed_at=utcnow(),
            )
        )


def embed_guides(
    session_factory: sessionmaker[Session],
    client: EmbeddingsClient,
    *,
    progress: Progress | None = None,
) -> EmbedReport:
    """Compute the stale vectors batch by batch, each batch committed on its own.

    A failure of the endpoint stops the run: what was committed stays, the rest is `missing`.
    """
    config = client.config
    report = EmbedReport(model=config.vector_model)
    with session_factory() as session:
        stale, report.unchanged = stale_passages(session, config)
    start = time.perf_counter()
    for first in range(0, len(stale), config.batch_size):
        batch = stale[first : first + config.batch_size]
        try:
            # The texts already carry their prefix.
            vectors = client.embed_prepared([p.text for p in batch], "passage")
        except EmbeddingsError as exc:
            report.missing = len(stale) - first
            report.error = str(exc)
            break
        with session_factory() as session, session.begin():
            save_vectors(session, config.vector_model, batch, vectors)
        report.computed += len(batch)
        report.dimensions = int(vectors.shape[1])
        report.seconds = time.perf_counter() - start
        if progress is not None:
            progress(report.computed, len(stale), report.seconds)
    report.seconds = time.perf_counter() - start
    return report


def refresh_guide_vector(
    session_factory: sessionmaker[Session], client: EmbeddingsClient, guide_id: int
) -> bool:
    """Bring the vector of one guide up to date (after it was created or changed through the
    API): whether one was computed (not for an inactive guide, nor when its text is the one
    embedded already). The endpoint is called outside any transaction; `EmbeddingsError` when
    it fails."""
    config = client.config
    with session_factory() as session:
        guide = session.get(RepairGuide, guide_id)
        if guide is None or not guide.is_active:
            return False
        passage = passages_of([guide_to_doc(guide)], config)[0]
        current = session.get(GuideVector, (guide_id, config.vector_model))
        if current is not None and current.text_hash == passage.hash:
            return False
    vectors = client.embed_prepared([passage.text], "passage")
    with session_factory() as session, session.begin():
        save_vectors(session, config.vector_model, [passage], vectors)
    return True


@dataclass(frozen=True)
class StoredVectors:
    """The vectors of one model that match their guide's current text, by guide id."""

    model: str
    by_guide: dict[int, Vectors]

    def __len__(self) -> int:
        return len(self.by_guide)


def load_vectors(
    session: Session, config: EmbeddingsConfig, docs: Sequence[GuideDoc]
) -> StoredVectors:
    """Vectors of the model for the given guides; a vector made from older text is left out."""
    wanted = {p.guide_id: p.hash for p in passages_of(docs, config)}
    rows = session.execute(
        select(GuideVector.guide_id, GuideVector.text_hash, GuideVector.vector).where(
            GuideVector.model == config.vector_model
        )
    )
    found: dict[int, Vectors] = {}
    for guide_id, digest, raw in rows:
        if wanted.get(guide_id) == digest:
            found[guide_id] = np.frombuffer(raw, dtype="<f4").astype(np.float32)
    return StoredVectors(config.vector_model, found)
