"""Whether the cluster serves the prometheus-operator kinds, asked through API discovery and
remembered briefly (the CRDs are installed or removed rarely; instances reconcile often)."""

from __future__ import annotations

import threading
import time
from collections.abc import Callable, Iterable

from repairgpt_operator.kube import Kube

MONITORING_GROUP = "monitoring.coreos.com"
MONITORING_GROUP_VERSION = f"{MONITORING_GROUP}/v1"
MONITORING_KINDS = ("ServiceMonitor", "PodMonitor", "PrometheusRule")
CACHE_SECONDS = 30.0

Kind = tuple[str, str]  # (apiVersion, kind)


def missing_kinds(served: Iterable[str]) -> frozenset[Kind]:
    """The prometheus-operator kinds absent from the kinds a group version serves."""
    present = set(served)
    return frozenset(
        (MONITORING_GROUP_VERSION, kind) for kind in MONITORING_KINDS if kind not in present
    )


class ServedKinds:
    """The kinds missing from the cluster, read at most once per `ttl` seconds."""

    def __init__(
        self,
        discover: Callable[[str], Iterable[str]],
        ttl: float = CACHE_SECONDS,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        self._discover = discover
        self._ttl = ttl
        self._clock = clock
        self._lock = threading.Lock()
        self._missing: frozenset[Kind] | None = None
        self._read_at = 0.0

    def missing(self) -> frozenset[Kind]:
        with self._lock:
            now = self._clock()
            if self._missing is None or now - self._read_at >= self._ttl:
                self._missing = missing_kinds(self._discover(MONITORING_GROUP_VERSION))
                self._read_at = now
            return self._missing

    def forget(self) -> None:
        """Ask again on the next call."""
        with self._lock:
            self._missing = None


_caches: dict[str, ServedKinds] = {}
_caches_lock = threading.Lock()


def missing_monitoring_kinds(kube: Kube) -> frozenset[Kind]:
    """The prometheus-operator kinds this cluster does not serve (cached per API server)."""
    with _caches_lock:
        cache = _caches.get(kube.server)
        if cache is None:
            cache = _caches[kube.server] = ServedKinds(kube.served_kinds)
    return cache.missing()


def forget_monitoring_kinds(kube: Kube) -> None:
    """Ask discovery again next time (a write found a kind gone, e.g. its CRD was deleted)."""
    with _caches_lock:
        cache = _caches.get(kube.server)
    if cache is not None:
        cache.forget()
