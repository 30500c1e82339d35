"""Property-based run over the OpenAPI schema: whatever a client sends, never a 5xx."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest
import schemathesis
from fastapi import FastAPI
from fastapi.testclient import TestClient
from hypothesis import HealthCheck, given, settings

from repairgpt.core.config import Settings
from repairgpt.main import create_app
from tests.app.conftest import ADMIN_KEY, SAMPLE_GUIDES


def _prepared_app(folder: Path) -> Iterator[FastAPI]:
    app = create_app(
        Settings(
            data_dir=folder,
            database_url=f"sqlite:///{folder / 'schema.db'}",
            seed_guides_file=SAMPLE_GUIDES,
            rate_limit_requests=0,
            catalog_refresh_seconds=0,
            admin_api_key=ADMIN_KEY,
            upload_dir=folder / "uploads",
        ),
        configure_logs=False,
    )
    with TestClient(app):  # runs the lifespan once: migrate, seed, build the index
        yield app


@pytest.fixture(scope="module")
def prepared_app(tmp_path_factory: pytest.TempPathFactory) -> Iterator[FastAPI]:
    yield from _prepared_app(tmp_path_factory.mktemp("schemathesis"))


@pytest.mark.slow
def test_no_request_makes_the_api_fail_with_a_server_error(prepared_app: FastAPI) -> None:
    schema = schemathesis.openapi.from_asgi("/openapi.json", prepared_app)
    seen: set[str] = set()

    @settings(
        max_examples=300,
        deadline=None,
        database=None,
        derandomize=True,
        suppress_health_check=list(HealthCheck),
    )
    @given(case=schema.as_strategy())
    def check(case: schemathesis.Case) -> None:
        case.headers = {**(case.headers or {}), "X-API-Key": ADMIN_KEY}
        response = case.call()
        seen.add(f"{case.method} {case.path}")
        assert response.status_code < 500, (
            f"{case.method} {case.formatted_path} -> {response.status_code}: {response.text[:500]}"
        )
        if response.status_code >= 400:
            content_type = response.headers.get("content-type", [""])
            value = content_type[0] if isinstance(content_type, list) else content_type
            assert value.startswith("application/problem+json"), (
                f"{case.method} {case.formatted_path} -> {response.status_code} as {value}"
            )

    check()
    assert len(seen) >= 10, f"only {sorted(seen)} were exercised"
