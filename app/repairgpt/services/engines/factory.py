"""Picks the answer engine the settings ask for; the offline engine is the default and fallback."""

from __future__ import annotations

from types import ModuleType

from repairgpt.core.config import Settings
from repairgpt.services.engines import anthropic, openai
from repairgpt.services.engines.base import AnswerEngine
from repairgpt.services.engines.offline import OfflineEngine

# Model engines, one per `LLM_PROVIDER`: each module has `configured(settings)` (true only for
# the chosen provider) and `from_settings(settings, fallback=...)`.
MODEL_ENGINES: tuple[ModuleType, ...] = (openai, anthropic)


def select_answer_engine(settings: Settings) -> AnswerEngine:
    """The first model engine the settings configure, else the offline engine."""
    offline = OfflineEngine()
    for module in MODEL_ENGINES:
        if module.configured(settings):
            engine: AnswerEngine = module.from_settings(settings, fallback=offline)
            return engine
    return offline
