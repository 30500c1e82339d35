"""Scheduled and on-demand backups: the operator's CronJob and Jobs, and the status they lead to.

The local control plane has no kubelet, so backup pods never run. Where a test needs a backup to
happen, it does what the kubelet and the Job controller would do: it runs the Job's command as a
local process, with the environment the pod would get (Secrets resolved as the kubelet resolves
`secretKeyRef`), against a real PostgreSQL and moto's S3 server, and then records the outcome in
the Job's status subresource.
"""

from __future__ import annotations

import base64
import json
import os
import socket
import subprocess
import sys
import tempfile
import time
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import pytest

from tests.conftest import KubeCluster
from tests.operator.e2e.conftest import (
    REPO_ROOT,
    TEST_RESYNC_SECONDS,
    OperatorProcess,
    apply_manifest,
)
from tests.operator.e2e.observe import condition, get_json, list_json, wait_until
from tests.utils.servers import PostgresServer, S3Server

pytestmark = pytest.mark.cluster

CONVERGE_SECONDS = 30
COMMAND_TIMEOUT_SECONDS = 120
BACKUP_SELECTOR = "app.kubernetes.io/component=backup"
REPAIRGPT = Path(sys.executable).parent / "repairgpt"
# Credentials of moto's S3 server (any value is accepted); distinctive, to search for leaks.
ACCESS_KEY = "AKIABACKUPTESTKEY"
SECRET_KEY = "backup-test-secret-value"


def _now() -> str:
    return datetime.now(UTC).strftime("%Y-%m-%dT%H:%M:%SZ")


def _closed_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port: int = sock.getsockname()[1]
    return port


def _secret(name: str, data: dict[str, str]) -> dict[str, Any]:
    return {"apiVersion": "v1", "kind": "Secret", "metadata": {"name": name}, "stringData": data}


def _instance(name: str, *, bucket: str, endpoint: str, suspend: bool = False) -> dict[str, Any]:
    return {
        "apiVersion": "repairgpt.io/v1alpha1",
        "kind": "RepairGPTInstance",
        "metadata": {"name": name},
        "spec": {
            "image": "ghcr.io/example/repairgpt-app:1.2.3",
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
        _secret(f"{name}-db", {"database-url": database_url}),
        _secret(
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
    cluster.kubectl(
        "-n", namespace, "annotate", "--overwrite", "rgi", name, f"repairgpt.io/backup-now={token}"
    )
    jobs = wait_until(
        lambda: _backup_jobs(cluster, namespace, token),
        timeout=CONVERGE_SECONDS,
        what=f"a backup Job for token {token}",
    )
    # Several resyncs later there is still exactly one Job for the token.
    time.sleep(3 * TEST_RESYNC_SECONDS)
    jobs = _backup_jobs(cluster, namespace, token)
    assert len(jobs) == 1, [job["metadata"]["name"] for job in jobs]
    # The Job controller records the start before anything else; wait so that the outcome
    # written below does not race it.
    return wait_until(
        lambda: (lambda job: job if (job or {}).get("status", {}).get("startTime") else None)(
            get_json(cluster, namespace, "job", jobs[0]["metadata"]["name"])
        ),
        timeout=CONVERGE_SECONDS,
        what="the Job controller to start the Job",
    )


def _pod_environment(
    cluster: KubeCluster, namespace: str, container: dict[str, Any]
) -> dict[str, str]:
    """The container's env as the kubelet would build it: secretKeyRef read from the Secret."""
    env: dict[str, str] = {}
    for item in container.get("env") or []:
        if "value" in item:
            env[item["name"]] = item["value"]
            continue
        ref = item["valueFrom"]["secretKeyRef"]
        secret = get_json(cluster, namespace, "secret", ref["name"])
        assert secret is not None, f"secret {ref['name']} missing"
        env[item["name"]] = base64.b64decode(secret["data"][ref["key"]]).decode()
    return env


TERMINATION_LOG = "/dev/termination-log"


def _run_container(
    cluster: KubeCluster, namespace: str, container: dict[str, Any], postgres: PostgresServer
) -> subprocess.CompletedProcess[str]:
    # The container's termination log is a file of the pod's; here, one in a temporary folder.
    local_log = Path(tempfile.mkdtemp()) / "termination-log"
    command = [
        str(local_log) if arg == TERMINATION_LOG else arg
        for arg in [str(REPAIRGPT), *container["command"][1:]]
    ]
    assert container["command"][0] == "repairgpt"
    env = {
        "PATH": os.environ["PATH"],
        # The image ships pg_dump of the server's major version; here that is the test server's.
        "PG_BIN_DIR": str(postgres.bin_dir),
        "HOME": os.environ.get("HOME", "/tmp"),
        # No retries against an unreachable endpoint: the test stays bounded in time.
        "AWS_MAX_ATTEMPTS": "1",
        **_pod_environment(cluster, namespace, container),
    }
    result = subprocess.run(
        command,
        env=env,
        capture_output=True,
        text=True,
        timeout=COMMAND_TIMEOUT_SECONDS,
        check=False,
    )
    if local_log.exists():
        result.termination_message = local_log.read_text()  # type: ignore[attr-defined]
    return result


def _run_job_pod(
    cluster: KubeCluster, namespace: str, job: dict[str, Any], postgres: PostgresServer
) -> list[subprocess.CompletedProcess[str]]:
    """Run the pod's init container, then (if it succeeded) its main container, as the kubelet."""
    pod = job["spec"]["template"]["spec"]
    results = []
    for container in pod.get("initContainers", []) + pod["containers"]:
        result = _run_container(cluster, namespace, container, postgres)
        results.append(result)
        if result.returncode != 0:
            break
    return results


def _finish_job(cluster: KubeCluster, namespace: str, job: dict[str, Any], succeeded: bool) -> None:
    """Write the Job's outcome through its status subresource, as the Job controller would
    after the kubelet reported the pod."""
    now = _now()
    if succeeded:
        conditions = [
            {"type": "SuccessCriteriaMet", "reason": "CompletionsReached"},
            {"type": "Complete", "reason": "CompletionsReached"},
        ]
        counts: dict[str, Any] = {"succeeded": 1, "completionTime": now}
    else:
        conditions = [
            {"type": "FailureTarget", "reason": "BackoffLimitExceeded"},
            {"type": "Failed", "reason": "BackoffLimitExceeded"},
        ]
        counts = {"failed": 1}
    for item in conditions:
        item.update(
            status="True",
            message="Job has reached the specified backoff limit" if not succeeded else "",
            lastTransitionTime=now,
            lastProbeTime=now,
        )
    patch = {"status": {"active": 0, "ready": 0, "conditions": conditions, **counts}}
    cluster.kubectl(
        "-n",
        namespace,
        "patch",
        "job",
        job["metadata"]["name"],
        "--subresource=status",
        "--type=merge",
        "-p",
        json.dumps(patch),
    )


def _report_backup_container(
    cluster: KubeCluster,
    namespace: str,
    job: dict[str, Any],
    result: subprocess.CompletedProcess[str],
) -> None:
    """Report the backup container in the pod status, as the kubelet would: the termination
    message is the file the command wrote, or (FallbackToLogsOnError) the tail of its log."""
    job_name = job["metadata"]["name"]
    pods = wait_until(
        lambda: list_json(cluster, namespace, "pods", f"batch.kubernetes.io/job-name={job_name}"),
        timeout=CONVERGE_SECONDS,
        what=f"the pod of job/{job_name}",
    )
    log = (result.stdout + result.stderr).splitlines()[-80:]
    message = getattr(result, "termination_message", None) or "\n".join(log)[-2048:]
    now = _now()
    spec = pods[0]["spec"]
    patch = {
        "status": {
            "phase": "Failed" if result.returncode else "Succeeded",
            "initContainerStatuses": [
                {
                    "name": "backup",
                    "image": spec["initContainers"][0]["image"],
                    "imageID": "",
                    "ready": False,
                    "restartCount": 0,
                    "state": {
                        "terminated": {
                            "exitCode": result.returncode,
                            "reason": "Error" if result.returncode else "Completed",
                            "message": message,
                            "startedAt": now,
                            "finishedAt": now,
                        }
                    },
                }
            ],
        }
    }
    cluster.kubectl(
        "-n",
        namespace,
        "patch",
        "pod",
        pods[0]["metadata"]["name"],
        "--subresource=status",
        "--type=merge",
        "-p",
        json.dumps(patch),
    )


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
    k8s_cluster: KubeCluster,
    k8s_namespace: str,
    operator: OperatorProcess,
    postgres_server: PostgresServer,
    postgres_url: str,
    s3_server: S3Server,
    s3_bucket: str,
) -> None:
    postgres_server.psql("SELECT 1")
    instance = _instance("shop", bucket=s3_bucket, endpoint=s3_server.endpoint_url)
    _create(k8s_cluster, k8s_namespace, instance, postgres_url)
    _cronjob(k8s_cluster, k8s_namespace, "shop")

    job = _request_backup(k8s_cluster, k8s_namespace, "shop", "nightly-check-1")
    (owner,) = job["metadata"]["ownerReferences"]
    assert (owner["kind"], owner["name"]) == ("RepairGPTInstance", "shop")

    results = _run_job_pod(k8s_cluster, k8s_namespace, job, postgres_server)
    assert [r.returncode for r in results] == [0, 0], [r.stderr[-2000:] for r in results]
    keys = [
        item["Key"]
        for item in s3_server.client().list_objects_v2(Bucket=s3_bucket).get("Contents", [])
    ]
    assert any(key.startswith("db/") and key.endswith(".sql.gz") for key in keys), keys
    _report_backup_container(k8s_cluster, k8s_namespace, job, results[0])
    _finish_job(k8s_cluster, k8s_namespace, job, succeeded=True)

    stored = _wait_token_echo(k8s_cluster, k8s_namespace, "shop", "nightly-check-1")
    backup = stored["status"]["backup"]
    assert backup["lastSuccessfulTime"]
    assert backup["lastScheduleTime"]
    assert "lastError" not in backup
    dump_key = next(key for key in keys if key.endswith(".sql.gz"))
    assert backup["lastLocation"] == f"s3://{s3_bucket}/{dump_key}"
    head = s3_server.client().head_object(Bucket=s3_bucket, Key=dump_key)
    assert backup["lastSizeBytes"] == head["ContentLength"]
    healthy = condition(stored, "BackupHealthy")
    assert healthy is not None and healthy["status"] == "True", healthy
    wait_until(
        lambda: _events(k8s_cluster, k8s_namespace, "BackupSucceeded"),
        timeout=CONVERGE_SECONDS,
        what="a BackupSucceeded event",
    )
    metric = "repairgpt_operator_backup_last_success_timestamp_seconds"
    labels = f'{{name="shop",namespace="{k8s_namespace}"}}'
    samples = [
        float(line.rpartition(" ")[2])
        for line in operator.get("/metrics")[1].splitlines()
        if line.startswith(metric + labels)
    ]
    assert samples and samples[0] > 0, samples
    assert operator.metric("repairgpt_operator_backup_job_duration_seconds_count") >= 1
    # The echoed token starts nothing new.
    time.sleep(2 * TEST_RESYNC_SECONDS)
    assert len(list_json(k8s_cluster, k8s_namespace, "jobs", BACKUP_SELECTOR)) == 1


def test_unreachable_s3_fails_the_backup_and_makes_it_unhealthy(
    k8s_cluster: KubeCluster,
    k8s_namespace: str,
    operator: OperatorProcess,
    postgres_server: PostgresServer,
    postgres_url: str,
) -> None:
    endpoint = f"http://127.0.0.1:{_closed_port()}"
    instance = _instance("shop", bucket="shop-backups", endpoint=endpoint)
    _create(k8s_cluster, k8s_namespace, instance, postgres_url)
    _cronjob(k8s_cluster, k8s_namespace, "shop")

    job = _request_backup(k8s_cluster, k8s_namespace, "shop", "after-upgrade")
    started = time.monotonic()
    results = _run_job_pod(k8s_cluster, k8s_namespace, job, postgres_server)
    assert len(results) == 1, "the prune must not run after a failed dump"
    assert results[0].returncode != 0
    assert "error" in results[0].stderr
    assert time.monotonic() - started < COMMAND_TIMEOUT_SECONDS
    _report_backup_container(k8s_cluster, k8s_namespace, job, results[0])
    _finish_job(k8s_cluster, k8s_namespace, job, succeeded=False)

    stored = _wait_token_echo(k8s_cluster, k8s_namespace, "shop", "after-upgrade")
    backup = stored["status"]["backup"]
    cli_error = results[0].stderr.strip().splitlines()[-1]
    assert cli_error.startswith("repairgpt backup: error:")
    assert backup["lastError"] == cli_error.removeprefix("repairgpt backup: error:").strip()
    assert endpoint in backup["lastError"] or "S3" in backup["lastError"]
    assert backup["lastFailureTime"]
    healthy = condition(stored, "BackupHealthy")
    assert healthy is not None
    assert (healthy["status"], healthy["reason"]) == ("False", "BackupFailed")
    assert backup["lastError"] in healthy["message"]
    [event] = wait_until(
        lambda: _events(k8s_cluster, k8s_namespace, "BackupFailed"),
        timeout=CONVERGE_SECONDS,
        what="a BackupFailed event",
    )
    assert event["type"] == "Warning"


def test_restore_crd_is_served_and_its_spec_cannot_change(
    k8s_cluster: KubeCluster, k8s_namespace: str
) -> None:
    crd = REPO_ROOT / "crds" / "repairgptrestore.yaml"
    k8s_cluster.kubectl("apply", "--server-side", "--force-conflicts", "-f", str(crd))
    k8s_cluster.kubectl(
        "wait", "--for=condition=Established", "crd/repairgptrestores.repairgpt.io",
        "--timeout=60s",
    )  # fmt: skip
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
