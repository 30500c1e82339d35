"""The latest API Deployment of each instance as the watch delivered it, slim
(`slim_deployment`) and as compact JSON: what a trusted pass needs of it for the rollout and the
status, without a read (an informer's cache, for this one object)."""

from __future__ import annotations

import json
import threading
from collections.abc import Mapping
from typing import Any


class WatchedDeployments:
    """Thread-safe map (namespace, instance name) -> latest slim API Deployment."""

    def __init__(self) -> None:
        self._encoded: dict[tuple[str, str], bytes] = {}
        self._lock = threading.Lock()

    def remember(self, namespace: str, name: str, slim: Mapping[str, Any]) -> None:
        """Keep `slim`, a Deployment already made slim by `slim_deployment`."""
        encoded = json.dumps(slim, separators=(",", ":")).encode()
        with self._lock:
            self._encoded[(namespace, name)] = encoded

    def forget(self, namespace: str, name: str) -> None:
        with self._lock:
            self._encoded.pop((namespace, name), None)

    def get(self, namespace: str, name: str) -> dict[str, Any] | None:
        """A copy of the latest slim Deployment, or None when the watch has none."""
        with self._lock:
            encoded = self._encoded.get((namespace, name))
        if encoded is None:
            return None
        decoded: dict[str, Any] = json.loads(encoded)
        return decoded

    def __len__(self) -> int:
        with self._lock:
            return len(self._encoded)
