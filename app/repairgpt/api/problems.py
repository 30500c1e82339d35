"""RFC 9457 problem details: the one shape of every error the API returns."""

from __future__ import annotations

import json
import logging
from http import HTTPStatus
from typing import Any, TypedDict, Unpack

from fastapi import FastAPI, Request
from fastapi.exceptions import HTTPException, RequestValidationError
from fastapi.responses import Response
from sqlalchemy.exc import DBAPIError, OperationalError
from starlette.exceptions import HTTPException as StarletteHTTPException

log = logging.getLogger(__name__)

PROBLEM_MEDIA_TYPE = "application/problem+json"
PROBLEM_BASE = "https://repairgpt.io/problems/"


def problem_type(slug: str) -> str:
    return PROBLEM_BASE + slug


class ProblemFields(TypedDict, total=False):
    """The members of a problem besides its status; see problem_body for their defaults."""

    detail: str | None
    title: str | None
    type_: str
    instance: str | None
    extensions: dict[str, Any] | None


def problem_body(
    *,
    status: int,
    detail: str | None = None,
    title: str | None = None,
    type_: str = "about:blank",
    instance: str | None = None,
    extensions: dict[str, Any] | None = None,
) -> dict[str, Any]:
    """The JSON object of a problem; `title` defaults to the HTTP reason phrase."""
    body: dict[str, Any] = {
        "type": type_,
        "title": title or HTTPStatus(status).phrase,
        "status": status,
        "detail": detail,
        "instance": instance,
    }
    if extensions:
        body.update(extensions)
    return body


def problem_response(
    *, status: int, headers: dict[str, str] | None = None, **fields: Unpack[ProblemFields]
) -> Response:
    """The problem as an application/problem+json response."""
    body = problem_body(status=status, **fields)
    return Response(
        content=json.dumps(body, ensure_ascii=False, default=str),
        status_code=status,
        media_type=PROBLEM_MEDIA_TYPE,
        headers=headers,
    )


class ProblemError(Exception):
    """Raised by routes and services-facing code to answer with a specific problem."""

    def __init__(
        self,
        status: int,
        detail: str,
        *,
        slug: str | None = None,
        title: str | None = None,
        headers: dict[str, str] | None = None,
        extensions: dict[str, Any] | None = None,
    ) -> None:
        super().__init__(detail)
        self.status = status
        self.detail = detail
        self.type_ = problem_type(slug) if slug else "about:blank"
        self.title = title
        self.headers = headers
        self.extensions = extensions


def bearer_token_refused(detail: str) -> ProblemError:
    """A 401 asking for a chat session's bearer token."""
    return ProblemError(
        401,
        detail,
        slug="invalid-token",
        headers={"WWW-Authenticate": 'Bearer realm="repairgpt"'},
    )


class UploadTooLarge(HTTPException):
    """An upload body that grew past the limit while it was being read.

    An HTTP exception, because FastAPI passes those through from body parsing (any other
    error there becomes a 400).
    """

    def __init__(self, limit: int) -> None:
        super().__init__(413, f"The file is larger than the limit of {limit} bytes.")


def wants_html(accept: str | None) -> bool:
    """True for browsers: they list text/html ahead of (or instead of) JSON."""
    if not accept:
        return False
    accept = accept.lower()
    if "text/html" not in accept:
        return False
    json_at = min(
        (
            accept.find(kind)
            for kind in ("application/json", "application/problem+json")
            if kind in accept
        ),
        default=-1,
    )
    return json_at == -1 or accept.find("text/html") < json_at


def _validation_errors(exc: RequestValidationError) -> list[dict[str, Any]]:
    # Keep location, message and type; echoing the input back could be huge or binary.
    return [
        {
            "loc": [str(part) for part in error.get("loc", ())],
            "msg": str(error.get("msg", "")),
            "type": str(error.get("type", "")),
        }
        for error in exc.errors()
    ]


async def _on_problem(request: Request, exc: Exception) -> Response:
    assert isinstance(exc, ProblemError)
    return problem_response(
        status=exc.status,
        detail=exc.detail,
        title=exc.title,
        type_=exc.type_,
        instance=request.url.path,
        headers=exc.headers,
        extensions=exc.extensions,
    )


async def _on_http_error(request: Request, exc: Exception) -> Response:
    assert isinstance(exc, StarletteHTTPException)
    phrase = HTTPStatus(exc.status_code).phrase
    detail = exc.detail if isinstance(exc.detail, str) and exc.detail != phrase else None
    if detail is None and exc.status_code == 404:
        detail = f"No resource at {request.url.path}."
    if detail is None and exc.status_code == 405:
        detail = f"{request.method} is not allowed on {request.url.path}."
    return problem_response(
        status=exc.status_code,
        detail=detail,
        instance=request.url.path,
        headers=dict(exc.headers) if exc.headers else None,
    )


async def _on_upload_too_large(request: Request, exc: Exception) -> Response:
    assert isinstance(exc, UploadTooLarge)
    # Closing the connection spares the server from reading the rest of the body.
    return problem_response(
        status=413,
        detail=exc.detail,
        type_=problem_type("upload-too-large"),
        instance=request.url.path,
        headers={"Connection": "close"},
    )


async def _on_validation_error(request: Request, exc: Exception) -> Response:
    assert isinstance(exc, RequestValidationError)
    errors = _validation_errors(exc)
    first = errors[0] if errors else {"loc": [], "msg": "invalid request"}
    location = ".".join(first["loc"])
    detail = f"{location}: {first['msg']}" if location else str(first["msg"])
    return problem_response(
        status=422,
        title="Invalid request",
        type_=problem_type("validation"),
        detail=detail,
        instance=request.url.path,
        extensions={"errors": errors},
    )


async def _on_database_error(request: Request, exc: Exception) -> Response:
    assert isinstance(exc, DBAPIError)
    # 25006 is PostgreSQL's read_only_sql_transaction: we are on a replica.
    read_only = getattr(exc.orig, "sqlstate", None) == "25006"
    if not read_only and not isinstance(exc, OperationalError):
        return await _on_unhandled(request, exc)
    log.warning(
        "database unavailable for request",
        extra={"path": request.url.path, "error": type(exc.orig).__name__},
    )
    detail = (
        "The database is read-only right now; writes are not accepted."
        if read_only
        else "The database is unavailable; try again shortly."
    )
    return problem_response(
        status=503,
        detail=detail,
        instance=request.url.path,
        type_=problem_type("read-only" if read_only else "database-unavailable"),
        headers={"Retry-After": "30"},
    )


async def _on_unhandled(request: Request, exc: Exception) -> Response:
    log.error(
        "unhandled error",
        exc_info=exc,
        extra={"path": request.url.path, "method": request.method},
    )
    return problem_response(
        status=500,
        detail="An unexpected error occurred; it has been logged.",
        instance=request.url.path,
    )


def install_problem_handlers(app: FastAPI) -> None:
    """Turn every error (routing, validation, database, unhandled) into problem+json."""
    app.add_exception_handler(ProblemError, _on_problem)
    app.add_exception_handler(StarletteHTTPException, _on_http_error)
    app.add_exception_handler(UploadTooLarge, _on_upload_too_large)
    app.add_exception_handler(RequestValidationError, _on_validation_error)
    app.add_exception_handler(DBAPIError, _on_database_error)
    app.add_exception_handler(Exception, _on_unhandled)
