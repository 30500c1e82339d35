"""Leader election on a coordination.k8s.io/v1 Lease: of the operator's replicas only the holder
acts, the others wait and take over once it stops renewing.

The timing follows client-go's leaderelection. The holder renews every `renew_period`; when no
renewal has succeeded for `renew_deadline` it has lost the lease and must stop acting at once. A
standby takes the lease when its record has not changed for `lease_duration` by the standby's
own clock (clocks of different machines are never compared). Since renew_deadline is shorter
than lease_duration, an old holder has stopped before anyone else may start.
"""

from __future__ import annotations

import logging
import math
import os
import socket
import threading
import time
import uuid
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from repairgpt_operator import metrics
from repairgpt_operator.kube import ApiError, Kube, resource_path

LEASE_API_VERSION = "coordination.k8s.io/v1"
LEASE_KIND = "Lease"
DEFAULT_LEASE_NAME = "repairgpt-operator"
SERVICE_ACCOUNT_NAMESPACE = Path("/var/run/secrets/kubernetes.io/serviceaccount/namespace")
# How often the holder checks that its last renewal is recent enough.
DEADLINE_CHECK_SECONDS = 0.25

log = logging.getLogger(__name__)


@dataclass(frozen=True)
class LeaseTiming:
    """Seconds: how long a lease lasts unrenewed, when its holder gives up, how often it renews,
    and how often a standby reads the lease."""

    lease_duration: float = 10.0
    renew_deadline: float = 7.0
    renew_period: float = 2.0
    poll_period: float = 1.0

    def __post_init__(self) -> None:
        if not 0 < self.renew_period < self.renew_deadline < self.lease_duration:
            raise ValueError("need 0 < renew_period < renew_deadline < lease_duration")
        if self.poll_period <= 0:
            raise ValueError("poll_period must be positive")


@dataclass(frozen=True)
class Observation:
    """The Lease as last read, and when (local monotonic time) its spec was first seen so."""

    spec: Mapping[str, Any]
    resource_version: str
    changed_at: float


def observe(previous: Observation | None, lease: Mapping[str, Any], now: float) -> Observation:
    """The observation after reading `lease` at `now`: the clock restarts only on a change."""
    spec = dict(lease.get("spec") or {})
    version = str((lease.get("metadata") or {}).get("resourceVersion") or "")
    if previous is not None and dict(previous.spec) == spec:
        return Observation(spec, version, previous.changed_at)
    return Observation(spec, version, now)


def holder_of(spec: Mapping[str, Any]) -> str:
    """The identity holding the lease ("" when free)."""
    return str(spec.get("holderIdentity") or "")


def held_by_other(observation: Observation, identity: str, now: float, duration: float) -> bool:
    """Whether someone else holds the lease and may still be renewing it."""
    current = holder_of(observation.spec)
    if not current or current == identity:
        return False
    lasts = float(observation.spec.get("leaseDurationSeconds") or duration)
    return now < observation.changed_at + lasts


def micro_time(moment: datetime) -> str:
    """A Kubernetes MicroTime (RFC 3339 with microseconds, UTC)."""
    return moment.astimezone(UTC).strftime("%Y-%m-%dT%H:%M:%S.%fZ")


def claimed_spec(
    spec: Mapping[str, Any], identity: str, moment: datetime, duration: float
) -> dict[str, Any]:
    """The Lease spec that takes (or renews) the lease for `identity`."""
    stamp = micro_time(moment)
    renewing = holder_of(spec) == identity
    transitions = int(spec.get("leaseTransitions") or 0)
    return {
        "holderIdentity": identity,
        "leaseDurationSeconds": max(1, math.ceil(duration)),
        "acquireTime": spec.get("acquireTime") if renewing else stamp,
        "renewTime": stamp,
        "leaseTransitions": transitions if renewing else transitions + 1,
    }


def released_spec(spec: Mapping[str, Any], moment: datetime) -> dict[str, Any]:
    """The Lease spec that frees the lease, so that a standby takes it without waiting."""
    stamp = micro_time(moment)
    return {
        "holderIdentity": None,
        "leaseDurationSeconds": 1,
        "acquireTime": stamp,
        "renewTime": stamp,
        "leaseTransitions": int(spec.get("leaseTransitions") or 0),
    }


def default_identity() -> str:
    """The pod's name (POD_NAME), else host, process id and a random suffix."""
    pod = os.environ.get("POD_NAME")
    if pod:
        return pod
    return f"{socket.gethostname()}_{os.getpid()}_{uuid.uuid4().hex[:8]}"


def own_namespace() -> str | None:
    """The operator's own namespace: POD_NAMESPACE, else the service account's, else None."""
    namespace = os.environ.get("POD_NAMESPACE")
    if namespace:
        return namespace
    try:
        return SERVICE_ACCOUNT_NAMESPACE.read_text().strip() or None
    except OSError:
        return None


class LeaderElector:
    """Takes, renews and releases one Lease; reports losing it through `on_lost`."""

    def __init__(
        self,
        kube: Callable[[], Kube],
        *,
        namespace: str,
        name: str,
        identity: str,
        timing: LeaseTiming | None = None,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        self._kube = kube
        self.namespace = namespace
        self.name = name
        self.identity = identity
        self.timing = timing or LeaseTiming()
        self._clock = clock
        self._observation: Observation | None = None
        self._renewed_at: float | None = None
        self._lock = threading.Lock()
        self._losing = threading.Lock()
        self._stopped = threading.Event()
        self._lost = False

    @property
    def is_leading(self) -> bool:
        return self._renewed_at is not None and not self._lost

    def try_acquire_or_renew(self) -> bool:
        """One attempt: read the Lease, and write it as ours if it is free or ours already."""
        with self._lock:
            if self._stopped.is_set() or self._lost:
                return False
            started = self._clock()
            try:
                lease = self._kube().get(LEASE_API_VERSION, LEASE_KIND, self.namespace, self.name)
            except ApiError as error:
                log.warning("could not read lease %s/%s: %s", self.namespace, self.name, error)
                return False
            if lease is None:
                log.warning(
                    "lease %s/%s does not exist: waiting for it (deploy/ creates it)",
                    self.namespace,
                    self.name,
                )
                return False
            self._observation = observe(self._observation, lease, self._clock())
            duration = self.timing.lease_duration
            if held_by_other(self._observation, self.identity, self._clock(), duration):
                return False
            spec = claimed_spec(self._observation.spec, self.identity, datetime.now(UTC), duration)
            version = self._observation.resource_version
            try:
                written = self._kube().patch_object(
                    resource_path(LEASE_API_VERSION, LEASE_KIND, self.namespace, self.name),
                    {"metadata": {"resourceVersion": version}, "spec": spec},
                )
            except ApiError as error:
                if error.status != 409:  # 409: someone else wrote it first
                    log.warning("could not write lease %s/%s: %s", self.namespace, self.name, error)
                return False
            self._observation = observe(self._observation, written, self._clock())
            self._renewed_at = started
            return True

    def _next_attempt_in(self) -> float:
        """Seconds to the next read while standing by: at the poll period, or as the lease
        expires if that is sooner."""
        wait = self.timing.poll_period
        if self._observation is not None and holder_of(self._observation.spec):
            lasts = float(
                self._observation.spec.get("leaseDurationSeconds") or self.timing.lease_duration
            )
            wait = min(wait, self._observation.changed_at + lasts - self._clock())
        return max(0.05, wait)

    def wait_until_leading(self, on_tick: Callable[[], None] = lambda: None) -> bool:
        """Block until the lease is ours (True) or `stop()` was called (False)."""
        log.info("standing by for lease %s/%s as %s", self.namespace, self.name, self.identity)
        while not self._stopped.is_set():
            if self.try_acquire_or_renew():
                metrics.LEADER.set(1)
                metrics.LEADER_TRANSITIONS.labels(transition="acquired").inc()
                log.info(
                    "acquired lease %s/%s as %s: this replica acts now",
                    self.namespace,
                    self.name,
                    self.identity,
                )
                return True
            on_tick()
            self._stopped.wait(self._next_attempt_in())
        return False

    def renewal_overdue(self, now: float) -> bool:
        """Whether the last successful renewal is older than the renew deadline."""
        if self._renewed_at is None:
            return False
        return now - self._renewed_at > self.timing.renew_deadline

    def start_renewing(self, on_lost: Callable[[str], None]) -> None:
        """Renew in the background; call `on_lost(reason)` once if the lease is lost."""
        for target, name in ((self._renew_forever, "renewer"), (self._watch_deadline, "watchdog")):
            threading.Thread(
                target=target, args=(on_lost,), name=f"lease-{name}", daemon=True
            ).start()

    def _renew_forever(self, on_lost: Callable[[str], None]) -> None:
        while not self._stopped.wait(self.timing.renew_period):
            if self.try_acquire_or_renew() or self._stopped.is_set():
                continue
            observation = self._observation
            if observation is not None and holder_of(observation.spec) not in ("", self.identity):
                self._lose(on_lost, f"{holder_of(observation.spec)} holds it now")

    def _watch_deadline(self, on_lost: Callable[[str], None]) -> None:
        while not self._stopped.wait(DEADLINE_CHECK_SECONDS):
            if self.renewal_overdue(self._clock()):
                self._lose(on_lost, f"no renewal for {self.timing.renew_deadline:g}s")

    def _lose(self, on_lost: Callable[[str], None], reason: str) -> None:
        # Not under self._lock: a renewal may hang in it, and the watchdog must not wait.
        with self._losing:
            if self._lost or self._stopped.is_set():
                return
            self._lost = True
        metrics.LEADER.set(0)
        metrics.LEADER_TRANSITIONS.labels(transition="lost").inc()
        log.info("lost lease %s/%s: %s", self.namespace, self.name, reason)
        on_lost(reason)

    def stop(self) -> None:
        """Stop waiting and renewing (the lease is left as it is)."""
        self._stopped.set()

    def release(self) -> None:
        """Stop renewing and free the lease if still ours, so a standby takes it at once."""
        self._stopped.set()
        with self._lock:
            if not self.is_leading or self._observation is None:
                return
            spec = released_spec(self._observation.spec, datetime.now(UTC))
            version = self._observation.resource_version
            try:
                self._kube().patch_object(
                    resource_path(LEASE_API_VERSION, LEASE_KIND, self.namespace, self.name),
                    {"metadata": {"resourceVersion": version}, "spec": spec},
                )
            except ApiError as error:
                log.warning("could not release lease %s/%s: %s", self.namespace, self.name, error)
                return
            self._renewed_at = None
        metrics.LEADER.set(0)
        metrics.LEADER_TRANSITIONS.labels(transition="released").inc()
        log.info("released lease %s/%s", self.namespace, self.name)
