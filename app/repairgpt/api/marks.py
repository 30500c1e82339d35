"""Marks on route endpoints that tell the gates which routes they treat differently.

The gates answer before routing, so they find the paths of marked routes in the app's routes
(`RouteMarks`) instead of keeping their own copies of those paths.
"""

from __future__ import annotations

import re
from collections.abc import Callable, Iterable
from enum import Enum
from typing import Any, TypeVar

from starlette.routing import BaseRoute

Endpoint = TypeVar("Endpoint", bound=Callable[..., Any])


class Mark(Enum):
    # Answers even in maintenance mode: liveness and metrics.
    ALWAYS_OPEN = "always-open"
    # Probes and scrapes: their access lines are logged at DEBUG unless they failed.
    QUIET = "quiet"
    # Keeps answering in read-only mode (chat answers, which then are not saved).
    ANSWERS_WHEN_READ_ONLY = "answers-when-read-only"
    # Takes an image upload: its body is capped at the upload limit while it streams in.
    UPLOAD = "upload"
    # The guide search whose repeated GETs the search cache answers before routing.
    CACHED_SEARCH = "cached-search"


# Marks whose routes also match with one trailing slash, as clients may send it.
_SLASH_TOLERANT = frozenset({Mark.ANSWERS_WHEN_READ_ONLY, Mark.UPLOAD})
_MARKED: dict[Callable[..., Any], frozenset[Mark]] = {}


def mark(*marks: Mark) -> Callable[[Endpoint], Endpoint]:
    """Decorate an endpoint with gate marks (below its route decorator)."""

    def marked(endpoint: Endpoint) -> Endpoint:
        _MARKED[endpoint] = _MARKED.get(endpoint, frozenset()) | frozenset(marks)
        return endpoint

    return marked


def _flattened(routes: Iterable[BaseRoute]) -> Iterable[Any]:
    """Every route with its full path, also where FastAPI keeps included routers nested."""
    try:
        from fastapi.routing import iter_route_contexts
    except ImportError:  # FastAPI before 0.165 lists included routes flat
        return routes
    return iter_route_contexts(list(routes))


def route_paths(routes: Iterable[BaseRoute]) -> list[str]:
    """The path template of every route, e.g. /api/v1/guides/{guide_id}."""
    return [path for route in _flattened(routes) if (path := getattr(route, "path", None))]


class RouteMarks:
    """The path patterns of the marked routes, read from the app's routes on first use."""

    def __init__(self, routes: Callable[[], Iterable[BaseRoute]], *, api_root: str) -> None:
        self._routes = routes
        self._api_root = api_root.rstrip("/") + "/"
        self._patterns: dict[Mark, list[re.Pattern[str]]] | None = None

    def _compile(self) -> dict[Mark, list[re.Pattern[str]]]:
        patterns: dict[Mark, list[re.Pattern[str]]] = {m: [] for m in Mark}
        for route in _flattened(self._routes()):
            regex: re.Pattern[str] | None = getattr(route, "path_regex", None)
            endpoint = getattr(route, "endpoint", None)
            if regex is None or endpoint is None:
                continue
            for found in _MARKED.get(endpoint, frozenset()):
                if found in _SLASH_TOLERANT:
                    patterns[found].append(re.compile(regex.pattern.removesuffix("$") + "/?$"))
                else:
                    patterns[found].append(regex)
        return patterns

    def matches(self, found: Mark, path: str) -> bool:
        if self._patterns is None:
            self._patterns = self._compile()
        return any(pattern.match(path) for pattern in self._patterns[found])

    def is_api(self, path: str) -> bool:
        """Under the API's root (any version): where the gates past maintenance apply."""
        return path.startswith(self._api_root)
