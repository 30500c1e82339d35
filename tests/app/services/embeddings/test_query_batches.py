"""Questions that wait for their vectors at the same time are embedded in one call."""

from __future__ import annotations

import threading
import time
from collections.abc import Sequence

import pytest

from repairgpt.services.embeddings import EmbeddingsClient, QueryEmbedder, query
from repairgpt.services.embeddings.client import EmbeddingsError, Kind, Vectors
from tests.app.services.embeddings.conftest import embeddings_config
from tests.utils.embeddings_server import EmbeddingsServer

QUESTIONS = [
    "laptop fan noise",
    "iphone battery swollen",
    "washing machine does not drain",
    "joy-con stick drifts",
    "coffee spilled on the keyboard",
]


class GatedClient(EmbeddingsClient):
    """The real client; its first call waits for `release`, and every call's texts are kept."""

    def __init__(self, server: EmbeddingsServer) -> None:
        super().__init__(embeddings_config(server))
        self.calls: list[list[str]] = []
        self.first_call = threading.Event()
        self.release = threading.Event()

    def embed(self, texts: Sequence[str], kind: Kind) -> Vectors:
        self.calls.append(list(texts))
        if not self.first_call.is_set():
            self.first_call.set()
            assert self.release.wait(30)
        return super().embed(texts, kind)


def _search_all(embedder: QueryEmbedder, questions: Sequence[str]) -> dict[str, Vectors | None]:
    """Search every question at once, each on its own thread; what each search got."""
    found: dict[str, Vectors | None] = {}
    threads = [
        threading.Thread(target=lambda q=q: found.__setitem__(q, embedder(q))) for q in questions
    ]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(60)
    assert not any(thread.is_alive() for thread in threads), "a search still waits"
    return found


def test_questions_that_wait_together_go_in_one_call(
    embeddings_server: EmbeddingsServer, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(query, "CALLERS", 1)
    client = GatedClient(embeddings_server)
    embedder = QueryEmbedder(client)
    first = threading.Thread(target=embedder, args=(QUESTIONS[0],))
    first.start()
    assert client.first_call.wait(30)
    # While the first call runs, four questions (one of them twice) queue behind it.
    waiting = threading.Thread(target=_search_all, args=(embedder, [*QUESTIONS[1:], QUESTIONS[1]]))
    waiting.start()
    deadline = time.monotonic() + 30
    while len(embedder._pending) < len(QUESTIONS):
        assert time.monotonic() < deadline, f"queued: {list(embedder._pending)}"
        time.sleep(0.01)
    client.release.set()
    waiting.join(60)
    first.join(60)
    assert len(client.calls) == 2 and client.calls[0] == QUESTIONS[:1]
    assert sorted(client.calls[1]) == sorted(QUESTIONS[1:]), "queued once each, in one call"
    direct = EmbeddingsClient(embeddings_config(embeddings_server)).embed(QUESTIONS, "query")
    for row, question in enumerate(QUESTIONS):
        cached = embedder(question)  # from the cache now: no further call
        assert cached is not None and float(cached @ direct[row]) > 0.999
        assert cached.base is None, "a cached vector owns its memory, not its batch's matrix"
    assert len(client.calls) == 2


@pytest.mark.parametrize(
    ("error", "backs_off"),
    [(EmbeddingsError("embeddings endpoint failed: APIConnectionError"), True),
     (RuntimeError("a bug in the client"), False)],
)  # fmt: skip
def test_a_failed_call_leaves_every_waiting_search_to_bm25f(
    embeddings_server: EmbeddingsServer,
    monkeypatch: pytest.MonkeyPatch,
    error: Exception,
    backs_off: bool,
) -> None:
    monkeypatch.setattr(query, "CALLERS", 1)

    class FailingClient(GatedClient):
        def embed(self, texts: Sequence[str], kind: Kind) -> Vectors:
            super().embed(texts, kind)
            raise error

    client = FailingClient(embeddings_server)
    client.release.set()
    fallbacks: list[str] = []
    embedder = QueryEmbedder(client, on_fallback=fallbacks.append)
    found = _search_all(embedder, QUESTIONS)
    assert found == dict.fromkeys(QUESTIONS)
    assert fallbacks.count("endpoint_error") + fallbacks.count("backoff") == len(QUESTIONS)
    assert "endpoint_error" in fallbacks
    assert embedder.available is not backs_off
    assert not embedder._pending


def test_idle_caller_threads_end_and_the_next_question_starts_them_again(
    embeddings_server: EmbeddingsServer, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(query, "CALLER_IDLE_SECONDS", 0.05)
    embedder = QueryEmbedder(EmbeddingsClient(embeddings_config(embeddings_server)))
    assert embedder(QUESTIONS[0]) is not None
    callers = list(embedder._callers)
    assert callers
    for caller in callers:
        caller.join(10)
    assert not any(caller.is_alive() for caller in callers) and not embedder._callers
    assert embedder(QUESTIONS[1]) is not None
