"""Search-result cache in Redis with an in-process fallback, and the shared Redis link."""

from __future__ import annotations

import hashlib
import json
import logging
import time
from collections import OrderedDict
from collections.abc import Awaitable, Callable
from typing import TypeVar
from urllib.parse import parse_qsl

import redis.asyncio as aioredis
from redis.exceptions import RedisError

log = logging.getLogger(__name__)

T = TypeVar("T")


class RedisLink:
    """One Redis client plus a breaker: after a failure Redis is skipped for a short cool-down.

    Every caller has an in-process fallback, so a dead Redis costs one fast failure per
    cool-down instead of a timeout on every request.
    """

    def __init__(self, url: str | None, *, cooldown_seconds: float = 5.0) -> None:
        self.url = url
        self.cooldown_seconds = cooldown_seconds
        self._client: aioredis.Redis | None = None
        self._down_until = 0.0
        if url:
            self._client = aioredis.from_url(
                url,
                socket_connect_timeout=0.25,
                socket_timeout=0.5,
                retry_on_timeout=False,
            )

    @property
    def configured(self) -> bool:
        return self._client is not None

    @property
    def available(self) -> bool:
        return self._client is not None and time.monotonic() >= self._down_until

    async def run(self, operation: Callable[[aioredis.Redis], Awaitable[T]]) -> T | None:
        """Run an operation against Redis; None when Redis is absent, cooling down or failing."""
        if self._client is None or time.monotonic() < self._down_until:
            return None
        try:
            result = await operation(self._client)
        except (RedisError, OSError, TimeoutError) as exc:
            if time.monotonic() >= self._down_until:
                log.warning(
                    "redis unavailable, using in-process fallback",
                    extra={"error": type(exc).__name__, "cooldown_s": self.cooldown_seconds},
                )
            self._down_until = time.monotonic() + self.cooldown_seconds
            return None
        return result

    async def ping(self) -> str:
        """'ok', 'unavailable' or 'not configured' (ignores the breaker: readiness asks now)."""
        if self._client is None:
            return "not configured"
        try:
            await self._client.ping()
        except (RedisError, OSError, TimeoutError):
            self._down_until = time.monotonic() + self.cooldown_seconds
            return "unavailable"
        self._down_until = 0.0
        return "ok"

    async def close(self) -> None:
        if self._client is not None:
            await self._client.aclose()


class InProcessTTLCache:
    """A small LRU with per-entry expiry, used when Redis is absent or down."""

    def __init__(self, max_entries: int = 2048) -> None:
        self.max_entries = max_entries
        self._entries: OrderedDict[str, tuple[float, bytes]] = OrderedDict()

    def get(self, key: str) -> bytes | None:
        entry = self._entries.get(key)
        if entry is None:
            return None
        expires_at, value = entry
        if expires_at < time.monotonic():
            del self._entries[key]
            return None
        self._entries.move_to_end(key)
        return value

    def set(self, key: str, value: bytes, ttl_seconds: float) -> None:
        self._entries[key] = (time.monotonic() + ttl_seconds, value)
        self._entries.move_to_end(key)
        while len(self._entries) > self.max_entries:
            self._entries.popitem(last=False)


def search_cache_key(query_string: bytes, index_version: str) -> str:
    """Key of one search request: its query parameters in any order, plus the index version.

    Keyed on the raw parameters so a cached answer can be found before any validation; only
    valid requests ever store a body. The index version makes every guide edit a fresh key space.
    """
    pairs = sorted(parse_qsl(query_string.decode("latin-1"), keep_blank_values=True))
    canonical = json.dumps(pairs, ensure_ascii=False, separators=(",", ":"))
    digest = hashlib.sha256(canonical.encode()).hexdigest()[:32]
    return f"repairgpt:search:{index_version}:{digest}"


class SearchCache:
    """Cached search response bodies: Redis first, the in-process cache when Redis is not there."""

    def __init__(self, link: RedisLink, *, ttl_seconds: int) -> None:
        self.link = link
        self.ttl_seconds = ttl_seconds
        self.local = InProcessTTLCache()

    async def get(self, key: str) -> bytes | None:
        if self.ttl_seconds <= 0:
            return None
        if self.link.available:

            async def fetch(client: aioredis.Redis) -> bytes | None:
                value = await client.get(key)
                return value if isinstance(value, bytes) else None

            value = await self.link.run(fetch)
            if value is not None:
                return value
            if self.link.available:
                return None
        return self.local.get(key)

    async def set(self, key: str, value: bytes) -> None:
        if self.ttl_seconds <= 0:
            return
        if self.link.available:
            stored = await self.link.run(lambda client: client.set(key, value, ex=self.ttl_seconds))
            if stored is not None:
                return
        self.local.set(key, value, self.ttl_seconds)
