"""The periodic resync: one scheduler reconciles every known instance once per interval.

Each instance gets its own slot in the interval (a random phase when it is first seen, then
`interval` later each time, with a little jitter), so the work is spread evenly instead of coming
in one burst. The first slot comes an interval after the instance is first seen: kopf's own
pass of a new (or, at start, resumed) instance has just reconciled it. At most `concurrency`
resyncs run at once, a number derived from the CPUs the process may use. When the resyncs fall
behind by more than an interval, the lag is exported as a metric and logged at warning level.
"""

from __future__ import annotations

import heapq
import logging
import math
import os
import random
import time
from collections.abc import Callable, Iterable
from pathlib import Path

from repairgpt_operator import metrics
from repairgpt_operator.workers import DueWork

log = logging.getLogger(__name__)

Key = tuple[str, str]

# A periodic resync catches what no watch event reports (e.g. a change made while the operator
# was down and missed by the resume pass); child edits are caught sooner by the child watches.
RESYNC_INTERVAL_SECONDS = float(os.environ.get("REPAIRGPT_RESYNC_SECONDS", "60"))
# Each slot moves by up to this share of the interval, so instances do not fall into step.
JITTER_SHARE = 0.05
# How often the scheduler looks for due work when nothing finishes sooner.
TICK_SECONDS = 0.5


# cgroup v2: a container's CPU limit, as "quota period" in microseconds, or "max".
CPU_MAX = Path("/sys/fs/cgroup/cpu.max")


def usable_cpus(cpu_max: Path = CPU_MAX) -> int:
    """The CPUs the process may use: those it may run on, or fewer where its cgroup's quota (a
    container's CPU limit) allows less."""
    cpus = len(os.sched_getaffinity(0))
    try:
        quota, period = cpu_max.read_text().split()[:2]
        return max(1, min(cpus, math.ceil(int(quota) / int(period))))
    except (OSError, ValueError, ZeroDivisionError):
        return cpus  # no cgroup v2 file, or "max": no quota


def default_concurrency() -> int:
    """Resyncs (and status refreshes) at once: two per usable CPU (they mostly wait on the API
    server), or REPAIRGPT_RESYNC_CONCURRENCY."""
    configured = os.environ.get("REPAIRGPT_RESYNC_CONCURRENCY")
    if not configured:
        return 2 * usable_cpus()
    try:
        return max(1, int(configured))
    except ValueError:
        raise ValueError(
            f"REPAIRGPT_RESYNC_CONCURRENCY must be a whole number, not {configured!r}"
        ) from None


class ResyncPlan:
    """When each instance is due (pure bookkeeping; the caller supplies the time)."""

    def __init__(self, interval: float, rng: random.Random | None = None) -> None:
        self.interval = interval
        self._rng = rng or random.Random()
        self._due: dict[Key, float] = {}
        self._heap: list[tuple[float, Key]] = []
        self._running: set[Key] = set()
        self.due_total = 0
        self.done_total = 0

    def sync(self, keys: Iterable[Key], now: float) -> None:
        """Plan new instances at a random phase of the next interval (kopf's create or resume
        pass reconciles them now); drop those that went away."""
        current = set(keys)
        for key in current - self._due.keys() - self._running:
            self._schedule(key, now + self.interval * (1.0 + self._rng.random()))
        for key in self._due.keys() - current:
            del self._due[key]

    def take_due(self, now: float, limit: int) -> list[tuple[Key, float]]:
        """Up to `limit` instances whose time has come, oldest first, each with the time it was
        due; they count as running until `finish`."""
        taken: list[tuple[Key, float]] = []
        while self._heap and len(taken) < limit and self._heap[0][0] <= now:
            due, key = heapq.heappop(self._heap)
            if self._due.get(key) != due:
                continue  # Rescheduled or forgotten since: a stale heap entry.
            del self._due[key]
            self._running.add(key)
            self.due_total += 1
            taken.append((key, due))
        return taken

    def finish(self, key: Key, due: float, now: float) -> None:
        """A resync of `key` (due at `due`) ended: plan the next one an interval later, or an
        interval from now when that time has already passed (the missed ones count as due, and
        are not made up in a burst)."""
        self._running.discard(key)
        self.done_total += 1
        following = due + self.interval
        if following <= now:
            missed = int((now - due) // self.interval)
            self.due_total += missed
            following = now + self.interval
        jitter = self._rng.uniform(-JITTER_SHARE, JITTER_SHARE) * self.interval
        self._schedule(key, max(now, following + jitter))

    def lag(self, now: float) -> float:
        """How long the most overdue waiting instance has been due (0 when none is)."""
        due = self.next_due()
        return 0.0 if due is None else max(0.0, now - due)

    def next_due(self) -> float | None:
        """When the earliest waiting instance is due (stale heap entries are dropped on the way:
        rescheduled or forgotten instances)."""
        while self._heap and self._due.get(self._heap[0][1]) != self._heap[0][0]:
            heapq.heappop(self._heap)
        return self._heap[0][0] if self._heap else None

    def _schedule(self, key: Key, when: float) -> None:
        self._due[key] = when
        heapq.heappush(self._heap, (when, key))


class ResyncScheduler:
    """Runs `resync(namespace, name)` (blocking, in the thread pool) for each of `keys()` once
    per `interval`, spread over the interval, at most `concurrency` at once."""

    def __init__(
        self,
        keys: Callable[[], list[Key]],
        resync: Callable[[str, str], None],
        *,
        interval: float = RESYNC_INTERVAL_SECONDS,
        concurrency: int | None = None,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        self._keys = keys
        self._resync = resync
        self.interval = interval
        self.concurrency = concurrency or default_concurrency()
        self._clock = clock
        self.plan = ResyncPlan(interval)
        self._behind = False
        self._synced = float("-inf")

    async def run(self) -> None:
        """Resync forever (until cancelled); a failed resync of one instance is logged."""
        # Threads of its own: a backlog of resyncs does not hold up the failover probes.
        await DueWork(
            "resync",
            self.concurrency,
            take=self._take,
            work=lambda item: self._resync(*item[0]),
            finished=self._finished,
            wait=self._until_next,
        ).run()

    def _take(self, free: int) -> list[tuple[Key, float]]:
        now = self._clock()
        if now - self._synced >= TICK_SECONDS:
            # New and forgotten instances, at most once a tick (not at every finished resync).
            self.plan.sync(self._keys(), now)
            self._synced = now
        taken = self.plan.take_due(now, free)
        self._report(now)
        return taken

    def _until_next(self) -> float:
        next_due = self.plan.next_due()
        return TICK_SECONDS if next_due is None else min(TICK_SECONDS, next_due - self._clock())

    def _finished(self, item: tuple[Key, float], error: BaseException | None) -> None:
        (namespace, name), due = item
        if error is not None:
            log.warning("resync of %s/%s failed: %s", namespace, name, error)
        metrics.RESYNCS.labels(outcome="failed" if error else "done").inc()
        self.plan.finish((namespace, name), due, self._clock())

    def _report(self, now: float) -> None:
        lag = self.plan.lag(now)
        metrics.RESYNC_LAG.set(lag)
        behind = lag > self.interval
        if behind and not self._behind:
            log.warning(
                "the resync is %.0f s behind its %.0f s interval (%d instances, %d at once)",
                lag,
                self.interval,
                len(self._keys()),
                self.concurrency,
            )
        elif self._behind and not behind:
            log.info("the resync keeps its %.0f s interval again", self.interval)
        self._behind = behind
