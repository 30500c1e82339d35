"""Bursts of Deployment events become one status refresh per instance."""

from __future__ import annotations

import threading
import time
from typing import Any

from repairgpt_operator.instance.status_refresh import StatusRefresher


def test_a_burst_of_events_refreshes_once_with_the_newest_deployment() -> None:
    calls: list[tuple[str, str, dict[str, Any]]] = []
    done = threading.Event()

    def refresh(namespace: str, name: str, deployment: dict[str, Any]) -> None:
        calls.append((namespace, name, deployment))
        done.set()

    refresher = StatusRefresher(refresh, delay=0.2)
    for replicas in (0, 1, 2):
        refresher.submit("repair", "shop", {"status": {"replicas": replicas}})
    assert done.wait(5)
    time.sleep(0.3)
    assert calls == [("repair", "shop", {"status": {"replicas": 2}})]
    assert refresher.pending() == 0


def test_instances_are_refreshed_independently() -> None:
    seen: set[str] = set()
    both = threading.Event()

    def refresh(namespace: str, name: str, deployment: dict[str, Any]) -> None:
        seen.add(name)
        if len(seen) == 2:
            both.set()

    refresher = StatusRefresher(refresh, delay=0.05)
    refresher.submit("repair", "a", {})
    refresher.submit("repair", "b", {})
    assert both.wait(5)
    assert seen == {"a", "b"}
