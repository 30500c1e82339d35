"""What the child watches last saw of each child, and whether that version matched what the
operator wants: a periodic resync skips reading a child whose latest version was already found
in line (the watches keep this current, as an informer's cache would), and reads only the rest.

Per child it keeps two short strings, not the object: resourceVersion and the digest of the
manifest that version was found to match.
"""

from __future__ import annotations

import threading
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

from repairgpt_operator.instance.drift import applied_hash
from repairgpt_operator.instance.versions import as_number, older

ChildKey = tuple[str, str, str]  # kind, namespace, name


@dataclass(slots=True)
class _Seen:
    resource_version: str
    verified_hash: str | None = None


def _key(obj: Mapping[str, Any]) -> ChildKey:
    metadata = obj.get("metadata") or {}
    return (str(obj.get("kind")), str(metadata.get("namespace")), str(metadata.get("name")))


def _version(obj: Mapping[str, Any]) -> str:
    return str((obj.get("metadata") or {}).get("resourceVersion") or "")


def _not_older(candidate: str, current: str) -> bool:
    return not older(as_number(candidate), as_number(current))


class ChildVerdicts:
    """Thread-safe map (kind, namespace, name) -> latest version seen and its verdict."""

    def __init__(self) -> None:
        self._seen: dict[ChildKey, _Seen] = {}
        self._lock = threading.Lock()

    def observe(self, child: Mapping[str, Any]) -> bool:
        """A watch event: a newer version than the one verified has not been checked yet.
        True when this very version was verified already (the echo of the operator's own
        apply, or a version compared before): nothing to check."""
        key, version = _key(child), _version(child)
        with self._lock:
            seen = self._seen.get(key)
            if seen is None:
                self._seen[key] = _Seen(version)
            elif seen.resource_version == version:
                return seen.verified_hash is not None
            elif _not_older(version, seen.resource_version):
                self._seen[key] = _Seen(version)
            return False

    def verified(self, child: Mapping[str, Any], manifest: Mapping[str, Any]) -> None:
        """`child` (a live version) was found to match `manifest`, or is what applying it
        returned."""
        key, version = _key(child), _version(child)
        with self._lock:
            seen = self._seen.get(key)
            if seen is None or _not_older(version, seen.resource_version):
                self._seen[key] = _Seen(version, applied_hash(dict(manifest)))

    def forget(self, kind: str, namespace: str, name: str) -> None:
        with self._lock:
            self._seen.pop((kind, namespace, name), None)

    def in_sync(self, manifest: Mapping[str, Any]) -> bool:
        """Whether the latest version the watch saw was found to match this very manifest."""
        with self._lock:
            seen = self._seen.get(_key(manifest))
            if seen is None or seen.verified_hash is None:
                return False
            return seen.verified_hash == applied_hash(dict(manifest))

    def seen(self, kind: str, namespace: str, name: str) -> bool:
        """Whether the watches know the child to exist."""
        with self._lock:
            return (kind, namespace, name) in self._seen

    def __len__(self) -> int:
        with self._lock:
            return len(self._seen)
