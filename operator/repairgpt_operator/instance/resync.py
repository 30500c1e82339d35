"""The periodic resync: one scheduler reconciles every known instance once per interval."""

from __future__ import annotations

import asyncio
import logging
import os
from collections.abc import Callable

log = logging.getLogger(__name__)

Key = tuple[str, str]

# A periodic resync catches what no watch event reports (e.g. a change made while the operator
# was down and missed by the resume pass); child edits are caught sooner by the child watches.
RESYNC_INTERVAL_SECONDS = float(os.environ.get("REPAIRGPT_RESYNC_SECONDS", "60"))
RESYNC_CONCURRENCY = 4


class ResyncScheduler:
    """Every `interval` seconds, `resync(namespace, name)` (blocking, in the thread pool) for
    each of `keys()`, at most `concurrency` at once."""

    def __init__(
        self,
        keys: Callable[[], list[Key]],
        resync: Callable[[str, str], None],
        *,
        interval: float = RESYNC_INTERVAL_SECONDS,
        concurrency: int = RESYNC_CONCURRENCY,
    ) -> None:
        self._keys = keys
        self._resync = resync
        self.interval = interval
        self._concurrency = concurrency

    async def run(self) -> None:
        """Resync forever (until cancelled); a failed resync of one instance is logged."""
        loop = asyncio.get_running_loop()
        gate = asyncio.Semaphore(self._concurrency)

        async def resync_one(namespace: str, name: str) -> None:
            async with gate:
                await loop.run_in_executor(None, self._resync, namespace, name)

        while True:
            await asyncio.sleep(self.interval)
            results = await asyncio.gather(
                *(resync_one(*key) for key in self._keys()), return_exceptions=True
            )
            for result in results:
                if isinstance(result, Exception):
                    log.warning("resync failed: %s", result)
