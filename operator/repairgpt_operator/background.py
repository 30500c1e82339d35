"""The operator's background jobs as asyncio tasks: started from kopf's startup hook together,
cancelled together on cleanup."""

from __future__ import annotations

import asyncio
from collections.abc import Callable, Coroutine, Mapping
from typing import Any

from repairgpt_operator import metrics

HEARTBEAT_SECONDS = 5.0

Job = Callable[[], Coroutine[Any, Any, None]]


class Heartbeat:
    """Tells /healthz that the event loop still runs, every `interval` seconds."""

    def __init__(self, interval: float = HEARTBEAT_SECONDS) -> None:
        self.interval = interval

    async def run(self) -> None:
        while True:
            metrics.heartbeat()
            await asyncio.sleep(self.interval)


class Background:
    """Named jobs, each run as one task from `start` until `stop`."""

    def __init__(self, jobs: Mapping[str, Job]) -> None:
        self._jobs = dict(jobs)
        self._tasks: list[asyncio.Task[None]] = []

    def start(self) -> None:
        self._tasks = [asyncio.create_task(job(), name=name) for name, job in self._jobs.items()]

    def stop(self) -> None:
        for task in self._tasks:
            task.cancel()
        self._tasks = []
