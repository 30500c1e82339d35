"""Remembers the latest body of every RepairGPTInstance the operator has seen.

Child events and the resync loop read it instead of asking the API server again.
"""

from __future__ import annotations

import json
import threading
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from typing import Any

from repairgpt_operator.instance.versions import older, resource_version

Predicate = Callable[[Mapping[str, Any]], bool]


@dataclass(frozen=True, slots=True)
class _Entry:
    """One remembered body, as compact JSON (a fraction of the memory of the dicts, and decoded
    faster than they would be deep-copied), with what comparisons and flags need."""

    encoded: bytes
    uid: str | None
    version: int | None
    flags: frozenset[str]

    def body(self) -> dict[str, Any]:
        decoded: dict[str, Any] = json.loads(self.encoded)
        return decoded


class InstanceRegistry:
    """A thread-safe map (namespace, name) -> latest instance body; `flags` name predicates
    over a body, evaluated when it is remembered, that `keys` can select by."""

    def __init__(self, flags: Mapping[str, Predicate] | None = None) -> None:
        self._entries: dict[tuple[str, str], _Entry] = {}
        self._flags = dict(flags or {})
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
            current = self._entries.get((str(metadata.get("namespace")), str(metadata.get("name"))))
        if current is not None and _is_older(_uid(body), resource_version(body), current):
            return current.body()
        return body

    def remember(self, body: Mapping[str, Any]) -> None:
        """Store a copy of the body, unless an equally new or newer version is already stored:
        the operator also remembers the objects its own writes return, and the watch may deliver
        an older event afterwards. What no decision reads is left out (`trimmed`)."""
        snapshot = trimmed(body)
        metadata = snapshot["metadata"]
        key = (str(metadata.get("namespace")), str(metadata.get("name")))
        uid, version = _uid(snapshot), resource_version(snapshot)
        flags = frozenset(name for name, holds in self._flags.items() if holds(snapshot))
        entry = _Entry(json.dumps(snapshot, separators=(",", ":")).encode(), uid, version, flags)
        with self._lock:
            current = self._entries.get(key)
            if current is not None and _is_older(uid, version, current):
                return
            self._entries[key] = entry

    def forget(self, namespace: str, name: str) -> None:
        with self._lock:
            self._entries.pop((namespace, name), None)
            self._status_locks.pop((namespace, name), None)

    def get(self, namespace: str, name: str) -> dict[str, Any] | None:
        """A copy of the remembered body (the caller may change it)."""
        with self._lock:
            entry = self._entries.get((namespace, name))
        return entry.body() if entry is not None else None

    def keys(self, flag: str | None = None) -> list[tuple[str, str]]:
        """(namespace, name) of every remembered instance (whose body has `flag`)."""
        with self._lock:
            if flag is None:
                return list(self._entries)
            return [key for key, entry in self._entries.items() if flag in entry.flags]

    def __len__(self) -> int:
        with self._lock:
            return len(self._entries)


# Copies of the whole object or of its spec, kept by kubectl and kopf: a decision never reads them.
_UNREAD_ANNOTATIONS = ("kopf.", "kubectl.kubernetes.io/last-applied-configuration")


def trimmed(body: Mapping[str, Any]) -> dict[str, Any]:
    """`body` without managedFields and the annotations no decision reads (a new top level and
    metadata; the rest is shared with `body`)."""
    metadata = dict(body.get("metadata") or {})
    metadata.pop("managedFields", None)
    annotations = metadata.get("annotations")
    if annotations:
        metadata["annotations"] = {
            key: value
            for key, value in annotations.items()
            if not key.startswith(_UNREAD_ANNOTATIONS)
        }
    return {**dict(body), "metadata": metadata}


def _uid(body: Mapping[str, Any]) -> str | None:
    uid = (body.get("metadata") or {}).get("uid")
    return None if uid is None else str(uid)


def _is_older(uid: str | None, version: int | None, current: _Entry) -> bool:
    # Versions of another object with the same name (deleted and made again) are not compared.
    return uid == current.uid and older(version, current.version)
