"""Guide search and guide administration over the REST API, on SQLite and PostgreSQL."""

from __future__ import annotations

import threading
import time
from concurrent.futures import ThreadPoolExecutor

import redis
from fastapi.testclient import TestClient

from tests.app.conftest import ADMIN_KEY, AppFactory, assert_problem
from tests.utils.servers import RedisServer


def _search(client: TestClient, **params: object) -> dict[str, object]:
    response = client.get("/api/v1/guides", params=params)
    assert response.status_code == 200, response.text
    body: dict[str, object] = response.json()
    return body


def test_a_symptom_question_finds_the_matching_guide_first(client: TestClient) -> None:
    body = _search(client, q="my iphone battery drains fast")
    hits = body["data"]
    assert isinstance(hits, list) and hits
    assert body["count"] == len(hits)
    top = hits[0]
    assert top["source_id"].startswith("t-iphone-13-battery")
    assert top["score"] > 0
    assert top["snippet"]
    assert {"id", "title", "source_id", "score", "snippet"} <= top.keys()


def test_a_japanese_question_finds_guides_for_the_device(client: TestClient) -> None:
    hits = _search(client, q="スイッチのジョイコンが勝手に動く")["data"]
    assert hits and hits[0]["source_id"] == "t-switch-joycon-drift-en"


def test_filters_narrow_the_results(client: TestClient) -> None:
    hits = _search(client, q="battery", lang="ja")["data"]
    assert hits and all(hit["language"] == "ja" for hit in hits)
    easy = _search(client, q="", difficulty="easy")["data"]
    assert [hit["source_id"] for hit in easy] == ["t-xps-13-fan-en"]
    switch = _search(client, q="", device="スイッチ")["data"]
    assert [hit["source_id"] for hit in switch] == ["t-switch-joycon-drift-en"]


def test_a_guide_is_served_with_its_device_and_ordered_steps(client: TestClient) -> None:
    guide_id = _search(client, q="xps fan")["data"][0]["id"]
    response = client.get(f"/api/v1/guides/{guide_id}")
    assert response.status_code == 200
    guide = response.json()
    assert guide["device"]["name"] == "Dell XPS 13"
    assert "デル XPS" in guide["device"]["aliases"]
    assert [step["position"] for step in guide["steps"]] == [1, 2]
    assert guide["steps"][0]["title"] == "Remove the bottom cover"


def test_an_unknown_guide_is_a_404_problem(client: TestClient) -> None:
    assert_problem(client.get("/api/v1/guides/999999"), 404)


def test_devices_can_be_searched_by_japanese_alias(client: TestClient) -> None:
    response = client.get("/api/v1/devices", params={"q": "アイフォン"})
    assert response.status_code == 200
    body = response.json()
    assert [device["slug"] for device in body["data"]] == ["iphone-13"]
    assert body["count"] == 1
    assert client.get("/api/v1/devices", params={"category": "laptop"}).json()["count"] == 1


def test_guide_writes_need_the_admin_key(client: TestClient) -> None:
    device_id = client.get("/api/v1/devices", params={"q": "xps"}).json()["data"][0]["id"]
    new = {
        "device_id": device_id,
        "title": "Dell XPS 13 Keyboard Replacement",
        "steps": [{"title": "Open", "text": "Remove the bottom cover."}],
    }
    body = assert_problem(client.post("/api/v1/guides", json=new), 401)
    assert "X-API-Key" in body["detail"]
    assert_problem(client.post("/api/v1/guides", json=new, headers={"X-API-Key": "wrong"}), 403)
    created = client.post("/api/v1/guides", json=new, headers={"X-API-Key": ADMIN_KEY})
    assert created.status_code == 201, created.text
    assert created.json()["steps"][0]["text"] == "Remove the bottom cover."


def test_guide_writes_are_refused_when_no_admin_key_is_configured(
    make_client: AppFactory, sqlite_url: str
) -> None:
    client = make_client(database_url=sqlite_url, admin_api_key=None)
    response = client.delete("/api/v1/guides/1", headers={"X-API-Key": "anything"})
    body = assert_problem(response, 403)
    assert "ADMIN_API_KEY" in body["detail"]


def test_editing_a_guide_shows_up_in_the_next_search(client: TestClient) -> None:
    headers = {"X-API-Key": ADMIN_KEY}
    first = client.get("/api/v1/guides", params={"q": "joy-con drift"})
    assert first.headers["X-Cache"] == "miss"
    again = client.get("/api/v1/guides", params={"q": "joy-con drift"})
    assert again.headers["X-Cache"] == "hit"
    assert again.json() == first.json()
    guide_id = first.json()["data"][0]["id"]

    patched = client.patch(
        f"/api/v1/guides/{guide_id}", json={"title": "Joy-Con Stick Drift Fix"}, headers=headers
    )
    assert patched.status_code == 200, patched.text
    after = client.get("/api/v1/guides", params={"q": "joy-con drift"})
    assert after.headers["X-Cache"] == "miss"
    assert after.json()["data"][0]["title"] == "Joy-Con Stick Drift Fix"

    assert client.delete(f"/api/v1/guides/{guide_id}", headers=headers).status_code == 204
    gone = client.get("/api/v1/guides", params={"q": "joy-con drift"}).json()["data"]
    assert guide_id not in [hit["id"] for hit in gone]
    assert_problem(client.get(f"/api/v1/guides/{guide_id}"), 404)


def test_creating_a_duplicate_source_id_is_a_conflict(client: TestClient) -> None:
    device_id = client.get("/api/v1/devices", params={"q": "iphone"}).json()["data"][0]["id"]
    body = {"device_id": device_id, "title": "Copy", "source_id": "t-iphone-13-battery-en"}
    response = client.post("/api/v1/guides", json=body, headers={"X-API-Key": ADMIN_KEY})
    assert_problem(response, 409)


# Keeps Redis busy (it answers nobody else meanwhile) for ARGV[1] to ARGV[1] + 1 seconds.
BUSY_SCRIPT = """
local stop = tonumber(redis.call('TIME')[1]) + tonumber(ARGV[1])
while tonumber(redis.call('TIME')[1]) < stop do end
return 1
"""


def test_concurrent_cached_searches_each_get_their_own_results_over_one_connection(
    make_client: AppFactory, sqlite_url: str
) -> None:
    server = RedisServer().start()
    try:
        client = make_client(
            database_url=sqlite_url, redis_url=server.url, rate_limit_requests=100_000
        )
        queries = [
            "battery",
            "joy-con drift",
            "screen",
            "fan",
            "iphone",
            "xps",
            "バッテリー",
            "充電",
        ]
        expected = {query: _search(client, q=query) for query in queries}
        assert len({str(body) for body in expected.values()}) == len(queries)

        def search(n: int) -> tuple[str, str, dict[str, object]]:
            query = queries[n % len(queries)]
            response = client.get("/api/v1/guides", params={"q": query})
            return query, response.headers["X-Cache"], response.json()

        with ThreadPoolExecutor(max_workers=16) as pool:
            results = list(pool.map(search, range(200)))
        assert {cache for _, cache, _ in results} == {"hit"}
        assert [body for query, _, body in results if body != expected[query]] == []
        inspector = redis.Redis.from_url(server.url)
        assert len(inspector.client_list()) == 2  # the API's one connection, and this one
    finally:
        server.stop()


def test_a_redis_that_stops_answering_costs_one_short_wait_then_is_used_again(
    make_client: AppFactory, sqlite_url: str
) -> None:
    server = RedisServer().start()
    try:
        client = make_client(
            database_url=sqlite_url, redis_url=server.url, rate_limit_requests=1000
        )
        assert client.get("/api/v1/guides", params={"q": "fan"}).headers["X-Cache"] == "miss"
        busy = threading.Thread(
            target=lambda: redis.Redis.from_url(server.url).eval(BUSY_SCRIPT, 0, 2)
        )
        busy.start()
        time.sleep(0.3)
        started = time.monotonic()
        for _ in range(5):
            assert _search(client, q="battery")["count"]
        assert time.monotonic() - started < 2.5, "a hung Redis must not hold every request"
        assert busy.is_alive(), "Redis was still busy while those searches were answered"
        busy.join()
        assert client.get("/ready").json()["checks"]["redis"] == "ok"
        assert client.get("/api/v1/guides", params={"q": "fan"}).headers["X-Cache"] == "hit"
        assert redis.Redis.from_url(server.url).keys("repairgpt:ratelimit:*")
    finally:
        server.stop()
