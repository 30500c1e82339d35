"""Search cache keys, and the in-process cache that stands in for Redis."""

from __future__ import annotations

import asyncio

from repairgpt.services.cache import InProcessTTLCache, RedisLink, SearchCache, search_cache_key


def test_cache_keys_change_with_the_index_version_and_not_with_parameter_order() -> None:
    a = search_cache_key(b"q=fan&limit=5", "v1")
    assert a == search_cache_key(b"limit=5&q=fan", "v1")
    assert a != search_cache_key(b"q=fan&limit=5", "v2")
    assert a != search_cache_key(b"q=fans&limit=5", "v1")
    assert search_cache_key(b"q=%E9%9B%BB%E6%B1%A0", "v1") != search_cache_key(b"q=", "v1")


def test_the_in_process_cache_expires_and_evicts() -> None:
    cache = InProcessTTLCache(max_entries=2)
    cache.set("a", b"1", ttl_seconds=60)
    cache.set("b", b"2", ttl_seconds=-1)
    assert cache.get("a") == b"1" and cache.get("b") is None
    cache.set("c", b"3", 60)
    cache.set("d", b"4", 60)
    assert cache.get("a") is None and cache.get("d") == b"4"


def test_without_redis_the_search_cache_lives_in_process() -> None:
    cache = SearchCache(RedisLink(None), ttl_seconds=60)
    asyncio.run(cache.set("k", b"body"))
    assert asyncio.run(cache.get("k")) == b"body"
    assert asyncio.run(SearchCache(RedisLink(None), ttl_seconds=0).get("k")) is None
