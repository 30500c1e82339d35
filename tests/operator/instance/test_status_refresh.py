"""Bursts of Deployment events become one status refresh per instance, on a bounded number of
threads."""

from __future__ import annotations

import asyncio
import json
import threading
import time
from typing import Any

from repairgpt_operator.instance.observed import deployment_counts, ready_condition
from repairgpt_operator.instance.status_refresh import StatusRefresher, slim_deployment
from repairgpt_operator.maintenance.advance import api_deployment_state
from repairgpt_operator.resources import build_deployment
from repairgpt_operator.rollout.health import RESTART_TEMPLATE_ANNOTATION, observe_deployment
from tests.operator.factories import make_instance


async def _until(condition: Any, seconds: float = 5.0) -> bool:
    deadline = time.monotonic() + seconds
    while time.monotonic() < deadline:
        if condition():
            return True
        await asyncio.sleep(0.01)
    return bool(condition())


async def test_a_burst_of_events_refreshes_once_with_the_newest_deployment() -> None:
    calls: list[tuple[str, str, dict[str, Any]]] = []

    def refresh(namespace: str, name: str, deployment: dict[str, Any]) -> None:
        calls.append((namespace, name, deployment))

    refresher = StatusRefresher(refresh, delay=0.2, concurrency=2)
    task = asyncio.create_task(refresher.run())
    for replicas in (0, 1, 2):
        refresher.submit("repair", "shop", {"status": {"replicas": replicas}})
    assert refresher.pending() == 1
    assert await _until(lambda: calls)
    await asyncio.sleep(0.3)
    task.cancel()
    assert calls == [("repair", "shop", {"status": {"replicas": 2}})]
    assert refresher.pending() == 0


async def test_instances_are_refreshed_independently() -> None:
    seen: set[str] = set()

    def refresh(namespace: str, name: str, deployment: dict[str, Any]) -> None:
        seen.add(name)

    refresher = StatusRefresher(refresh, delay=0.05, concurrency=2)
    task = asyncio.create_task(refresher.run())
    refresher.submit("repair", "a", {})
    refresher.submit("repair", "b", {})
    assert await _until(lambda: seen == {"a", "b"})
    task.cancel()


async def test_many_instances_at_once_use_no_more_threads_than_the_concurrency() -> None:
    lock = threading.Lock()
    running = 0
    most = 0
    done: list[str] = []

    def refresh(namespace: str, name: str, deployment: dict[str, Any]) -> None:
        nonlocal running, most
        with lock:
            running += 1
            most = max(most, running)
        time.sleep(0.01)
        with lock:
            running -= 1
            done.append(name)

    # Threads other tests left (idle ones end on their own) are not this refresher's.
    before = threading.active_count()
    refresher = StatusRefresher(refresh, delay=0.01, concurrency=3)
    task = asyncio.create_task(refresher.run())
    for index in range(60):
        refresher.submit("repair", f"i{index}", {})
    assert await _until(lambda: len(done) == 60)
    task.cancel()
    assert most <= 3
    assert threading.active_count() - before < 10


def test_an_instance_whose_refresh_still_runs_waits_for_the_next_turn() -> None:
    refresher = StatusRefresher(lambda *_: None, delay=1.0, concurrency=4, clock=lambda: 0.0)
    refresher.submit("repair", "shop", {"n": 1})
    [(key, deployment)] = refresher.take_due(1.0, limit=4)
    refresher.submit("repair", "shop", {"n": 2})  # arrives while the first refresh runs
    assert refresher.take_due(5.0, limit=4) == []
    refresher.finished(key)
    assert refresher.take_due(6.0, limit=4) == [(key, {"n": 2})]
    assert deployment == {"n": 1}


def test_a_queued_refresh_keeps_only_what_the_decisions_read_and_they_decide_alike() -> None:
    instance = make_instance({"replicas": 3})
    deployment = build_deployment(instance)
    deployment["metadata"].update(generation=4, resourceVersion="77", managedFields=[{"x": 1}])
    deployment["spec"]["template"]["metadata"].setdefault("annotations", {})[
        RESTART_TEMPLATE_ANNOTATION
    ] = "token-1"
    for status in (
        {},
        {"observedGeneration": 4, "replicas": 3, "updatedReplicas": 3, "readyReplicas": 1,
         "availableReplicas": 1,
         "conditions": [{"type": "Progressing", "status": "False",
                         "reason": "ProgressDeadlineExceeded", "message": "too slow"}]},
        {"observedGeneration": 4, "replicas": 3, "updatedReplicas": 3, "readyReplicas": 3,
         "availableReplicas": 3},
    ):  # fmt: skip
        full = {**deployment, "status": status}
        slim = slim_deployment(full)
        assert len(json.dumps(slim)) < len(json.dumps(full)) / 3
        assert observe_deployment(slim) == observe_deployment(full)
        assert deployment_counts(slim) == deployment_counts(full)
        assert ready_condition(instance, slim, []) == ready_condition(instance, full, [])
        assert api_deployment_state(slim) == api_deployment_state(full)
    autoscaled = build_deployment(make_instance({"autoscaling": {"enabled": True}}))
    assert "replicas" not in slim_deployment(autoscaled)["spec"]
