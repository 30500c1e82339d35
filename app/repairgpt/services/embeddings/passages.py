"""What the dense index sees of a guide: the text that is embedded, and its hash."""

from __future__ import annotations

import hashlib

from repairgpt.services.retrieval import GuideDoc

# Measured with bench/dense_probe.py: the guide's names and summary rank better than the names
# followed by every step, and stay within a small model's token budget.
PASSAGE_CHARS = 600


def passage_text(doc: GuideDoc, *, max_chars: int = PASSAGE_CHARS) -> str:
    """The guide's title, device, category, parts and summary, cut at a word boundary."""
    head = [doc.title, doc.device_name, doc.device_category or "", *doc.parts, doc.summary]
    text = ". ".join(part.strip() for part in head if part and part.strip())
    if len(text) <= max_chars:
        return text
    cut = text[:max_chars]
    return cut.rsplit(" ", 1)[0] if " " in cut[-40:] else cut


def text_hash(text: str) -> str:
    """sha256 of the exact text sent to the model (prefix included)."""
    return hashlib.sha256(text.encode("utf-8")).hexdigest()
