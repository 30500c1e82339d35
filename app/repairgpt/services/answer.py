"""Answer engines: a deterministic offline composer and an OpenAI-compatible LLM with fallback.

Both take the guides that retrieval found and answer in the language of the question, safety
first, citing the guides they used. The LLM engine falls back to the offline engine whenever the
model endpoint fails, so a chat never ends in an error because a model server is down.
"""

from __future__ import annotations

import logging
import re
from collections.abc import Iterator, Sequence
from dataclasses import dataclass, replace
from typing import TYPE_CHECKING, Any, Protocol

from repairgpt.services.retrieval import GuideDoc, SearchHit

if TYPE_CHECKING:
    from openai import OpenAI

logger = logging.getLogger(__name__)


@dataclass(frozen=True)
class Citation:
    """A guide that an answer relies on."""

    guide_id: int
    source_id: str | None
    title: str
    url: str | None


@dataclass(frozen=True)
class Answer:
    """An answer to one question, with the guides it cites and the engine that wrote it."""

    text: str
    citations: tuple[Citation, ...]
    language: str
    engine: str


class AnswerEngine(Protocol):
    """Turns a question and the guides found for it into an answer."""

    name: str
    # False when answers ignore the conversation so far: then the caller need not read it.
    uses_history: bool

    def answer(
        self,
        question: str,
        hits: Sequence[SearchHit],
        *,
        language: str,
        history: Sequence[tuple[str, str]] = (),
    ) -> Answer: ...

    def stream(
        self,
        question: str,
        hits: Sequence[SearchHit],
        *,
        language: str,
        history: Sequence[tuple[str, str]] = (),
    ) -> Iterator[str | Answer]: ...


def citations_for(hits: Sequence[SearchHit]) -> tuple[Citation, ...]:
    """One citation per hit, in ranking order."""
    return tuple(
        Citation(
            guide_id=hit.guide.id,
            source_id=hit.guide.source_id,
            title=hit.guide.title,
            url=hit.guide.source_url,
        )
        for hit in hits
    )


# ---------------------------------------------------------------------------------------------
# Offline engine
# ---------------------------------------------------------------------------------------------

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

# Hazards that apply whatever the guide says: (when the question or guide is about it, when
# the guide's own warnings already cover it, the warning).
_GENERIC_HAZARDS: tuple[tuple[re.Pattern[str], re.Pattern[str], dict[str, str]], ...] = (
    (
        re.compile(r"swell|swollen|bulg|膨", re.IGNORECASE),
        re.compile(r"swell|swollen|膨"),
        {
            "en": "A swollen lithium battery can catch fire: do not press, puncture or charge it; "
            "keep it away from anything flammable.",
            "ja": "膨らんだリチウム電池は発火のおそれがあります。押したり穴を開けたり充電したり"
            "せず、燃えやすい物から離してください。",
        },
    ),
    (
        re.compile(r"microwave|電子レンジ", re.IGNORECASE),
        re.compile(r"capacitor|コンデンサ", re.IGNORECASE),
        {
            "en": "A microwave's high-voltage capacitor can hold a lethal charge even when "
            "unplugged: discharge it before touching anything inside.",
            "ja": "電子レンジの高圧コンデンサーはコンセントを抜いた後も致命的な電気を蓄えています。"
            "内部に触れる前に必ず放電してください。",
        },
    ),
)

_MAINS_CATEGORIES = frozenset({"appliance", "home appliance", "家電"})
_MAINS_WARNING = {
    "en": "Unplug the appliance from mains power before you open it.",
    "ja": "分解する前に必ず電源プラグをコンセントから抜いてください。",
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


def _clip(text: str, limit: int) -> str:
    text = " ".join(text.split())
    return text if len(text) <= limit else text[: limit - 3].rstrip() + "..."


def _step_line(number: int, title: str, text: str) -> str:
    title, text = title.strip(), _clip(text, _MAX_STEP_CHARS)
    if title and text and not text.lower().startswith(title.lower()):
        return f"{number}. **{title}**: {text}"
    return f"{number}. {text or title}"


def _safety_lines(guide: GuideDoc, question: str, language: str) -> list[str]:
    warnings = list(guide.safety_warnings)
    haystack = " ".join((question, guide.title, guide.device_name, *guide.keywords))
    own = " ".join(guide.safety_warnings)
    for applies, covered, text in _GENERIC_HAZARDS:
        if applies.search(haystack) and not covered.search(own):
            warnings.append(text[language])
    if not warnings and (guide.device_category or "").lower() in _MAINS_CATEGORIES:
        warnings.append(_MAINS_WARNING[language])
    return warnings


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

    safety = _safety_lines(guide, question, lang)
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


def _chunks(text: str) -> Iterator[str]:
    """Line-sized deltas, so a streamed offline answer renders progressively."""
    start = 0
    for match in re.finditer(r"\n", text):
        yield text[start : match.end()]
        start = match.end()
    if start < len(text):
        yield text[start:]


class OfflineEngine:
    """Composes an answer from the best guides without any model: deterministic and fast."""

    name = "offline"
    uses_history = False

    def answer(
        self,
        question: str,
        hits: Sequence[SearchHit],
        *,
        language: str,
        history: Sequence[tuple[str, str]] = (),
    ) -> Answer:
        used = answer_hits(hits)
        return Answer(
            text=compose_offline_answer(question, used, language),
            citations=citations_for(used),
            language=language,
            engine=self.name,
        )

    def stream(
        self,
        question: str,
        hits: Sequence[SearchHit],
        *,
        language: str,
        history: Sequence[tuple[str, str]] = (),
    ) -> Iterator[str | Answer]:
        final = self.answer(question, hits, language=language, history=history)
        yield from _chunks(final.text)
        yield final


# ---------------------------------------------------------------------------------------------
# LLM engine
# ---------------------------------------------------------------------------------------------

SYSTEM_PROMPT = (
    "You are RepairGPT, a careful repair expert for phones, laptops, game consoles and home "
    "appliances.\n"
    "Rules:\n"
    "1. Answer in {language_name}, the language of the user's question.\n"
    "2. Safety first: start with the safety warnings that apply (mains power, high-voltage "
    "capacitors in microwaves, swollen lithium batteries) before any step.\n"
    "3. Use only the repair guides below. Cite a guide with its number in brackets, like [1], "
    "after each statement that comes from it.\n"
    "4. Give the steps as a numbered list, and name the tools and parts needed.\n"
    "5. If no guide fits the question, say so and ask for the device model and the symptom."
)
_LANGUAGE_NAMES = {"en": "English", "ja": "Japanese (日本語)"}
_GUIDE_CONTEXT_CHARS = 1400


def format_guide_context(
    hits: Sequence[SearchHit], *, context_chars: int = _GUIDE_CONTEXT_CHARS
) -> str:
    """The retrieved guides, numbered [1]..[n] so the model can cite them."""
    if not hits:
        return "No repair guide matched this question."
    blocks = []
    for number, hit in enumerate(hits, 1):
        guide = hit.guide
        lines = [f"[{number}] {guide.title} — device: {guide.device_name}"]
        if guide.difficulty or guide.time_minutes:
            lines.append(
                f"difficulty: {guide.difficulty or 'unknown'}; time: "
                f"{guide.time_minutes or 'unknown'} min"
            )
        if guide.safety_warnings:
            lines.append("safety: " + " ".join(guide.safety_warnings))
        if guide.tools:
            lines.append("tools: " + ", ".join(guide.tools))
        if guide.parts:
            lines.append("parts: " + ", ".join(guide.parts))
        if guide.summary:
            lines.append("summary: " + guide.summary)
        for step_number, (title, text) in enumerate(guide.steps, 1):
            lines.append(f"step {step_number}: {title}: {_clip(text, 300)}")
        blocks.append(_clip_block("\n".join(lines), context_chars))
    return "Repair guides:\n\n" + "\n\n".join(blocks)


def _clip_block(text: str, limit: int) -> str:
    return text if len(text) <= limit else text[: limit - 4].rstrip() + " ..."


def build_messages(
    question: str,
    hits: Sequence[SearchHit],
    *,
    language: str,
    history: Sequence[tuple[str, str]] = (),
    context_chars: int = _GUIDE_CONTEXT_CHARS,
) -> list[dict[str, str]]:
    """The chat messages of a retrieval-augmented request; pure, so it is testable alone."""
    system = SYSTEM_PROMPT.format(language_name=_LANGUAGE_NAMES.get(language, "English"))
    context = format_guide_context(hits, context_chars=context_chars)
    messages = [{"role": "system", "content": system + "\n\n" + context}]
    for role, content in history:
        if role in ("user", "assistant") and content:
            messages.append({"role": role, "content": content})
    messages.append({"role": "user", "content": question})
    return messages


class LLMEngine:
    """Answers through an OpenAI-compatible endpoint, falling back to another engine on failure."""

    name = "llm"
    uses_history = True

    def __init__(
        self,
        *,
        base_url: str | None,
        api_key: str,
        model: str,
        timeout: float = 20.0,
        max_retries: int = 2,
        fallback: AnswerEngine,
        max_tokens: int = 800,
        temperature: float = 0.2,
        guide_context_chars: int = _GUIDE_CONTEXT_CHARS,
    ) -> None:
        from openai import OpenAI  # imported here so the offline default needs no openai

        self.model = model
        self.fallback = fallback
        self.max_tokens = max_tokens
        self.temperature = temperature
        self.guide_context_chars = guide_context_chars
        self._client: OpenAI = OpenAI(
            base_url=base_url or None,
            api_key=api_key or "not-needed",
            timeout=timeout,
            max_retries=max_retries,
        )

    def _request(self, messages: list[dict[str, str]], *, stream: bool) -> Any:
        return self._client.chat.completions.create(
            model=self.model,
            messages=messages,  # type: ignore[arg-type]
            max_tokens=self.max_tokens,
            temperature=self.temperature,
            stream=stream,
        )

    def _fallback_answer(
        self,
        question: str,
        hits: Sequence[SearchHit],
        language: str,
        history: Sequence[tuple[str, str]],
    ) -> Answer:
        answer = self.fallback.answer(question, hits, language=language, history=history)
        return replace(answer, engine="offline-fallback")

    def answer(
        self,
        question: str,
        hits: Sequence[SearchHit],
        *,
        language: str,
        history: Sequence[tuple[str, str]] = (),
    ) -> Answer:
        messages = build_messages(
            question,
            hits,
            language=language,
            history=history,
            context_chars=self.guide_context_chars,
        )
        try:
            completion = self._request(messages, stream=False)
            text = (completion.choices[0].message.content or "").strip()
        except Exception as exc:  # any endpoint failure must still give the user an answer
            logger.warning("LLM request failed, using the offline engine: %s", type(exc).__name__)
            return self._fallback_answer(question, hits, language, history)
        if not text:
            logger.warning("LLM returned an empty answer, using the offline engine")
            return self._fallback_answer(question, hits, language, history)
        return Answer(text=text, citations=citations_for(hits), language=language, engine=self.name)

    def stream(
        self,
        question: str,
        hits: Sequence[SearchHit],
        *,
        language: str,
        history: Sequence[tuple[str, str]] = (),
    ) -> Iterator[str | Answer]:
        messages = build_messages(
            question,
            hits,
            language=language,
            history=history,
            context_chars=self.guide_context_chars,
        )
        emitted: list[str] = []
        try:
            # The context manager closes the HTTP response even if the reader stops early.
            with self._request(messages, stream=True) as response:
                for chunk in response:
                    if not chunk.choices:
                        continue
                    delta = chunk.choices[0].delta.content
                    if delta:
                        emitted.append(delta)
                        yield delta
        except Exception as exc:  # fall back mid-stream too; what was sent stays sent
            logger.warning("LLM stream failed, using the offline engine: %s", type(exc).__name__)
        else:
            text = "".join(emitted).strip()
            if text:
                yield Answer(
                    text="".join(emitted),
                    citations=citations_for(hits),
                    language=language,
                    engine=self.name,
                )
                return
        fallback = self._fallback_answer(question, hits, language, history)
        separator = "\n\n" if emitted else ""
        yield from _chunks(separator + fallback.text)
        yield replace(fallback, text="".join(emitted) + separator + fallback.text)


def build_engine(
    *,
    openai_api_key: str | None,
    openai_base_url: str | None,
    llm_model: str,
    llm_timeout: float = 20.0,
) -> AnswerEngine:
    """The offline engine unless an API key or a base URL points at a model endpoint."""
    if not openai_api_key and not openai_base_url:
        return OfflineEngine()
    return LLMEngine(
        base_url=openai_base_url,
        api_key=openai_api_key or "",
        model=llm_model,
        timeout=llm_timeout,
        fallback=OfflineEngine(),
    )
