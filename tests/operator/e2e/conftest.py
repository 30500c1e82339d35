"""The operator as a real process under the RBAC of deploy/, against the local control plane."""

from __future__ import annotations

import os
import signal
import socket
import subprocess
import sys
import time
import urllib.request
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
import yaml

from tests.conftest import KubeCluster
from tests.operator.e2e.observe import wait_established

REPO_ROOT = Path(__file__).resolve().parents[3]
OPERATOR_NAMESPACE = "repairgpt-system"
OPERATOR_ACCOUNT = "repairgpt-operator"
OPERATOR_COMMAND = Path(sys.executable).parent / "repairgpt-operator"
# Short, so that the tests can observe an idle resync; production uses the 60 s default.
TEST_RESYNC_SECONDS = 3


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port: int = sock.getsockname()[1]
        return port


@pytest.fixture(scope="session")
def installed_crds(k8s_cluster: KubeCluster) -> None:
    for kind in ("repairgptinstance", "repairgptrestore"):
        k8s_cluster.kubectl(
            "apply",
            "--server-side",
            "--force-conflicts",
            "-f",
            str(REPO_ROOT / f"crds/{kind}.yaml"),
        )
        wait_established(k8s_cluster, f"{kind}s.repairgpt.io")


@pytest.fixture(scope="session")
def operator_kubeconfig(
    k8s_cluster: KubeCluster, installed_crds: None, tmp_path_factory: pytest.TempPathFactory
) -> Path:
    """A kubeconfig holding a token of the operator's own ServiceAccount (not admin)."""
    k8s_cluster.kubectl(
        "apply",
        "-f",
        str(REPO_ROOT / "deploy/namespace.yaml"),
        "-f",
        str(REPO_ROOT / "deploy/rbac.yaml"),
    )
    token = k8s_cluster.kubectl(
        "-n", OPERATOR_NAMESPACE, "create", "token", OPERATOR_ACCOUNT, "--duration=4h"
    ).stdout.strip()
    admin = yaml.safe_load(k8s_cluster.kubeconfig.read_text())
    context = next(c for c in admin["contexts"] if c["name"] == admin["current-context"])["context"]
    cluster = next(c for c in admin["clusters"] if c["name"] == context["cluster"])
    config = {
        "apiVersion": "v1",
        "kind": "Config",
        "clusters": [cluster],
        "users": [{"name": OPERATOR_ACCOUNT, "user": {"token": token}}],
        "contexts": [
            {"name": "operator", "context": {"cluster": cluster["name"], "user": OPERATOR_ACCOUNT}}
        ],
        "current-context": "operator",
    }
    path = tmp_path_factory.mktemp("operator") / "kubeconfig"
    path.write_text(yaml.safe_dump(config))
    path.chmod(0o600)
    return path


class OperatorProcess:
    """`repairgpt-operator run` in a subprocess, with its log in a file."""

    def __init__(
        self,
        kubeconfig: Path,
        log_path: Path,
        *,
        resync_seconds: float,
        extra_args: tuple[str, ...] = (),
    ) -> None:
        self.kubeconfig = kubeconfig
        self.log_path = log_path
        self.resync_seconds = resync_seconds
        self.extra_args = extra_args
        self.metrics_port = _free_port()
        self.process: subprocess.Popen[bytes] | None = None

    def start(self) -> OperatorProcess:
        env = {
            **os.environ,
            "KUBECONFIG": str(self.kubeconfig),
            "REPAIRGPT_RESYNC_SECONDS": str(self.resync_seconds),
        }
        log = self.log_path.open("ab")
        self.process = subprocess.Popen(
            [
                str(OPERATOR_COMMAND),
                "run",
                "--metrics-host",
                "127.0.0.1",
                "--metrics-port",
                str(self.metrics_port),
                *self.extra_args,
            ],
            env=env,
            stdout=log,
            stderr=subprocess.STDOUT,
        )
        log.close()
        deadline = time.monotonic() + 30
        while time.monotonic() < deadline:
            if self.process.poll() is not None:
                raise AssertionError(f"operator exited at start:\n{self.log()}")
            try:
                if self.get("/healthz")[0] == 200:
                    return self
            except OSError:
                pass
            time.sleep(0.2)
        raise AssertionError(f"operator never became healthy:\n{self.log()}")

    def get(self, path: str) -> tuple[int, str]:
        url = f"http://127.0.0.1:{self.metrics_port}{path}"
        with urllib.request.urlopen(url, timeout=5) as response:
            return int(response.status), response.read().decode()

    def metric(self, name: str, /, **labels: str) -> float:
        """Sum of the samples of one metric whose labels include `labels`."""
        total = 0.0
        for line in self.get("/metrics")[1].splitlines():
            if line.startswith("#") or not line.startswith(name):
                continue
            head, _, value = line.rpartition(" ")
            sample, _, label_text = head.partition("{")
            if sample != name:
                continue
            if all(f'{k}="{v}"' in label_text for k, v in labels.items()):
                total += float(value)
        return total

    def log(self) -> str:
        return self.log_path.read_text(errors="replace") if self.log_path.exists() else ""

    @property
    def alive(self) -> bool:
        return self.process is not None and self.process.poll() is None

    def kill(self) -> None:
        """SIGKILL: no chance to clean up, as when a node dies."""
        if self.process is not None and self.process.poll() is None:
            self.process.send_signal(signal.SIGKILL)
            self.process.wait(timeout=10)

    def stop(self) -> None:
        if self.process is not None and self.process.poll() is None:
            self.process.terminate()
            try:
                self.process.wait(timeout=15)
            except subprocess.TimeoutExpired:
                self.kill()


@pytest.fixture(scope="module")
def operator(
    operator_kubeconfig: Path, tmp_path_factory: pytest.TempPathFactory
) -> Iterator[OperatorProcess]:
    log_path = tmp_path_factory.mktemp("operator-log") / "operator.log"
    process = OperatorProcess(operator_kubeconfig, log_path, resync_seconds=TEST_RESYNC_SECONDS)
    process.start()
    try:
        yield process
    finally:
        process.stop()
        if "Traceback" in process.log():
            print(process.log()[-5000:])


def apply_manifest(cluster: KubeCluster, namespace: str, manifest: dict[str, Any] | str) -> Any:
    text = manifest if isinstance(manifest, str) else yaml.safe_dump(manifest)
    return cluster.kubectl("-n", namespace, "apply", "-f", "-", input=text, check=False)


def secret_manifest(name: str, data: dict[str, str]) -> dict[str, Any]:
    """An Opaque Secret with `data` as its stringData."""
    return {"apiVersion": "v1", "kind": "Secret", "metadata": {"name": name}, "stringData": data}
