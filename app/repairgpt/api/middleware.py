"""ASGI middleware: metrics and access logs, then the gates that answer before routing."""

from __future__ import annotations

import logging
import os
import re
import time
from collections.abc import Callable, Iterable

from starlette.datastructures import MutableHeaders
from starlette.responses import HTMLResponse
from starlette.routing import compile_path
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from repairgpt.api.context import AppContext
from repairgpt.api.problems import (
    UploadTooLarge,
    problem_response,
    problem_type,
    wants_html,
)
from repairgpt.core.logging import request_id_var
from repairgpt.core.proxies import TrustedProxies, forwarded_client, parse_address
from repairgpt.services.cache import search_cache_key
from repairgpt.services.ratelimit import NOT_FETCHED
from repairgpt.web.page import (
    ASSET_PREFIX,
    MAINTENANCE_CACHE_CONTROL,
    PAGE_HEADERS,
    language_from_headers,
    render_maintenance_page,
)

access_log = logging.getLogger("repairgpt.access")

ALWAYS_OPEN = frozenset({"/health", "/metrics"})
QUIET_PATHS = frozenset({"/health", "/ready", "/metrics"})
WRITE_METHODS = frozenset({"POST", "PUT", "PATCH", "DELETE"})
# Chat answers keep working in read-only mode; they just are not saved.
CHAT_MESSAGE_PATH = re.compile(r"^/api/v1/chat/sessions/[^/]+/messages(?:/stream)?/?$")
# Image uploads: a chat photo, or a guide step image (admin).
UPLOAD_PATH = re.compile(r"^/api/v1/(?:uploads|guides/\d+/steps/\d+/images)/?$")
MULTIPART_ALLOWANCE = 64 * 1024  # form boundaries and headers around the file itself
UNMATCHED = "unmatched"
# An incoming X-Request-ID is kept when it looks like an id (a UUID, hex, a ULID...);
# anything else (too long, spaces, quotes, non-ASCII) is replaced by a fresh one.
REQUEST_ID = re.compile(r"[A-Za-z0-9._:-]{1,64}")
SEARCH_PATH = "/api/v1/guides"


class RouteTemplates:
    """Maps a raw request path to its route template, e.g. /api/v1/guides/{guide_id}.

    Built from the OpenAPI paths rather than router internals, so it also labels requests a
    gate answered before routing, and it keeps metric label cardinality bounded.
    """

    def __init__(self, templates: Callable[[], Iterable[str]], *, cache_size: int = 4096) -> None:
        self._templates = templates
        self._compiled: list[tuple[re.Pattern[str], str]] | None = None
        self._cache: dict[str, str] = {}
        self._cache_size = cache_size

    def _compile(self) -> list[tuple[re.Pattern[str], str]]:
        templates = sorted(set(self._templates()), key=lambda t: (t.count("{"), -len(t)))
        return [(compile_path(template)[0], template) for template in templates]

    def match(self, path: str) -> str:
        found = self._cache.get(path)
        if found is not None:
            return found
        if self._compiled is None:
            self._compiled = self._compile()
        template = next((t for regex, t in self._compiled if regex.match(path)), UNMATCHED)
        if len(self._cache) >= self._cache_size:
            self._cache.clear()
        self._cache[path] = template
        return template


def _header(scope: Scope, name: bytes) -> str | None:
    """The first value of a request header (`name` in lowercase, as ASGI servers give it)."""
    for key, value in scope["headers"]:
        if key == name:
            return str(value.decode("latin-1"))
    return None


def request_id_of(scope: Scope) -> str:
    """The request's well-formed X-Request-ID, or a new random id."""
    incoming = _header(scope, b"x-request-id")
    if incoming is not None and REQUEST_ID.fullmatch(incoming):
        return incoming
    return os.urandom(16).hex()


def _header_values(scope: Scope, name: bytes) -> str | None:
    """Every value of a repeated request header, joined with commas as HTTP allows."""
    values = [value.decode("latin-1") for key, value in scope["headers"] if key == name]
    return ", ".join(values) if values else None


class ClientAddressMiddleware:
    """Puts the real client address into the request, for rate limits and logs.

    Behind a trusted proxy (TRUSTED_PROXIES) the client comes from X-Forwarded-For and the
    scheme from X-Forwarded-Proto; from any other peer both headers are ignored.
    """

    def __init__(self, app: ASGIApp, *, trusted: TrustedProxies) -> None:
        self.app = app
        self.trusted = trusted

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        peer = scope.get("client")
        if scope["type"] == "http" and peer and self.trusted.trusts_peer(parse_address(peer[0])):
            forwarded_for = _header_values(scope, b"x-forwarded-for")
            client = forwarded_client(peer[0], forwarded_for, self.trusted)
            if client != peer[0]:
                scope["client"] = (client, 0)
            proto = _header(scope, b"x-forwarded-proto")
            if proto in ("http", "https"):
                scope["scheme"] = proto
        await self.app(scope, receive, send)


class ObservabilityMiddleware:
    """Counts and times every request by route template, and writes one access log line."""

    def __init__(
        self, app: ASGIApp, *, context: Callable[[], AppContext], templates: RouteTemplates
    ) -> None:
        self.app = app
        self.context = context
        self.templates = templates

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        started = time.perf_counter()
        request_id = request_id_of(scope)
        # Not reset afterwards: each request runs in a task of its own, and the error handler
        # outside this middleware logs unhandled errors after it returns.
        request_id_var.set(request_id)
        status = 500
        response_started = False

        async def send_with_id(message: Message) -> None:
            nonlocal status, response_started
            if message["type"] == "http.response.start":
                status = message["status"]
                response_started = True
                headers = MutableHeaders(scope=message)
                headers.append("X-Request-ID", request_id)
                cache = headers.get("x-cache")
                if cache in ("hit", "miss"):
                    self.context().metrics.count_search(cache)
            await send(message)

        try:
            await self.app(scope, receive, send_with_id)
        except Exception:
            if not response_started:
                # Answered here so that even this 500 carries the request id; the app's error
                # handler outside still logs the error.
                response = problem_response(
                    status=500,
                    detail="An unexpected error occurred; it has been logged.",
                    instance=scope["path"],
                )
                await response(scope, receive, send_with_id)
            raise
        finally:
            elapsed = time.perf_counter() - started
            endpoint = self.templates.match(scope["path"])
            method = scope["method"]
            self.context().metrics.observe(
                method=method, endpoint=endpoint, status=status, seconds=elapsed
            )
            write_access_line(
                scope, status=status, request_id=request_id, endpoint=endpoint, seconds=elapsed
            )


def write_access_line(
    scope: Scope, *, status: int, request_id: str, endpoint: str, seconds: float
) -> None:
    """One line per request; probes and scrapes at DEBUG unless they failed."""
    method, path = scope["method"], scope["path"]
    level = logging.DEBUG if path in QUIET_PATHS and status < 500 else logging.INFO
    if not access_log.isEnabledFor(level):
        return
    client = scope.get("client")
    # The record is built directly: Logger.log would also walk the stack to find the calling
    # line, which no access line shows.
    record = access_log.makeRecord(
        access_log.name,
        level,
        __file__,
        0,
        "%s %s %s",
        (method, path, status),
        None,
        extra={
            "request_id": request_id,
            "method": method,
            "path": path,
            "endpoint": endpoint,
            "status": status,
            "duration_ms": round(seconds * 1000, 2),
            "client": client[0] if client else None,
        },
    )
    access_log.handle(record)


def capped_receive(receive: Receive, *, cap: int, limit: int) -> Receive:
    """`receive` that raises UploadTooLarge as soon as the body passes `cap` bytes.

    The request stops being read there: the rest is never spooled to memory or disk.
    """
    received = 0

    async def receive_capped() -> Message:
        nonlocal received
        message = await receive()
        if message["type"] == "http.request":
            received += len(message.get("body", b""))
            if received > cap:
                raise UploadTooLarge(limit)
        return message

    return receive_capped


class GateMiddleware:
    """Answers early: maintenance mode, rate limits, read-only mode, cached searches, and
    uploads that declare, or stream, more bytes than the limit."""

    def __init__(self, app: ASGIApp, *, context: Callable[[], AppContext]) -> None:
        self.app = app
        self.context = context

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        context = self.context()
        settings = context.settings
        path: str = scope["path"]
        method: str = scope["method"]
        retry_after = str(settings.retry_after_seconds)

        # The page's stylesheet stays reachable: the maintenance page is drawn with it.
        open_path = path in ALWAYS_OPEN or path.startswith(ASSET_PREFIX)
        if settings.maintenance_mode and not open_path:
            if wants_html(_header(scope, b"accept")):
                language = language_from_headers(
                    _header(scope, b"accept-language"), _header(scope, b"cookie")
                )
                page = HTMLResponse(
                    render_maintenance_page(language, settings.maintenance_message),
                    status_code=503,
                    headers={
                        **PAGE_HEADERS,
                        "Retry-After": retry_after,
                        "Content-Language": language,
                        "Cache-Control": MAINTENANCE_CACHE_CONTROL,
                    },
                )
                await page(scope, receive, send)
                return
            response = problem_response(
                status=503,
                title="Under maintenance",
                detail=settings.maintenance_message,
                type_=problem_type("maintenance"),
                instance=path,
                headers={"Retry-After": retry_after},
            )
            await response(scope, receive, send)
            return

        if not path.startswith("/api/"):
            await self.app(scope, receive, send)
            return

        # A repeated guide search is answered from the cache right here, before validation and
        # routing; the route stores only valid responses, keyed on the raw query and the
        # index version, so a hit is exactly what the route would have answered.
        search_key = None
        if method == "GET" and path == SEARCH_PATH and context.search_cache.ttl_seconds > 0:
            search_key = search_cache_key(scope["query_string"], context.catalog.snapshot.version)
        prefetched = NOT_FETCHED

        rate_headers: dict[str, str] = {}
        if context.limiter.enabled:
            client = scope.get("client")
            decision, prefetched = await context.limiter.hit_and_fetch(
                client[0] if client else "unknown", search_key
            )
            rate_headers = {
                "X-RateLimit-Limit": str(decision.limit),
                "X-RateLimit-Remaining": str(decision.remaining),
                "X-RateLimit-Reset": str(decision.retry_after),
            }
            if not decision.allowed:
                response = problem_response(
                    status=429,
                    detail=(
                        f"Rate limit of {decision.limit} requests per "
                        f"{context.limiter.window_seconds} s exceeded; retry in "
                        f"{decision.retry_after} s."
                    ),
                    type_=problem_type("rate-limited"),
                    instance=path,
                    headers={**rate_headers, "Retry-After": str(decision.retry_after)},
                )
                await response(scope, receive, send)
                return

        if (
            settings.read_only_mode
            and method in WRITE_METHODS
            and not CHAT_MESSAGE_PATH.match(path)
        ):
            response = problem_response(
                status=503,
                title="Read-only mode",
                detail=(
                    "RepairGPT is running in read-only mode (the primary database is "
                    "unavailable); writes are refused until it is back."
                ),
                type_=problem_type("read-only"),
                instance=path,
                headers={"Retry-After": retry_after},
            )
            await response(scope, receive, send)
            return

        if search_key is not None:
            body = (
                prefetched.value if prefetched.done else await context.search_cache.get(search_key)
            )
            if body is not None:
                headers_out = [
                    (b"content-type", b"application/json"),
                    (b"content-length", str(len(body)).encode()),
                    (b"x-cache", b"hit"),
                    *(
                        (name.lower().encode(), value.encode())
                        for name, value in rate_headers.items()
                    ),
                ]
                await send({"type": "http.response.start", "status": 200, "headers": headers_out})
                await send({"type": "http.response.body", "body": body})
                return

        if method == "POST" and UPLOAD_PATH.match(path):
            declared = _header(scope, b"content-length")
            limit = settings.upload_max_bytes + MULTIPART_ALLOWANCE
            # A body without Content-Length (chunked) is counted while it streams in.
            receive = capped_receive(receive, cap=limit, limit=settings.upload_max_bytes)
            if declared and declared.isdigit() and int(declared) > limit:
                response = problem_response(
                    status=413,
                    detail=(
                        f"The file is larger than the limit of {settings.upload_max_bytes} bytes."
                    ),
                    type_=problem_type("upload-too-large"),
                    instance=path,
                )
                await response(scope, receive, send)
                return

        if not rate_headers:
            await self.app(scope, receive, send)
            return

        async def send_with_limits(message: Message) -> None:
            if message["type"] == "http.response.start":
                response_headers = MutableHeaders(scope=message)
                for name, value in rate_headers.items():
                    response_headers.append(name, value)
            await send(message)

        await self.app(scope, receive, send_with_limits)
