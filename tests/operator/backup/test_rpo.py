"""The RPO window of a backup schedule, and the verdict on a scheduled Job's newest run."""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

import pytest

from repairgpt_operator.backup.rpo import Verdict, judge_freshness, rpo_window
from repairgpt_operator.timestamps import parse_time

HOUR = 3600
DAY = 24 * HOUR
WEEK = 7 * DAY
NOW = datetime(2026, 11, 28, 12, tzinfo=UTC)


@pytest.mark.parametrize(
    ("schedule", "since", "seconds"),
    [
        ("0 * * * *", "2026-11-28T10:29:00Z", 2 * HOUR),
        ("*/15 * * * *", "2026-11-28T10:29:00Z", 30 * 60),
        ("30 2 * * *", "2026-11-28T02:40:00Z", 2 * DAY),
        ("0 */6 * * *", "2026-11-28T06:10:00Z", 12 * HOUR),
        # The runs that matter are the ones after the backup: 13:00, then 01:00 the next day.
        ("0 1,13 * * *", "2026-11-28T01:05:00Z", DAY),
        ("0 1,5 * * *", "2026-11-28T05:05:00Z", DAY),
        ("0 3 * * 0", "2026-11-29T03:05:00Z", 2 * WEEK),
        # Friday's backup: the next runs are Monday and Tuesday.
        ("0 3 * * 1-5", "2026-11-27T03:05:00Z", 4 * DAY),
        ("0 3 * * MON", "2026-11-30T03:05:00Z", 2 * WEEK),
        ("0 3 * * MON", "2026-11-30T03:00:00Z", 2 * WEEK),
        ("0 3 1 * *", "2026-11-01T03:05:00Z", 61 * DAY),
        ("@hourly", "2026-11-28T10:29:00Z", 2 * HOUR),
        ("@weekly", "2026-11-29T00:10:00Z", 2 * WEEK),
        ("not a schedule", "2026-11-28T10:29:00Z", 2 * DAY),
    ],
)
def test_the_rpo_window_spans_the_next_two_runs_of_the_real_schedule(
    schedule: str, since: str, seconds: int
) -> None:
    assert rpo_window(schedule, parse_time(since)).seconds == seconds


def _verdict(**overrides: Any) -> Verdict:
    arguments: dict[str, Any] = {
        "success": None,
        "failure": None,
        "schedule": "0 * * * *",
        "suspended": False,
        "created": None,
        "now": NOW,
    }
    return judge_freshness(**{**arguments, **overrides})


def test_a_failure_newer_than_the_newest_success_is_the_verdict() -> None:
    assert _verdict(failure="2026-11-28T11:05:00Z").freshness == "failed"
    verdict = _verdict(success="2026-11-28T11:05:00Z", failure="2026-11-28T11:05:00Z")
    assert verdict.freshness == "failed"
    verdict = _verdict(success="2026-11-28T11:06:00Z", failure="2026-11-28T11:05:00Z")
    assert verdict.freshness == "fresh"


def test_a_success_stays_fresh_for_two_runs_then_is_too_old_unless_suspended() -> None:
    assert _verdict(success="2026-11-28T10:30:00Z").freshness == "fresh"
    old = _verdict(success="2026-11-28T09:30:00Z")
    assert old.freshness == "too-old" and old.window is not None
    suspended = _verdict(success="2026-11-28T09:30:00Z", suspended=True)
    assert suspended.freshness == "suspended"


def test_without_any_success_the_first_run_is_awaited_for_one_window() -> None:
    assert _verdict(created="2026-11-28T11:30:00Z").freshness == "awaiting"
    assert _verdict(created="2026-11-28T08:00:00Z").freshness == "never-succeeded"
    assert _verdict().freshness == "awaiting"
