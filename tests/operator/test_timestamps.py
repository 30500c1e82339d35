"""Timestamps are written and read as Kubernetes does: RFC 3339, UTC, whole seconds."""

from __future__ import annotations

from datetime import UTC, datetime

from repairgpt_operator.timestamps import format_time, now_rfc3339, parse_time


def test_a_moment_round_trips_through_its_rfc3339_text() -> None:
    moment = datetime(2026, 11, 28, 21, 5, 9, tzinfo=UTC)
    assert format_time(moment) == "2026-11-28T21:05:09Z"
    assert parse_time("2026-11-28T21:05:09Z") == moment


def test_now_is_written_in_whole_seconds_with_a_z() -> None:
    before = datetime.now(UTC).replace(microsecond=0)
    now = parse_time(now_rfc3339())
    assert before <= now <= datetime.now(UTC)
    assert now_rfc3339().endswith("Z") and "." not in now_rfc3339()
