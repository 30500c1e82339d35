"""Katakana words that the lexicon lacks reach the English guides by their sound."""

from __future__ import annotations

import pytest

from repairgpt.services.retrieval import GuideDoc, GuideIndex
from repairgpt.services.retrieval.loanwords import (
    LoanwordMatcher,
    english_keys,
    katakana_key,
    romanised,
)


@pytest.mark.parametrize(
    ("katakana", "english"),
    [
        ("グラインダー", "grinder"),  # final r silent, l and r alike
        ("ブレンダー", "blender"),
        ("ドリッパー", "dripper"),  # ッ and pp both one consonant
        ("ディフューザー", "diffuser"),  # z as s, small kana after a consonant
        ("サーキュレーター", "circulator"),  # soft c, r after a vowel silent
        ("カラフェ", "carafe"),
        ("ルンバ", "roomba"),  # ン before b is m
        ("キッチンエイド", "kitchenaid"),  # tch and チ
        ("ベルニナ", "bernina"),  # an r after a vowel that katakana keeps
    ],
)
def test_a_loanword_and_its_english_word_share_a_skeleton(katakana: str, english: str) -> None:
    key = katakana_key(katakana)
    assert key is not None and len(key) >= 3
    assert key in english_keys(english)


def test_words_of_other_sounds_or_scripts_have_other_skeletons() -> None:
    assert katakana_key("ブレンダー") not in english_keys("grinder")
    assert katakana_key("グラインダー") not in english_keys("blender")
    assert katakana_key("研ぎ器") is None  # kanji: not a loanword
    assert katakana_key("blender") is None


def test_romanisation_joins_small_kana_and_doubles_after_sokuon() -> None:
    assert romanised("ディフューザー") == "difuyuza"
    assert romanised("シュレッダー") == "shuredda"
    assert romanised("ドリッパー") == "dorippa"


def test_of_words_sharing_a_skeleton_the_ones_spelt_alike_are_chosen() -> None:
    matcher = LoanwordMatcher.build(["filter", "felt", "flat", "float", "print", "printer"])
    assert matcher.candidates("フィルター") == ("filter",)
    assert set(matcher.candidates("プリンター")) == {"print", "printer"}


def test_nothing_is_guessed_from_a_short_or_unlike_skeleton() -> None:
    matcher = LoanwordMatcher.build(["cover", "spark", "spoke", "speak"])
    assert matcher.candidates("カバー") == ()  # two consonants: cover, caver, ...
    assert matcher.candidates("スピーカー") == ()  # spark and spoke are not spelt alike
    assert matcher.candidates("filter") == ()


def _guide(guide_id: int, title: str, summary: str, device: str) -> GuideDoc:
    return GuideDoc(
        id=guide_id, source_id=f"g{guide_id}", title=title, summary=summary, language="en",
        device_name=device, device_category="Kitchen", device_brand=None, device_aliases=(),
        difficulty=None, time_minutes=None, tools=(), parts=(), safety_warnings=(),
        keywords=(), steps=(("Open it", "Remove the four screws of the base."),),
    )  # fmt: skip


def test_a_japanese_question_reaches_an_english_guide_through_a_loanword() -> None:
    index = GuideIndex.build(
        [
            _guide(1, "Base Replacement", "Replace the cracked base.", "Coffee Maker"),
            _guide(2, "Blade Replacement", "The blender blade is dull.", "Kitchen Blender"),
            _guide(3, "Burr Cleaning", "Clean the grinder burrs.", "Coffee Grinder"),
        ]
    )
    for question, expected in (
        ("ブレンダーの刃を交換したい", "g2"),
        ("グラインダーが詰まる", "g3"),
    ):
        hits = index.search(question, limit=3)
        assert hits and hits[0].guide.source_id == expected, (question, hits)
    # The snippet is chosen with the same guesses: the sentence holding the English word.
    assert "grinder" in index.search("グラインダーが詰まる", limit=1)[0].snippet
