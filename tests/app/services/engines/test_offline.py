"""The offline engine writes a useful, safe, cited answer in the language of the question."""

from __future__ import annotations

import re

from repairgpt.core.config import Settings
from repairgpt.services.engines import Answer, select_answer_engine
from repairgpt.services.engines.offline import OfflineEngine
from repairgpt.services.retrieval import GuideIndex, detect_language


def ask(index: GuideIndex, question: str) -> Answer:
    hits = index.search(question, limit=3)
    return OfflineEngine().answer(question, hits, language=detect_language(question))


def numbered_steps(text: str) -> list[int]:
    return [int(n) for n in re.findall(r"^(\d+)\. ", text, flags=re.MULTILINE)]


def test_an_english_answer_names_the_guide_its_facts_and_numbered_steps(
    seed_index: GuideIndex,
) -> None:
    answer = ask(seed_index, "water stays in the drum of my washer after the cycle")
    assert answer.engine == "offline"
    assert answer.language == "en"
    assert "Washing Machine Won't Drain" in answer.text
    assert "Difficulty: easy" in answer.text
    assert "about 30 min" in answer.text
    assert "Shallow tray or baking dish" in answer.text  # tools
    steps = numbered_steps(answer.text)
    assert steps == list(range(1, len(steps) + 1)) and len(steps) >= 4


def test_safety_warnings_come_before_the_steps(seed_index: GuideIndex) -> None:
    answer = ask(seed_index, "microwave turns on and plate spins but food stays cold")
    text = answer.text
    assert "capacitor" in text
    assert text.index("Safety first") < text.index("Key steps")


def test_a_swollen_battery_question_always_gets_the_fire_warning(
    seed_index: GuideIndex,
) -> None:
    def safety_lines(question: str) -> list[str]:
        text = ask(seed_index, question).text
        section = text.split("**Safety first**\n", 1)[1].split("\n\n", 1)[0]
        return section.splitlines()

    generic = (
        "- A swollen lithium battery can catch fire: do not press, puncture or charge it; "
        "keep it away from anything flammable."
    )
    # The guide warns about swelling itself: its warning, not a second one.
    own = safety_lines("the back of my galaxy s21 is bulging, battery swollen")
    assert (
        "- If the battery is swollen, do not press on it or pry it with metal; "
        "a punctured lithium battery can burn."
    ) in own
    assert generic not in own
    # The guide found says nothing about swelling: the generic warning is added.
    assert generic in safety_lines("my nintendo switch joy-con battery is swollen")


def test_a_japanese_question_gets_a_japanese_answer_with_japanese_labels(
    seed_index: GuideIndex,
) -> None:
    answer = ask(seed_index, "洗濯機の水が抜けない")
    assert answer.language == "ja"
    for label in ("難易度", "所要時間", "安全上の注意", "必要な工具", "主な手順"):
        assert label in answer.text
    assert "Difficulty" not in answer.text
    assert numbered_steps(answer.text)[:3] == [1, 2, 3]


def test_a_japanese_question_answered_from_an_english_guide_says_so(
    seed_index: GuideIndex,
) -> None:
    answer = ask(seed_index, "Xboxのコントローラーがドリフトする")
    assert answer.citations[0].source_id == "rg-xbox-controller-drift-en"
    assert "英語" in answer.text
    assert "主な手順" in answer.text


def test_the_answer_cites_the_guides_it_shows_best_first(seed_index: GuideIndex) -> None:
    question = "my left joycon keeps drifting"
    hits = seed_index.search(question, limit=3)
    answer = OfflineEngine().answer(question, hits, language="en")
    assert [c.source_id for c in answer.citations][:2] == [
        "rg-switch-joycon-drift-en",
        "rg-switch-joycon-drift-ja",  # the same repair in Japanese is a related guide
    ]
    for number, citation in enumerate(answer.citations, 1):
        assert f"[{number}]" in answer.text
        assert citation.title in answer.text


def test_an_unrelated_runner_up_is_neither_listed_nor_cited(seed_index: GuideIndex) -> None:
    question = "microwave turns on and plate spins but food stays cold"
    hits = seed_index.search(question, limit=3)
    unrelated = [h for h in hits if "Microwave" not in h.guide.device_name]
    assert unrelated, "the third hit should be a guide for another device"
    answer = OfflineEngine().answer(question, hits, language="en")
    cited = {c.source_id for c in answer.citations}
    assert all(h.guide.source_id not in cited for h in unrelated)
    assert all(h.guide.title not in answer.text for h in unrelated)


def test_warnings_are_not_repeated_when_the_guide_already_gives_them(
    seed_index: GuideIndex,
) -> None:
    answer = ask(seed_index, "microwave turns on and plate spins but food stays cold")
    assert answer.text.count("capacitor can hold a lethal charge") == 1


def test_a_japanese_answer_names_the_device_in_japanese(seed_index: GuideIndex) -> None:
    answer = ask(seed_index, "冷蔵庫が冷えない")
    assert "（冷蔵庫）" in answer.text
    assert "コイル用ブラシ、掃除機" in answer.text


def test_no_matching_guide_gives_a_helpful_request_for_details() -> None:
    english = OfflineEngine().answer("my thing is broken", [], language="en")
    assert english.citations == ()
    assert "could not find" in english.text
    assert "model" in english.text and "symptom" in english.text
    japanese = OfflineEngine().answer("壊れた", [], language="ja")
    assert "見つかりませんでした" in japanese.text
    assert "型番" in japanese.text


def test_the_same_question_always_gets_the_same_answer(seed_index: GuideIndex) -> None:
    first = ask(seed_index, "fridge is warm but the freezer is still cold")
    second = ask(seed_index, "fridge is warm but the freezer is still cold")
    assert first == second


def test_streaming_yields_the_same_text_in_pieces_then_the_answer(
    seed_index: GuideIndex,
) -> None:
    question = "my left joycon keeps drifting"
    hits = seed_index.search(question, limit=3)
    pieces = list(OfflineEngine().stream(question, hits, language="en"))
    *deltas, final = pieces
    assert len(deltas) > 1 and all(isinstance(d, str) for d in deltas)
    assert isinstance(final, Answer)
    assert "".join(d for d in deltas if isinstance(d, str)) == final.text
    assert final == OfflineEngine().answer(question, hits, language="en")


def test_without_an_api_key_or_base_url_the_offline_engine_is_used() -> None:
    engine = select_answer_engine(
        Settings(openai_api_key=None, openai_base_url=None, llm_model="gpt-4o-mini")
    )
    assert engine.name == "offline"
    configured = select_answer_engine(
        Settings(openai_api_key=None, openai_base_url="http://127.0.0.1:9/v1", llm_model="m")
    )
    assert configured.name == "llm"


def test_a_guide_that_only_touches_the_question_is_presented_as_the_closest_only(
    seed_index: GuideIndex,
) -> None:
    weak = ask(seed_index, "printer paper jam")
    assert weak.text.startswith("I found no guide for exactly this problem")
    assert "brand and model" in weak.text
    strong = ask(seed_index, "iphone 13 cracked screen")
    assert strong.text.startswith("The best matching guide is **iPhone 13 Screen Replacement**")
