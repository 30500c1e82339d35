"""A real API server scraped every second by a real Prometheus that holds the instance's alert
rules: the error alerts fire when its database goes away, and every API panel of the dashboard
shows data."""

from __future__ import annotations

import os
import time
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path

import httpx
import pytest

from repairgpt_operator.instance.model import Instance
from repairgpt_operator.monitoring.dashboard import dashboard
from repairgpt_operator.monitoring.rules import api_job, duration_seconds, rule_groups
from tests.app.conftest import ServedAPI, served_api
from tests.operator.factories import make_instance
from tests.utils.dashboard_render import NO_DATA, prometheus_range_query, render_dashboard
from tests.utils.prometheus import PrometheusServer, panel_queries, scrape_config
from tests.utils.servers import PostgresServer

pytestmark = pytest.mark.slow

INTERVAL = 1.0  # scrape and evaluation interval, seconds
REPO_ROOT = Path(__file__).resolve().parents[3]
# UPDATE_DASHBOARD_PICTURE=1 writes the README's picture instead of a temporary file.
PICTURE = REPO_ROOT / "docs" / "images" / "dashboard.png"
ALERT_FOR = "5s"
INSTANCE = make_instance(
    {
        "monitoring": {
            "enabled": True,
            "alerts": {
                "highErrorRate": {"threshold": 0.1, "for": ALERT_FOR},
                "databaseDownFor": ALERT_FOR,
            },
        }
    },
    name="shop",
    namespace="repair",
)


@dataclass
class Stack:
    """The API on its own PostgreSQL, and Prometheus scraping it. The tests run in file order;
    each still works alone: stopping the database first records a healthy history."""

    api: ServedAPI
    database: PostgresServer
    prometheus: PrometheusServer
    client: httpx.Client
    healthy_seconds: float = 0.0
    database_stopped: bool = False
    started: float = field(default_factory=time.time)

    def drive_healthy(self, seconds: float) -> None:
        assert not self.database_stopped
        self.prometheus.wait_for(self.prometheus.targets_up, timeout=30, what="API target up")
        deadline = time.monotonic() + seconds
        while time.monotonic() < deadline:
            _healthy_traffic(self.client)
        self.healthy_seconds += seconds

    def stop_database(self) -> None:
        if self.database_stopped:
            return
        if self.healthy_seconds < 3 * INTERVAL:
            self.drive_healthy(3 * INTERVAL)
        self.database.stop("immediate")
        self.database_stopped = True


def api_scrape_job(instance: Instance, target: str) -> dict[str, object]:
    """What the ServiceMonitor gives the API's series: the job, and the instance's namespace."""
    job = scrape_config(api_job(instance), target)
    job["static_configs"] = [{"targets": [target], "labels": {"namespace": instance.namespace}}]
    return job


@pytest.fixture(scope="module")
def stack(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Stack]:
    folder: Path = tmp_path_factory.mktemp("scraped")
    database = PostgresServer().init().start()
    try:
        url = database.create_database("app")
        with served_api(folder, DATABASE_URL=url, RATE_LIMIT_REQUESTS="0") as api:
            prometheus = PrometheusServer(
                scrape_configs=[api_scrape_job(INSTANCE, f"127.0.0.1:{api.port}")],
                rule_groups=rule_groups(INSTANCE),
                interval=f"{INTERVAL:g}s",
            ).start()
            try:
                with httpx.Client(base_url=api.base_url, timeout=10) as client:
                    yield Stack(api, database, prometheus, client)
            finally:
                prometheus.stop()
    finally:
        database.cleanup()


def _healthy_traffic(client: httpx.Client) -> None:
    """What users do: searches (one repeated, a cache hit), a chat answer, readiness probes."""
    for query in ("battery", "screen", "battery"):
        assert client.get("/api/v1/guides", params={"q": query}).status_code == 200
    session = client.post("/api/v1/chat/sessions", json={}).json()
    answer = client.post(
        f"/api/v1/chat/sessions/{session['id']}/messages",
        json={"content": "battery drains fast"},
        headers={"Authorization": f"Bearer {session['token']}"},
    )
    assert answer.status_code == 200, answer.text
    assert client.get("/api/v1/devices").status_code == 200
    assert client.get("/ready").status_code == 200


def test_rules_load_and_stay_silent_while_the_api_is_healthy(stack: Stack) -> None:
    stack.drive_healthy(4 * INTERVAL + duration_seconds(ALERT_FOR))
    health = stack.prometheus.rule_health()
    assert set(health) >= {"HighErrorRate", "HighResponseTime", "DatabaseConnectionFailure"}
    assert set(health.values()) == {"ok"}, health
    assert stack.prometheus.alerts() == []


def test_5xx_answers_fire_high_error_rate_within_for_and_two_evaluations(stack: Stack) -> None:
    prometheus, client = stack.prometheus, stack.client
    five_xx = next(
        r["expr"]
        for g in rule_groups(INSTANCE)
        for r in g["rules"]
        if r["alert"] == "HighErrorRate"
    )
    stack.stop_database()
    started = time.monotonic()
    true_since = fired_at = None
    while fired_at is None and time.monotonic() - started < 60:
        # The database is gone: what needs it answers 503.
        statuses = {client.get("/api/v1/devices").status_code for _ in range(20)}
        assert statuses == {503}, statuses
        client.get("/ready")
        now = time.monotonic()
        if true_since is None and prometheus.query(five_xx):
            true_since = now
        if prometheus.firing("HighErrorRate"):
            fired_at = now
    assert true_since is not None and fired_at is not None, prometheus.alerts()
    took = fired_at - true_since
    limit = duration_seconds(ALERT_FOR) + 2 * INTERVAL
    held = true_since - started
    print(f"HighErrorRate: condition held {held:.1f} s after the first 5xx; fired {took:.1f} s on")
    assert took <= limit + 0.5, f"fired {took:.1f} s after its condition held (limit {limit} s)"
    [alert] = prometheus.firing("HighErrorRate")
    assert alert["labels"]["namespace"] == "repair" and alert["labels"]["severity"] == "warning"
    assert "responses per second with status 5xx" in alert["annotations"]["description"]


def test_readiness_without_the_database_fires_database_connection_failure(stack: Stack) -> None:
    prometheus, client = stack.prometheus, stack.client
    stack.stop_database()

    def fired() -> bool:
        # Degraded, not unready: guide searches still work without the database.
        assert client.get("/ready").json()["status"] == "degraded"
        return bool(prometheus.firing("DatabaseConnectionFailure"))

    took = prometheus.wait_for(
        fired, timeout=duration_seconds(ALERT_FOR) + 30, what="DatabaseConnectionFailure"
    )
    print(f"DatabaseConnectionFailure: firing {took:.1f} s into this test")


def test_every_api_panel_of_the_dashboard_shows_data(stack: Stack) -> None:
    prometheus = stack.prometheus
    stack.stop_database()
    for _ in range(3):  # some 5xx for the 5xx panel, also when this test runs alone
        assert stack.client.get("/api/v1/devices").status_code == 503
    queries = [
        (title, expr)
        for title, expr in panel_queries(dashboard(INSTANCE), {"datasource": "prometheus"})
        if f'job="{api_job(INSTANCE)}"' in expr
    ]
    assert len(queries) >= 6, queries
    empty: list[str] = []
    for title, expr in queries:
        try:
            prometheus.wait_for_data(expr, timeout=10)
        except TimeoutError:
            empty.append(f"{title}: {expr}")
    assert not empty, "panels without data:\n" + "\n".join(empty)


def _degraded_traffic(client: httpx.Client) -> None:
    """Without the database: searches still answer, device lists get 503, chat tries."""
    for query in ("battery", "hinge", "battery"):
        assert client.get("/api/v1/guides", params={"q": query}).status_code == 200
    client.post("/api/v1/chat/sessions", json={})
    assert client.get("/api/v1/devices").status_code == 503


def test_the_dashboard_picture_shows_every_api_panel_from_this_run(
    stack: Stack, tmp_path: Path
) -> None:
    if not stack.database_stopped:
        stack.drive_healthy(10 * INTERVAL)
    stack.stop_database()
    deadline = time.monotonic() + 8 * INTERVAL
    while time.monotonic() < deadline:
        _degraded_traffic(stack.client)
    time.sleep(2 * INTERVAL)  # the last requests scraped
    path = PICTURE if os.environ.get("UPDATE_DASHBOARD_PICTURE") == "1" else tmp_path / "d.png"
    end = time.time()
    query = prometheus_range_query(
        str(stack.prometheus.http.base_url).rstrip("/"), stack.started, end, INTERVAL
    )
    board = dashboard(INSTANCE)
    drawn = render_dashboard(board, query, path, end=end, variables={"datasource": "prometheus"})
    api_titles = [
        p["title"]
        for p in board["panels"]
        if f'job="{api_job(INSTANCE)}"' in p["targets"][0]["expr"]
    ]
    assert len(api_titles) >= 6 and set(drawn) == {p["title"] for p in board["panels"]}
    assert all(drawn[title] >= 1 for title in api_titles), drawn
    print(
        f"{path}: {path.stat().st_size // 1024} KB; series per panel {drawn}; {NO_DATA}: "
        f"{[title for title, n in drawn.items() if n == 0]}"
    )
    assert path.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
    assert path.stat().st_size < 250 * 1024
