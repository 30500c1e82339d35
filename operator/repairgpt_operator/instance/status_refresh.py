"""Coalesces bursts of Deployment (or Job) events into one status refresh per instance.

A new Deployment changes its status several times within a second (the ReplicaSet creates pods
in batches); writing the instance status for each change would multiply API writes for nothing.
The refreshes run on a few threads of their own (a number derived from the CPUs), so a thousand
instances changing at once queue up instead of opening a thousand connections.
"""

from __future__ import annotations

import heapq
import logging
import threading
import time
from collections.abc import Callable, Mapping
from typing import Any

from repairgpt_operator.instance.resync import default_concurrency
from repairgpt_operator.workers import DueWork

log = logging.getLogger(__name__)

Key = tuple[str, str]
Refresh = Callable[[str, str, dict[str, Any]], None]

TICK_SECONDS = 0.1


def slim_deployment(deployment: Mapping[str, Any]) -> dict[str, Any]:
    """What the status and rollout decisions read of a Deployment (identity, generation,
    replicas, the API container's image, the pod template's annotations, the whole status):
    a refresh waiting in the queue keeps this, not the pod template."""
    metadata = deployment.get("metadata") or {}
    spec = deployment.get("spec") or {}
    template = spec.get("template") or {}
    containers = (template.get("spec") or {}).get("containers") or []
    slim_spec: dict[str, Any] = {
        "template": {
            "metadata": {"annotations": (template.get("metadata") or {}).get("annotations") or {}},
            "spec": {
                "containers": [{"name": c.get("name"), "image": c.get("image")} for c in containers]
            },
        }
    }
    if "replicas" in spec:
        slim_spec["replicas"] = spec["replicas"]
    return {
        "apiVersion": deployment.get("apiVersion"),
        "kind": deployment.get("kind"),
        "metadata": {
            key: metadata[key]
            for key in ("name", "namespace", "uid", "generation", "resourceVersion")
            if key in metadata
        },
        "spec": slim_spec,
        "status": deployment.get("status") or {},
    }


class StatusRefresher:
    """Calls `refresh(namespace, name, deployment)` at most once per `delay` seconds per instance,
    with the newest Deployment seen meanwhile, at most `concurrency` at once, from `run`."""

    def __init__(
        self,
        refresh: Refresh,
        delay: float,
        *,
        concurrency: int | None = None,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        self._refresh = refresh
        self._delay = delay
        self.concurrency = concurrency or default_concurrency()
        self._clock = clock
        self._pending: dict[Key, dict[str, Any]] = {}
        self._heap: list[tuple[float, Key]] = []
        self._running: set[Key] = set()
        self._lock = threading.Lock()

    def submit(self, namespace: str, name: str, deployment: dict[str, Any]) -> None:
        """Remember the newest Deployment of an instance; its refresh comes `delay` after the
        first of a burst (thread-safe: kopf's handler threads call it)."""
        key = (namespace, name)
        with self._lock:
            if key not in self._pending:
                heapq.heappush(self._heap, (self._clock() + self._delay, key))
            self._pending[key] = deployment

    def pending(self) -> int:
        """Instances waiting for their refresh."""
        with self._lock:
            return len(self._pending)

    def take_due(self, now: float, limit: int) -> list[tuple[Key, dict[str, Any]]]:
        """Up to `limit` refreshes whose time has come; an instance whose refresh still runs
        waits for the next turn."""
        taken: list[tuple[Key, dict[str, Any]]] = []
        postponed: list[Key] = []
        with self._lock:
            while self._heap and len(taken) < limit and self._heap[0][0] <= now:
                _, key = heapq.heappop(self._heap)
                if key in self._running:
                    postponed.append(key)
                    continue
                self._running.add(key)
                taken.append((key, self._pending.pop(key)))
            for key in postponed:
                heapq.heappush(self._heap, (now + self._delay, key))
        return taken

    def finished(self, key: Key) -> None:
        with self._lock:
            self._running.discard(key)

    async def run(self) -> None:
        """Refresh what is due until cancelled; a failed refresh is logged."""
        await DueWork(
            "status-refresh",
            self.concurrency,
            take=lambda free: self.take_due(self._clock(), free),
            work=lambda item: self._refresh(*item[0], item[1]),
            finished=self._finished,
            wait=lambda: TICK_SECONDS,
        ).run()

    def _finished(self, item: tuple[Key, dict[str, Any]], error: BaseException | None) -> None:
        self.finished(item[0])
        if error is not None:
            log.warning("status refresh of %s/%s failed: %s", *item[0], error)
