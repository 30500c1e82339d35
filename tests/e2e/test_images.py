"""tools/images/build.sh builds the dev cluster's images and loads them into a real containerd."""

from __future__ import annotations

import os
import shutil
import subprocess
import tempfile
import time
from collections.abc import Iterator
from pathlib import Path

import pytest

REPO_ROOT = Path(__file__).resolve().parents[2]
BUILD = REPO_ROOT / "tools" / "images" / "build.sh"
VERSION = "0.1.0"
REFS = [
    "localhost/repairgpt-pause:3.10",
    "localhost/repairgpt-python-standin:bookworm",
    f"localhost/repairgpt-app:{VERSION}",
    f"localhost/repairgpt-operator:{VERSION}",
]
TOOLS = ["buildah", "mmdebstrap", "gcc", "containerd", "ctr", "runc"]

pytestmark = [
    pytest.mark.slow,
    pytest.mark.skipif(
        os.geteuid() != 0 or any(shutil.which(t) is None for t in TOOLS),
        reason=f"needs root and {', '.join(TOOLS)}",
    ),
]


class Containerd:
    """A containerd of its own, so the test never touches the machine's or the dev cluster's."""

    def __init__(self, base: Path, socket_dir: Path) -> None:
        self.base = base
        self.address = str(socket_dir / "c.sock")
        self.config = base / "config.toml"
        self.process: subprocess.Popen[bytes] | None = None

    def start(self) -> Containerd:
        # Only the image and task services are needed; the CRI plugin wants settings this
        # machine cannot give it (OOM score adjustment), and nothing here speaks CRI.
        self.config.write_text(
            f"""version = 2
root = "{self.base / "root"}"
state = "{self.base / "state"}"
disabled_plugins = ["io.containerd.grpc.v1.cri"]

[grpc]
  address = "{self.address}"

[ttrpc]
  address = "{self.address}.ttrpc"

[plugins."io.containerd.internal.v1.opt"]
  path = "{self.base / "opt"}"
"""
        )
        log = (self.base / "containerd.log").open("wb")
        self.process = subprocess.Popen(
            ["containerd", "--config", str(self.config)],
            stdout=log,
            stderr=subprocess.STDOUT,
        )
        deadline = time.monotonic() + 30
        while time.monotonic() < deadline:
            if self.process.poll() is not None:
                raise RuntimeError(f"containerd exited: {self.log_tail()}")
            if self.ctr("version", check=False).returncode == 0:
                return self
            time.sleep(0.2)
        raise RuntimeError(f"containerd did not answer within 30 s: {self.log_tail()}")

    def ctr(self, *args: str, check: bool = True) -> subprocess.CompletedProcess[str]:
        return subprocess.run(
            ["ctr", "--address", self.address, "--namespace", "k8s.io", *args],
            capture_output=True,
            text=True,
            timeout=300,
            check=check,
        )

    def image_refs(self) -> set[str]:
        return set(self.ctr("images", "ls", "--quiet").stdout.split())

    def stop(self) -> None:
        if self.process is not None and self.process.poll() is None:
            self.process.terminate()
            try:
                self.process.wait(timeout=30)
            except subprocess.TimeoutExpired:
                self.process.kill()
                self.process.wait()
        # Snapshots of a container that did not exit cleanly would stay mounted under root/.
        mounts = subprocess.run(
            ["findmnt", "--list", "--noheadings", "--output", "TARGET"],
            capture_output=True,
            text=True,
            check=False,
        ).stdout.split()
        for target in sorted(m for m in mounts if m.startswith(str(self.base)))[::-1]:
            subprocess.run(["umount", "--lazy", target], check=False)
        # The imported images take a few GB; pytest would keep them with its last temp folders.
        shutil.rmtree(self.base / "root", ignore_errors=True)
        shutil.rmtree(self.base / "state", ignore_errors=True)

    def log_tail(self) -> str:
        return (self.base / "containerd.log").read_text(errors="replace")[-2000:]


@pytest.fixture
def containerd(tmp_path: Path) -> Iterator[Containerd]:
    # A unix socket path must stay under 108 bytes; pytest's tmp_path can be longer than that.
    socket_dir = Path(tempfile.mkdtemp(prefix="rgi-", dir="/tmp"))
    server = Containerd(tmp_path, socket_dir)
    try:
        yield server.start()
    finally:
        server.stop()
        shutil.rmtree(socket_dir, ignore_errors=True)


def run_build(*args: str) -> subprocess.CompletedProcess[str]:
    result = subprocess.run(
        ["bash", str(BUILD), *args],
        capture_output=True,
        text=True,
        timeout=1800,
        check=False,
    )
    assert result.returncode == 0, result.stderr[-4000:]
    return result


@pytest.mark.timeout(2400)
def test_build_loads_runnable_non_root_images_and_a_second_build_reuses_them(
    containerd: Containerd,
) -> None:
    first = run_build("--load", containerd.address)

    assert first.stdout.split()[-len(REFS) :] == REFS
    assert set(REFS) <= containerd.image_refs()

    app = f"localhost/repairgpt-app:{VERSION}"
    # No user is given to ctr (its run has no --user): the image's own configuration must
    # already make the process non-root.
    uid_gid = "import os; print(os.getuid(), os.getgid())"
    whoami = containerd.ctr("run", "--rm", app, "rgi-whoami", "python", "-c", uid_gid)
    assert whoami.stdout.split() == ["10001", "10001"]
    help_ = containerd.ctr("run", "--rm", app, "rgi-help", "repairgpt", "--help")
    assert "backup" in help_.stdout

    second = run_build("--load", containerd.address)

    progress = [line for line in second.stderr.splitlines() if line.startswith("[images] ")]
    for ref in REFS:
        assert any(line.startswith(f"[images] {ref}: cached") for line in progress)
        assert any(line.startswith(f"[images] {ref}: already in containerd") for line in progress)
    assert not [line for line in progress if line.endswith(": built")]
    assert second.stdout.split()[-len(REFS) :] == REFS
