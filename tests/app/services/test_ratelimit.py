"""Rate-limit windows, and the in-process limiter that stands in for Redis."""

from __future__ import annotations

import asyncio

from repairgpt.services.cache import RedisLink
from repairgpt.services.ratelimit import RateLimiter, decide, window_at


def test_a_window_resets_at_its_boundary() -> None:
    window = window_at(125.2, 60)
    assert window.start == 120 and window.resets_in == 55
    assert decide(3, limit=3, window=window).allowed
    refused = decide(4, limit=3, window=window)
    assert not refused.allowed and refused.remaining == 0 and refused.retry_after == 55


def test_the_in_process_limiter_counts_per_client_and_per_window() -> None:
    limiter = RateLimiter(RedisLink(None), limit=2, window_seconds=60)
    run = asyncio.run
    assert [run(limiter.hit("a", now=10)).allowed for _ in range(3)] == [True, True, False]
    assert run(limiter.hit("b", now=10)).allowed
    assert run(limiter.hit("a", now=61)).allowed  # a new window
