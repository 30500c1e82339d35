"""Probes the primary database of every instance with failover on, and acts on `decide`.

The operator probes from its own process (the DSN comes from the primary Secret). State that
matters across restarts (the active database, the failure count) lives in `status.database`;
the start of a healthy streak (for automatic failback) is kept in memory only, so a restart
simply starts the stabilization window again.
"""

from __future__ import annotations

import asyncio
import logging
import threading
import time
from collections.abc import Callable, Mapping
from dataclasses import dataclass, replace
from datetime import UTC, datetime, timedelta
from typing import Any

from repairgpt_operator.conditions import DEGRADED, FAILED_OVER, make_condition, set_condition
from repairgpt_operator.events import Event, post_events
from repairgpt_operator.failover.decision import (
    FAILBACK_ANNOTATION,
    Decision,
    FailoverState,
    ProbeResult,
    decide,
)
from repairgpt_operator.failover.probe import probe_secret_database
from repairgpt_operator.instance.model import Instance, InvalidSpec
from repairgpt_operator.instance.spec import API_VERSION, KIND
from repairgpt_operator.instance.status_writer import write_status
from repairgpt_operator.kube import Kube, resource_path
from repairgpt_operator.metrics import FAILOVERS, PRIMARY_PROBES
from repairgpt_operator.timestamps import format_time

log = logging.getLogger(__name__)

Key = tuple[str, str]
# How often lastProbeTime is refreshed while nothing else changes (each refresh is a write).
PROBE_TIME_REFRESH_SECONDS = 60.0


@dataclass
class _Tracked:
    state: FailoverState
    next_due: float = 0.0
    busy: bool = False
    status_written_at: float = 0.0


def state_from_status(status: Mapping[str, Any]) -> FailoverState:
    """What a previous run of the operator left in status.database."""
    database = status.get("database") or {}
    degraded = any(
        c.get("type") == DEGRADED and c.get("status") == "True"
        for c in status.get("conditions") or []
    )
    return FailoverState(
        active="replica" if database.get("active") == "replica" else "primary",
        consecutive_failures=int(database.get("consecutiveFailures") or 0),
        degraded=degraded,
    )


def failover_conditions(
    previous: list[dict[str, Any]], decision: Decision, instance: Instance, now: str
) -> list[dict[str, Any]]:
    """FailedOver and Degraded, with the decision's reason as their message."""
    state = decision.state
    on_replica = state.active == "replica"
    conditions = set_condition(
        previous,
        make_condition(
            FAILED_OVER,
            "True" if on_replica else "False",
            reason="ReplicaInUse" if on_replica else "PrimaryInUse",
            message=decision.reason,
            observed_generation=instance.generation,
        ),
        now=now,
    )
    return set_condition(
        conditions,
        make_condition(
            DEGRADED,
            "True" if state.degraded else "False",
            reason="NoHealthyDatabase" if state.degraded else "DatabaseAvailable",
            message=decision.reason if state.degraded else "a database answers",
            observed_generation=instance.generation,
        ),
        now=now,
    )


EVENTS: dict[str, tuple[str, str]] = {
    "failover": ("Warning", "FailedOver"),
    "failback": ("Normal", "FailedBack"),
    "degraded": ("Warning", "Degraded"),
    "recovered": ("Normal", "Recovered"),
}


def failover_enabled(body: Mapping[str, Any]) -> bool:
    """Whether an instance body asks for failover (read without parsing the whole spec)."""
    return bool(((body.get("spec") or {}).get("failover") or {}).get("enabled"))


class FailoverProber:
    """Schedules the probes of every instance with failover on and applies the decisions.

    `keys` returns the instances with failover on, `body(namespace, name)` a copy of one of
    them (each read only when its probe is due); `reconcile(body)` applies the children after a
    switch.
    """

    def __init__(
        self,
        kube: Callable[[], Kube],
        keys: Callable[[], list[Key]],
        body: Callable[[str, str], dict[str, Any] | None],
        reconcile: Callable[[dict[str, Any]], None],
    ) -> None:
        self._kube = kube
        self._keys = keys
        self._body = body
        self._reconcile = reconcile
        self._tracked: dict[Key, _Tracked] = {}
        self._lock = threading.Lock()

    async def run(self, tick: float = 0.25) -> None:
        """Start each due probe in the thread pool; probes of different instances overlap."""
        loop = asyncio.get_running_loop()
        while True:
            for body in self.due(time.monotonic()):
                loop.run_in_executor(None, self.probe, body)
            await asyncio.sleep(tick)

    def due(self, now: float) -> list[dict[str, Any]]:
        """Bodies of the instances whose next probe is due (and not already running)."""
        wanted = set(self._keys())
        with self._lock:
            for key in list(self._tracked):
                if key not in wanted:
                    del self._tracked[key]
            new = [key for key in wanted if key not in self._tracked]
        for key in new:
            body = self._body(*key)
            if body is not None:
                state = state_from_status(body.get("status") or {})
                with self._lock:
                    self._tracked.setdefault(key, _Tracked(state))
        with self._lock:
            ready = [
                key
                for key in wanted
                if key in self._tracked
                and not self._tracked[key].busy
                and self._tracked[key].next_due <= now
            ]
            for key in ready:
                self._tracked[key].busy = True
        bodies = []
        for key in ready:
            body = self._body(*key)
            if body is None:
                with self._lock:
                    self._tracked.pop(key, None)
                continue
            bodies.append(body)
        return bodies

    def probe(self, body: dict[str, Any]) -> None:
        """One probe of one instance (blocking): decide, record, switch if needed."""
        key = (body["metadata"]["namespace"], body["metadata"]["name"])
        started = time.monotonic()
        interval = 5.0
        try:
            instance = Instance.from_body(body)
            failover = instance.spec.failover
            interval = float(failover.probe_interval_seconds)
            self._probe(key, body, instance)
        except InvalidSpec:
            pass
        except Exception:  # a probe must never take the loop down; try again next interval
            log.exception("failover probe of %s/%s failed", *key)
        finally:
            with self._lock:
                tracked = self._tracked.get(key)
                if tracked is not None:
                    tracked.busy = False
                    # Scheduled from the start of this probe: a slow probe does not stretch
                    # the detection time beyond interval x threshold.
                    tracked.next_due = started + interval

    def _probe(self, key: Key, body: dict[str, Any], instance: Instance) -> None:
        kube = self._kube()
        spec = instance.spec
        failover = spec.failover
        with self._lock:
            tracked = self._tracked.get(key)
        if tracked is None:
            return
        state = tracked.state
        timeout = min(2.0, max(0.5, failover.probe_interval_seconds * 0.8))
        primary = probe_secret_database(kube, instance.namespace, spec.database.primary, timeout)
        PRIMARY_PROBES.labels(result="ok" if primary.ok else "failed").inc()
        replica: ProbeResult | None = None
        due_for_failover = (
            state.active == "primary"
            and not primary.ok
            and state.consecutive_failures + 1 >= failover.failure_threshold
        )
        if due_for_failover and spec.database.replica is not None:
            replica = probe_secret_database(
                kube, instance.namespace, spec.database.replica, timeout
            )
        annotations = body["metadata"].get("annotations") or {}
        now = datetime.now(UTC)
        decision = decide(
            state,
            primary=primary,
            replica=replica,
            now=now,
            failure_threshold=failover.failure_threshold,
            failback=failover.failback,
            stabilization_window=timedelta(seconds=failover.stabilization_window_seconds),
            failback_requested=bool(annotations.get(FAILBACK_ANNOTATION)),
        )
        if decision.action != "none" or decision.state != state:
            log.info("failover %s/%s: %s (%s)", *key, decision.action, decision.reason)
        persisted = replace(decision.state, primary_healthy_since=None)
        changed = persisted != replace(state, primary_healthy_since=None)
        stale = time.monotonic() - tracked.status_written_at > PROBE_TIME_REFRESH_SECONDS
        stored: dict[str, Any] | None = None
        if changed or stale:
            stored = self._write_status(kube, instance, decision, now)
            tracked.status_written_at = time.monotonic()
        tracked.state = decision.state
        if decision.action == "none":
            return
        if decision.action in ("failover", "failback"):
            FAILOVERS.labels(
                direction="to_replica" if decision.action == "failover" else "to_primary"
            ).inc()
        type_, reason = EVENTS[decision.action]
        post_events(kube, stored or body, [Event(type_, reason, decision.reason)])
        if decision.action == "failback" and annotations.get(FAILBACK_ANNOTATION):
            self._clear_failback_request(kube, instance)
        if stored is not None:
            # One rolling update of the API with the other DATABASE_URL (and READ_ONLY_MODE).
            self._reconcile(stored)

    def _write_status(
        self, kube: Kube, instance: Instance, decision: Decision, now: datetime
    ) -> dict[str, Any] | None:
        """Patch status.database and the FailedOver/Degraded conditions (conflict-safe)."""

        def changes(current: Mapping[str, Any]) -> dict[str, Any]:
            status = current.get("status") or {}
            conditions = failover_conditions(
                list(status.get("conditions") or []), decision, instance, format_time(now)
            )
            return {
                "database": {
                    "active": decision.state.active,
                    "consecutiveFailures": decision.state.consecutive_failures,
                    "lastProbeTime": format_time(now),
                },
                "conditions": conditions,
            }

        written = write_status(kube, instance.namespace, instance.name, None, changes)
        return None if written is None else written.stored

    def _clear_failback_request(self, kube: Kube, instance: Instance) -> None:
        # The request is done: a later failover must not fail back by itself.
        kube.patch_object(
            resource_path(API_VERSION, KIND, instance.namespace, instance.name),
            {"metadata": {"annotations": {FAILBACK_ANNOTATION: None}}},
        )
