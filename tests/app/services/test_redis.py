"""Redis-backed rate limiting and search cache, and an API that keeps serving when Redis dies."""

from __future__ import annotations

import time

import redis

from tests.app.conftest import AppFactory, assert_problem
from tests.utils.servers import RedisServer


def _flush(redis_server: RedisServer) -> None:
    redis.Redis.from_url(redis_server.url).flushall()


def test_the_rate_limit_is_shared_through_redis_across_replicas(
    make_client: AppFactory, database_url: str, redis_server: RedisServer
) -> None:
    _flush(redis_server)
    settings = {
        "database_url": database_url,
        "redis_url": redis_server.url,
        "rate_limit_requests": 5,
        "rate_limit_window_seconds": 3600,
    }
    first, second = make_client(**settings), make_client(**settings)
    statuses = [first.get("/api/v1/devices").status_code for _ in range(3)]
    statuses += [second.get("/api/v1/devices").status_code for _ in range(2)]
    assert statuses == [200] * 5
    response = second.get("/api/v1/devices")
    body = assert_problem(response, 429)
    assert 0 < int(response.headers["Retry-After"]) <= 3600
    assert "Rate limit of 5 requests" in body["detail"]
    assert first.get("/api/v1/devices").status_code == 429
    assert first.get("/health").status_code == 200  # probes are never limited
    keys = redis.Redis.from_url(redis_server.url).keys("repairgpt:ratelimit:*")
    assert keys


def test_search_results_are_cached_in_redis(
    make_client: AppFactory, database_url: str, redis_server: RedisServer
) -> None:
    _flush(redis_server)
    # With rate limiting on, the cached body is read in the rate-limit round trip.
    settings = {
        "database_url": database_url,
        "redis_url": redis_server.url,
        "rate_limit_requests": 1000,
    }
    client = make_client(**settings)
    first = client.get("/api/v1/guides", params={"q": "fan"})
    assert first.headers["X-Cache"] == "miss"
    assert redis.Redis.from_url(redis_server.url).keys("repairgpt:search:*")
    other = make_client(**settings)
    hit = other.get("/api/v1/guides", params={"q": "fan"})
    assert hit.headers["X-Cache"] == "hit" and hit.json() == first.json()
    assert hit.headers["X-RateLimit-Remaining"] == "998"
    unlimited = make_client(database_url=database_url, redis_url=redis_server.url)
    assert unlimited.get("/api/v1/guides", params={"q": "fan"}).headers["X-Cache"] == "hit"


def test_the_api_keeps_serving_and_limiting_when_redis_is_down(
    make_client: AppFactory, sqlite_url: str, redis_server: RedisServer
) -> None:
    client = make_client(
        database_url=sqlite_url,
        redis_url=redis_server.url,
        rate_limit_requests=8,
        rate_limit_window_seconds=3600,
    )
    _flush(redis_server)
    assert client.get("/ready").json()["checks"]["redis"] == "ok"
    redis_server.stop()
    try:
        started = time.monotonic()
        for _ in range(2):
            search = client.get("/api/v1/guides", params={"q": "battery"})
            assert search.status_code == 200 and search.json()["count"] > 0
        assert client.get("/api/v1/guides", params={"q": "battery"}).headers["X-Cache"] == "hit"
        session = client.post("/api/v1/chat/sessions").json()
        answer = client.post(
            f"/api/v1/chat/sessions/{session['id']}/messages",
            json={"content": "Joy-Con drift"},
            headers={"Authorization": f"Bearer {session['token']}"},
        )
        assert answer.status_code == 200 and answer.json()["saved"] is True
        assert time.monotonic() - started < 5, "a dead Redis must not slow every request"
        ready = client.get("/ready")
        assert ready.status_code == 200
        assert ready.json()["checks"]["redis"] == "unavailable"
        # The in-process fallback still enforces the limit (8 requests per window).
        statuses = [client.get("/api/v1/devices").status_code for _ in range(8)]
        assert 429 in statuses
    finally:
        redis_server.start()
