"""The API pods of each instance as the pod watch delivered them, slim (`slim_pod`): what the
Ready condition's reasons read (`why_not_ready`), without listing the pods at every status write
of an instance whose pods are not ready.

The watch is trusted only as far as it agrees with the API Deployment: when it holds another
number of running pods than the Deployment counts (an event still on its way, a deletion missed
while the watch reconnected), the pods are listed and the list replaces what it held. A copy is
never replaced by an older version of the same pod (by resourceVersion), whichever of the list
and the watch brings it last.
"""

from __future__ import annotations

import json
import threading
from collections.abc import Iterable, Mapping
from typing import Any

from repairgpt_operator.instance.versions import older, resource_version
from repairgpt_operator.ownership import INSTANCE_LABEL

Key = tuple[str, str]  # namespace, instance name


def slim_pod(pod: Mapping[str, Any]) -> dict[str, Any]:
    """What `why_not_ready` reads of a pod: its name, whether it is going, its phase and
    conditions, and the first container's image, state and whether it started."""
    metadata = pod.get("metadata") or {}
    status = pod.get("status") or {}
    containers = status.get("containerStatuses") or []
    slim_status: dict[str, Any] = {
        key: status[key] for key in ("phase", "conditions") if key in status
    }
    if containers:
        slim_status["containerStatuses"] = [
            {
                key: containers[0][key]
                for key in ("image", "state", "lastState", "started")
                if key in containers[0]
            }
        ]
    return {
        "metadata": {
            key: metadata[key]
            for key in ("name", "namespace", "resourceVersion", "deletionTimestamp")
            if key in metadata
        },
        "status": slim_status,
    }


def _key(pod: Mapping[str, Any]) -> tuple[Key, str] | None:
    metadata = pod.get("metadata") or {}
    instance = (metadata.get("labels") or {}).get(INSTANCE_LABEL)
    if not instance:
        return None
    return (str(metadata.get("namespace")), str(instance)), str(metadata.get("name"))


def _entry(pod: Mapping[str, Any]) -> tuple[int | None, bytes]:
    return resource_version(pod), json.dumps(slim_pod(pod), separators=(",", ":")).encode()


def running(pods: Iterable[Mapping[str, Any]]) -> int:
    """How many of the pods are not being deleted."""
    return sum(1 for pod in pods if not (pod.get("metadata") or {}).get("deletionTimestamp"))


class WatchedPods:
    """Thread-safe map (namespace, instance) -> its API pods, slim, as compact JSON."""

    def __init__(self) -> None:
        self._pods: dict[Key, dict[str, tuple[int | None, bytes]]] = {}
        self._lock = threading.Lock()

    def observe(self, pod: Mapping[str, Any], *, deleted: bool) -> None:
        """A watch event about one API pod (labelled with its instance)."""
        found = _key(pod)
        if found is None:
            return
        key, name = found
        version, encoded = _entry(pod)
        with self._lock:
            pods = self._pods.setdefault(key, {})
            held = pods.get(name)
            if held is None or not older(version, held[0]):
                if deleted:
                    pods.pop(name, None)
                else:
                    pods[name] = (version, encoded)
            if not pods:
                del self._pods[key]

    def replace(self, namespace: str, instance: str, pods: Iterable[Mapping[str, Any]]) -> None:
        """The pods of one instance as a list has just shown them, in place of the watched."""
        listed = {str((pod.get("metadata") or {}).get("name")): _entry(pod) for pod in pods}
        with self._lock:
            held = self._pods.get((namespace, instance)) or {}
            for name, entry in listed.items():
                newer = held.get(name)
                if newer is not None and older(entry[0], newer[0]):
                    listed[name] = newer
            if listed:
                self._pods[(namespace, instance)] = listed
            else:
                self._pods.pop((namespace, instance), None)

    def of(self, namespace: str, instance: str) -> list[dict[str, Any]]:
        """Copies of the instance's API pods, slim (none when the watch knows of none)."""
        with self._lock:
            held = list((self._pods.get((namespace, instance)) or {}).values())
        return [json.loads(encoded) for _, encoded in held]

    def forget(self, namespace: str, instance: str) -> None:
        with self._lock:
            self._pods.pop((namespace, instance), None)
