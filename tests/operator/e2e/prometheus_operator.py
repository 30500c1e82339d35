"""Installs and removes the prometheus-operator CRDs (ServiceMonitor, PodMonitor,
PrometheusRule) in the test cluster, from tools/prometheus-operator-crds/fetch.sh."""

from __future__ import annotations

import subprocess
from pathlib import Path

from tests.operator.e2e.conftest import REPO_ROOT
from tests.operator.e2e.observe import Kubectl, wait_established

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
    wait_established(cluster, *CRD_NAMES)


def uninstall(cluster: Kubectl) -> None:
    cluster.kubectl(
        "delete", "crd", *CRD_NAMES, "--ignore-not-found", "--wait=true", "--timeout=120s"
    )
