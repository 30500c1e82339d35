"""Failover on the real node: the primary database dies under a read load, the operator switches
the API pods to the streaming replica in read-only mode, and reads keep being answered."""

from __future__ import annotations

import json
import subprocess
import sys
import threading
import time
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import datetime
from typing import Any

import pytest

from tests.conftest import KubeCluster
from tests.utils.node import apply, get, http, image, pods, ready_pods, routed_service_url, wait_for
from tests.utils.servers import PostgresServer

NAME = "failover"
DATABASE = "repairgpt"
PROBE_INTERVAL_SECONDS = 1
FAILURE_THRESHOLD = 2
SELECTOR = f"app.kubernetes.io/instance={NAME},app.kubernetes.io/component=api"
SMALL = {"requests": {"cpu": "100m", "memory": "192Mi"}, "limits": {"cpu": "1", "memory": "512Mi"}}
# All requests from the node reach the pods from one address: the instance lifts the API's
# per-client rate limit (spec.config.rateLimit), so that no 429 mixes with the failover's errors.
READS_PER_SECOND = 10
READ_LOOP_SECONDS = 120
TARGET_FAILED_FRACTION = 0.01

# Runs inside the node's network namespace: GETs at a steady pace (a slow answer never delays
# the next one), one JSON line per read, until stdin closes or the time is up.
READ_LOOP = r"""
import http.client, json, sys, threading, time
from concurrent.futures import ThreadPoolExecutor

host, port, rate, seconds = sys.argv[1], int(sys.argv[2]), float(sys.argv[3]), float(sys.argv[4])
paths = sys.argv[5:]
stop = threading.Event()
lock = threading.Lock()

def watch_stdin():
    sys.stdin.read()
    stop.set()

def read(path):
    started = time.time()
    try:
        conn = http.client.HTTPConnection(host, port, timeout=5)
        conn.request("GET", path)
        response = conn.getresponse()
        response.read()
        conn.close()
        outcome = "ok" if response.status == 200 else f"HTTP {response.status}"
    except Exception as exc:
        outcome = f"connection error ({type(exc).__name__})"
    line = json.dumps({"t": started, "path": path, "outcome": outcome})
    with lock:
        print(line, flush=True)

threading.Thread(target=watch_stdin, daemon=True).start()
with ThreadPoolExecutor(max_workers=16) as pool:
    begin = time.monotonic()
    sent = 0
    while not stop.is_set() and time.monotonic() - begin < seconds:
        pool.submit(read, paths[sent % len(paths)])
        sent += 1
        stop.wait(max(0.0, begin + sent / rate - time.monotonic()))
"""


@dataclass(frozen=True)
class Read:
    t: float
    path: str
    outcome: str

    @property
    def ok(self) -> bool:
        return self.outcome == "ok"


class ReadLoop:
    """The read loop as a process in the node's network namespace."""

    def __init__(self, cluster: KubeCluster, base_url: str, paths: list[str]) -> None:
        host, _, port = base_url.removeprefix("http://").rpartition(":")
        self.process = subprocess.Popen(
            ["ip", "netns", "exec", cluster.node.network.netns, sys.executable, "-c", READ_LOOP,
             host, port, str(READS_PER_SECOND), str(READ_LOOP_SECONDS), *paths],
            stdin=subprocess.PIPE, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
        )  # fmt: skip

    def stop(self) -> list[Read]:
        out, err = self.process.communicate(input="", timeout=30)
        assert self.process.returncode == 0, err
        return sorted((Read(**json.loads(line)) for line in out.splitlines()), key=lambda r: r.t)

    def kill(self) -> None:
        if self.process.poll() is None:
            self.process.kill()
            self.process.wait()


class EndpointTimeline:
    """Samples, once a second, which API pods the Service sends traffic to and which pods exist:
    it tells a read refused for want of an endpoint from one refused by a pod."""

    def __init__(self, cluster: KubeCluster, namespace: str) -> None:
        self.cluster, self.namespace = cluster, namespace
        self.samples: list[tuple[float, str]] = []
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, daemon=True)
        self._thread.start()

    def _sample(self) -> str:
        out = self.cluster.kubectl(
            "-n", self.namespace, "get", "endpointslices", "-o", "json",
            "-l", f"kubernetes.io/service-name={NAME}-api", check=False,
        ).stdout  # fmt: skip
        serving = sorted(
            e.get("targetRef", {}).get("name", "?")[-5:]
            for s in (json.loads(out)["items"] if out else [])
            for e in s.get("endpoints") or []
            if (e.get("conditions") or {}).get("ready")
        )
        existing = sorted(
            p["metadata"]["name"][-5:] + ("(terminating)" if p["metadata"].get("deletionTimestamp")
            else "(replica)" if on_replica(p) else "(primary)")
            for p in pods(self.cluster, self.namespace, SELECTOR)
        )  # fmt: skip
        return f"endpoints {serving or 'none'}; pods {existing}"

    def _run(self) -> None:
        while not self._stop.wait(1.0):
            sample = self._sample()
            if not self.samples or self.samples[-1][1] != sample:
                self.samples.append((time.time(), sample))

    def stop(self) -> list[tuple[float, str]]:
        self._stop.set()
        self._thread.join(timeout=30)
        return self.samples


@pytest.fixture
def primary_and_replica(
    node_cluster: KubeCluster,
) -> Iterator[tuple[PostgresServer, PostgresServer]]:
    """A primary with the API's database and a streaming hot standby of it, both for pods."""
    host = node_cluster.node.network.host_ip
    primary = PostgresServer(pod_host=host).init().start()
    replica = PostgresServer(pod_host=host)
    try:
        primary.create_database(DATABASE)
        replica.init_replica_of(primary).start()
        yield primary, replica
    finally:
        replica.cleanup()
        primary.cleanup()


def instance_documents(
    app_image: str, primary: PostgresServer, replica: PostgresServer
) -> list[dict[str, Any]]:
    def secret(name: str, url: str) -> dict[str, Any]:
        return {
            "apiVersion": "v1",
            "kind": "Secret",
            "metadata": {"name": name},
            "type": "Opaque",
            "stringData": {"database-url": url},
        }

    return [
        secret("db-primary", primary.pod_url_for(DATABASE)),
        secret("db-replica", replica.pod_url_for(DATABASE)),
        {
            "apiVersion": "repairgpt.io/v1alpha1",
            "kind": "RepairGPTInstance",
            "metadata": {"name": NAME},
            "spec": {
                "image": app_image,
                "replicas": 2,
                "resources": SMALL,
                "config": {"rateLimit": {"requests": 0}},
                "database": {
                    "primary": {"secretName": "db-primary"},
                    "replica": {"secretName": "db-replica"},
                },
                "failover": {
                    "enabled": True,
                    "probeIntervalSeconds": PROBE_INTERVAL_SECONDS,
                    "failureThreshold": FAILURE_THRESHOLD,
                },
            },
        },
    ]


def env_of(pod: dict[str, Any]) -> dict[str, Any]:
    container = pod["spec"]["containers"][0]
    return {e["name"]: e.get("value", e.get("valueFrom")) for e in container.get("env", [])}


def on_replica(pod: dict[str, Any]) -> bool:
    env = env_of(pod)
    return (
        env.get("READ_ONLY_MODE") == "true"
        and env["DATABASE_URL"]["secretKeyRef"]["name"] == "db-replica"
    )


def seconds_to_ready(pod: dict[str, Any]) -> float:
    """From the pod's creation to its Ready condition (both as the API server recorded them)."""
    created = datetime.fromisoformat(pod["metadata"]["creationTimestamp"])
    ready = next(c for c in pod["status"]["conditions"] if c["type"] == "Ready")
    return (datetime.fromisoformat(ready["lastTransitionTime"]) - created).total_seconds()


def start_breakdown(pod: dict[str, Any]) -> str:
    created = datetime.fromisoformat(pod["metadata"]["creationTimestamp"])
    state = pod["status"]["containerStatuses"][0]["state"].get("running") or {}
    started = datetime.fromisoformat(state["startedAt"]) if state.get("startedAt") else created
    return (
        f"{pod['metadata']['name'][-5:]}: container running after "
        f"{(started - created).total_seconds():.0f} s, Ready after {seconds_to_ready(pod):.0f} s"
    )


def replica_caught_up(primary: PostgresServer, replica: PostgresServer) -> bool:
    lsn = primary.psql("SELECT pg_current_wal_lsn()")
    return replica.psql(f"SELECT pg_last_wal_replay_lsn() >= '{lsn}'::pg_lsn") == "t"


def failed_streaks(reads: list[Read]) -> list[tuple[float, float, int]]:
    """(first failed read, first good read after it, failures) for each run of failures."""
    streaks: list[tuple[float, float, int]] = []
    start: float | None = None
    count = 0
    for read in reads:
        if not read.ok:
            start = read.t if start is None else start
            count += 1
        elif start is not None:
            streaks.append((start, read.t, count))
            start, count = None, 0
    if start is not None:
        streaks.append((start, float("inf"), count))
    return streaks


def test_reads_keep_being_answered_from_the_replica_when_the_primary_dies(
    node_cluster: KubeCluster,
    node_namespace: str,
    operator_pod: str,
    primary_and_replica: tuple[PostgresServer, PostgresServer],
) -> None:
    cluster, namespace = node_cluster, node_namespace
    primary, replica = primary_and_replica
    apply(cluster, namespace, instance_documents(image(cluster, "repairgpt-app"), primary, replica))
    wait_for(
        lambda: len(ready_pods(cluster, namespace, SELECTOR)) == 2,
        timeout=180,
        what="2 ready API pods on the primary",
    )
    wait_for(
        lambda: (
            (o := get(cluster, namespace, "rgi", NAME))
            and o.get("status", {}).get("phase") == "Running"
        ),
        timeout=60,
        what="the instance to be Running",
    )
    base = routed_service_url(cluster, namespace, f"{NAME}-api")
    code, hits = http(cluster, "GET", f"{base}/api/v1/guides?q=battery")
    assert code == 200 and hits["data"], (code, hits)
    guide_id = hits["data"][0]["id"]
    # A search is answered from the pod's in-memory index; a guide by id is a database read.
    paths = ["/api/v1/guides?q=battery", f"/api/v1/guides/{guide_id}"]
    wait_for(lambda: replica_caught_up(primary, replica), timeout=30, what="the replica")
    count = "SELECT count(*) FROM repair_guides"
    assert replica.psql(count, DATABASE) == primary.psql(count, DATABASE)

    timeline = EndpointTimeline(cluster, namespace)
    loop = ReadLoop(cluster, base, paths)
    try:
        time.sleep(10)  # a baseline with the primary alive
        killed_at = time.time()
        primary.kill()

        # A write while the switch is under way: a clear 503, never a dropped connection.
        write_code, write_body = http(cluster, "POST", f"{base}/api/v1/chat/sessions")
        print(f"\nwrite {time.time() - killed_at:.1f} s after the kill: {write_code} {write_body}")

        status = wait_for(
            lambda: (
                (o := get(cluster, namespace, "rgi", NAME))
                and (o.get("status") or {}).get("phase") == "FailedOver"
                and o["status"]
            ),
            timeout=60,
            what="the instance to report FailedOver",
        )
        failed_over_after = time.time() - killed_at
        assert status["database"]["active"] == "replica", status

        def rolled_onto_replica() -> list[dict[str, Any]] | None:
            ready = ready_pods(cluster, namespace, SELECTOR)
            done = len(ready) == 2 and all(on_replica(p) for p in ready)
            return ready if done and len(pods(cluster, namespace, SELECTOR)) == 2 else None

        rolled = wait_for(
            rolled_onto_replica,
            timeout=180,
            what="2 ready API pods on the replica in read-only mode (and no old pod left)",
        )
        rolled_after = time.time() - killed_at
        time.sleep(15)  # reads served by the new pods only
        reads = loop.stop()
    finally:
        loop.kill()
        samples = timeline.stop()

    before = [r for r in reads if r.t < killed_at]
    after = [r for r in reads if r.t >= killed_at]
    assert before and all(r.ok for r in before), [r for r in before if not r.ok]
    streaks = [s for s in failed_streaks(reads) if s[0] >= killed_at]
    failed = [r for r in after if not r.ok]
    recovered_after = max((end for _, end, _ in streaks), default=killed_at) - killed_at
    pod_start = max(seconds_to_ready(p) for p in rolled)
    # The probe floor (interval x threshold) plus one pod start; the kill falls anywhere within
    # a probe interval, so the first failed probe comes up to one interval after it.
    target_recovery = PROBE_INTERVAL_SECONDS * (FAILURE_THRESHOLD + 1) + pod_start
    fraction = len(failed) / len(after)
    outcomes: dict[str, int] = {}
    for read in failed:
        key = f"{read.outcome} on {read.path.split('?')[0].rsplit('/', 1)[-1]}"
        outcomes[key] = outcomes.get(key, 0) + 1
    print(
        f"FailedOver {failed_over_after:.1f} s after the kill; pods rolled onto the replica "
        f"{rolled_after:.1f} s after it (slowest new pod {pod_start:.1f} s from creation to "
        f"Ready)\nreads: {len(reads)} ({len(before)} before the kill), failed {len(failed)} "
        f"({len(failed) / len(reads):.1%} of all, {fraction:.1%} of those after the kill): "
        f"{outcomes}\nreads succeed again {recovered_after:.1f} s after the kill (target "
        f"{target_recovery:.1f} s); failure streaks (s after the kill, failures): "
        + ", ".join(f"{s - killed_at:.1f}-{e - killed_at:.1f} ({n})" for s, e, n in streaks)
    )

    print("new pods: " + "; ".join(start_breakdown(p) for p in rolled))
    for at, sample in samples:
        print(f"  {at - killed_at:+6.1f} s  {sample}")

    # The pods run on the replica, read-only.
    for pod in rolled:
        assert on_replica(pod), env_of(pod)
    # Writes are refused clearly, during the switch and after it.
    assert write_code == 503, (write_code, write_body)
    code, body = http(cluster, "POST", f"{base}/api/v1/chat/sessions")
    assert code == 503 and "read-only" in body["type"], (code, body)
    # Reads are answered again, as soon as the target says.
    late = [r for r in after if r.t > killed_at + rolled_after]
    assert late and all(r.ok for r in late), [r for r in late if not r.ok]
    assert recovered_after <= target_recovery, (recovered_after, target_recovery)
    # Reads never notice: the pods on the primary stay in the Service (their /ready turns
    # 'degraded', not unready) and serve database reads from the replica until ready successors
    # on the replica replace them; the pods on the replica serve them from there.
    assert fraction <= TARGET_FAILED_FRACTION, (fraction, outcomes)
    by_id = [r for r in after if "?q=" not in r.path]
    assert by_id and len([r for r in by_id if not r.ok]) <= TARGET_FAILED_FRACTION * len(by_id)
    print(f"all reads failed after the kill: {fraction:.1%} (target {TARGET_FAILED_FRACTION:.0%})")
