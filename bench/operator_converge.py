"""Benchmark: how fast the operator converges 50 instances, what it writes when idle, its memory.

    python bench/operator_converge.py [--instances 50] [--rounds 3] [--idle-seconds 60]
                                      [--kubeconfig PATH]

Without --kubeconfig (or KUBECONFIG) it starts the local control plane in .cluster-bench/ and
stops it afterwards. In one run it measures:

* floor: one client creates the N instances and then server-side-applies all their children
  itself, sequentially (what the operator must at least do);
* operator: the same N instances applied at once with the operator running; time until every
  instance has status.observedGeneration == metadata.generation and Reconciled=True;
  floor and operator alternate over --rounds rounds and the median ratio is reported;
* idle: API write requests (POST/PUT/PATCH/APPLY/DELETE from the API server's own
  apiserver_request_total) to the kinds the operator manages during --idle-seconds of resync;
* the operator's peak RSS (VmHWM).
"""

from __future__ import annotations

import argparse
import json
import os
import re
import subprocess
import sys
import tempfile
import time
import uuid
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from harness import OperatorProcess, save_results
from harness import kubectl as kubectl_run

import devcluster
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
TARGET_RATIO = 2.0
TARGET_RSS_MB = 150.0


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


def measure_operator(kube: Kube, namespace: str, count: int) -> tuple[float, float]:
    """Apply the instances at once; time until all are reconciled (seconds, poll overhead)."""
    started = time.monotonic()
    for index in range(count):
        kube.apply(_instance_manifest(f"inst-{index}", namespace))
    applied = time.monotonic() - started
    while True:
        items = _list_instances(kube, namespace)
        if len(items) == count and all(_reconciled(item) for item in items):
            return time.monotonic() - started, applied
        if time.monotonic() - started > 600:
            raise RuntimeError("the operator did not converge within 10 minutes")
        time.sleep(0.05)


_SAMPLE = re.compile(r"^apiserver_request_total\{(?P<labels>[^}]*)\} (?P<value>\S+)$")
_LABEL = re.compile(r'(\w+)="([^"]*)"')


def write_counts(kube: Kube) -> dict[tuple[str, str, str], float]:
    """Write requests so far by (verb, resource, subresource), from the API server's /metrics."""
    counts: dict[tuple[str, str, str], float] = {}
    for line in kube.get_raw("/metrics").splitlines():
        match = _SAMPLE.match(line)
        if not match:
            continue
        labels = dict(_LABEL.findall(match.group("labels")))
        if labels.get("verb") not in WRITE_VERBS:
            continue
        key = (labels["verb"], labels.get("resource", ""), labels.get("subresource", ""))
        counts[key] = counts.get(key, 0.0) + float(match.group("value"))
    return counts


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


def apiserver_writes(kube: Kube) -> tuple[float, float]:
    """(writes to the operator's kinds, all writes) so far, from the API server's /metrics."""
    counts = write_counts(kube)
    managed = sum(v for (_, resource, _), v in counts.items() if resource in MANAGED_RESOURCES)
    return managed, sum(counts.values())


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


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--instances", type=int, default=50)
    parser.add_argument("--idle-seconds", type=float, default=60.0)
    parser.add_argument("--rounds", type=int, default=3, help="floor/operator rounds (median)")
    parser.add_argument("--kubeconfig", type=Path, default=None)
    parser.add_argument("--cluster-dir", type=Path, default=REPO_ROOT / ".cluster-bench")
    args = parser.parse_args(argv)

    started_cluster = False
    kubeconfig = args.kubeconfig or (
        Path(os.environ["KUBECONFIG"]) if os.environ.get("KUBECONFIG") else None
    )
    if kubeconfig is None:
        print(f"starting the local control plane in {args.cluster_dir} ...", flush=True)
        cluster = devcluster.up(args.cluster_dir)
        kubeconfig, kubectl = cluster.kubeconfig, str(cluster.bin_dir / "kubectl")
        started_cluster = True
    else:
        kubectl = "kubectl"
        bin_dir = devcluster.ensure_binaries()
        if (bin_dir / "kubectl").exists():
            kubectl = str(bin_dir / "kubectl")
    os.environ["KUBECONFIG"] = str(kubeconfig)
    kube = Kube(load_api_client())
    run_id = uuid.uuid4().hex[:6]
    namespaces: list[str] = []
    operator: OperatorProcess | None = None
    rounds: list[dict[str, float]] = []
    try:
        kubectl_run(kubectl, kubeconfig, "apply", "--server-side", "--force-conflicts", "-f",
                 str(REPO_ROOT / "crds"))  # fmt: skip
        kubectl_run(kubectl, kubeconfig, "wait", "--for=condition=Established",
                 "crd/repairgptinstances.repairgpt.io", "crd/repairgptrestores.repairgpt.io",
                 "--timeout=60s")  # fmt: skip
        # The machine is shared, so timings wander: alternate floor and operator over several
        # rounds (fresh namespaces each time) and report the median ratio.
        for index in range(args.rounds):
            floor_ns = f"bench-floor-{run_id}-{index}"
            operator_ns = f"bench-operator-{run_id}-{index}"
            for namespace in (floor_ns, operator_ns):
                kubectl_run(kubectl, kubeconfig, "create", "namespace", namespace)
                namespaces.append(namespace)
            print(f"round {index + 1}/{args.rounds}: floor ...", flush=True)
            sample = write_counts(kube)
            floor_seconds = measure_floor(kube, floor_ns, args.instances)
            floor_writes = writes_between(sample, write_counts(kube))

            if operator is not None:
                operator.stop()
            log_path = Path(tempfile.gettempdir()) / f"operator-bench-{run_id}-{index}.log"
            resync = {"REPAIRGPT_RESYNC_SECONDS": str(BENCH_RESYNC_SECONDS)}
            operator = OperatorProcess(kubeconfig, operator_ns, log_path, env=resync)
            print(f"round {index + 1}/{args.rounds}: operator (log: {log_path}) ...", flush=True)
            sample = write_counts(kube)
            cpu_before = operator.cpu_seconds()
            operator_seconds, apply_seconds = measure_operator(kube, operator_ns, args.instances)
            operator_cpu = operator.cpu_seconds() - cpu_before
            operator_writes = writes_between(sample, write_counts(kube))
            rounds.append(
                {
                    "floor_seconds": round(floor_seconds, 3),
                    "operator_seconds": round(operator_seconds, 3),
                    "operator_cr_apply_seconds": round(apply_seconds, 3),
                    "operator_cpu_seconds": round(operator_cpu, 2),
                    "ratio": round(operator_seconds / floor_seconds, 3),
                }
            )
            print(f"    ratio {operator_seconds / floor_seconds:.2f}", flush=True)
        assert operator is not None

        # Idle means settled: the ReplicaSets have created their pods and the Deployment status
        # changes this causes have reached every instance status.
        settle_deadline = time.monotonic() + 120
        while time.monotonic() < settle_deadline:
            items = _list_instances(kube, operator_ns)
            if all((i.get("status") or {}).get("replicas") == 2 for i in items):
                break
            time.sleep(1)
        time.sleep(5)
        print(
            f"idle: {args.idle_seconds:.0f} s of resync every {BENCH_RESYNC_SECONDS} s ...",
            flush=True,
        )
        _wait_no_terminating_namespaces(kubectl, kubeconfig)
        idle_sample = write_counts(kube)
        managed_before, total_before = apiserver_writes(kube)
        resyncs_before = operator.metric(
            "repairgpt_operator_reconciliations_total", trigger="resync"
        )
        child_writes_before = operator.metric("repairgpt_operator_child_writes_total")
        idle_started = datetime.now(UTC).strftime("%Y-%m-%dT%H:%M:%SZ")
        time.sleep(args.idle_seconds)
        managed_after, total_after = apiserver_writes(kube)
        idle_writes_by_kind = writes_between(idle_sample, write_counts(kube))
        idle_events = events_since(kube, idle_started)
        resyncs = (
            operator.metric("repairgpt_operator_reconciliations_total", trigger="resync")
            - resyncs_before
        )
        child_writes = (
            operator.metric("repairgpt_operator_child_writes_total") - child_writes_before
        )
        peak_rss = operator.peak_rss_mb()
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
        if started_cluster:
            devcluster.down(args.cluster_dir)

    median = sorted(rounds, key=lambda r: r["ratio"])[len(rounds) // 2]
    ratio = median["ratio"]
    floor_seconds, operator_seconds = median["floor_seconds"], median["operator_seconds"]
    apply_seconds, operator_cpu = (
        median["operator_cr_apply_seconds"],
        median["operator_cpu_seconds"],
    )
    # The API server's counters cannot tell who posted an Event, and the control plane posts
    # its own (the disruption controller about PDBs of pods that never run here): count the
    # operator's Events by their source instead.
    operator_events = sum(
        count for key, count in idle_events.items() if key.startswith(f"{FIELD_MANAGER}/")
    )
    idle_writes = operator_events + sum(
        value for label, value in idle_writes_by_kind.items() if not label.endswith(" events")
    )
    rows = [
        ("instances", f"{args.instances}", ""),
        ("floor: one client, SSA of all children (s)", f"{floor_seconds:.2f}", ""),
        ("operator: all Reconciled=True (s)", f"{operator_seconds:.2f}",
         f"(creating the CRs took {apply_seconds:.2f} s of it)"),
        ("operator CPU time while converging (s)", f"{operator_cpu:.2f}", ""),
        ("ratio operator / floor (median round)", f"{ratio:.2f}", f"target <= {TARGET_RATIO}"),
        ("ratio of each round", " ".join(f"{r['ratio']:.2f}" for r in rounds), ""),
        (f"API writes to managed kinds in {args.idle_seconds:.0f} s idle", f"{idle_writes:.0f}",
         "target 0"),
        ("API writes, all kinds, same window", f"{total_after - total_before:.0f}",
         "includes the control plane's own leases"),
        ("resync reconciliations in the idle window", f"{resyncs:.0f}", ""),
        *(
            (f"    idle Events from {source}", f"{count}", "")
            for source, count in sorted(idle_events.items())
        ),
        ("child writes by the operator in the idle window", f"{child_writes:.0f}", ""),
        ("operator peak RSS (MB)", f"{peak_rss:.1f}", f"target < {TARGET_RSS_MB:.0f}"),
    ]  # fmt: skip
    for label, value in sorted(idle_writes_by_kind.items()):
        rows.append((f"    idle: {label}", f"{value:.0f}", ""))
    for phase, writes in (("floor", floor_writes), ("operator", operator_writes)):
        rows.append(
            (f"{phase}: write requests to managed kinds", f"{sum(writes.values()):.0f}", "")
        )
        for label, value in sorted(writes.items()):
            rows.append((f"    {label}", f"{value:.0f}", ""))
    width = max(len(r[0]) for r in rows)
    print()
    print(f"{'metric':<{width}}  {'value':>10}  note")
    print(f"{'-' * width}  {'-' * 10}  {'-' * 30}")
    for label, shown, note in rows:
        print(f"{label:<{width}}  {shown:>10}  {note}")

    result = {
        "benchmark": "operator_converge",
        "instances": args.instances,
        "floor_seconds": round(floor_seconds, 3),
        "operator_seconds": round(operator_seconds, 3),
        "operator_cr_apply_seconds": round(apply_seconds, 3),
        "operator_cpu_seconds_converging": round(operator_cpu, 2),
        "ratio": round(ratio, 3),
        "rounds": rounds,
        "ratio_target": TARGET_RATIO,
        "idle_seconds": args.idle_seconds,
        "idle_resync_interval_seconds": BENCH_RESYNC_SECONDS,
        "idle_resync_reconciliations": resyncs,
        "idle_api_writes_managed_kinds": idle_writes,
        "idle_api_writes_all_kinds": total_after - total_before,
        "idle_operator_child_writes": child_writes,
        "idle_write_requests": idle_writes_by_kind,
        "idle_events_by_source": idle_events,
        "floor_write_requests": floor_writes,
        "operator_write_requests": operator_writes,
        "operator_peak_rss_mb": round(peak_rss, 1),
        "rss_target_mb": TARGET_RSS_MB,
        "targets_met": {
            "ratio": ratio <= TARGET_RATIO,
            "idle_writes": idle_writes == 0,
            "rss": peak_rss < TARGET_RSS_MB,
        },
    }
    save_results(RESULTS, result)
    return 0


if __name__ == "__main__":
    sys.exit(main())
