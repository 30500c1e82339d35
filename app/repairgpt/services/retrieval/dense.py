"""The dense half of hybrid search: guide vectors in one matrix, ranked by cosine in process."""

from __future__ import annotations

from collections import Counter
from collections.abc import Collection, Mapping, Sequence
from dataclasses import dataclass

import numpy as np
import numpy.typing as npt

from repairgpt.services.retrieval.documents import GuideDoc

Vectors = npt.NDArray[np.float32]


@dataclass(frozen=True)
class DenseIndex:
    """Unit-length guide vectors, one row per guide that has one."""

    ids: npt.NDArray[np.int64]
    matrix: Vectors

    @classmethod
    def build(cls, docs: Sequence[GuideDoc], vectors: Mapping[int, Vectors]) -> DenseIndex:
        """Rows in the docs' order; guides without a vector (or of another size) are left out."""
        sizes = Counter(int(vectors[d.id].shape[0]) for d in docs if d.id in vectors)
        if not sizes:
            return cls(np.zeros(0, dtype=np.int64), np.zeros((0, 0), dtype=np.float32))
        size = sizes.most_common(1)[0][0]
        kept = [d.id for d in docs if d.id in vectors and vectors[d.id].shape[0] == size]
        matrix = np.vstack([vectors[guide_id] for guide_id in kept]).astype(np.float32)
        norms = np.linalg.norm(matrix, axis=1, keepdims=True)
        norms[norms == 0] = 1.0
        return cls(np.asarray(kept, dtype=np.int64), matrix / norms)

    def __len__(self) -> int:
        return int(self.ids.shape[0])

    @property
    def dimensions(self) -> int:
        return int(self.matrix.shape[1]) if len(self) else 0

    def rank(
        self, query: Vectors, *, allowed: Collection[int] | None = None, depth: int = 50
    ) -> list[tuple[int, float]]:
        """(guide id, cosine) of the closest guides, best first; ties keep the docs' order."""
        if not len(self) or query.shape[0] != self.dimensions or depth <= 0:
            return []
        norm = float(np.linalg.norm(query))
        # einsum's own loop, not BLAS: a matrix-vector product this small gains nothing from
        # BLAS threads, which contend with the server's request threads.
        scores = np.einsum("ij,j->i", self.matrix, query / norm if norm else query)
        rows = np.arange(len(self))
        if allowed is not None:
            rows = rows[np.isin(self.ids, np.fromiter(allowed, dtype=np.int64))]
        if not rows.size:
            return []
        chosen = scores[rows]
        if rows.size > depth:
            # Partition first: a full sort of thousands of scores per query is wasted work.
            top = np.argpartition(-chosen, depth - 1)[:depth]
            rows, chosen = rows[top], chosen[top]
        order = np.lexsort((rows, -chosen))
        return list(zip(self.ids[rows[order]].tolist(), chosen[order].tolist(), strict=True))
