"""Search-result cache in Redis with an in-process fallback, and the shared Redis link."""

from __future__ import annotations

import asyncio
import hashlib
import json
import logging
import ssl
import time
from collections import OrderedDict, deque
from collections.abc import Awaitable, Callable, Sequence
from functools import lru_cache
from typing import Any, TypeVar, cast
from urllib.parse import parse_qs, parse_qsl, unquote, urlsplit

from redis.exceptions import ConnectionError as RedisConnectionError
from redis.exceptions import NoScriptError, RedisError, ResponseError
from redis.exceptions import TimeoutError as RedisTimeoutError

from repairgpt.core.cooldown import Cooldown

log = logging.getLogger(__name__)

T = TypeVar("T")

Arg = bytes | str | int | float
_INCOMPLETE: Any = object()


def pack_command(args: Sequence[Arg]) -> bytes:
    """One command in the Redis protocol (RESP): an array of bulk strings."""
    parts = [b"*%d\r\n" % len(args)]
    for arg in args:
        data = arg if isinstance(arg, bytes) else str(arg).encode()
        parts.append(b"$%d\r\n%s\r\n" % (len(data), data))
    return b"".join(parts)


def _reply_error(message: str) -> ResponseError:
    return NoScriptError(message) if message.startswith("NOSCRIPT") else ResponseError(message)


def parse_reply(buffer: bytes | bytearray, start: int) -> tuple[Any, int]:
    """One RESP2 reply at `start` and the offset after it; `_INCOMPLETE` if bytes are missing.

    Error replies come back as ResponseError values, not raised: the caller decides.
    """
    end = buffer.find(b"\r\n", start)
    if end < 0:
        return _INCOMPLETE, start
    kind, line, after = buffer[start], bytes(buffer[start + 1 : end]), end + 2
    if kind == 0x2B:  # + simple string
        return line, after
    if kind == 0x2D:  # - error
        return _reply_error(line.decode("utf-8", "replace")), after
    if kind == 0x3A:  # : integer
        return int(line), after
    if kind == 0x24:  # $ bulk string
        size = int(line)
        if size < 0:
            return None, after
        if len(buffer) < after + size + 2:
            return _INCOMPLETE, start
        return bytes(buffer[after : after + size]), after + size + 2
    if kind == 0x2A:  # * array
        count = int(line)
        if count < 0:
            return None, after
        items = []
        position = after
        for _ in range(count):
            item, position = parse_reply(buffer, position)
            if item is _INCOMPLETE:
                return _INCOMPLETE, start
            items.append(item)
        return items, position
    raise RedisConnectionError(f"unexpected Redis reply type {chr(kind)!r}")


class _RespConnection(asyncio.Protocol):
    """One connection; replies arrive in the order the commands were sent."""

    def __init__(self) -> None:
        self.transport: asyncio.Transport | None = None
        self.waiting: deque[asyncio.Future[Any]] = deque()
        self.buffer = bytearray()
        self.lost = False

    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        self.transport = cast(asyncio.Transport, transport)

    def data_received(self, data: bytes) -> None:
        buffer = self.buffer
        buffer += data
        position = 0
        try:
            while self.waiting:
                reply, after = parse_reply(buffer, position)
                if reply is _INCOMPLETE:
                    break
                position = after
                waiter = self.waiting.popleft()
                if waiter.done():  # its request was cancelled; the reply still takes its turn
                    continue
                if isinstance(reply, ResponseError):
                    waiter.set_exception(reply)
                else:
                    waiter.set_result(reply)
        except (ValueError, RedisError) as exc:
            self.abort(RedisConnectionError(f"unreadable Redis reply: {exc}"))
            return
        if position:
            del buffer[:position]

    def connection_lost(self, exc: Exception | None) -> None:
        self.lost = True
        self._fail(RedisConnectionError("Connection to Redis lost"))

    def _fail(self, error: Exception) -> None:
        while self.waiting:
            waiter = self.waiting.popleft()
            if not waiter.done():
                waiter.set_exception(error)

    def abort(self, error: Exception) -> None:
        """Drop the connection and fail every command still waiting for its reply."""
        self.lost = True
        self._fail(error)
        if self.transport is not None:
            self.transport.abort()


class PipelinedRedis:
    """A Redis client that sends every command on one connection without waiting for the
    replies to earlier ones (pipelining).

    Concurrent requests share the connection instead of taking turns over a pool, so a
    command costs one write and its share of a read. A reply that does not come within
    `reply_timeout` fails its command and drops the connection (the replies after it would be
    out of step); the next command connects again. Understands redis://, rediss:// and
    unix:// URLs with an optional password and database number.
    """

    def __init__(self, url: str, *, connect_timeout: float, reply_timeout: float) -> None:
        parts = urlsplit(url)
        if parts.scheme not in ("redis", "rediss", "unix"):
            raise ValueError(f"unsupported Redis URL scheme {parts.scheme!r}")
        query = parse_qs(parts.query)
        self.connect_timeout = connect_timeout
        self.reply_timeout = reply_timeout
        self._unix_path = parts.path if parts.scheme == "unix" else None
        self._host = parts.hostname or "localhost"
        self._port = parts.port or 6379
        self._tls = parts.scheme == "rediss"
        self._username = unquote(parts.username) if parts.username else None
        self._password = unquote(parts.password) if parts.password else None
        database = query.get("db", [""])[0]
        if not database and parts.scheme != "unix":
            database = parts.path.strip("/")
        self._database = int(database or 0)
        self._loop: asyncio.AbstractEventLoop | None = None
        self._connection: _RespConnection | None = None
        self._connecting: asyncio.Task[_RespConnection] | None = None

    async def execute(self, *args: Arg) -> Any:
        """Send one command and wait for its reply; raises RedisError, OSError or TimeoutError."""
        connection = self._connection
        if connection is None or connection.lost or self._loop is not asyncio.get_running_loop():
            connection = await self._connect()
        return await self._call(connection, pack_command(args))

    async def _call(self, connection: _RespConnection, payload: bytes) -> Any:
        loop = asyncio.get_running_loop()
        waiter: asyncio.Future[Any] = loop.create_future()
        connection.waiting.append(waiter)
        assert connection.transport is not None
        connection.transport.write(payload)
        timer = loop.call_later(self.reply_timeout, self._expire, connection, waiter)
        try:
            return await waiter
        finally:
            timer.cancel()

    @staticmethod
    def _expire(connection: _RespConnection, waiter: asyncio.Future[Any]) -> None:
        if not waiter.done():
            connection.abort(RedisTimeoutError("Timeout reading from Redis"))

    async def _connect(self) -> _RespConnection:
        loop = asyncio.get_running_loop()
        if self._loop is not loop:
            # First use, or a new event loop: what belonged to the old loop cannot be reused.
            self._loop, self._connection, self._connecting = loop, None, None
        task = self._connecting
        if task is None or (task.done() and (self._connection is None or self._connection.lost)):
            task = self._connecting = loop.create_task(self._open())
        # Shielded: one caller giving up must not abort the connection the others wait for.
        return await asyncio.shield(task)

    async def _open(self) -> _RespConnection:
        loop = asyncio.get_running_loop()
        connection: _RespConnection | None = None
        try:
            async with asyncio.timeout(self.connect_timeout):
                if self._unix_path is not None:
                    _, connection = await loop.create_unix_connection(
                        _RespConnection, self._unix_path
                    )
                else:
                    _, connection = await loop.create_connection(
                        _RespConnection,
                        self._host,
                        self._port,
                        ssl=ssl.create_default_context() if self._tls else None,
                    )
                if self._password is not None:
                    credentials = (
                        (self._username, self._password) if self._username else (self._password,)
                    )
                    await self._call(connection, pack_command(("AUTH", *credentials)))
                if self._database:
                    await self._call(connection, pack_command(("SELECT", self._database)))
        except BaseException:
            if connection is not None:
                connection.abort(RedisConnectionError("Redis connection setup failed"))
            raise
        self._connection = connection
        return connection

    async def aclose(self) -> None:
        connection, self._connection, self._connecting = self._connection, None, None
        if connection is not None and not connection.lost and connection.transport is not None:
            connection.lost = True
            connection.transport.close()


class RedisLink:
    """One pipelined Redis client plus a breaker: after a failure Redis is skipped for a short
    cool-down.

    Every caller has an in-process fallback, so a dead Redis costs one fast failure per
    cool-down instead of a timeout on every request.
    """

    def __init__(self, url: str | None, *, cooldown_seconds: float = 5.0) -> None:
        self.url = url
        self.cooldown = Cooldown(cooldown_seconds)
        self._client: PipelinedRedis | None = None
        if url:
            self._client = PipelinedRedis(url, connect_timeout=0.25, reply_timeout=0.5)

    @property
    def configured(self) -> bool:
        return self._client is not None

    @property
    def available(self) -> bool:
        return self._client is not None and not self.cooldown.active

    async def run(self, operation: Callable[[PipelinedRedis], Awaitable[T]]) -> T | None:
        """Run an operation against Redis; None when Redis is absent, cooling down or failing."""
        client = self._client
        if client is None or self.cooldown.active:
            return None
        try:
            result = await operation(client)
        except (RedisError, OSError, TimeoutError) as exc:
            if self.cooldown.failed():
                log.warning(
                    "redis unavailable, using in-process fallback",
                    extra={"error": type(exc).__name__, "cooldown_s": self.cooldown.seconds},
                )
            return None
        return result

    async def ping(self) -> str:
        """'ok', 'unavailable' or 'not configured' (ignores the breaker: readiness asks now)."""
        if self._client is None:
            return "not configured"
        try:
            await self._client.execute("PING")
        except (RedisError, OSError, TimeoutError):
            self.cooldown.failed()
            return "unavailable"
        self.cooldown.succeeded()
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


# Memoised: popular searches repeat, and parsing, sorting and hashing cost more than the lookup.
@lru_cache(maxsize=4096)
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

            async def fetch(client: PipelinedRedis) -> bytes | None:
                value = await client.execute("GET", key)
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
            stored = await self.link.run(
                lambda client: client.execute("SET", key, value, "EX", self.ttl_seconds)
            )
            if stored is not None:
                return
        self.local.set(key, value, self.ttl_seconds)
