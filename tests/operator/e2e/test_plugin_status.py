"""`kubectl repairgpt` with the operator running: `status` on one screen (phase, replicas,
database, backups, maintenance, retention, conditions, recent Events), and `backup --wait`
following a real backup Job on the node to its outcome."""

from __future__ import annotations

import re
import socket

import pytest

from tests.conftest import KubeCluster
from tests.operator.e2e.backups import create_bucket
from tests.operator.e2e.conftest import OperatorProcess, apply_manifest
from tests.operator.e2e.observe import get_json, is_reconciled, list_json, wait_until
from tests.operator.e2e.test_backup import _create as create_with_secrets
from tests.operator.e2e.test_backup import _instance as backup_instance
from tests.operator.e2e.test_plugin import NAME, _instance, kubectl_repairgpt
from tests.utils.node import image
from tests.utils.servers import S3Server

pytestmark = pytest.mark.cluster


def test_status_summarises_the_instance_on_one_screen(
    k8s_cluster: KubeCluster, k8s_namespace: str, operator: OperatorProcess
) -> None:
    backup = {"enabled": True, "schedule": "0 3 * * *", "s3": {"bucket": "shop-backups"}}
    assert apply_manifest(k8s_cluster, k8s_namespace, _instance({"backup": backup})).returncode == 0
    wait_until(
        lambda: is_reconciled(get_json(k8s_cluster, k8s_namespace, "rgi", NAME)),
        timeout=60,
        what="the instance to be reconciled",
    )
    events = wait_until(
        lambda: list_json(k8s_cluster, k8s_namespace, "events"),
        timeout=30,
        what="an Event about the instance",
    )
    result = kubectl_repairgpt(k8s_cluster, "-n", k8s_namespace, "status", NAME)
    assert result.returncode == 0, result.stderr
    text = result.stdout
    print(text)
    assert len(text.splitlines()) <= 45  # one screen
    for expected in (
        f"RepairGPTInstance {k8s_namespace}/{NAME}",
        "Phase:          Progressing",  # 0 replicas: the API is scaled to zero
        "Replicas:       0/0 ready",
        "Database:       primary active",
        "Maintenance:    Off",
        "Backups:        schedule 0 3 * * *",
        "last success: never",
        "Retention:      chat history 365 days; no run yet",
        "ScaledToZero",
        "Recent events:",
        "Next:",
        "nothing to do; details: kubectl describe rgi shop",  # scaled to zero on purpose
    ):
        assert expected in text, expected
    assert re.search(r"Reconciled\s+True\s+Applied", text)
    assert any(event["reason"] in text for event in events)


@pytest.mark.node
def test_backup_wait_follows_the_job_to_its_result(
    node_cluster: KubeCluster,
    node_namespace: str,
    operator: OperatorProcess,
    pod_database: str,
    pod_s3: S3Server,
) -> None:
    bucket = create_bucket(pod_s3)
    app = image(node_cluster, "repairgpt-app")
    instance = backup_instance(NAME, bucket=bucket, endpoint=pod_s3.endpoint_url, image=app)
    create_with_secrets(node_cluster, node_namespace, instance, pod_database)
    wait_until(
        lambda: get_json(node_cluster, node_namespace, "cronjob", f"{NAME}-backup"),
        timeout=60,
        what="the backup CronJob",
    )
    result = kubectl_repairgpt(
        node_cluster, "-n", node_namespace, "backup", NAME, "--wait", "--timeout", "300",
        timeout=360,
    )  # fmt: skip
    print(result.stdout)
    assert result.returncode == 0, result.stderr
    status = (get_json(node_cluster, node_namespace, "rgi", NAME) or {})["status"]["backup"]
    token = status["lastManualToken"]
    assert f"repairgpt.io/backup-now={token}" in result.stdout
    assert re.search(rf"\[\s*\d+s\] backup Job {NAME}-backup-\w+: ", result.stdout)  # progress
    assert result.stdout.rstrip().endswith(f"succeeded: {status['lastLocation']}")
    keys = [i["Key"] for i in pod_s3.client().list_objects_v2(Bucket=bucket)["Contents"]]
    assert (
        f"s3://{bucket}/{next(k for k in keys if k.endswith('.sql.gz'))}"
        == (status["lastLocation"])
    )


@pytest.mark.node
def test_backup_wait_exits_non_zero_with_the_error_of_a_failed_backup(
    node_cluster: KubeCluster, node_namespace: str, operator: OperatorProcess, pod_database: str
) -> None:
    host = node_cluster.node.network.host_ip
    with socket.socket() as sock:  # a port on which nothing listens
        sock.bind((host, 0))
        closed = sock.getsockname()[1]
    app = image(node_cluster, "repairgpt-app")
    instance = backup_instance(
        NAME, bucket="shop-backups", endpoint=f"http://{host}:{closed}", image=app
    )
    create_with_secrets(node_cluster, node_namespace, instance, pod_database)
    wait_until(
        lambda: get_json(node_cluster, node_namespace, "cronjob", f"{NAME}-backup"),
        timeout=60,
        what="the backup CronJob",
    )
    result = kubectl_repairgpt(
        node_cluster, "-n", node_namespace, "backup", NAME, "--wait", "--timeout", "400",
        timeout=460,
    )  # fmt: skip
    assert result.returncode == 1
    error = (get_json(node_cluster, node_namespace, "rgi", NAME) or {})["status"]["backup"][
        "lastError"
    ]
    assert f"error: the backup of {NAME} failed: {error}" in result.stderr
