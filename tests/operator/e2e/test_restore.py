"""RepairGPTRestore end to end: maintenance hold, the restore Job, status, and the hold lifted.

The restore Job's pod does not run in the local control plane (no kubelet): the test runs the
Job's command as a local process against a real PostgreSQL and moto's S3 server and reports the
outcome as the kubelet and the Job controller would (tests/operator/e2e/kubelet.py).
"""

from __future__ import annotations

from typing import Any

import pytest

from tests.conftest import KubeCluster
from tests.operator.e2e.backups import SEEDED_ROWS, SEEDED_TABLES, back_up, seed_database
from tests.operator.e2e.conftest import OperatorProcess, apply_manifest, secret_manifest
from tests.operator.e2e.kubelet import (
    CONVERGE_SECONDS,
    finish_job,
    report_container,
    run_job_pod,
    wait_job_started,
)
from tests.operator.e2e.observe import condition, get_json, list_json, wait_until
from tests.utils.servers import PostgresServer, S3Server

pytestmark = pytest.mark.cluster

HOLD = "repairgpt.io/restore-hold"


def _instance(bucket: str, endpoint: str) -> dict[str, Any]:
    return {
        "apiVersion": "repairgpt.io/v1alpha1",
        "kind": "RepairGPTInstance",
        "metadata": {"name": "shop"},
        "spec": {
            "image": "ghcr.io/example/repairgpt-app:1.2.3",
            "replicas": 2,
            "autoscaling": {"enabled": False},
            "database": {"primary": {"secretName": "shop-db"}},
            "backup": {
                "enabled": False,
                "s3": {
                    "bucket": bucket,
                    "prefix": "db/",
                    "endpoint": endpoint,
                    "credentialsSecret": "shop-s3",
                },
            },
        },
    }


def _restore(name: str, **spec: Any) -> dict[str, Any]:
    return {
        "apiVersion": "repairgpt.io/v1alpha1",
        "kind": "RepairGPTRestore",
        "metadata": {"name": name},
        "spec": {"instanceName": "shop", **spec},
    }


def _setup(
    cluster: KubeCluster, namespace: str, target_url: str, bucket: str, s3: S3Server
) -> None:
    for manifest in (
        secret_manifest("shop-db", {"database-url": target_url}),
        secret_manifest(
            "shop-s3",
            {
                "AWS_ACCESS_KEY_ID": s3.env["AWS_ACCESS_KEY_ID"],
                "AWS_SECRET_ACCESS_KEY": s3.env["AWS_SECRET_ACCESS_KEY"],
            },
        ),
        _instance(bucket, s3.endpoint_url),
    ):
        result = apply_manifest(cluster, namespace, manifest)
        assert result.returncode == 0, result.stderr
    wait_until(
        lambda: (
            ((get_json(cluster, namespace, "deployment", "shop-api") or {}).get("status", {})).get(
                "replicas"
            )
            == 2
        ),
        timeout=CONVERGE_SECONDS,
        what="two API pods",
    )


def _restore_status(cluster: KubeCluster, namespace: str, name: str) -> dict[str, Any]:
    status: dict[str, Any] = (get_json(cluster, namespace, "rgr", name) or {}).get("status") or {}
    return status


def _annotations(cluster: KubeCluster, namespace: str) -> dict[str, str]:
    stored = get_json(cluster, namespace, "rgi", "shop") or {}
    annotations: dict[str, str] = stored.get("metadata", {}).get("annotations") or {}
    return annotations


def _wait_hold_lifted_and_api_back(cluster: KubeCluster, namespace: str) -> None:
    wait_until(
        lambda: HOLD not in _annotations(cluster, namespace),
        timeout=CONVERGE_SECONDS,
        what="the hold to be lifted",
    )
    wait_until(
        lambda: (
            (get_json(cluster, namespace, "deployment", "shop-api") or {})
            .get("spec", {})
            .get("replicas")
            == 2
        ),
        timeout=CONVERGE_SECONDS,
        what="the API to be scaled back to its 2 replicas",
    )


def _count(postgres: PostgresServer, url: str, table: str) -> int:
    return int(postgres.psql(f"SELECT count(*) FROM {table}", dbname=url.rsplit("/", 1)[1]))


def _events(cluster: KubeCluster, namespace: str, reason: str) -> list[dict[str, Any]]:
    return [e for e in list_json(cluster, namespace, "events") if e.get("reason") == reason]


def test_restore_holds_maintenance_runs_the_job_and_gives_the_api_back(
    k8s_cluster: KubeCluster,
    k8s_namespace: str,
    operator: OperatorProcess,
    postgres_server: PostgresServer,
    postgres_url: str,
    s3_server: S3Server,
    s3_bucket: str,
) -> None:
    source = seed_database(postgres_server)
    back_up(source, s3_bucket, s3_server, postgres_server)
    _setup(k8s_cluster, k8s_namespace, postgres_url, s3_bucket, s3_server)

    assert apply_manifest(k8s_cluster, k8s_namespace, _restore("tuesday")).returncode == 0
    # The instance goes into maintenance first; the Job waits for the API's pods to go.
    wait_until(
        lambda: _annotations(k8s_cluster, k8s_namespace).get(HOLD) == "tuesday",
        timeout=CONVERGE_SECONDS,
        what="the maintenance hold on the instance",
    )
    job = wait_job_started(
        k8s_cluster,
        k8s_namespace,
        wait_until(
            lambda: [
                j["metadata"]["name"]
                for j in list_json(k8s_cluster, k8s_namespace, "jobs", "repairgpt.io/restore")
            ],
            timeout=CONVERGE_SECONDS,
            what="the restore Job",
        )[0],
    )
    deployment = get_json(k8s_cluster, k8s_namespace, "deployment", "shop-api")
    assert deployment is not None
    assert deployment["spec"]["replicas"] == 0
    assert deployment["status"].get("replicas", 0) == 0, "the Job started while API pods ran"
    stored = get_json(k8s_cluster, k8s_namespace, "rgi", "shop")
    assert stored is not None
    assert stored["status"]["maintenance"]["phase"] == "On"
    maintenance = condition(stored, "Maintenance")
    assert maintenance is not None and maintenance["reason"] == "RestoreInProgress"
    assert "tuesday" in maintenance["message"]
    running = _restore_status(k8s_cluster, k8s_namespace, "tuesday")
    assert running["phase"] == "Running"
    assert running["jobName"] == job["metadata"]["name"]
    (owner,) = job["metadata"]["ownerReferences"]
    assert (owner["kind"], owner["name"]) == ("RepairGPTRestore", "tuesday")

    [result] = run_job_pod(k8s_cluster, k8s_namespace, job, postgres_server)
    assert result.returncode == 0, result.stderr[-2000:]
    report_container(k8s_cluster, k8s_namespace, job, result, container="restore")
    finish_job(k8s_cluster, k8s_namespace, job, succeeded=True)

    done = wait_until(
        lambda: (lambda s: s if s.get("phase") == "Succeeded" else None)(
            _restore_status(k8s_cluster, k8s_namespace, "tuesday")
        ),
        timeout=CONVERGE_SECONDS,
        what="the restore to succeed",
    )
    assert done["restoredRows"] == SEEDED_ROWS + 2
    assert done["restoredTables"] == SEEDED_TABLES
    assert done["location"].startswith(f"s3://{s3_bucket}/db/")
    assert done["completionTime"]
    assert {c["type"]: c["status"] for c in done["conditions"]} == {
        "Complete": "True",
        "Failed": "False",
    }
    assert _count(postgres_server, postgres_url, "parts") == SEEDED_ROWS
    _wait_hold_lifted_and_api_back(k8s_cluster, k8s_namespace)
    for reason in ("RestoreStarted", "RestoreSucceeded"):
        events = _events(k8s_cluster, k8s_namespace, reason)
        involved = {e["involvedObject"]["kind"] for e in events}
        assert involved == {"RepairGPTRestore", "RepairGPTInstance"}, reason
    assert operator.metric("repairgpt_operator_restores_total", outcome="succeeded") >= 1


def test_a_failed_restore_reports_the_error_and_leaves_maintenance(
    k8s_cluster: KubeCluster,
    k8s_namespace: str,
    operator: OperatorProcess,
    postgres_server: PostgresServer,
    postgres_url: str,
    s3_server: S3Server,
    s3_bucket: str,
) -> None:
    source = seed_database(postgres_server)
    back_up(source, s3_bucket, s3_server, postgres_server)
    # The target already has data and the restore does not ask for --clean: refused.
    postgres_server.psql("CREATE TABLE keep_me (id int)", dbname=postgres_url.rsplit("/", 1)[1])
    _setup(k8s_cluster, k8s_namespace, postgres_url, s3_bucket, s3_server)

    assert apply_manifest(k8s_cluster, k8s_namespace, _restore("careful")).returncode == 0
    name = wait_until(
        lambda: _restore_status(k8s_cluster, k8s_namespace, "careful").get("jobName"),
        timeout=CONVERGE_SECONDS,
        what="the restore Job",
    )
    job = wait_job_started(k8s_cluster, k8s_namespace, name)
    [result] = run_job_pod(k8s_cluster, k8s_namespace, job, postgres_server)
    assert result.returncode != 0
    report_container(k8s_cluster, k8s_namespace, job, result, container="restore")
    finish_job(k8s_cluster, k8s_namespace, job, succeeded=False)

    failed = wait_until(
        lambda: (lambda s: s if s.get("phase") == "Failed" else None)(
            _restore_status(k8s_cluster, k8s_namespace, "careful")
        ),
        timeout=CONVERGE_SECONDS,
        what="the restore to fail",
    )
    assert "not empty" in failed["message"]
    assert "--clean" in failed["message"]
    wait_until(
        lambda: HOLD not in _annotations(k8s_cluster, k8s_namespace),
        timeout=CONVERGE_SECONDS,
        what="the hold to be lifted after the failure",
    )
    [event] = wait_until(
        lambda: [
            e
            for e in _events(k8s_cluster, k8s_namespace, "RestoreFailed")
            if e["involvedObject"]["kind"] == "RepairGPTRestore"
        ],
        timeout=CONVERGE_SECONDS,
        what="a RestoreFailed event",
    )
    assert event["type"] == "Warning"
    # The existing data was not touched.
    assert _count(postgres_server, postgres_url, "keep_me") == 0


def test_one_restore_at_a_time_and_deleting_one_lifts_its_hold(
    k8s_cluster: KubeCluster,
    k8s_namespace: str,
    operator: OperatorProcess,
    postgres_url: str,
    s3_server: S3Server,
    s3_bucket: str,
) -> None:
    _setup(k8s_cluster, k8s_namespace, postgres_url, s3_bucket, s3_server)
    assert apply_manifest(k8s_cluster, k8s_namespace, _restore("abandoned")).returncode == 0
    wait_until(
        lambda: _annotations(k8s_cluster, k8s_namespace).get(HOLD) == "abandoned",
        timeout=CONVERGE_SECONDS,
        what="the maintenance hold",
    )
    second = _restore("second")
    assert apply_manifest(k8s_cluster, k8s_namespace, second).returncode == 0
    waiting = wait_until(
        lambda: (lambda s: s if "abandoned" in (s.get("message") or "") else None)(
            _restore_status(k8s_cluster, k8s_namespace, "second")
        ),
        timeout=CONVERGE_SECONDS,
        what="the second restore to wait for the first",
    )
    assert waiting["phase"] == "Pending"

    # Deleting the first (its Job goes with it) lets the second take over the hold; deleting
    # the second too gives the instance back.
    k8s_cluster.kubectl("-n", k8s_namespace, "delete", "rgr", "abandoned", "--wait=true")
    wait_until(
        lambda: _annotations(k8s_cluster, k8s_namespace).get(HOLD) == "second",
        timeout=CONVERGE_SECONDS,
        what="the second restore to take the hold",
    )
    k8s_cluster.kubectl("-n", k8s_namespace, "delete", "rgr", "second", "--wait=true")
    _wait_hold_lifted_and_api_back(k8s_cluster, k8s_namespace)
