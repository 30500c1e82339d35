"""Read-only and maintenance modes as a reader sees them: banners on the page, and the
maintenance page with the page's look, in the reader's language."""

from __future__ import annotations

from pathlib import Path

import httpx
import pytest
from selenium.webdriver.common.by import By
from selenium.webdriver.remote.webdriver import WebDriver

from tests.browser.chat_page import answers, ask
from tests.browser.conftest import (
    PHONE,
    BrowserFactory,
    PageServer,
    console_errors,
    open_page,
    serve_page,
    wait_for,
)
from tests.utils.servers import free_port

MAINTENANCE_BACKGROUND = "rgba(253, 236, 234, 1)"  # the stylesheet's colour of the banner

pytestmark = pytest.mark.slow  # a served API and a browser each


def _banners(driver: WebDriver) -> dict[str, str]:
    found = driver.find_elements(By.CSS_SELECTOR, "#banners .banner")
    return {str(banner.get_attribute("data-kind")): banner.text for banner in found}


def _only_refused_requests(driver: WebDriver) -> list[str]:
    """Console errors other than the 503 answers the mode is expected to give."""
    return [
        entry["message"]
        for entry in console_errors(driver)
        if "status of 503" not in entry["message"]
    ]


def test_read_only_mode_shows_a_banner_keeps_the_history_and_still_answers(
    page_database: str, browser: BrowserFactory, tmp_path: Path
) -> None:
    port = free_port()
    driver = browser("en", PHONE)
    with serve_page(tmp_path, page_database, port=port) as served:
        open_page(driver, served.base_url + "/")
        assert _banners(driver) == {}
        ask(driver, "iPhone 13 battery drains fast")
    with serve_page(tmp_path, page_database, port=port, READ_ONLY_MODE="true") as served:
        open_page(driver, served.base_url + "/")
        banners = _banners(driver)
        assert list(banners) == ["read-only"]
        assert banners["read-only"].startswith("Read-only mode")
        assert driver.find_element(By.ID, "photo").is_enabled() is False
        assert len(answers(driver)) == 1  # history is read from the database as before

        answer = ask(driver, "Joy-Con drift")
        assert "Joy-Con" in answer.text
        assert "not saved" in answer.find_element(By.CLASS_NAME, "note").text
        assert console_errors(driver) == []

        driver.execute_script("sessionStorage.clear()")
        driver.refresh()
        open_page(driver, served.base_url + "/")
        driver.find_element(By.ID, "question").send_keys("Dell fan")
        driver.find_element(By.ID, "send").click()
        status = driver.find_element(By.ID, "chat-status")
        wait_for(driver, lambda d: "cannot be started" in status.text)
        assert list(_banners(driver)) == ["read-only"]
        assert _only_refused_requests(driver) == []


def test_maintenance_shows_a_banner_on_an_open_page_and_the_maintenance_page_on_reload(
    page_database: str, browser: BrowserFactory, tmp_path: Path
) -> None:
    port = free_port()
    driver = browser("ja-JP,ja;q=0.9")
    message = "Back at 14:00 UTC <after the upgrade>"
    with serve_page(tmp_path, page_database, port=port) as served:
        open_page(driver, served.base_url + "/")
    with serve_page(
        tmp_path, page_database, port=port, MAINTENANCE_MODE="true", MAINTENANCE_MESSAGE=message
    ) as served:
        driver.find_element(By.ID, "question").send_keys("バッテリー")
        driver.find_element(By.ID, "send").click()
        wait_for(driver, lambda d: "maintenance" in _banners(d))
        banner = _banners(driver)["maintenance"]
        assert banner.startswith("メンテナンス中") and message in banner
        assert driver.find_element(By.ID, "question").get_attribute("value") == "バッテリー"

        driver.refresh()
        heading = wait_for(driver, lambda d: d.find_element(By.ID, "maintenance-message"))
        assert heading.text == message  # the operator's own words, as text
        assert driver.find_element(By.TAG_NAME, "html").get_attribute("lang") == "ja"
        assert "しばらくしてから" in driver.find_element(By.TAG_NAME, "main").text
        box = driver.find_element(By.CSS_SELECTOR, ".banner-maintenance")
        assert box.value_of_css_property("background-color") == MAINTENANCE_BACKGROUND
        assert _only_refused_requests(driver) == []

        with httpx.Client(base_url=served.base_url) as client:
            problem = client.get("/", headers={"Accept": "application/json"})
            stylesheet = driver.find_element(By.CSS_SELECTOR, "link[rel=stylesheet]")
            css = client.get(str(stylesheet.get_attribute("href")))
        assert problem.status_code == 503 and problem.json()["detail"] == message
        assert css.status_code == 200 and css.headers["content-type"].startswith("text/css")


def test_the_default_maintenance_message_is_shown_in_the_readers_language(
    page_database: str, browser: BrowserFactory, tmp_path: Path
) -> None:
    with serve_page(tmp_path, page_database, MAINTENANCE_MODE="true") as served:
        for accept, title in (
            ("ja", "RepairGPT はメンテナンス中です"),
            ("en-GB", "RepairGPT is under maintenance"),
        ):
            driver = browser(accept, PHONE)
            driver.get(served.base_url + "/")
            heading = wait_for(driver, lambda d: d.find_element(By.ID, "maintenance-message"))
            assert heading.text == title
            assert driver.execute_script(
                "return document.documentElement.scrollWidth <= innerWidth"
            )
            assert _only_refused_requests(driver) == []


def test_the_page_keeps_working_after_maintenance_ends(
    page_server: PageServer, browser: BrowserFactory
) -> None:
    driver = browser("en")
    open_page(driver, page_server.base_url + "/")
    assert _banners(driver) == {}
    assert ask(driver, "Dell XPS 13 fan").find_elements(By.CSS_SELECTOR, ".citation")
