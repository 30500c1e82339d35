"""Fixtures of the API tests: apps on SQLite or a fresh PostgreSQL database, with sample guides."""

from __future__ import annotations

from collections.abc import Callable, Iterator
from contextlib import ExitStack
from pathlib import Path
from typing import Any

import pytest
from fastapi import FastAPI
from fastapi.testclient import TestClient

from repairgpt.core.config import Settings
from repairgpt.main import create_app

SAMPLE_GUIDES = Path(__file__).resolve().parent / "guides_sample.json"
MYFIXIT_DIR = Path(__file__).resolve().parents[3] / "shared" / "data" / "myfixit"
ADMIN_KEY = "test-admin-key-0123456789"


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
