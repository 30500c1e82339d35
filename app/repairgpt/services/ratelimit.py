"""Fixed-window rate limiting per client, counted in Redis or, when Redis is down, in-process."""

from __future__ import annotations

import hashlib
import time
from dataclasses import dataclass

from redis.exceptions import NoScriptError

from repairgpt.services.cache import Arg, PipelinedRedis, RedisLink


@dataclass(frozen=True)
class Window:
    """The fixed window a moment falls into."""

    start: int
    resets_in: int


@dataclass(frozen=True)
class Decision:
    allowed: bool
    limit: int
    remaining: int
    retry_after: int  # seconds until the window resets


@dataclass(frozen=True)
class Prefetch:
    """A value read from Redis in the rate-limit round trip; `done` is False if it was not."""

    done: bool
    value: bytes | None = None


NOT_FETCHED = Prefetch(done=False)


def window_at(now: float, window_seconds: int) -> Window:
    start = int(now // window_seconds) * window_seconds
    return Window(start=start, resets_in=max(1, int(start + window_seconds - now + 0.999)))


def decide(count: int, *, limit: int, window: Window) -> Decision:
    """Whether the `count`-th request of a window is allowed under `limit`."""
    return Decision(
        allowed=count <= limit,
        limit=limit,
        remaining=max(0, limit - count),
        retry_after=window.resets_in,
    )


class InProcessCounter:
    """Per-window counters in this process; stale windows are dropped as time moves on."""

    def __init__(self) -> None:
        self._window_start = -1
        self._counts: dict[str, int] = {}

    def increment(self, client: str, window: Window) -> int:
        if window.start != self._window_start:
            self._window_start = window.start
            self._counts = {}
        count = self._counts.get(client, 0) + 1
        self._counts[client] = count
        return count


# One round trip per request: count it, start the window's expiry on its first request, and
# read the cached search body the gate may answer with. Loaded on first use.
COUNT_AND_FETCH = """
local n = redis.call('INCR', KEYS[1])
if n == 1 then redis.call('EXPIRE', KEYS[1], ARGV[1]) end
if #KEYS > 1 then return {n, redis.call('GET', KEYS[2])} end
return {n}
"""


class RateLimiter:
    """`limit` requests per `window_seconds` per client; the count lives in Redis when it can."""

    def __init__(self, link: RedisLink, *, limit: int, window_seconds: int) -> None:
        self.link = link
        self.limit = limit
        self.window_seconds = window_seconds
        self.local = InProcessCounter()
        self._sha: str | None = None

    def _script_sha(self) -> str:
        if self._sha is None:
            self._sha = hashlib.sha1(COUNT_AND_FETCH.encode()).hexdigest()
        return self._sha

    @property
    def enabled(self) -> bool:
        return self.limit > 0

    async def hit(self, client: str, *, now: float | None = None) -> Decision:
        decision, _ = await self.hit_and_fetch(client, None, now=now)
        return decision

    async def hit_and_fetch(
        self, client: str, fetch_key: str | None, *, now: float | None = None
    ) -> tuple[Decision, Prefetch]:
        """Count a request and, in the same Redis round trip, read `fetch_key` (a cached body)."""
        window = window_at(time.time() if now is None else now, self.window_seconds)
        key = f"repairgpt:ratelimit:{window.start}:{client}"
        expire = self.window_seconds + 1

        async def count_in_redis(redis_client: PipelinedRedis) -> tuple[int, bytes | None]:
            keys = [key] if fetch_key is None else [key, fetch_key]
            command: tuple[Arg, ...] = ("EVALSHA", self._script_sha(), len(keys), *keys, expire)
            try:
                result = await redis_client.execute(*command)
            except NoScriptError:  # a fresh or restarted Redis: load the script, then retry
                await redis_client.execute("SCRIPT", "LOAD", COUNT_AND_FETCH)
                result = await redis_client.execute(*command)
            value = result[1] if len(result) > 1 else None
            return int(result[0]), value if isinstance(value, bytes) else None

        outcome = await self.link.run(count_in_redis)
        if outcome is None:
            count = self.local.increment(client, window)
            return decide(count, limit=self.limit, window=window), NOT_FETCHED
        count, value = outcome
        fetched = Prefetch(done=fetch_key is not None, value=value)
        return decide(count, limit=self.limit, window=window), fetched
