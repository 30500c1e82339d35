"""The recovery point objective of a backup schedule: how long a backup stays recent enough."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Any, Literal

from cronsim import CronSim, CronSimError

from repairgpt_operator.conditions import ConditionStatus, make_condition
from repairgpt_operator.timestamps import format_time, parse_time

# The CronJob controller's macros, as the five-field schedules they stand for.
MACROS = {
    "@hourly": "0 * * * *",
    "@daily": "0 0 * * *",
    "@midnight": "0 0 * * *",
    "@weekly": "0 0 * * 0",
    "@monthly": "0 0 1 * *",
    "@yearly": "0 0 1 1 *",
    "@annually": "0 0 1 1 *",
}


# For a schedule the cron library cannot read (the CRD's pattern lets few through): two days.
FALLBACK_WINDOW = timedelta(days=2)


@dataclass(frozen=True)
class RpoWindow:
    """How long a backup finished at `since` stays recent enough: from the scheduled run at or
    before it to the second run after that (twice the interval of a regular schedule), so one
    missed or failed run is tolerated and a second one is not."""

    since: datetime
    runs: tuple[datetime, ...]  # the two scheduled runs that should bring a newer backup
    limit: timedelta

    @property
    def deadline(self) -> datetime:
        return self.since + self.limit

    @property
    def seconds(self) -> int:
        return int(self.limit.total_seconds())


def rpo_window(schedule: str, since: datetime) -> RpoWindow:
    """The RPO window of a backup finished at `since` under a cron schedule (read in UTC, as
    the CronJob controller does without spec.timeZone), e.g. 14 days for `0 3 * * MON`."""
    expression = MACROS.get(schedule.strip(), schedule.strip())
    since = since.astimezone(UTC).replace(microsecond=0)
    try:
        # One second later, so that a run exactly at `since` counts as the one at or before it.
        previous = next(CronSim(expression, since + timedelta(seconds=1), reverse=True))
        upcoming = CronSim(expression, previous)
        runs = (next(upcoming), next(upcoming))
    except (CronSimError, StopIteration):
        return RpoWindow(since=since, runs=(), limit=FALLBACK_WINDOW)
    return RpoWindow(since=since, runs=runs, limit=runs[1] - previous)


def describe_runs(window: RpoWindow) -> str:
    """`the runs at A and B`, for condition messages."""
    if not window.runs:
        return f"{window.seconds} s"
    times = " and ".join(format_time(run) for run in window.runs)
    return f"{window.seconds} s; the runs at {times} brought no newer one"


Freshness = Literal["failed", "fresh", "suspended", "too-old", "never-succeeded", "awaiting"]


@dataclass(frozen=True)
class Verdict:
    """Where the newest run of a scheduled Job stands against its RPO window."""

    freshness: Freshness
    # The window of the newest success (set when there is one and it did not fail since).
    window: RpoWindow | None = None


def judge_freshness(
    *,
    success: str | None,
    failure: str | None,
    schedule: str,
    suspended: bool,
    created: str | None,
    now: datetime,
) -> Verdict:
    """The verdict on the newest success and failure of a scheduled Job (RFC 3339 times):
    failed (the newest run failed), fresh, suspended, too-old, never-succeeded (the schedule
    began more than one window ago) or awaiting (its first run)."""
    if failure and (not success or parse_time(failure) >= parse_time(success)):
        return Verdict("failed")
    window = rpo_window(schedule, parse_time(success)) if success else None
    if window is not None and now <= window.deadline:
        return Verdict("fresh", window)
    if suspended:
        return Verdict("suspended", window)
    if window is not None:
        return Verdict("too-old", window)
    if created and now > rpo_window(schedule, parse_time(created)).deadline:
        return Verdict("never-succeeded")
    return Verdict("awaiting")


# What a condition says for each verdict: its status, reason and message template. A template
# may name {success}, {failure}, {created} (the schedule's start), {window} (the RPO window's
# runs) and the values its condition function adds.
Wording = Mapping[Freshness, tuple[ConditionStatus, str, str]]


@dataclass(frozen=True)
class ScheduledRuns:
    """The newest outcomes of a scheduled Job, as the status records them."""

    success: str | None
    failure: str | None
    schedule: str
    suspended: bool
    cronjob: Mapping[str, Any] | None


def freshness_condition(
    condition_type: str,
    wording: Wording,
    runs: ScheduledRuns,
    *,
    now: datetime,
    generation: int,
    **values: str,
) -> dict[str, Any]:
    """The condition that `wording` gives the verdict on `runs`."""
    created = ((runs.cronjob or {}).get("metadata") or {}).get("creationTimestamp")
    verdict = judge_freshness(
        success=runs.success,
        failure=runs.failure,
        schedule=runs.schedule,
        suspended=runs.suspended,
        created=created,
        now=now,
    )
    status, reason, template = wording[verdict.freshness]
    message = template.format(
        success=runs.success,
        failure=runs.failure,
        created=created,
        window=describe_runs(verdict.window) if verdict.window is not None else "",
        **values,
    )
    return make_condition(
        condition_type, status, reason=reason, message=message, observed_generation=generation
    )
