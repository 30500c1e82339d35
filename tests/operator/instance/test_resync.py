"""One scheduler resyncs every known instance once per interval, a few at a time."""

from __future__ import annotations

import asyncio
import threading

from repairgpt_operator.instance.resync import ResyncScheduler


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
