"""Log text never shows the passwords of connection URLs."""

from __future__ import annotations

from repairgpt.core.logging import scrub_secrets


def test_passwords_in_urls_are_scrubbed_from_log_text() -> None:
    line = "connect postgresql://app:pa55word@db:5432/x and redis://:r3d1s@cache:6379/0"
    assert (
        scrub_secrets(line)
        == "connect postgresql://app:***@db:5432/x and redis://:***@cache:6379/0"
    )
