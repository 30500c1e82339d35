"""The operator's two replicas from deploy/ on the real node: one acts, and when its pod is
deleted (gracefully, or forced as when its node dies) the other reconciles a change made
meanwhile within the target."""

from __future__ import annotations

import subprocess
import time
from typing import Any

import pytest

from tests.conftest import KubeCluster
from tests.utils.instances import instance_documents
from tests.utils.node import OPERATOR_NAMESPACE, apply, get, pods, ready_pods, wait_for

NAME = "ha"
LEASE = "repairgpt-operator"
OPERATOR_SELECTOR = "app.kubernetes.io/name=repairgpt-operator,app.kubernetes.io/component=operator"
HANDOVER_TARGET_SECONDS = 15.0


def _holder(cluster: KubeCluster) -> str:
    lease = get(cluster, OPERATOR_NAMESPACE, "lease", LEASE) or {}
    return str((lease.get("spec") or {}).get("holderIdentity") or "")


def _log(cluster: KubeCluster, pod: str) -> str:
    result = cluster.kubectl("-n", OPERATOR_NAMESPACE, "logs", pod, check=False)
    return str(result.stdout)


def _leader_and_standby(cluster: KubeCluster) -> tuple[str, str]:
    """Both replicas ready, one holding the Lease: (leader pod, standby pod)."""

    def settled() -> tuple[str, str] | None:
        live = [
            p["metadata"]["name"]
            for p in ready_pods(cluster, OPERATOR_NAMESPACE, OPERATOR_SELECTOR)
            if not p["metadata"].get("deletionTimestamp")
        ]
        holder = _holder(cluster)
        if len(live) != 2 or holder not in live:
            return None
        (standby,) = [name for name in live if name != holder]
        return holder, standby

    return wait_for(settled, timeout=180, what="two operator replicas, one leading")


def _kill_as_with_its_node(cluster: KubeCluster, pod: str) -> None:
    """SIGKILL the operator's process (no chance to free the Lease), then remove the pod, as
    when its node is gone: the kubelet does not restart it."""
    found = get(cluster, OPERATOR_NAMESPACE, "pod", pod) or {}
    (status,) = found["status"]["containerStatuses"]
    container = status["containerID"].removeprefix("containerd://")
    subprocess.run(
        ["ctr", "--address", str(cluster.node.containerd_socket), "-n", "k8s.io",
         "tasks", "kill", "--signal", "SIGKILL", container],
        check=True, capture_output=True, text=True, timeout=30,
    )  # fmt: skip
    cluster.kubectl(
        "-n", OPERATOR_NAMESPACE, "delete", "pod", pod, "--grace-period=0", "--force",
        "--wait=false",
    )  # fmt: skip


def _replicas_applied(cluster: KubeCluster, namespace: str, count: int) -> dict[str, Any] | None:
    deployment = get(cluster, namespace, "deployment", f"{NAME}-api")
    return deployment if deployment and deployment["spec"]["replicas"] == count else None


@pytest.mark.parametrize("deletion", ["deleted", "killed"])
def test_deleting_the_leader_pod_hands_over_within_the_target(
    node_cluster: KubeCluster, node_namespace: str, operator_pod: str, deletion: str
) -> None:
    cluster = node_cluster
    leader, standby = _leader_and_standby(cluster)
    # An image the node does not have and may not pull: the test needs the operator, not pods.
    documents = instance_documents(
        NAME, image="localhost/repairgpt-absent:0", database_url="postgresql://u:p@db:5432/x"
    )
    documents[1]["spec"]["imagePullPolicy"] = "Never"
    apply(cluster, node_namespace, documents)
    wait_for(lambda: _replicas_applied(cluster, node_namespace, 1), timeout=60, what="reconciled")
    assert "acquired lease" in _log(cluster, leader)
    standby_log = _log(cluster, standby)
    assert "standing by" in standby_log and "acquired lease" not in standby_log
    assert f"{node_namespace}/{NAME}" not in standby_log, "the standby reconciled"

    if deletion == "killed":
        _kill_as_with_its_node(cluster, leader)
    else:
        cluster.kubectl("-n", OPERATOR_NAMESPACE, "delete", "pod", leader, "--wait=false")
    deleted = time.monotonic()
    cluster.kubectl(
        "-n", node_namespace, "patch", "rgi", NAME, "--type=merge", "-p", '{"spec":{"replicas":2}}'
    )
    wait_for(
        lambda: _replicas_applied(cluster, node_namespace, 2),
        timeout=60,
        what="the change applied by the other replica",
        every=0.2,
    )
    handover = time.monotonic() - deleted
    print(f"\nhandover after the leader pod was {deletion}: {handover:.1f}s")
    assert handover <= HANDOVER_TARGET_SECONDS, f"handover took {handover:.1f}s"
    assert _holder(cluster) == standby
    assert "acquired lease" in _log(cluster, standby)
    # The Deployment replaces the deleted pod, which stands by.
    _, new_standby = _leader_and_standby(cluster)
    assert new_standby not in (leader, standby)
    assert len(pods(cluster, OPERATOR_NAMESPACE, OPERATOR_SELECTOR)) >= 2
