"""Backup before upgrade: a change of spec.image waits until a real backup Job (a pod of the app
image on the local cluster's node, dumping a real PostgreSQL into moto's S3) has succeeded; a
failed backup keeps the running image, and the skip annotation lets the change through once."""

from __future__ import annotations

import json
import time
from typing import Any

import pytest

from tests.conftest import KubeCluster
from tests.operator.e2e.backups import JOB_SECONDS, create_bucket, wait_job_end
from tests.operator.e2e.conftest import (
    TEST_RESYNC_SECONDS,
    OperatorProcess,
    apply_manifest,
    secret_manifest,
)
from tests.operator.e2e.observe import condition, get_json, list_json, wait_until
from tests.operator.e2e.test_backup import ACCESS_KEY, SECRET_KEY, _instance
from tests.utils.node import image
from tests.utils.servers import S3Server

pytestmark = pytest.mark.cluster

CONVERGE_SECONDS = 60
UPGRADE_SELECTOR = "repairgpt.io/backup-trigger=upgrade"


def _create(
    cluster: KubeCluster, namespace: str, database_url: str, bucket: str, s3: S3Server
) -> str:
    """An instance (no API pods: the Deployment's template is what matters) whose image changes
    wait for a backup; returns its running image."""
    running = image(cluster, "repairgpt-app")
    instance = _instance("shop", bucket=bucket, endpoint=s3.endpoint_url, image=running)
    instance["spec"]["backup"]["beforeUpgrade"] = True
    for manifest in (
        secret_manifest("shop-db", {"database-url": database_url}),
        secret_manifest(
            "shop-s3", {"AWS_ACCESS_KEY_ID": ACCESS_KEY, "AWS_SECRET_ACCESS_KEY": SECRET_KEY}
        ),
        instance,
    ):
        result = apply_manifest(cluster, namespace, manifest)
        assert result.returncode == 0, result.stderr
    wait_until(
        lambda: (
            _rollout(cluster, namespace).get("image") == running
            and get_json(cluster, namespace, "deployment", "shop-api")
        ),
        timeout=CONVERGE_SECONDS,
        what="status.rollout.image and the Deployment",
    )
    return running


def _rollout(cluster: KubeCluster, namespace: str) -> dict[str, Any]:
    stored = get_json(cluster, namespace, "rgi", "shop") or {}
    rollout: dict[str, Any] = (stored.get("status") or {}).get("rollout") or {}
    return rollout


def _deployment_image(cluster: KubeCluster, namespace: str) -> str:
    deployment = get_json(cluster, namespace, "deployment", "shop-api") or {}
    image_ref: str = deployment["spec"]["template"]["spec"]["containers"][0]["image"]
    return image_ref


def _upgrade_condition(cluster: KubeCluster, namespace: str) -> dict[str, Any]:
    return condition(get_json(cluster, namespace, "rgi", "shop"), "BackupBeforeUpgrade") or {}


def _set_image(cluster: KubeCluster, namespace: str, image_ref: str) -> None:
    cluster.kubectl(
        "-n", namespace, "patch", "rgi", "shop", "--type=merge",
        "-p", json.dumps({"spec": {"image": image_ref}}),
    )  # fmt: skip


def _upgrade_job(cluster: KubeCluster, namespace: str) -> dict[str, Any]:
    [job] = wait_until(
        lambda: list_json(cluster, namespace, "jobs", UPGRADE_SELECTOR),
        timeout=CONVERGE_SECONDS,
        what="the backup Job of the upgrade",
        interval=0.2,
    )
    return job


def _events(cluster: KubeCluster, namespace: str, reason: str) -> list[dict[str, Any]]:
    return [e for e in list_json(cluster, namespace, "events") if e.get("reason") == reason]


def test_a_new_image_waits_for_its_backup_job_then_rolls_out(
    node_cluster: KubeCluster,
    node_namespace: str,
    operator: OperatorProcess,
    pod_database: str,
    pod_s3: S3Server,
) -> None:
    cluster, namespace = node_cluster, node_namespace
    bucket = create_bucket(pod_s3)
    running = _create(cluster, namespace, pod_database, bucket, pod_s3)
    target = f"{running}-next"

    _set_image(cluster, namespace, target)
    job = _upgrade_job(cluster, namespace)
    record = wait_until(
        lambda: _rollout(cluster, namespace).get("upgrade"),
        timeout=CONVERGE_SECONDS,
        what="status.rollout.upgrade",
    )
    assert (record["image"], record["fromImage"], record["job"]) == (
        target,
        running,
        job["metadata"]["name"],
    )
    assert job["metadata"]["annotations"]["repairgpt.io/upgrade-image"] == target
    pod = job["spec"]["template"]["spec"]
    assert {c["image"] for c in pod["initContainers"] + pod["containers"]} == {running}
    # A backup pod takes seconds to start and dump: the change is seen held meanwhile.
    assert _deployment_image(cluster, namespace) == running, "the Deployment must wait"
    held = _upgrade_condition(cluster, namespace)
    assert (held["status"], held["reason"]) in (("False", "Pending"), ("False", "Running"))
    assert f"spec.image {target} waits for the backup Job" in held["message"]

    ended = wait_job_end(cluster, namespace, job["metadata"]["name"])
    assert ended["status"].get("succeeded") == 1, ended["status"]
    wait_until(
        lambda: _deployment_image(cluster, namespace) == target,
        timeout=CONVERGE_SECONDS,
        what="the Deployment to get the new image after the backup",
    )
    done = _upgrade_condition(cluster, namespace)
    assert (done["status"], done["reason"]) == ("True", "BackupSucceeded")
    rollout = _rollout(cluster, namespace)
    assert (rollout["image"], rollout["upgrade"]["phase"]) == (target, "Succeeded")
    keys = [o["Key"] for o in pod_s3.client().list_objects_v2(Bucket=bucket).get("Contents", [])]
    assert any(key.startswith("db/") and key.endswith(".sql.gz") for key in keys), keys
    stored = get_json(cluster, namespace, "rgi", "shop") or {}
    assert stored["status"]["backup"]["lastSuccessfulTime"]
    assert [e["type"] for e in _events(cluster, namespace, "UpgradeBackupSucceeded")] == ["Normal"]
    # One Job for the change, however many resyncs pass.
    time.sleep(2 * TEST_RESYNC_SECONDS)
    assert len(list_json(cluster, namespace, "jobs", UPGRADE_SELECTOR)) == 1


def test_a_failed_backup_holds_the_upgrade_until_it_is_skipped(
    node_cluster: KubeCluster,
    node_namespace: str,
    operator: OperatorProcess,
    pod_database: str,
    pod_s3: S3Server,
) -> None:
    cluster, namespace = node_cluster, node_namespace
    bucket = create_bucket(pod_s3)
    # A role the server does not know: every connection of the dump is refused.
    scheme, _, rest = pod_database.partition("://")
    bad_credentials = f"{scheme}://intruder@{rest.partition('@')[2]}"
    running = _create(cluster, namespace, bad_credentials, bucket, pod_s3)
    target = f"{running}-next"

    _set_image(cluster, namespace, target)
    job = _upgrade_job(cluster, namespace)
    # backoffLimit 2: three pods fail, one after another, before the Job does.
    ended = wait_job_end(cluster, namespace, job["metadata"]["name"], timeout=2 * JOB_SECONDS)
    assert ended["status"].get("failed", 0) >= 1, ended["status"]
    failed = wait_until(
        lambda: (lambda c: c if c.get("reason") == "Failed" else None)(
            _upgrade_condition(cluster, namespace)
        ),
        timeout=CONVERGE_SECONDS,
        what="BackupBeforeUpgrade reason Failed",
    )
    assert failed["status"] == "False"
    assert 'role "intruder" does not exist' in failed["message"], failed["message"]
    assert f"the API keeps {running}" in failed["message"]
    assert _deployment_image(cluster, namespace) == running, "a failed backup must hold the image"
    [event] = wait_until(
        lambda: _events(cluster, namespace, "UpgradeBackupFailed"),
        timeout=CONVERGE_SECONDS,
        what="an UpgradeBackupFailed event",
    )
    assert event["type"] == "Warning"
    time.sleep(2 * TEST_RESYNC_SECONDS)
    assert _deployment_image(cluster, namespace) == running
    assert len(list_json(cluster, namespace, "jobs", UPGRADE_SELECTOR)) == 1

    cluster.kubectl(
        "-n", namespace, "annotate", "rgi", "shop",
        f"repairgpt.io/skip-backup-before-upgrade={target}",
    )  # fmt: skip
    wait_until(
        lambda: _deployment_image(cluster, namespace) == target,
        timeout=CONVERGE_SECONDS,
        what="the Deployment to get the new image once the backup is skipped",
    )
    skipped = _upgrade_condition(cluster, namespace)
    assert (skipped["status"], skipped["reason"]) == ("True", "Skipped")
