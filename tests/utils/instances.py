"""RepairGPTInstance manifests for the node's tests, and reads of what the operator made of them."""

from __future__ import annotations

from datetime import datetime
from typing import TYPE_CHECKING, Any

from tests.utils.node import get

if TYPE_CHECKING:
    from tests.conftest import KubeCluster

# Small requests: the node has 2 CPUs for everything the suite runs.
SMALL = {"requests": {"cpu": "50m", "memory": "160Mi"}, "limits": {"cpu": "1", "memory": "512Mi"}}


def instance_documents(
    name: str, *, image: str, database_url: str, replicas: int = 1, **spec: Any
) -> list[dict[str, Any]]:
    """A Secret holding `database_url` and an instance of `replicas` small API pods on it."""
    secret = f"{name}-db"
    return [
        {
            "apiVersion": "v1",
            "kind": "Secret",
            "metadata": {"name": secret},
            "type": "Opaque",
            "stringData": {"database-url": database_url},
        },
        {
            "apiVersion": "repairgpt.io/v1alpha1",
            "kind": "RepairGPTInstance",
            "metadata": {"name": name},
            "spec": {
                "image": image,
                "replicas": replicas,
                "resources": SMALL,
                "database": {"primary": {"secretName": secret, "key": "database-url"}},
                **spec,
            },
        },
    ]


def api_selector(name: str) -> str:
    return f"app.kubernetes.io/instance={name},app.kubernetes.io/component=api"


def instance_status(cluster: KubeCluster, namespace: str, name: str) -> dict[str, Any]:
    instance = get(cluster, namespace, "rgi", name) or {}
    status: dict[str, Any] = instance.get("status") or {}
    return status


def condition(status: dict[str, Any], kind: str) -> dict[str, Any]:
    """One condition of a status ({} when absent)."""
    return next((c for c in status.get("conditions") or [] if c.get("type") == kind), {})


def ready_since(pod: dict[str, Any]) -> float:
    """When the pod last turned Ready (epoch seconds, whole seconds as the kubelet writes it)."""
    ready = next(c for c in pod["status"]["conditions"] if c["type"] == "Ready")
    stamp = ready["lastTransitionTime"].replace("Z", "+00:00")
    return datetime.fromisoformat(stamp).timestamp()
