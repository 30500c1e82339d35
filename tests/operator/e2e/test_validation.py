"""The API server itself refuses invalid RepairGPTInstances, naming the field (CRD schema + CEL)."""

from __future__ import annotations

import copy
from typing import Any

import pytest

from tests.conftest import KubeCluster
from tests.operator.e2e.conftest import apply_manifest
from tests.operator.e2e.observe import get_json
from tests.operator.factories import deep_merge

pytestmark = pytest.mark.cluster

VALID: dict[str, Any] = {
    "apiVersion": "repairgpt.io/v1alpha1",
    "kind": "RepairGPTInstance",
    "metadata": {"name": "bad"},
    "spec": {
        "image": "ghcr.io/example/repairgpt-app:1.2.3",
        "database": {"primary": {"secretName": "repairgpt-db"}},
    },
}


def _with(spec: dict[str, Any]) -> dict[str, Any]:
    return deep_merge(VALID, {"spec": spec})


def _without(field: str) -> dict[str, Any]:
    manifest = copy.deepcopy(VALID)
    del manifest["spec"][field]
    return manifest


INVALID = [
    ("negative replicas", _with({"replicas": -1}), "spec.replicas"),
    (
        "min above max",
        _with({"autoscaling": {"enabled": True, "minReplicas": 9, "maxReplicas": 3}}),
        "spec.autoscaling.minReplicas",
    ),
    ("failover without a replica", _with({"failover": {"enabled": True}}), "spec.database"),
    ("bad cron", _with({"backup": {"schedule": "every hour"}}), "spec.backup.schedule"),
    ("six-field cron", _with({"backup": {"schedule": "0 0 * * * *"}}), "spec.backup.schedule"),
    ("unknown field", _with({"replicaCount": 3}), "spec.replicaCount"),
    ("backup without a bucket", _with({"backup": {"enabled": True}}), "spec.backup.s3"),
    ("missing image", _without("image"), "spec.image"),
    ("missing database", _without("database"), "spec.database"),
    ("unknown log level", _with({"config": {"logLevel": "LOUD"}}), "spec.config.logLevel"),
    (
        "cpu target above 100 %",
        _with({"autoscaling": {"targetCPUUtilizationPercentage": 150}}),
        "spec.autoscaling.targetCPUUtilizationPercentage",
    ),
    ("ingress without a host", _with({"ingress": {"enabled": True}}), "spec.ingress.host"),
    (
        "malformed quantity",
        _with({"resources": {"requests": {"cpu": "lots"}}}),
        "spec.resources.requests.cpu",
    ),
    (
        "invalid secret name",
        _with({"database": {"primary": {"secretName": "Bad_Name"}}}),
        "spec.database.primary.secretName",
    ),
    (
        "replica equal to primary",
        _with({"database": {"replica": {"secretName": "repairgpt-db"}}}),
        "spec.database.replica",
    ),
    (
        "unknown failback mode",
        _with({"failover": {"failback": "Sometimes"}}),
        "spec.failover.failback",
    ),
    (
        "name too long for the children",
        deep_merge(VALID, {"metadata": {"name": "a" * 50}}),
        "metadata.name",
    ),
]


@pytest.mark.parametrize(
    ("manifest", "field"),
    [pytest.param(m, f, id=case) for case, m, f in INVALID],
)
def test_invalid_instance_is_rejected_naming_the_field(
    k8s_cluster: KubeCluster, installed_crds: None, k8s_namespace: str, manifest: dict, field: str
) -> None:
    result = apply_manifest(k8s_cluster, k8s_namespace, manifest)
    assert result.returncode != 0, f"accepted: {result.stdout}"
    assert field in result.stderr, result.stderr
    assert get_json(k8s_cluster, k8s_namespace, "rgi", manifest["metadata"]["name"]) is None


def test_a_valid_instance_is_accepted_and_defaulted(
    k8s_cluster: KubeCluster, installed_crds: None, k8s_namespace: str
) -> None:
    result = apply_manifest(k8s_cluster, k8s_namespace, VALID)
    assert result.returncode == 0, result.stderr
    stored = get_json(k8s_cluster, k8s_namespace, "rgi", "bad")
    assert stored is not None
    spec = stored["spec"]
    assert spec["replicas"] == 1
    assert spec["autoscaling"]["maxReplicas"] == 10
    assert spec["database"]["primary"]["key"] == "database-url"
    assert spec["resources"]["requests"] == {"cpu": "500m", "memory": "512Mi"}


def test_kubectl_explain_describes_the_fields(
    k8s_cluster: KubeCluster, installed_crds: None
) -> None:
    text = k8s_cluster.kubectl("explain", "rgi.spec.autoscaling").stdout
    assert "minReplicas" in text and "Lower bound of the HPA" in text
