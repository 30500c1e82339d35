"""Pure pieces of the API core: rate-limit windows, image sniffing, cache keys, negotiation."""

from __future__ import annotations

import asyncio

from repairgpt.api.problems import wants_html
from repairgpt.core.logging import scrub_secrets
from repairgpt.services.cache import InProcessTTLCache, RedisLink, SearchCache, search_cache_key
from repairgpt.services.ratelimit import RateLimiter, decide, window_at
from repairgpt.services.storage import sniff_image_type


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


def test_image_types_are_recognised_from_their_magic_bytes() -> None:
    assert sniff_image_type(b"\xff\xd8\xff\xe0\x00\x10JFIF").content_type == "image/jpeg"  # type: ignore[union-attr]
    assert sniff_image_type(b"\x89PNG\r\n\x1a\n\x00").extension == "png"  # type: ignore[union-attr]
    assert sniff_image_type(b"GIF89a....").content_type == "image/gif"  # type: ignore[union-attr]
    assert sniff_image_type(b"RIFF\x10\x00\x00\x00WEBPVP8 ").content_type == "image/webp"  # type: ignore[union-attr]
    assert sniff_image_type(b"RIFF\x10\x00\x00\x00WAVEfmt ") is None
    assert sniff_image_type(b"%PDF-1.7") is None
    assert sniff_image_type(b"") is None


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


def test_browsers_get_html_and_api_clients_get_json() -> None:
    assert wants_html("text/html,application/xhtml+xml,application/xml;q=0.9,*/*;q=0.8")
    assert not wants_html("application/json")
    assert not wants_html("*/*")
    assert not wants_html(None)
    assert not wants_html("application/problem+json, text/html;q=0.5")


def test_passwords_in_urls_are_scrubbed_from_log_text() -> None:
    line = "connect postgresql://app:pa55word@db:5432/x and redis://:r3d1s@cache:6379/0"
    assert (
        scrub_secrets(line)
        == "connect postgresql://app:***@db:5432/x and redis://:***@cache:6379/0"
    )
