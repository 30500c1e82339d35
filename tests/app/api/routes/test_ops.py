"""/ready tells the kubelet and operator why a pod is not ready, and outsiders only whether."""

from __future__ import annotations

from pathlib import Path

from tests.app.conftest import AppFactory, assert_problem
from tests.utils.servers import PostgresServer

THROUGH_A_PROXY = ({"X-Forwarded-For": "203.0.113.7"}, {"Forwarded": "for=203.0.113.7"})


def test_callers_outside_the_cluster_only_learn_that_the_api_is_ready(
    make_client: AppFactory, sqlite_url: str
) -> None:
    client = make_client(database_url=sqlite_url)
    direct = client.get("/ready").json()
    assert direct["checks"] == {
        "database": "ok",
        "migrations": "ok",
        "redis": "not configured",
        "search": "bm25f",
    }
    assert direct["guides"] == 4
    for headers in THROUGH_A_PROXY:
        outside = client.get("/ready", headers=headers)
        assert outside.status_code == 200
        assert outside.json() == {"status": "ready"}


def test_callers_outside_the_cluster_get_no_details_of_a_pod_that_is_not_ready(
    make_client: AppFactory, tmp_path: Path
) -> None:
    client = make_client(
        database_url=f"sqlite:///{tmp_path / 'empty.db'}", auto_migrate=False, seed_guides=False
    )
    assert assert_problem(client.get("/ready"), 503)["checks"]["migrations"].startswith("pending")
    for headers in THROUGH_A_PROXY:
        body = assert_problem(client.get("/ready", headers=headers), 503)
        assert "checks" not in body and "guides" not in body
        assert "pending" not in str(body)


def test_health_and_readiness_report_database_and_redis(
    make_client: AppFactory, database_url: str
) -> None:
    client = make_client(database_url=database_url)
    assert client.get("/health").json() == {"status": "ok"}
    ready = client.get("/ready")
    assert ready.status_code == 200
    body = ready.json()
    assert body["status"] == "ready"
    assert body["checks"] == {
        "database": "ok",
        "migrations": "ok",
        "redis": "not configured",
        "search": "bm25f",
    }
    assert body["guides"] == 4


def test_readiness_fails_when_the_database_is_not_migrated(
    make_client: AppFactory, tmp_path: Path
) -> None:
    client = make_client(
        database_url=f"sqlite:///{tmp_path / 'empty.db'}", auto_migrate=False, seed_guides=False
    )
    body = assert_problem(client.get("/ready"), 503)
    assert body["checks"]["migrations"].startswith("pending")


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
