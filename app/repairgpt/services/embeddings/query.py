"""Query vectors for search: an in-process LRU cache, a back-off after the endpoint fails,
batched calls, and an optional deadline after which a search goes on with BM25F alone while the
vector is still computed (and cached) in the background."""

from __future__ import annotations

import logging
import threading
import time
from collections import OrderedDict, deque
from collections.abc import Callable, Sequence
from concurrent.futures import Future
from concurrent.futures import TimeoutError as FutureTimeout

from repairgpt.core.cooldown import Cooldown
from repairgpt.services.embeddings.client import EmbeddingsClient, EmbeddingsError, Vectors

log = logging.getLogger(__name__)

CACHE_SIZE = 4096
PROBE_TEXT = "ready"
# Threads that call the endpoint. Each call carries every question waiting when it starts, at
# most BATCH_SIZE of them: alone a question goes at once, and under load one call embeds many
# (a batch of 16 short questions costs a small CPU model about a third of 16 calls).
CALLERS = 2
BATCH_SIZE = 16
# A caller thread with nothing to embed for this long ends; the next question starts one again.
CALLER_IDLE_SECONDS = 10.0
# How many questions may wait for a vector; beyond that a search does not queue another
# (BM25F alone, reason "busy").
MAX_PENDING = 64


class QueryEmbedder:
    """Embeds search queries; after a failure, answers None until `retry_seconds` have passed,
    so a dead or slow endpoint costs one timeout per back-off period, not one per search.

    Questions not in the cache are embedded by the caller threads, in batches; every search of
    a question shares its one call. With `deadline_seconds`, a search waits at most that long
    for its vector; past it the search goes on without one (reason "deadline"), and the call
    still fills the cache for the next time the question is asked.
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
        self._pending: dict[str, Future[Vectors | None]] = {}
        self._waiting: deque[str] = deque()  # pending questions that no call carries yet
        # Started when questions wait (so after a fork), ended when idle.
        self._callers: list[threading.Thread] = []
        self._cooldown = Cooldown(retry_seconds, clock=clock)
        self._cache_size = cache_size
        self._on_fallback = on_fallback
        self._cache: OrderedDict[str, Vectors] = OrderedDict()
        self._lock = threading.Lock()
        self._work = threading.Condition(self._lock)
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
        future = self._queued(key)
        if future is None:
            self.count_fallback("busy")
            return None
        try:
            # Without a deadline the client's own timeout bounds the wait.
            vector = future.result(timeout=self.deadline_seconds)
        except FutureTimeout:
            self.count_fallback("deadline")
            return None
        if vector is None:
            self.count_fallback("endpoint_error")
        return vector

    def _queued(self, key: str) -> Future[Vectors | None] | None:
        """The vector to come for `key`, shared by every search of the question until its call
        returns; None when MAX_PENDING questions wait already."""
        with self._lock:
            future = self._pending.get(key)
            if future is not None:
                return future
            if len(self._pending) >= MAX_PENDING:
                return None
            future = Future()
            self._pending[key] = future
            self._waiting.append(key)
            while len(self._callers) < CALLERS:
                caller = threading.Thread(
                    target=self._call_in_batches,
                    name=f"query-embeddings-{len(self._callers)}",
                    daemon=True,
                )
                caller.start()
                self._callers.append(caller)
            self._work.notify()
        return future

    def _call_in_batches(self) -> None:
        """A caller thread: embed what waits, a batch at a time, until nothing has come for
        CALLER_IDLE_SECONDS."""
        while True:
            with self._lock:
                if not self._waiting:
                    self._work.wait(CALLER_IDLE_SECONDS)
                if not self._waiting:
                    # Under the lock: a question queued from now on starts another caller.
                    self._callers.remove(threading.current_thread())
                    return
                batch = [
                    self._waiting.popleft() for _ in range(min(BATCH_SIZE, len(self._waiting)))
                ]
            try:
                vectors = self._embed(batch)
            except Exception:  # noqa: BLE001 - the searches that wait must not wait forever
                log.exception("query embedding failed")
                vectors = None
            self._settle(batch, vectors)

    def _settle(self, batch: Sequence[str], vectors: Vectors | None) -> None:
        """Cache the batch's vectors and hand them to the searches that wait (None each when
        the call failed). Cached and no longer pending in one step: a search in between would
        queue the question again."""
        # Copies: a cached row must not keep its whole batch's matrix alive.
        results = [None if vectors is None else vectors[i].copy() for i in range(len(batch))]
        with self._lock:
            futures = [self._pending.pop(key) for key in batch]
            for key, vector in zip(batch, results, strict=True):
                if vector is not None:
                    self._cache[key] = vector
                    if len(self._cache) > self._cache_size:
                        self._cache.popitem(last=False)
        for future, vector in zip(futures, results, strict=True):
            future.set_result(vector)

    def probe(self) -> bool:
        """Embed a fixed text (not cached) to learn whether the endpoint answers."""
        return self._embed([PROBE_TEXT]) is not None

    def _embed(self, texts: Sequence[str]) -> Vectors | None:
        """One row per text, or None when the endpoint failed (the back-off starts)."""
        try:
            vectors: Vectors = self.client.embed(texts, "query")
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
        return vectors

    def count_fallback(self, reason: str) -> None:
        """Report a search answered by BM25F alone (to the metrics)."""
        if self._on_fallback is not None:
            self._on_fallback(reason)
