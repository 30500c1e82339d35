"""What clients and platform teams see of RepairGPT on the local cluster's real node.

The operator runs as a pod from its image (installed from deploy/), the API pods run the app
image against real PostgreSQL servers on this machine, and every request is sent to the
instance's Service from inside the node's network namespace. Measured, in one run:

- API pod start: from the pod's creation to its Ready condition (p50/p95 over the rounds),
  watched through the API server;
- maintenance: time from `kubectl patch` until the Service serves the maintenance page (and back
  to the API), and the requests that failed with a connection error during each switch;
- failover as clients see it: the primary is killed during a steady read load; time from the
  kill until reads succeed again, the fraction of reads that failed meanwhile, against the probe
  floor (probeIntervalSeconds x failureThreshold) plus one pod start;
- HPA: time from the start of a load until the HPA asks for more pods and until one more is
  Ready.

    PYTHONPATH=tools python bench/node.py [--rounds 6] [--cluster-dir .cluster-bench]

Prints a table and writes bench/results/node.json.
"""

from __future__ import annotations

import argparse
import json
import sys
import threading
import time
import uuid
from pathlib import Path
from typing import Any

REPO_ROOT = Path(__file__).resolve().parent.parent
sys.path[:0] = [str(REPO_ROOT), str(REPO_ROOT / "tools")]

from harness import save_results  # noqa: E402
from kubernetes import client as k8s_client  # noqa: E402
from kubernetes import config as k8s_config  # noqa: E402
from kubernetes import watch as k8s_watch  # noqa: E402

import devcluster  # noqa: E402
from tests.conftest import KubeCluster  # noqa: E402
from tests.operator.e2e.observe import wait_established  # noqa: E402
from tests.utils.node import apply, image, operator_manifests, routed_service_url, wait_for  # noqa: E402
from tests.utils.servers import PostgresServer  # noqa: E402
from tests.utils.service_load import ServiceLoad  # noqa: E402

RESULTS = REPO_ROOT / "bench" / "results" / "node.json"
SMALL = {"requests": {"cpu": "100m", "memory": "160Mi"}, "limits": {"cpu": "1", "memory": "512Mi"}}
PROBE_INTERVAL, FAILURE_THRESHOLD = 2, 3


def percentile(values: list[float], q: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, round(q * (len(ordered) - 1)))]


class PodClock:
    """Wall-clock creation and Ready times of the pods of a selector, from a watch."""

    def __init__(self, api: k8s_client.CoreV1Api, namespace: str, selector: str) -> None:
        self.created: dict[str, float] = {}
        self.ready: dict[str, float] = {}
        self._stopped = False
        self._watch = k8s_watch.Watch()
        self._thread = threading.Thread(
            target=self._run, args=(api, namespace, selector), daemon=True
        )
        self._thread.start()

    def _run(self, api: k8s_client.CoreV1Api, namespace: str, selector: str) -> None:
        try:
            self._follow(api, namespace, selector)
        except Exception:  # noqa: BLE001 - stop() closes the stream under the watch
            if not self._stopped:
                raise

    def _follow(self, api: k8s_client.CoreV1Api, namespace: str, selector: str) -> None:
        for event in self._watch.stream(
            api.list_namespaced_pod, namespace, label_selector=selector, timeout_seconds=3600
        ):
            pod, now = event["object"], time.monotonic()
            name = pod.metadata.name
            self.created.setdefault(name, now)
            conditions = pod.status.conditions or []
            if name not in self.ready and any(
                c.type == "Ready" and c.status == "True" for c in conditions
            ):
                self.ready[name] = now

    def start_seconds(self, name: str) -> float | None:
        if name in self.ready and name in self.created:
            return self.ready[name] - self.created[name]
        return None

    def stop(self) -> None:
        self._stopped = True
        self._watch.stop()


def instance(name: str, app_image: str, secret: str, **spec: Any) -> dict[str, Any]:
    return {
        "apiVersion": "repairgpt.io/v1alpha1",
        "kind": "RepairGPTInstance",
        "metadata": {"name": name},
        "spec": {
            "image": app_image,
            "resources": SMALL,
            # Every request of the load comes from the node's one address.
            "config": {"rateLimit": {"requests": 0}},
            "database": {"primary": {"secretName": secret, "key": "database-url"}},
            **spec,
        },
    }


def secret(name: str, url: str) -> dict[str, Any]:
    return {
        "apiVersion": "v1",
        "kind": "Secret",
        "metadata": {"name": name},
        "stringData": {"database-url": url},
    }


def rgi(cluster: KubeCluster, namespace: str, name: str) -> dict[str, Any]:
    out = cluster.kubectl("-n", namespace, "get", "rgi", name, "-o", "json").stdout
    found: dict[str, Any] = json.loads(out)
    return found


def is_ready(cluster: KubeCluster, namespace: str, name: str) -> bool:
    status = rgi(cluster, namespace, name).get("status") or {}
    return any(
        c["type"] == "Ready" and c["status"] == "True" for c in status.get("conditions") or []
    )


def first_after(timeline: list[list[Any]], start: float, outcome: str) -> float | None:
    """The first time (in the load's clock) at or after `start` when `outcome` began."""
    for moment, seen in timeline:
        if moment >= start and seen == outcome:
            return float(moment)
    return None


def pod_starts(
    cluster: KubeCluster, api: k8s_client.CoreV1Api, namespace: str, app: str, rounds: int
) -> list[float]:
    selector = "app.kubernetes.io/instance=starts,app.kubernetes.io/component=api"
    clock = PodClock(api, namespace, selector)
    try:
        apply(cluster, namespace, [instance("starts", app, "db", replicas=1)])
        for _ in range(rounds):
            wait_for(lambda: clock.ready, timeout=300, what="a ready pod")
            current = [name for name in clock.ready if name in clock.created]
            victim = current[-1]
            before = set(clock.created)
            cluster.kubectl("-n", namespace, "delete", "pod", victim, "--wait=false")
            fresh = wait_for(
                lambda b=before: [n for n in clock.ready if n not in b],  # type: ignore[misc]
                timeout=300,
                what="a replacement pod to become Ready",
            )
            del fresh
        starts = [s for name in clock.created if (s := clock.start_seconds(name)) is not None]
    finally:
        clock.stop()
    cluster.kubectl("-n", namespace, "delete", "rgi", "starts", "--wait=true", timeout=120)
    return starts


def maintenance_switches(cluster: KubeCluster, namespace: str, app: str) -> dict[str, Any]:
    apply(cluster, namespace, [instance("maint", app, "db", replicas=2)])
    wait_for(lambda: is_ready(cluster, namespace, "maint"), timeout=300, what="instance Ready")
    url = routed_service_url(cluster, namespace, "maint-api") + "/api/v1/guides/1"
    result: dict[str, Any] = {}
    for state, expect in ((True, "503"), (False, "200")):
        with ServiceLoad(cluster, url, rate=20, max_seconds=240) as load:
            started = time.monotonic()
            time.sleep(2)
            patched = time.monotonic() - started
            body = json.dumps({"spec": {"maintenance": {"enabled": state}}})
            cluster.kubectl("-n", namespace, "patch", "rgi", "maint", "--type=merge", "-p", body)
            # Entering keeps the API serving until the page is ready: wait for the phase.
            wait_for(
                lambda s=state: (  # type: ignore[misc]
                    ((rgi(cluster, namespace, "maint").get("status") or {}).get("maintenance")
                     or {}).get("phase", "Off") == ("On" if s else "Off")
                    and (s or is_ready(cluster, namespace, "maint"))
                ),
                timeout=300,
                what=f"maintenance {state}",
            )  # fmt: skip
            time.sleep(4)
        counts = load.stop()
        switched = first_after(counts.timeline, patched, expect)
        result["on" if state else "off"] = {
            "switch_seconds": round(switched - patched, 2) if switched is not None else None,
            "connection_failures": counts.failed,
            "requests": counts.sent,
            "statuses": counts.statuses,
        }
    cluster.kubectl("-n", namespace, "delete", "rgi", "maint", "--wait=true", timeout=120)
    return result


def failover(
    cluster: KubeCluster, namespace: str, app: str, primary: PostgresServer, replica: PostgresServer
) -> dict[str, Any]:
    db = f"f_{uuid.uuid4().hex[:8]}"
    primary.create_database(db)
    wait_for(
        lambda: db in replica.psql("SELECT datname FROM pg_database"),
        timeout=60,
        what="the database on the replica",
    )
    apply(
        cluster,
        namespace,
        [
            secret("fo-primary", primary.pod_url_for(db)),
            secret("fo-replica", replica.pod_url_for(db)),
            instance(
                "fo", app, "fo-primary", replicas=2,
                database={
                    "primary": {"secretName": "fo-primary", "key": "database-url"},
                    "replica": {"secretName": "fo-replica", "key": "database-url"},
                },
                failover={"enabled": True, "probeIntervalSeconds": PROBE_INTERVAL,
                          "failureThreshold": FAILURE_THRESHOLD},
            ),
        ],
    )  # fmt: skip
    wait_for(lambda: is_ready(cluster, namespace, "fo"), timeout=300, what="instance Ready")
    url = routed_service_url(cluster, namespace, "fo-api") + "/api/v1/guides/1"
    with ServiceLoad(cluster, url, rate=20, max_seconds=300) as load:
        started = time.monotonic()
        time.sleep(5)
        killed = time.monotonic() - started
        primary.kill()
        wait_for(
            lambda: (
                (rgi(cluster, namespace, "fo").get("status") or {})
                .get("database", {})
                .get("active")
                == "replica"
            ),
            timeout=180,
            what="the switch to the replica",
        )
        switched = time.monotonic() - started
        wait_for(lambda: is_ready(cluster, namespace, "fo"), timeout=300, what="pods on replica")
        rolled = time.monotonic() - started
        time.sleep(10)
    counts = load.stop()
    failures_after = [m for m, outcome in counts.timeline if m >= killed and outcome != "200"]
    recovered = first_after(counts.timeline, max(failures_after), "200") if failures_after else None
    # The failed reads after the kill: every outcome segment after it that is not a 200.
    return {
        "kill_to_status_switch_seconds": round(switched - killed, 2),
        "kill_to_pods_ready_on_replica_seconds": round(rolled - killed, 2),
        "kill_to_reads_ok_seconds": round(recovered - killed, 2) if recovered else 0.0,
        "reads": counts.sent,
        "failed_reads": counts.failed + sum(n for s, n in counts.statuses.items() if s != "200"),
        "statuses": counts.statuses,
        "connection_failures": counts.connection_failures,
    }


def hpa_reaction(cluster: KubeCluster, namespace: str, app: str) -> dict[str, Any]:
    apply(
        cluster,
        namespace,
        [
            instance(
                "auto", app, "db",
                autoscaling={"enabled": True, "minReplicas": 1, "maxReplicas": 3,
                             "targetCPUUtilizationPercentage": 30},
            )
        ],
    )  # fmt: skip
    wait_for(lambda: is_ready(cluster, namespace, "auto"), timeout=300, what="instance Ready")

    def hpa() -> dict[str, Any]:
        out = cluster.kubectl("-n", namespace, "get", "hpa", "auto-api", "-o", "json").stdout
        found: dict[str, Any] = json.loads(out)
        return found

    wait_for(
        lambda: (hpa().get("status") or {}).get("currentMetrics"),
        timeout=180,
        what="CPU metrics in the HPA",
        every=1,
    )
    url = (
        routed_service_url(cluster, namespace, "auto-api") + "/api/v1/guides?q=battery+replacement"
    )
    with ServiceLoad(cluster, url, rate=60, max_seconds=240):
        started = time.monotonic()
        wait_for(
            lambda: (hpa().get("status") or {}).get("desiredReplicas", 1) > 1,
            timeout=180,
            what="a scale-up",
            every=0.5,
        )
        asked = time.monotonic() - started
        wait_for(
            lambda: (
                (rgi(cluster, namespace, "auto").get("status") or {}).get("readyReplicas", 0) > 1
            ),
            timeout=240,
            what="a second ready pod",
            every=0.5,
        )
        served = time.monotonic() - started
    return {
        "load_to_scale_up_seconds": round(asked, 1),
        "load_to_second_ready_seconds": round(served, 1),
    }


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rounds", type=int, default=6, help="pod starts to time")
    parser.add_argument("--cluster-dir", type=Path, default=REPO_ROOT / ".cluster-bench")
    args = parser.parse_args(argv)

    print(f"starting the local cluster in {args.cluster_dir} ...", flush=True)
    local = devcluster.up(args.cluster_dir)
    cluster = KubeCluster(local.kubeconfig, local.server, local.bin_dir, local)
    api = k8s_client.CoreV1Api(k8s_config.new_client_from_config(str(local.kubeconfig)))
    host = local.network.host_ip
    primary = PostgresServer(pod_host=host).init("wal_level = replica").start()
    replica = PostgresServer(pod_host=host).init_replica_of(primary).start()
    namespace = f"bench-{uuid.uuid4().hex[:6]}"
    try:
        cluster.kubectl("apply", "--server-side", "-f", str(REPO_ROOT / "crds"))
        wait_established(cluster)
        cluster.kubectl("apply", "-f", str(REPO_ROOT / "deploy" / "namespace.yaml"),
                        "-f", str(REPO_ROOT / "deploy" / "rbac.yaml"))  # fmt: skip
        operator = operator_manifests(image(cluster, "repairgpt-operator"), 5)
        cluster.kubectl("apply", "-f", "-", input=operator)
        cluster.kubectl("-n", "repairgpt-system", "rollout", "status",
                        "deployment/repairgpt-operator", "--timeout=300s", timeout=320)  # fmt: skip
        cluster.kubectl("create", "namespace", namespace)
        app = image(cluster, "repairgpt-app")
        database = f"b_{uuid.uuid4().hex[:8]}"
        primary.create_database(database)
        apply(cluster, namespace, [secret("db", primary.pod_url_for(database))])

        print("timing API pod starts ...", flush=True)
        starts = pod_starts(cluster, api, namespace, app, args.rounds)
        print("switching maintenance on and off under load ...", flush=True)
        maintenance = maintenance_switches(cluster, namespace, app)
        print("autoscaling under load ...", flush=True)
        autoscaling = hpa_reaction(cluster, namespace, app)
        print("killing the primary under a read load ...", flush=True)
        switch = failover(cluster, namespace, app, primary, replica)
    finally:
        cluster.kubectl("delete", "namespace", namespace, "--wait=false", check=False)
        # The cluster's state outlives this run: an operator left behind would reconcile what
        # the next benchmark creates.
        cluster.kubectl("-n", "repairgpt-system", "delete", "deployment", "repairgpt-operator",
                        "--ignore-not-found", check=False)  # fmt: skip
        replica.cleanup()
        primary.cleanup()
        devcluster.down(args.cluster_dir)

    start_p50, start_p95 = percentile(starts, 0.5), percentile(starts, 0.95)
    floor = PROBE_INTERVAL * FAILURE_THRESHOLD + start_p50
    failed_fraction = switch["failed_reads"] / max(1, switch["reads"])
    on, off = maintenance["on"], maintenance["off"]
    reads = f"{switch['failed_reads']} of {switch['reads']} ({failed_fraction:.2%})"
    rows = [
        ("API pod start to Ready, p50 / p95 (s)", f"{start_p50:.1f} / {start_p95:.1f}"),
        ("maintenance on: patch to maintenance page (s)", on["switch_seconds"]),
        ("maintenance on: connection failures", f"{on['connection_failures']} of {on['requests']}"),
        ("maintenance off: patch to API again (s)", off["switch_seconds"]),
        (
            "maintenance off: connection failures",
            f"{off['connection_failures']} of {off['requests']}",
        ),
        ("failover: kill to status switch (s)", switch["kill_to_status_switch_seconds"]),
        ("failover: kill to reads answered again (s)", switch["kill_to_reads_ok_seconds"]),
        ("failover: probe floor + one pod start (s)", f"{floor:.1f}"),
        ("failover: reads failed", reads),
        ("HPA: load to scale-up decision (s)", autoscaling["load_to_scale_up_seconds"]),
        ("HPA: load to a second ready pod (s)", autoscaling["load_to_second_ready_seconds"]),
    ]
    width = max(len(r[0]) for r in rows)
    print()
    for label, value in rows:
        print(f"{label:<{width}}  {value}")
    save_results(
        RESULTS,
        {
            "pod_start_seconds": {"p50": start_p50, "p95": start_p95, "samples": starts},
            "maintenance": maintenance,
            "failover": {
                **switch,
                "failed_fraction": failed_fraction,
                "probe_floor_plus_pod_start_seconds": floor,
                "recovery_over_floor": switch["kill_to_reads_ok_seconds"] / floor,
            },
            "hpa": autoscaling,
        },
    )
    return 0


if __name__ == "__main__":
    sys.exit(main())
