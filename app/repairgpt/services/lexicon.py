"""Bilingual repair vocabulary: Japanese words to English search terms, and English synonyms.

Most repair guides are written in English while many users ask in Japanese, so the index maps
Japanese part, symptom, device and katakana brand words onto the English terms the guides use.
Entries are general repair vocabulary, never tuned to a single question.
"""

from __future__ import annotations

import re
from collections.abc import Iterator

from repairgpt.services.lexicon_data import EN_SYNONYMS, JA_TO_EN

_COMPILED_SYNONYMS: tuple[tuple[re.Pattern[str], str], ...] = tuple(
    (re.compile(pattern), terms) for pattern, terms in EN_SYNONYMS
)
# Longest keys first, so a phrase wins over its own stem when reporting matches.
_JA_KEYS: tuple[str, ...] = tuple(sorted(JA_TO_EN, key=len, reverse=True))


def _is_katakana(char: str) -> bool:
    return "\u30a0" <= char <= "\u30ff"


def _word_start(key: str, text: str, start: int) -> bool:
    """Very short katakana keys must start a katakana word: デル (Dell) is not in モデル."""
    if len(key) > 2 or not all(_is_katakana(c) for c in key):
        return True
    return start == 0 or not _is_katakana(text[start - 1])


# i-row kana before polite ません -> the a-row kana of the plain negative of a godan verb
# (入りません -> 入らない, 動きません -> 動かない).
_GODAN_NEGATIVE = dict(zip("いきしちにひみりぎび", "わかさたなはまらがば", strict=True))
_E_ROW = frozenset("えけせてねへめれげぜでべぺ")
_POLITE_NEGATIVE = re.compile(r"([\u3040-\u309f])ません")


def _godan_negative(match: re.Match[str]) -> str:
    kana = match.group(1)
    if kana in _E_ROW:
        return kana + "ない"  # ichidan: 冷えません -> 冷えない
    return _GODAN_NEGATIVE.get(kana, kana) + "ない"


def _ichidan_negative(match: re.Match[str]) -> str:
    return match.group(1) + "ない"  # 起きません -> 起きない, できません -> できない


def plain_japanese(text: str) -> str:
    """Polite and continuative negatives in their plain form, which the lexicon lists.

    充電できません and 充電できなくなった both come out containing 充電できない. An i-row kana
    before ません may belong to a godan or an ichidan verb (動きません, 起きません), so both
    readings are kept when they differ; only the lexicon decides which one is a word.
    """
    text = text.replace("なく", "ない")
    if "ません" not in text:
        return text
    godan = _POLITE_NEGATIVE.sub(_godan_negative, text)
    ichidan = _POLITE_NEGATIVE.sub(_ichidan_negative, text)
    return godan if godan == ichidan else f"{godan}\n{ichidan}"


def translate_japanese(text: str) -> tuple[list[str], str]:
    """English terms for the lexicon words in normalised text, and the text without them.

    Longer entries win over their own stems (充電できない before 充電), and each matched span
    is blanked out so that it is not counted again as Japanese n-grams.
    """
    text = plain_japanese(text)
    found: list[str] = []
    chars = list(text)
    for key in _JA_KEYS:
        start = text.find(key)
        while start != -1:
            end = start + len(key)
            if _word_start(key, text, start) and all(c != "\0" for c in chars[start:end]):
                found.append(JA_TO_EN[key])
                chars[start:end] = ["\0"] * len(key)
            start = text.find(key, start + 1)
    rest = "".join(" " if c == "\0" else c for c in chars)
    return found, rest


def english_expansions(text: str) -> Iterator[str]:
    """Synonym terms for English phrases that occur in already-normalised lowercase text."""
    for pattern, terms in _COMPILED_SYNONYMS:
        if pattern.search(text):
            yield terms
