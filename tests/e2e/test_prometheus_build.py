"""tools/prometheus/build.sh: the pinned Prometheus and promtool, static, named by their version."""

from __future__ import annotations

import re
import subprocess
from pathlib import Path

from tests.utils.prometheus import BUILD_SCRIPT, prometheus_bin_dir

GO_MOD = BUILD_SCRIPT.parent / "go.mod"


def _pinned_release() -> str:
    """Prometheus 3.x.y of the Go module version in go.mod (v0.3xx.y)."""
    found = re.search(r"github\.com/prometheus/prometheus v0\.(\d+)\.(\d+)", GO_MOD.read_text())
    assert found, "go.mod pins no github.com/prometheus/prometheus"
    return f"3.{int(found.group(1)) - 300}.{found.group(2)}"


def _is_static(binary: Path) -> bool:
    """No ELF program header asks for a dynamic loader (CGO_ENABLED=0)."""
    result = subprocess.run(
        ["readelf", "--program-headers", str(binary)], capture_output=True, text=True, check=True
    )
    return "INTERP" not in result.stdout


def test_the_binaries_are_cached_under_their_version_and_report_it() -> None:
    folder = prometheus_bin_dir()
    release = _pinned_release()
    assert folder.parent.name == GO_MOD.read_text().split("prometheus/prometheus ")[1].split()[0]
    for name in ("prometheus", "promtool"):
        binary = folder / name
        version = subprocess.run(
            [str(binary), "--version"], capture_output=True, text=True, timeout=30, check=True
        )
        assert f"version {release} " in version.stdout + version.stderr, version
        assert _is_static(binary), f"{name} is linked dynamically"


def test_a_second_run_rebuilds_nothing() -> None:
    folder = prometheus_bin_dir()
    before = {name: (folder / name).stat().st_mtime_ns for name in ("prometheus", "promtool")}
    result = subprocess.run(
        ["bash", str(BUILD_SCRIPT)], capture_output=True, text=True, timeout=120, check=True
    )
    assert Path(result.stdout.strip()) == folder
    assert "is cached in" in result.stderr
    assert {n: (folder / n).stat().st_mtime_ns for n in before} == before
