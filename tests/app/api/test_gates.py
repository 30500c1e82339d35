"""Read-only and maintenance modes answer before routing, as operators expect."""

from __future__ import annotations

from pathlib import Path

from tests.app.conftest import ADMIN_KEY, AppFactory, assert_problem, request_counts
from tests.utils.servers import free_port


def test_read_only_mode_refuses_writes_but_still_answers_chat(
    make_client: AppFactory, tmp_path: Path
) -> None:
    url = f"sqlite:///{tmp_path / 'shared.db'}"
    writable = make_client(database_url=url)
    session = writable.post("/api/v1/chat/sessions").json()
    headers = {"Authorization": f"Bearer {session['token']}"}

    client = make_client(database_url=url, read_only_mode=True, retry_after_seconds=42)
    for method, path in [
        ("POST", "/api/v1/chat/sessions"),
        ("POST", "/api/v1/guides"),
        ("PATCH", "/api/v1/guides/1"),
        ("DELETE", "/api/v1/guides/1"),
        ("POST", "/api/v1/uploads"),
    ]:
        response = client.request(method, path, headers={"X-API-Key": ADMIN_KEY})
        body = assert_problem(response, 503)
        assert response.headers["Retry-After"] == "42"
        assert "read-only" in body["detail"]

    assert client.get("/api/v1/guides", params={"q": "battery"}).json()["count"] > 0
    answer = client.post(
        f"/api/v1/chat/sessions/{session['id']}/messages",
        json={"content": "iPhone battery drains fast"},
        headers=headers,
    )
    assert answer.status_code == 200
    assert answer.json()["saved"] is False
    assert "not saved" in answer.json()["note"]
    assert answer.json()["citations"]
    history = client.get(f"/api/v1/chat/sessions/{session['id']}/messages", headers=headers)
    assert history.json()["count"] == 0


def test_maintenance_mode_shows_a_page_to_browsers_and_a_problem_to_api_clients(
    make_client: AppFactory, sqlite_url: str
) -> None:
    message = "Back at 14:00 UTC <after the upgrade>"
    client = make_client(
        database_url=sqlite_url, maintenance_mode=True, maintenance_message=message
    )
    page = client.get("/api/v1/guides", headers={"Accept": "text/html,application/xhtml+xml"})
    assert page.status_code == 503
    assert page.headers["content-type"].startswith("text/html")
    assert "Back at 14:00 UTC &lt;after the upgrade&gt;" in page.text
    assert page.headers["Retry-After"]

    body = assert_problem(client.get("/api/v1/guides", headers={"Accept": "application/json"}), 503)
    assert body["detail"] == message
    assert_problem(client.get("/ready"), 503)
    assert_problem(client.post("/api/v1/chat/sessions"), 503)

    assert client.get("/health").status_code == 200
    metrics = client.get("/metrics")
    assert metrics.status_code == 200
    assert request_counts(metrics.text)[("GET", "/api/v1/guides", "503")] == 2


def test_maintenance_mode_starts_without_touching_an_unreachable_database(
    make_client: AppFactory,
) -> None:
    closed_port = free_port()
    client = make_client(
        database_url=f"postgresql://app:secret@127.0.0.1:{closed_port}/repairgpt",
        maintenance_mode=True,
    )
    assert client.get("/health").status_code == 200
    assert_problem(client.get("/api/v1/guides", headers={"Accept": "application/json"}), 503)
