"""Request ids in X-Request-ID and in every log line, and metrics counted by route template."""

from __future__ import annotations

import io
import json
import logging
import re
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest

from repairgpt.core.logging import JsonFormatter
from tests.app.conftest import (
    AppFactory,
    ServedAPI,
    request_counts,
    served_api,
)
from tests.utils.servers import PostgresServer, wait_until

GENERATED = re.compile(r"[0-9a-f]{32}")


@pytest.fixture(scope="module")
def api(tmp_path_factory: pytest.TempPathFactory) -> Iterator[ServedAPI]:
    with served_api(tmp_path_factory.mktemp("request-id")) as served:
        yield served


def _records_of(api: ServedAPI, request_id: str) -> list[dict[str, Any]]:
    return [r for r in api.log_records() if r.get("request_id") == request_id]


def _access_line(api: ServedAPI, request_id: str) -> dict[str, Any]:
    def logged() -> bool:
        return any(r["logger"] == "repairgpt.access" for r in _records_of(api, request_id))

    wait_until(logged, timeout=10, what=f"the access line of {request_id}")
    return next(r for r in _records_of(api, request_id) if r["logger"] == "repairgpt.access")


def test_a_request_without_an_id_gets_a_new_one_in_the_header_and_the_log(api: ServedAPI) -> None:
    with httpx.Client(base_url=api.base_url, timeout=10) as client:
        first = client.get("/api/v1/guides", params={"q": "battery"})
        second = client.get("/api/v1/guides/987654")
    ids = [first.headers["X-Request-ID"], second.headers["X-Request-ID"]]
    assert all(GENERATED.fullmatch(i) for i in ids) and ids[0] != ids[1]
    line = _access_line(api, ids[1])
    assert line["status"] == 404 and line["path"] == "/api/v1/guides/987654"
    assert line["endpoint"] == "/api/v1/guides/{guide_id}"


def test_a_well_formed_incoming_id_is_kept(api: ServedAPI) -> None:
    incoming = "3f2c9a1e-7b4d-4e0a-9c1f-2b8d6e5a4c3b"
    with httpx.Client(base_url=api.base_url, timeout=10) as client:
        response = client.get("/api/v1/guides", headers={"X-Request-ID": incoming})
    assert response.status_code == 200
    assert response.headers["X-Request-ID"] == incoming
    assert _access_line(api, incoming)["status"] == 200


@pytest.mark.parametrize(
    "incoming",
    ["a" * 65, "two words", 'quote"d', "semi;colon", "ünïcode", "id\tand tab"],
    ids=["too-long", "space", "quote", "semicolon", "non-ascii", "tab"],
)
def test_a_malformed_incoming_id_is_replaced(api: ServedAPI, incoming: str) -> None:
    with httpx.Client(base_url=api.base_url, timeout=10) as client:
        response = client.get("/health", headers=[(b"X-Request-ID", incoming.encode("utf-8"))])
    assert response.status_code == 200
    assert GENERATED.fullmatch(response.headers["X-Request-ID"])


def test_error_answers_carry_the_id_too(api: ServedAPI) -> None:
    with httpx.Client(base_url=api.base_url, timeout=10) as client:
        for response in (
            client.get("/nowhere"),
            client.get("/api/v1/guides", params={"limit": "many"}),
            client.post("/api/v1/guides", json={}),
        ):
            assert response.status_code >= 400
            assert GENERATED.fullmatch(response.headers["X-Request-ID"]), response.status_code


def test_a_line_logged_while_handling_a_request_carries_its_id(tmp_path: Path) -> None:
    # A database that goes away: the API answers 503 and logs a warning inside the request.
    database = PostgresServer().init().start()
    try:
        url = database.create_database("app")
        with served_api(tmp_path, DATABASE_URL=url) as api:
            with httpx.Client(base_url=api.base_url, timeout=10) as client:
                assert client.get("/ready").status_code == 200
                database.stop("immediate")
                response = client.get("/api/v1/devices", headers={"X-Request-ID": "req-42"})
            assert response.status_code == 503
            assert response.headers["X-Request-ID"] == "req-42"
            _access_line(api, "req-42")
            lines = _records_of(api, "req-42")
            started = [r for r in api.log_records() if r["message"] == "starting RepairGPT API"]
    finally:
        database.cleanup()
    warnings = [r for r in lines if r["message"] == "database unavailable for request"]
    assert warnings and warnings[0]["level"] == "WARNING"
    # Lines logged outside any request carry no id.
    assert started and "request_id" not in started[0]


def test_an_unhandled_error_answers_500_with_the_id_that_its_log_line_carries(
    make_client: AppFactory,
) -> None:
    client = make_client(raise_server_exceptions=False)

    @client.app.get("/boom")  # type: ignore[attr-defined,untyped-decorator]
    def boom() -> None:
        raise RuntimeError("broken on purpose")

    stream = io.StringIO()
    handler = logging.StreamHandler(stream)
    handler.setFormatter(JsonFormatter())
    logger = logging.getLogger("repairgpt")
    logger.addHandler(handler)
    try:
        response = client.get("/boom", headers={"X-Request-ID": "boom-1"})
    finally:
        logger.removeHandler(handler)
    assert response.status_code == 500
    assert response.headers["content-type"].startswith("application/problem+json")
    assert response.headers["X-Request-ID"] == "boom-1"
    records = [json.loads(line) for line in stream.getvalue().splitlines()]
    errors = [r for r in records if r["message"] == "unhandled error"]
    assert errors and errors[0]["request_id"] == "boom-1"
    assert "broken on purpose" in errors[0]["exc_info"]


def test_metrics_count_requests_by_route_template_not_raw_path(
    make_client: AppFactory, sqlite_url: str
) -> None:
    client = make_client(database_url=sqlite_url)
    for guide_id in (1, 2, 3, 987654):
        client.get(f"/api/v1/guides/{guide_id}")
    client.get("/no/such/path/42")
    text = client.get("/metrics").text
    counts = request_counts(text)
    assert counts[("GET", "/api/v1/guides/{guide_id}", "200")] == 3
    assert counts[("GET", "/api/v1/guides/{guide_id}", "404")] == 1
    assert counts[("GET", "unmatched", "404")] == 1
    assert {endpoint for _, endpoint, _ in counts} <= {
        "/api/v1/guides/{guide_id}",
        "unmatched",
        "/metrics",
    }
    assert "/no/such/path/42" not in text
    assert "http_request_duration_seconds_bucket{" in text
    assert "http_requests_created" not in text
