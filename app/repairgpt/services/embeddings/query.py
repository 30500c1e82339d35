"""Query vectors for search: an in-process LRU cache, a back-off after the endpoint fails, and
an optional deadline after which a search goes on with BM25F alone while the vector is still
computed (and cached) in the background."""

from __future__ import annotations

import logging
import threading
import time
from collections import OrderedDict
from collections.abc import Callable
from concurrent.futures import Future, ThreadPoolExecutor
from concurrent.futures import TimeoutError as FutureTimeout

from repairgpt.core.cooldown import Cooldown
from repairgpt.services.embeddings.client import EmbeddingsClient, EmbeddingsError, Vectors

log = logging.getLogger(__name__)

CACHE_SIZE = 4096
PROBE_TEXT = "ready"
# With a deadline: threads that call the endpoint, and how many questions may wait for one
# (beyond that a search does not queue another call: BM25F alone, reason "busy").
BACKGROUND_THREADS = 2
MAX_PENDING = 64


class QueryEmbedder:
    """Embeds search queries; after a failure, answers None until `retry_seconds` have passed,
    so a dead or slow endpoint costs one timeout per back-off period, not one per search.

    With `deadline_seconds`, a search waits at most that long for a vector it does not have;
    past it the search goes on without one (reason "deadline") and the call, made on a
    background thread, still fills the cache for the next time the question is asked.
    """

    def __init__(
        self,
        client: EmbeddingsClient,
        *,
        retry_seconds: float = 30.0,
        cache_size: int = CACHE_SIZE,
        on_fallback: Callable[[str], None] | None = None,
        clock: Callable[[], float] = time.monotonic,
        deadline_seconds: float | None = None,
    ) -> None:
        self.client = client
        self.deadline_seconds = deadline_seconds or None
        self._pool: ThreadPoolExecutor | None = None  # started on first use (after a fork)
        self._pending: dict[str, Future[Vectors | None]] = {}
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
        if self.deadline_seconds is not None:
            return self._within_deadline(key, self.deadline_seconds)
        vector = self._embed_and_remember(key)
        if vector is None:
            self.count_fallback("endpoint_error")
        return vector

    def _within_deadline(self, key: str, deadline: float) -> Vectors | None:
        """The vector if the background call returns within `deadline`, else None."""
        future = self._background_call(key)
        if future is None:
            self.count_fallback("busy")
            return None
        try:
            vector = future.result(timeout=deadline)
        except FutureTimeout:
            self.count_fallback("deadline")
            return None
        if vector is None:
            self.count_fallback("endpoint_error")
        return vector

    def _background_call(self, key: str) -> Future[Vectors | None] | None:
        """The call that embeds `key` on a background thread, shared by every search of the same
        question while it runs; None when MAX_PENDING questions wait already."""
        with self._lock:
            future = self._pending.get(key)
            if future is not None:
                return future
            if len(self._pending) >= MAX_PENDING:
                return None
            if self._pool is None:
                self._pool = ThreadPoolExecutor(
                    BACKGROUND_THREADS, thread_name_prefix="query-embeddings"
                )
            future = self._pool.submit(self._embed_and_remember, key)
            self._pending[key] = future
        # Outside the lock: a call that has finished already runs the callback at once.
        future.add_done_callback(lambda _: self._forget_pending(key))
        return future

    def _forget_pending(self, key: str) -> None:
        with self._lock:
            self._pending.pop(key, None)

    def _embed_and_remember(self, key: str) -> Vectors | None:
        vector = self._embed(key)
        if vector is None:
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
