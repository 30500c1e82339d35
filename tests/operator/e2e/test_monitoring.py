"""spec.monitoring on the real API server: without the prometheus-operator CRDs the instance
says so and gets everything else; with them, its scrape object and rules are created and
accepted, and switched off again."""

from __future__ import annotations

import json
from collections.abc import Iterator
from typing import Any

import pytest
import yaml

from tests.conftest import KubeCluster
from tests.operator.e2e import prometheus_operator
from tests.operator.e2e.conftest import REPO_ROOT, OperatorProcess, apply_manifest
from tests.operator.e2e.observe import condition, get_json, wait_until

pytestmark = pytest.mark.cluster

NAME = "repairgpt"
CONVERGE_SECONDS = 30
# The operator asks API discovery again at most every 30 s, then acts at its next resync.
DISCOVERY_SECONDS = 75
MONITORING = {"enabled": True, "labels": {"release": "kube-prometheus-stack"}}


def _instance(monitoring: dict[str, Any]) -> dict[str, Any]:
    return {
        "apiVersion": "repairgpt.io/v1alpha1",
        "kind": "RepairGPTInstance",
        "metadata": {"name": NAME},
        "spec": {
            "image": "ghcr.io/example/repairgpt-app:1.2.3",
            "database": {"primary": {"secretName": "repairgpt-db"}},
            "monitoring": monitoring,
        },
    }


def _monitoring_ready(cluster: KubeCluster, namespace: str, status: str) -> dict[str, Any]:
    def probe() -> dict[str, Any] | None:
        found = condition(get_json(cluster, namespace, "rgi", NAME), "MonitoringReady")
        return found if found and found["status"] == status else None

    return wait_until(probe, timeout=DISCOVERY_SECONDS, what=f"MonitoringReady={status}")


def _events(cluster: KubeCluster, namespace: str, reason: str) -> list[dict[str, Any]]:
    selector = f"involvedObject.name={NAME},reason={reason}"
    out = cluster.kubectl(
        "-n", namespace, "get", "events", "--field-selector", selector, "-o", "json"
    ).stdout
    items: list[dict[str, Any]] = json.loads(out)["items"]
    return items


@pytest.fixture(scope="module")
def without_crds(k8s_cluster: KubeCluster) -> None:
    prometheus_operator.uninstall(k8s_cluster)


@pytest.fixture
def with_crds(k8s_cluster: KubeCluster) -> Iterator[None]:
    prometheus_operator.install(k8s_cluster)
    yield
    prometheus_operator.uninstall(k8s_cluster)


def test_without_the_prometheus_operator_the_instance_says_so_and_gets_the_rest(
    k8s_cluster: KubeCluster, k8s_namespace: str, without_crds: None, operator: OperatorProcess
) -> None:
    assert apply_manifest(k8s_cluster, k8s_namespace, _instance(MONITORING)).returncode == 0
    ready = _monitoring_ready(k8s_cluster, k8s_namespace, "False")
    assert ready["reason"] == "PrometheusOperatorMissing"
    assert "ServiceMonitor" in ready["message"] and "PrometheusRule" in ready["message"]
    for kind, name in (
        ("deployment", f"{NAME}-api"),
        ("service", f"{NAME}-api"),
        ("networkpolicy", f"{NAME}-api"),
        ("configmap", f"{NAME}-dashboard"),
    ):
        assert get_json(k8s_cluster, k8s_namespace, kind, name) is not None, kind
    dashboard = get_json(k8s_cluster, k8s_namespace, "configmap", f"{NAME}-dashboard")
    assert dashboard is not None
    assert dashboard["metadata"]["labels"]["grafana_dashboard"] == "1"
    rgi = get_json(k8s_cluster, k8s_namespace, "rgi", NAME)
    assert rgi is not None and condition(rgi, "Reconciled")["status"] == "True"  # type: ignore[index]
    # One Event, not one per resync.
    wait_until(
        lambda: _events(k8s_cluster, k8s_namespace, "PrometheusOperatorMissing"),
        timeout=CONVERGE_SECONDS,
        what="the PrometheusOperatorMissing Event",
    )
    resyncs = operator.metric("repairgpt_operator_reconciliations_total", trigger="resync")
    wait_until(
        lambda: (
            operator.metric("repairgpt_operator_reconciliations_total", trigger="resync")
            >= resyncs + 3
        ),
        timeout=CONVERGE_SECONDS,
        what="three more resyncs",
    )
    assert len(_events(k8s_cluster, k8s_namespace, "PrometheusOperatorMissing")) == 1
    assert (
        operator.metric(
            "repairgpt_instance_condition",
            namespace=k8s_namespace,
            name=NAME,
            type="MonitoringReady",
            status="False",
        )
        == 1
    )


def _kinds_present(cluster: KubeCluster, namespace: str) -> set[str]:
    found = set()
    for kind in ("servicemonitor", "podmonitor", "prometheusrule"):
        if get_json(cluster, namespace, f"{kind}.monitoring.coreos.com", f"{NAME}-api"):
            found.add(kind)
    return found


def test_with_the_prometheus_operator_the_monitors_and_rules_are_created_and_accepted(
    k8s_cluster: KubeCluster, k8s_namespace: str, with_crds: None, operator: OperatorProcess
) -> None:
    assert apply_manifest(k8s_cluster, k8s_namespace, _instance(MONITORING)).returncode == 0
    _monitoring_ready(k8s_cluster, k8s_namespace, "True")
    assert _kinds_present(k8s_cluster, k8s_namespace) == {"servicemonitor", "prometheusrule"}
    rule = get_json(
        k8s_cluster, k8s_namespace, "prometheusrule.monitoring.coreos.com", f"{NAME}-api"
    )
    assert rule is not None
    assert rule["metadata"]["labels"]["release"] == "kube-prometheus-stack"
    assert rule["metadata"]["ownerReferences"][0]["name"] == NAME
    alerts = {r["alert"] for group in rule["spec"]["groups"] for r in group["rules"]}
    assert {"HighErrorRate", "HighResponseTime", "DatabaseConnectionFailure"} <= alerts
    monitor = get_json(
        k8s_cluster, k8s_namespace, "servicemonitor.monitoring.coreos.com", f"{NAME}-api"
    )
    assert monitor is not None and monitor["spec"]["endpoints"][0]["port"] == "http"

    # PodMonitor instead: the ServiceMonitor goes.
    patch = {"spec": {"monitoring": {"scrape": "PodMonitor", "interval": "15s"}}}
    k8s_cluster.kubectl(
        "-n", k8s_namespace, "patch", "rgi", NAME, "--type", "merge", "-p", json.dumps(patch)
    )
    wait_until(
        lambda: _kinds_present(k8s_cluster, k8s_namespace) == {"podmonitor", "prometheusrule"},
        timeout=CONVERGE_SECONDS,
        what="the PodMonitor in place of the ServiceMonitor",
    )

    # Off: every monitoring object and the condition go; the API's children stay.
    off = {"spec": {"monitoring": {"enabled": False}}}
    k8s_cluster.kubectl(
        "-n", k8s_namespace, "patch", "rgi", NAME, "--type", "merge", "-p", json.dumps(off)
    )
    wait_until(
        lambda: (
            not _kinds_present(k8s_cluster, k8s_namespace)
            and get_json(k8s_cluster, k8s_namespace, "configmap", f"{NAME}-dashboard") is None
            and condition(get_json(k8s_cluster, k8s_namespace, "rgi", NAME), "MonitoringReady")
            is None
        ),
        timeout=CONVERGE_SECONDS,
        what="the monitoring objects and MonitoringReady to be removed",
    )
    assert get_json(k8s_cluster, k8s_namespace, "deployment", f"{NAME}-api") is not None


def test_the_operators_own_pod_monitor_and_rules_are_accepted(
    k8s_cluster: KubeCluster, with_crds: None, operator: OperatorProcess
) -> None:
    # (The operator fixture is what creates its namespace, repairgpt-system.)
    for name in ("podmonitor.yaml", "prometheusrule.yaml"):
        manifest = yaml.safe_load((REPO_ROOT / "deploy" / "monitoring" / name).read_text())
        result = k8s_cluster.kubectl(
            "apply", "--dry-run=server", "-f", "-", input=yaml.safe_dump(manifest), check=False
        )
        assert result.returncode == 0, result.stderr
