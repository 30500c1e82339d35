"""Keeps the set of unfinished restores and runs passes over them one at a time per restore.

A restore advances on its own events, on its Job's events and on a short tick (it also waits
for other objects: the instance entering maintenance, the API's pods going away). Passes over
one restore never overlap; a pass that would overlap is skipped (the running one sees as much).
"""

from __future__ import annotations

import asyncio
import threading
from collections.abc import Callable

Key = tuple[str, str]


class RestoreTracker:
    """`drive(namespace, name) -> bool` makes one pass and says whether more are needed."""

    def __init__(self, drive: Callable[[str, str], bool], wake_delay: float) -> None:
        self._drive = drive
        self._wake_delay = wake_delay
        self._active: set[Key] = set()
        self._locks: dict[Key, threading.Lock] = {}
        self._scheduled: set[Key] = set()
        self._lock = threading.Lock()

    def active(self) -> list[Key]:
        """The restores that still need passes."""
        with self._lock:
            return sorted(self._active)

    def wake(self, namespace: str, name: str) -> None:
        """Track the restore and make a pass soon (bursts of events coalesce into one pass)."""
        key = (namespace, name)
        with self._lock:
            self._active.add(key)
            if key in self._scheduled:
                return
            self._scheduled.add(key)
        timer = threading.Timer(self._wake_delay, self._fire, args=key)
        timer.daemon = True
        timer.start()

    def forget(self, namespace: str, name: str) -> None:
        """Stop tracking a restore (it was deleted)."""
        with self._lock:
            self._active.discard((namespace, name))

    def drive_if_idle(self, namespace: str, name: str) -> None:
        """One pass, unless a pass over the same restore is running."""
        key = (namespace, name)
        with self._lock:
            lock = self._locks.setdefault(key, threading.Lock())
        if not lock.acquire(blocking=False):
            return
        try:
            more = self._drive(namespace, name)
        finally:
            lock.release()
        if not more:
            with self._lock:
                self._active.discard(key)
                self._locks.pop(key, None)

    async def run(self, tick: float) -> None:
        """Restores wait on other objects (maintenance, the API's pods): look again every tick."""
        loop = asyncio.get_running_loop()
        while True:
            for key in self.active():
                loop.run_in_executor(None, self.drive_if_idle, *key)
            await asyncio.sleep(tick)

    def _fire(self, namespace: str, name: str) -> None:
        with self._lock:
            self._scheduled.discard((namespace, name))
        self.drive_if_idle(namespace, name)
