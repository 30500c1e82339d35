"""Embeddings from an OpenAI-compatible endpoint: the client, guide vectors, query vectors."""

from repairgpt.services.embeddings.client import (
    EmbeddingsClient,
    EmbeddingsConfig,
    EmbeddingsError,
)
from repairgpt.services.embeddings.query import QueryEmbedder

__all__ = ["EmbeddingsClient", "EmbeddingsConfig", "EmbeddingsError", "QueryEmbedder"]
