"""Guide text and answers are shown as text: markup in a guide never reaches the DOM."""

from __future__ import annotations

import httpx
import pytest
from selenium.webdriver.common.by import By

from tests.app.conftest import ADMIN_KEY
from tests.browser.chat_page import ask, citation_cards
from tests.browser.conftest import BrowserFactory, PageServer, console_errors, open_page, wait_for

TITLE = 'Xsscanary battery <img src=x onerror="window.__pwned=1">fix'
STEP = "Lift the cover <script>window.__pwned=2</script> gently."
WARNING = '<img src="/nothing.png" onerror="window.__pwned=3"> Sharp edges!'
TOOL = "<b>Spudger</b>"

pytestmark = pytest.mark.slow  # a served API and a browser each


def _import_hostile_guide(base_url: str) -> int:
    with httpx.Client(base_url=base_url, headers={"X-API-Key": ADMIN_KEY}) as client:
        device = client.get("/api/v1/devices", params={"q": "iPhone 13"}).json()["data"][0]
        created = client.post(
            "/api/v1/guides",
            json={
                "device_id": device["id"],
                "title": TITLE,
                "summary": "Summary with <a href='javascript:alert(1)'>a link</a>.",
                "difficulty": "easy",
                "tools": [TOOL],
                "safety_warnings": [WARNING],
                "keywords": ["xsscanary"],
                "steps": [{"title": "<i>Open</i>", "text": STEP}],
                "source_id": "xss-canary",
            },
        )
    assert created.status_code == 201, created.text
    guide_id: int = created.json()["id"]
    return guide_id


def test_a_guide_full_of_markup_is_shown_as_plain_text_in_answers_and_on_its_page(
    page_server: PageServer, browser: BrowserFactory
) -> None:
    guide_id = _import_hostile_guide(page_server.base_url)
    driver = browser("en")
    open_page(driver, page_server.base_url + "/")

    answer = ask(driver, "xsscanary battery")
    text = answer.find_element(By.CLASS_NAME, "answer").text
    assert TITLE in text and WARNING in text
    assert TITLE in citation_cards(answer)[0].text
    assert answer.find_elements(By.CSS_SELECTOR, "img, script, b, i, a[href^='javascript']") == []

    driver.get(f"{page_server.base_url}/#/guides/{guide_id}")
    title = wait_for(driver, lambda d: d.find_element(By.CSS_SELECTOR, "#guide h1"))
    assert title.text == TITLE
    guide = driver.find_element(By.ID, "guide")
    assert STEP in guide.text and WARNING in guide.text and TOOL in guide.text
    assert "<i>Open</i>" in guide.text
    assert guide.find_elements(By.CSS_SELECTOR, "img, script, b, i, a[href^='javascript']") == []
    assert driver.execute_script("return window.__pwned") is None
    assert console_errors(driver) == []
