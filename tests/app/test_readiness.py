"""/ready tells the kubelet and the operator why a pod is not ready, and outsiders only whether."""

from __future__ import annotations

from pathlib import Path

from tests.app.conftest import AppFactory, assert_problem

THROUGH_A_PROXY = ({"X-Forwarded-For": "203.0.113.7"}, {"Forwarded": "for=203.0.113.7"})


def test_callers_outside_the_cluster_only_learn_that_the_api_is_ready(
    make_client: AppFactory, sqlite_url: str
) -> None:
    client = make_client(database_url=sqlite_url)
    direct = client.get("/ready").json()
    assert direct["checks"] == {"database": "ok", "migrations": "ok", "redis": "not configured"}
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
