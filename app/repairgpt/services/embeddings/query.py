"""Query vectors for search: an in-process LRU cache, and a back-off after the endpoint fails."""

from __future__ import annotations

import logging
import threading
import time
from collections import OrderedDict
from collections.abc import Callable

from repairgpt.core.cooldown import Cooldown
from repairgpt.services.embeddings.client import EmbeddingsClient, EmbeddingsError, Vectors

log = logging.getLogger(__name__)

CACHE_SIZE = 4096
PROBE_TEXT = "ready"


class QueryEmbedder:
    """Embeds search queries; after a failure, answers None until `retry_seconds` have passed,
    so a dead or slow endpoint costs one timeout per back-off period, not one per search."""

    def __init__(
        self,
        client: EmbeddingsClient,
        *,
        retry_seconds: float = 30.0,
        cache_size: int = CACHE_SIZE,
        on_fallback: Callable[[str], None] | None = None,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        self.client = client
        self._cooldown = Cooldown(retry_seconds, clock=clock)
        self._cache_size = cache_size
        self._on_fallback = on_fallback
        self._cache: OrderedDict[str, Vectors] = OrderedDict()
        self._lock = threading.Lock()
        self.last_error: str | None = None

    @property
    def available(self) -> bool:
        """False while backing off after a failure."""
        return not self._cooldown.active

    def retry_in(self) -> float:
        return self._cooldown.remaining()

    def __call__(self, query: str) -> Vectors | None:
        key = query.strip()
        with self._lock:
            cached = self._cache.get(key)
            if cached is not None:
                self._cache.move_to_end(key)
                return cached
        if not self.available:
            self.count_fallback("backoff")
            return None
        vector = self._embed(key)
        if vector is None:
            self.count_fallback("endpoint_error")
            return None
        with self._lock:
            self._cache[key] = vector
            if len(self._cache) > self._cache_size:
                self._cache.popitem(last=False)
        return vector

    def probe(self) -> bool:
        """Embed a fixed text (not cached) to learn whether the endpoint answers."""
        return self._embed(PROBE_TEXT) is not None

    def _embed(self, text: str) -> Vectors | None:
        try:
            vector: Vectors = self.client.embed([text], "query")[0]
        except EmbeddingsError as exc:
            first = self.last_error is None
            self.last_error = str(exc)
            self._cooldown.failed()
            if first:
                log.warning(
                    "embeddings endpoint failed; searching with BM25F alone",
                    extra={"error": str(exc), "retry_seconds": self._cooldown.seconds},
                )
            return None
        self._cooldown.succeeded()
        self.last_error = None
        return vector

    def count_fallback(self, reason: str) -> None:
        """Report a search answered by BM25F alone (to the metrics)."""
        if self._on_fallback is not None:
            self._on_fallback(reason)
