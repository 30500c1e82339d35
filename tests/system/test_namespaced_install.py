"""The namespaced installation runs the operator with Roles only: it serves the namespace it
watches and leaves an unwatched one alone."""

from __future__ import annotations

import json
import uuid
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
import yaml

from tests.conftest import KubeCluster
from tests.operator.e2e.observe import wait_established
from tests.operator.test_rbac import render_namespaced
from tests.utils.node import OPERATOR_NAMESPACE, apply, get, image, wait_for

SHIPPED_OPERATOR_NAMESPACE = "repairgpt-system"
SHIPPED_WATCHED_NAMESPACE = "repairgpt"


def namespaced_install(
    folder: Path, operator_image: str, operator_namespace: str, watched: str
) -> list[dict[str, Any]]:
    """deploy/ with the namespaced component, as shipped, but in namespaces of this test and
    with the operator image built here."""
    documents = render_namespaced(folder)
    for document in documents:
        metadata = document["metadata"]
        if document["kind"] == "Namespace" and metadata["name"] == SHIPPED_OPERATOR_NAMESPACE:
            metadata["name"] = operator_namespace
        if metadata.get("namespace") == SHIPPED_OPERATOR_NAMESPACE:
            metadata["namespace"] = operator_namespace
        if metadata.get("namespace") == SHIPPED_WATCHED_NAMESPACE:
            metadata["namespace"] = watched
        for subject in document.get("subjects") or []:
            assert subject["namespace"] == SHIPPED_OPERATOR_NAMESPACE
            subject["namespace"] = operator_namespace
        if document["kind"] == "Deployment":
            (container,) = document["spec"]["template"]["spec"]["containers"]
            assert f"--namespace={SHIPPED_WATCHED_NAMESPACE}" in container["args"]
            container["args"] = [
                f"--namespace={watched}"
                if arg == f"--namespace={SHIPPED_WATCHED_NAMESPACE}"
                else arg
                for arg in container["args"]
            ]
            container["image"] = operator_image
            container["imagePullPolicy"] = "Never"
    return documents


def minimal_instance(name: str) -> list[dict[str, Any]]:
    """An instance with no API pods (nothing to run on the node), and its database Secret."""
    return [
        {
            "apiVersion": "v1",
            "kind": "Secret",
            "metadata": {"name": f"{name}-db"},
            "stringData": {"database-url": "postgresql://app:pw@db.invalid:5432/app"},
        },
        {
            "apiVersion": "repairgpt.io/v1alpha1",
            "kind": "RepairGPTInstance",
            "metadata": {"name": name},
            "spec": {
                "image": "ghcr.io/example/repairgpt-app:1.2.3",
                "replicas": 0,
                "database": {"primary": {"secretName": f"{name}-db", "key": "database-url"}},
            },
        },
    ]


@pytest.fixture
def no_cluster_wide_operator(node_cluster: KubeCluster) -> Iterator[None]:
    """Pause the cluster-wide operator of the other system tests, if it runs: it would serve
    the unwatched namespace too."""
    deployment = get(node_cluster, OPERATOR_NAMESPACE, "deployment", "repairgpt-operator")
    replicas = int((deployment or {}).get("spec", {}).get("replicas") or 0)
    if replicas:
        node_cluster.kubectl(
            "-n", OPERATOR_NAMESPACE, "scale", "deployment/repairgpt-operator", "--replicas=0"
        )
        node_cluster.kubectl(
            "-n", OPERATOR_NAMESPACE, "wait", "--for=delete", "pod",
            "-l", "app.kubernetes.io/name=repairgpt-operator", "--timeout=60s", timeout=90,
        )  # fmt: skip
    yield
    if replicas:
        node_cluster.kubectl(
            "-n", OPERATOR_NAMESPACE, "scale", "deployment/repairgpt-operator",
            f"--replicas={replicas}",
        )  # fmt: skip
        node_cluster.kubectl(
            "-n", OPERATOR_NAMESPACE, "rollout", "status", "deployment/repairgpt-operator",
            "--timeout=180s", timeout=200,
        )  # fmt: skip


def test_namespaced_operator_serves_its_namespace_and_ignores_another(
    node_cluster: KubeCluster, no_cluster_wide_operator: None, tmp_path: Path
) -> None:
    cluster = node_cluster
    suffix = uuid.uuid4().hex[:6]
    operator_namespace, watched, unwatched = (
        f"rgo-{suffix}",
        f"watched-{suffix}",
        f"unwatched-{suffix}",
    )
    account = f"system:serviceaccount:{operator_namespace}:repairgpt-operator"
    documents = namespaced_install(
        tmp_path / "install", image(cluster, "repairgpt-operator"), operator_namespace, watched
    )
    for namespace in (watched, unwatched):
        cluster.kubectl("create", "namespace", namespace)
    try:
        cluster.kubectl(
            "apply", "--server-side", "--force-conflicts", "-f", "-",
            input=yaml.safe_dump_all(documents),
        )  # fmt: skip
        wait_established(cluster)
        for namespace in (unwatched, watched):
            apply(cluster, namespace, minimal_instance("shop"))
        cluster.kubectl(
            "-n", operator_namespace, "rollout", "status", "deployment/repairgpt-operator",
            "--timeout=180s", timeout=200,
        )  # fmt: skip

        def reconciled() -> dict[str, Any] | None:
            body = get(cluster, watched, "rgi", "shop")
            conditions = ((body or {}).get("status") or {}).get("conditions") or []
            done = any(c["type"] == "Reconciled" and c["status"] == "True" for c in conditions)
            return body if done else None

        wait_for(reconciled, timeout=90, what="the instance in the watched namespace reconciled")
        assert get(cluster, watched, "deployment", "shop-api") is not None
        assert get(cluster, watched, "service", "shop-api") is not None

        # The other instance was there first, and stays untouched.
        ignored = get(cluster, unwatched, "rgi", "shop")
        assert ignored is not None and not ignored.get("status")
        children = cluster.kubectl(
            "-n", unwatched, "get", "deployments,services,configmaps", "-o", "json",
            "-l", "app.kubernetes.io/managed-by=repairgpt-operator",
        ).stdout  # fmt: skip
        assert json.loads(children)["items"] == []

        # Its account may act in the watched namespace only, and on nothing cluster-wide.
        def can(*args: str) -> str:
            result = cluster.kubectl("auth", "can-i", *args, f"--as={account}", check=False)
            return result.stdout.strip()

        assert can("patch", "deployments", "-n", watched) == "yes"
        assert can("list", "repairgptinstances.repairgpt.io", "-n", unwatched) == "no"
        assert can("list", "namespaces") == "no"
        assert can("list", "customresourcedefinitions.apiextensions.k8s.io") == "no"
        logs = cluster.kubectl(
            "-n", operator_namespace, "logs", "deployment/repairgpt-operator", "--tail=400"
        ).stdout
        assert "Forbidden" not in logs and "Not enough permissions" not in logs, logs[-4000:]
    finally:
        for namespace in (watched, unwatched):
            cluster.kubectl("delete", "namespace", namespace, "--wait=false", check=False)
        # Waited for: the operator's pod must not go on using the node's CPU.
        cluster.kubectl(
            "delete", "namespace", operator_namespace, "--timeout=120s", check=False, timeout=150
        )
