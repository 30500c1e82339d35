"""A guide page shows its own step images and only links to images on other sites."""

from __future__ import annotations

from pathlib import Path

import httpx
import pytest
from selenium.webdriver.common.by import By

from tests.app.conftest import ADMIN_KEY
from tests.browser.conftest import BrowserFactory, PageServer, console_errors, open_page, wait_for
from tests.browser.test_conversation import png

pytestmark = pytest.mark.slow  # a served API and a browser

EXTERNAL = "https://images.example.org/igi/kickstand.standard"
ORIGINS = "return performance.getEntriesByType('resource').map((r) => new URL(r.name).origin)"


def _guide_with_images(base_url: str, image: Path) -> tuple[int, str]:
    """A new guide whose step 1 has an uploaded image and step 2 an external one."""
    admin = {"X-API-Key": ADMIN_KEY}
    with httpx.Client(base_url=base_url, timeout=30) as client:
        hit = client.get("/api/v1/guides", params={"q": "", "limit": 1}).json()["data"][0]
        device_id = client.get(f"/api/v1/guides/{hit['id']}").json()["device"]["id"]
        steps = [
            {"text": "Power off the tablet."},
            {"text": "Lift the kickstand.", "images": [EXTERNAL]},
        ]
        body = {"device_id": device_id, "title": "Kickstand Replacement", "steps": steps}
        created = client.post("/api/v1/guides", json=body, headers=admin)
        assert created.status_code == 201, created.text
        guide_id: int = created.json()["id"]
        uploaded = client.post(
            f"/api/v1/guides/{guide_id}/steps/1/images",
            files={"file": ("step.png", image.read_bytes(), "image/png")},
            headers=admin,
        )
        assert uploaded.status_code == 201, uploaded.text
        return guide_id, uploaded.json()["images"][0]


def test_a_step_shows_its_uploaded_image_and_links_to_the_external_one(
    page_server: PageServer, browser: BrowserFactory, tmp_path: Path
) -> None:
    guide_id, image_url = _guide_with_images(page_server.base_url, png(tmp_path / "step.png"))
    driver = browser("en")
    open_page(driver, f"{page_server.base_url}/#/guides/{guide_id}")
    wait_for(driver, lambda d: d.find_element(By.CSS_SELECTOR, "#guide h1").text)
    steps = driver.find_elements(By.CSS_SELECTOR, "#guide ol.steps > li")
    assert len(steps) == 2

    image = steps[0].find_element(By.TAG_NAME, "img")
    assert image.get_attribute("alt") == "Step 1, image 1"
    assert image.get_attribute("loading") == "lazy"
    assert str(image.get_attribute("src")) == page_server.base_url + image_url
    driver.execute_script("arguments[0].scrollIntoView()", image)  # lazy: load it
    wait_for(driver, lambda d: d.execute_script("return arguments[0].complete", image))
    assert driver.execute_script("return arguments[0].naturalWidth", image) == 64
    width = driver.execute_script("return arguments[0].getBoundingClientRect().width", image)
    step_width = driver.execute_script("return arguments[0].clientWidth", steps[0])
    assert 0 < width <= step_width

    assert steps[1].find_elements(By.TAG_NAME, "img") == []
    link = steps[1].find_element(By.CSS_SELECTOR, "a.step-image-link")
    assert link.text == "Image on the guide's site"
    assert link.get_attribute("href") == EXTERNAL
    assert set(str(link.get_attribute("rel")).split()) == {"noopener", "noreferrer"}

    origins = driver.execute_script(ORIGINS)
    assert set(origins) == {page_server.base_url}  # nothing was fetched from another site
    assert console_errors(driver) == []
