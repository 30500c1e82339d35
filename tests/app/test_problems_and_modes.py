"""Every error is problem+json; read-only and maintenance modes answer as operators expect."""

from __future__ import annotations

from pathlib import Path

from tests.app.conftest import ADMIN_KEY, AppFactory, assert_problem, request_counts
from tests.utils.servers import PostgresServer, free_port


def test_unknown_paths_wrong_methods_and_bad_input_are_problems(
    make_client: AppFactory, sqlite_url: str
) -> None:
    client = make_client(database_url=sqlite_url)
    body = assert_problem(client.get("/api/v1/nothing-here"), 404)
    assert body["instance"] == "/api/v1/nothing-here"
    assert_problem(client.put("/api/v1/guides"), 405)
    invalid = assert_problem(client.get("/api/v1/guides", params={"limit": "many"}), 422)
    assert invalid["errors"][0]["loc"] == ["query", "limit"]
    assert_problem(client.get("/api/v1/guides", params={"q": "a\x00b"}), 422)


def test_an_unhandled_error_is_a_500_problem_without_internals(
    make_client: AppFactory, sqlite_url: str
) -> None:
    client = make_client(database_url=sqlite_url, raise_server_exceptions=False)

    def explode() -> None:
        raise RuntimeError("secret internal detail")

    client.app.add_api_route("/api/v1/explode", explode)  # type: ignore[attr-defined]
    response = client.get("/api/v1/explode")
    body = assert_problem(response, 500)
    assert "secret internal detail" not in response.text
    assert body["title"] == "Internal Server Error"


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


def test_health_and_readiness_report_database_and_redis(
    make_client: AppFactory, database_url: str
) -> None:
    client = make_client(database_url=database_url)
    assert client.get("/health").json() == {"status": "ok"}
    ready = client.get("/ready")
    assert ready.status_code == 200
    body = ready.json()
    assert body["status"] == "ready"
    assert body["checks"] == {"database": "ok", "migrations": "ok", "redis": "not configured"}
    assert body["guides"] == 4


def test_readiness_fails_when_the_database_is_not_migrated(
    make_client: AppFactory, tmp_path: Path
) -> None:
    client = make_client(
        database_url=f"sqlite:///{tmp_path / 'empty.db'}", auto_migrate=False, seed_guides=False
    )
    body = assert_problem(client.get("/ready"), 503)
    assert body["checks"]["migrations"].startswith("pending")


def test_browsers_on_the_configured_origins_may_call_the_api(
    make_client: AppFactory, sqlite_url: str
) -> None:
    client = make_client(database_url=sqlite_url, cors_origins=["https://repair.example"])
    preflight = client.options(
        "/api/v1/chat/sessions",
        headers={"Origin": "https://repair.example", "Access-Control-Request-Method": "POST"},
    )
    assert preflight.headers["access-control-allow-origin"] == "https://repair.example"
    other = client.get("/api/v1/devices", headers={"Origin": "https://evil.example"})
    assert "access-control-allow-origin" not in other.headers


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


def test_a_pod_that_was_ready_stays_in_service_when_the_database_goes_away(
    make_client: AppFactory,
) -> None:
    """Readiness gates a pod's first start (database reached and migrated), not the database's
    later outages: those get a 503 problem per request while searches go on being answered."""
    server = PostgresServer().init().start()
    try:
        server.create_database("gone")
        client = make_client(database_url=server.url_for("gone"))
        assert client.get("/ready").json()["status"] == "ready"
        server.stop("immediate")

        ready = client.get("/ready")
        assert ready.status_code == 200
        assert ready.json()["status"] == "degraded"
        assert ready.json()["checks"]["database"].startswith("unreachable")
        assert client.get("/api/v1/guides", params={"q": "battery"}).status_code == 200
        assert_problem(client.get("/api/v1/guides/1"), 503)

        # A pod that never reached its database is kept out of service.
        fresh = make_client(database_url=server.url_for("gone"), auto_migrate=False)
        assert_problem(fresh.get("/ready"), 503)
    finally:
        server.cleanup()
