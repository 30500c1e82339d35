"""The prompt of a retrieval-augmented model request: rules, numbered guides, history, question."""

from __future__ import annotations

from collections.abc import Sequence

from repairgpt.services.engines.base import History, clip
from repairgpt.services.retrieval import SearchHit

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
GUIDE_CONTEXT_CHARS = 1400


def format_guide_context(
    hits: Sequence[SearchHit], *, context_chars: int = GUIDE_CONTEXT_CHARS
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
            lines.append(f"step {step_number}: {title}: {clip(text, 300)}")
        blocks.append(_clip_block("\n".join(lines), context_chars))
    return "Repair guides:\n\n" + "\n\n".join(blocks)


def _clip_block(text: str, limit: int) -> str:
    return text if len(text) <= limit else text[: limit - 4].rstrip() + " ..."


def build_messages(
    question: str,
    hits: Sequence[SearchHit],
    *,
    language: str,
    history: History = (),
    context_chars: int = GUIDE_CONTEXT_CHARS,
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
