"""BM25F, the lexical ranker: scores guides by the question's terms, weighted field by field."""

from __future__ import annotations

import math
from collections import Counter, defaultdict
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from typing import NamedTuple

import numpy as np
import numpy.typing as npt

from repairgpt.services.retrieval.analysis import TRANSLATION_WEIGHT
from repairgpt.services.retrieval.documents import GuideDoc

# Field weights of BM25F: a match in the title or device name says more than one in a step.
FIELD_WEIGHTS: dict[str, float] = {
    "title": 3.0,
    "device": 2.5,
    "keywords": 2.0,
    "parts": 1.5,
    "summary": 1.2,
    "tools": 0.3,
    "steps": 0.6,
}
_B = {
    "title": 0.5,
    "device": 0.3,
    "keywords": 0.5,
    "parts": 0.4,
    "summary": 0.6,
    "tools": 0.5,
    "steps": 0.75,
}
_K1 = 1.2

Scores = npt.NDArray[np.float64]


def doc_fields(doc: GuideDoc) -> dict[str, str]:
    """The text of each BM25F field of a guide, in the order `FIELD_WEIGHTS` lists them."""
    device = " ".join(
        (doc.device_name, doc.device_brand or "", doc.device_category or "", *doc.device_aliases)
    )
    steps = "\n".join(f"{title}. {text}" for title, text in doc.steps)
    return {
        "title": doc.title,
        "device": device,
        "keywords": "\n".join(doc.keywords),
        "parts": "\n".join(doc.parts),
        "summary": doc.summary,
        "tools": "\n".join(doc.tools),
        "steps": steps,
    }


class LexicalScores(NamedTuple):
    """BM25F scores of the guides, in index order, and how much of the question each holds."""

    scores: Scores
    # Guides that hold some term of the question: only they are ranked (a score of 0.0 may
    # still come from a term of weight 0).
    reached: npt.NDArray[np.bool_]
    # Per guide, the idf-weighted weight of the question's own words it holds, and the total of
    # those words' weights: their ratio is the guide's coverage of the question.
    covered: Scores
    coverage_total: float


@dataclass(frozen=True)
class Bm25f:
    """Postings of saturated, field-weighted term frequencies and the idf of every term.

    The postings of all terms lie end to end in two arrays (guide index, saturated frequency);
    `spans` says where each term's run starts and ends. A question is scored with one vector
    operation per term instead of a Python loop over its guides, and a posting costs 12 bytes
    rather than a tuple of two Python numbers.
    """

    spans: dict[str, tuple[int, int]] = field(default_factory=dict)
    doc_indexes: npt.NDArray[np.int32] = field(default_factory=lambda: np.zeros(0, np.int32))
    saturated: Scores = field(default_factory=lambda: np.zeros(0, np.float64))
    idf: dict[str, float] = field(default_factory=dict)
    n_docs: int = 0

    @classmethod
    def build(cls, field_counts: Sequence[Mapping[str, Counter[str]]]) -> Bm25f:
        """The ranker of the documents whose term counts per field are given, in index order."""
        totals: dict[str, int] = defaultdict(int)
        for counts in field_counts:
            for name, counter in counts.items():
                totals[name] += sum(counter.values())
        n_docs = len(field_counts)
        avg_len = {name: (totals[name] / n_docs if n_docs else 1.0) or 1.0 for name in totals}
        postings: dict[str, list[tuple[int, float]]] = defaultdict(list)
        for index, counts in enumerate(field_counts):
            pseudo_tf: dict[str, float] = defaultdict(float)
            for name, counter in counts.items():
                length = sum(counter.values())
                norm = 1.0 - _B[name] + _B[name] * length / avg_len[name]
                weight = FIELD_WEIGHTS[name]
                for term, count in counter.items():
                    pseudo_tf[term] += weight * count / norm
            for term, tf in pseudo_tf.items():
                postings[term].append((index, tf / (_K1 + tf)))
        idf = {
            term: math.log(1.0 + (n_docs - len(plist) + 0.5) / (len(plist) + 0.5))
            for term, plist in postings.items()
        }
        spans: dict[str, tuple[int, int]] = {}
        start = 0
        for term, plist in postings.items():
            spans[term] = (start, start + len(plist))
            start += len(plist)
        flat = [posting for plist in postings.values() for posting in plist]
        return cls(
            spans=spans,
            doc_indexes=np.fromiter((i for i, _ in flat), dtype=np.int32, count=len(flat)),
            saturated=np.fromiter((s for _, s in flat), dtype=np.float64, count=len(flat)),
            idf=idf,
            n_docs=n_docs,
        )

    def score(self, terms: Mapping[str, float]) -> LexicalScores:
        """Scores of every document; `reached` marks those that hold a term of the question."""
        scores = np.zeros(self.n_docs, dtype=np.float64)
        covered = np.zeros(self.n_docs, dtype=np.float64)
        reached = np.zeros(self.n_docs, dtype=np.bool_)
        unseen_idf = math.log(1.0 + (self.n_docs + 0.5) / 0.5)
        coverage_total = 0.0
        for term, weight in terms.items():
            span = self.spans.get(term)
            own_word = weight >= TRANSLATION_WEIGHT
            if own_word:
                coverage_total += weight * self.idf.get(term, unseen_idf)
            if span is None:
                continue
            # A term's run names each guide once, so fancy-indexed += adds once per guide.
            docs = self.doc_indexes[span[0] : span[1]]
            term_weight = weight * self.idf[term]
            scores[docs] += term_weight * self.saturated[span[0] : span[1]]
            reached[docs] = True
            if own_word:
                covered[docs] += term_weight
        return LexicalScores(scores, reached, covered, coverage_total)
