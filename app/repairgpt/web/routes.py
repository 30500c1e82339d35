"""Routes of the chat page: `/` in the reader's language, and its assets under /assets/."""

from __future__ import annotations

from typing import Any

from fastapi import APIRouter, Request, Response
from fastapi.responses import HTMLResponse

from repairgpt.api.deps import ContextDep
from repairgpt.api.problems import ProblemError
from repairgpt.core.config import Settings
from repairgpt.schemas import ChatMessageCreate
from repairgpt.services.storage import accepted_image_types
from repairgpt.web.page import (
    ASSET_PREFIX,
    LANGUAGE_COOKIE,
    PAGE_HEADERS,
    assets,
    build_id,
    choose_language,
    render_page,
)

PAGE_PATH = "/"
ASSET_PATH = ASSET_PREFIX + "{build}/{name:path}"
# The page's route templates, for metric labels (the routes are not in the OpenAPI schema).
PAGE_PATHS = (PAGE_PATH, ASSET_PATH)

# Asset URLs carry the build id: one that matches is never stale.
CACHE_FOREVER = "public, max-age=31536000, immutable"
CACHE_REVALIDATE = "no-cache"


def _question_limit() -> int:
    """The longest question the chat API accepts, read from its schema."""
    limits = [
        getattr(rule, "max_length", None)
        for rule in ChatMessageCreate.model_fields["content"].metadata
    ]
    return min(limit for limit in limits if isinstance(limit, int))


def page_config(settings: Settings, api_prefix: str) -> dict[str, Any]:
    """What the page needs from the server's settings (limits and modes), never duplicated."""
    return {
        "api": api_prefix,
        "uploadMaxBytes": settings.upload_max_bytes,
        "uploadTypes": accepted_image_types(),
        "questionMaxLength": _question_limit(),
        "readOnly": settings.read_only_mode,
    }


def language_of(request: Request) -> str:
    return choose_language(
        request.headers.get("accept-language"), request.cookies.get(LANGUAGE_COOKIE)
    )


async def _asset(build: str, name: str) -> Response:
    found = assets().get(name)
    if found is None:
        raise ProblemError(404, f"No asset {name}.", slug="not-found")
    cache = CACHE_FOREVER if build == build_id() else CACHE_REVALIDATE
    return Response(
        found.body,
        media_type=found.media_type,
        headers={"Cache-Control": cache, "X-Content-Type-Options": "nosniff"},
    )


def build_page_router(api_prefix: str) -> APIRouter:
    """The page at `/` (calling the API under `api_prefix`) and its assets."""
    router = APIRouter(include_in_schema=False)
    build_id()  # reads and digests the assets now, not on the first reader's request

    # Both routes only read memory: they run on the event loop, not in worker threads.
    @router.get(PAGE_PATH, response_class=HTMLResponse)
    async def chat_page(request: Request, context: ContextDep) -> HTMLResponse:
        language = language_of(request)
        return HTMLResponse(
            render_page(language, page_config(context.settings, api_prefix)),
            headers={
                **PAGE_HEADERS,
                "Cache-Control": CACHE_REVALIDATE,
                "Vary": "Accept-Language, Cookie",
                "Content-Language": language,
            },
        )

    router.add_api_route(ASSET_PATH, _asset, methods=["GET"])
    return router
