"""Prometheus metrics of the operator and the HTTP endpoint that serves them with /healthz."""

from __future__ import annotations

import threading
import time
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

from prometheus_client import CONTENT_TYPE_LATEST, Counter, Gauge, Histogram, generate_latest

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
