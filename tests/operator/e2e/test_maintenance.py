"""Maintenance mode on and off: the maintenance page takes over, then the API returns as it was."""

from __future__ import annotations

import json
import time
from typing import Any

import pytest

from tests.conftest import KubeCluster
from tests.operator.e2e.conftest import OperatorProcess, apply_manifest
from tests.operator.e2e.databases import instance_manifest
from tests.operator.e2e.observe import condition, get_json, is_reconciled, list_json, wait_until

pytestmark = pytest.mark.cluster

NAME = "shop"
CONVERGE_SECONDS = 30
MESSAGE = "Upgrading the database, back at 14:00 UTC"
API_SELECTOR = f"app.kubernetes.io/instance={NAME},app.kubernetes.io/component=api"

CASES: dict[str, dict[str, Any]] = {
    "hpa-off": {"replicas": 2, "podDisruptionBudget": {"enabled": False}},
    "hpa-on": {
        "autoscaling": {"enabled": True, "minReplicas": 2, "maxReplicas": 6},
        "podDisruptionBudget": {"enabled": False},
    },
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


def _mark_api_pods_ready(cluster: KubeCluster, namespace: str, count: int) -> None:
    """What a kubelet would do once the containers pass their readiness probe."""

    def enough() -> list[dict[str, Any]] | None:
        found = list_json(cluster, namespace, "pods", API_SELECTOR)
        return found if len(found) >= count else None

    pods = wait_until(
        enough,
        timeout=CONVERGE_SECONDS,
        what=f"{count} API pods",
    )
    now = time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime())
    ready = {
        "status": {
            "phase": "Running",
            "conditions": [
                {"type": kind, "status": "True", "lastTransitionTime": now}
                for kind in ("PodScheduled", "Initialized", "ContainersReady", "Ready")
            ],
        }
    }
    for pod in pods:
        cluster.kubectl(
            "-n", namespace, "patch", "pod", pod["metadata"]["name"], "--subresource=status",
            "--type", "merge", "-p", json.dumps(ready),
        )  # fmt: skip


@pytest.mark.parametrize("case", sorted(CASES))
def test_maintenance_on_and_off_restores_exactly_the_previous_state(
    k8s_cluster: KubeCluster, k8s_namespace: str, operator: OperatorProcess, case: str
) -> None:
    spec = CASES[case]
    autoscaling = "autoscaling" in spec
    result = apply_manifest(k8s_cluster, k8s_namespace, instance_manifest(NAME, **spec))
    assert result.returncode == 0, result.stderr
    wait_until(
        lambda: is_reconciled(_instance(k8s_cluster, k8s_namespace)),
        timeout=CONVERGE_SECONDS,
        what="the instance to be reconciled",
    )
    if autoscaling:
        # As the HPA would after a load peak: above minReplicas, so restoring it is observable.
        k8s_cluster.kubectl(
            "-n", k8s_namespace, "scale", "deployment", f"{NAME}-api", "--replicas=3"
        )
    expected_replicas = 3 if case != "hpa-off" else 2
    wait_until(
        lambda: (
            (d := _get(k8s_cluster, k8s_namespace, "deployment", f"{NAME}-api"))
            and d["spec"]["replicas"] == expected_replicas
        ),
        timeout=CONVERGE_SECONDS,
        what=f"{expected_replicas} API replicas before maintenance",
    )
    before = _snapshot(k8s_cluster, k8s_namespace)
    assert (before["hpa"] is not None) == autoscaling
    assert (before["pdb"] is not None) == (case == "pdb-on")
    uid = _instance(k8s_cluster, k8s_namespace)["metadata"]["uid"]  # type: ignore[index]

    # On: the API is held at zero and the maintenance page takes the Service.
    _set_maintenance(k8s_cluster, k8s_namespace, True)
    on = wait_until(
        lambda: (
            (o := _instance(k8s_cluster, k8s_namespace))
            and (o.get("status") or {}).get("maintenance", {}).get("phase") == "On"
            and o.get("status", {}).get("phase") == "Maintenance"
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
            (d := _get(k8s_cluster, k8s_namespace, "deployment", f"{NAME}-api"))
            and d["spec"]["replicas"] == 0
            and _get(k8s_cluster, k8s_namespace, "hpa", f"{NAME}-api") is None
            and _get(k8s_cluster, k8s_namespace, "pdb", f"{NAME}-api") is None
            and _service_component(k8s_cluster, k8s_namespace) == "maintenance"
        ),
        timeout=CONVERGE_SECONDS,
        what="API at 0, no HPA, no PDB, Service on the maintenance page",
    )
    page = _get(k8s_cluster, k8s_namespace, "deployment", f"{NAME}-maintenance")
    assert page is not None
    assert page["spec"]["replicas"] == 1
    assert page["metadata"]["labels"]["app.kubernetes.io/component"] == "maintenance"
    (owner,) = page["metadata"]["ownerReferences"]
    assert (owner["uid"], owner["controller"]) == (uid, True)
    (container,) = page["spec"]["template"]["spec"]["containers"]
    assert container["image"] == "ghcr.io/example/repairgpt-app:1.2.3"
    env = {e["name"]: e.get("value") for e in container.get("env", [])}
    assert env["MAINTENANCE_MODE"] == "true"
    assert env["MAINTENANCE_MESSAGE"] == MESSAGE
    pod_labels = page["spec"]["template"]["metadata"]["labels"]
    service = _get(k8s_cluster, k8s_namespace, "service", f"{NAME}-api")
    assert service is not None
    assert service["spec"]["selector"].items() <= pod_labels.items()
    assert "MaintenanceOn" in _event_reasons(k8s_cluster, k8s_namespace)
    printed = _printed_columns(k8s_cluster, k8s_namespace)
    assert (printed["PHASE"], printed["MAINTENANCE"]) == ("Maintenance", "true")
    # A resync keeps it that way (no HPA sneaking back, the API stays at zero).
    time.sleep(operator.resync_seconds + 1)
    held = _get(k8s_cluster, k8s_namespace, "deployment", f"{NAME}-api")
    assert held is not None and held["spec"]["replicas"] == 0
    assert _get(k8s_cluster, k8s_namespace, "hpa", f"{NAME}-api") is None

    # Off: the API comes back, but the Service waits for a ready API pod.
    _set_maintenance(k8s_cluster, k8s_namespace, False)
    exiting = wait_until(
        lambda: (
            (o := _instance(k8s_cluster, k8s_namespace))
            and (o.get("status") or {}).get("maintenance", {}).get("phase") == "Exiting"
            and o
        ),
        timeout=CONVERGE_SECONDS,
        what="status.maintenance.phase Exiting",
    )
    assert exiting["status"]["maintenance"]["phase"] == "Exiting"
    wait_until(
        lambda: (
            (d := _get(k8s_cluster, k8s_namespace, "deployment", f"{NAME}-api"))
            and d["spec"]["replicas"] == expected_replicas
            and (_get(k8s_cluster, k8s_namespace, "hpa", f"{NAME}-api") is not None) == autoscaling
            and (_get(k8s_cluster, k8s_namespace, "pdb", f"{NAME}-api") is not None)
            == (before["pdb"] is not None)
        ),
        timeout=CONVERGE_SECONDS,
        what=f"the API back at {expected_replicas} replicas, with its HPA and PDB as before",
    )
    # No pod is ready yet (there is no kubelet): the maintenance page must keep the Service.
    time.sleep(operator.resync_seconds + 1)
    assert _service_component(k8s_cluster, k8s_namespace) == "maintenance"
    assert _get(k8s_cluster, k8s_namespace, "deployment", f"{NAME}-maintenance") is not None
    still = _instance(k8s_cluster, k8s_namespace)
    assert still is not None and still["status"]["maintenance"]["phase"] == "Exiting"

    _mark_api_pods_ready(k8s_cluster, k8s_namespace, expected_replicas)
    wait_until(
        lambda: (
            (d := _get(k8s_cluster, k8s_namespace, "deployment", f"{NAME}-api"))
            and (d.get("status") or {}).get("readyReplicas", 0) >= 1
        ),
        timeout=CONVERGE_SECONDS,
        what="a ready API pod",
    )
    off = wait_until(
        lambda: (
            (o := _instance(k8s_cluster, k8s_namespace))
            and (o.get("status") or {}).get("maintenance", {}).get("phase") == "Off"
            and _service_component(k8s_cluster, k8s_namespace) == "api"
            and _get(k8s_cluster, k8s_namespace, "deployment", f"{NAME}-maintenance") is None
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
    printed = _printed_columns(k8s_cluster, k8s_namespace)
    assert printed["MAINTENANCE"] == "false" and printed["PHASE"] != "Maintenance"
    reasons = _event_reasons(k8s_cluster, k8s_namespace)
    assert {"MaintenanceOn", "MaintenanceExiting", "MaintenanceOff"} <= set(reasons)
    wait_until(
        lambda: _snapshot(k8s_cluster, k8s_namespace) == before,
        timeout=CONVERGE_SECONDS,
        what="the children to be exactly as before maintenance",
    )
    if autoscaling:
        # The count was handed back once; after that the HPA alone owns it.
        deployment = _get(k8s_cluster, k8s_namespace, "deployment", f"{NAME}-api")
        assert deployment is not None
        fields = json.dumps(
            [
                m
                for m in deployment["metadata"]["managedFields"]
                if m["manager"] == "repairgpt-operator" and m.get("subresource") != "scale"
            ]
        )
        assert '"f:replicas"' not in fields, "after maintenance the operator still owns replicas"
        k8s_cluster.kubectl(
            "-n", k8s_namespace, "scale", "deployment", f"{NAME}-api", "--replicas=5"
        )
        time.sleep(operator.resync_seconds + 1)
        scaled = _get(k8s_cluster, k8s_namespace, "deployment", f"{NAME}-api")
        assert scaled is not None and scaled["spec"]["replicas"] == 5
