"""BM25F, the lexical ranker: scores guides by the question's terms, weighted field by field."""

from __future__ import annotations

import math
from collections import Counter, defaultdict
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from typing import NamedTuple

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
    """BM25F scores of the guides a question reaches, and how much of the question each holds."""

    scores: dict[int, float]
    # Per guide, the idf-weighted weight of the question's own words it holds, and the total of
    # those words' weights: their ratio is the guide's coverage of the question.
    covered: dict[int, float]
    coverage_total: float


@dataclass(frozen=True)
class Bm25f:
    """Postings of saturated, field-weighted term frequencies and the idf of every term."""

    postings: dict[str, list[tuple[int, float]]] = field(default_factory=dict)
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
        return cls(postings=dict(postings), idf=idf, n_docs=n_docs)

    def score(self, terms: Mapping[str, float]) -> LexicalScores:
        """Scores of every document that holds a term of the (weighted) question."""
        scores: dict[int, float] = defaultdict(float)
        covered: dict[int, float] = defaultdict(float)
        unseen_idf = math.log(1.0 + (self.n_docs + 0.5) / 0.5)
        coverage_total = 0.0
        postings = self.postings
        idf = self.idf
        for term, weight in terms.items():
            plist = postings.get(term)
            own_word = weight >= TRANSLATION_WEIGHT
            if own_word:
                coverage_total += weight * idf.get(term, unseen_idf)
            if not plist:
                continue
            term_weight = weight * idf[term]
            for doc_index, saturated in plist:
                scores[doc_index] += term_weight * saturated
                if own_word:
                    covered[doc_index] += term_weight
        return LexicalScores(scores, covered, coverage_total)
