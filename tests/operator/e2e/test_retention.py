"""The chat retention CronJob: created by the operator (under its own RBAC) with the command and
schedule of spec.retention, updated with it, and removed when chatHistoryDays is 0."""

from __future__ import annotations

import json
from typing import Any

import pytest

from tests.conftest import KubeCluster
from tests.operator.e2e.conftest import OperatorProcess, apply_manifest
from tests.operator.e2e.observe import get_json, wait_until

pytestmark = pytest.mark.cluster

NAME = "shop"
CONVERGE_SECONDS = 60


def _instance(retention: dict[str, Any] | None = None) -> dict[str, Any]:
    spec: dict[str, Any] = {
        "image": "ghcr.io/example/repairgpt-app:1.2.3",
        "replicas": 0,
        "autoscaling": {"enabled": False},
        "database": {"primary": {"secretName": f"{NAME}-db", "key": "database-url"}},
    }
    if retention is not None:
        spec["retention"] = retention
    return {
        "apiVersion": "repairgpt.io/v1alpha1",
        "kind": "RepairGPTInstance",
        "metadata": {"name": NAME},
        "spec": spec,
    }


def _cronjob(cluster: KubeCluster, namespace: str) -> dict[str, Any] | None:
    return get_json(cluster, namespace, "cronjob", f"{NAME}-retention")


def _command(cronjob: dict[str, Any]) -> list[str]:
    pod = cronjob["spec"]["jobTemplate"]["spec"]["template"]["spec"]
    command: list[str] = pod["containers"][0]["command"]
    return command


def test_retention_cronjob_follows_the_spec_and_goes_at_zero_days(
    k8s_cluster: KubeCluster, k8s_namespace: str, operator: OperatorProcess
) -> None:
    cluster, namespace = k8s_cluster, k8s_namespace
    assert apply_manifest(cluster, namespace, _instance()).returncode == 0
    cronjob = wait_until(
        lambda: _cronjob(cluster, namespace), timeout=CONVERGE_SECONDS, what="the CronJob"
    )
    assert cronjob["spec"]["schedule"] == "15 4 * * *"
    assert _command(cronjob)[:5] == ["repairgpt", "db", "prune-chats", "--older-than-days", "365"]
    owner = cronjob["metadata"]["ownerReferences"][0]
    assert (owner["kind"], owner["name"]) == ("RepairGPTInstance", NAME)

    patch = {"spec": {"retention": {"chatHistoryDays": 30, "schedule": "0 2 * * SUN"}}}
    cluster.kubectl("-n", namespace, "patch", "rgi", NAME, "--type=merge", "-p", json.dumps(patch))
    changed = wait_until(
        lambda: (
            (c := _cronjob(cluster, namespace)) and c["spec"]["schedule"] == "0 2 * * SUN" and c
        ),
        timeout=CONVERGE_SECONDS,
        what="the CronJob to take the new schedule",
    )
    assert _command(changed)[3:5] == ["--older-than-days", "30"]

    off = {"spec": {"retention": {"chatHistoryDays": 0}}}
    cluster.kubectl("-n", namespace, "patch", "rgi", NAME, "--type=merge", "-p", json.dumps(off))
    wait_until(
        lambda: _cronjob(cluster, namespace) is None,
        timeout=CONVERGE_SECONDS,
        what="the CronJob to be deleted",
    )


def test_the_api_server_refuses_negative_days_and_a_bad_schedule(
    k8s_cluster: KubeCluster, k8s_namespace: str, installed_crds: None
) -> None:
    negative = apply_manifest(k8s_cluster, k8s_namespace, _instance({"chatHistoryDays": -1}))
    assert negative.returncode != 0
    assert "spec.retention.chatHistoryDays" in negative.stderr
    schedule = apply_manifest(k8s_cluster, k8s_namespace, _instance({"schedule": "daily"}))
    assert schedule.returncode != 0
    assert "spec.retention.schedule" in schedule.stderr
