"""Pure builders of the page's HTML, its headers, and the language it is shown in."""

from __future__ import annotations

import hashlib
import html
import json
import re
from dataclasses import dataclass
from functools import cache
from http.cookies import CookieError, SimpleCookie
from importlib import resources
from typing import Any

from repairgpt.core.config import Settings

LANGUAGES = ("en", "ja")
DEFAULT_LANGUAGE = "en"
LANGUAGE_COOKIE = "lang"
ASSET_PREFIX = "/assets/"
ASSET_TYPES = {
    ".css": "text/css; charset=utf-8",
    ".js": "text/javascript; charset=utf-8",
    ".json": "application/json",
    ".svg": "image/svg+xml",
}

# Scripts and styles only from the page's own origin and never inline; images may also be the
# blob: previews of a photo being attached; the DOM only takes text (Trusted Types).
CONTENT_SECURITY_POLICY = "; ".join(
    (
        "default-src 'self'",
        "script-src 'self'",
        "style-src 'self'",
        "img-src 'self' blob:",
        "connect-src 'self'",
        "font-src 'self'",
        "object-src 'none'",
        "base-uri 'none'",
        "form-action 'self'",
        "frame-ancestors 'none'",
        "require-trusted-types-for 'script'",
        "trusted-types 'none'",
    )
)
MAINTENANCE_CACHE_CONTROL = "no-store"
PAGE_HEADERS = {
    "Content-Security-Policy": CONTENT_SECURITY_POLICY,
    "X-Content-Type-Options": "nosniff",
    "X-Frame-Options": "DENY",
    "Referrer-Policy": "no-referrer",
    "Cross-Origin-Opener-Policy": "same-origin",
    "Permissions-Policy": "camera=(), microphone=(), geolocation=()",
}


@dataclass(frozen=True)
class Asset:
    body: bytes
    media_type: str


def _static() -> Any:
    return resources.files("repairgpt.web").joinpath("static")


@cache
def assets() -> dict[str, Asset]:
    """Every static file by its path under the static folder, read once."""
    found: dict[str, Asset] = {}
    pending = [(_static(), "")]
    while pending:
        folder, prefix = pending.pop()
        for entry in folder.iterdir():
            name = prefix + entry.name
            if entry.is_dir():
                pending.append((entry, name + "/"))
                continue
            suffix = "." + entry.name.rsplit(".", 1)[-1]
            if suffix in ASSET_TYPES:
                found[name] = Asset(entry.read_bytes(), ASSET_TYPES[suffix])
    return found


@cache
def build_id() -> str:
    """A digest of every asset: part of the asset URLs, so they can be cached for good."""
    digest = hashlib.sha256()
    for name, asset in sorted(assets().items()):
        digest.update(name.encode() + b"\0" + asset.body)
    return digest.hexdigest()[:12]


def asset_base() -> str:
    return f"{ASSET_PREFIX}{build_id()}/"


@cache
def strings(language: str) -> dict[str, str]:
    """The string table of one language (the same file the browser uses)."""
    table: dict[str, str] = json.loads(assets()[f"strings/{language}.json"].body)
    return table


_ACCEPT_ITEM = re.compile(
    r"^\s*([A-Za-z]{1,8}(?:-[A-Za-z0-9]{1,8})*|\*)\s*(?:;\s*q\s*=\s*([0-9.]+))?"
)


def choose_language(accept_language: str | None, cookie: str | None = None) -> str:
    """The reader's choice (cookie) if any, else the best supported Accept-Language entry."""
    if cookie in LANGUAGES:
        return str(cookie)
    ranked: list[tuple[float, int, str]] = []
    for position, item in enumerate((accept_language or "").split(",")[:20]):
        match = _ACCEPT_ITEM.match(item)
        if not match:
            continue
        try:
            weight = float(match.group(2)) if match.group(2) else 1.0
        except ValueError:
            continue
        primary = match.group(1).split("-")[0].lower()
        if weight > 0 and primary in LANGUAGES:
            ranked.append((-weight, position, primary))
    return min(ranked)[2] if ranked else DEFAULT_LANGUAGE


def language_from_headers(accept_language: str | None, cookie_header: str | None) -> str:
    """`choose_language` from raw request headers (for code that runs before routing)."""
    cookies = SimpleCookie()
    try:
        cookies.load(cookie_header or "")
    except CookieError:
        pass
    chosen = cookies.get(LANGUAGE_COOKIE)
    return choose_language(accept_language, chosen.value if chosen else None)


def _json_for_script(value: dict[str, Any]) -> str:
    # Inside <script type="application/json">, "<" must not start a closing tag.
    return json.dumps(value, ensure_ascii=False, separators=(",", ":")).replace("<", "\\u003c")


_PLACEHOLDER = re.compile(r"\{\{(\w+)\}\}")


def _fill(template: str, values: dict[str, str], table: dict[str, str]) -> str:
    """Replace {{key}} by a value (trusted, pre-escaped) or else the escaped translated string."""
    return _PLACEHOLDER.sub(
        lambda m: values[m.group(1)] if m.group(1) in values else html.escape(table[m.group(1)]),
        template,
    )


def _read_template(name: str) -> str:
    return resources.files("repairgpt.web").joinpath("templates", name).read_text("utf-8")


@cache
def _template(name: str) -> str:
    """A page template, its first line {{head}} replaced by the head both pages share."""
    return _read_template(name).replace("{{head}}\n", _read_template("head.html"), 1)


def render_page(language: str, config: dict[str, Any]) -> str:
    """The chat page: the skeleton in `language`, and its start-up data as JSON."""
    table = strings(language)
    boot = {**config, "lang": language, "assets": asset_base(), "strings": table}
    # The modules app.js imports, fetched at once rather than one import level at a time.
    preloads = "\n".join(
        f'<link rel="modulepreload" href="{asset_base()}{name}">'
        for name in sorted(assets())
        if name.endswith(".js") and name != "app.js"
    )
    values = {
        "lang": language,
        "title": html.escape(table["app_title"]),
        "assets": asset_base(),
        "boot": _json_for_script(boot),
        "preloads": preloads,
    }
    return _fill(_template("page.html"), values, table)


def render_maintenance_page(language: str, message: str) -> str:
    """The page browsers get in maintenance mode: the page's look, the operator's message."""
    table = strings(language)
    # The default message is known, so it is shown translated; a custom one as written.
    default = Settings.model_fields["maintenance_message"].default
    shown = table["maintenance_title"] if message == default else message
    return _fill(
        _template("maintenance.html"),
        {
            "lang": language,
            "title": html.escape(shown),
            "assets": asset_base(),
            "message": html.escape(shown),
        },
        table,
    )
