"""Runs work items as they fall due on a few threads of their own, from one asyncio task."""

from __future__ import annotations

import asyncio
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from typing import Generic, TypeVar

Item = TypeVar("Item")

MIN_WAIT_SECONDS = 0.01
BUSY_WAIT_SECONDS = 0.5


class DueWork(Generic[Item]):
    """`take(free)` hands out up to `free` items that are due; each runs as `work(item)` on one
    of `concurrency` threads, and `finished(item, error)` follows on the event loop. Between
    rounds the task waits for a thread to finish or `wait()` seconds, whichever comes first
    (at most BUSY_WAIT_SECONDS while all of them are busy)."""

    def __init__(
        self,
        name: str,
        concurrency: int,
        *,
        take: Callable[[int], list[Item]],
        work: Callable[[Item], None],
        finished: Callable[[Item, BaseException | None], None],
        wait: Callable[[], float],
    ) -> None:
        self.name = name
        self.concurrency = concurrency
        self._take, self._work, self._finished, self._wait = take, work, finished, wait

    async def run(self) -> None:
        """Until cancelled; the threads are let go without waiting for them."""
        loop = asyncio.get_running_loop()
        running: dict[asyncio.Future[None], Item] = {}
        pool = ThreadPoolExecutor(self.concurrency, thread_name_prefix=self.name)
        try:
            while True:
                for item in self._take(self.concurrency - len(running)):
                    running[loop.run_in_executor(pool, self._work, item)] = item
                # With every thread busy a finished item is what to wait for: the next due time
                # (already past when behind) would make this loop spin. `take` still comes
                # round every BUSY_WAIT_SECONDS, so what it reports stays current.
                if len(running) >= self.concurrency:
                    timeout = BUSY_WAIT_SECONDS
                else:
                    timeout = max(MIN_WAIT_SECONDS, self._wait())
                if not running:
                    await asyncio.sleep(timeout)
                    continue
                done, _ = await asyncio.wait(
                    running, timeout=timeout, return_when=asyncio.FIRST_COMPLETED
                )
                for future in done:
                    self._finished(running.pop(future), future.exception())
        finally:
            pool.shutdown(wait=False, cancel_futures=True)
