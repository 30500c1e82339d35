"""Prometheus metrics of the operator and the HTTP endpoint that serves them with /healthz."""

from __future__ import annotations

import threading
import time
from collections.abc import Iterator
from dataclasses import dataclass
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

from prometheus_client import (
    CONTENT_TYPE_LATEST,
    REGISTRY,
    Counter,
    Gauge,
    Histogram,
    generate_latest,
)
from prometheus_client.core import GaugeMetricFamily
from prometheus_client.registry import Collector

RECONCILIATIONS = Counter(
    "repairgpt_operator_reconciliations_total",
    "Reconciliations of RepairGPTInstances by trigger and result "
    "(changed: something was written; unchanged: nothing to do; error: the API refused).",
    ["trigger", "result"],
)
RECONCILE_DURATION = Histogram(
    "repairgpt_operator_reconcile_duration_seconds",
    "Wall time of one reconciliation of one instance.",
    ["trigger"],
    buckets=(0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30),
)
MANAGED_INSTANCES = Gauge(
    "repairgpt_operator_managed_instances",
    "RepairGPTInstances the operator currently watches.",
)
CHILD_WRITES = Counter(
    "repairgpt_operator_child_writes_total",
    "Writes of child objects by kind and action (apply, delete).",
    ["kind", "action"],
)

FAILOVERS = Counter(
    "repairgpt_operator_failovers_total",
    "Switches of the API between databases: to_replica (failover) and to_primary (failback).",
    ["direction"],
)
PRIMARY_PROBES = Counter(
    "repairgpt_operator_primary_probes_total",
    "Probes of primary databases by result (ok, failed).",
    ["result"],
)
MAINTENANCE_TRANSITIONS = Counter(
    "repairgpt_operator_maintenance_transitions_total",
    "Maintenance phase changes of RepairGPTInstances, by the phase entered (On, Exiting, Off).",
    ["phase"],
)
STATUS_WRITES = Counter(
    "repairgpt_operator_status_writes_total",
    "Status patches of RepairGPTInstances by outcome (written, conflict: the instance had "
    "changed since it was read and the status was recomputed).",
    ["outcome"],
)
API_POD_LISTS = Counter(
    "repairgpt_operator_api_pod_lists_total",
    "Lists of an instance's API pods for the reasons of the Ready condition: when the pod watch "
    "does not hold as many running pods as the API Deployment counts (at start, or while an "
    "event is on its way).",
)
BACKUP_LAST_SUCCESS = Gauge(
    "repairgpt_operator_backup_last_success_timestamp_seconds",
    "Unix time of the newest successful backup of an instance.",
    ["namespace", "name"],
)
BACKUP_LAST_SIZE = Gauge(
    "repairgpt_operator_backup_last_size_bytes",
    "Size in bytes of the newest successful backup of an instance (compressed dump).",
    ["namespace", "name"],
)
BACKUP_LAST_VERIFIED = Gauge(
    "repairgpt_operator_backup_last_verified_timestamp_seconds",
    "Unix time of the newest successful verification (restore test) of an instance's backups.",
    ["namespace", "name"],
)
RESTORES = Counter(
    "repairgpt_operator_restores_total",
    "Finished RepairGPTRestores by outcome (succeeded, failed).",
    ["outcome"],
)
BACKUP_JOB_DURATION = Histogram(
    "repairgpt_operator_backup_job_duration_seconds",
    "Wall time of finished backup Jobs (start to end) by outcome (succeeded, failed).",
    ["outcome"],
    buckets=(10, 30, 60, 120, 300, 600, 1200, 1800, 3600, 7200, 10800),
)

WORK_QUEUE_DEPTH = Gauge(
    "repairgpt_operator_work_queue_depth",
    "Instances waiting for a coalesced refresh, by queue (status: API Deployment changes; "
    "backup: Job changes).",
    ["queue"],
)

RESYNCS = Counter(
    "repairgpt_operator_resyncs",
    "Periodic resyncs of an instance that ran, by outcome (done, failed).",
    ["outcome"],
)
RESYNC_LAG = Gauge(
    "repairgpt_operator_resync_lag_seconds",
    "How long the most overdue instance has waited for its periodic resync; above the resync "
    "interval, the operator cannot keep the interval.",
)

INSTANCE_PHASES = ("Running", "Progressing", "Maintenance", "FailedOver", "Degraded")
CONDITION_STATUSES = ("True", "False", "Unknown")


@dataclass(frozen=True)
class InstanceSnapshot:
    """What the operator last computed for one instance, as the per-instance metrics show it
    (None: not applicable, e.g. backups switched off: the series is left out)."""

    phase: str | None = None
    conditions: tuple[tuple[str, str], ...] = ()  # (type, status)
    backup_last_failed: bool | None = None
    backup_rpo_deadline: float | None = None  # Unix time the newest backup stops being recent
    verification_failed: bool | None = None
    failed_over: bool = False
    maintenance_since: float | None = None  # Unix time maintenance mode began


# (metric name, help) of every per-instance gauge; the labels are namespace and name (not
# `instance`, which Prometheus gives every scraped series).
INSTANCE_GAUGES = {
    "phase": ("repairgpt_instance_phase", "1 for the current phase of an instance, else 0."),
    "condition": (
        "repairgpt_instance_condition",
        "1 for the current status of each condition of an instance, else 0.",
    ),
    "backup_last_failed": (
        "repairgpt_instance_backup_last_failed",
        "1 when the newest finished backup of an instance failed.",
    ),
    "backup_rpo_deadline": (
        "repairgpt_instance_backup_rpo_deadline_timestamp_seconds",
        "Unix time when the newest successful backup becomes older than the RPO window (two "
        "scheduled runs).",
    ),
    "verification_failed": (
        "repairgpt_instance_backup_verification_failed",
        "1 when the newest verification (restore test) of the backups failed.",
    ),
    "failed_over": (
        "repairgpt_instance_failed_over",
        "1 while the API of an instance uses the replica database.",
    ),
    "maintenance_since": (
        "repairgpt_instance_maintenance_since_timestamp_seconds",
        "Unix time maintenance mode began (present only while it is on).",
    ),
    "failures": (
        "repairgpt_operator_instance_consecutive_failures",
        "Reconciliations of an instance that failed in a row (0 after a success).",
    ),
}


class InstanceMetrics(Collector):
    """Per-instance gauges built at scrape time from the last snapshot of each instance, so
    that forgetting an instance removes all of its series at once."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._snapshots: dict[tuple[str, str], InstanceSnapshot] = {}
        self._failures: dict[tuple[str, str], int] = {}

    def record(self, namespace: str, name: str, snapshot: InstanceSnapshot) -> None:
        with self._lock:
            self._snapshots[namespace, name] = snapshot

    def count_reconciliation(self, namespace: str, name: str, *, failed: bool) -> None:
        with self._lock:
            key = (namespace, name)
            self._failures[key] = self._failures.get(key, 0) + 1 if failed else 0

    def forget(self, namespace: str, name: str) -> None:
        """Drop every series of a deleted instance (the backup gauges too)."""
        with self._lock:
            self._snapshots.pop((namespace, name), None)
            self._failures.pop((namespace, name), None)
        for gauge in (BACKUP_LAST_SUCCESS, BACKUP_LAST_SIZE, BACKUP_LAST_VERIFIED):
            try:
                gauge.remove(namespace, name)
            except KeyError:
                pass

    def describe(self) -> Iterator[GaugeMetricFamily]:
        for name, help_text in INSTANCE_GAUGES.values():
            yield GaugeMetricFamily(name, help_text)

    def collect(self) -> Iterator[GaugeMetricFamily]:
        with self._lock:
            snapshots = dict(self._snapshots)
            failures = dict(self._failures)
        families = {
            key: GaugeMetricFamily(
                name, help_text, labels=["namespace", "name", *_EXTRA_LABELS.get(key, ())]
            )
            for key, (name, help_text) in INSTANCE_GAUGES.items()
        }
        for (namespace, name), snapshot in sorted(snapshots.items()):
            _add_snapshot(families, [namespace, name], snapshot)
        for (namespace, name), count in sorted(failures.items()):
            families["failures"].add_metric([namespace, name], count)
        yield from families.values()


_EXTRA_LABELS = {"phase": ("phase",), "condition": ("type", "status")}


def _add_snapshot(
    families: dict[str, GaugeMetricFamily], labels: list[str], snapshot: InstanceSnapshot
) -> None:
    if snapshot.phase is not None:
        for phase in INSTANCE_PHASES:
            families["phase"].add_metric([*labels, phase], float(phase == snapshot.phase))
    for type_, status in snapshot.conditions:
        for candidate in CONDITION_STATUSES:
            families["condition"].add_metric(
                [*labels, type_, candidate], float(candidate == status)
            )
    optional = {
        "backup_last_failed": snapshot.backup_last_failed,
        "backup_rpo_deadline": snapshot.backup_rpo_deadline,
        "verification_failed": snapshot.verification_failed,
        "maintenance_since": snapshot.maintenance_since,
    }
    for key, value in optional.items():
        if value is not None:
            families[key].add_metric(labels, float(value))
    families["failed_over"].add_metric(labels, float(snapshot.failed_over))


INSTANCES = InstanceMetrics()
REGISTRY.register(INSTANCES)
LEADER = Gauge(
    "repairgpt_operator_leader",
    "1 on the replica that holds the leader Lease and acts (or runs without leader election), "
    "0 on a standby.",
)
LEADER_TRANSITIONS = Counter(
    "repairgpt_operator_leader_transitions_total",
    "Changes of this replica's leadership: acquired, lost (renewal failed: the process exits), "
    "released (on shutdown).",
    ["transition"],
)

# The event loop stamps this regularly; /healthz fails when it stops (a wedged operator).
HEARTBEAT_TIMEOUT_SECONDS = 60.0
_last_heartbeat = time.monotonic()


def heartbeat() -> None:
    """Record that the operator's event loop is alive."""
    global _last_heartbeat
    _last_heartbeat = time.monotonic()


def is_alive(now: float | None = None) -> bool:
    """Whether the event loop has stamped a heartbeat recently."""
    current = time.monotonic() if now is None else now
    return current - _last_heartbeat < HEARTBEAT_TIMEOUT_SECONDS


def record_reconciliation(
    trigger: str, *, wrote: bool, failed: bool, duration_seconds: float
) -> None:
    """Count one reconciliation and observe its duration."""
    result = "error" if failed else ("changed" if wrote else "unchanged")
    RECONCILIATIONS.labels(trigger=trigger, result=result).inc()
    RECONCILE_DURATION.labels(trigger=trigger).observe(duration_seconds)


class _Handler(BaseHTTPRequestHandler):
    def do_GET(self) -> None:  # noqa: N802 (the http.server API)
        path = self.path.split("?", 1)[0]
        if path == "/metrics":
            self._send(200, generate_latest(), CONTENT_TYPE_LATEST)
        elif path in ("/healthz", "/livez", "/readyz"):
            if is_alive():
                self._send(200, b"ok\n", "text/plain")
            else:
                self._send(503, b"event loop stalled\n", "text/plain")
        else:
            self._send(404, b"not found\n", "text/plain")

    def _send(self, code: int, body: bytes, content_type: str) -> None:
        self.send_response(code)
        self.send_header("Content-Type", content_type)
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)

    def log_message(self, format: str, *args: object) -> None:  # noqa: A002
        # Probes every few seconds would drown the operator's own log.
        return


def serve(host: str, port: int) -> ThreadingHTTPServer:
    """Serve /metrics and /healthz from a daemon thread; returns the server (port 0 = any)."""
    server = ThreadingHTTPServer((host, port), _Handler)
    server.daemon_threads = True
    thread = threading.Thread(target=server.serve_forever, name="metrics", daemon=True)
    thread.start()
    return server
