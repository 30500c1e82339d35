"""Accessibility of the chat page: labelled controls, AA contrast, live answers, headings."""

from __future__ import annotations

import pytest
from selenium.webdriver.common.by import By

from tests.browser.chat_page import LOW_CONTRAST, UNLABELLED, ask
from tests.browser.conftest import (
    PHONE,
    BrowserFactory,
    PageServer,
    console_errors,
    open_page,
    wait_for,
)

pytestmark = pytest.mark.slow


@pytest.mark.parametrize("language", ["en", "ja"])
def test_controls_are_labelled_and_all_text_meets_aa_contrast(
    page_server: PageServer, browser: BrowserFactory, language: str
) -> None:
    driver = browser(language, PHONE)
    open_page(driver, page_server.base_url + "/")
    answer = ask(driver, "iPhone 13 battery drains fast")
    assert answer.find_elements(By.CSS_SELECTOR, ".safety")  # warnings are checked too

    assert driver.execute_script(UNLABELLED) == []
    assert driver.execute_script(LOW_CONTRAST) == []
    live = answer.find_element(By.CLASS_NAME, "answer")
    assert live.get_attribute("aria-live") == "polite"
    assert live.get_attribute("aria-busy") == "false"
    assert driver.find_element(By.ID, "chat-status").get_attribute("role") == "status"
    assert len(driver.find_elements(By.CSS_SELECTOR, "main h1:not([hidden])")) >= 1

    answer.find_element(By.CSS_SELECTOR, ".citation-link").click()
    wait_for(driver, lambda d: d.find_element(By.CSS_SELECTOR, "#guide h1"))
    assert driver.execute_script(LOW_CONTRAST) == []
    assert console_errors(driver) == []
