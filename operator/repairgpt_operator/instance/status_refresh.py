"""Coalesces bursts of Deployment events into one status refresh per instance.

A new Deployment changes its status several times within a second (the ReplicaSet creates pods
in batches); writing the instance status for each change would multiply API writes for nothing.
"""

from __future__ import annotations

import threading
from collections.abc import Callable
from typing import Any

Key = tuple[str, str]


class StatusRefresher:
    """Calls `refresh(namespace, name, deployment)` at most once per `delay` seconds per instance,
    with the newest Deployment seen meanwhile."""

    def __init__(self, refresh: Callable[[str, str, dict[str, Any]], None], delay: float) -> None:
        self._refresh = refresh
        self._delay = delay
        self._pending: dict[Key, dict[str, Any]] = {}
        self._lock = threading.Lock()

    def submit(self, namespace: str, name: str, deployment: dict[str, Any]) -> None:
        """Remember the newest Deployment of an instance and schedule a refresh if none is."""
        key = (namespace, name)
        with self._lock:
            scheduled = key in self._pending
            self._pending[key] = deployment
        if not scheduled:
            timer = threading.Timer(self._delay, self._fire, args=key)
            timer.daemon = True
            timer.start()

    def pending(self) -> int:
        with self._lock:
            return len(self._pending)

    def _fire(self, namespace: str, name: str) -> None:
        with self._lock:
            deployment = self._pending.pop((namespace, name), None)
        if deployment is not None:
            self._refresh(namespace, name, deployment)
