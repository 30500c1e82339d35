"""Benchmark: time from killing the primary database until the API Deployment uses the replica.

    python bench/failover.py [--runs 5] [--probe-interval 1] [--failure-threshold 3]
                             [--poll 0.05] [--kubeconfig PATH]

Without --kubeconfig (or KUBECONFIG) it starts the local control plane in .cluster-bench/ and
stops it afterwards. The operator runs as a local process with the admin kubeconfig. Each run
starts a fresh real PostgreSQL primary with a real streaming replica, applies an instance with
failover on, kills the primary (`pg_ctl stop -m immediate`) and polls the API Deployment through
one API client until its DATABASE_URL comes from the replica Secret. The floor is
probeIntervalSeconds x failureThreshold: the failures the operator must see before it may switch.
A kill lands somewhere between two probes, so a run may beat the floor by up to one interval
(the earliest possible switch is (failureThreshold - 1) x probeIntervalSeconds after the kill).
"""

from __future__ import annotations

import argparse
import base64
import os
import statistics
import subprocess
import sys
import tempfile
import time
import uuid
from pathlib import Path
from typing import Any

REPO_ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(REPO_ROOT))

from harness import OperatorProcess, save_results, wait_established  # noqa: E402
from harness import kubectl as kubectl_run  # noqa: E402
from kubernetes import config as k8s_config  # noqa: E402

import devcluster  # noqa: E402
from repairgpt_operator.kube import Kube  # noqa: E402
from tests.operator.e2e.databases import (  # noqa: E402
    SECRET_KEY,
    PrimaryAndReplica,
    instance_manifest,
)

RESULTS = REPO_ROOT / "bench" / "results" / "failover.json"
TARGET_RATIO = 1.3
SWITCH_TIMEOUT_SECONDS = 120


def _secret(name: str, namespace: str, url: str) -> dict[str, Any]:
    return {
        "apiVersion": "v1",
        "kind": "Secret",
        "metadata": {"name": name, "namespace": namespace},
        "type": "Opaque",
        "data": {SECRET_KEY: base64.b64encode(url.encode()).decode()},
    }


def database_secret_of(deployment: dict[str, Any] | None) -> str | None:
    """The Secret behind the API container's DATABASE_URL."""
    if deployment is None:
        return None
    for container in deployment["spec"]["template"]["spec"]["containers"]:
        for env in container.get("env", []):
            if env["name"] == "DATABASE_URL":
                ref = (env.get("valueFrom") or {}).get("secretKeyRef") or {}
                name: str | None = ref.get("name")
                return name
    return None


def _wait(check: Any, timeout: float, what: str, interval: float = 0.2) -> Any:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        found = check()
        if found:
            return found
        time.sleep(interval)
    raise RuntimeError(f"timed out after {timeout:.0f} s waiting for {what}")


def one_run(kube: Kube, namespace: str, index: int, args: argparse.Namespace) -> dict[str, Any]:
    """Fresh primary and replica, a fresh instance; kill the primary; time the switch."""
    name = f"bench-{index}"
    primary_secret, replica_secret = f"{name}-db", f"{name}-db-replica"
    pair = PrimaryAndReplica().start()
    try:
        kube.apply(_secret(primary_secret, namespace, pair.primary_url))
        kube.apply(_secret(replica_secret, namespace, pair.replica_url))
        manifest = instance_manifest(
            name,
            replicas=1,
            database={
                "primary": {"secretName": primary_secret, "key": SECRET_KEY},
                "replica": {"secretName": replica_secret, "key": SECRET_KEY},
            },
            failover={
                "enabled": True,
                "probeIntervalSeconds": args.probe_interval,
                "failureThreshold": args.failure_threshold,
                "failback": "Manual",
            },
        )
        manifest["metadata"]["namespace"] = namespace
        kube.apply(manifest)
        deployment = f"{name}-api"
        _wait(
            lambda: (
                ((kube.get_instance(namespace, name) or {}).get("status") or {})
                .get("database", {})
                .get("active")
                == "primary"
                and database_secret_of(kube.get("apps/v1", "Deployment", namespace, deployment))
                == primary_secret
            ),
            60,
            f"{name} on its primary, probed",
        )
        # Several healthy probes first, so that the kill lands at a random point of the cycle.
        time.sleep(2 * args.probe_interval)

        killed = time.monotonic()
        pair.primary.kill()
        gone = time.monotonic()
        polls = 0
        while True:
            polls += 1
            current = kube.get("apps/v1", "Deployment", namespace, deployment)
            if database_secret_of(current) == replica_secret:
                switched = time.monotonic()
                break
            if time.monotonic() - killed > SWITCH_TIMEOUT_SECONDS:
                raise RuntimeError(f"{name}: no switch within {SWITCH_TIMEOUT_SECONDS} s")
            time.sleep(args.poll)
        kube.delete("repairgpt.io/v1alpha1", "RepairGPTInstance", namespace, name)
        return {
            "seconds": round(switched - killed, 3),
            "seconds_after_kill_returned": round(switched - gone, 3),
            "kill_command_seconds": round(gone - killed, 3),
            "polls": polls,
        }
    finally:
        pair.cleanup()


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--runs", type=int, default=5)
    parser.add_argument("--probe-interval", type=int, default=1, help="probeIntervalSeconds")
    parser.add_argument("--failure-threshold", type=int, default=3, help="failureThreshold")
    parser.add_argument("--poll", type=float, default=0.05, help="seconds between two polls")
    parser.add_argument("--kubeconfig", type=Path, default=None)
    parser.add_argument("--cluster-dir", type=Path, default=REPO_ROOT / ".cluster-bench")
    args = parser.parse_args(argv)

    started_cluster = False
    kubeconfig = args.kubeconfig or (
        Path(os.environ["KUBECONFIG"]) if os.environ.get("KUBECONFIG") else None
    )
    if kubeconfig is None:
        # A control plane another benchmark left running there is reused, and left running.
        already_running = args.cluster_dir.exists() and all(
            s.startswith("running") for s in devcluster.status(args.cluster_dir).values()
        )
        print(f"starting the local control plane in {args.cluster_dir} ...", flush=True)
        cluster = devcluster.up(args.cluster_dir)
        kubeconfig, kubectl = cluster.kubeconfig, str(cluster.bin_dir / "kubectl")
        started_cluster = not already_running
    else:
        bin_dir = devcluster.ensure_binaries()
        kubectl = str(bin_dir / "kubectl") if (bin_dir / "kubectl").exists() else "kubectl"
    os.environ["KUBECONFIG"] = str(kubeconfig)
    # The path is passed explicitly: the client library reads KUBECONFIG only at import time.
    client = k8s_config.new_client_from_config(  # type: ignore[no-untyped-call]
        config_file=str(kubeconfig)
    )
    kube = Kube(client)
    namespace = f"bench-failover-{uuid.uuid4().hex[:6]}"
    log_path = Path(tempfile.gettempdir()) / f"{namespace}-operator.log"
    operator: OperatorProcess | None = None
    runs: list[dict[str, Any]] = []
    try:
        kubectl_run(kubectl, kubeconfig, "apply", "--server-side", "--force-conflicts", "-f",
                 str(REPO_ROOT / "crds"))  # fmt: skip
        wait_established(kubectl, kubeconfig, "repairgptinstances.repairgpt.io",
                         "repairgptrestores.repairgpt.io")  # fmt: skip
        kubectl_run(kubectl, kubeconfig, "create", "namespace", namespace)
        print(f"operator log: {log_path}", flush=True)
        operator = OperatorProcess(kubeconfig, namespace, log_path)
        for index in range(args.runs):
            run = one_run(kube, namespace, index, args)
            runs.append(run)
            print(f"run {index + 1}/{args.runs}: switched after {run['seconds']:.2f} s", flush=True)
    finally:
        if operator is not None:
            operator.stop()
        subprocess.run(
            [kubectl, "--kubeconfig", str(kubeconfig), "delete", "namespace", namespace,
             "--wait=false"],
            capture_output=True,
            check=False,
        )  # fmt: skip
        if started_cluster:
            devcluster.down(args.cluster_dir)

    times = [r["seconds"] for r in runs]
    floor = args.probe_interval * args.failure_threshold
    mean, median, worst = statistics.mean(times), statistics.median(times), max(times)
    rows = [
        ("probeIntervalSeconds x failureThreshold", f"{args.probe_interval} x "
         f"{args.failure_threshold}", ""),
        ("floor (s)", f"{floor:.2f}", "failed probes needed before a switch"),
        *[(f"run {i + 1} (s)", f"{t:.2f}", f"ratio {t / floor:.2f}") for i, t in enumerate(times)],
        ("mean (s)", f"{mean:.2f}", ""),
        ("median (s)", f"{median:.2f}", ""),
        ("max (s)", f"{worst:.2f}", ""),
        ("ratio median / floor", f"{median / floor:.2f}", f"target <= {TARGET_RATIO}"),
        ("ratio max / floor", f"{worst / floor:.2f}", f"target <= {TARGET_RATIO}"),
        ("poll interval (s)", f"{args.poll:.2f}", "adds at most this to each time"),
    ]  # fmt: skip
    width = max(len(r[0]) for r in rows)
    print()
    print(f"{'metric':<{width}}  {'value':>10}  note")
    print(f"{'-' * width}  {'-' * 10}  {'-' * 36}")
    for label, value, note in rows:
        print(f"{label:<{width}}  {value:>10}  {note}")

    result = {
        "benchmark": "failover",
        "runs": runs,
        "probe_interval_seconds": args.probe_interval,
        "failure_threshold": args.failure_threshold,
        "poll_seconds": args.poll,
        "floor_seconds": floor,
        "mean_seconds": round(mean, 3),
        "median_seconds": round(median, 3),
        "max_seconds": round(worst, 3),
        "ratio_median": round(median / floor, 3),
        "ratio_max": round(worst / floor, 3),
        "ratio_target": TARGET_RATIO,
        "targets_met": {"ratio_max": worst / floor <= TARGET_RATIO},
        "measured_from": "the start of `pg_ctl stop -m immediate` on the primary",
        "measured_to": "the first poll that sees DATABASE_URL from the replica Secret",
    }
    save_results(RESULTS, result)
    return 0


if __name__ == "__main__":
    sys.exit(main())
