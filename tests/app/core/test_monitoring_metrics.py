"""The app's metrics behind the dashboard and the DatabaseConnectionFailure alert."""

from __future__ import annotations

from fastapi.testclient import TestClient
from prometheus_client.parser import text_string_to_metric_families

from tests.app.conftest import AppFactory, start_chat
from tests.utils.servers import PostgresServer


def _samples(client: TestClient, name: str) -> dict[tuple[tuple[str, str], ...], float]:
    text = client.get("/metrics").text
    return {
        tuple(sorted(sample.labels.items())): sample.value
        for family in text_string_to_metric_families(text)
        for sample in family.samples
        if sample.name == name
    }


def test_readiness_checks_set_the_database_gauge(make_client: AppFactory) -> None:
    server = PostgresServer().init().start()
    try:
        server.create_database("monitored")
        client = make_client(database_url=server.url_for("monitored"))
        assert client.get("/ready").status_code == 200
        assert _samples(client, "repairgpt_database_up") == {(): 1.0}
        server.stop("immediate")
        assert client.get("/ready").json()["status"] == "degraded"
        assert _samples(client, "repairgpt_database_up") == {(): 0.0}
    finally:
        server.cleanup()


def test_search_cache_hits_and_misses_are_counted(make_client: AppFactory) -> None:
    client = make_client()
    for _ in range(3):
        assert client.get("/api/v1/guides", params={"q": "battery"}).status_code == 200
    counts = _samples(client, "repairgpt_search_cache_requests_total")
    assert counts == {(("result", "miss"),): 1.0, (("result", "hit"),): 2.0}


def test_chat_answers_are_counted_by_engine(make_client: AppFactory) -> None:
    client = make_client()
    session, headers = start_chat(client)
    for question in ("My phone battery drains fast", "The screen is cracked"):
        response = client.post(
            f"/api/v1/chat/sessions/{session}/messages",
            json={"content": question},
            headers=headers,
        )
        assert response.status_code == 200, response.text
    engine = response.json()["engine"]
    assert _samples(client, "repairgpt_chat_answers_total") == {(("engine", engine),): 2.0}
