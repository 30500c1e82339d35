"""In-process BM25F index over repair guides for English and Japanese questions.

Japanese text is tokenised without external services: the bilingual lexicon turns known words
into English terms, remaining kanji runs become character bigrams and katakana runs words, so a
Japanese question also finds guides that exist only in English. The index does not touch the
database, which keeps ranking identical on SQLite and PostgreSQL.
"""

from __future__ import annotations

import heapq
import math
import re
import unicodedata
from collections import Counter, defaultdict
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from functools import lru_cache
from typing import Any

from repairgpt.services.lexicon import english_expansions, translate_japanese


@dataclass(frozen=True)
class GuideDoc:
    """What the index and the answer engines see of one guide."""

    id: int
    source_id: str | None
    title: str
    summary: str
    language: str
    device_name: str
    device_category: str | None
    device_brand: str | None
    device_aliases: tuple[str, ...]
    difficulty: str | None
    time_minutes: int | None
    tools: tuple[str, ...]
    parts: tuple[str, ...]
    safety_warnings: tuple[str, ...]
    keywords: tuple[str, ...]
    steps: tuple[tuple[str, str], ...]
    source_url: str | None = None


@dataclass(frozen=True)
class SearchHit:
    """One ranked result: the guide, its score and the sentence that best matches the query."""

    guide: GuideDoc
    score: float
    snippet: str
    # Share (0..1) of the question's own words, weighted by rarity, that the guide contains; a
    # low share means the guide only touches the question through a common word.
    coverage: float = 1.0


_JAPANESE_CHAR = re.compile(r"[\u3040-\u30ff\u3400-\u4dbf\u4e00-\u9fff\uf900-\ufaff々〆ヵヶ]")
_LATIN = r"[a-z0-9]+(?:[+#][a-z0-9]*)?"
_LATIN_RUN = re.compile(_LATIN)
_TOKEN_RUN = re.compile(
    rf"(?P<latin>{_LATIN})"
    r"|(?P<kanji>[\u3400-\u4dbf\u4e00-\u9fff\uf900-\ufaff々〆ヵヶ]+)"
    r"|(?P<kata>[\u30a0-\u30ff]+)"
)
_LETTER_DIGIT_SPLIT = re.compile(r"[a-z]+|[0-9]+")
_SENTENCE_SPLIT = re.compile(r"(?<=[.!?。！？])\s*|\n+")

_STOPWORDS = frozenset(
    """a about after again all am an and any are as at be been before being but by can cant
    could did didnt do does doesnt doing dont down during each few for from get gets got had has
    have having he her here him his how i if im in into is isnt it its itself ive just keep keeps
    me more most my myself no nor not now of off on once only or other our out over own please
    same she should so some still such than that the their them then there these they this those
    through to too under until up very was wasnt we were what when where which while who why
    will with wont would you your yours anymore really help fix make makes made seem seems
    start started suddenly even though know think want need tried try lot bit any""".split()
)

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
# Kanji n-grams are noisier than words, and synonyms are guesses about what the user meant, so
# both count less than the words typed; lexicon translations of Japanese words count almost as
# much as typed words because they replace them.
_GRAM_WEIGHT = 0.6
_TRANSLATION_WEIGHT = 0.9
_SYNONYM_WEIGHT = 0.8
_SAME_LANGUAGE_BOOST = 1.1
# Users name their device; a guide for another device should rarely outrank one for theirs.
_DEVICE_BOOST = 1.0
# Within the device name, the model number (13 in iPhone 13, 551 in Roomba 551) is what tells
# two devices of one family apart.
_MODEL_NUMBER_WEIGHT = 2.0


def normalise(text: str) -> str:
    """NFKC (full-width to half-width), lowercase, no apostrophes (won't -> wont)."""
    return unicodedata.normalize("NFKC", text).lower().replace("\u2019", "").replace("'", "")


def detect_language(text: str) -> str:
    """ "ja" if the text has Japanese script, else "en"."""
    return "ja" if _JAPANESE_CHAR.search(text) else "en"


@lru_cache(maxsize=65536)
def stem(word: str) -> str:
    """A light English stemmer; it only has to map both sides of a match to the same form."""
    if len(word) <= 3 or not word.isalpha():
        return word
    for suffix, replacement in (("ies", "y"), ("sses", "ss"), ("ves", "f")):
        if word.endswith(suffix) and len(word) > len(suffix) + 2:
            return word[: -len(suffix)] + replacement
    if word.endswith("s") and not word.endswith(("ss", "us", "is")):
        word = word[:-1]
    for suffix in ("ing", "ed"):
        if word.endswith(suffix) and len(word) - len(suffix) >= 3:
            root = word[: -len(suffix)]
            if len(root) >= 3 and root[-1] == root[-2] and root[-1] not in "lsz":
                root = root[:-1]
            return root.rstrip("e") if len(root) > 4 else root
    if word.endswith("e") and len(word) > 4:
        return word[:-1]
    return word


@lru_cache(maxsize=65536)
def _latin_terms(token: str) -> tuple[str, ...]:
    if token in _STOPWORDS:
        return ()
    terms = [stem(token)]
    parts = _LETTER_DIGIT_SPLIT.findall(token)
    if len(parts) > 1:
        terms.extend(stem(p) for p in parts if p not in _STOPWORDS and len(p) > 1)
    return tuple(terms)


def _tokens(text: str) -> tuple[list[str], list[str]]:
    """Words (latin terms, katakana words) and kanji n-grams (bigrams, lone kanji) of a text."""
    words: list[str] = []
    bigrams: list[str] = []
    if text.isascii():  # most guide text: skip the script dispatch
        for run in _LATIN_RUN.findall(text):
            words.extend(_latin_terms(run))
        return words, bigrams
    for match in _TOKEN_RUN.finditer(text):
        kind = match.lastgroup
        run = match.group()
        if kind == "latin":
            words.extend(_latin_terms(run))
        elif kind == "kata":
            word = run.rstrip("ー")
            if len(word) > 1:
                words.append(word)
        elif len(run) == 1:
            bigrams.append(run)
        else:
            bigrams.extend(run[i : i + 2] for i in range(len(run) - 1))
    return words, bigrams


def _phrase_terms(phrases: Iterable[str]) -> list[str]:
    terms: list[str] = []
    for phrase in phrases:
        terms.extend(_tokens(phrase)[0])
    return terms


def _analyse_normalised(text: str) -> tuple[list[str], list[str], list[str]]:
    """Words, kanji n-grams and lexicon translations of normalised text."""
    translations: list[str] = []
    if _JAPANESE_CHAR.search(text):
        phrases, text = translate_japanese(text)
        translations = _phrase_terms(phrases)
    words, grams = _tokens(text)
    return words, grams, translations


def analyse(text: str) -> list[str]:
    """All index terms of a document field, unweighted."""
    words, grams, translations = _analyse_normalised(normalise(text))
    return words + grams + translations


def query_terms(query: str) -> dict[str, float]:
    """Weighted terms of a question: typed words count most, n-grams and synonyms less."""
    text = normalise(query)
    words, grams, translations = _analyse_normalised(text)
    weights: dict[str, float] = {}
    for term in words:
        weights[term] = 1.0
    for term in translations:
        weights.setdefault(term, _TRANSLATION_WEIGHT)
    for term in grams:
        weights.setdefault(term, _GRAM_WEIGHT)
    for term in _phrase_terms(english_expansions(text)):
        weights.setdefault(term, _SYNONYM_WEIGHT)
    return weights


def _has_digit(term: str) -> bool:
    return any(c.isdigit() for c in term)


def _slug(text: str) -> str:
    return re.sub(r"[^a-z0-9\u3040-\u30ff\u3400-\u9fff]+", "-", normalise(text)).strip("-")


def _doc_fields(doc: GuideDoc) -> dict[str, str]:
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


def _sentences(doc: GuideDoc) -> list[str]:
    pieces = [doc.summary, *(text for _, text in doc.steps)]
    sentences: list[str] = []
    for piece in pieces:
        sentences.extend(s.strip() for s in _SENTENCE_SPLIT.split(piece) if s and s.strip())
    return sentences


@dataclass
class _DocEntry:
    doc: GuideDoc
    device_keys: tuple[str, ...]
    device_terms: frozenset[str]
    title_key: str
    sentences: list[tuple[str, frozenset[str]]] | None = None


@dataclass
class GuideIndex:
    """A ranked index of guides, rebuilt whenever the guides change."""

    _entries: list[_DocEntry] = field(default_factory=list)
    _postings: dict[str, list[tuple[int, float]]] = field(default_factory=dict)
    _idf: dict[str, float] = field(default_factory=dict)
    _device_postings: dict[str, tuple[int, ...]] = field(default_factory=dict)
    _languages: tuple[str, ...] = ()

    @classmethod
    def build(cls, docs: Iterable[GuideDoc]) -> GuideIndex:
        entries: list[_DocEntry] = []
        field_counts: list[dict[str, Counter[str]]] = []
        totals: dict[str, int] = defaultdict(int)
        for doc in docs:
            fields = _doc_fields(doc)
            counts = {name: Counter(analyse(text)) for name, text in fields.items()}
            for name, counter in counts.items():
                totals[name] += sum(counter.values())
            field_counts.append(counts)
            keys = (doc.device_name, _slug(doc.device_name), *doc.device_aliases)
            entries.append(
                _DocEntry(
                    doc=doc,
                    device_keys=tuple(normalise(k) for k in keys if k),
                    device_terms=frozenset(counts["device"]),
                    title_key=normalise(doc.title),
                )
            )
        n_docs = len(entries)
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
        device_postings: dict[str, list[int]] = defaultdict(list)
        for index, entry in enumerate(entries):
            for term in entry.device_terms:
                device_postings[term].append(index)
        return cls(
            _entries=entries,
            _postings=dict(postings),
            _idf=idf,
            _device_postings={term: tuple(docs) for term, docs in device_postings.items()},
            _languages=tuple(entry.doc.language for entry in entries),
        )

    def __len__(self) -> int:
        return len(self._entries)

    def search(
        self,
        query: str,
        *,
        limit: int = 10,
        language: str | None = None,
        device: str | None = None,
        difficulty: str | None = None,
        snippets: bool = True,
    ) -> list[SearchHit]:
        """Guides ranked by relevance to the query; an empty query lists guides by title.

        With `snippets=False` each hit's snippet is the guide's summary: callers that never show
        snippets (the answer engines) skip choosing the best-matching sentence.
        """
        if limit <= 0:
            return []
        allowed = self._filter(language=language, device=device, difficulty=difficulty)
        if not query.strip():
            candidates = range(len(self._entries)) if allowed is None else allowed
            ordered = sorted(candidates, key=lambda i: (self._entries[i].title_key, i))
            return [
                SearchHit(self._entries[i].doc, 0.0, self._entries[i].doc.summary)
                for i in ordered[:limit]
            ]
        terms = query_terms(query)
        if not terms:
            # Only stop words ("how do I do it?"): nothing to rank, and a listing by title
            # would look like an answer to the question.
            return []
        scores: dict[int, float] = defaultdict(float)
        covered: dict[int, float] = defaultdict(float)
        unseen_idf = math.log(1.0 + (len(self._entries) + 0.5) / 0.5)
        coverage_total = 0.0
        for term, weight in terms.items():
            plist = self._postings.get(term)
            own_word = weight >= _TRANSLATION_WEIGHT
            if own_word:
                coverage_total += weight * self._idf.get(term, unseen_idf)
            if not plist:
                continue
            term_weight = weight * self._idf[term]
            for doc_index, saturated in plist:
                scores[doc_index] += term_weight * saturated
                if own_word:
                    covered[doc_index] += term_weight
        query_language = detect_language(query)
        device_matched: dict[int, float] = defaultdict(float)
        device_total = 0.0
        for term, weight in terms.items():
            holders = self._device_postings.get(term)
            if holders:
                boost = _MODEL_NUMBER_WEIGHT if _has_digit(term) else 1.0
                device_weight = weight * self._idf[term] * boost
                device_total += device_weight
                for doc_index in holders:
                    device_matched[doc_index] += device_weight
        ranked: list[tuple[float, int]] = []
        for doc_index, score in scores.items():
            if allowed is not None and doc_index not in allowed:
                continue
            if self._languages[doc_index] == query_language:
                score *= _SAME_LANGUAGE_BOOST
            if device_total:
                score *= 1.0 + _DEVICE_BOOST * device_matched.get(doc_index, 0.0) / device_total
            ranked.append((score, doc_index))
        # Ties go to the guide indexed first, so equal scores rank the same way every time.
        best = heapq.nsmallest(limit, ranked, key=lambda item: (-item[0], item[1]))
        return [
            SearchHit(
                guide=self._entries[i].doc,
                score=round(score, 4),
                snippet=(
                    self._snippet(self._entries[i], terms)
                    if snippets
                    else self._entries[i].doc.summary
                ),
                coverage=round(covered[i] / coverage_total, 3) if coverage_total else 0.0,
            )
            for score, i in best
        ]

    def _filter(
        self, *, language: str | None, device: str | None, difficulty: str | None
    ) -> set[int] | None:
        """Indexes of guides that pass the filters, or None when there is no filter."""
        if not (language or device or difficulty):
            return None
        wanted_device = normalise(device).strip() if device else ""
        wanted_slug = _slug(device) if device else ""
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

    def _snippet(self, entry: _DocEntry, terms: dict[str, float]) -> str:
        """The summary or step sentence that shares the most query weight with the question."""
        if entry.sentences is None:
            entry.sentences = [
                (sentence, frozenset(analyse(sentence))) for sentence in _sentences(entry.doc)
            ]
        best, best_score = entry.doc.summary, 0.0
        for sentence, sentence_terms in entry.sentences:
            score = sum(
                weight * self._idf.get(term, 0.0)
                for term, weight in terms.items()
                if term in sentence_terms
            )
            if score > best_score:
                best, best_score = sentence, score
        return best if len(best) <= 240 else best[:237].rstrip() + "..."

    def all_docs(self) -> Sequence[GuideDoc]:
        """Every indexed guide in build order."""
        return [entry.doc for entry in self._entries]


def docs_from_guide_file(data: Mapping[str, Any], *, first_id: int = 1) -> list[GuideDoc]:
    """GuideDocs of a guide file in the project's JSON format (repairgpt-guides/v1).

    Ids are assigned in file order from first_id, as a database would on a fresh import.
    """
    devices = {device["slug"]: device for device in data.get("devices", [])}
    docs: list[GuideDoc] = []
    for offset, guide in enumerate(data.get("guides", [])):
        device = devices.get(guide["device"], {"name": guide["device"]})
        docs.append(
            GuideDoc(
                id=first_id + offset,
                source_id=guide.get("source_id"),
                title=guide["title"],
                summary=guide.get("summary") or "",
                language=guide.get("language") or "en",
                device_name=device.get("name") or guide["device"],
                device_category=device.get("category"),
                device_brand=device.get("brand"),
                device_aliases=tuple(device.get("aliases") or ()),
                difficulty=guide.get("difficulty"),
                time_minutes=guide.get("time_minutes"),
                tools=tuple(guide.get("tools") or ()),
                parts=tuple(guide.get("parts") or ()),
                safety_warnings=tuple(guide.get("safety_warnings") or ()),
                keywords=tuple(guide.get("keywords") or ()),
                steps=tuple((s.get("title") or "", s.get("text") or "") for s in guide["steps"]),
                source_url=guide.get("source_url"),
            )
        )
    return docs
