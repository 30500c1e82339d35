"""What the operator benchmarks share: free ports, kubectl, and the operator as a process."""

from __future__ import annotations

import os
import re
import socket
import subprocess
import sys
import time
import urllib.request
from pathlib import Path


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port: int = sock.getsockname()[1]
        return port


def cpu_seconds(pid: int) -> float:
    """User plus system CPU time a process has used so far (Linux /proc)."""
    fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


def kubectl(binary: str, kubeconfig: Path, *args: str, stdin: str | None = None) -> str:
    """Run kubectl and return its output; raise with its error message when it fails."""
    result = subprocess.run(
        [binary, "--kubeconfig", str(kubeconfig), *args],
        input=stdin,
        capture_output=True,
        text=True,
        check=False,
    )
    if result.returncode != 0:
        raise RuntimeError(f"kubectl {' '.join(args)}: {result.stderr}")
    return result.stdout


def wait_established(binary: str, kubeconfig: Path, *crds: str, timeout: float = 60.0) -> None:
    """Wait for the named CRDs to be served; asked again while `kubectl wait` fails at once,
    as it does while a CRD just created has no conditions yet."""
    deadline = time.monotonic() + timeout
    while True:
        try:
            kubectl(binary, kubeconfig, "wait", "--for=condition=Established",
                    *(f"crd/{name}" for name in crds), f"--timeout={timeout:.0f}s")  # fmt: skip
            return
        except RuntimeError:
            if time.monotonic() > deadline:
                raise
            time.sleep(0.5)


class OperatorProcess:
    """`repairgpt-operator run` for one namespace, logging to a file; ready when /metrics is."""

    def __init__(
        self,
        kubeconfig: Path,
        namespace: str,
        log_path: Path,
        *,
        env: dict[str, str] | None = None,
    ) -> None:
        self.metrics_port = free_port()
        self.log_path = log_path
        command = Path(sys.executable).parent / "repairgpt-operator"
        self.log = log_path.open("wb")
        self.process = subprocess.Popen(
            [str(command), "run", "--namespace", namespace, "--metrics-host", "127.0.0.1",
             "--metrics-port", str(self.metrics_port)],
            env={**os.environ, "KUBECONFIG": str(kubeconfig), **(env or {})},
            stdout=self.log,
            stderr=subprocess.STDOUT,
        )  # fmt: skip
        deadline = time.monotonic() + 60
        while time.monotonic() < deadline:
            if self.process.poll() is not None:
                raise RuntimeError(f"operator exited; see {log_path}")
            try:
                self.metrics()
                return
            except OSError:
                time.sleep(0.2)
        raise RuntimeError("operator did not start")

    def metrics(self) -> str:
        url = f"http://127.0.0.1:{self.metrics_port}/metrics"
        with urllib.request.urlopen(url, timeout=5) as response:
            return str(response.read().decode())

    def metric(self, name: str, /, **labels: str) -> float:
        """The sum of a metric's samples that carry the given labels."""
        total = 0.0
        for line in self.metrics().splitlines():
            if not line.startswith(name + "{") and not line.startswith(name + " "):
                continue
            head, _, value = line.rpartition(" ")
            if all(f'{k}="{v}"' in head for k, v in labels.items()):
                total += float(value)
        return total

    def peak_rss_mb(self) -> float:
        status = Path(f"/proc/{self.process.pid}/status").read_text()
        match = re.search(r"VmHWM:\s+(\d+) kB", status)
        return int(match.group(1)) / 1024 if match else float("nan")

    def cpu_seconds(self) -> float:
        """User plus system CPU time the operator process has used so far."""
        return cpu_seconds(self.process.pid)

    def stop(self) -> None:
        self.process.terminate()
        try:
            self.process.wait(timeout=20)
        except subprocess.TimeoutExpired:
            self.process.kill()
        self.log.close()


def save_results(path: Path, result: dict[str, object]) -> None:
    """Write a benchmark's JSON, stamped with the machine and the time, and say where."""
    import json
    import platform

    stamped = {
        **result,
        "machine": {"cpus": os.cpu_count(), "python": platform.python_version()},
        "time": time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime()),
    }
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(json.dumps(stamped, indent=2) + "\n")
    print(f"\nwrote {path}")
