"""Scheduled and on-demand backups: the operator's CronJob and Jobs, and the status they lead to.

The backup and verification Jobs run as real pods of the app image on the local cluster's node,
against a real PostgreSQL and moto's S3 server that listen on the host end of the node's link;
the Job controller reports how they ended, and the operator (a local process) reads that.
"""

from __future__ import annotations

import json
import socket
import time
from datetime import datetime
from typing import Any

import pytest

from tests.conftest import KubeCluster
from tests.operator.e2e.backups import (
    JOB_SECONDS,
    SMALL_API,
    back_up,
    container_ends,
    create_bucket,
    job_pods,
    seed_database,
    wait_job_end,
)
from tests.operator.e2e.conftest import (
    REPO_ROOT,
    TEST_RESYNC_SECONDS,
    OperatorProcess,
    apply_manifest,
    secret_manifest,
)
from tests.operator.e2e.observe import (
    condition,
    get_json,
    list_json,
    wait_established,
    wait_until,
)
from tests.utils.node import image
from tests.utils.servers import PostgresServer, S3Server

pytestmark = pytest.mark.cluster

BACKUP_SELECTOR = "app.kubernetes.io/component=backup"
# Credentials of moto's S3 server (any value is accepted); distinctive, to search for leaks.
ACCESS_KEY = "AKIABACKUPTESTKEY"
SECRET_KEY = "backup-test-secret-value"
# The operator's reaction to something it watches; generous, the machine is shared.
CONVERGE_SECONDS = 60
# An unreachable store fails a dump in seconds (the client does not retry for minutes).
FAIL_FAST_SECONDS = 60


def _closed_port(host: str) -> int:
    """A port of `host` on which nothing listens (connections are refused)."""
    with socket.socket() as sock:
        sock.bind((host, 0))
        port: int = sock.getsockname()[1]
    return port


def _instance(
    name: str,
    *,
    bucket: str,
    endpoint: str,
    image: str = "ghcr.io/example/repairgpt-app:1.2.3",
    suspend: bool = False,
) -> dict[str, Any]:
    """An instance whose backups go to `bucket` at `endpoint`. It serves no API pods: backups
    need only its database Secret, and the node's CPU goes to the Jobs."""
    return {
        "apiVersion": "repairgpt.io/v1alpha1",
        "kind": "RepairGPTInstance",
        "metadata": {"name": name},
        "spec": {
            "image": image,
            "replicas": 0,
            "autoscaling": {"enabled": False},
            "resources": SMALL_API,
            "database": {"primary": {"secretName": f"{name}-db", "key": "database-url"}},
            "backup": {
                "enabled": True,
                # Far from now in any test run: the CronJob controller starts nothing by itself.
                "schedule": "0 3 * * *",
                "retentionDays": 7,
                "suspend": suspend,
                "s3": {
                    "bucket": bucket,
                    "prefix": "db/",
                    "endpoint": endpoint,
                    "region": "us-east-1",
                    "credentialsSecret": f"{name}-s3",
                },
            },
        },
    }


def _create(
    cluster: KubeCluster, namespace: str, instance: dict[str, Any], database_url: str
) -> None:
    name = instance["metadata"]["name"]
    for manifest in (
        secret_manifest(f"{name}-db", {"database-url": database_url}),
        secret_manifest(
            f"{name}-s3", {"AWS_ACCESS_KEY_ID": ACCESS_KEY, "AWS_SECRET_ACCESS_KEY": SECRET_KEY}
        ),
        instance,
    ):
        result = apply_manifest(cluster, namespace, manifest)
        assert result.returncode == 0, result.stderr


def _cronjob(cluster: KubeCluster, namespace: str, name: str) -> dict[str, Any]:
    return wait_until(
        lambda: get_json(cluster, namespace, "cronjob", f"{name}-backup"),
        timeout=CONVERGE_SECONDS,
        what=f"cronjob/{name}-backup",
    )


def _backup_jobs(cluster: KubeCluster, namespace: str, token: str) -> list[dict[str, Any]]:
    return [
        job
        for job in list_json(cluster, namespace, "jobs", BACKUP_SELECTOR)
        if (job["metadata"].get("annotations") or {}).get("repairgpt.io/backup-token") == token
    ]


def _request_backup(cluster: KubeCluster, namespace: str, name: str, token: str) -> dict[str, Any]:
    """Annotate backup-now; the one Job the operator starts for the token, within 2 s (the
    annotation triggers an update at once, not at the next resync)."""
    annotated = time.monotonic()
    cluster.kubectl(
        "-n", namespace, "annotate", "--overwrite", "rgi", name, f"repairgpt.io/backup-now={token}"
    )
    jobs = wait_until(
        lambda: _backup_jobs(cluster, namespace, token),
        timeout=CONVERGE_SECONDS,
        what=f"a backup Job for token {token}",
        interval=0.1,
    )
    latency = time.monotonic() - annotated
    print(f"backup-now: the Job exists {latency:.2f} s after the annotation")
    assert latency <= 2.0, f"the Job took {latency:.2f} s"
    # Several resyncs later there is still exactly one Job for the token.
    time.sleep(3 * TEST_RESYNC_SECONDS)
    jobs = _backup_jobs(cluster, namespace, token)
    assert len(jobs) == 1, [job["metadata"]["name"] for job in jobs]
    return jobs[0]


def _backup_status(cluster: KubeCluster, namespace: str, name: str) -> dict[str, Any]:
    stored = get_json(cluster, namespace, "rgi", name) or {}
    backup: dict[str, Any] = (stored.get("status") or {}).get("backup") or {}
    return backup


def _wait_token_echo(cluster: KubeCluster, namespace: str, name: str, token: str) -> dict[str, Any]:
    wait_until(
        lambda: _backup_status(cluster, namespace, name).get("lastManualToken") == token,
        timeout=CONVERGE_SECONDS,
        what=f"status.backup.lastManualToken to echo {token}",
    )
    stored = get_json(cluster, namespace, "rgi", name)
    assert stored is not None
    return stored


def _events(cluster: KubeCluster, namespace: str, reason: str) -> list[dict[str, Any]]:
    return [e for e in list_json(cluster, namespace, "events") if e.get("reason") == reason]


def _seconds(start: str, end: str) -> float:
    """The time between two of the kubelet's timestamps."""
    return (
        datetime.strptime(end, "%Y-%m-%dT%H:%M:%SZ")
        - datetime.strptime(start, "%Y-%m-%dT%H:%M:%SZ")
    ).total_seconds()


def test_backup_cronjob_has_the_schedule_command_and_secret_references(
    k8s_cluster: KubeCluster, k8s_namespace: str, operator: OperatorProcess
) -> None:
    database_url = "postgresql://backup:do-not-leak@db.example:5432/repairgpt"
    instance = _instance("shop", bucket="shop-backups", endpoint="", suspend=True)
    _create(k8s_cluster, k8s_namespace, instance, database_url)

    cronjob = _cronjob(k8s_cluster, k8s_namespace, "shop")
    stored = get_json(k8s_cluster, k8s_namespace, "rgi", "shop")
    assert stored is not None
    (owner,) = cronjob["metadata"]["ownerReferences"]
    assert (owner["kind"], owner["uid"]) == ("RepairGPTInstance", stored["metadata"]["uid"])
    spec = cronjob["spec"]
    assert spec["schedule"] == "0 3 * * *"
    assert spec["suspend"] is True
    assert spec["concurrencyPolicy"] == "Forbid"
    pod = spec["jobTemplate"]["spec"]["template"]["spec"]
    [dump], [prune] = pod["initContainers"], pod["containers"]
    assert dump["command"][:7] == [
        "repairgpt", "backup", "create", "--bucket", "shop-backups", "--prefix", "db/"
    ]  # fmt: skip
    assert prune["command"][:3] == ["repairgpt", "backup", "prune"]
    assert prune["command"][-2:] == ["--retention-days", "7"]
    env = {item["name"]: item for item in dump["env"]}
    assert env["DATABASE_URL"]["valueFrom"]["secretKeyRef"] == {
        "name": "shop-db",
        "key": "database-url",
    }
    assert env["AWS_SECRET_ACCESS_KEY"]["valueFrom"]["secretKeyRef"]["name"] == "shop-s3"
    text = json.dumps(cronjob)
    for secret_value in ("do-not-leak", SECRET_KEY, ACCESS_KEY):
        assert secret_value not in text

    k8s_cluster.kubectl(
        "-n", k8s_namespace, "patch", "rgi", "shop", "--type=merge",
        "-p", json.dumps({"spec": {"backup": {"suspend": False}}}),
    )  # fmt: skip
    wait_until(
        lambda: (
            (get_json(k8s_cluster, k8s_namespace, "cronjob", "shop-backup") or {})
            .get("spec", {})
            .get("suspend")
            is False
        ),
        timeout=CONVERGE_SECONDS,
        what="the CronJob to be resumed",
    )


def test_backup_now_runs_one_job_and_reports_a_healthy_backup(
    node_cluster: KubeCluster,
    node_namespace: str,
    operator: OperatorProcess,
    pod_database: str,
    pod_s3: S3Server,
) -> None:
    cluster, namespace = node_cluster, node_namespace
    bucket = create_bucket(pod_s3)
    instance = _instance(
        "shop", bucket=bucket, endpoint=pod_s3.endpoint_url, image=image(cluster, "repairgpt-app")
    )
    _create(cluster, namespace, instance, pod_database)
    _cronjob(cluster, namespace, "shop")

    job = _request_backup(cluster, namespace, "shop", "nightly-check-1")
    (owner,) = job["metadata"]["ownerReferences"]
    assert (owner["kind"], owner["name"]) == ("RepairGPTInstance", "shop")

    name = job["metadata"]["name"]
    ended = wait_job_end(cluster, namespace, name)
    assert ended["status"].get("succeeded") == 1, ended["status"]
    # The dump ran, then the prune, in the same pod.
    [dump] = container_ends(cluster, namespace, name, "backup")
    [prune] = container_ends(cluster, namespace, name, "prune")
    assert (dump["exitCode"], prune["exitCode"]) == (0, 0), (dump, prune)
    keys = [
        item["Key"] for item in pod_s3.client().list_objects_v2(Bucket=bucket).get("Contents", [])
    ]
    assert any(key.startswith("db/") and key.endswith(".sql.gz") for key in keys), keys

    stored = _wait_token_echo(cluster, namespace, "shop", "nightly-check-1")
    backup = stored["status"]["backup"]
    assert backup["lastSuccessfulTime"]
    assert backup["lastScheduleTime"]
    assert "lastError" not in backup
    dump_key = next(key for key in keys if key.endswith(".sql.gz"))
    assert backup["lastLocation"] == f"s3://{bucket}/{dump_key}"
    head = pod_s3.client().head_object(Bucket=bucket, Key=dump_key)
    assert backup["lastSizeBytes"] == head["ContentLength"]
    healthy = condition(stored, "BackupHealthy")
    assert healthy is not None and healthy["status"] == "True", healthy
    wait_until(
        lambda: _events(cluster, namespace, "BackupSucceeded"),
        timeout=CONVERGE_SECONDS,
        what="a BackupSucceeded event",
    )
    metric = "repairgpt_operator_backup_last_success_timestamp_seconds"
    labels = f'{{name="shop",namespace="{namespace}"}}'
    samples = [
        float(line.rpartition(" ")[2])
        for line in operator.get("/metrics")[1].splitlines()
        if line.startswith(metric + labels)
    ]
    assert samples and samples[0] > 0, samples
    wait_until(
        lambda: operator.metric("repairgpt_operator_backup_job_duration_seconds_count") >= 1,
        timeout=15,
        what="the backup Job's duration in repairgpt_operator_backup_job_duration_seconds",
    )
    size = operator.metric(
        "repairgpt_operator_backup_last_size_bytes", namespace=namespace, name="shop"
    )
    assert size == head["ContentLength"]
    # The echoed token starts nothing new.
    time.sleep(2 * TEST_RESYNC_SECONDS)
    assert len(list_json(cluster, namespace, "jobs", BACKUP_SELECTOR)) == 1


def test_unreachable_s3_fails_the_backup_and_makes_it_unhealthy(
    node_cluster: KubeCluster,
    node_namespace: str,
    operator: OperatorProcess,
    pod_database: str,
) -> None:
    cluster, namespace = node_cluster, node_namespace
    host = cluster.node.network.host_ip
    endpoint = f"http://{host}:{_closed_port(host)}"
    instance = _instance(
        "shop", bucket="shop-backups", endpoint=endpoint, image=image(cluster, "repairgpt-app")
    )
    _create(cluster, namespace, instance, pod_database)
    _cronjob(cluster, namespace, "shop")

    job = _request_backup(cluster, namespace, "shop", "after-upgrade")
    name = job["metadata"]["name"]
    # backoffLimit 2: three pods fail, one after another, before the Job does.
    ended = wait_job_end(cluster, namespace, name, timeout=2 * JOB_SECONDS)
    assert ended["status"].get("failed", 0) >= 1, ended["status"]
    dumps = container_ends(cluster, namespace, name, "backup")
    assert dumps and all(d["exitCode"] != 0 for d in dumps), dumps
    assert not container_ends(cluster, namespace, name, "prune"), (
        "the prune must not run after a failed dump"
    )
    for dump in dumps:
        assert _seconds(dump["startedAt"], dump["finishedAt"]) < FAIL_FAST_SECONDS, dump
    # The termination message is the tail of the dump's log (FallbackToLogsOnError).
    cli_errors = {
        line.strip().removeprefix("repairgpt backup: error:").strip()
        for dump in dumps
        for line in dump.get("message", "").splitlines()
        if line.strip().startswith("repairgpt backup: error:")
    }
    assert cli_errors, [d.get("message") for d in dumps]

    stored = _wait_token_echo(cluster, namespace, "shop", "after-upgrade")
    backup = stored["status"]["backup"]
    # The error line of the command, as one of the failed pods reported it.
    assert backup["lastError"] in cli_errors, (backup["lastError"], cli_errors)
    assert "cannot reach S3" in backup["lastError"] and endpoint in backup["lastError"]
    assert backup["lastFailureTime"]
    healthy = condition(stored, "BackupHealthy")
    assert healthy is not None
    assert (healthy["status"], healthy["reason"]) == ("False", "BackupFailed")
    assert backup["lastError"] in healthy["message"]
    [event] = wait_until(
        lambda: _events(cluster, namespace, "BackupFailed"),
        timeout=CONVERGE_SECONDS,
        what="a BackupFailed event",
    )
    assert event["type"] == "Warning"
    assert all(pod["status"]["phase"] == "Failed" for pod in job_pods(cluster, namespace, name))


def test_restore_crd_is_served_and_its_spec_cannot_change(
    k8s_cluster: KubeCluster, k8s_namespace: str
) -> None:
    crd = REPO_ROOT / "crds" / "repairgptrestore.yaml"
    k8s_cluster.kubectl("apply", "--server-side", "--force-conflicts", "-f", str(crd))
    wait_established(k8s_cluster, "repairgptrestores.repairgpt.io")
    restore: dict[str, Any] = {
        "apiVersion": "repairgpt.io/v1alpha1",
        "kind": "RepairGPTRestore",
        "metadata": {"name": "before-upgrade"},
        "spec": {"instanceName": "shop"},
    }
    result = apply_manifest(k8s_cluster, k8s_namespace, restore)
    assert result.returncode == 0, result.stderr
    stored = get_json(k8s_cluster, k8s_namespace, "rgr", "before-upgrade")
    assert stored is not None
    assert stored["spec"] == {
        "instanceName": "shop",
        "backup": "latest",
        "clean": False,
        "maintenance": True,
    }
    changed = apply_manifest(
        k8s_cluster, k8s_namespace, {**restore, "spec": {"instanceName": "shop", "clean": True}}
    )
    assert changed.returncode != 0
    assert "immutable" in changed.stderr
    missing = apply_manifest(
        k8s_cluster, k8s_namespace, {**restore, "metadata": {"name": "x"}, "spec": {}}
    )
    assert missing.returncode != 0
    assert "instanceName" in missing.stderr


def test_a_verification_job_restores_the_newest_backup_and_sets_backup_verified(
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
    instance = _instance(
        "shop", bucket=bucket, endpoint=pod_s3.endpoint_url, image=image(cluster, "repairgpt-app")
    )
    instance["spec"]["backup"]["verify"] = {"enabled": True, "schedule": "30 4 * * *"}
    # The throwaway database is created on the server of the primary's Secret.
    _create(cluster, namespace, instance, pod_database)
    cronjob = wait_until(
        lambda: get_json(cluster, namespace, "cronjob", "shop-verify"),
        timeout=CONVERGE_SECONDS,
        what="cronjob/shop-verify",
    )
    assert cronjob["spec"]["schedule"] == "30 4 * * *"
    stored = wait_until(
        lambda: (lambda o: o if condition(o, "BackupVerified") else None)(
            get_json(cluster, namespace, "rgi", "shop")
        ),
        timeout=CONVERGE_SECONDS,
        what="a BackupVerified condition",
    )
    awaiting = condition(stored, "BackupVerified")
    assert awaiting is not None and awaiting["reason"] == "AwaitingVerification"

    # What the CronJob controller does on schedule: a Job from the jobTemplate.
    cluster.kubectl(
        "-n", namespace, "create", "job", "--from=cronjob/shop-verify", "shop-verify-manual"
    )
    ended = wait_job_end(cluster, namespace, "shop-verify-manual")
    assert ended["status"].get("succeeded") == 1, ended["status"]
    [verified_run] = container_ends(cluster, namespace, "shop-verify-manual", "verify")
    assert verified_run["exitCode"] == 0, verified_run

    verified = wait_until(
        lambda: (lambda o: o if (condition(o, "BackupVerified") or {}).get("status") == "True"
                 else None)(get_json(cluster, namespace, "rgi", "shop")),
        timeout=CONVERGE_SECONDS,
        what="BackupVerified=True",
    )  # fmt: skip
    backup = verified["status"]["backup"]
    assert backup["lastVerifiedTime"]
    assert backup["lastVerifiedLocation"].startswith(f"s3://{bucket}/db/")
    # The throwaway database is gone again.
    databases = pod_postgres.psql("SELECT datname FROM pg_database").split()
    assert not [d for d in databases if d.startswith("repairgpt_verify_")], databases
    wait_until(
        lambda: _events(cluster, namespace, "BackupVerified"),
        timeout=CONVERGE_SECONDS,
        what="a BackupVerified event",
    )
    metric = "repairgpt_operator_backup_last_verified_timestamp_seconds"
    assert operator.metric(metric, namespace=namespace, name="shop") > 0
