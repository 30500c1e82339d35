"""What the kubelet and the Job controller would do, for end-to-end tests of Jobs.

The local control plane has no kubelet, so the pods of Jobs never run. A test that needs a Job
to happen runs the Job's container command as a local process, with the environment the pod
would get (Secrets resolved as the kubelet resolves `secretKeyRef`, `$(VAR)` in arguments
expanded), against real PostgreSQL and moto's S3 server, then reports the container in the pod
status and the outcome in the Job status, as those two components would.
"""

from __future__ import annotations

import base64
import json
import os
import re
import subprocess
import sys
import tempfile
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from tests.conftest import KubeCluster
from tests.operator.e2e.observe import get_json, list_json, wait_until
from tests.utils.servers import PostgresServer

CONVERGE_SECONDS = 30
COMMAND_TIMEOUT_SECONDS = 120
REPAIRGPT = Path(sys.executable).parent / "repairgpt"


def _now() -> str:
    return datetime.now(UTC).strftime("%Y-%m-%dT%H:%M:%SZ")


def pod_environment(
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
VARIABLE_REFERENCE = re.compile(r"\$\(([A-Za-z_][A-Za-z0-9_]*)\)")


def expand(arg: str, env: dict[str, str]) -> str:
    """`$(NAME)` in a command argument replaced by the container's variable, as the kubelet
    does (an unknown name is left as it is)."""
    return VARIABLE_REFERENCE.sub(lambda m: env.get(m.group(1), m.group(0)), arg)


def run_container(
    cluster: KubeCluster, namespace: str, container: dict[str, Any], postgres: PostgresServer
) -> subprocess.CompletedProcess[str]:
    """Run one container's command as a local process, as the kubelet would run it."""
    # The container's termination log is a file of the pod's; here, one in a temporary folder.
    local_log = Path(tempfile.mkdtemp()) / "termination-log"
    pod_env = pod_environment(cluster, namespace, container)
    command = [
        str(local_log) if arg == TERMINATION_LOG else expand(arg, pod_env)
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
        **pod_env,
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


def run_job_pod(
    cluster: KubeCluster, namespace: str, job: dict[str, Any], postgres: PostgresServer
) -> list[subprocess.CompletedProcess[str]]:
    """Run the pod's init container, then (if it succeeded) its main container, as the kubelet."""
    pod = job["spec"]["template"]["spec"]
    results = []
    for container in pod.get("initContainers", []) + pod["containers"]:
        result = run_container(cluster, namespace, container, postgres)
        results.append(result)
        if result.returncode != 0:
            break
    return results


def finish_job(cluster: KubeCluster, namespace: str, job: dict[str, Any], succeeded: bool) -> None:
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


def report_container(
    cluster: KubeCluster,
    namespace: str,
    job: dict[str, Any],
    result: subprocess.CompletedProcess[str],
    *,
    container: str = "backup",
) -> None:
    """Report a container in the pod status, as the kubelet would: the termination message is
    the file the command wrote, or (FallbackToLogsOnError) the tail of its log."""
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
    init = any(item["name"] == container for item in spec.get("initContainers") or [])
    image = next(
        item["image"]
        for item in (spec.get("initContainers") or []) + spec["containers"]
        if item["name"] == container
    )
    patch = {
        "status": {
            "phase": "Failed" if result.returncode else "Succeeded",
            "initContainerStatuses" if init else "containerStatuses": [
                {
                    "name": container,
                    "image": image,
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


def wait_job_started(cluster: KubeCluster, namespace: str, name: str) -> dict[str, Any]:
    """The Job once the Job controller has recorded its start (an outcome written before that
    would race the controller)."""
    return wait_until(
        lambda: (lambda job: job if (job or {}).get("status", {}).get("startTime") else None)(
            get_json(cluster, namespace, "job", name)
        ),
        timeout=CONVERGE_SECONDS,
        what=f"the Job controller to start job/{name}",
    )
