"""ASGI middleware: metrics and access logs, then the gates that answer before routing."""

from __future__ import annotations

import logging
import os
import re
import time
from collections.abc import Callable, Iterable

from starlette.datastructures import MutableHeaders
from starlette.routing import compile_path
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from repairgpt.api.context import AppContext
from repairgpt.api.gates import (
    API_GATES,
    GateRequest,
    header,
    maintenance_gate,
    with_rate_headers,
)
from repairgpt.api.marks import Mark, RouteMarks
from repairgpt.api.problems import problem_response
from repairgpt.core.logging import request_id_var
from repairgpt.core.proxies import TrustedProxies, forwarded_client, parse_address

access_log = logging.getLogger("repairgpt.access")

UNMATCHED = "unmatched"
# An incoming X-Request-ID is kept when it looks like an id (a UUID, hex, a ULID...);
# anything else (too long, spaces, quotes, non-ASCII) is replaced by a fresh one.
REQUEST_ID = re.compile(r"[A-Za-z0-9._:-]{1,64}")


class RouteTemplates:
    """Maps a raw request path to its route template, e.g. /api/v1/guides/{guide_id}.

    Built from the app's route templates rather than from routing each request, so it also
    labels requests a gate answered before routing, and it keeps metric label cardinality
    bounded.
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


def request_id_of(scope: Scope) -> str:
    """The request's well-formed X-Request-ID, or a new random id."""
    incoming = header(scope, b"x-request-id")
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
            proto = header(scope, b"x-forwarded-proto")
            if proto in ("http", "https"):
                scope["scheme"] = proto
        await self.app(scope, receive, send)


class _HttpMiddleware:
    """Middleware of the app's HTTP requests; lifespan and websocket scopes pass through."""

    def __init__(
        self, app: ASGIApp, *, context: Callable[[], AppContext], routes: RouteMarks
    ) -> None:
        self.app = app
        self.context = context
        self.routes = routes

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        await self.handle(scope, receive, send)

    async def handle(self, scope: Scope, receive: Receive, send: Send) -> None:
        raise NotImplementedError


class ObservabilityMiddleware(_HttpMiddleware):
    """Counts and times every request by route template, and writes one access log line."""

    def __init__(
        self,
        app: ASGIApp,
        *,
        context: Callable[[], AppContext],
        templates: RouteTemplates,
        routes: RouteMarks,
    ) -> None:
        super().__init__(app, context=context, routes=routes)
        self.templates = templates

    async def handle(self, scope: Scope, receive: Receive, send: Send) -> None:
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
            quiet = status < 500 and self.routes.matches(Mark.QUIET, scope["path"])
            write_access_line(
                scope,
                status=status,
                request_id=request_id,
                endpoint=endpoint,
                seconds=elapsed,
                quiet=quiet,
            )


def write_access_line(
    scope: Scope, *, status: int, request_id: str, endpoint: str, seconds: float, quiet: bool
) -> None:
    """One line per request; `quiet` ones (probes and scrapes that did not fail) at DEBUG."""
    method, path = scope["method"], scope["path"]
    level = logging.DEBUG if quiet else logging.INFO
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


class GateMiddleware(_HttpMiddleware):
    """Runs the gates (see `gates`) in order; the first that answers ends the request."""

    async def handle(self, scope: Scope, receive: Receive, send: Send) -> None:
        request = GateRequest(scope, receive, self.context(), self.routes)
        gates = API_GATES if self.routes.is_api(request.path) else ()
        for gate in (maintenance_gate, *gates):
            answer = await gate(request)
            if answer is not None:
                await answer(scope, request.receive, send)
                return
        await self.app(scope, request.receive, with_rate_headers(send, request.rate_headers))
