"""The offline engine: a deterministic answer composed from the best guides, without a model."""

from __future__ import annotations

import re
from collections.abc import Sequence

from repairgpt.services.engines.base import (
    Answer,
    History,
    Hits,
    Pieces,
    citations_for,
    clip,
    line_chunks,
)
from repairgpt.services.engines.safety import safety_warnings
from repairgpt.services.retrieval import GuideDoc, SearchHit

_LABELS: dict[str, dict[str, str]] = {
    "en": {
        "intro": "The best matching guide is **{title}** ({device}) [1].",
        "weak_intro": "I found no guide for exactly this problem. The closest guide is "
        "**{title}** ({device}) [1]; check that it fits your device before you follow it.",
        "guide_language": "",
        "difficulty": "Difficulty",
        "time": "Time",
        "minutes": "about {n} min",
        "safety": "Safety first",
        "tools": "Tools",
        "parts": "Parts",
        "steps": "Key steps",
        "more_steps": "...and {n} more steps in the full guide [1].",
        "related": "Related guides",
        "closing": "If a step does not match what you see, stop and tell me what is different.",
        "weak_closing": "For a better match, tell me the brand and model, the part or symptom, "
        "and any error code.",
        "none": "-",
    },
    "ja": {
        "intro": "最も近い修理ガイドは「{title}」（{device}）です [1]。",
        "weak_intro": "ご質問にぴったり合うガイドは見つかりませんでした。近いガイドは「{title}」"
        "（{device}）です [1]。お使いの機種に合うか確認してから作業してください。",
        "guide_language": "※このガイドは英語で書かれています。手順は原文のまま示します。",
        "difficulty": "難易度",
        "time": "所要時間",
        "minutes": "約{n}分",
        "safety": "安全上の注意（最初に確認してください）",
        "tools": "必要な工具",
        "parts": "必要な部品",
        "steps": "主な手順",
        "more_steps": "…ほか{n}手順はガイド本文を参照してください [1]。",
        "related": "関連するガイド",
        "closing": "手順と実物が違う場合は作業を止めて、違いを教えてください。",
        "weak_closing": "より合うガイドを探すために、メーカーと型番、部品や症状、エラーコードを"
        "教えてください。",
        "none": "なし",
    },
}

_DIFFICULTY: dict[str, dict[str, str]] = {
    "en": {
        "very_easy": "very easy",
        "easy": "easy",
        "moderate": "moderate",
        "difficult": "difficult",
        "very_difficult": "very difficult",
    },
    "ja": {
        "very_easy": "とても簡単",
        "easy": "簡単",
        "moderate": "普通",
        "difficult": "難しい",
        "very_difficult": "とても難しい",
    },
}

_NO_MATCH: dict[str, str] = {
    "en": (
        "I could not find a repair guide that matches your question.\n\n"
        "To find the right guide, please include:\n"
        '1. The device: brand and model (for example "iPhone 13", "ThinkPad T480" or '
        '"Bosch dishwasher").\n'
        "2. The part or the symptom: what happens, when it started, any error code or "
        "blinking light.\n"
        "3. What you have already tried.\n\n"
        "Safety first: unplug mains-powered appliances before you open them, and never "
        "puncture or charge a swollen battery."
    ),
    "ja": (
        "ご質問に合う修理ガイドが見つかりませんでした。\n\n"
        "適切なガイドを探すために、次の情報を教えてください。\n"
        "1. 機種：メーカーと型番（例：「iPhone 13」「ThinkPad T480」「パナソニックの洗濯機」）\n"
        "2. 部品または症状：何が起きるか、いつからか、エラーコードやランプの点滅\n"
        "3. すでに試したこと\n\n"
        "安全のため、家電は分解する前に必ずコンセントを抜いてください。"
        "膨らんだバッテリーには穴を開けたり充電したりしないでください。"
    ),
}
_MAX_STEPS = 8
# Below this share of the question's words found in the best guide, the answer says the match
# is only the closest one.
_WEAK_MATCH = 0.45
_MAX_STEP_CHARS = 220
# A related guide is listed only when it scores at least this share of the best guide's score.
_RELATED_SHARE = 0.5
_JAPANESE = re.compile(r"[\u3040-\u30ff\u4e00-\u9fff]")
_LIST_SEPARATOR = {"en": ", ", "ja": "、"}


def _step_line(number: int, title: str, text: str) -> str:
    title, text = title.strip(), clip(text, _MAX_STEP_CHARS)
    if title and text and not text.lower().startswith(title.lower()):
        return f"{number}. **{title}**: {text}"
    return f"{number}. {text or title}"


def _device_label(guide: GuideDoc, language: str) -> str:
    """The device name in the answer's language when the device has a Japanese alias."""
    if language == "ja" and not _JAPANESE.search(guide.device_name):
        alias = next((a for a in guide.device_aliases if _JAPANESE.search(a)), None)
        if alias:
            return alias
    return guide.device_name


def answer_hits(hits: Sequence[SearchHit]) -> list[SearchHit]:
    """The best hit and those related hits that match the question about as well."""
    if not hits:
        return []
    best = hits[0]
    return [best] + [
        hit
        for hit in hits[1:]
        if hit.coverage >= _WEAK_MATCH and hit.score >= _RELATED_SHARE * best.score
    ]


def compose_offline_answer(question: str, hits: Sequence[SearchHit], language: str) -> str:
    """The full text of the offline answer; pure, so the same input gives the same text."""
    lang = language if language in _LABELS else "en"
    if not hits:
        return _NO_MATCH[lang]
    labels = _LABELS[lang]
    guide = hits[0].guide
    weak = hits[0].coverage < _WEAK_MATCH
    intro = labels["weak_intro" if weak else "intro"]
    lines = [intro.format(title=guide.title, device=_device_label(guide, lang))]
    if lang == "ja" and guide.language != "ja":
        lines.append(labels["guide_language"])
    if guide.summary:
        lines.append(guide.summary.strip())
    facts = []
    if guide.difficulty:
        difficulty = _DIFFICULTY[lang].get(guide.difficulty, guide.difficulty)
        facts.append(f"{labels['difficulty']}: {difficulty}")
    if guide.time_minutes:
        facts.append(f"{labels['time']}: {labels['minutes'].format(n=guide.time_minutes)}")
    if facts:
        lines.append(" / ".join(facts))

    safety = safety_warnings(guide, question, lang)
    if safety:
        lines.append("")
        lines.append(f"**{labels['safety']}**")
        lines.extend(f"- {warning}" for warning in safety)

    lines.append("")
    separator = _LIST_SEPARATOR[lang]
    lines.append(f"**{labels['tools']}**: " + (separator.join(guide.tools) or labels["none"]))
    lines.append(f"**{labels['parts']}**: " + (separator.join(guide.parts) or labels["none"]))

    if guide.steps:
        lines.append("")
        lines.append(f"**{labels['steps']}**")
        shown = guide.steps[:_MAX_STEPS]
        lines.extend(_step_line(i, title, text) for i, (title, text) in enumerate(shown, 1))
        if len(guide.steps) > _MAX_STEPS:
            lines.append(labels["more_steps"].format(n=len(guide.steps) - _MAX_STEPS))

    if len(hits) > 1:
        lines.append("")
        lines.append(f"**{labels['related']}**")
        lines.extend(
            f"- [{n}] {hit.guide.title} ({_device_label(hit.guide, lang)})"
            for n, hit in enumerate(hits[1:], 2)
        )
    lines.append("")
    lines.append(labels["weak_closing" if weak else "closing"])
    return "\n".join(lines)


class OfflineEngine:
    """Composes an answer from the best guides without any model: deterministic and fast."""

    name = "offline"
    uses_history = False

    def answer(self, question: str, hits: Hits, *, language: str, history: History = ()) -> Answer:
        used = answer_hits(hits)
        return Answer(
            text=compose_offline_answer(question, used, language),
            citations=citations_for(used),
            language=language,
            engine=self.name,
        )

    def stream(self, question: str, hits: Hits, *, language: str, history: History = ()) -> Pieces:
        final = self.answer(question, hits, language=language, history=history)
        yield from line_chunks(final.text)
        yield final
