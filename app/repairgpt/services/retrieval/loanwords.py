"""Katakana loanwords matched to the English words of the guides by their sound.

Japanese writes most brand and part names of foreign origin in katakana (グラインダー for
grinder, ルンバ for Roomba). The lexicon knows the common ones; for the rest, both sides are
reduced to a consonant skeleton in which the usual differences between the spelling and its
katakana rendering vanish:

- vowels, y and w go (katakana adds vowels after every consonant);
- l and r are one sound, as are b and v, s, z, sh and th, and k, c (hard), q and ck;
- doubled consonants are one (ッ doubles, English spelling doubles);
- an English r after a vowel is often silent in katakana (blender ブレンダー, but Bernina
  ベルニナ keeps it), so an English word gets one skeleton with every r, one without its final r
  and one without any r that follows a vowel.

Skeletons of fewer than three consonants say too little (カバー could be cover or caver) and are
not matched. Of the English words that share a skeleton (remove and Roomba), the ones spelt most
like the katakana's romanisation are kept.
"""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from difflib import SequenceMatcher

MIN_CONSONANTS = 3
# Of the words sharing a skeleton, at most this many, each spelt at least this much like the
# romanisation (difflib's ratio: 2 x matching letters / letters of both) and nearly as much as
# the likeliest (print and printer for プリンター; nothing for スピーカー against spark or spoke).
MAX_CANDIDATES = 3
MIN_LIKENESS = 0.65
NEAR_BEST = 0.1

_KANA_CONSONANT: dict[str, str] = {}
for _row, _consonant in (
    ("アイウエオァィゥェォヤユヨャュョワヲヮーッ", ""),
    ("カキクケコヵヶ", "k"),
    ("ガギグゲゴ", "g"),
    ("サシスセソザズゼゾヅ", "s"),
    ("ジヂ", "j"),
    ("タテトツ", "t"),
    ("チ", "C"),
    ("ダデド", "d"),
    ("ナニヌネノ", "n"),
    ("ハヒヘホ", "h"),
    ("フ", "f"),
    ("バビブベボヴ", "b"),
    ("パピプペポ", "p"),
    ("マミムメモ", "m"),
    ("ラリルレロ", "r"),
    ("ン", "N"),
):
    for _kana in _row:
        _KANA_CONSONANT[_kana] = _consonant

# Hepburn romanisation, row by row.
_ROWS = {
    "アイウエオ": "a i u e o", "カキクケコ": "ka ki ku ke ko",
    "ガギグゲゴ": "ga gi gu ge go", "サシスセソ": "sa shi su se so",
    "ザジズゼゾ": "za ji zu ze zo", "タチツテト": "ta chi tsu te to",
    "ダヂヅデド": "da ji zu de do", "ナニヌネノ": "na ni nu ne no",
    "ハヒフヘホ": "ha hi fu he ho", "バビブベボ": "ba bi bu be bo",
    "パピプペポ": "pa pi pu pe po", "マミムメモ": "ma mi mu me mo",
    "ラリルレロ": "ra ri ru re ro", "ヤユヨワヲン": "ya yu yo wa o n",
    "ァィゥェォ": "a i u e o", "ャュョ": "ya yu yo",
}  # fmt: skip
_ROMAJI = {
    kana: romaji
    for row, sounds in _ROWS.items()
    for kana, romaji in zip(row, sounds.split(), strict=True)
} | {"ヴ": "vu", "ヵ": "ka", "ヶ": "ke"}

_VOWELS = frozenset("aeiouyw")
# Spellings of one consonant sound, longest first.
_DIGRAPHS = (("tch", "C"), ("ch", "C"), ("sh", "s"), ("th", "s"), ("ph", "f"), ("ck", "k"),
             ("qu", "k"), ("gh", ""), ("wh", ""))  # fmt: skip
_LETTERS = {"c": "k", "q": "k", "x": "ks", "z": "s", "v": "b", "l": "r"}


def _collapsed(symbols: Iterable[str]) -> str:
    out: list[str] = []
    for symbol in symbols:
        if symbol and (not out or out[-1] != symbol):
            out.append(symbol)
    return "".join(out)


def katakana_key(word: str) -> str | None:
    """The consonant skeleton of a katakana word, or None if it holds anything else."""
    symbols: list[str] = []
    for kana in word:
        consonant = _KANA_CONSONANT.get(kana)
        if consonant is None:
            return None
        symbols.append(consonant)
    # ン is m before b, p and m (ルンバ, Roomba), n elsewhere.
    for index, symbol in enumerate(symbols):
        if symbol == "N":
            following = next((s for s in symbols[index + 1 :] if s), "")
            symbols[index] = "m" if following in ("b", "p", "m") else "n"
    return _collapsed(symbols)


def romanised(word: str) -> str:
    """A katakana word in Latin letters: small kana join the one before (シュ shu, ティ ti),
    ー lengthens nothing, ッ doubles the next consonant."""
    out = ""
    double = False
    for kana in word:
        if kana == "ッ":
            double = True
            continue
        sound = _ROMAJI.get(kana, "")
        if kana in "ャュョ" and out.endswith("i"):
            out = out[:-1] + ("" if out.endswith(("shi", "chi", "ji")) else "y") + sound[1:]
        elif kana in "ァィゥェォ" and out and out[-1] in "aiueo":
            out = out[:-1] + sound
        elif sound:
            out += sound[0] + sound if double and sound[0] not in "aiueo" else sound
        double = False
    return out


def _english_symbols(word: str) -> list[tuple[str, str]]:
    """(symbol, letter it came from) of each sound of an English word; a vowel's symbol is ""."""
    symbols: list[tuple[str, str]] = []
    index = 0
    while index < len(word):
        for spelling, symbol in _DIGRAPHS:
            if word.startswith(spelling, index):
                symbols.append((symbol, spelling))
                index += len(spelling)
                break
        else:
            letter = word[index]
            following = word[index + 1 : index + 2]
            if letter in _VOWELS:
                symbol = ""
            elif letter == "c" and following in ("e", "i", "y"):
                symbol = "s"
            else:
                symbol = _LETTERS.get(letter, letter)
            symbols.append((symbol, letter))
            index += 1
    return symbols


def _variants(word: str) -> tuple[list[tuple[str, str]], ...]:
    """An English word's sounds with every r, without its final r, and without any r that
    follows a vowel (see the module's text)."""
    symbols = _english_symbols(word)

    def after_vowel(index: int) -> bool:
        return index > 0 and symbols[index - 1][1] in _VOWELS

    def before_vowel(index: int) -> bool:
        return index + 1 < len(symbols) and symbols[index + 1][1] in _VOWELS

    last = len(symbols) - 1
    silent = ("", "")
    no_final = [
        silent if (i == last and letter == "r" and after_vowel(i)) else (symbol, letter)
        for i, (symbol, letter) in enumerate(symbols)
    ]
    non_rhotic = [
        silent if (letter == "r" and after_vowel(i) and not before_vowel(i)) else (symbol, letter)
        for i, (symbol, letter) in enumerate(symbols)
    ]
    return symbols, no_final, non_rhotic


def english_keys(word: str) -> frozenset[str]:
    """The skeletons an English word may be heard as in katakana."""
    return frozenset(_collapsed(symbol for symbol, _ in variant) for variant in _variants(word))


def _spelt(symbols: Iterable[tuple[str, str]]) -> str:
    """Sounds with their vowels, in the skeleton's letters (l as r, v as b, ...)."""
    return "".join(symbol or (letter if letter in "aeiou" else "") for symbol, letter in symbols)


def _likeness(romaji: str, term: str) -> float:
    """How alike a romanisation and an English word are spelt, vowels included, once both are
    written in the skeleton's letters (0..1; the English word's likeliest reading counts)."""
    spelt = _spelt(_english_symbols(romaji))
    return max(
        SequenceMatcher(None, spelt, _spelt(variant), autojunk=False).ratio()
        for variant in _variants(term)
    )


@dataclass(frozen=True)
class LoanwordMatcher:
    """English index terms by skeleton."""

    by_key: Mapping[str, tuple[str, ...]] = field(default_factory=dict)

    @classmethod
    def build(cls, terms: Iterable[str]) -> LoanwordMatcher:
        """From the index's terms: only Latin words of letters are kept."""
        found: dict[str, list[str]] = defaultdict(list)
        for term in sorted(terms):
            if len(term) < 3 or not (term.isascii() and term.isalpha()):
                continue
            for key in english_keys(term):
                if len(key) >= MIN_CONSONANTS:
                    found[key].append(term)
        return cls({key: tuple(words) for key, words in found.items()})

    def candidates(self, word: str) -> tuple[str, ...]:
        """English terms that katakana `word` may stand for, the likeliest first (none for
        other words)."""
        key = katakana_key(word)
        if key is None or len(key) < MIN_CONSONANTS:
            return ()
        romaji = romanised(word)
        liked = sorted(
            ((_likeness(romaji, term), term) for term in self.by_key.get(key, ())),
            key=lambda pair: (-pair[0], pair[1]),
        )
        if not liked or liked[0][0] < MIN_LIKENESS:
            return ()
        floor = max(MIN_LIKENESS, liked[0][0] - NEAR_BEST)
        return tuple(term for likeness, term in liked[:MAX_CANDIDATES] if likeness >= floor)
