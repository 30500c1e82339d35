"""A killed operator picks up where it stopped, and an idle operator writes nothing."""

from __future__ import annotations

import json
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
import yaml

from tests.conftest import KubeCluster
from tests.operator.e2e.conftest import TEST_RESYNC_SECONDS, OperatorProcess
from tests.operator.e2e.observe import get_json, is_reconciled, list_json, wait_until

pytestmark = pytest.mark.cluster

INSTANCES = 12
CHILD_KINDS = "deployments,services,configmaps,serviceaccounts,pdb,networkpolicies"


def _instances(count: int) -> str:
    documents: list[dict[str, Any]] = [
        {
            "apiVersion": "v1",
            "kind": "Secret",
            "metadata": {"name": "repairgpt-db"},
            "stringData": {"database-url": "postgresql://u:p@db:5432/x"},
        }
    ]
    for index in range(count):
        documents.append(
            {
                "apiVersion": "repairgpt.io/v1alpha1",
                "kind": "RepairGPTInstance",
                "metadata": {"name": f"shop-{index}"},
                "spec": {
                    "image": "ghcr.io/example/repairgpt-app:1.2.3",
                    "replicas": 1 + index % 3,
                    "database": {"primary": {"secretName": "repairgpt-db"}},
                },
            }
        )
    return yaml.safe_dump_all(documents)


def _all_reconciled(cluster: KubeCluster, namespace: str) -> list[dict[str, Any]] | None:
    items = list_json(cluster, namespace, "rgi")
    if len(items) == INSTANCES and all(is_reconciled(item) for item in items):
        return items
    return None


def _resource_versions(cluster: KubeCluster, namespace: str) -> dict[str, str]:
    objects = list_json(cluster, namespace, f"rgi,{CHILD_KINDS}", "")
    return {
        f"{o['kind']}/{o['metadata']['name']}": o["metadata"]["resourceVersion"]
        for o in objects
        if o["kind"] != "Deployment"  # the Deployment controller writes its status
    }


def _wait_for_quiet(operator: OperatorProcess, quiet_seconds: float = 3.0) -> None:
    """Wait until the operator has written nothing for `quiet_seconds` (debounced status
    refreshes of the last Deployment changes included)."""
    last = operator.metric("repairgpt_operator_reconciliations_total", result="changed")
    quiet_since = time.monotonic()
    deadline = quiet_since + 60
    while time.monotonic() < deadline:
        time.sleep(0.5)
        now = operator.metric("repairgpt_operator_reconciliations_total", result="changed")
        if now != last:
            last, quiet_since = now, time.monotonic()
        elif time.monotonic() - quiet_since >= quiet_seconds:
            return
    raise AssertionError("the operator kept writing for a minute")


@pytest.fixture
def k8s_namespace(k8s_cluster: KubeCluster, k8s_namespace: str) -> Iterator[str]:
    """The shared per-test namespace, but deleted and waited for: the operator counts its
    writes cluster-wide, and a namespace still terminating would be reconciled meanwhile."""
    yield k8s_namespace
    k8s_cluster.kubectl(
        "delete", "namespace", k8s_namespace, "--timeout=120s", check=False, timeout=150
    )


NO_PDBS = {
    "apiVersion": "v1",
    "kind": "ResourceQuota",
    "metadata": {"name": "no-pdbs"},
    "spec": {"hard": {"count/poddisruptionbudgets.policy": "0"}},
}


def test_operator_killed_mid_reconcile_converges_without_duplicates(
    k8s_cluster: KubeCluster, k8s_namespace: str, operator_kubeconfig: Path, tmp_path: Path
) -> None:
    """The first operator is killed while every instance is half reconciled: a quota refuses
    their PodDisruptionBudgets, so each has the children applied before it (its Deployment
    among them) and its handler's retry pending. (A kill timed to the first child written can
    come after every instance is reconciled: 12 take well under a second.)"""
    k8s_cluster.kubectl("-n", k8s_namespace, "apply", "-f", "-", input=json.dumps(NO_PDBS))
    first = OperatorProcess(operator_kubeconfig, tmp_path / "first.log", resync_seconds=60).start()
    try:
        k8s_cluster.kubectl("-n", k8s_namespace, "apply", "-f", "-", input=_instances(INSTANCES))
        # Every instance has had its first pass (a retry comes 5 s after a failure at the
        # soonest, so 12 failures alone could include a retry before some first pass).
        wait_until(
            lambda: (
                first.metric("repairgpt_operator_reconciliations_total", result="error")
                >= INSTANCES
                and len(list_json(k8s_cluster, k8s_namespace, "deployments")) == INSTANCES
            ),
            timeout=60,
            what="a failed reconciliation and a Deployment of every instance",
        )
        first.kill()
    finally:
        first.stop()
    partial = list_json(k8s_cluster, k8s_namespace, "rgi")
    assert not any(is_reconciled(item) for item in partial)
    assert list_json(k8s_cluster, k8s_namespace, "pdb") == []
    k8s_cluster.kubectl("-n", k8s_namespace, "delete", "resourcequota", "no-pdbs")

    second = OperatorProcess(
        operator_kubeconfig, tmp_path / "second.log", resync_seconds=60
    ).start()
    try:
        instances = wait_until(
            lambda: _all_reconciled(k8s_cluster, k8s_namespace), timeout=60, what="all instances"
        )
    finally:
        second.stop()

    for instance in instances:
        name = instance["metadata"]["name"]
        children = list_json(
            k8s_cluster, k8s_namespace, CHILD_KINDS, f"app.kubernetes.io/instance={name}"
        )
        kinds = sorted(child["kind"] for child in children)
        assert kinds == sorted(
            [
                "ConfigMap",
                "Deployment",
                "NetworkPolicy",
                "PodDisruptionBudget",
                "Service",
                "ServiceAccount",
            ]
        ), f"{name}: {kinds}"
        for child in children:
            assert len(child["metadata"]["ownerReferences"]) == 1
        deployment = get_json(k8s_cluster, k8s_namespace, "deployment", f"{name}-api")
        assert deployment is not None
        assert deployment["spec"]["replicas"] == instance["spec"]["replicas"]
        replica_sets = list_json(
            k8s_cluster, k8s_namespace, "replicasets", f"app.kubernetes.io/instance={name}"
        )
        assert len(replica_sets) == 1, f"{name} rolled out more than once"
        leftovers = [
            key for key in (instance["metadata"].get("annotations") or {})
            if key.startswith("repairgpt.io/reconcile-on")
        ]  # fmt: skip
        assert leftovers == [], f"{name} still has handler progress: {leftovers}"


def test_an_idle_operator_writes_nothing(
    k8s_cluster: KubeCluster, k8s_namespace: str, operator_kubeconfig: Path, tmp_path: Path
) -> None:
    operator = OperatorProcess(
        operator_kubeconfig, tmp_path / "idle.log", resync_seconds=TEST_RESYNC_SECONDS
    ).start()
    try:
        k8s_cluster.kubectl("-n", k8s_namespace, "apply", "-f", "-", input=_instances(INSTANCES))
        wait_until(
            lambda: _all_reconciled(k8s_cluster, k8s_namespace), timeout=60, what="all instances"
        )
        # Let the Deployment controller's status updates settle into the instance status.
        wait_until(
            lambda: all(
                (i.get("status") or {}).get("replicas") == i["spec"]["replicas"]
                for i in list_json(k8s_cluster, k8s_namespace, "rgi")
            ),
            timeout=30,
            what="status.replicas to settle",
        )
        _wait_for_quiet(operator)
        before_versions = _resource_versions(k8s_cluster, k8s_namespace)
        before_writes = operator.metric("repairgpt_operator_child_writes_total")
        before_resyncs = operator.metric(
            "repairgpt_operator_reconciliations_total", trigger="resync"
        )
        before_changed = operator.metric(
            "repairgpt_operator_reconciliations_total", result="changed"
        )
        wait_until(
            lambda: (
                operator.metric("repairgpt_operator_reconciliations_total", trigger="resync")
                >= before_resyncs + 2 * INSTANCES
            ),
            timeout=10 * TEST_RESYNC_SECONDS,
            what="two resync passes",
        )
        assert operator.metric("repairgpt_operator_child_writes_total") == before_writes
        changed = operator.metric("repairgpt_operator_reconciliations_total", result="changed")
        assert changed == before_changed, operator.log()[-3000:]
        assert _resource_versions(k8s_cluster, k8s_namespace) == before_versions
    finally:
        operator.stop()


def _writes_beside_the_status(cluster: KubeCluster, namespace: str) -> dict[str, list[str]]:
    """Per instance, the writers of anything but its status since kubectl created it, and what
    it carries under kopf's prefix."""
    listed = cluster.kubectl("-n", namespace, "get", "rgi", "--show-managed-fields", "-o", "json")
    found: dict[str, list[str]] = {}
    for instance in json.loads(listed.stdout)["items"]:
        metadata = instance["metadata"]
        writers = [
            entry["manager"]
            for entry in metadata["managedFields"]
            if entry.get("subresource") != "status"
            and entry["manager"] != "kubectl-client-side-apply"
        ]
        kopf_state = [key for key in metadata.get("annotations") or {} if key.startswith("kopf.")]
        if writers or kopf_state:
            found[metadata["name"]] = writers + kopf_state
    return found


def test_a_restarted_operator_writes_nothing_to_what_it_reconciled_before(
    k8s_cluster: KubeCluster, k8s_namespace: str, operator_kubeconfig: Path, tmp_path: Path
) -> None:
    """kopf's memory of the last handled spec is in the process, not on the objects: handling an
    instance writes only its status, and a new process meets each instance as a resume."""
    first = OperatorProcess(operator_kubeconfig, tmp_path / "first.log", resync_seconds=60).start()
    try:
        k8s_cluster.kubectl("-n", k8s_namespace, "apply", "-f", "-", input=_instances(INSTANCES))
        wait_until(
            lambda: _all_reconciled(k8s_cluster, k8s_namespace), timeout=60, what="all instances"
        )
        _wait_for_quiet(first)
    finally:
        first.stop()
    assert _writes_beside_the_status(k8s_cluster, k8s_namespace) == {}
    # The instances' status may still follow their Deployments; their children must not change.
    children = {
        key: version
        for key, version in _resource_versions(k8s_cluster, k8s_namespace).items()
        if not key.startswith("RepairGPTInstance/")
    }

    # Where an earlier version kept kopf's memory: removed by the first handling.
    legacy = "kopf.repairgpt.io/last-handled-configuration"
    k8s_cluster.kubectl("-n", k8s_namespace, "annotate", "rgi", "shop-0", f"{legacy}={{}}")

    second = OperatorProcess(
        operator_kubeconfig, tmp_path / "second.log", resync_seconds=60
    ).start()
    try:
        wait_until(
            lambda: (
                second.metric("repairgpt_operator_reconciliations_total", trigger="resume")
                >= INSTANCES
            ),
            timeout=60,
            what="a resume of every instance",
        )
        _wait_for_quiet(second)
        assert second.metric("repairgpt_operator_reconciliations_total", trigger="create") == 0
        assert second.metric("repairgpt_operator_child_writes_total") == 0, second.log()[-3000:]
        after = _resource_versions(k8s_cluster, k8s_namespace)
        assert {key: after[key] for key in children} == children
        left = _writes_beside_the_status(k8s_cluster, k8s_namespace)
        assert legacy not in left.pop("shop-0", []), "the old annotation was kept"
        assert left == {}
    finally:
        second.stop()
