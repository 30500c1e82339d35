"""Embeddings through any OpenAI-compatible `/v1/embeddings` endpoint, in batches."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any, Literal

import numpy as np
import numpy.typing as npt
from openai import OpenAI

from repairgpt.core.config import Settings

Vectors = npt.NDArray[np.float32]
Kind = Literal["query", "passage"]


class EmbeddingsError(RuntimeError):
    """The endpoint failed, timed out or answered something that is not a set of vectors."""


@dataclass(frozen=True)
class EmbeddingsConfig:
    """Where vectors come from and how queries and passages are told apart."""

    base_url: str
    model: str
    api_key: str | None = None
    passage_model: str | None = None
    query_prefix: str = ""
    passage_prefix: str = ""
    input_type: bool = False
    timeout: float = 2.0
    batch_size: int = 32

    @classmethod
    def from_settings(cls, settings: Settings) -> EmbeddingsConfig | None:
        """The configuration, or None when no endpoint is set."""
        if not settings.embeddings_base_url:
            return None
        key = settings.embeddings_api_key
        return cls(
            base_url=settings.embeddings_base_url,
            model=settings.embeddings_model,
            api_key=key.get_secret_value() if key else None,
            passage_model=settings.embeddings_passage_model,
            query_prefix=settings.embeddings_query_prefix,
            passage_prefix=settings.embeddings_passage_prefix,
            input_type=settings.embeddings_input_type,
            timeout=settings.embeddings_timeout,
            batch_size=settings.embeddings_batch_size,
        )

    @property
    def vector_model(self) -> str:
        """The name stored with guide vectors: the model that embeds passages."""
        return self.passage_model or self.model

    def model_for(self, kind: Kind) -> str:
        return self.vector_model if kind == "passage" else self.model

    def prepared(self, text: str, kind: Kind) -> str:
        """The text as sent: with the prefix the model expects for its kind."""
        return (self.passage_prefix if kind == "passage" else self.query_prefix) + text


class EmbeddingsClient:
    """Batched calls to the endpoint; every vector comes back L2-normalised as float32."""

    def __init__(self, config: EmbeddingsConfig, *, timeout: float | None = None) -> None:
        self.config = config
        self._openai = OpenAI(
            base_url=config.base_url,
            # Local servers need no key, but the SDK refuses to start without one.
            api_key=config.api_key or "unused",
            timeout=timeout if timeout is not None else config.timeout,
            max_retries=0,
        )

    def embed(self, texts: Sequence[str], kind: Kind) -> Vectors:
        """One row per text (the kind's prefix added here), in the order given."""
        return self.embed_prepared([self.config.prepared(text, kind) for text in texts], kind)

    def embed_prepared(self, texts: Sequence[str], kind: Kind) -> Vectors:
        """Like `embed`, for texts that already carry their prefix."""
        rows: list[Vectors] = []
        size = self.config.batch_size
        for start in range(0, len(texts), size):
            rows.append(self._embed_batch(texts[start : start + size], kind))
        if not rows:
            return np.zeros((0, 0), dtype=np.float32)
        return np.vstack(rows)

    def _embed_batch(self, texts: Sequence[str], kind: Kind) -> Vectors:
        extra: dict[str, Any] = {"input_type": kind} if self.config.input_type else {}
        try:
            response = self._openai.embeddings.create(
                model=self.config.model_for(kind),
                input=list(texts),
                extra_body=extra or None,
            )
        except Exception as exc:  # noqa: BLE001 - any failure of the endpoint is one error here
            raise EmbeddingsError(f"embeddings endpoint failed: {type(exc).__name__}") from exc
        ordered = sorted(response.data, key=lambda item: item.index)
        if len(ordered) != len(texts):
            raise EmbeddingsError(f"asked for {len(texts)} vectors, got {len(ordered)}")
        matrix = np.asarray([item.embedding for item in ordered], dtype=np.float32)
        if matrix.ndim != 2 or matrix.shape[1] == 0:
            raise EmbeddingsError("the endpoint answered without vectors")
        return normalised(matrix)


def normalised(matrix: Vectors) -> Vectors:
    """Rows scaled to unit length, so a dot product is the cosine."""
    norms = np.linalg.norm(matrix, axis=1, keepdims=True)
    norms[norms == 0] = 1.0
    scaled: Vectors = (matrix / norms).astype(np.float32)
    return scaled
