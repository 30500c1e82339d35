"""`repairgpt-operator dev-cluster up/status/down` as a user runs it."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pytest

from repairgpt_operator import devcluster


def cli(*args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "repairgpt_operator.cli", *args],
        capture_output=True,
        text=True,
        timeout=300,
        check=False,
    )


@pytest.mark.cluster
@pytest.mark.slow
def test_up_prints_the_kubeconfig_and_down_leaves_no_process(tmp_path: Path) -> None:
    state = tmp_path / "cluster"
    try:
        started = cli("dev-cluster", "up", "--dir", str(state))
        assert started.returncode == 0, started.stderr
        assert f"export KUBECONFIG={state / 'kubeconfig'}" in started.stdout
        assert (state / "kubeconfig").exists()

        status = cli("dev-cluster", "status", "--dir", str(state))
        assert status.returncode == 0
        pids = [int(line.split("pid ")[1].rstrip(")")) for line in status.stdout.splitlines()]
        assert len(pids) == 3, status.stdout

        # `up` again reuses the running control plane instead of starting a second one.
        again = cli("dev-cluster", "up", "--dir", str(state))
        assert again.returncode == 0
        assert cli("dev-cluster", "status", "--dir", str(state)).stdout == status.stdout
    finally:
        stopped = cli("dev-cluster", "down", "--dir", str(state))
    assert stopped.returncode == 0
    assert "kube-apiserver" in stopped.stdout
    for pid in pids:
        assert not Path(f"/proc/{pid}").exists() or _is_zombie(pid), f"pid {pid} still runs"
    after = cli("dev-cluster", "status", "--dir", str(state))
    assert after.returncode == 3
    assert "running" not in after.stdout


def _is_zombie(pid: int) -> bool:
    try:
        return Path(f"/proc/{pid}/stat").read_text().split()[2] == "Z"
    except OSError:
        return True


def test_status_of_a_folder_that_never_ran_says_stopped(tmp_path: Path) -> None:
    assert devcluster.status(tmp_path) == dict.fromkeys(devcluster.COMPONENTS, "stopped")
    assert devcluster.down(tmp_path) == []


def test_a_preset_binary_folder_missing_binaries_is_a_clear_error(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("REPAIRGPT_K8S_BIN", str(tmp_path))
    with pytest.raises(devcluster.DevClusterError, match="lacks etcd"):
        devcluster.ensure_binaries()
