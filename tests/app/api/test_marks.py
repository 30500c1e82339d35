"""The gates find the paths of marked routes in the app's own routes."""

from __future__ import annotations

from pathlib import Path

from repairgpt.api.main import API_ROOT
from repairgpt.api.marks import Mark, RouteMarks
from repairgpt.core.config import Settings
from repairgpt.main import create_app


def marks_of_the_app(tmp_path: Path) -> RouteMarks:
    settings = Settings(database_url=f"sqlite:///{tmp_path / 'marks.db'}")
    app = create_app(settings, configure_logs=False)
    return RouteMarks(lambda: app.routes, api_root=API_ROOT)


def test_chat_answers_are_the_writes_that_read_only_mode_lets_through(tmp_path: Path) -> None:
    routes = marks_of_the_app(tmp_path)
    session = "0123456789abcdef0123456789abcdef"
    for path in (
        f"/api/v1/chat/sessions/{session}/messages",
        f"/api/v1/chat/sessions/{session}/messages/",
        f"/api/v1/chat/sessions/{session}/messages/stream",
    ):
        assert routes.matches(Mark.ANSWERS_WHEN_READ_ONLY, path), path
    assert not routes.matches(Mark.ANSWERS_WHEN_READ_ONLY, "/api/v1/chat/sessions")
    assert not routes.matches(Mark.ANSWERS_WHEN_READ_ONLY, "/api/v1/guides")


def test_uploads_probes_and_the_search_are_found_where_the_router_serves_them(
    tmp_path: Path,
) -> None:
    routes = marks_of_the_app(tmp_path)
    assert routes.matches(Mark.UPLOAD, "/api/v1/uploads")
    assert routes.matches(Mark.UPLOAD, "/api/v1/guides/3/steps/2/images/")
    assert not routes.matches(Mark.UPLOAD, "/api/v1/uploads/abc/content")
    assert routes.matches(Mark.ALWAYS_OPEN, "/health")
    assert routes.matches(Mark.ALWAYS_OPEN, "/metrics")
    assert not routes.matches(Mark.ALWAYS_OPEN, "/ready")
    assert not routes.matches(Mark.ALWAYS_OPEN, "/health/")
    assert routes.matches(Mark.CACHED_SEARCH, "/api/v1/guides")
    assert not routes.matches(Mark.CACHED_SEARCH, "/api/v1/guides/1")


def test_only_paths_under_the_api_root_pass_the_api_gates(tmp_path: Path) -> None:
    routes = marks_of_the_app(tmp_path)
    assert routes.is_api("/api/v1/guides") and routes.is_api("/api/v2/anything")
    assert not routes.is_api("/health") and not routes.is_api("/apis")
