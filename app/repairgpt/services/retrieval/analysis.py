"""How English and Japanese text becomes the weighted terms the guide index matches on.

Japanese text is tokenised without external services: the bilingual lexicon turns known words
into English terms, remaining kanji runs become character bigrams and katakana runs words, so a
Japanese question also finds guides that exist only in English.
"""

from __future__ import annotations

import re
import unicodedata
from collections.abc import Iterable
from functools import lru_cache

from repairgpt.services.lexicon import english_expansions, translate_japanese

_JAPANESE_CHAR = re.compile(r"[\u3040-\u30ff\u3400-\u4dbf\u4e00-\u9fff\uf900-\ufaff々〆ヵヶ]")
_LATIN = r"[a-z0-9]+(?:[+#][a-z0-9]*)?"
_LATIN_RUN = re.compile(_LATIN)
_TOKEN_RUN = re.compile(
    rf"(?P<latin>{_LATIN})"
    r"|(?P<kanji>[\u3400-\u4dbf\u4e00-\u9fff\uf900-\ufaff々〆ヵヶ]+)"
    r"|(?P<kata>[\u30a0-\u30ff]+)"
)
_LETTER_DIGIT_SPLIT = re.compile(r"[a-z]+|[0-9]+")

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

# Kanji n-grams are noisier than words, and synonyms are guesses about what the user meant, so
# both count less than the words typed; lexicon translations of Japanese words count almost as
# much as typed words because they replace them.
GRAM_WEIGHT = 0.6
TRANSLATION_WEIGHT = 0.9
SYNONYM_WEIGHT = 0.8


def normalise(text: str) -> str:
    """NFKC (full-width to half-width), lowercase, no apostrophes (won't -> wont)."""
    return unicodedata.normalize("NFKC", text).lower().replace("\u2019", "").replace("'", "")


def detect_language(text: str) -> str:
    """ "ja" if the text has Japanese script, else "en"."""
    return "ja" if _JAPANESE_CHAR.search(text) else "en"


def slug(text: str) -> str:
    """Lowercase words and Japanese script joined by hyphens (`iPhone 13` -> `iphone-13`)."""
    return re.sub(r"[^a-z0-9\u3040-\u30ff\u3400-\u9fff]+", "-", normalise(text)).strip("-")


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
    return dict(_query_terms(query))


# One search analyses its question up to three times (hybrid check, ranking, snippets), and
# popular questions come back: the analysis of the recent ones is kept.
@lru_cache(maxsize=4096)
def _query_terms(query: str) -> tuple[tuple[str, float], ...]:
    text = normalise(query)
    words, grams, translations = _analyse_normalised(text)
    weights: dict[str, float] = {}
    for term in words:
        weights[term] = 1.0
    for term in translations:
        weights.setdefault(term, TRANSLATION_WEIGHT)
    for term in grams:
        weights.setdefault(term, GRAM_WEIGHT)
    for term in _phrase_terms(english_expansions(text)):
        weights.setdefault(term, SYNONYM_WEIGHT)
    return tuple(weights.items())
