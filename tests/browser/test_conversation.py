"""A conversation on the chat page: cited guides, photos, history across reloads, a new
conversation, guide search, the language switch and the keyboard."""

from __future__ import annotations

import struct
import zlib
from pathlib import Path

import httpx
import pytest
from selenium.webdriver.common.action_chains import ActionChains
from selenium.webdriver.common.by import By
from selenium.webdriver.common.keys import Keys
from selenium.webdriver.remote.webdriver import WebDriver
from selenium.webdriver.support.ui import Select

from tests.browser.chat_page import answers, ask, citation_cards
from tests.browser.conftest import (
    PHONE,
    UPLOAD_LIMIT,
    BrowserFactory,
    PageServer,
    console_errors,
    open_page,
    wait_for,
)

pytestmark = pytest.mark.slow  # a served API and a browser each


def png(path: Path, width: int = 64, height: int = 48, noise: int = 0) -> Path:
    """A real PNG image (random-looking rows when `noise` bytes are asked for)."""
    raw = b"".join(
        b"\0" + bytes((x * 4 + y) % 256 for x in range(width * 3)) for y in range(height)
    )
    chunks = [(b"IHDR", struct.pack(">IIBBBBB", width, height, 8, 2, 0, 0, 0))]
    chunks.append((b"IDAT", zlib.compress(raw)))
    if noise:
        chunks.append((b"tEXt", b"pad\0" + bytes(i % 251 for i in range(noise))))
    chunks.append((b"IEND", b""))
    body = b"".join(
        struct.pack(">I", len(data)) + kind + data + struct.pack(">I", zlib.crc32(kind + data))
        for kind, data in chunks
    )
    path.write_bytes(b"\x89PNG\r\n\x1a\n" + body)
    return path


def session_of(driver: WebDriver) -> dict[str, str]:
    stored = driver.execute_script("return JSON.parse(sessionStorage.getItem('repairgpt.session'))")
    assert stored and stored["id"] and stored["token"], stored
    return dict(stored)


def test_a_cited_guide_opens_with_its_device_difficulty_tools_and_numbered_steps(
    page_server: PageServer, browser: BrowserFactory
) -> None:
    driver = browser("en")
    open_page(driver, page_server.base_url + "/")
    answer = ask(driver, "Joy-Con drift on my Switch")
    card = citation_cards(answer)[0]
    assert "Joy-Con" in card.text
    card.find_element(By.CSS_SELECTOR, "a.citation-link").click()

    title = wait_for(driver, lambda d: d.find_element(By.CSS_SELECTOR, "#guide h1"))
    assert title.text == "Nintendo Switch Joy-Con Joystick Replacement"
    assert driver.switch_to.active_element == title  # focus moves to the new content
    facts = driver.find_element(By.CSS_SELECTOR, "#guide dl.facts").text
    assert "Nintendo Switch" in facts
    with httpx.Client(base_url=page_server.base_url) as client:
        guide_id = driver.current_url.rsplit("/", 1)[1]
        guide = client.get(f"/api/v1/guides/{guide_id}").json()
    steps = driver.find_elements(By.CSS_SELECTOR, "#guide ol.steps > li")
    assert [s.find_element(By.TAG_NAME, "p").text for s in steps] == [
        step["text"] for step in guide["steps"]
    ]
    tools = driver.find_element(By.CSS_SELECTOR, "#guide .guide-list ul").text
    assert all(tool in tools for tool in guide["tools"])
    assert driver.find_element(By.ID, "chat-view").is_displayed() is False

    driver.back()
    wait_for(driver, lambda d: d.find_element(By.ID, "chat-view").is_displayed())
    assert len(answers(driver)) == 1  # the conversation is still there
    assert console_errors(driver) == []


def test_a_photo_is_uploaded_and_the_history_survives_a_reload_until_a_new_conversation(
    page_server: PageServer, browser: BrowserFactory, tmp_path: Path
) -> None:
    driver = browser("en", PHONE)
    open_page(driver, page_server.base_url + "/")
    driver.find_element(By.ID, "photo").send_keys(str(png(tmp_path / "broken.png")))
    wait_for(driver, lambda d: d.find_element(By.ID, "photo-preview").is_displayed())
    ask(driver, "iPhone 13 battery swollen")
    ask(driver, "Dell XPS 13 fan is loud")

    session = session_of(driver)
    photos = driver.execute_script("return JSON.parse(sessionStorage.getItem('repairgpt.photos'))")
    (upload_id,) = photos.values()
    headers = {"Authorization": f"Bearer {session['token']}"}
    with httpx.Client(base_url=page_server.base_url, headers=headers) as client:
        upload = client.get(f"/api/v1/uploads/{upload_id}").json()
        history = client.get(f"/api/v1/chat/sessions/{session['id']}/messages").json()
    assert upload["session_id"] == session["id"] and upload["content_type"] == "image/png"
    assert history["count"] == 4

    driver.refresh()
    open_page(driver, driver.current_url)
    shown = driver.find_elements(By.CSS_SELECTOR, "#messages .message")
    assert [str(m.get_attribute("class")).split()[-1] for m in shown] == ["user", "assistant"] * 2
    assert "iPhone 13 battery swollen" in shown[0].text
    assert citation_cards(shown[1])
    image = shown[0].find_element(By.CSS_SELECTOR, "img.attached")
    wait_for(driver, lambda d: d.execute_script("return arguments[0].naturalWidth", image) == 64)
    assert session_of(driver) == session

    driver.find_element(By.ID, "new-conversation").click()
    assert driver.find_elements(By.CSS_SELECTOR, "#messages .message") == []
    ask(driver, "Joy-Con drift")
    assert session_of(driver)["id"] != session["id"]
    driver.refresh()
    open_page(driver, driver.current_url)
    assert len(driver.find_elements(By.CSS_SELECTOR, "#messages .message")) == 2
    assert console_errors(driver) == []


def test_a_photo_over_the_servers_limit_or_of_another_type_is_refused_before_sending(
    page_server: PageServer, browser: BrowserFactory, tmp_path: Path
) -> None:
    driver = browser("en")
    open_page(driver, page_server.base_url + "/")
    picker = driver.find_element(By.ID, "photo")
    picker.send_keys(str(png(tmp_path / "huge.png", noise=UPLOAD_LIMIT + 1)))
    error = driver.find_element(By.ID, "photo-error")
    wait_for(driver, lambda d: "limit is 500 kB" in error.text)
    assert picker.get_attribute("aria-invalid") == "true"
    assert not driver.find_element(By.ID, "photo-preview").is_displayed()

    text_file = tmp_path / "notes.txt"
    text_file.write_text("not a photo")
    picker.send_keys(str(text_file))
    wait_for(driver, lambda d: "Only" in error.text and "JPEG" in error.text)
    assert str(picker.get_attribute("accept")).split(",") == [
        "image/gif",
        "image/jpeg",
        "image/png",
        "image/webp",
    ]
    assert console_errors(driver) == []


def test_the_search_box_finds_guides_and_the_language_switch_is_remembered(
    page_server: PageServer, browser: BrowserFactory
) -> None:
    driver = browser("en")
    open_page(driver, page_server.base_url + "/")
    ask(driver, "Joy-Con drift")
    search = driver.find_element(By.ID, "search-input")
    search.send_keys("Joy-Con", Keys.ENTER)
    status = driver.find_element(By.ID, "search-status")
    wait_for(driver, lambda d: status.text == "1 guide found")
    results = driver.find_elements(By.CSS_SELECTOR, "#search-results .result a")
    assert [r.text for r in results] == ["Nintendo Switch Joy-Con Joystick Replacement"]

    Select(driver.find_element(By.ID, "language-select")).select_by_value("ja")
    wait_for(driver, lambda d: status.text == "1件のガイドが見つかりました")
    assert driver.find_element(By.TAG_NAME, "html").get_attribute("lang") == "ja"
    assert driver.find_element(By.ID, "send").get_attribute("textContent") == "送信"
    assert driver.title == "RepairGPT – 修理の相談"
    names = driver.find_elements(By.CSS_SELECTOR, "#messages .who span")
    assert [n.get_attribute("textContent") for n in names] == ["あなた", "RepairGPT"]
    sources = driver.find_element(By.CSS_SELECTOR, "#messages .citations-title")
    assert sources.get_attribute("textContent") == "出典"

    driver.get(page_server.base_url + "/")  # the browser still asks for English
    open_page(driver, page_server.base_url + "/")
    assert driver.find_element(By.TAG_NAME, "html").get_attribute("lang") == "ja"
    assert driver.find_element(By.ID, "send").text == "送信"
    assert console_errors(driver) == []


def test_the_page_is_used_with_the_keyboard_alone(
    page_server: PageServer, browser: BrowserFactory
) -> None:
    driver = browser("en")
    open_page(driver, page_server.base_url + "/")
    order = []
    keys = ActionChains(driver)
    for _ in range(10):
        keys.send_keys(Keys.TAB).perform()
        active = driver.switch_to.active_element
        order.append(active.get_attribute("id") or active.get_attribute("class"))
    assert order[:9] == [
        "skip",
        "brand",
        "search-input",
        "",  # the search button
        "language-select",
        "new-conversation",
        "question",
        "photo",
        "send",
    ], order
    question = driver.find_element(By.ID, "question")
    question.click()
    keys.send_keys("Dell XPS 13 fan noise").perform()
    keys.key_down(Keys.CONTROL).send_keys(Keys.ENTER).key_up(Keys.CONTROL).perform()
    wait_for(
        driver,
        lambda d: (
            answers(d)
            and answers(d)[-1].find_element(By.CLASS_NAME, "answer").get_attribute("aria-busy")
            == "false"
        ),
    )
    answer = answers(driver)[-1].find_element(By.CLASS_NAME, "answer")
    assert answer.get_attribute("aria-live") == "polite"
    assert "Dell XPS 13 Fan Cleaning" in answer.text
    assert driver.switch_to.active_element == question  # ready for the next question
    assert console_errors(driver) == []
