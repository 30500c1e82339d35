"""The page as the server sends it (no browser): language, limits, assets, headers, modes,
and string tables that cover every string the page shows."""

from __future__ import annotations

import json
import re
from collections.abc import Callable, Iterator
from contextlib import ExitStack
from importlib import resources
from pathlib import Path
from typing import Any

import pytest
from fastapi.testclient import TestClient

from repairgpt.core.config import Settings
from repairgpt.main import create_app
from repairgpt.web.page import LANGUAGES, build_id, choose_language, render_maintenance_page
from tests.app.conftest import SAMPLE_GUIDES

WEB = resources.files("repairgpt.web")
BOOT = re.compile(r'<script type="application/json" id="boot">(.*?)</script>', re.S)


@pytest.fixture
def page_client(tmp_path: Path) -> Iterator[Callable[..., TestClient]]:
    with ExitStack() as stack:

        def factory(**overrides: Any) -> TestClient:
            values: dict[str, Any] = {
                "data_dir": tmp_path,
                "database_url": f"sqlite:///{tmp_path / 'repairgpt.db'}",
                "seed_guides_file": SAMPLE_GUIDES,
                "rate_limit_requests": 0,
                "catalog_refresh_seconds": 0,
                **overrides,
            }
            client = TestClient(create_app(Settings(**values), configure_logs=False))
            return stack.enter_context(client)

        yield factory


def _boot(html: str) -> dict[str, Any]:
    found = BOOT.search(html)
    assert found, html[:500]
    boot: dict[str, Any] = json.loads(found.group(1))
    return boot


@pytest.mark.parametrize(
    ("accept", "cookie", "expected"),
    [
        ("ja-JP,ja;q=0.9,en;q=0.8", None, "ja"),
        ("en-US,en;q=0.9,ja;q=0.8", None, "en"),
        ("fr-FR,fr;q=0.9,ja;q=0.5", None, "ja"),
        ("en;q=0.2, ja;q=0.7", None, "ja"),
        ("ja;q=0, en", None, "en"),
        ("de, fr", None, "en"),
        (None, None, "en"),
        ("garbage;;;q=x", None, "en"),
        ("ja", "en", "en"),
        ("en", "ja", "ja"),
        ("en", "xx", "en"),
    ],
)
def test_the_language_follows_the_readers_choice_then_accept_language(
    accept: str | None, cookie: str | None, expected: str
) -> None:
    assert choose_language(accept, cookie) == expected


def test_the_page_is_in_the_readers_language_with_the_servers_limits_and_modes(
    page_client: Callable[..., TestClient],
) -> None:
    client = page_client(upload_max_bytes=123_456, read_only_mode=False)
    page = client.get("/", headers={"Accept-Language": "ja,en;q=0.5"})
    assert page.status_code == 200
    assert page.headers["content-language"] == "ja"
    assert '<html lang="ja">' in page.text and "送信" in page.text
    boot = _boot(page.text)
    assert boot["uploadMaxBytes"] == 123_456
    assert boot["uploadTypes"] == ["image/gif", "image/jpeg", "image/png", "image/webp"]
    assert boot["readOnly"] is False and boot["api"] == "/api/v1"
    assert boot["strings"]["send"] == "送信"
    assert page.headers["cache-control"] == "no-cache"
    assert "Accept-Language" in page.headers["vary"]

    read_only = page_client(read_only_mode=True).get("/", headers={"Accept-Language": "en"})
    assert _boot(read_only.text)["readOnly"] is True
    assert '<html lang="en">' in read_only.text


def test_assets_are_cached_for_good_under_the_build_id_and_unknown_ones_are_404(
    page_client: Callable[..., TestClient],
) -> None:
    client = page_client()
    page = client.get("/")
    assert f"/assets/{build_id()}/app.js" in page.text
    script = client.get(f"/assets/{build_id()}/app.js")
    assert script.status_code == 200
    assert script.headers["content-type"].startswith("text/javascript")
    assert script.headers["cache-control"] == "public, max-age=31536000, immutable"
    stale = client.get("/assets/000000000000/app.css")
    assert stale.status_code == 200 and stale.headers["cache-control"] == "no-cache"
    assert client.get(f"/assets/{build_id()}/nope.js").status_code == 404
    assert client.get(f"/assets/{build_id()}/../page.py").status_code == 404
    assert "/" not in client.get("/openapi.json").json()["paths"]


def test_in_maintenance_browsers_get_the_styled_page_and_api_clients_a_problem(
    page_client: Callable[..., TestClient],
) -> None:
    client = page_client(maintenance_mode=True, maintenance_message="Back at <b>14:00</b>")
    page = client.get("/", headers={"Accept": "text/html", "Cookie": "lang=ja"})
    assert page.status_code == 503 and page.headers["retry-after"]
    assert '<html lang="ja">' in page.text
    assert "Back at &lt;b&gt;14:00&lt;/b&gt;" in page.text and "<b>" not in page.text
    assert f'href="/assets/{build_id()}/app.css"' in page.text
    assert "frame-ancestors 'none'" in page.headers["content-security-policy"]
    assert client.get(f"/assets/{build_id()}/app.css").status_code == 200

    problem = client.get("/", headers={"Accept": "application/json"})
    assert problem.status_code == 503
    assert problem.headers["content-type"].startswith("application/problem+json")
    assert problem.json()["detail"] == "Back at <b>14:00</b>"


def test_the_default_maintenance_message_is_translated_and_a_custom_one_kept() -> None:
    default = Settings.model_fields["maintenance_message"].default
    assert "メンテナンス中" in render_maintenance_page("ja", default)
    assert "Back soon" in render_maintenance_page("ja", "Back soon")


def _tables() -> dict[str, dict[str, str]]:
    return {
        lang: json.loads(WEB.joinpath("static", "strings", f"{lang}.json").read_text("utf-8"))
        for lang in LANGUAGES
    }


def test_every_string_the_page_uses_is_in_every_language() -> None:
    tables = _tables()
    keys = {lang: set(table) for lang, table in tables.items()}
    assert keys["en"] == keys["ja"]
    assert all(value.strip() for table in tables.values() for value in table.values())
    used: set[str] = set()
    filled_by_server = {"head", "lang", "title", "assets", "boot", "message", "preloads"}
    for template in ("head.html", "page.html", "maintenance.html"):
        text = WEB.joinpath("templates", template).read_text("utf-8")
        used |= set(re.findall(r"\{\{(\w+)\}\}", text)) - filled_by_server
    for script in WEB.joinpath("static").iterdir():
        if script.name.endswith(".js"):
            text = script.read_text("utf-8")
            used |= set(re.findall(r"\bt\(\s*\"(\w+)\"", text))
            used |= {f"{key}_other" for key in re.findall(r"\btCount\(\s*\"(\w+)\"", text)}
    assert used and used <= keys["en"], sorted(used - keys["en"])
    difficulties = {"very_easy", "easy", "moderate", "difficult", "very_difficult"}
    assert {f"difficulty_{d}" for d in difficulties} <= keys["en"]


def test_scripts_never_write_markup_into_the_page() -> None:
    for script in WEB.joinpath("static").iterdir():
        if script.name.endswith(".js"):
            text = script.read_text("utf-8")
            for sink in ("innerHTML", "outerHTML", "insertAdjacentHTML", "document.write"):
                assert sink not in text, f"{script.name} uses {sink}"


def test_the_page_and_its_assets_are_counted_under_their_route_templates(
    page_client: Callable[..., TestClient],
) -> None:
    client = page_client()
    client.get("/")
    client.get(f"/assets/{build_id()}/app.js")
    client.get("/assets/000000000000/app.css")
    metrics = client.get("/metrics").text
    counted = set(re.findall(r'http_requests_total\{[^}]*endpoint="([^"]*)"', metrics))
    assert {"/", "/assets/{build}/{name:path}"} <= counted
    assert "unmatched" not in counted
