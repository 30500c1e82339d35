"""Fixtures of the browser tests: `repairgpt serve` on PostgreSQL, and headless Chromium."""

from __future__ import annotations

import json
import os
import re
import subprocess
import uuid
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import httpx
import pytest
from selenium import webdriver
from selenium.webdriver.chrome.service import Service
from selenium.webdriver.remote.webdriver import WebDriver
from selenium.webdriver.support.ui import WebDriverWait

from tests.app.conftest import ADMIN_KEY, served_api
from tests.utils.servers import PostgresServer

CHROMIUM = "/usr/bin/chromium"
CHROMEDRIVER = "/usr/bin/chromedriver"
DESKTOP = (1280, 900)
PHONE = (360, 780)
UPLOAD_LIMIT = 500 * 1024  # shown as "500 kB": the page must take it from the server
# Chromium must not call home: no updates, no sync, no field trials, no translation service.
QUIET_CHROMIUM = (
    "--headless=new",
    "--no-sandbox",
    "--disable-dev-shm-usage",
    "--disable-gpu",
    "--no-first-run",
    "--no-default-browser-check",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
    "--disable-default-apps",
    "--disable-extensions",
    "--disable-domain-reliability",
    "--disable-features=Translate,OptimizationHints,MediaRouter,AutofillServerCommunication",
    "--metrics-recording-only",
)


@dataclass
class PageServer:
    """A served API whose page the browser opens."""

    base_url: str
    port: int
    database_url: str
    folder: Path
    process: subprocess.Popen[bytes]
    log_file: Path

    def log_text(self) -> str:
        return self.log_file.read_text(errors="replace")


@contextmanager
def serve_page(
    folder: Path, database_url: str, *, port: int | None = None, **settings: str
) -> Iterator[PageServer]:
    """`repairgpt serve` on loopback with the sample guides; keyword arguments are settings."""
    defaults = {
        "DATABASE_URL": database_url,
        "RATE_LIMIT_REQUESTS": "0",
        "ADMIN_API_KEY": ADMIN_KEY,
        "LOG_LEVEL": "WARNING",
    }
    with served_api(folder, port=port, **{**defaults, **settings}) as api:
        yield PageServer(api.base_url, api.port, database_url, folder, api.process, api.log_file)


@pytest.fixture(scope="module")
def page_database(postgres_server: PostgresServer) -> str:
    """One database for a test module: the served page's conversations and guides."""
    return postgres_server.create_database(f"web_{uuid.uuid4().hex[:12]}")


@pytest.fixture(scope="module")
def page_server(
    page_database: str, tmp_path_factory: pytest.TempPathFactory
) -> Iterator[PageServer]:
    folder = tmp_path_factory.mktemp("page")
    with serve_page(folder, page_database, UPLOAD_MAX_BYTES=str(UPLOAD_LIMIT)) as served:
        warm_up(served.base_url)
        yield served


def warm_up(base_url: str) -> None:
    """One reader's worth of requests, so that timings are those of a running server."""
    with httpx.Client(base_url=base_url, timeout=30) as client:
        page = client.get("/", headers={"Accept": "text/html"})
        for asset in re.findall(r'(?:href|src)="(/assets/[^"]+)"', page.text):
            client.get(asset)
        session = client.post("/api/v1/chat/sessions").json()
        client.post(
            f"/api/v1/chat/sessions/{session['id']}/messages/stream",
            json={"content": "battery"},
            headers={"Authorization": f"Bearer {session['token']}"},
        )


BrowserFactory = Callable[..., WebDriver]


def chromium(language: str, size: tuple[int, int]) -> WebDriver:
    """Headless Chromium asking for `language`, its viewport `size` (CSS pixels)."""
    options = webdriver.ChromeOptions()
    options.binary_location = CHROMIUM
    for argument in QUIET_CHROMIUM:
        options.add_argument(argument)
    options.add_argument(f"--accept-lang={language}")
    options.add_argument(f"--window-size={size[0]},{size[1]}")
    options.add_experimental_option("prefs", {"intl.accept_languages": language})
    options.set_capability("goog:loggingPrefs", {"browser": "ALL"})
    driver = webdriver.Chrome(service=Service(executable_path=CHROMEDRIVER), options=options)
    # A phone-sized layout viewport, exactly, whatever the window decorations take.
    driver.execute_cdp_cmd(
        "Emulation.setDeviceMetricsOverride",
        {
            "width": size[0],
            "height": size[1],
            "deviceScaleFactor": 1,
            "mobile": size[0] < 600,
        },
    )
    return driver


@pytest.fixture
def browser() -> Iterator[BrowserFactory]:
    """Opens Chromium windows (closed after the test): `browser(language, size)`."""
    os.environ.setdefault("SE_OFFLINE", "true")  # Selenium Manager never downloads anything
    opened: list[WebDriver] = []

    def factory(language: str = "en", size: tuple[int, int] = DESKTOP) -> WebDriver:
        driver = chromium(language, size)
        opened.append(driver)
        return driver

    yield factory
    for driver in opened:
        driver.quit()


def wait_for(driver: WebDriver, check: Callable[[WebDriver], Any], timeout: float = 10) -> Any:
    return WebDriverWait(driver, timeout, poll_frequency=0.05).until(check)


def open_page(driver: WebDriver, url: str) -> None:
    """Loads the page and waits until its script has started (history and route shown)."""
    driver.get(url)
    wait_for(driver, lambda d: d.execute_script("return document.body.dataset.ready === 'true'"))


def console_errors(driver: WebDriver) -> list[dict[str, Any]]:
    """The browser's console messages of level SEVERE (errors, CSP violations, failed loads)."""
    assert isinstance(driver, webdriver.Chrome)
    entries: list[dict[str, Any]] = driver.get_log("browser")  # type: ignore[no-untyped-call]
    return [entry for entry in entries if entry["level"] == "SEVERE"]


def read_json(path: Path) -> dict[str, Any]:
    return json.loads(path.read_text(encoding="utf-8")) if path.exists() else {}
