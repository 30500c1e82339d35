"""Which Jobs (backup, verification, retention) the Job watch knows to exist, per instance and
component: a resync lists the Jobs of a component only when there are some to find.

Per Job it keeps its name, not the object.
"""

from __future__ import annotations

import threading
from collections.abc import Mapping
from typing import Any

from repairgpt_operator.ownership import COMPONENT_LABEL, INSTANCE_LABEL

JobKey = tuple[str, str, str]  # namespace, instance, component


def _key(job: Mapping[str, Any]) -> JobKey | None:
    metadata = job.get("metadata") or {}
    labels = metadata.get("labels") or {}
    instance, component = labels.get(INSTANCE_LABEL), labels.get(COMPONENT_LABEL)
    if not instance or not component:
        return None
    return (str(metadata.get("namespace")), str(instance), str(component))


class JobIndex:
    """Thread-safe map (namespace, instance, component) -> names of the Jobs that exist."""

    def __init__(self) -> None:
        self._names: dict[JobKey, set[str]] = {}
        self._lock = threading.Lock()

    def observe(self, job: Mapping[str, Any], *, deleted: bool) -> None:
        """A watch event about a Job."""
        key = _key(job)
        if key is None:
            return
        name = str((job.get("metadata") or {}).get("name"))
        with self._lock:
            names = self._names.setdefault(key, set())
            if deleted:
                names.discard(name)
            else:
                names.add(name)
            if not names:
                del self._names[key]

    def any(self, namespace: str, instance: str, component: str) -> bool:
        """Whether the watch knows of a Job of this instance's component."""
        with self._lock:
            return (namespace, instance, component) in self._names
