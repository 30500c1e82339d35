"""RepairGPTRestore end to end: the backup named, maintenance hold, the backup before a clean
restore, the restore Job, status, and the hold lifted.

Everything runs as real pods on the local cluster's node: the instance's API pods (which the
hold scales to zero, and which must be gone before the restore starts), its maintenance page,
and the restore Job, against a real PostgreSQL and moto's S3 server on the host end of the
node's link. The operator runs as a local process.
"""

from __future__ import annotations

import socket
from collections.abc import Iterator
from typing import Any

import pytest

from tests.conftest import KubeCluster
from tests.operator.e2e.backups import (
    SEEDED_ROWS,
    SEEDED_TABLES,
    SMALL_API,
    back_up,
    container_ends,
    create_bucket,
    job_pods,
    seed_database,
    wait_job_end,
)
from tests.operator.e2e.conftest import OperatorProcess, apply_manifest, secret_manifest
from tests.operator.e2e.observe import condition, get_json, list_json, wait_until
from tests.utils.node import image, pods, ready_pods
from tests.utils.servers import PostgresServer, S3Server

pytestmark = pytest.mark.cluster

HOLD = "repairgpt.io/restore-hold"
API_SELECTOR = "app.kubernetes.io/instance=shop,app.kubernetes.io/component=api"
RESTORE_SELECTOR = "repairgpt.io/restore"
# The operator's reaction to something it watches; generous, the machine is shared.
CONVERGE_SECONDS = 60
# API pods start, migrate their database and become ready; slower on a busy node.
PODS_SECONDS = 240


def _instance(bucket: str, endpoint: str, app_image: str) -> dict[str, Any]:
    return {
        "apiVersion": "repairgpt.io/v1alpha1",
        "kind": "RepairGPTInstance",
        "metadata": {"name": "shop"},
        "spec": {
            "image": app_image,
            "replicas": 2,
            "autoscaling": {"enabled": False},
            "resources": SMALL_API,
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


@pytest.fixture
def silent_s3(node_cluster: KubeCluster) -> Iterator[str]:
    """An endpoint on the node link's host address that accepts connections and never answers:
    a restore from it keeps running (the client waits a minute per attempt)."""
    host = node_cluster.node.network.host_ip
    with socket.socket() as sock:
        sock.bind((host, 0))
        sock.listen(64)
        yield f"http://{host}:{sock.getsockname()[1]}"


def _setup(
    cluster: KubeCluster, namespace: str, target_url: str, bucket: str, s3: S3Server
) -> None:
    """The instance on `target_url` (as pods reach it), with its two API pods ready."""
    for manifest in (
        secret_manifest("shop-db", {"database-url": target_url}),
        secret_manifest(
            "shop-s3",
            {
                "AWS_ACCESS_KEY_ID": s3.env["AWS_ACCESS_KEY_ID"],
                "AWS_SECRET_ACCESS_KEY": s3.env["AWS_SECRET_ACCESS_KEY"],
            },
        ),
        _instance(bucket, s3.endpoint_url, image(cluster, "repairgpt-app")),
    ):
        result = apply_manifest(cluster, namespace, manifest)
        assert result.returncode == 0, result.stderr
    wait_until(
        lambda: len(ready_pods(cluster, namespace, API_SELECTOR)) == 2,
        timeout=PODS_SECONDS,
        what="two ready API pods",
        interval=1,
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
    wait_until(
        lambda: len(ready_pods(cluster, namespace, API_SELECTOR)) == 2,
        timeout=PODS_SECONDS,
        what="two ready API pods again",
        interval=1,
    )


def _count(postgres: PostgresServer, url: str, table: str) -> int:
    return int(postgres.psql(f"SELECT count(*) FROM {table}", dbname=url.rsplit("/", 1)[1]))


def _events(cluster: KubeCluster, namespace: str, reason: str) -> list[dict[str, Any]]:
    return [e for e in list_json(cluster, namespace, "events") if e.get("reason") == reason]


def _restore_jobs(cluster: KubeCluster, namespace: str) -> dict[str, dict[str, Any]]:
    """The Jobs of the restore by step (find, backup, restore)."""
    jobs = list_json(cluster, namespace, "jobs", RESTORE_SELECTOR)
    return {job["metadata"]["name"].rsplit("-", 1)[1]: job for job in jobs}


def _restore_job(cluster: KubeCluster, namespace: str) -> dict[str, Any]:
    """The restore Job as soon as the operator has created it."""
    job: dict[str, Any] = wait_until(
        lambda: _restore_jobs(cluster, namespace).get("restore"),
        timeout=PODS_SECONDS,
        what="the restore Job",
        interval=0.1,
    )
    return job


def _database_name(url: str) -> str:
    return url.rsplit("/", 1)[1]


def test_restore_holds_maintenance_runs_the_job_and_gives_the_api_back(
    node_cluster: KubeCluster,
    node_namespace: str,
    operator: OperatorProcess,
    pod_postgres: PostgresServer,
    pod_database: str,
    pod_s3: S3Server,
) -> None:
    cluster, namespace = node_cluster, node_namespace
    bucket = create_bucket(pod_s3)
    source = seed_database(pod_postgres)
    back_up(source, bucket, pod_s3, pod_postgres)
    _setup(cluster, namespace, pod_database, bucket, pod_s3)

    # The API's own tables are in the target: the restore replaces only the backup's objects,
    # after backing the database up (into the same bucket: `latest` is named before that).
    restore = _restore("tuesday", clean=True)
    assert apply_manifest(cluster, namespace, restore).returncode == 0
    named = wait_until(
        lambda: _restore_status(cluster, namespace, "tuesday").get("backupKey"),
        timeout=PODS_SECONDS,
        what="the backup that `latest` stands for",
    )
    # The instance goes into maintenance first; the Job waits for the API's pods to go.
    wait_until(
        lambda: _annotations(cluster, namespace).get(HOLD) == "tuesday",
        timeout=CONVERGE_SECONDS,
        what="the maintenance hold on the instance",
    )
    job = _restore_job(cluster, namespace)
    # Pods that were still shutting down count: they may still write to the database.
    left = [p["metadata"]["name"] for p in pods(cluster, namespace, API_SELECTOR)]
    deployment = get_json(cluster, namespace, "deployment", "shop-api")
    assert deployment is not None
    assert deployment["spec"]["replicas"] == 0
    assert deployment["status"].get("replicas", 0) == 0, "the Job started while API pods ran"
    stored = get_json(cluster, namespace, "rgi", "shop")
    assert stored is not None
    assert stored["status"]["maintenance"]["phase"] == "On"
    maintenance = condition(stored, "Maintenance")
    assert maintenance is not None and maintenance["reason"] == "RestoreInProgress"
    assert "tuesday" in maintenance["message"]
    running = wait_until(
        lambda: (lambda s: s if s.get("phase") == "Running" else None)(
            _restore_status(cluster, namespace, "tuesday")
        ),
        timeout=CONVERGE_SECONDS,
        what="the restore to run",
    )
    assert running["jobName"] == job["metadata"]["name"]
    (owner,) = job["metadata"]["ownerReferences"]
    assert (owner["kind"], owner["name"]) == ("RepairGPTRestore", "tuesday")

    name = job["metadata"]["name"]
    ended = wait_job_end(cluster, namespace, name)
    [restored] = container_ends(cluster, namespace, name, "restore")
    assert restored["exitCode"] == 0, restored.get("message")
    assert ended["status"].get("succeeded") == 1, ended["status"]

    done = wait_until(
        lambda: (lambda s: s if s.get("phase") in ("Succeeded", "Failed") else None)(
            _restore_status(cluster, namespace, "tuesday")
        ),
        timeout=CONVERGE_SECONDS,
        what="the restore to end",
    )
    assert done["phase"] == "Succeeded", done
    # The backup taken during the hold is kept, and is not the one restored.
    assert done["backupKey"] == named
    assert done["preRestoreBackupKey"].startswith("db/")
    assert done["preRestoreBackupKey"] != named
    assert done["preRestoreBackupKey"] in done["message"]
    steps = _restore_jobs(cluster, namespace)
    assert sorted(steps) == ["backup", "find", "restore"], sorted(steps)
    assert steps["backup"]["status"].get("succeeded") == 1
    assert done["restoredRows"] == SEEDED_ROWS + 2
    assert done["restoredTables"] == SEEDED_TABLES
    assert done["location"].startswith(f"s3://{bucket}/db/")
    assert done["completionTime"]
    assert {c["type"]: c["status"] for c in done["conditions"]} == {
        "Complete": "True",
        "Failed": "False",
    }
    assert _count(pod_postgres, pod_database, "parts") == SEEDED_ROWS
    _wait_hold_lifted_and_api_back(cluster, namespace)
    for reason in ("RestoreStarted", "RestoreSucceeded"):
        events = _events(cluster, namespace, reason)
        involved = {e["involvedObject"]["kind"] for e in events}
        assert involved == {"RepairGPTRestore", "RepairGPTInstance"}, reason
    assert operator.metric("repairgpt_operator_restores_total", outcome="succeeded") >= 1
    assert not left, f"the restore Job was created while API pods still existed: {left}"


def test_a_failed_restore_reports_the_error_and_leaves_maintenance(
    node_cluster: KubeCluster,
    node_namespace: str,
    operator: OperatorProcess,
    pod_postgres: PostgresServer,
    pod_database: str,
    pod_s3: S3Server,
) -> None:
    cluster, namespace = node_cluster, node_namespace
    bucket = create_bucket(pod_s3)
    source = seed_database(pod_postgres)
    back_up(source, bucket, pod_s3, pod_postgres)
    # The target already has data and the restore does not ask for --clean: refused.
    pod_postgres.psql("CREATE TABLE keep_me (id int)", dbname=_database_name(pod_database))
    _setup(cluster, namespace, pod_database, bucket, pod_s3)

    assert apply_manifest(cluster, namespace, _restore("careful")).returncode == 0
    name = wait_until(
        lambda: _restore_status(cluster, namespace, "careful").get("jobName"),
        timeout=PODS_SECONDS,
        what="the restore Job",
    )
    ended = wait_job_end(cluster, namespace, name)
    assert ended["status"].get("failed") == 1, ended["status"]
    [refused] = container_ends(cluster, namespace, name, "restore")
    assert refused["exitCode"] != 0, refused

    failed = wait_until(
        lambda: (lambda s: s if s.get("phase") == "Failed" else None)(
            _restore_status(cluster, namespace, "careful")
        ),
        timeout=CONVERGE_SECONDS,
        what="the restore to fail",
    )
    assert "not empty" in failed["message"]
    assert "--clean" in failed["message"]
    _wait_hold_lifted_and_api_back(cluster, namespace)
    [event] = wait_until(
        lambda: [
            e
            for e in _events(cluster, namespace, "RestoreFailed")
            if e["involvedObject"]["kind"] == "RepairGPTRestore"
        ],
        timeout=CONVERGE_SECONDS,
        what="a RestoreFailed event",
    )
    assert event["type"] == "Warning"
    # The existing data was not touched.
    assert _count(pod_postgres, pod_database, "keep_me") == 0


def test_one_restore_at_a_time_and_deleting_one_lifts_its_hold(
    node_cluster: KubeCluster,
    node_namespace: str,
    operator: OperatorProcess,
    pod_database: str,
    pod_s3: S3Server,
    silent_s3: str,
) -> None:
    cluster, namespace = node_cluster, node_namespace
    bucket = create_bucket(pod_s3)
    _setup(cluster, namespace, pod_database, bucket, pod_s3)
    # Both restores read a store that never answers: each runs until it is deleted.
    never_answers = {
        "bucket": bucket,
        "prefix": "db/",
        "endpoint": silent_s3,
        "credentialsSecret": "shop-s3",
    }
    # Named keys: a `latest` would first be looked up in that store.
    key = "db/repairgpt-20261128T030000.000Z.sql.gz"
    first = _restore("abandoned", s3=never_answers, backup=key)
    assert apply_manifest(cluster, namespace, first).returncode == 0
    wait_until(
        lambda: _annotations(cluster, namespace).get(HOLD) == "abandoned",
        timeout=CONVERGE_SECONDS,
        what="the maintenance hold",
    )
    second = _restore("second", s3=never_answers, backup=key)
    assert apply_manifest(cluster, namespace, second).returncode == 0
    waiting = wait_until(
        lambda: (lambda s: s if "abandoned" in (s.get("message") or "") else None)(
            _restore_status(cluster, namespace, "second")
        ),
        timeout=CONVERGE_SECONDS,
        what="the second restore to wait for the first",
    )
    assert waiting["phase"] == "Pending"
    job_name = wait_until(
        lambda: _restore_status(cluster, namespace, "abandoned").get("jobName"),
        timeout=PODS_SECONDS,
        what="the first restore's Job",
    )
    wait_until(
        lambda: [
            p
            for p in job_pods(cluster, namespace, job_name)
            if (p.get("status") or {}).get("phase") == "Running"
        ],
        timeout=PODS_SECONDS,
        what="the first restore's pod to run",
        interval=1,
    )
    assert _restore_status(cluster, namespace, "second")["phase"] == "Pending"

    # Deleting the first (its running Job goes with it) lets the second take over the hold;
    # deleting the second too gives the instance back.
    cluster.kubectl("-n", namespace, "delete", "rgr", "abandoned", "--wait=true")
    wait_until(
        lambda: _annotations(cluster, namespace).get(HOLD) == "second",
        timeout=CONVERGE_SECONDS,
        what="the second restore to take the hold",
    )
    wait_until(
        lambda: get_json(cluster, namespace, "job", job_name) is None,
        timeout=CONVERGE_SECONDS,
        what="the first restore's Job to be deleted with it",
    )
    cluster.kubectl("-n", namespace, "delete", "rgr", "second", "--wait=true")
    _wait_hold_lifted_and_api_back(cluster, namespace)
