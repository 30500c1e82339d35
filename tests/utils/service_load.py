"""A bounded stream of requests to a Service, sent from inside the node, that counts the requests
that never got an HTTP answer (refused, reset, timed out) apart from the HTTP statuses."""

from __future__ import annotations

import json
import signal
import subprocess
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any
from urllib.parse import urlsplit

if TYPE_CHECKING:
    from tests.conftest import KubeCluster

# Runs with the machine's python3 inside the node's network namespace: one new connection per
# request (as most clients of a Service do), ~`rate` requests a second, until SIGTERM or
# `seconds` have passed; then one JSON line. `timeline` keeps each change of outcome.
LOAD_SCRIPT = r"""
import http.client, json, signal, sys, time

host, port, path = sys.argv[1], int(sys.argv[2]), sys.argv[3]
seconds, rate = float(sys.argv[4]), float(sys.argv[5])
stopping = []
signal.signal(signal.SIGTERM, lambda *_: stopping.append(1))
start = time.monotonic()
statuses, failures, timeline, last = {}, {}, [], None
while not stopping and time.monotonic() - start < seconds:
    began = time.monotonic()
    try:
        connection = http.client.HTTPConnection(host, port, timeout=2)
        connection.request("GET", path, headers={"Accept": "application/json"})
        response = connection.getresponse()
        response.read()
        connection.close()
        outcome = str(response.status)
        statuses[outcome] = statuses.get(outcome, 0) + 1
    except (OSError, http.client.HTTPException) as exc:
        outcome = type(exc).__name__
        failures[outcome] = failures.get(outcome, 0) + 1
    if outcome != last:
        timeline.append([round(began - start, 2), outcome])
        last = outcome
    time.sleep(max(0.0, 1 / rate - (time.monotonic() - began)))
print(json.dumps({"seconds": round(time.monotonic() - start, 1), "statuses": statuses,
                  "connection_failures": failures, "timeline": timeline}))
"""


@dataclass(frozen=True)
class LoadCounts:
    seconds: float
    statuses: dict[str, int]
    connection_failures: dict[str, int]
    timeline: list[list[Any]] = field(default_factory=list)

    @property
    def failed(self) -> int:
        return sum(self.connection_failures.values())

    @property
    def sent(self) -> int:
        return self.failed + sum(self.statuses.values())


class ServiceLoad:
    """Requests to `url` (a Service URL and path) from inside the node, while a change happens.

    Use as a context manager; `counts` holds the result after the block (or after `stop()`).
    """

    def __init__(
        self, cluster: KubeCluster, url: str, *, rate: float = 20, max_seconds: float = 240
    ) -> None:
        parts = urlsplit(url)
        path = parts.path + (f"?{parts.query}" if parts.query else "")
        self.args = [
            "ip", "netns", "exec", cluster.node.network.netns, "python3", "-c", LOAD_SCRIPT,
            parts.hostname or "", str(parts.port or 80), path or "/", str(max_seconds), str(rate),
        ]  # fmt: skip
        self.max_seconds = max_seconds
        self.process: subprocess.Popen[str] | None = None
        self.counts: LoadCounts | None = None

    def __enter__(self) -> ServiceLoad:
        self.process = subprocess.Popen(
            self.args, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True
        )
        return self

    def __exit__(self, *exc_info: object) -> None:
        self.stop()

    def stop(self) -> LoadCounts:
        if self.counts is not None:
            return self.counts
        assert self.process is not None, "the load was not started"
        self.process.send_signal(signal.SIGTERM)
        out, err = self.process.communicate(timeout=30)
        lines = out.strip().splitlines()
        assert lines, f"the load script printed nothing (exit {self.process.returncode}): {err}"
        self.counts = LoadCounts(**json.loads(lines[-1]))
        return self.counts
