"""What a reader does on the chat page, as browser actions and reads of what is shown."""

from __future__ import annotations

from typing import Any

from selenium.webdriver.common.by import By
from selenium.webdriver.remote.webdriver import WebDriver
from selenium.webdriver.remote.webelement import WebElement

from tests.browser.conftest import wait_for

# Installed before sending: times the submit and the first answer text in the page's own
# clock, independently of the page's code.
WATCH_FIRST_TOKEN = """
window.__timing = {sent: null, first: null};
document.addEventListener('submit', () => { window.__timing.sent = performance.now(); },
                          {capture: true});
const list = document.getElementById('messages');
new MutationObserver(() => {
  const answers = list.querySelectorAll('.message.assistant .answer');
  const last = answers[answers.length - 1];
  if (window.__timing.sent !== null && window.__timing.first === null && last
      && last.textContent.trim().length > 0) {
    window.__timing.first = performance.now();
  }
}).observe(list, {childList: true, subtree: true, characterData: true});
"""

LARGEST_CONTENTFUL_PAINT = """
const done = arguments[arguments.length - 1];
new PerformanceObserver((list) => {
  const entries = list.getEntries();
  done(entries[entries.length - 1].startTime);
}).observe({type: 'largest-contentful-paint', buffered: true});
"""

# The page and everything it loaded, uncompressed, except images and API calls.
PAGE_WEIGHT = """
const nav = performance.getEntriesByType('navigation')[0];
const assets = performance.getEntriesByType('resource')
  .filter((r) => !['img', 'fetch', 'xmlhttprequest'].includes(r.initiatorType)
                 && !r.name.includes('/api/'));
return {page: nav.decodedBodySize,
        assets: assets.map((r) => [new URL(r.name).pathname, r.decodedBodySize])};
"""


def answers(driver: WebDriver) -> list[WebElement]:
    return driver.find_elements(By.CSS_SELECTOR, "#messages .message.assistant")


def ask(driver: WebDriver, question: str, *, timeout: float = 15) -> WebElement:
    """Types and sends a question; returns the answer once it has streamed in completely."""
    before = len(answers(driver))
    box = driver.find_element(By.ID, "question")
    box.clear()
    box.send_keys(question)
    driver.find_element(By.ID, "send").click()
    wait_for(
        driver,
        lambda d: (
            len(answers(d)) > before
            and answers(d)[-1].find_element(By.CLASS_NAME, "answer").get_attribute("aria-busy")
            == "false"
        ),
        timeout,
    )
    return answers(driver)[-1]


def citation_cards(answer: WebElement) -> list[WebElement]:
    return answer.find_elements(By.CSS_SELECTOR, ".citations .citation")


def first_token_ms(driver: WebDriver) -> float:
    timing: dict[str, Any] = driver.execute_script("return window.__timing")
    assert timing["sent"] is not None and timing["first"] is not None, timing
    return float(timing["first"] - timing["sent"])


def layout_problems(driver: WebDriver) -> list[str]:
    """Horizontal scrolling, and controls that are not fully on screen."""
    found: list[str] = driver.execute_script(
        """
        const problems = [];
        const width = document.documentElement.clientWidth;
        if (document.documentElement.scrollWidth > width) {
          problems.push(`scrolls sideways: ${document.documentElement.scrollWidth} > ${width}`);
        }
        for (const id of ['search-input', 'language-select', 'new-conversation', 'question',
                          'photo', 'send']) {
          const box = document.getElementById(id).getBoundingClientRect();
          if (box.width < 1 || box.height < 1 || box.left < 0 || box.right > width) {
            problems.push(`${id} not fully visible: ${box.left}..${box.right} of ${width}`);
          }
        }
        return problems;
        """
    )
    return found


# WCAG 2.x contrast of every visible element that has text of its own, against the first
# opaque background behind it; returns those under 4.5:1 (3:1 for large text).
LOW_CONTRAST = """
const parse = (c) => (c.match(/[\\d.]+/g) || []).map(Number);
const luminance = ([r, g, b]) => {
  const lin = (v) => { v /= 255; return v <= 0.03928 ? v / 12.92 : ((v + 0.055) / 1.055) ** 2.4; };
  return 0.2126 * lin(r) + 0.7152 * lin(g) + 0.0722 * lin(b);
};
const background = (el) => {
  for (let node = el; node; node = node.parentElement) {
    const c = parse(getComputedStyle(node).backgroundColor);
    if (c.length === 3 || (c.length === 4 && c[3] === 1)) return c.slice(0, 3);
  }
  return [255, 255, 255];
};
const low = [];
for (const el of document.querySelectorAll('body *')) {
  const own = [...el.childNodes].some((n) => n.nodeType === 3 && n.textContent.trim());
  if (!own || !el.checkVisibility() || el.closest('.visually-hidden')) continue;
  const style = getComputedStyle(el);
  const [l1, l2] = [luminance(parse(style.color)), luminance(background(el))];
  const ratio = (Math.max(l1, l2) + 0.05) / (Math.min(l1, l2) + 0.05);
  const size = parseFloat(style.fontSize);
  const large = size >= 24 || (size >= 18.66 && Number(style.fontWeight) >= 700);
  if (ratio < (large ? 3 : 4.5)) low.push(`${el.tagName}.${el.className}: ${ratio.toFixed(2)}`);
}
return low;
"""

# Form controls without a label (a <label for>, a wrapping label, or aria-label).
UNLABELLED = """
return [...document.querySelectorAll('input, select, textarea, button')]
  .filter((c) => c.checkVisibility())
  .filter((c) => !(c.labels && c.labels.length) && !c.getAttribute('aria-label')
                 && !(c.tagName === 'BUTTON' && c.textContent.trim()))
  .map((c) => c.id || c.outerHTML.slice(0, 80));
"""
