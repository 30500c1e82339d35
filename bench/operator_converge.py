"""Benchmark: how fast the operator converges N instances, what it writes when idle, whether it
keeps its resync interval, its memory.

    python bench/operator_converge.py [--instances 50[,300,1000]] [--rounds 3]
                                      [--idle-seconds 60] [--kubeconfig PATH]

Without --kubeconfig (or KUBECONFIG) it starts the local cluster in .cluster-bench/, cordons its
node for the run (the API pods stay pending: the operator is measured, not the kubelet) and
stops it afterwards. Operator Deployments already in the cluster are scaled to 0 for the run and
back after it. For each instance count, in one run:

* floor: one client creates the N instances and then server-side-applies all their children
  itself, sequentially (what the operator must at least do);
* operator: the same N instances applied at once with a fresh operator process; time until every
  instance has status.observedGeneration == metadata.generation and Reconciled=True;
  floor and operator alternate over --rounds rounds and the median ratio is reported;
* idle (once the instances show their pods and the operator has no refresh waiting and no
  resync overdue, or after 5 minutes), for --idle-seconds with a resync every 15 s: write
  requests by the operator (from the API server's own apiserver_request_total, without the
  controllers' status writes of the children, and the Events the operator posted), and the
  resyncs done against those due;
* the operator's peak RSS (VmHWM);
* where the CPU went in the floor's and the operator's windows: the control plane's processes
  (when the benchmark started the cluster itself), the benchmark's own client and the operator,
  and how many cores that kept busy. A window that keeps every core busy is bounded by CPU:
  the operator then shares the machine with the API server it is measured against.
"""

from __future__ import annotations

import argparse
import json
import os
import re
import subprocess
import sys
import tempfile
import threading
import time
import uuid
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from harness import OperatorProcess, cpu_seconds, save_results, wait_established
from harness import kubectl as kubectl_run
from kubernetes import client as k8s_client
from kubernetes import watch as k8s_watch

import devcluster
from devcluster.controlplane import COMPONENTS as CONTROL_PLANE
from devcluster.processes import read_pid
from repairgpt_operator.instance.model import Instance
from repairgpt_operator.instance.spec import API_VERSION, KIND
from repairgpt_operator.kube import Kube, load_api_client
from repairgpt_operator.ownership import FIELD_MANAGER
from repairgpt_operator.resources import desired_children

REPO_ROOT = Path(__file__).resolve().parent.parent
RESULTS = REPO_ROOT / "bench" / "results" / "operator_converge.json"
WRITE_VERBS = {"POST", "PUT", "PATCH", "APPLY", "DELETE", "DELETECOLLECTION"}
MANAGED_RESOURCES = {
    "repairgptinstances",
    "deployments",
    "services",
    "configmaps",
    "serviceaccounts",
    "poddisruptionbudgets",
    "networkpolicies",
    "ingresses",
    "horizontalpodautoscalers",
    "events",
}
# A shorter resync than the 60 s default, so that the idle window sees several full passes.
BENCH_RESYNC_SECONDS = 15
TARGET_RATIO = 1.2
TARGET_RSS_MB = 150.0
TARGET_RESYNC_SHARE = 0.95
OPERATOR_SELECTOR = "app.kubernetes.io/name=repairgpt-operator"


def _instance_manifest(name: str, namespace: str) -> dict[str, Any]:
    return {
        "apiVersion": API_VERSION,
        "kind": KIND,
        "metadata": {"name": name, "namespace": namespace},
        "spec": {
            "image": "ghcr.io/example/repairgpt-app:1.2.3",
            "replicas": 2,
            "database": {"primary": {"secretName": "repairgpt-db"}},
        },
    }


def _list_instances(kube: Kube, namespace: str) -> list[dict[str, Any]]:
    return kube.list(API_VERSION, KIND, namespace)


def _reconciled(item: dict[str, Any]) -> bool:
    status = item.get("status") or {}
    if status.get("observedGeneration") != item["metadata"].get("generation"):
        return False
    return any(
        c.get("type") == "Reconciled" and c.get("status") == "True"
        for c in status.get("conditions") or []
    )


def _wait_no_terminating_namespaces(kubectl: str, kubeconfig: Path) -> None:
    """Namespaces being deleted (earlier runs) make the garbage collector write; wait them out
    so that the idle window counts only what the operator causes."""
    deadline = time.monotonic() + 300
    while time.monotonic() < deadline:
        phases = kubectl_run(kubectl, kubeconfig, "get", "namespaces", "-o",
                          "jsonpath={.items[*].status.phase}")  # fmt: skip
        if "Terminating" not in phases:
            return
        time.sleep(2)


def measure_floor(kube: Kube, namespace: str, count: int) -> float:
    """One client: create the instances, then server-side apply every child, sequentially."""
    started = time.monotonic()
    for index in range(count):
        stored = kube.apply(_instance_manifest(f"floor-{index}", namespace))
        for child in desired_children(Instance.from_body(stored)):
            kube.apply(child)
    return time.monotonic() - started


class ReconciledWatch:
    """Follows the instances of a namespace with one watch (a poll that lists them all would
    load the API server it measures) and says when `count` of them are reconciled."""

    def __init__(self, namespace: str) -> None:
        self.namespace = namespace
        self.reconciled: set[str] = set()
        self.error: BaseException | None = None
        self.done = threading.Event()
        self.count = 0
        self._watch = k8s_watch.Watch()
        self._thread = threading.Thread(target=self._follow, daemon=True)

    def start(self, count: int) -> None:
        self.count = count
        self._thread.start()

    def _follow(self) -> None:
        group, _, version = API_VERSION.partition("/")
        api = k8s_client.CustomObjectsApi(load_api_client(pool_size=1))
        try:
            for event in self._watch.stream(
                api.list_namespaced_custom_object, group, version, self.namespace,
                "repairgptinstances", timeout_seconds=600,
            ):  # fmt: skip
                item = event["object"]
                name = str(item["metadata"]["name"])
                if event["type"] != "DELETED" and _reconciled(item):
                    self.reconciled.add(name)
                else:
                    self.reconciled.discard(name)
                if len(self.reconciled) >= self.count:
                    break
        except BaseException as error:  # noqa: BLE001 - reported by wait()
            self.error = error
        finally:
            self.done.set()

    def wait(self, timeout: float) -> None:
        if not self.done.wait(timeout):
            self._watch.stop()
            raise RuntimeError(f"the operator did not converge within {timeout:.0f} s")
        if self.error is not None:
            raise RuntimeError(f"watching the instances failed: {self.error}")
        if len(self.reconciled) < self.count:
            raise RuntimeError("the watch of the instances ended before they converged")


def measure_operator(kube: Kube, namespace: str, count: int) -> tuple[float, float]:
    """Apply the instances at once; time until all are reconciled (seconds, CR apply seconds)."""
    watch = ReconciledWatch(namespace)
    watch.start(count)
    started = time.monotonic()
    for index in range(count):
        kube.apply(_instance_manifest(f"inst-{index}", namespace))
    applied = time.monotonic() - started
    watch.wait(timeout=600)
    return time.monotonic() - started, applied


_SAMPLE = re.compile(r"^apiserver_request_total\{(?P<labels>[^}]*)\} (?P<value>\S+)$")
_LABEL = re.compile(r'(\w+)="([^"]*)"')


def control_plane_pids(cluster_dir: Path | None) -> dict[str, int]:
    """The control plane's processes by name, when the benchmark started the cluster."""
    if cluster_dir is None:
        return {}
    pids = {name: read_pid(cluster_dir, name) for name in CONTROL_PLANE}
    return {name: pid for name, pid in pids.items() if pid}


def cpu_sample(pids: dict[str, int]) -> dict[str, float]:
    """CPU seconds used so far by the control plane's processes and by this benchmark."""
    sample = {"benchmark client": time.process_time()}
    for name, pid in pids.items():
        try:
            sample[name] = cpu_seconds(pid)
        except (OSError, IndexError):
            continue
    return sample


def cpu_between(before: dict[str, float], after: dict[str, float]) -> dict[str, float]:
    return {name: round(after[name] - before[name], 2) for name in after if name in before}


def request_counts(kube: Kube, verbs: set[str] | None = None) -> dict[tuple[str, str, str], float]:
    """Requests so far by (verb, resource, subresource), from the API server's /metrics; only
    `verbs` if given."""
    counts: dict[tuple[str, str, str], float] = {}
    for line in kube.get_raw("/metrics").splitlines():
        match = _SAMPLE.match(line)
        if not match:
            continue
        labels = dict(_LABEL.findall(match.group("labels")))
        if verbs is not None and labels.get("verb") not in verbs:
            continue
        key = (labels["verb"], labels.get("resource", ""), labels.get("subresource", ""))
        counts[key] = counts.get(key, 0.0) + float(match.group("value"))
    return counts


def write_counts(kube: Kube) -> dict[tuple[str, str, str], float]:
    """Write requests so far by (verb, resource, subresource)."""
    return request_counts(kube, WRITE_VERBS)


def requests_between(
    before: dict[tuple[str, str, str], float], after: dict[tuple[str, str, str], float]
) -> dict[str, float]:
    """Every request (watches aside) between two samples, by `VERB resource[/sub]`."""
    delta: dict[str, float] = {}
    for (verb, resource, subresource), value in after.items():
        changed = value - before.get((verb, resource, subresource), 0.0)
        if changed and verb != "WATCH":
            delta[f"{verb} {resource}" + (f"/{subresource}" if subresource else "")] = changed
    return dict(sorted(delta.items(), key=lambda item: -item[1]))


def writes_between(
    before: dict[tuple[str, str, str], float], after: dict[tuple[str, str, str], float]
) -> dict[str, float]:
    """Write requests to the operator's kinds between two samples, by `VERB resource[/sub]`."""
    delta: dict[str, float] = {}
    for key, value in after.items():
        verb, resource, subresource = key
        if resource not in MANAGED_RESOURCES:
            continue
        changed = value - before.get(key, 0.0)
        if changed:
            label = f"{verb} {resource}" + (f"/{subresource}" if subresource else "")
            delta[label] = changed
    return delta


def events_since(kube: Kube, since: str) -> dict[str, int]:
    """Events recorded at or after `since` (RFC 3339), in every namespace, by source/reason."""
    counts: dict[str, int] = {}
    for event in json.loads(kube.get_raw("/api/v1/events")).get("items", []):
        stamp = event.get("lastTimestamp") or event.get("eventTime") or ""
        if stamp < since:
            continue
        source = event.get("reportingComponent") or (event.get("source") or {}).get(
            "component", "unknown"
        )
        key = f"{source}/{event.get('reason')}"
        counts[key] = counts.get(key, 0) + 1
    return counts


def other_operators(kubectl: str, kubeconfig: Path) -> list[tuple[str, str, int]]:
    """(namespace, name, replicas) of operator Deployments already running in the cluster: they
    would reconcile the bench's instances too."""
    found = []
    listed = kubectl_run(kubectl, kubeconfig, "get", "deployments", "--all-namespaces",
                         "-l", OPERATOR_SELECTOR, "-o", "json")  # fmt: skip
    for item in json.loads(listed).get("items", []):
        replicas = int((item.get("spec") or {}).get("replicas") or 0)
        if replicas:
            metadata = item["metadata"]
            found.append((str(metadata["namespace"]), str(metadata["name"]), replicas))
    return found


def scale(kubectl: str, kubeconfig: Path, namespace: str, name: str, replicas: int) -> None:
    kubectl_run(kubectl, kubeconfig, "-n", namespace, "scale", f"deployment/{name}",
                f"--replicas={replicas}")  # fmt: skip


def schedulable_nodes(kubectl: str, kubeconfig: Path) -> list[str]:
    nodes = json.loads(kubectl_run(kubectl, kubeconfig, "get", "nodes", "-o", "json"))
    return [
        str(node["metadata"]["name"])
        for node in nodes.get("items", [])
        if not (node.get("spec") or {}).get("unschedulable")
    ]


def operator_idle_writes(
    writes_by_kind: dict[str, float], events_by_source: dict[str, int]
) -> tuple[float, float]:
    """(writes by the operator, status writes by the controllers) in the idle window.

    The operator never writes the status of a child and posts its Events as FIELD_MANAGER; the
    Deployment and disruption controllers keep writing their objects' status after convergence.
    """
    operator_events = sum(
        count for key, count in events_by_source.items() if key.startswith(f"{FIELD_MANAGER}/")
    )
    controllers = sum(
        value
        for label, value in writes_by_kind.items()
        if label.endswith("/status") and not label.split()[1].startswith("repairgptinstances")
    )
    operator = sum(
        value
        for label, value in writes_by_kind.items()
        if not label.endswith(" events")
        and not label.endswith("/status")
        or label.split()[1] == "repairgptinstances/status"
    )
    return operator + operator_events, controllers


def measure_size(
    kube: Kube,
    kubectl: str,
    kubeconfig: Path,
    run_id: str,
    count: int,
    args: argparse.Namespace,
    cpu_pids: dict[str, int],
) -> dict[str, Any]:
    """Floor and operator rounds for `count` instances, then the idle window; one result row."""
    rounds: list[dict[str, Any]] = []
    namespaces: list[str] = []
    operator: OperatorProcess | None = None
    try:
        for index in range(args.rounds):
            floor_ns = f"bench-floor-{run_id}-{count}-{index}"
            operator_ns = f"bench-operator-{run_id}-{count}-{index}"
            for namespace in (floor_ns, operator_ns):
                kubectl_run(kubectl, kubeconfig, "create", "namespace", namespace)
                namespaces.append(namespace)
            print(f"{count} instances, round {index + 1}/{args.rounds}: floor ...", flush=True)
            floor_sample, floor_cpu = request_counts(kube), cpu_sample(cpu_pids)
            floor_seconds = measure_floor(kube, floor_ns, count)
            floor_cpu = cpu_between(floor_cpu, cpu_sample(cpu_pids))
            floor_requests = requests_between(floor_sample, request_counts(kube))
            if operator is not None:
                operator.stop()
            log_path = Path(tempfile.gettempdir()) / f"operator-bench-{run_id}-{count}-{index}.log"
            resync = {"REPAIRGPT_RESYNC_SECONDS": str(BENCH_RESYNC_SECONDS)}
            operator = OperatorProcess(kubeconfig, operator_ns, log_path, env=resync)
            print(f"    operator (log: {log_path}) ...", flush=True)
            sample, window_cpu = request_counts(kube), cpu_sample(cpu_pids)
            cpu_before = operator.cpu_seconds()
            operator_seconds, apply_seconds = measure_operator(kube, operator_ns, count)
            operator_cpu = operator.cpu_seconds() - cpu_before
            window_cpu = cpu_between(window_cpu, cpu_sample(cpu_pids))
            window_cpu["operator"] = round(operator_cpu, 2)
            operator_requests = requests_between(sample, request_counts(kube))
            rounds.append(
                {
                    "floor_seconds": round(floor_seconds, 3),
                    "operator_seconds": round(operator_seconds, 3),
                    "operator_cr_apply_seconds": round(apply_seconds, 3),
                    "operator_cpu_seconds": round(operator_cpu, 2),
                    "ratio": round(operator_seconds / floor_seconds, 3),
                    "operator_write_requests": sum(
                        value
                        for label, value in operator_requests.items()
                        if label.split()[0] in WRITE_VERBS
                        and label.split()[1].split("/")[0] in MANAGED_RESOURCES
                    ),
                    "operator_requests": sum(operator_requests.values()),
                    "floor_requests": sum(floor_requests.values()),
                    "floor_cpu_seconds": round(sum(floor_cpu.values()), 1),
                    "floor_busy_cores": round(sum(floor_cpu.values()) / floor_seconds, 2),
                    "operator_window_cpu_seconds": round(sum(window_cpu.values()), 1),
                    "operator_window_busy_cores": round(
                        sum(window_cpu.values()) / operator_seconds, 2
                    ),
                    "floor_cpu_seconds_by_process": floor_cpu,
                    "operator_window_cpu_seconds_by_process": window_cpu,
                    # Both include the benchmark's own creation of the instances.
                    "operator_requests_by_kind": operator_requests,
                    "floor_requests_by_kind": floor_requests,
                }
            )
            print(f"    ratio {operator_seconds / floor_seconds:.2f}", flush=True)
        assert operator is not None
        idle = measure_idle(kube, kubectl, kubeconfig, operator, operator_ns, count, args)
    finally:
        if operator is not None:
            operator.stop()
        for namespace in namespaces:
            subprocess.run(
                [kubectl, "--kubeconfig", str(kubeconfig), "delete", "namespace", namespace,
                 "--wait=false"],
                capture_output=True,
                check=False,
            )  # fmt: skip
    median = sorted(rounds, key=lambda r: r["ratio"])[len(rounds) // 2]
    return {"instances": count, **median, "rounds": rounds, **idle}


def wait_operator_settled(operator: OperatorProcess, *, deadline: float) -> bool:
    """Wait until the operator's refresh queues are empty and its resync keeps its interval."""
    while time.monotonic() < deadline:
        backlog = operator.metric("repairgpt_operator_work_queue_depth")
        lag = operator.metric("repairgpt_operator_resync_lag_seconds")
        if backlog == 0 and lag <= BENCH_RESYNC_SECONDS:
            return True
        time.sleep(1)
    return False


def measure_idle(
    kube: Kube,
    kubectl: str,
    kubeconfig: Path,
    operator: OperatorProcess,
    namespace: str,
    count: int,
    args: argparse.Namespace,
) -> dict[str, Any]:
    """Writes, Events and resyncs while nothing changes; the operator's peak RSS."""
    # Idle means settled: the ReplicaSets have created their pods and the Deployment status
    # changes this causes have reached every instance status. The controllers create pods at
    # their client's rate limit (20 per second), which takes a while at a thousand instances.
    controllers_settled = False
    settle_deadline = time.monotonic() + max(120.0, 0.5 * count)
    while time.monotonic() < settle_deadline:
        items = _list_instances(kube, namespace)
        if all((i.get("status") or {}).get("replicas") == 2 for i in items):
            controllers_settled = True
            break
        time.sleep(2)
    print(f"    controllers settled: {controllers_settled}", flush=True)
    # ... and the operator has worked through what convergence left it: no status refresh
    # waiting, no resync overdue by more than an interval.
    settled = wait_operator_settled(operator, deadline=time.monotonic() + 300)
    print(f"    operator settled: {settled}", flush=True)
    time.sleep(5)
    print(f"    idle: {args.idle_seconds:.0f} s of resync every {BENCH_RESYNC_SECONDS} s ...",
          flush=True)  # fmt: skip
    _wait_no_terminating_namespaces(kubectl, kubeconfig)
    sample = write_counts(kube)
    resyncs_before = operator.metric("repairgpt_operator_reconciliations_total", trigger="resync")
    child_writes_before = operator.metric("repairgpt_operator_child_writes_total")
    idle_started = datetime.now(UTC).strftime("%Y-%m-%dT%H:%M:%SZ")
    time.sleep(args.idle_seconds)
    writes_by_kind = writes_between(sample, write_counts(kube))
    events = events_since(kube, idle_started)
    resyncs = (
        operator.metric("repairgpt_operator_reconciliations_total", trigger="resync")
        - resyncs_before
    )
    operator_writes, controller_writes = operator_idle_writes(writes_by_kind, events)
    due = count * args.idle_seconds / BENCH_RESYNC_SECONDS
    return {
        "idle_started_settled": settled,
        "idle_controllers_settled": controllers_settled,
        "idle_seconds": args.idle_seconds,
        "idle_resync_interval_seconds": BENCH_RESYNC_SECONDS,
        "idle_resyncs_due": due,
        "idle_resyncs_done": resyncs,
        "idle_resyncs_done_share": round(resyncs / due, 3) if due else 1.0,
        "idle_operator_writes": operator_writes,
        "idle_controller_status_writes": controller_writes,
        "idle_operator_child_writes": operator.metric("repairgpt_operator_child_writes_total")
        - child_writes_before,
        "idle_write_requests": writes_by_kind,
        "idle_events_by_source": events,
        "operator_peak_rss_mb": round(operator.peak_rss_mb(), 1),
    }


def print_table(results: list[dict[str, Any]]) -> None:
    columns = [
        ("instances", "instances", "{:.0f}"),
        ("floor s", "floor_seconds", "{:.2f}"),
        ("operator s", "operator_seconds", "{:.2f}"),
        ("ratio", "ratio", "{:.2f}"),
        ("op CPU s", "operator_cpu_seconds", "{:.1f}"),
        ("op writes", "operator_write_requests", "{:.0f}"),
        ("floor req", "floor_requests", "{:.0f}"),
        ("floor CPU s", "floor_cpu_seconds", "{:.0f}"),
        ("floor cores", "floor_busy_cores", "{:.2f}"),
        ("op run req", "operator_requests", "{:.0f}"),
        ("op run CPU s", "operator_window_cpu_seconds", "{:.0f}"),
        ("op run cores", "operator_window_busy_cores", "{:.2f}"),
        ("peak RSS MB", "operator_peak_rss_mb", "{:.1f}"),
        ("idle op writes", "idle_operator_writes", "{:.0f}"),
        ("idle ctrl status", "idle_controller_status_writes", "{:.0f}"),
        ("resyncs due", "idle_resyncs_due", "{:.0f}"),
        ("resyncs done", "idle_resyncs_done", "{:.0f}"),
    ]
    print()
    print("  ".join(f"{title:>{max(len(title), 9)}}" for title, _, _ in columns))
    for row in results:
        print("  ".join(
            f"{fmt.format(row[key]):>{max(len(title), 9)}}" for title, key, fmt in columns
        ))  # fmt: skip
    print(
        f"targets: ratio <= {TARGET_RATIO}, peak RSS < {TARGET_RSS_MB:.0f} MB, 0 operator "
        f"writes while idle, >= {TARGET_RESYNC_SHARE:.0%} of the resyncs due done"
    )


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument(
        "--instances", default="50", help="instance counts, comma-separated: 50,300,1000"
    )
    parser.add_argument("--idle-seconds", type=float, default=60.0)
    parser.add_argument("--rounds", type=int, default=3, help="floor/operator rounds (median)")
    parser.add_argument("--kubeconfig", type=Path, default=None)
    parser.add_argument("--cluster-dir", type=Path, default=REPO_ROOT / ".cluster-bench")
    args = parser.parse_args(argv)
    sizes = [int(part) for part in str(args.instances).split(",") if part.strip()]
    if not sizes or min(sizes) < 1:
        parser.error("--instances takes positive counts, e.g. 50 or 50,300,1000")

    started_cluster = False
    cluster_dir: Path | None = None
    kubeconfig = args.kubeconfig or (
        Path(os.environ["KUBECONFIG"]) if os.environ.get("KUBECONFIG") else None
    )
    if kubeconfig is None:
        print(f"starting the local cluster in {args.cluster_dir} ...", flush=True)
        cluster = devcluster.up(args.cluster_dir)
        kubeconfig, kubectl = cluster.kubeconfig, str(cluster.bin_dir / "kubectl")
        started_cluster = True
        cluster_dir = args.cluster_dir
    else:
        kubectl = "kubectl"
        bin_dir = devcluster.ensure_binaries()
        if (bin_dir / "kubectl").exists():
            kubectl = str(bin_dir / "kubectl")
    os.environ["KUBECONFIG"] = str(kubeconfig)
    kube = Kube(load_api_client())
    run_id = uuid.uuid4().hex[:6]
    paused = other_operators(kubectl, kubeconfig)
    cordoned: list[str] = []
    results: list[dict[str, Any]] = []
    try:
        for namespace, name, _ in paused:
            print(f"scaling the operator {namespace}/{name} to 0 for the run", flush=True)
            scale(kubectl, kubeconfig, namespace, name, 0)
        if started_cluster:
            # The API pods of thousands of instances would not fit on the one node anyway:
            # left pending, they measure the operator, not the kubelet.
            cordoned = schedulable_nodes(kubectl, kubeconfig)
            for node in cordoned:
                kubectl_run(kubectl, kubeconfig, "cordon", node)
        kubectl_run(kubectl, kubeconfig, "apply", "--server-side", "--force-conflicts", "-f",
                 str(REPO_ROOT / "crds"))  # fmt: skip
        wait_established(kubectl, kubeconfig, "repairgptinstances.repairgpt.io",
                         "repairgptrestores.repairgpt.io")  # fmt: skip
        for count in sizes:
            # The machine is shared, so timings wander: floor and operator alternate over
            # several rounds (fresh namespaces each time) and the median ratio counts.
            _wait_no_terminating_namespaces(kubectl, kubeconfig)
            results.append(
                measure_size(
                    kube, kubectl, kubeconfig, run_id, count, args, control_plane_pids(cluster_dir)
                )
            )
            print_table(results)
    finally:
        for node in cordoned:
            kubectl_run(kubectl, kubeconfig, "uncordon", node)
        for namespace, name, replicas in paused:
            scale(kubectl, kubeconfig, namespace, name, replicas)
        if started_cluster:
            devcluster.down(args.cluster_dir)

    for row in results:
        row["targets_met"] = {
            "ratio": row["ratio"] <= TARGET_RATIO,
            "rss": row["operator_peak_rss_mb"] < TARGET_RSS_MB,
            "idle_writes": row["idle_operator_writes"] == 0,
            "resyncs": row["idle_resyncs_done_share"] >= TARGET_RESYNC_SHARE,
        }
    save_results(
        RESULTS,
        {
            "benchmark": "operator_converge",
            "targets": {
                "ratio": TARGET_RATIO,
                "rss_mb": TARGET_RSS_MB,
                "idle_operator_writes": 0,
                "resyncs_done_share": TARGET_RESYNC_SHARE,
            },
            "results": results,
        },
    )
    return 0


if __name__ == "__main__":
    sys.exit(main())
