"""Maintenance mode on and off: the maintenance page takes over, then the API returns as it was.

The API and the maintenance page run as real pods of the app image on the local cluster's node,
on a database of their own; their readiness is the kubelet's, from their probes.
"""

from __future__ import annotations

import json
import time
from typing import Any

import pytest

from tests.conftest import KubeCluster
from tests.operator.e2e.conftest import OperatorProcess, secret_manifest
from tests.operator.e2e.databases import SECRET_KEY, instance_manifest, schema_migration_in_progress
from tests.operator.e2e.observe import condition, get_json, is_reconciled, list_json, wait_until
from tests.utils.node import apply, http, image, ready_pods, service_url

pytestmark = [pytest.mark.cluster, pytest.mark.node]

NAME = "shop"
CONVERGE_SECONDS = 30
# Pods start on a node of 2 CPUs shared with everything else the machine runs.
READY_SECONDS = 180
MESSAGE = "Upgrading the database, back at 14:00 UTC"
API_SELECTOR = f"app.kubernetes.io/instance={NAME},app.kubernetes.io/component=api"
# Small CPU requests: the node has 2 CPUs for everything the suite runs. Memory is requested at
# its limit, so that the HPA (a real one, fed by metrics-server) sees the pods far below its
# 80 % target and never adds any.
RESOURCES = {
    "requests": {"cpu": "50m", "memory": "512Mi"},
    "limits": {"cpu": "1", "memory": "512Mi"},
}
AUTOSCALING = {"enabled": True, "minReplicas": 2, "maxReplicas": 6}

CASES: dict[str, dict[str, Any]] = {
    "hpa-off": {"replicas": 2, "podDisruptionBudget": {"enabled": False}},
    # The HPA is switched on once 3 pods run (see the test).
    "hpa-on": {"replicas": 3, "podDisruptionBudget": {"enabled": False}},
    "pdb-on": {"replicas": 3, "podDisruptionBudget": {"enabled": True, "maxUnavailable": 2}},
}


def _get(cluster: KubeCluster, namespace: str, kind: str, name: str) -> dict[str, Any] | None:
    return get_json(cluster, namespace, kind, name)


def _snapshot(cluster: KubeCluster, namespace: str) -> dict[str, Any]:
    """The fields of the API's children that maintenance touches and must give back."""
    deployment = _get(cluster, namespace, "deployment", f"{NAME}-api")
    hpa = _get(cluster, namespace, "hpa", f"{NAME}-api")
    pdb = _get(cluster, namespace, "pdb", f"{NAME}-api")
    service = _get(cluster, namespace, "service", f"{NAME}-api")
    assert deployment is not None and service is not None
    return {
        "deployment.replicas": deployment["spec"]["replicas"],
        "deployment.template": deployment["spec"]["template"],
        "deployment.selector": deployment["spec"]["selector"],
        "hpa": hpa and hpa["spec"],
        "pdb": pdb and pdb["spec"],
        "service.selector": service["spec"]["selector"],
        "service.ports": service["spec"]["ports"],
    }


def _instance(cluster: KubeCluster, namespace: str) -> dict[str, Any] | None:
    return _get(cluster, namespace, "rgi", NAME)


def _set_maintenance(cluster: KubeCluster, namespace: str, enabled: bool) -> None:
    patch = {"spec": {"maintenance": {"enabled": enabled, "message": MESSAGE}}}
    cluster.kubectl(
        "-n", namespace, "patch", "rgi", NAME, "--type", "merge", "-p", json.dumps(patch)
    )


def _event_reasons(cluster: KubeCluster, namespace: str) -> list[str]:
    events = json.loads(
        cluster.kubectl(
            "-n",
            namespace,
            "get",
            "events",
            "--field-selector",
            f"involvedObject.name={NAME}",
            "-o",
            "json",
        ).stdout  # fmt: skip
    )["items"]
    return [e["reason"] for e in sorted(events, key=lambda e: e["metadata"]["creationTimestamp"])]


def _service_component(cluster: KubeCluster, namespace: str) -> str | None:
    service = _get(cluster, namespace, "service", f"{NAME}-api")
    if service is None:
        return None
    component: str | None = service["spec"]["selector"].get("app.kubernetes.io/component")
    return component


def _printed_columns(cluster: KubeCluster, namespace: str) -> dict[str, str]:
    """The columns of `kubectl get rgi NAME`, by header (values start where headers start)."""
    header, row = cluster.kubectl("-n", namespace, "get", "rgi", NAME).stdout.splitlines()[:2]
    starts = [i for i, c in enumerate(header) if c != " " and (i == 0 or header[i - 1] == " ")]
    return {
        header[start:end].strip(): row[start:end].strip()
        for start, end in zip(starts, [*starts[1:], None], strict=True)
    }


def _patch_instance(cluster: KubeCluster, namespace: str, spec: dict[str, Any]) -> None:
    cluster.kubectl(
        "-n", namespace, "patch", "rgi", NAME, "--type", "merge", "-p", json.dumps({"spec": spec})
    )


def _api_ready_replicas(cluster: KubeCluster, namespace: str) -> int:
    deployment = _get(cluster, namespace, "deployment", f"{NAME}-api")
    return int(((deployment or {}).get("status") or {}).get("readyReplicas") or 0)


def _running_api_pods(cluster: KubeCluster, namespace: str) -> list[dict[str, Any]]:
    """API pods whose container has started (ready or not), leaving out pods on their way out."""
    return [
        pod
        for pod in list_json(cluster, namespace, "pods", API_SELECTOR)
        if not pod["metadata"].get("deletionTimestamp")
        and any(
            "running" in (status.get("state") or {})
            for status in (pod.get("status") or {}).get("containerStatuses") or []
        )
    ]


def _ready_through_the_service(cluster: KubeCluster, namespace: str) -> tuple[int, Any]:
    """GET /ready through the Service, as a client in the cluster sees it; (0, None) while the
    Service has no ready pod behind it (the connection is refused)."""
    try:
        return http(cluster, "GET", f"{service_url(cluster, namespace, f'{NAME}-api')}/ready")
    except AssertionError:
        return 0, None


def _serves_the_maintenance_page(cluster: KubeCluster, namespace: str) -> bool:
    code, body = _ready_through_the_service(cluster, namespace)
    return code == 503 and isinstance(body, dict) and body.get("detail") == MESSAGE


def _serves_the_api(cluster: KubeCluster, namespace: str) -> bool:
    code, body = _ready_through_the_service(cluster, namespace)
    return code == 200 and isinstance(body, dict) and body.get("status") == "ready"


@pytest.mark.parametrize("case", sorted(CASES))
def test_maintenance_on_and_off_restores_exactly_the_previous_state(
    node_cluster: KubeCluster,
    node_namespace: str,
    operator: OperatorProcess,
    pod_database: str,
    case: str,
) -> None:
    cluster, namespace = node_cluster, node_namespace
    autoscaling = case == "hpa-on"
    expected_replicas = CASES[case]["replicas"]
    instance = instance_manifest(
        NAME,
        image=image(cluster, "repairgpt-app"),
        imagePullPolicy="Never",
        resources=RESOURCES,
        **CASES[case],
    )
    apply(
        cluster, namespace, [secret_manifest("repairgpt-db", {SECRET_KEY: pod_database}), instance]
    )
    wait_until(
        lambda: is_reconciled(_instance(cluster, namespace)),
        timeout=CONVERGE_SECONDS,
        what="the instance to be reconciled",
    )
    if autoscaling:
        # As after a load peak: 3 pods run when the HPA arrives. A new HPA starts from the
        # count it finds and scales down only after its 5-minute stabilization window, so the
        # count stays above minReplicas and restoring it is observable.
        _patch_instance(cluster, namespace, {"autoscaling": AUTOSCALING})
        wait_until(
            lambda: (
                _get(cluster, namespace, "hpa", f"{NAME}-api") is not None
                and is_reconciled(_instance(cluster, namespace))
            ),
            timeout=CONVERGE_SECONDS,
            what="the HPA",
        )
    # The API runs (and has migrated its database) before maintenance begins.
    wait_until(
        lambda: (
            (d := _get(cluster, namespace, "deployment", f"{NAME}-api"))
            and d["spec"]["replicas"] == expected_replicas
            and _api_ready_replicas(cluster, namespace) == expected_replicas
        ),
        timeout=READY_SECONDS,
        what=f"{expected_replicas} ready API replicas before maintenance",
    )
    before = _snapshot(cluster, namespace)
    assert before["deployment.replicas"] == expected_replicas
    assert (before["hpa"] is not None) == autoscaling
    assert (before["pdb"] is not None) == (case == "pdb-on")
    uid = _instance(cluster, namespace)["metadata"]["uid"]  # type: ignore[index]

    # On: the API is held at zero and the maintenance page takes the Service.
    _set_maintenance(cluster, namespace, True)
    on = wait_until(
        lambda: (
            (o := _instance(cluster, namespace))
            and (o.get("status") or {}).get("maintenance", {}).get("phase") == "On"
            and o.get("status", {}).get("phase") == "Maintenance"
            # The phase is recorded before the children change, the condition after them.
            and (condition(o, "Maintenance") or {}).get("reason") == "MaintenanceOn"
            and o
        ),
        timeout=CONVERGE_SECONDS,
        what="status.maintenance.phase On",
    )
    assert on["status"]["maintenance"]["previousReplicas"] == expected_replicas
    maintenance = condition(on, "Maintenance")
    assert maintenance is not None
    assert (maintenance["status"], maintenance["reason"]) == ("True", "MaintenanceOn")
    wait_until(
        lambda: (
            (d := _get(cluster, namespace, "deployment", f"{NAME}-api"))
            and d["spec"]["replicas"] == 0
            and _get(cluster, namespace, "hpa", f"{NAME}-api") is None
            and _get(cluster, namespace, "pdb", f"{NAME}-api") is None
            and _service_component(cluster, namespace) == "maintenance"
        ),
        timeout=CONVERGE_SECONDS,
        what="API at 0, no HPA, no PDB, Service on the maintenance page",
    )
    page = _get(cluster, namespace, "deployment", f"{NAME}-maintenance")
    assert page is not None
    assert page["spec"]["replicas"] == 1
    assert page["metadata"]["labels"]["app.kubernetes.io/component"] == "maintenance"
    (owner,) = page["metadata"]["ownerReferences"]
    assert (owner["uid"], owner["controller"]) == (uid, True)
    (container,) = page["spec"]["template"]["spec"]["containers"]
    assert container["image"] == image(cluster, "repairgpt-app")
    env = {e["name"]: e.get("value") for e in container.get("env", [])}
    assert env["MAINTENANCE_MODE"] == "true"
    assert env["MAINTENANCE_MESSAGE"] == MESSAGE
    pod_labels = page["spec"]["template"]["metadata"]["labels"]
    service = _get(cluster, namespace, "service", f"{NAME}-api")
    assert service is not None
    assert service["spec"]["selector"].items() <= pod_labels.items()
    assert "MaintenanceOn" in _event_reasons(cluster, namespace)
    printed = _printed_columns(cluster, namespace)
    assert (printed["PHASE"], printed["MAINTENANCE"]) == ("Maintenance", "true")
    wait_until(
        lambda: _serves_the_maintenance_page(cluster, namespace),
        timeout=READY_SECONDS,
        what="the Service to answer with the maintenance message",
    )
    # A resync keeps it that way (no HPA sneaking back, the API stays at zero).
    time.sleep(operator.resync_seconds + 1)
    held = _get(cluster, namespace, "deployment", f"{NAME}-api")
    assert held is not None and held["spec"]["replicas"] == 0
    assert _get(cluster, namespace, "hpa", f"{NAME}-api") is None

    # Off while the database work is not quite done: the API comes back, but its pods wait for
    # the schema, and the Service waits for a ready API pod.
    with schema_migration_in_progress(pod_database):
        _set_maintenance(cluster, namespace, False)
        exiting = wait_until(
            lambda: (
                (o := _instance(cluster, namespace))
                and (o.get("status") or {}).get("maintenance", {}).get("phase") == "Exiting"
                and o
            ),
            timeout=CONVERGE_SECONDS,
            what="status.maintenance.phase Exiting",
        )
        assert exiting["status"]["maintenance"]["phase"] == "Exiting"
        wait_until(
            lambda: (
                (d := _get(cluster, namespace, "deployment", f"{NAME}-api"))
                and d["spec"]["replicas"] == expected_replicas
                and (_get(cluster, namespace, "hpa", f"{NAME}-api") is not None) == autoscaling
                and (_get(cluster, namespace, "pdb", f"{NAME}-api") is not None)
                == (before["pdb"] is not None)
            ),
            timeout=CONVERGE_SECONDS,
            what=f"the API back at {expected_replicas} replicas, with its HPA and PDB as before",
        )
        wait_until(
            lambda: len(_running_api_pods(cluster, namespace)) == expected_replicas,
            timeout=READY_SECONDS,
            what=f"{expected_replicas} running API pods",
        )
        # The API pods run but none is ready: the maintenance page must keep the Service.
        time.sleep(operator.resync_seconds + 1)
        assert ready_pods(cluster, namespace, API_SELECTOR) == []
        assert _service_component(cluster, namespace) == "maintenance"
        assert _get(cluster, namespace, "deployment", f"{NAME}-maintenance") is not None
        still = _instance(cluster, namespace)
        assert still is not None and still["status"]["maintenance"]["phase"] == "Exiting"
        assert _serves_the_maintenance_page(cluster, namespace)

    wait_until(
        lambda: _api_ready_replicas(cluster, namespace) >= 1,
        timeout=READY_SECONDS,
        what="a ready API pod",
    )
    off = wait_until(
        lambda: (
            (o := _instance(cluster, namespace))
            and (o.get("status") or {}).get("maintenance", {}).get("phase") == "Off"
            and _service_component(cluster, namespace) == "api"
            and _get(cluster, namespace, "deployment", f"{NAME}-maintenance") is None
            # The phase is recorded before the children change, the condition after them.
            and (c := condition(o, "Maintenance")) is not None
            and c["status"] == "False"
            and o
        ),
        timeout=CONVERGE_SECONDS,
        what="maintenance Off, the Service on the API, the maintenance Deployment gone",
    )
    maintenance = condition(off, "Maintenance")
    assert maintenance is not None
    assert (maintenance["status"], maintenance["reason"]) == ("False", "MaintenanceOff")
    assert off["status"]["phase"] != "Maintenance"
    printed = _printed_columns(cluster, namespace)
    assert printed["MAINTENANCE"] == "false" and printed["PHASE"] != "Maintenance"
    reasons = _event_reasons(cluster, namespace)
    assert {"MaintenanceOn", "MaintenanceExiting", "MaintenanceOff"} <= set(reasons)
    wait_until(
        lambda: _serves_the_api(cluster, namespace),
        timeout=CONVERGE_SECONDS,
        what="the Service to answer from the API again",
    )
    wait_until(
        lambda: _snapshot(cluster, namespace) == before,
        timeout=CONVERGE_SECONDS,
        what="the children to be exactly as before maintenance",
    )
    if autoscaling:
        # The count was handed back once; after that the HPA alone owns it.
        deployment = _get(cluster, namespace, "deployment", f"{NAME}-api")
        assert deployment is not None
        fields = json.dumps(
            [
                m
                for m in deployment["metadata"]["managedFields"]
                if m["manager"] == "repairgpt-operator" and m.get("subresource") != "scale"
            ]
        )
        assert '"f:replicas"' not in fields, "after maintenance the operator still owns replicas"
        # A higher minimum makes the HPA scale up; the operator's resyncs leave its count alone.
        _patch_instance(cluster, namespace, {"autoscaling": {**AUTOSCALING, "minReplicas": 4}})
        wait_until(
            lambda: (
                (d := _get(cluster, namespace, "deployment", f"{NAME}-api"))
                and d["spec"]["replicas"] == 4
            ),
            timeout=CONVERGE_SECONDS,
            what="the HPA to scale the API to its new minimum of 4",
        )
        time.sleep(operator.resync_seconds + 1)
        scaled = _get(cluster, namespace, "deployment", f"{NAME}-api")
        assert scaled is not None and scaled["spec"]["replicas"] == 4
