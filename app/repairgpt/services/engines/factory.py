"""Picks the answer engine the settings ask for; the offline engine is the default and fallback."""

from __future__ import annotations

from repairgpt.core.config import Settings
from repairgpt.services.engines.anthropic import AnthropicEngine
from repairgpt.services.engines.base import AnswerEngine
from repairgpt.services.engines.model import Endpoint, ModelEngine
from repairgpt.services.engines.offline import OfflineEngine
from repairgpt.services.engines.openai import OpenAIEngine

# The model engine of each `LLM_PROVIDER`.
MODEL_ENGINES: dict[str, type[ModelEngine]] = {
    "openai": OpenAIEngine,
    "anthropic": AnthropicEngine,
}


def provider_endpoint(settings: Settings) -> Endpoint:
    """The base URL and API key that the settings give the chosen provider."""
    if settings.llm_provider == "anthropic":
        return settings.anthropic_base_url, settings.anthropic_api_key
    return settings.openai_base_url, settings.openai_api_key


def select_answer_engine(settings: Settings) -> AnswerEngine:
    """The chosen provider's engine when its endpoint is configured, else the offline engine.

    A key or base URL of a provider not chosen switches no model on.
    """
    offline = OfflineEngine()
    if not settings.llm_configured:
        return offline
    engine = MODEL_ENGINES[settings.llm_provider]
    chosen: AnswerEngine = engine.from_settings(
        settings, provider_endpoint(settings), fallback=offline
    )
    return chosen
