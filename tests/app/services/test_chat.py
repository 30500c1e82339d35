"""A model endpoint that never answers must not take the API out of service."""

from __future__ import annotations

import socket
import threading
import time
from collections.abc import Callable
from concurrent.futures import Future, ThreadPoolExecutor
from pathlib import Path
from types import TracebackType

import httpx
import pytest

from tests.app.conftest import served_api
from tests.utils.servers import wait_until

# More than the 40 worker threads an ASGI server shares among synchronous routes and probes.
HUNG_CHATS = 48
LLM_CONCURRENCY = 8
QUICK = 2.0  # seconds


class SilentModelServer:
    """An OpenAI-compatible endpoint on loopback that reads each request and never answers,
    like a model server stuck on a long queue."""

    def __init__(self) -> None:
        self._listener = socket.create_server(("127.0.0.1", 0), backlog=128)
        self.base_url = f"http://127.0.0.1:{self._listener.getsockname()[1]}/v1"
        self.requests: list[str] = []
        self._connections: list[socket.socket] = []
        self._lock = threading.Lock()
        threading.Thread(target=self._accept, daemon=True).start()

    def _accept(self) -> None:
        while True:
            try:
                connection, _ = self._listener.accept()
            except OSError:  # closed
                return
            with self._lock:
                self._connections.append(connection)
            threading.Thread(target=self._read, args=(connection,), daemon=True).start()

    def _read(self, connection: socket.socket) -> None:
        data = b""
        try:
            while b"\r\n\r\n" not in data:
                received = connection.recv(65536)
                if not received:
                    return
                data += received
        except OSError:
            return
        with self._lock:
            self.requests.append(data.split(b"\r\n", 1)[0].decode("latin-1"))

    def close(self) -> None:
        """Stop: every waiting client sees its connection drop, new ones are refused."""
        # shutdown() first: close() alone leaves a socket open while another thread waits on it.
        with self._lock:
            sockets = [self._listener, *self._connections]
        for sock in sockets:
            try:
                sock.shutdown(socket.SHUT_RDWR)
            except OSError:
                pass
            sock.close()

    def __enter__(self) -> SilentModelServer:
        return self

    def __exit__(
        self,
        kind: type[BaseException] | None,
        error: BaseException | None,
        trace: TracebackType | None,
    ) -> None:
        self.close()


def _timed(call: Callable[[], httpx.Response]) -> tuple[int, float]:
    started = time.monotonic()
    response = call()
    return response.status_code, time.monotonic() - started


@pytest.mark.slow
def test_while_chats_hang_on_the_model_probes_and_guide_reads_still_answer_at_once(
    tmp_path: Path,
) -> None:
    # The pool is left last: on a failure the model and the API are gone before it waits.
    with (
        ThreadPoolExecutor(HUNG_CHATS) as pool,
        SilentModelServer() as model,
        served_api(
            tmp_path,
            OPENAI_BASE_URL=model.base_url,
            OPENAI_API_KEY="sk-test",
            LLM_TIMEOUT="120",
            LLM_MAX_CONCURRENCY=str(LLM_CONCURRENCY),
            RATE_LIMIT_REQUESTS="0",
        ) as api,
        httpx.Client(
            base_url=api.base_url, timeout=10, limits=httpx.Limits(max_connections=200)
        ) as client,
    ):
        guide_id = client.get("/api/v1/guides", params={"q": "battery"}).json()["data"][0]["id"]
        session = client.post("/api/v1/chat/sessions").json()
        auth = {"Authorization": f"Bearer {session['token']}"}
        messages = f"/api/v1/chat/sessions/{session['id']}/messages"
        question = {"content": "My iPhone battery drains fast"}

        def ask() -> str:
            response = client.post(messages, json=question, headers=auth, timeout=180)
            assert response.status_code == 200, response.text
            engine: str = response.json()["engine"]
            return engine

        def ask_streaming() -> str:
            with client.stream(
                "POST", f"{messages}/stream", json=question, headers=auth, timeout=180
            ) as response:
                assert response.status_code == 200
                return response.read().decode()

        chats: list[Future[str]] = [
            pool.submit(ask if n % 2 else ask_streaming) for n in range(HUNG_CHATS)
        ]
        wait_until(
            lambda: len(model.requests) >= LLM_CONCURRENCY, timeout=30, what="calls to the model"
        )
        time.sleep(1.0)  # let every chat reach the point where it waits for the model

        probes = {
            "/ready": lambda: client.get("/ready"),
            "/health": lambda: client.get("/health"),
            "guide": lambda: client.get(f"/api/v1/guides/{guide_id}"),
            "search": lambda: client.get("/api/v1/guides", params={"q": "fan noise"}),
            "history": lambda: client.get(messages, headers=auth),
        }
        for name, probe in probes.items():
            status, seconds = _timed(probe)
            assert status == 200, name
            assert seconds < QUICK, f"{name} took {seconds:.1f} s while chats hung"
        assert not any(chat.done() for chat in chats), "the model was expected to hang"
        # The model sees no more calls at once than the API allows.
        assert len(model.requests) == LLM_CONCURRENCY
        assert all(line.startswith("POST /v1/chat/completions") for line in model.requests)

        model.close()
        # Each waiting chat then gets the offline answer instead of an error.
        answers = [chat.result(timeout=120) for chat in chats]
        assert all(
            answer == "offline-fallback" or '"engine": "offline-fallback"' in answer
            for answer in answers
        ), answers[:2]
