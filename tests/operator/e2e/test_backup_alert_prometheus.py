"""The operator as a real process, scraped every second by a real Prometheus holding the
instance's rules: a backup that fails on the node makes RepairGPTBackupFailed fire, and every
operator panel of the dashboard shows data."""

from __future__ import annotations

import json
import socket
import time
from collections.abc import Iterator
from typing import Any

import pytest

from repairgpt_operator.instance.model import Instance
from repairgpt_operator.monitoring.dashboard import dashboard
from repairgpt_operator.monitoring.rules import duration_seconds, rule_groups
from tests.conftest import KubeCluster
from tests.operator.e2e.backups import JOB_SECONDS, SMALL_API, create_bucket, wait_job_end
from tests.operator.e2e.conftest import OperatorProcess, apply_manifest, secret_manifest
from tests.operator.e2e.observe import get_json, list_json, wait_until
from tests.utils.node import image
from tests.utils.prometheus import PrometheusServer, panel_queries, scrape_config
from tests.utils.servers import S3Server

pytestmark = pytest.mark.cluster

NAME = "shop"
INTERVAL = 1.0
ALERT_FOR = "5s"
CONVERGE_SECONDS = 60
BACKUP_ALERTS = ("RepairGPTBackupFailed", "RepairGPTBackupTooOld")


def _closed_port(host: str) -> int:
    with socket.socket() as sock:
        sock.bind((host, 0))
        port: int = sock.getsockname()[1]
    return port


def _body(bucket: str, endpoint: str, app_image: str) -> dict[str, Any]:
    """An instance without API pods (the node's CPU goes to the Jobs) whose backups go to
    `endpoint`, with the backup alert's `for` shortened."""
    return {
        "apiVersion": "repairgpt.io/v1alpha1",
        "kind": "RepairGPTInstance",
        "metadata": {"name": NAME},
        "spec": {
            "image": app_image,
            "replicas": 0,
            "autoscaling": {"enabled": False},
            "resources": SMALL_API,
            "database": {"primary": {"secretName": f"{NAME}-db", "key": "database-url"}},
            "monitoring": {"enabled": True, "alerts": {"backupFailedFor": ALERT_FOR}},
            "backup": {
                "enabled": True,
                "schedule": "0 3 * * *",
                "s3": {
                    "bucket": bucket,
                    "prefix": "db/",
                    "endpoint": endpoint,
                    "region": "us-east-1",
                    "credentialsSecret": f"{NAME}-s3",
                },
            },
        },
    }


def _backup_now(cluster: KubeCluster, namespace: str, token: str) -> dict[str, Any]:
    """Ask for a backup; the Job that ran it, once it has ended."""
    cluster.kubectl(
        "-n", namespace, "annotate", "--overwrite", "rgi", NAME, f"repairgpt.io/backup-now={token}"
    )

    def started() -> list[dict[str, Any]]:
        return [
            job
            for job in list_json(cluster, namespace, "jobs", "app.kubernetes.io/component=backup")
            if (job["metadata"].get("annotations") or {}).get("repairgpt.io/backup-token") == token
        ]

    [job] = wait_until(started, timeout=CONVERGE_SECONDS, what=f"the backup Job of {token}")
    return wait_job_end(cluster, namespace, job["metadata"]["name"], timeout=2 * JOB_SECONDS)


def _backup_status(cluster: KubeCluster, namespace: str) -> dict[str, Any]:
    stored = get_json(cluster, namespace, "rgi", NAME) or {}
    backup: dict[str, Any] = (stored.get("status") or {}).get("backup") or {}
    return backup


@pytest.fixture
def watched(
    node_cluster: KubeCluster,
    node_namespace: str,
    operator: OperatorProcess,
    pod_database: str,
    pod_s3: S3Server,
) -> Iterator[tuple[Instance, PrometheusServer]]:
    """The instance, backing up to the node's S3, and Prometheus scraping the operator."""
    body = _body(create_bucket(pod_s3), pod_s3.endpoint_url, image(node_cluster, "repairgpt-app"))
    for manifest in (
        secret_manifest(f"{NAME}-db", {"database-url": pod_database}),
        secret_manifest(f"{NAME}-s3", {"AWS_ACCESS_KEY_ID": "AKIAX", "AWS_SECRET_ACCESS_KEY": "x"}),
        body,
    ):
        result = apply_manifest(node_cluster, node_namespace, manifest)
        assert result.returncode == 0, result.stderr
    instance = Instance.from_body(
        {
            **body,
            "metadata": {"name": NAME, "namespace": node_namespace, "uid": "u", "generation": 1},
        }
    )
    # The operator's own labels (namespace, name) are kept, as the PodMonitor of deploy/ does.
    job = scrape_config("repairgpt-operator", f"127.0.0.1:{operator.metrics_port}")
    job["honor_labels"] = True
    prometheus = PrometheusServer(
        scrape_configs=[job], rule_groups=rule_groups(instance), interval=f"{INTERVAL:g}s"
    ).start()
    try:
        yield instance, prometheus
    finally:
        prometheus.stop()


def test_a_failed_backup_fires_the_backup_alert_and_the_panels_show_data(
    node_cluster: KubeCluster,
    node_namespace: str,
    operator: OperatorProcess,
    watched: tuple[Instance, PrometheusServer],
) -> None:
    cluster, namespace = node_cluster, node_namespace
    instance, prometheus = watched
    ended = _backup_now(cluster, namespace, "first")
    assert ended["status"].get("succeeded") == 1, ended["status"]
    wait_until(
        lambda: _backup_status(cluster, namespace).get("lastSuccessfulTime"),
        timeout=CONVERGE_SECONDS,
        what="status.backup.lastSuccessfulTime",
    )
    # Every operator panel has data; the backup alerts stay silent after a good backup.
    queries = [
        (title, expr)
        for title, expr in panel_queries(dashboard(instance), {"datasource": "prometheus"})
        if f'name="{NAME}"' in expr
    ]
    assert len(queries) >= 5, queries
    for title, expr in queries:
        try:
            prometheus.wait_for_data(expr, timeout=30)
        except TimeoutError:
            pytest.fail(f"panel {title!r} shows no data: {expr}")
    time.sleep(duration_seconds(ALERT_FOR) + 2 * INTERVAL)
    active = [a["labels"]["alertname"] for a in prometheus.alerts()]
    assert not set(active) & set(BACKUP_ALERTS), active

    # The store goes away: the next backup fails on the node.
    host = cluster.node.network.host_ip
    patch = {"spec": {"backup": {"s3": {"endpoint": f"http://{host}:{_closed_port(host)}"}}}}
    cluster.kubectl("-n", namespace, "patch", "rgi", NAME, "--type=merge", "-p", json.dumps(patch))
    ended = _backup_now(cluster, namespace, "second")
    assert ended["status"].get("failed", 0) >= 1, ended["status"]
    wait_until(
        lambda: _backup_status(cluster, namespace).get("lastFailureTime"),
        timeout=CONVERGE_SECONDS,
        what="status.backup.lastFailureTime",
    )
    noticed = time.monotonic()
    took = prometheus.wait_for(
        lambda: bool(prometheus.firing("RepairGPTBackupFailed")),
        timeout=duration_seconds(ALERT_FOR) + 30,
        what="RepairGPTBackupFailed firing",
    )
    print(
        f"RepairGPTBackupFailed fired {time.monotonic() - noticed:.1f} s after the status said so"
    )
    [alert] = prometheus.firing("RepairGPTBackupFailed")
    assert alert["labels"]["namespace"] == namespace and alert["labels"]["name"] == NAME
    assert took <= duration_seconds(ALERT_FOR) + 15, took
    # The operator's log is JSON lines (docs/LOGGING.md).
    started = [line for line in operator.log().splitlines() if "repairgpt-operator" in line]
    assert started and json.loads(started[0])["severity"] == "info", started[:1]
