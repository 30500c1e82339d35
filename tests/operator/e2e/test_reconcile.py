"""The operator, running under its own RBAC, creates and keeps the children of each instance."""

from __future__ import annotations

import json
import os
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

import pytest
import yaml

from tests.conftest import KubeCluster
from tests.operator.e2e.conftest import REPO_ROOT, OperatorProcess
from tests.operator.e2e.databases import schema_migration_in_progress
from tests.operator.e2e.observe import condition, get_json, is_reconciled, list_json, wait_until
from tests.utils.node import apply, image

pytestmark = pytest.mark.cluster

EXAMPLES = REPO_ROOT / "examples"
CONVERGE_SECONDS = 30
# Pods start on a node of 2 CPUs shared with everything else the machine runs.
READY_SECONDS = 180
# Small requests: the node has 2 CPUs for everything the suite runs.
SMALL = {"requests": {"cpu": "50m", "memory": "128Mi"}, "limits": {"cpu": "1", "memory": "512Mi"}}
APP_COMMAND = Path(sys.executable).parent / "repairgpt"


def _instance_of(example: Path) -> dict[str, Any]:
    return next(
        d for d in yaml.safe_load_all(example.read_text()) if d["kind"] == "RepairGPTInstance"
    )


def _apply_example(cluster: KubeCluster, namespace: str, name: str) -> dict[str, Any]:
    result = cluster.kubectl("-n", namespace, "apply", "-f", str(EXAMPLES / f"{name}.yaml"))
    assert result.returncode == 0
    return _instance_of(EXAMPLES / f"{name}.yaml")


def _wait_reconciled(cluster: KubeCluster, namespace: str, name: str) -> dict[str, Any]:
    return wait_until(
        lambda: (lambda o: o if is_reconciled(o) else None)(
            get_json(cluster, namespace, "rgi", name)
        ),
        timeout=CONVERGE_SECONDS,
        what=f"rgi/{name} to be reconciled",
    )


def _deployment(cluster: KubeCluster, namespace: str, name: str) -> dict[str, Any] | None:
    return get_json(cluster, namespace, "deployment", f"{name}-api")


def _container(deployment: dict[str, Any]) -> dict[str, Any]:
    container: dict[str, Any] = deployment["spec"]["template"]["spec"]["containers"][0]
    return container


def _example_on_the_node(
    cluster: KubeCluster, name: str, database_url: str
) -> list[dict[str, Any]]:
    """The example with its database Secret on a real database that pods reach, the app image
    built here, and small resource requests."""
    documents = [d for d in yaml.safe_load_all((EXAMPLES / f"{name}.yaml").read_text()) if d]
    for document in documents:
        if document["kind"] == "Secret" and "database-url" in document.get("stringData", {}):
            document["stringData"]["database-url"] = database_url
        if document["kind"] == "RepairGPTInstance":
            document["spec"]["image"] = image(cluster, "repairgpt-app")
            document["spec"]["imagePullPolicy"] = "Never"
            document["spec"]["resources"] = SMALL
    return documents


def _migrate(database_url: str) -> None:
    """`repairgpt db migrate`, as run before a first rollout."""
    subprocess.run(
        [str(APP_COMMAND), "db", "migrate"],
        env={**os.environ, "DATABASE_URL": database_url},
        check=True,
        capture_output=True,
        timeout=120,
    )


EXPECTED_KINDS = {
    "minimal": {"serviceaccount", "configmap", "deployment", "service", "poddisruptionbudget",
                "networkpolicy"},
    "staging": {"serviceaccount", "configmap", "deployment", "service", "poddisruptionbudget",
                "networkpolicy", "ingress"},
    "production": {"serviceaccount", "configmap", "deployment", "service", "poddisruptionbudget",
                   "networkpolicy", "ingress", "horizontalpodautoscaler"},
}  # fmt: skip
ALL_KINDS = set().union(*EXPECTED_KINDS.values())


@pytest.mark.parametrize("example", ["minimal", "staging", "production"])
def test_each_example_gets_every_child_with_the_expected_fields(
    k8s_cluster: KubeCluster, k8s_namespace: str, operator: OperatorProcess, example: str
) -> None:
    instance = _apply_example(k8s_cluster, k8s_namespace, example)
    name = instance["metadata"]["name"]
    stored = _wait_reconciled(k8s_cluster, k8s_namespace, name)
    uid = stored["metadata"]["uid"]

    for kind in ALL_KINDS:
        child = get_json(k8s_cluster, k8s_namespace, kind, f"{name}-api")
        if kind not in EXPECTED_KINDS[example]:
            assert child is None, f"{kind} should not exist for {example}"
            continue
        assert child is not None, f"{kind} {name}-api missing"
        (owner,) = child["metadata"]["ownerReferences"]
        assert (owner["uid"], owner["controller"]) == (uid, True)
        assert child["metadata"]["labels"]["app.kubernetes.io/managed-by"] == "repairgpt-operator"
        assert {m["manager"] for m in child["metadata"]["managedFields"]} >= {"repairgpt-operator"}

    deployment = _deployment(k8s_cluster, k8s_namespace, name)
    assert deployment is not None
    container = _container(deployment)
    assert container["image"] == instance["spec"]["image"]
    assert container["securityContext"]["readOnlyRootFilesystem"] is True
    env = {e["name"]: e for e in container["env"]}
    assert env["DATABASE_URL"]["valueFrom"]["secretKeyRef"]["name"] == "repairgpt-db"
    if example == "production":
        hpa = get_json(k8s_cluster, k8s_namespace, "hpa", f"{name}-api")
        assert hpa is not None
        assert (hpa["spec"]["minReplicas"], hpa["spec"]["maxReplicas"]) == (5, 20)
        assert container["resources"]["limits"] == {"cpu": "2", "memory": "2Gi"}
        fields = json.dumps(
            [
                m
                for m in deployment["metadata"]["managedFields"]
                if m["manager"] == "repairgpt-operator"
            ]
        )
        assert '"f:replicas"' not in fields, "with an HPA the operator must not own replicas"
    else:
        assert deployment["spec"]["replicas"] == instance["spec"].get("replicas", 1)
    configmap = get_json(k8s_cluster, k8s_namespace, "configmap", f"{name}-api")
    assert configmap is not None and "change-me" not in json.dumps(configmap["data"])

    printed = k8s_cluster.kubectl("-n", k8s_namespace, "get", "rgi", name).stdout
    assert "PHASE" in printed and "Progressing" in printed


def test_patched_replicas_and_image_reach_the_deployment(
    k8s_cluster: KubeCluster, k8s_namespace: str, operator: OperatorProcess
) -> None:
    _apply_example(k8s_cluster, k8s_namespace, "minimal")
    _wait_reconciled(k8s_cluster, k8s_namespace, "repairgpt")
    k8s_cluster.kubectl(
        "-n", k8s_namespace, "patch", "rgi", "repairgpt", "--type", "merge",
        "-p", '{"spec":{"replicas":3,"image":"ghcr.io/example/repairgpt-app:1.2.4"}}',
    )  # fmt: skip
    wait_until(
        lambda: (
            (d := _deployment(k8s_cluster, k8s_namespace, "repairgpt"))
            and d["spec"]["replicas"] == 3
            and _container(d)["image"].endswith(":1.2.4")
        ),
        timeout=CONVERGE_SECONDS,
        what="the Deployment to follow the patch",
    )
    stored = _wait_reconciled(k8s_cluster, k8s_namespace, "repairgpt")
    assert stored["status"]["observedGeneration"] == 2
    events = k8s_cluster.kubectl(
        "-n", k8s_namespace, "get", "events", "--field-selector",
        "involvedObject.name=repairgpt,reason=Updated", "-o", "json",
    ).stdout  # fmt: skip
    assert "applied generation 2" in events
    # kubectl scale goes through the scale subresource of the custom resource.
    k8s_cluster.kubectl("-n", k8s_namespace, "scale", "rgi", "repairgpt", "--replicas=2")
    wait_until(
        lambda: (
            (d := _deployment(k8s_cluster, k8s_namespace, "repairgpt"))
            and d["spec"]["replicas"] == 2
        ),
        timeout=CONVERGE_SECONDS,
        what="kubectl scale rgi to reach the Deployment",
    )


@pytest.mark.parametrize("kind", ["deployment", "service", "configmap", "networkpolicy"])
def test_a_deleted_child_comes_back_within_seconds(
    k8s_cluster: KubeCluster, k8s_namespace: str, operator: OperatorProcess, kind: str
) -> None:
    _apply_example(k8s_cluster, k8s_namespace, "minimal")
    _wait_reconciled(k8s_cluster, k8s_namespace, "repairgpt")
    before = get_json(k8s_cluster, k8s_namespace, kind, "repairgpt-api")
    assert before is not None
    started = time.monotonic()
    k8s_cluster.kubectl("-n", k8s_namespace, "delete", kind, "repairgpt-api", "--wait=false")
    wait_until(
        lambda: (
            (c := get_json(k8s_cluster, k8s_namespace, kind, "repairgpt-api"))
            and c["metadata"]["uid"] != before["metadata"]["uid"]
        ),
        timeout=15,
        what=f"{kind} to be re-created",
    )
    print(f"{kind} restored in {time.monotonic() - started:.2f}s")


def test_an_edited_child_is_restored(
    k8s_cluster: KubeCluster, k8s_namespace: str, operator: OperatorProcess
) -> None:
    _apply_example(k8s_cluster, k8s_namespace, "minimal")
    _wait_reconciled(k8s_cluster, k8s_namespace, "repairgpt")
    k8s_cluster.kubectl(
        "-n", k8s_namespace, "set", "image", "deployment/repairgpt-api", "api=evil:latest"
    )
    k8s_cluster.kubectl(
        "-n", k8s_namespace, "patch", "configmap", "repairgpt-api", "--type", "merge",
        "-p", '{"data":{"LOG_LEVEL":"CRITICAL"}}',
    )  # fmt: skip
    wait_until(
        lambda: (
            (d := _deployment(k8s_cluster, k8s_namespace, "repairgpt"))
            and _container(d)["image"] == "ghcr.io/example/repairgpt-app:1.2.3"
        ),
        timeout=15,
        what="the image to be restored",
    )
    wait_until(
        lambda: (
            (c := get_json(k8s_cluster, k8s_namespace, "configmap", "repairgpt-api"))
            and c["data"]["LOG_LEVEL"] == "INFO"
        ),
        timeout=15,
        what="the ConfigMap to be restored",
    )


def test_the_operator_leaves_replicas_to_the_hpa(
    k8s_cluster: KubeCluster, k8s_namespace: str, operator: OperatorProcess
) -> None:
    _apply_example(k8s_cluster, k8s_namespace, "production")
    _wait_reconciled(k8s_cluster, k8s_namespace, "repairgpt")
    # As the HPA would: scale the Deployment through its scale subresource.
    k8s_cluster.kubectl("-n", k8s_namespace, "scale", "deployment", "repairgpt-api", "--replicas=7")
    time.sleep(2 * operator.resync_seconds + 1)
    deployment = _deployment(k8s_cluster, k8s_namespace, "repairgpt")
    assert deployment is not None and deployment["spec"]["replicas"] == 7


def test_switching_autoscaling_on_keeps_the_running_pods(
    k8s_cluster: KubeCluster, k8s_namespace: str, operator: OperatorProcess
) -> None:
    _apply_example(k8s_cluster, k8s_namespace, "minimal")
    k8s_cluster.kubectl(
        "-n",
        k8s_namespace,
        "patch",
        "rgi",
        "repairgpt",
        "--type",
        "merge",
        "-p",
        '{"spec":{"replicas":3}}',
    )
    wait_until(
        lambda: (
            (d := _deployment(k8s_cluster, k8s_namespace, "repairgpt"))
            and d["spec"]["replicas"] == 3
        ),
        timeout=CONVERGE_SECONDS,
        what="3 replicas",
    )
    k8s_cluster.kubectl(
        "-n", k8s_namespace, "patch", "rgi", "repairgpt", "--type", "merge",
        "-p", '{"spec":{"autoscaling":{"enabled":true,"minReplicas":2,"maxReplicas":5}}}',
    )  # fmt: skip
    wait_until(
        lambda: get_json(k8s_cluster, k8s_namespace, "hpa", "repairgpt-api"),
        timeout=CONVERGE_SECONDS,
        what="the HPA",
    )
    _wait_reconciled(k8s_cluster, k8s_namespace, "repairgpt")
    deadline = time.monotonic() + 2 * operator.resync_seconds + 1
    while time.monotonic() < deadline:
        deployment = _deployment(k8s_cluster, k8s_namespace, "repairgpt")
        assert deployment is not None and deployment["spec"]["replicas"] == 3
        time.sleep(0.5)
    assert deployment is not None
    fields = json.dumps(
        [m for m in deployment["metadata"]["managedFields"] if m["manager"] == "repairgpt-operator"]
    )
    assert '"f:replicas"' not in fields, "the operator still owns replicas next to the HPA"


@pytest.mark.node
def test_status_follows_the_deployment(
    node_cluster: KubeCluster, node_namespace: str, operator: OperatorProcess, pod_database: str
) -> None:
    """The API pods really run: status.replicas counts them at once, status.readyReplicas once
    the kubelet finds them ready. A schema migration still running on their database keeps them
    from readiness until it ends."""
    cluster, namespace = node_cluster, node_namespace
    _migrate(pod_database)
    with schema_migration_in_progress(pod_database):
        apply(cluster, namespace, _example_on_the_node(cluster, "minimal", pod_database))
        _wait_reconciled(cluster, namespace, "repairgpt")
        cluster.kubectl(
            "-n", namespace, "patch", "rgi", "repairgpt", "--type", "merge",
            "-p", '{"spec":{"replicas":2}}',
        )  # fmt: skip
        wait_until(
            lambda: (
                (o := get_json(cluster, namespace, "rgi", "repairgpt"))
                and o["status"].get("replicas") == 2
                and o["status"].get("readyReplicas") == 0
            ),
            timeout=CONVERGE_SECONDS,
            what="status.replicas to follow the Deployment's 2 pods",
        )
        stored = get_json(cluster, namespace, "rgi", "repairgpt")
        assert stored is not None and stored["status"]["phase"] == "Progressing"
    ready = wait_until(
        lambda: (
            (o := get_json(cluster, namespace, "rgi", "repairgpt"))
            and o["status"].get("readyReplicas") == 2
            and o
        ),
        timeout=READY_SECONDS,
        what="status.readyReplicas to follow the ready pods",
    )
    assert ready["status"]["phase"] == "Running"
    ready_condition = condition(ready, "Ready")
    assert ready_condition is not None and ready_condition["status"] == "True"


def test_an_api_rejection_becomes_a_condition_and_an_event_not_a_crash(
    k8s_cluster: KubeCluster, k8s_namespace: str, operator: OperatorProcess
) -> None:
    """A CPU request above the limit passes the CRD but the API server refuses the Deployment."""
    _apply_example(k8s_cluster, k8s_namespace, "minimal")
    _wait_reconciled(k8s_cluster, k8s_namespace, "repairgpt")
    k8s_cluster.kubectl(
        "-n", k8s_namespace, "patch", "rgi", "repairgpt", "--type", "merge",
        "-p", '{"spec":{"resources":{"requests":{"cpu":"2"},"limits":{"cpu":"1"}}}}',
    )  # fmt: skip
    failed = wait_until(
        lambda: (
            (o := get_json(k8s_cluster, k8s_namespace, "rgi", "repairgpt"))
            and (c := condition(o, "Reconciled"))
            and c["status"] == "False"
            and o
        ),
        timeout=CONVERGE_SECONDS,
        what="Reconciled=False",
    )
    reconciled = condition(failed, "Reconciled")
    assert reconciled is not None
    assert reconciled["reason"] == "ApplyFailed"
    assert "must be less than or equal to cpu limit" in reconciled["message"]
    assert "Deployment/repairgpt-api" in reconciled["message"]
    assert failed["status"]["phase"] == "Degraded"
    assert failed["status"]["observedGeneration"] == failed["metadata"]["generation"]
    events = k8s_cluster.kubectl(
        "-n", k8s_namespace, "get", "events", "--field-selector",
        "involvedObject.name=repairgpt,reason=ApplyFailed", "-o", "json",
    ).stdout  # fmt: skip
    assert "must be less than or equal to cpu limit" in events
    assert operator.alive
    # The other children are still applied; fixing the spec clears the condition.
    k8s_cluster.kubectl(
        "-n", k8s_namespace, "patch", "rgi", "repairgpt", "--type", "merge",
        "-p", '{"spec":{"resources":{"requests":{"cpu":"1"}}}}',
    )  # fmt: skip
    _wait_reconciled(k8s_cluster, k8s_namespace, "repairgpt")
    deployment = _deployment(k8s_cluster, k8s_namespace, "repairgpt")
    assert deployment is not None
    assert _container(deployment)["resources"]["requests"]["cpu"] == "1"


def test_deleting_the_instance_garbage_collects_its_children(
    k8s_cluster: KubeCluster, k8s_namespace: str, operator: OperatorProcess
) -> None:
    _apply_example(k8s_cluster, k8s_namespace, "production")
    _wait_reconciled(k8s_cluster, k8s_namespace, "repairgpt")
    k8s_cluster.kubectl(
        "-n", k8s_namespace, "delete", "rgi", "repairgpt", "--wait=true", "--timeout=30s"
    )
    selector = "app.kubernetes.io/instance=repairgpt"
    kinds = "deployments,services,configmaps,serviceaccounts,hpa,pdb,networkpolicies,ingresses"
    wait_until(
        lambda: list_json(k8s_cluster, k8s_namespace, kinds, selector) == [],
        timeout=CONVERGE_SECONDS,
        what="the garbage collector to delete every child",
    )
    time.sleep(2 * operator.resync_seconds)
    assert list_json(k8s_cluster, k8s_namespace, kinds, selector) == [], (
        "the operator re-created children"
    )


def test_events_metrics_and_health_are_reported(
    k8s_cluster: KubeCluster, k8s_namespace: str, operator: OperatorProcess
) -> None:
    _apply_example(k8s_cluster, k8s_namespace, "minimal")
    _wait_reconciled(k8s_cluster, k8s_namespace, "repairgpt")
    events = wait_until(
        lambda: json.loads(
            k8s_cluster.kubectl(
                "-n",
                k8s_namespace,
                "get",
                "events",
                "--field-selector",
                "involvedObject.name=repairgpt",
                "-o",
                "json",
            ).stdout  # fmt: skip
        )["items"],
        timeout=10,
        what="an Event on the instance",
    )
    assert "Created" in {e["reason"] for e in events}
    assert operator.get("/healthz")[0] == 200
    assert operator.metric("repairgpt_operator_managed_instances") >= 1
    assert operator.metric("repairgpt_operator_reconciliations_total", trigger="create") >= 1
    assert operator.metric("repairgpt_operator_reconcile_duration_seconds_count") >= 1
