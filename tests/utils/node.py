"""Helpers of the tests that run real pods on the local cluster's node: images, objects, pods,
HTTP through Services (sent from inside the node), and the operator's install manifests."""

from __future__ import annotations

import json
import time
from collections.abc import Callable
from pathlib import Path
from typing import TYPE_CHECKING, Any, TypeVar

import yaml

if TYPE_CHECKING:
    from tests.conftest import KubeCluster

REPO_ROOT = Path(__file__).resolve().parents[2]
OPERATOR_NAMESPACE = "repairgpt-system"
T = TypeVar("T")


def wait_for(check: Callable[[], T | None], *, timeout: float, what: str, every: float = 0.5) -> T:
    deadline = time.monotonic() + timeout
    while True:
        value = check()
        if value:
            return value
        if time.monotonic() > deadline:
            raise AssertionError(f"timed out after {timeout:.0f} s waiting for {what}")
        time.sleep(every)


def image(cluster: KubeCluster, name: str) -> str:
    """The ref of one of the project's images loaded into the node (e.g. `repairgpt-app`)."""
    refs = [ref for ref in cluster.node.images if ref.rpartition(":")[0].endswith("/" + name)]
    assert refs, f"image {name} is not loaded into the node: {cluster.node.images}"
    return refs[0]


def get(cluster: KubeCluster, namespace: str, kind: str, name: str) -> dict[str, Any] | None:
    result = cluster.kubectl("-n", namespace, "get", kind, name, "-o", "json", check=False)
    return json.loads(result.stdout) if result.returncode == 0 else None


def pods(cluster: KubeCluster, namespace: str, selector: str) -> list[dict[str, Any]]:
    out = cluster.kubectl("-n", namespace, "get", "pods", "-l", selector, "-o", "json").stdout
    items: list[dict[str, Any]] = json.loads(out)["items"]
    return items


def ready_pods(cluster: KubeCluster, namespace: str, selector: str) -> list[dict[str, Any]]:
    return [
        p
        for p in pods(cluster, namespace, selector)
        if not p["metadata"].get("deletionTimestamp")
        and any(
            c["type"] == "Ready" and c["status"] == "True"
            for c in (p.get("status") or {}).get("conditions") or []
        )
    ]


def apply(cluster: KubeCluster, namespace: str, documents: list[dict[str, Any]]) -> None:
    cluster.kubectl("-n", namespace, "apply", "-f", "-", input=yaml.safe_dump_all(documents))


def http(
    cluster: KubeCluster, method: str, url: str, body: Any = None, token: str = ""
) -> tuple[int, Any]:
    """One HTTP request sent from inside the node (where Service addresses route)."""
    args = ["curl", "-sS", "-m", "30", "-X", method, "-o", "-", "-w", "\n%{http_code}"]
    if token:
        args += ["-H", f"Authorization: Bearer {token}"]
    if body is not None:
        args += ["-H", "Content-Type: application/json", "--data-binary", json.dumps(body)]
    result = cluster.node_run(*args, url, timeout=60)
    text, _, code = result.stdout.rpartition("\n")
    try:
        return int(code), json.loads(text) if text else None
    except json.JSONDecodeError:
        return int(code), text


def service_url(cluster: KubeCluster, namespace: str, name: str) -> str:
    service = get(cluster, namespace, "service", name)
    assert service is not None, f"service {name} missing"
    port = service["spec"]["ports"][0]["port"]
    return f"http://{service['spec']['clusterIP']}:{port}"


def routed_service_url(cluster: KubeCluster, namespace: str, name: str, timeout: float = 30) -> str:
    """The Service's URL once it routes: kube-proxy programs a Service's endpoints a moment
    after its pods turn Ready, and until then a connection to it is refused."""
    url = service_url(cluster, namespace, name)
    probe = ("curl", "-s", "-o", "/dev/null", "-m", "3", f"{url}/health")
    wait_for(
        lambda: cluster.node_run(*probe, check=False, timeout=10).returncode == 0,
        timeout=timeout,
        what=f"Service {name} to route to a pod",
    )
    return url


def ask(cluster: KubeCluster, base_url: str, question: str) -> dict[str, Any]:
    """Open a chat session through the Service and ask one question; the answer's JSON."""
    code, session = http(cluster, "POST", f"{base_url}/api/v1/chat/sessions")
    assert code == 201, (code, session)
    code, answer = http(
        cluster,
        "POST",
        f"{base_url}/api/v1/chat/sessions/{session['id']}/messages",
        {"content": question},
        token=session["token"],
    )
    assert code in (200, 201), (code, answer)
    assert isinstance(answer, dict)
    return answer


def operator_manifests(operator_image: str, resync_seconds: int | None = None) -> str:
    """deploy/ as `kubectl apply -k` would apply it, with the operator image built here: the
    leader Lease with its Role, the PodDisruptionBudget and the operator's Deployment."""
    documents = [
        document
        for part in ("high-availability.yaml", "operator.yaml")
        for document in yaml.safe_load_all((REPO_ROOT / "deploy" / part).read_text())
    ]
    for document in documents:
        if document and document["kind"] == "Deployment":
            container = document["spec"]["template"]["spec"]["containers"][0]
            container["image"] = operator_image
            container["imagePullPolicy"] = "Never"
            if resync_seconds is not None:
                container.setdefault("env", []).append(
                    {"name": "REPAIRGPT_RESYNC_SECONDS", "value": str(resync_seconds)}
                )
    return yaml.safe_dump_all(documents)
