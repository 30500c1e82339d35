"""The running operator follows the API pods with a label-selected watch: the Ready condition
names the pods that are not ready and why, a resync lists no pods while the watch agrees with
the Deployment, and a replaced pod is named from the watch."""

from __future__ import annotations

import json
import time

import pytest
import yaml

from tests.conftest import KubeCluster
from tests.operator.e2e.conftest import TEST_RESYNC_SECONDS, OperatorProcess
from tests.operator.e2e.observe import condition, get_json, list_json, wait_until

pytestmark = pytest.mark.cluster

NAME = "watched"
SELECTOR = f"app.kubernetes.io/instance={NAME},app.kubernetes.io/component=api"
DOCUMENTS = [
    {
        "apiVersion": "v1",
        "kind": "Secret",
        "metadata": {"name": "repairgpt-db"},
        "stringData": {"database-url": "postgresql://u:p@db:5432/x"},
    },
    {
        "apiVersion": "repairgpt.io/v1alpha1",
        "kind": "RepairGPTInstance",
        "metadata": {"name": NAME},
        "spec": {
            "image": "ghcr.io/example/repairgpt-app:1.2.3",
            # Nothing is pulled: the pods stay not ready, and the status says why.
            "imagePullPolicy": "Never",
            "replicas": 2,
            "database": {"primary": {"secretName": "repairgpt-db"}},
        },
    },
]


def _named_in_ready(cluster: KubeCluster, namespace: str) -> tuple[str, list[str]] | None:
    """The Ready message and the running API pods, once it names each of them."""
    pods = [
        p["metadata"]["name"]
        for p in list_json(cluster, namespace, "pods", SELECTOR)
        if not p["metadata"].get("deletionTimestamp")
    ]
    ready = condition(get_json(cluster, namespace, "rgi", NAME), "Ready") or {}
    message = str(ready.get("message", ""))
    if ready.get("status") == "False" and len(pods) == 2:
        if all(f"{pod}: " in message for pod in pods):
            return message, pods
    return None


def _only_instance(cluster: KubeCluster, namespace: str) -> bool:
    """Whether this test's instance is the only one left in the cluster (earlier tests'
    namespaces may still be going, and their instances would list pods of their own)."""
    items = json.loads(cluster.kubectl("get", "rgi", "-A", "-o", "json").stdout)["items"]
    return all(item["metadata"]["namespace"] == namespace for item in items)


def test_the_ready_reasons_come_from_the_pod_watch(
    operator: OperatorProcess, k8s_cluster: KubeCluster, k8s_namespace: str
) -> None:
    k8s_cluster.kubectl(
        "-n", k8s_namespace, "apply", "-f", "-", input=yaml.safe_dump_all(DOCUMENTS)
    )
    message, pods = wait_until(
        lambda: _named_in_ready(k8s_cluster, k8s_namespace),
        timeout=90,
        what="the Ready condition to name both API pods",
    )
    assert message.startswith("0/2 API pods are ready ("), message
    wait_until(
        lambda: _only_instance(k8s_cluster, k8s_namespace),
        timeout=180,
        what="the instances of earlier tests to go",
    )

    lists = operator.metric("repairgpt_operator_api_pod_lists_total")
    resyncs = operator.metric("repairgpt_operator_resyncs_total", outcome="done")
    time.sleep(4 * TEST_RESYNC_SECONDS)
    assert operator.metric("repairgpt_operator_resyncs_total", outcome="done") >= resyncs + 2
    assert operator.metric("repairgpt_operator_api_pod_lists_total") == lists, (
        "a resync listed the API pods although the watch held them"
    )

    gone = pods[0]
    k8s_cluster.kubectl("-n", k8s_namespace, "delete", "pod", gone, "--wait=false")

    def named_without_gone() -> tuple[str, list[str]] | None:
        named = _named_in_ready(k8s_cluster, k8s_namespace)
        return named if named is not None and gone not in named[1] else None

    after, replaced = wait_until(
        named_without_gone,
        timeout=90,
        what="the Ready condition to name the pod that replaced the deleted one",
    )
    assert gone not in after and set(replaced) - set(pods), (after, replaced)
