"""The guide index: filters, BM25F ranking boosted by the question's language and device, snippets.

The index does not touch the database, which keeps ranking identical on SQLite and PostgreSQL.
"""

from __future__ import annotations

import re
from collections import Counter, defaultdict
from collections.abc import Collection, Iterable, Sequence
from dataclasses import dataclass, field
from typing import NamedTuple, Unpack

import numpy as np
import numpy.typing as npt

from repairgpt.services.retrieval.analysis import (
    analyse,
    detect_language,
    normalise,
    query_terms,
    slug,
)
from repairgpt.services.retrieval.bm25f import Bm25f, Scores, doc_fields
from repairgpt.services.retrieval.documents import Filters, GuideDoc, SearchHit
from repairgpt.services.retrieval.loanwords import LoanwordMatcher

_SENTENCE_SPLIT = re.compile(r"(?<=[.!?。！？])\s*|\n+")
_SAME_LANGUAGE_BOOST = 1.1
# Users name their device; a guide for another device should rarely outrank one for theirs.
_DEVICE_BOOST = 1.0
# Within the device name, the model number (13 in iPhone 13, 551 in Roomba 551) is what tells
# two devices of one family apart.
_MODEL_NUMBER_WEIGHT = 2.0
# English words a katakana word may stand for are guesses, like kanji n-grams.
_LOANWORD_WEIGHT = 0.6

Indexes = npt.NDArray[np.intp] | npt.NDArray[np.int32]


def _has_digit(term: str) -> bool:
    return any(c.isdigit() for c in term)


def _sentences(doc: GuideDoc) -> list[str]:
    pieces = [doc.summary, *(text for _, text in doc.steps)]
    sentences: list[str] = []
    for piece in pieces:
        sentences.extend(s.strip() for s in _SENTENCE_SPLIT.split(piece) if s and s.strip())
    return sentences


class Ranked(NamedTuple):
    """Guides ranked for a question, best first: ids, scores and coverage, as hits show them."""

    ids: list[int]
    scores: list[float]
    coverage: list[float]


def _top(candidates: Indexes, scores: Scores, limit: int) -> tuple[Indexes, Scores]:
    """The `limit` best (index, score), best first; ties go to the guide indexed first, so
    equal scores rank the same way every time."""
    if candidates.size > limit:
        # Everything at least as good as the limit-th best score: ties at the edge included.
        edge = np.partition(scores, candidates.size - limit)[candidates.size - limit]
        kept = scores >= edge
        candidates, scores = candidates[kept], scores[kept]
    order = np.lexsort((candidates, -scores))[:limit]
    return candidates[order], scores[order]


@dataclass
class _DocEntry:
    doc: GuideDoc
    device_keys: tuple[str, ...]
    device_terms: frozenset[str]
    title_key: str
    # Filled the first time a snippet of the guide is chosen: its sentences, and for each term
    # the sentences (by position) that hold it.
    sentences: list[str] | None = None
    sentence_terms: dict[str, list[int]] = field(default_factory=dict)


@dataclass
class GuideIndex:
    """A ranked index of guides, rebuilt whenever the guides change."""

    _entries: list[_DocEntry] = field(default_factory=list)
    _bm25f: Bm25f = field(default_factory=Bm25f)
    _device_postings: dict[str, Indexes] = field(default_factory=dict)
    _languages: npt.NDArray[np.str_] = field(default_factory=lambda: np.zeros(0, np.str_))
    _positions: dict[int, int] = field(default_factory=dict)  # guide id -> entry
    _loanwords: LoanwordMatcher = field(default_factory=LoanwordMatcher)

    @classmethod
    def build(cls, docs: Iterable[GuideDoc]) -> GuideIndex:
        entries: list[_DocEntry] = []
        field_counts: list[dict[str, Counter[str]]] = []
        for doc in docs:
            counts = {name: Counter(analyse(text)) for name, text in doc_fields(doc).items()}
            field_counts.append(counts)
            keys = (doc.device_name, slug(doc.device_name), *doc.device_aliases)
            entries.append(
                _DocEntry(
                    doc=doc,
                    device_keys=tuple(normalise(k) for k in keys if k),
                    device_terms=frozenset(counts["device"]),
                    title_key=normalise(doc.title),
                )
            )
        device_postings: dict[str, list[int]] = defaultdict(list)
        for index, entry in enumerate(entries):
            for term in entry.device_terms:
                device_postings[term].append(index)
        bm25f = Bm25f.build(field_counts)
        return cls(
            _entries=entries,
            _bm25f=bm25f,
            _device_postings={
                term: np.asarray(docs, dtype=np.int32) for term, docs in device_postings.items()
            },
            _languages=np.asarray([entry.doc.language for entry in entries], dtype=np.str_),
            _positions={entry.doc.id: index for index, entry in enumerate(entries)},
            _loanwords=LoanwordMatcher.build(bm25f.spans),
        )

    def __len__(self) -> int:
        return len(self._entries)

    def search(
        self, query: str, *, limit: int = 10, snippets: bool = True, **filters: Unpack[Filters]
    ) -> list[SearchHit]:
        """Guides ranked by relevance to the query; an empty query lists guides by title.

        With `snippets=False` each hit's snippet is the guide's summary: callers that never show
        snippets (the answer engines) skip choosing the best-matching sentence.
        """
        if limit <= 0:
            return []
        allowed = self._filter(**filters)
        if not query.strip():
            return self._by_title(allowed, limit)
        terms, language = self._terms(query)
        if not terms:
            # Only stop words ("how do I do it?"): nothing to rank, and a listing by title
            # would look like an answer to the question.
            return []
        positions, scores, coverage = self._rank(terms, language, limit, allowed)
        weighted = self._snippet_weights(terms) if snippets else []
        return [
            SearchHit(
                guide=self._entries[i].doc,
                score=score,
                snippet=(
                    self._snippet(self._entries[i], weighted)
                    if snippets
                    else self._entries[i].doc.summary
                ),
                coverage=share,
            )
            for i, score, share in zip(positions, scores, coverage, strict=True)
        ]

    def ranked(self, query: str, *, limit: int, **filters: Unpack[Filters]) -> Ranked:
        """What `search` ranks for a question, without building hits: the guides' ids, scores
        and coverage, best first (nothing for an empty question or one of stop words only)."""
        terms, language = self._terms(query)
        if limit <= 0 or not terms:
            return Ranked([], [], [])
        positions, scores, coverage = self._rank(terms, language, limit, self._filter(**filters))
        return Ranked([self._entries[i].doc.id for i in positions], scores, coverage)

    def _rank(
        self,
        terms: dict[str, float],
        language: str,
        limit: int,
        allowed: Collection[int] | None,
    ) -> tuple[list[int], list[float], list[float]]:
        """Positions of the best guides, their scores and coverage (rounded as shown)."""
        lexical = self._bm25f.score(terms)
        reached = lexical.reached
        if allowed is not None:
            reached = reached & self._mask(allowed)
        candidates = np.flatnonzero(reached)
        boosted = self._boosted(lexical.scores[candidates], candidates, terms, language)
        best, best_scores = _top(candidates, boosted, limit)
        total = lexical.coverage_total
        shares = (lexical.covered[best] / total).tolist() if total else [0.0] * len(best)
        return (
            best.tolist(),
            [round(score, 4) for score in best_scores.tolist()],
            [round(share, 3) for share in shares],
        )

    def _terms(self, query: str) -> tuple[dict[str, float], str]:
        """The weighted terms of a question and its language; a Japanese question's katakana
        words bring the English words of the guides they may stand for (`loanwords`), at a
        guess's weight."""
        terms, language = query_terms(query), detect_language(query)
        if language != "ja":
            return terms, language
        guesses = {
            candidate: _LOANWORD_WEIGHT
            for term in terms
            for candidate in self._loanwords.candidates(term)
            if candidate not in terms
        }
        return {**terms, **guesses}, language

    def _by_title(self, allowed: Collection[int] | None, limit: int) -> list[SearchHit]:
        candidates = range(len(self._entries)) if allowed is None else allowed
        ordered = sorted(candidates, key=lambda i: (self._entries[i].title_key, i))
        return [
            SearchHit(self._entries[i].doc, 0.0, self._entries[i].doc.summary)
            for i in ordered[:limit]
        ]

    def _mask(self, allowed: Collection[int]) -> npt.NDArray[np.bool_]:
        mask = np.zeros(len(self._entries), dtype=np.bool_)
        mask[np.fromiter(allowed, dtype=np.int64, count=len(allowed))] = True
        return mask

    def _boosted(
        self,
        scores: Scores,
        candidates: Indexes,
        terms: dict[str, float],
        query_language: str,
    ) -> Scores:
        """The scores of the candidate guides, raised for the question's language and device."""
        boosted = np.where(
            self._languages[candidates] == query_language, scores * _SAME_LANGUAGE_BOOST, scores
        )
        device_matched, device_total = self._device_matches(terms)
        if device_total:
            boosted *= 1.0 + _DEVICE_BOOST * device_matched[candidates] / device_total
        return boosted

    def _device_matches(self, terms: dict[str, float]) -> tuple[Scores, float]:
        """How much of the question's device-name weight each guide's device holds, and the
        total weight of the question's terms that name some device."""
        idf = self._bm25f.idf
        device_matched = np.zeros(len(self._entries), dtype=np.float64)
        device_total = 0.0
        for term, weight in terms.items():
            holders = self._device_postings.get(term)
            if holders is not None:
                boost = _MODEL_NUMBER_WEIGHT if _has_digit(term) else 1.0
                device_weight = weight * idf[term] * boost
                device_total += device_weight
                device_matched[holders] += device_weight
        return device_matched, device_total

    def snippets(self, query: str, guide_ids: Collection[int]) -> dict[int, str]:
        """The best-matching sentence of each of the given guides, as `search` chooses it."""
        weighted = self._snippet_weights(self._terms(query)[0])
        positions = sorted({self._positions[i] for i in guide_ids if i in self._positions})
        return {
            self._entries[i].doc.id: self._snippet(self._entries[i], weighted) for i in positions
        }

    def allowed_ids(self, **filters: Unpack[Filters]) -> set[int] | None:
        """Ids of the guides that pass the search filters, or None when there is no filter."""
        allowed = self._filter(**filters)
        if allowed is None:
            return None
        return {self._entries[i].doc.id for i in allowed}

    def _filter(
        self,
        *,
        language: str | None = None,
        device: str | None = None,
        difficulty: str | None = None,
    ) -> set[int] | None:
        """Indexes of guides that pass the filters, or None when there is no filter."""
        if not (language or device or difficulty):
            return None
        wanted_device = normalise(device).strip() if device else ""
        wanted_slug = slug(device) if device else ""
        allowed: set[int] = set()
        for index, entry in enumerate(self._entries):
            doc = entry.doc
            if language and doc.language != language:
                continue
            if difficulty and (doc.difficulty or "") != difficulty:
                continue
            if wanted_device and not any(
                wanted_device in key or (wanted_slug and wanted_slug in key)
                for key in entry.device_keys
            ):
                continue
            allowed.add(index)
        return allowed

    def _snippet_weights(self, terms: dict[str, float]) -> list[tuple[str, float]]:
        """What each of the question's terms adds to a sentence that holds it (its weight times
        its idf), once per search rather than once per sentence; terms that add nothing are
        left out."""
        idf = self._bm25f.idf
        weighted = ((term, weight * idf.get(term, 0.0)) for term, weight in terms.items())
        return [(term, value) for term, value in weighted if value]

    def _snippet(self, entry: _DocEntry, weighted: list[tuple[str, float]]) -> str:
        """The summary or step sentence that shares the most query weight with the question."""
        if entry.sentences is None:
            sentences = _sentences(entry.doc)
            holders: dict[str, list[int]] = {}
            for position, sentence in enumerate(sentences):
                for term in frozenset(analyse(sentence)):
                    holders.setdefault(term, []).append(position)
            # Terms first: a search on another thread that sees the sentences sees them too.
            entry.sentence_terms = holders
            entry.sentences = sentences
        # Only the sentences that hold a term of the question score; each adds the terms'
        # values in the question's order.
        scores: dict[int, float] = {}
        for term, value in weighted:
            for position in entry.sentence_terms.get(term, ()):
                scores[position] = scores.get(position, 0.0) + value
        best, best_score = entry.doc.summary, 0.0
        for position in sorted(scores):
            if scores[position] > best_score:
                best, best_score = entry.sentences[position], scores[position]
        return best if len(best) <= 240 else best[:237].rstrip() + "..."

    def all_docs(self) -> Sequence[GuideDoc]:
        """Every indexed guide in build order."""
        return [entry.doc for entry in self._entries]
