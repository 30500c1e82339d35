"""Remembers the latest body of every RepairGPTInstance the operator has seen.

Child events and the resync loop read it instead of asking the API server again.
"""

from __future__ import annotations

import copy
import threading
from collections.abc import Callable, Mapping
from typing import Any


class InstanceRegistry:
    """A thread-safe map (namespace, name) -> latest instance body."""

    def __init__(self) -> None:
        self._bodies: dict[tuple[str, str], dict[str, Any]] = {}
        self._lock = threading.Lock()
        self._status_locks: dict[tuple[str, str], threading.Lock] = {}

    def status_lock(self, namespace: str, name: str) -> threading.Lock:
        """One lock per instance: status writes of one instance happen one after the other, each
        computed from what the previous one stored."""
        with self._lock:
            return self._status_locks.setdefault((namespace, name), threading.Lock())

    def freshest(self, body: Mapping[str, Any]) -> Mapping[str, Any]:
        """`body`, or the remembered copy of the same object if that one is newer."""
        metadata = body.get("metadata") or {}
        with self._lock:
            current = self._bodies.get((str(metadata.get("namespace")), str(metadata.get("name"))))
            if current is not None and _is_older(body, current):
                return copy.deepcopy(current)
        return body

    def remember(self, body: Mapping[str, Any]) -> None:
        """Store a copy of the body, unless an equally new or newer version is already stored:
        the operator also remembers the objects its own writes return, and the watch may deliver
        an older event afterwards. What no decision reads is left out (`trimmed`)."""
        snapshot = trimmed(body)
        metadata = snapshot["metadata"]
        key = (str(metadata.get("namespace")), str(metadata.get("name")))
        with self._lock:
            current = self._bodies.get(key)
            if current is not None and _is_older(snapshot, current):
                return
            self._bodies[key] = snapshot

    def forget(self, namespace: str, name: str) -> None:
        with self._lock:
            self._bodies.pop((namespace, name), None)
            self._status_locks.pop((namespace, name), None)

    def get(self, namespace: str, name: str) -> dict[str, Any] | None:
        with self._lock:
            body = self._bodies.get((namespace, name))
            return copy.deepcopy(body) if body is not None else None

    def keys(
        self, where: Callable[[Mapping[str, Any]], bool] | None = None
    ) -> list[tuple[str, str]]:
        """(namespace, name) of every remembered instance (for which `where(body)` holds)."""
        with self._lock:
            if where is None:
                return list(self._bodies)
            return [key for key, body in self._bodies.items() if where(body)]

    def __len__(self) -> int:
        with self._lock:
            return len(self._bodies)


# Copies of the whole object or of its spec, kept by kubectl and kopf: a decision never reads them.
_UNREAD_ANNOTATIONS = ("kopf.", "kubectl.kubernetes.io/last-applied-configuration")


def trimmed(body: Mapping[str, Any]) -> dict[str, Any]:
    """A deep copy of `body` without managedFields and the annotations no decision reads."""
    metadata = dict(body.get("metadata") or {})
    metadata.pop("managedFields", None)
    annotations = metadata.get("annotations")
    if annotations:
        metadata["annotations"] = {
            key: value
            for key, value in annotations.items()
            if not key.startswith(_UNREAD_ANNOTATIONS)
        }
    return copy.deepcopy({**dict(body), "metadata": metadata})


def _resource_version(body: Mapping[str, Any]) -> int | None:
    value = (body.get("metadata") or {}).get("resourceVersion")
    try:
        return int(value) if value is not None else None
    except (TypeError, ValueError):
        return None


def _is_older(candidate: Mapping[str, Any], current: Mapping[str, Any]) -> bool:
    # resourceVersions are opaque by contract but etcd revisions in practice; compare only
    # when both are numbers and the uid is the same object.
    if (candidate.get("metadata") or {}).get("uid") != (current.get("metadata") or {}).get("uid"):
        return False
    new, old = _resource_version(candidate), _resource_version(current)
    return new is not None and old is not None and new < old
