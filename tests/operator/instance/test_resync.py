"""One scheduler resyncs every known instance once per interval, spread over the interval, a few
at a time, and says when it falls behind."""

from __future__ import annotations

import asyncio
import logging
import os
import random
import threading
from pathlib import Path

import pytest
from prometheus_client import REGISTRY

from repairgpt_operator.instance.resync import (
    ResyncPlan,
    ResyncScheduler,
    default_concurrency,
    usable_cpus,
)


async def test_every_known_instance_is_resynced_each_interval() -> None:
    seen: list[tuple[str, str]] = []
    lock = threading.Lock()

    def resync(namespace: str, name: str) -> None:
        with lock:
            seen.append((namespace, name))

    keys = [("a", "one"), ("b", "two")]
    scheduler = ResyncScheduler(lambda: keys, resync, interval=0.01, concurrency=2)
    task = asyncio.create_task(scheduler.run())
    for _ in range(500):
        await asyncio.sleep(0.01)
        with lock:
            if seen.count(("a", "one")) >= 2 and seen.count(("b", "two")) >= 2:
                break
    task.cancel()
    with lock:
        assert seen.count(("a", "one")) >= 2 and seen.count(("b", "two")) >= 2


async def test_a_failing_resync_does_not_stop_the_others() -> None:
    done = threading.Event()

    def resync(namespace: str, name: str) -> None:
        if name == "broken":
            raise RuntimeError("boom")
        done.set()

    keys = [("a", "broken"), ("a", "fine")]
    scheduler = ResyncScheduler(lambda: keys, resync, interval=0.01, concurrency=1)
    task = asyncio.create_task(scheduler.run())
    for _ in range(500):
        await asyncio.sleep(0.01)
        if done.is_set():
            break
    task.cancel()
    assert done.is_set()


def _keys(count: int) -> list[tuple[str, str]]:
    return [("ns", f"i{index}") for index in range(count)]


def test_new_instances_are_spread_over_the_interval_after_their_first_pass() -> None:
    plan = ResyncPlan(60.0, random.Random(7))
    plan.sync(_keys(1000), now=0.0)
    # kopf's create or resume pass has just reconciled them: none is due within an interval.
    assert plan.take_due(59.9, limit=1000) == []
    # Then each tenth of the next interval holds about a tenth of them, not all at once.
    per_tenth = [len(plan.take_due(60.0 + 6.0 * (tenth + 1), limit=1000)) for tenth in range(10)]
    assert sum(per_tenth) == 1000
    assert all(60 <= count <= 140 for count in per_tenth), per_tenth


def test_a_finished_resync_comes_back_one_interval_after_it_was_due() -> None:
    plan = ResyncPlan(10.0, random.Random(1))
    plan.sync([("ns", "a")], now=0.0)
    [(key, due)] = plan.take_due(20.0, limit=5)
    plan.finish(key, due, now=due + 1.0)
    assert plan.take_due(due + 10.0 - 0.6, limit=5) == []  # not before the jitter allows
    [(again, next_due)] = plan.take_due(due + 10.6, limit=5)
    assert again == key and abs(next_due - (due + 10.0)) <= 0.5
    assert (plan.due_total, plan.done_total) == (2, 1)


def test_a_running_or_forgotten_instance_is_not_handed_out_again() -> None:
    plan = ResyncPlan(10.0, random.Random(2))
    plan.sync([("ns", "a"), ("ns", "b")], now=0.0)
    taken = plan.take_due(20.0, limit=1)
    plan.sync([("ns", "a"), ("ns", "b")], now=20.0)  # the running one is not planned twice
    plan.sync([taken[0][0]], now=20.0)  # the other one went away
    assert plan.take_due(100.0, limit=5) == []


def test_when_the_interval_cannot_be_kept_the_lag_and_the_missed_resyncs_show() -> None:
    plan = ResyncPlan(10.0, random.Random(3))
    plan.sync(_keys(3), now=0.0)
    assert plan.lag(15.0) < 10.0
    # One at a time, each taking 25 s: the others wait far longer than an interval.
    [(key, due)] = plan.take_due(20.0, limit=1)
    plan.finish(key, due, now=due + 25.0)
    assert plan.lag(due + 25.0) > 10.0
    assert plan.due_total == 1 + 2  # the one that ran, and two intervals it missed
    assert plan.done_total == 1
    # The missed ones are not made up at once: the next is an interval after it finished.
    assert key not in [k for k, _ in plan.take_due(due + 25.0 + 9.4, limit=5)]
    assert key in [k for k, _ in plan.take_due(due + 25.0 + 10.6, limit=5)]


async def test_the_scheduler_reports_a_lag_beyond_the_interval(
    caplog: pytest.LogCaptureFixture,
) -> None:
    release = threading.Event()

    def slow(namespace: str, name: str) -> None:
        release.wait(5)

    scheduler = ResyncScheduler(lambda: _keys(3), slow, interval=0.05, concurrency=1)
    with caplog.at_level(logging.WARNING, logger="repairgpt_operator.instance.resync"):
        task = asyncio.create_task(scheduler.run())
        for _ in range(300):
            await asyncio.sleep(0.01)
            if "behind" in caplog.text:
                break
        release.set()
        task.cancel()
    assert "the resync is" in caplog.text and "behind its" in caplog.text
    assert REGISTRY.get_sample_value("repairgpt_operator_resync_lag_seconds") is not None


def test_the_default_concurrency_follows_the_cpus(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv("REPAIRGPT_RESYNC_CONCURRENCY", raising=False)
    assert default_concurrency() == 2 * usable_cpus()
    monkeypatch.setenv("REPAIRGPT_RESYNC_CONCURRENCY", "3")
    assert default_concurrency() == 3
    monkeypatch.setenv("REPAIRGPT_RESYNC_CONCURRENCY", "many")
    with pytest.raises(ValueError, match="REPAIRGPT_RESYNC_CONCURRENCY must be a whole number"):
        default_concurrency()


def test_a_containers_cpu_limit_bounds_the_cpus(tmp_path: Path) -> None:
    cpus = len(os.sched_getaffinity(0))
    cpu_max = tmp_path / "cpu.max"
    cpu_max.write_text("100000 100000\n")  # limits: cpu: "1"
    assert usable_cpus(cpu_max) == 1
    cpu_max.write_text("150000 100000\n")  # 1.5 CPUs: two threads may run
    assert usable_cpus(cpu_max) == min(cpus, 2)
    cpu_max.write_text("max 100000\n")  # no limit
    assert usable_cpus(cpu_max) == cpus
    assert usable_cpus(tmp_path / "missing") == cpus  # no cgroup v2


async def test_a_scheduler_that_is_behind_waits_for_its_threads_instead_of_spinning() -> None:
    release = threading.Event()
    rounds = 0

    def slow(namespace: str, name: str) -> None:
        release.wait(5)

    scheduler = ResyncScheduler(lambda: _keys(50), slow, interval=0.01, concurrency=2)
    original = scheduler._until_next

    def counted() -> float:
        nonlocal rounds
        rounds += 1
        return original()

    scheduler._until_next = counted  # type: ignore[method-assign]
    task = asyncio.create_task(scheduler.run())
    await asyncio.sleep(0.5)  # every thread busy, 48 instances overdue
    release.set()
    task.cancel()
    # Without the wait for a thread, this loop would turn thousands of times in half a second.
    assert rounds < 20, rounds
