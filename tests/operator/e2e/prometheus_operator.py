"""Installs and removes the prometheus-operator CRDs (ServiceMonitor, PodMonitor,
PrometheusRule) in the test cluster, from tools/prometheus-operator-crds/fetch.sh."""

from __future__ import annotations

import subprocess
import time
from pathlib import Path

from tests.operator.e2e.conftest import REPO_ROOT
from tests.operator.e2e.observe import Kubectl

FETCH = REPO_ROOT / "tools" / "prometheus-operator-crds" / "fetch.sh"
CRD_NAMES = tuple(
    f"{plural}.monitoring.coreos.com"
    for plural in ("servicemonitors", "podmonitors", "prometheusrules")
)


def crd_folder() -> Path:
    """The cached CRD files (fetched through the Go module proxy on first use)."""
    result = subprocess.run([str(FETCH)], capture_output=True, text=True, check=False, timeout=600)
    assert result.returncode == 0, result.stderr
    return Path(result.stdout.strip().splitlines()[-1])


def install(cluster: Kubectl) -> None:
    folder = crd_folder()
    for path in sorted(folder.glob("monitoring.coreos.com_*.yaml")):
        cluster.kubectl("apply", "--server-side", "--force-conflicts", "-f", str(path))
    for name in CRD_NAMES:
        wait_established(cluster, name)


def wait_established(cluster: Kubectl, name: str, timeout: float = 60.0) -> None:
    """Wait for a CRD to be served. `kubectl wait` fails at once, rather than waiting, while a
    CRD just created has no conditions yet ("accessor error: <nil>"): it is asked again."""
    deadline = time.monotonic() + timeout
    while True:
        result = cluster.kubectl(
            "wait", "--for=condition=Established", f"crd/{name}", f"--timeout={timeout:.0f}s",
            check=False,
        )  # fmt: skip
        if result.returncode == 0:
            return
        assert time.monotonic() < deadline, f"crd/{name} not Established: {result.stderr}"
        time.sleep(0.5)


def uninstall(cluster: Kubectl) -> None:
    cluster.kubectl(
        "delete", "crd", *CRD_NAMES, "--ignore-not-found", "--wait=true", "--timeout=120s"
    )
