"""The gates that answer a request before routing, one per concern, in the order they run.

Each gate looks at a `GateRequest` and either returns the answer to send, or None to let the
request through (possibly after adjusting it: the upload gate caps the body it reads).
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field

from starlette.datastructures import MutableHeaders
from starlette.responses import HTMLResponse
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from repairgpt.api.context import AppContext
from repairgpt.api.marks import Mark, RouteMarks
from repairgpt.api.problems import UploadTooLarge, problem_response, problem_type, wants_html
from repairgpt.services.cache import search_cache_key
from repairgpt.services.ratelimit import NOT_FETCHED, Prefetch
from repairgpt.web.page import (
    ASSET_PREFIX,
    MAINTENANCE_CACHE_CONTROL,
    PAGE_HEADERS,
    language_from_headers,
    render_maintenance_page,
)

WRITE_METHODS = frozenset({"POST", "PUT", "PATCH", "DELETE"})
MULTIPART_ALLOWANCE = 64 * 1024  # form boundaries and headers around the file itself


def header(scope: Scope, name: bytes) -> str | None:
    """The first value of a request header (`name` in lowercase, as ASGI servers give it)."""
    for key, value in scope["headers"]:
        if key == name:
            return str(value.decode("latin-1"))
    return None


@dataclass
class GateRequest:
    """A request on its way through the gates, with what earlier gates learned about it."""

    scope: Scope
    receive: Receive
    context: AppContext
    routes: RouteMarks
    # Set by the rate-limit gate: the headers every answer carries.
    rate_headers: dict[str, str] = field(default_factory=dict)
    # Set when the request is a cacheable guide search; the limiter may fetch its entry too.
    search_key: str | None = None
    prefetched: Prefetch = NOT_FETCHED

    @property
    def path(self) -> str:
        return str(self.scope["path"])

    @property
    def method(self) -> str:
        return str(self.scope["method"])


Gate = Callable[[GateRequest], Awaitable[ASGIApp | None]]


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


async def maintenance_gate(request: GateRequest) -> ASGIApp | None:
    """In maintenance mode, everything but probes, metrics and the page's assets gets a 503."""
    settings = request.context.settings
    # The page's stylesheet stays reachable: the maintenance page is drawn with it.
    path = request.path
    if not settings.maintenance_mode or path.startswith(ASSET_PREFIX):
        return None
    if request.routes.matches(Mark.ALWAYS_OPEN, path):
        return None
    retry_after = str(settings.retry_after_seconds)
    scope = request.scope
    if wants_html(header(scope, b"accept")):
        language = language_from_headers(
            header(scope, b"accept-language"), header(scope, b"cookie")
        )
        return HTMLResponse(
            render_maintenance_page(language, settings.maintenance_message),
            status_code=503,
            headers={
                **PAGE_HEADERS,
                "Retry-After": retry_after,
                "Content-Language": language,
                "Cache-Control": MAINTENANCE_CACHE_CONTROL,
            },
        )
    return problem_response(
        status=503,
        title="Under maintenance",
        detail=settings.maintenance_message,
        type_=problem_type("maintenance"),
        instance=path,
        headers={"Retry-After": retry_after},
    )


async def rate_limit_gate(request: GateRequest) -> ASGIApp | None:
    """Counts the request against its client's window; a 429 past the limit.

    A repeated guide search is answered from the cache further on, before validation and
    routing; its cache entry is fetched in the same round trip as the count.
    """
    context = request.context
    if (
        request.method == "GET"
        and context.search_cache.ttl_seconds > 0
        and request.routes.matches(Mark.CACHED_SEARCH, request.path)
    ):
        request.search_key = search_cache_key(
            request.scope["query_string"], context.catalog.snapshot.version
        )
    limiter = context.rate_limiter
    if not limiter.enabled:
        return None
    client = request.scope.get("client")
    decision, request.prefetched = await limiter.hit_and_fetch(
        client[0] if client else "unknown", request.search_key
    )
    request.rate_headers = {
        "X-RateLimit-Limit": str(decision.limit),
        "X-RateLimit-Remaining": str(decision.remaining),
        "X-RateLimit-Reset": str(decision.retry_after),
    }
    if decision.allowed:
        return None
    return problem_response(
        status=429,
        detail=(
            f"Rate limit of {decision.limit} requests per {limiter.window_seconds} s exceeded; "
            f"retry in {decision.retry_after} s."
        ),
        type_=problem_type("rate-limited"),
        instance=request.path,
        headers={**request.rate_headers, "Retry-After": str(decision.retry_after)},
    )


async def read_only_gate(request: GateRequest) -> ASGIApp | None:
    """In read-only mode, writes get a 503, except chat answers (which then are not saved)."""
    settings = request.context.settings
    if not settings.read_only_mode or request.method not in WRITE_METHODS:
        return None
    if request.routes.matches(Mark.ANSWERS_WHEN_READ_ONLY, request.path):
        return None
    return problem_response(
        status=503,
        title="Read-only mode",
        detail=(
            "RepairGPT is running in read-only mode (the primary database is "
            "unavailable); writes are refused until it is back."
        ),
        type_=problem_type("read-only"),
        instance=request.path,
        headers={"Retry-After": str(settings.retry_after_seconds)},
    )


async def search_cache_gate(request: GateRequest) -> ASGIApp | None:
    """A cached guide search, answered as stored.

    The route stores only valid responses, keyed on the raw query and the index version, so
    a hit is exactly what the route would have answered.
    """
    if request.search_key is None:
        return None
    prefetched = request.prefetched
    if prefetched.done:
        body = prefetched.value
    else:
        body = await request.context.search_cache.get(request.search_key)
    if body is None:
        return None
    headers = [
        (b"content-type", b"application/json"),
        (b"content-length", str(len(body)).encode()),
        (b"x-cache", b"hit"),
        *((name.lower().encode(), value.encode()) for name, value in request.rate_headers.items()),
    ]

    async def cached(_scope: Scope, _receive: Receive, send: Send) -> None:
        await send({"type": "http.response.start", "status": 200, "headers": headers})
        await send({"type": "http.response.body", "body": body})

    return cached


async def upload_size_gate(request: GateRequest) -> ASGIApp | None:
    """Uploads that declare more bytes than the limit get a 413; the others are counted."""
    if request.method != "POST" or not request.routes.matches(Mark.UPLOAD, request.path):
        return None
    limit = request.context.settings.upload_max_bytes
    cap = limit + MULTIPART_ALLOWANCE
    # A body without Content-Length (chunked) is counted while it streams in.
    request.receive = capped_receive(request.receive, cap=cap, limit=limit)
    declared = header(request.scope, b"content-length")
    if not (declared and declared.isdigit() and int(declared) > cap):
        return None
    return problem_response(
        status=413,
        detail=f"The file is larger than the limit of {limit} bytes.",
        type_=problem_type("upload-too-large"),
        instance=request.path,
    )


# Maintenance applies to every path; the other gates only to the API.
API_GATES: tuple[Gate, ...] = (rate_limit_gate, read_only_gate, search_cache_gate, upload_size_gate)


def with_rate_headers(send: Send, rate_headers: dict[str, str]) -> Send:
    """`send` that adds the rate-limit headers to the response."""
    if not rate_headers:
        return send

    async def send_with_limits(message: Message) -> None:
        if message["type"] == "http.response.start":
            response_headers = MutableHeaders(scope=message)
            for name, value in rate_headers.items():
                response_headers.append(name, value)
        await send(message)

    return send_with_limits
