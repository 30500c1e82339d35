"""What the node leaves on the host, and its removal: its cgroups and their processes, the
runtime's shims, and the mounts below its state directory."""

from __future__ import annotations

import os
import signal
import time
from pathlib import Path

from devcluster.processes import DevClusterError, run


def make_cgroup_root(root: str) -> None:
    """The kubelet wants its cgroup parent to exist in every hierarchy (cgroup v1)."""
    for controller in sorted(Path("/sys/fs/cgroup").iterdir()):
        if not controller.is_dir() or controller.is_symlink():
            continue
        top = controller / root.lstrip("/")
        top.mkdir(exist_ok=True)
        # A new cpuset cgroup has no CPUs or memory nodes until given its parent's.
        for name in ("cpuset.cpus", "cpuset.mems"):
            if (top / name).exists() and not (top / name).read_text().strip():
                (top / name).write_text((controller / name).read_text())


def cgroup_dirs(root: str) -> list[Path]:
    """The node's cgroups in every hierarchy, deepest first (they vanish while we look: the
    runtime removes a container's cgroup once it is gone, so walk without failing on that)."""
    found: list[Path] = []
    base = Path("/sys/fs/cgroup")
    for controller in sorted(base.iterdir()) if base.exists() else []:
        top = controller / root.lstrip("/")
        if top.is_dir() and not top.is_symlink():
            found.extend(Path(d) for d, _, _ in os.walk(top, topdown=False))
    return found


def kill_cgroup_tree(root: str) -> None:
    """SIGKILL every process in the node's cgroups (the pods' processes)."""
    for _ in range(20):
        pids: set[int] = set()
        for directory in cgroup_dirs(root):
            try:
                pids.update(int(p) for p in (directory / "cgroup.procs").read_text().split())
            except OSError:
                continue
        if not pids:
            return
        for pid in pids:
            try:
                os.kill(pid, signal.SIGKILL)
            except ProcessLookupError:
                pass
        time.sleep(0.2)
    raise DevClusterError(f"processes of cgroup {root} survive SIGKILL")


def remove_cgroup_tree(root: str) -> None:
    """Remove the node's (now empty) cgroups."""
    for directory in cgroup_dirs(root):
        try:
            directory.rmdir()
        except OSError:
            pass


def kill_shims(socket: Path) -> None:
    """The runtime shims outlive containerd by design; end those of this node's containerd."""
    needle = str(socket).encode()
    for proc in Path("/proc").iterdir():
        if not proc.name.isdigit():
            continue
        try:
            argv = (proc / "cmdline").read_bytes().split(b"\0")
        except OSError:
            continue
        if argv and argv[0].endswith(b"containerd-shim-runc-v2") and needle in argv:
            try:
                os.kill(int(proc.name), signal.SIGKILL)
            except ProcessLookupError:
                pass


def mounts_under(directory: Path) -> list[str]:
    """Mount points at or below `directory`, deepest first."""
    prefix = str(directory.resolve())
    points = []
    for line in Path("/proc/self/mountinfo").read_text().splitlines():
        point = line.split()[4].replace("\\040", " ")
        if point == prefix or point.startswith(prefix + "/"):
            points.append(point)
    return sorted(points, key=len, reverse=True)


def unmount_under(directory: Path) -> None:
    """Unmount what containerd and the kubelet mounted: rootfs overlays, volumes, pod netns."""
    for _ in range(5):
        points = mounts_under(directory)
        if not points:
            return
        for point in points:
            run("umount", "--lazy", point, check=False)
    left = mounts_under(directory)
    if left:
        raise DevClusterError(f"could not unmount: {', '.join(left[:5])}")
