"""Prometheus metrics of the HTTP API, named as the operations dashboards and alerts expect."""

from __future__ import annotations

from collections.abc import Callable

from prometheus_client import (
    CollectorRegistry,
    Counter,
    Gauge,
    Histogram,
    ProcessCollector,
    disable_created_metrics,
    generate_latest,
)

# The server passes any method its parser knows (WebDAV's PROPFIND, MKCOL...) to the app: the
# others are counted as one "other", so a client cannot mint label values.
KNOWN_METHODS = frozenset({"GET", "HEAD", "POST", "PUT", "PATCH", "DELETE", "OPTIONS"})
OTHER_METHOD = "other"

# Latency buckets around the targets: cached search < 50 ms, offline chat < 150 ms.
DURATION_BUCKETS = (0.005, 0.01, 0.025, 0.05, 0.075, 0.1, 0.15, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0)


class HttpMetrics:
    """One registry per app, so several apps in one process (tests) do not collide."""

    def __init__(self) -> None:
        # *_created series double the output and no dashboard reads them.
        disable_created_metrics()  # type: ignore[no-untyped-call]
        self.registry = CollectorRegistry()
        self.requests = Counter(
            "http_requests_total",
            "HTTP requests by method, route template and status code.",
            ["method", "endpoint", "status"],
            registry=self.registry,
        )
        self.duration = Histogram(
            "http_request_duration_seconds",
            "HTTP request duration in seconds by method and route template.",
            ["method", "endpoint"],
            buckets=DURATION_BUCKETS,
            registry=self.registry,
        )
        self.chat_answers = Counter(
            "repairgpt_chat_answers_total",
            "Chat answers by the engine that wrote them (offline, llm, offline-fallback: the "
            "model endpoint failed and the offline engine answered).",
            ["engine"],
            registry=self.registry,
        )
        self.search_cache = Counter(
            "repairgpt_search_cache_requests_total",
            "Guide searches by search cache result (hit, miss).",
            ["result"],
            registry=self.registry,
        )
        self.database_up = Gauge(
            "repairgpt_database_up",
            "1 when the last readiness check reached the database, 0 when it did not.",
            registry=self.registry,
        )
        self.search_hybrid = Gauge(
            "repairgpt_search_hybrid",
            "1 while guide search fuses dense ranking with BM25F, 0 while it uses BM25F alone.",
            registry=self.registry,
        )
        self.search_fallbacks = Counter(
            "repairgpt_search_fallbacks_total",
            "Guide searches answered by BM25F alone although embeddings are configured, by "
            "reason (endpoint_error, backoff: after a failure, no_vectors, deadline: the vector "
            "came too late, busy: too many questions waiting for one).",
            ["reason"],
            registry=self.registry,
        )
        ProcessCollector(registry=self.registry)
        # Looking a labelled child up by its label values takes a lock and builds tuples on
        # every call; the children of a route are kept here once made. Route templates keep
        # the number of keys small.
        self._children: dict[tuple[str, str, int], tuple[Counter, Histogram]] = {}

    def observe(self, *, method: str, endpoint: str, status: int, seconds: float) -> None:
        if method not in KNOWN_METHODS:
            method = OTHER_METHOD
        key = (method, endpoint, status)
        children = self._children.get(key)
        if children is None:
            children = (
                self.requests.labels(method, endpoint, str(status)),
                self.duration.labels(method, endpoint),
            )
            self._children[key] = children
        children[0].inc()
        children[1].observe(seconds)

    def count_answer(self, engine: str) -> None:
        self.chat_answers.labels(engine).inc()

    def count_search(self, result: str) -> None:
        self.search_cache.labels(result).inc()

    def count_search_fallback(self, reason: str) -> None:
        self.search_fallbacks.labels(reason).inc()

    def watch_search_mode(self, is_hybrid: Callable[[], bool]) -> None:
        """Read the search mode at every scrape."""
        self.search_hybrid.set_function(lambda: 1.0 if is_hybrid() else 0.0)

    def render(self) -> bytes:
        return generate_latest(self.registry)
