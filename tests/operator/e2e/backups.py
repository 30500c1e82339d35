"""Databases with data, real backups of them in S3, and the end of the Jobs that the operator
runs as pods on the local cluster's node, for the backup and restore tests."""

from __future__ import annotations

import os
import subprocess
import sys
import uuid
from pathlib import Path
from typing import Any

from tests.conftest import KubeCluster
from tests.operator.e2e.observe import get_json, list_json, wait_until
from tests.utils.servers import PostgresServer, S3Server

SEEDED_ROWS = 2500
SEEDED_TABLES = 2
COMMAND_TIMEOUT_SECONDS = 120
# A Job's pod starts in a few seconds on an idle node; the node is shared and often busy.
JOB_SECONDS = 180
REPAIRGPT = Path(sys.executable).parent / "repairgpt"
JOB_NAME_LABEL = "batch.kubernetes.io/job-name"
# Small requests: the node has 2 CPUs for everything the suite runs.
SMALL_API = {
    "requests": {"cpu": "50m", "memory": "192Mi"},
    "limits": {"cpu": "1", "memory": "512Mi"},
}


def seed_database(postgres: PostgresServer) -> str:
    """A new database with two tables and SEEDED_ROWS + 2 rows; its URL from this machine.
    The table names are not the app's, so the backup can be restored next to the app's schema."""
    url = postgres.create_database(f"src_{os.urandom(4).hex()}")
    postgres.psql(
        "CREATE TABLE parts (id serial PRIMARY KEY, name text NOT NULL);"
        f"INSERT INTO parts (name) SELECT 'part ' || g FROM generate_series(1, {SEEDED_ROWS}) g;"
        "CREATE TABLE workshops (id serial PRIMARY KEY, name text);"
        "INSERT INTO workshops (name) VALUES ('north'), ('south');",
        dbname=url.rsplit("/", 1)[1],
    )
    return url


def create_bucket(s3: S3Server) -> str:
    """A new, empty bucket; its name."""
    name = f"test-{uuid.uuid4().hex[:12]}"
    s3.client().create_bucket(Bucket=name)
    return name


def back_up(url: str, bucket: str, s3: S3Server, postgres: PostgresServer) -> None:
    """`repairgpt backup create` of the database into bucket/db/, run from this machine as a
    user would run it."""
    env = {**os.environ, **s3.env, "PG_BIN_DIR": str(postgres.bin_dir)}
    result = subprocess.run(
        [str(REPAIRGPT), "backup", "create", "--database-url", url, "--bucket", bucket,
         "--prefix", "db/"],
        env=env, capture_output=True, text=True, timeout=COMMAND_TIMEOUT_SECONDS, check=False,
    )  # fmt: skip
    assert result.returncode == 0, result.stderr


def job_outcome(job: dict[str, Any] | None) -> str | None:
    """`Complete` or `Failed` once the Job controller has ended the Job, else None."""
    for item in ((job or {}).get("status") or {}).get("conditions") or []:
        if item.get("type") in ("Complete", "Failed") and item.get("status") == "True":
            outcome: str = item["type"]
            return outcome
    return None


def job_pods(cluster: KubeCluster, namespace: str, job_name: str) -> list[dict[str, Any]]:
    return list_json(cluster, namespace, "pods", f"{JOB_NAME_LABEL}={job_name}")


def _pods_summary(cluster: KubeCluster, namespace: str, job_name: str) -> str:
    """Phase, container states and log tail of each pod of the Job, for a failure message."""
    lines = []
    for pod in job_pods(cluster, namespace, job_name):
        name = pod["metadata"]["name"]
        status = pod.get("status") or {}
        lines.append(f"pod {name}: {status.get('phase')}")
        for item in (status.get("initContainerStatuses") or []) + (
            status.get("containerStatuses") or []
        ):
            lines.append(f"  {item['name']}: {item.get('state')}")
            log = cluster.kubectl(
                "-n", namespace, "logs", name, "-c", item["name"], "--tail=20", check=False
            )
            lines.extend(f"    {line}" for line in log.stdout.splitlines())
    events = cluster.kubectl("-n", namespace, "get", "events", check=False).stdout
    return "\n".join(lines) + "\n" + events[-3000:]


def wait_job_end(
    cluster: KubeCluster, namespace: str, name: str, *, timeout: float = JOB_SECONDS
) -> dict[str, Any]:
    """The Job once its pods have run and the Job controller has marked it Complete or Failed."""
    try:
        return wait_until(
            lambda: (lambda job: job if job_outcome(job) else None)(
                get_json(cluster, namespace, "job", name)
            ),
            timeout=timeout,
            what=f"job/{name} to complete or fail",
            interval=1,
        )
    except AssertionError as error:
        raise AssertionError(f"{error}\n{_pods_summary(cluster, namespace, name)}") from None


def container_ends(
    cluster: KubeCluster, namespace: str, job_name: str, container: str
) -> list[dict[str, Any]]:
    """How the container ended in each of the Job's pods (`state.terminated`), as the kubelet
    reported it; pods where it never ran are left out."""
    ends = []
    for pod in job_pods(cluster, namespace, job_name):
        status = pod.get("status") or {}
        for item in (status.get("initContainerStatuses") or []) + (
            status.get("containerStatuses") or []
        ):
            terminated = (item.get("state") or {}).get("terminated")
            if item["name"] == container and terminated:
                ends.append(terminated)
    return ends
