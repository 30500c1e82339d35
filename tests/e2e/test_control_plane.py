"""The local cluster is a real Kubernetes: pinned version, controllers, GC, RBAC, SSA, a node."""

from __future__ import annotations

import json
import re
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest

from tests.conftest import KubeCluster

pytestmark = pytest.mark.cluster

GO_MOD = Path(__file__).resolve().parents[2] / "tools" / "k8s" / "go.mod"


def pinned_version() -> str:
    match = re.search(r"^\s*k8s\.io/kubernetes (v\S+)", GO_MOD.read_text(), re.MULTILINE)
    assert match, "tools/k8s/go.mod does not pin k8s.io/kubernetes"
    return match.group(1)


def eventually(check: Callable[[], object], timeout: float = 30, what: str = "") -> object:
    deadline = time.monotonic() + timeout
    while True:
        result = check()
        if result:
            return result
        if time.monotonic() > deadline:
            raise AssertionError(f"timed out after {timeout} s waiting for {what}")
        time.sleep(0.3)


def get_json(cluster: KubeCluster, *args: str) -> Any:
    return json.loads(cluster.kubectl("get", *args, "-o", "json").stdout)


def test_server_reports_the_pinned_kubernetes_version(k8s_cluster: KubeCluster) -> None:
    version = json.loads(k8s_cluster.kubectl("version", "-o", "json").stdout)
    assert version["serverVersion"]["gitVersion"] == pinned_version()
    assert version["clientVersion"]["gitVersion"] == pinned_version()


def test_deployment_controller_creates_a_replicaset(
    k8s_cluster: KubeCluster, k8s_namespace: str
) -> None:
    k8s_cluster.kubectl(
        "-n", k8s_namespace, "create", "deployment", "web", "--image=nginx:1.27", "--replicas=2"
    )

    def replicaset_of_web() -> list[dict[str, object]]:
        items = get_json(k8s_cluster, "-n", k8s_namespace, "replicasets")["items"]
        return [rs for rs in items if rs["metadata"]["ownerReferences"][0]["name"] == "web"]

    replicasets: Any = eventually(replicaset_of_web, what="the ReplicaSet of deployment web")
    assert replicasets[0]["spec"]["replicas"] == 2
    # The ReplicaSet controller is real too: it creates the Pods.
    eventually(
        lambda: len(get_json(k8s_cluster, "-n", k8s_namespace, "pods")["items"]) == 2,
        what="two pods",
    )


def test_garbage_collector_deletes_children_of_a_deleted_owner(
    k8s_cluster: KubeCluster, k8s_namespace: str
) -> None:
    k8s_cluster.kubectl("-n", k8s_namespace, "create", "configmap", "owner")
    owner_uid = get_json(k8s_cluster, "-n", k8s_namespace, "configmap", "owner")["metadata"]
    child = {
        "apiVersion": "v1",
        "kind": "ConfigMap",
        "metadata": {
            "name": "child",
            "namespace": k8s_namespace,
            "ownerReferences": [
                {"apiVersion": "v1", "kind": "ConfigMap", "name": "owner", "uid": owner_uid["uid"]}
            ],
        },
        "data": {"k": "v"},
    }
    k8s_cluster.kubectl("apply", "-f", "-", input=json.dumps(child))
    k8s_cluster.kubectl("-n", k8s_namespace, "delete", "configmap", "owner")

    def child_gone() -> bool:
        result = k8s_cluster.kubectl("-n", k8s_namespace, "get", "configmap", "child", check=False)
        return result.returncode != 0 and "NotFound" in result.stderr

    eventually(child_gone, what="the garbage collector to delete the child")


def test_rbac_refuses_a_service_account_without_permissions(
    k8s_cluster: KubeCluster, k8s_namespace: str, tmp_path: Path
) -> None:
    k8s_cluster.kubectl("-n", k8s_namespace, "create", "serviceaccount", "nobody")
    token = k8s_cluster.kubectl(
        "-n", k8s_namespace, "create", "token", "nobody", "--duration=10m"
    ).stdout.strip()
    assert token.count(".") == 2, "the API server issues a signed JWT"
    kubeconfig = k8s_cluster.kubeconfig_for_token(token, tmp_path / "nobody.kubeconfig")
    as_nobody = ("--kubeconfig", str(kubeconfig))
    whoami = k8s_cluster.kubectl(
        *as_nobody, "auth", "whoami", "-o", "jsonpath={.status.userInfo.username}"
    )
    assert whoami.stdout == f"system:serviceaccount:{k8s_namespace}:nobody"
    denied = k8s_cluster.kubectl(*as_nobody, "-n", k8s_namespace, "get", "secrets", check=False)
    assert denied.returncode != 0
    assert "Forbidden" in denied.stderr
    assert f"system:serviceaccount:{k8s_namespace}:nobody" in denied.stderr

    # Granting a Role makes the same request pass: the refusal came from RBAC, not from auth.
    k8s_cluster.kubectl(
        "-n", k8s_namespace, "create", "role", "read-secrets", "--verb=list", "--resource=secrets"
    )
    k8s_cluster.kubectl(
        "-n", k8s_namespace, "create", "rolebinding", "nobody-reads",
        "--role=read-secrets", f"--serviceaccount={k8s_namespace}:nobody",
    )  # fmt: skip
    eventually(
        lambda: (
            k8s_cluster.kubectl(
                *as_nobody, "-n", k8s_namespace, "get", "secrets", check=False
            ).returncode
            == 0
        ),
        what="the RoleBinding to take effect",
    )


def test_server_side_apply_records_its_field_manager(
    k8s_cluster: KubeCluster, k8s_namespace: str
) -> None:
    manifest = {
        "apiVersion": "v1",
        "kind": "ConfigMap",
        "metadata": {"name": "ssa", "namespace": k8s_namespace},
        "data": {"greeting": "hello"},
    }
    k8s_cluster.kubectl(
        "apply", "--server-side", "--field-manager=repairgpt-test", "-f", "-",
        input=json.dumps(manifest),
    )  # fmt: skip
    manifest["data"] = {"greeting": "hello again"}
    k8s_cluster.kubectl(
        "apply", "--server-side", "--field-manager=repairgpt-test", "-f", "-",
        input=json.dumps(manifest),
    )  # fmt: skip
    live = get_json(k8s_cluster, "-n", k8s_namespace, "configmap", "ssa", "--show-managed-fields")
    assert live["data"] == {"greeting": "hello again"}
    managers = {(m["manager"], m["operation"]) for m in live["metadata"]["managedFields"]}
    assert ("repairgpt-test", "Apply") in managers

    # A second manager claiming the same field conflicts unless it forces: real SSA semantics.
    manifest["data"] = {"greeting": "hijacked"}
    conflict = k8s_cluster.kubectl(
        "apply", "--server-side", "--field-manager=someone-else", "-f", "-",
        input=json.dumps(manifest), check=False,
    )  # fmt: skip
    assert conflict.returncode != 0
    assert "conflict" in conflict.stderr.lower()


def test_a_job_runs_its_pod_on_the_node_and_completes(
    k8s_cluster: KubeCluster, k8s_namespace: str
) -> None:
    app = next(i for i in k8s_cluster.node.images if "/repairgpt-app:" in i)
    k8s_cluster.kubectl(
        "-n", k8s_namespace, "create", "job", "once", f"--image={app}",
        "--", "python", "-c", "print('ran on the node')",
    )  # fmt: skip
    eventually(
        lambda: any(
            c["type"] == "Complete" and c["status"] == "True"
            for c in get_json(k8s_cluster, "-n", k8s_namespace, "job", "once")
            .get("status", {})
            .get("conditions", [])
        ),
        timeout=120,
        what="the Job to complete",
    )
    logs = k8s_cluster.kubectl("-n", k8s_namespace, "logs", "job/once").stdout
    assert logs.strip() == "ran on the node"


@pytest.mark.slow
def test_cronjob_controller_starts_a_job_on_schedule(
    k8s_cluster: KubeCluster, k8s_namespace: str
) -> None:
    k8s_cluster.kubectl(
        "-n", k8s_namespace, "create", "cronjob", "tick",
        f"--image={next(i for i in k8s_cluster.node.images if '/repairgpt-pause:' in i)}",
        "--schedule=* * * * *",
    )  # fmt: skip
    # Every minute: the first run starts at the next minute boundary.
    eventually(
        lambda: any(
            (job["metadata"].get("ownerReferences") or [{}])[0].get("name") == "tick"
            for job in get_json(k8s_cluster, "-n", k8s_namespace, "jobs")["items"]
        ),
        timeout=90,
        what="the CronJob controller to start a Job",
    )
    cronjob = get_json(k8s_cluster, "-n", k8s_namespace, "cronjob", "tick")
    assert cronjob["status"].get("lastScheduleTime")
