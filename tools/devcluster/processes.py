"""Start, find and stop the cluster's long-running processes, one pid file and log each."""

from __future__ import annotations

import os
import signal
import ssl
import subprocess
import sys
import time
import urllib.error
import urllib.request
from collections.abc import Callable, Sequence
from pathlib import Path


class DevClusterError(RuntimeError):
    """The local cluster could not be built, started or stopped."""


def pid_alive(pid: int, name: str) -> bool:
    """Whether `pid` runs the program `name` (a stale pid file may name a reused pid)."""
    try:
        argv = Path(f"/proc/{pid}/cmdline").read_bytes().split(b"\0")
        stat = Path(f"/proc/{pid}/stat").read_text()
    except OSError:
        return False
    if stat.rpartition(")")[2].split()[0] == "Z":
        return False
    # Node components run under `nsenter ... -- PROGRAM`, which execs PROGRAM in place.
    return any(Path(arg.decode(errors="replace")).name == name for arg in argv[:1])


def read_pid(state: Path, name: str) -> int:
    pid_file = state / f"{name}.pid"
    try:
        return int(pid_file.read_text())
    except (OSError, ValueError):
        return 0


def running(state: Path, name: str) -> bool:
    pid = read_pid(state, name)
    return bool(pid) and pid_alive(pid, name)


def spawn(
    state: Path, name: str, args: Sequence[str], *, netns: str | None = None
) -> subprocess.Popen[bytes]:
    """Start `args` in its own session, logging to logs/NAME.log; inside `netns` if given.

    Only the network namespace is entered (nsenter --net), not a mount namespace as `ip netns
    exec` would make: the kubelet's volume mounts must be seen by containerd and runc.
    """
    logs = state / "logs"
    logs.mkdir(parents=True, exist_ok=True)
    command = list(args)
    if netns is not None:
        command = ["nsenter", f"--net=/run/netns/{netns}", "--", *command]
    with (logs / f"{name}.log").open("ab") as log:
        process = subprocess.Popen(
            command,
            stdout=log,
            stderr=subprocess.STDOUT,
            stdin=subprocess.DEVNULL,
            start_new_session=True,
        )
    (state / f"{name}.pid").write_text(str(process.pid))
    return process


def tail(state: Path, name: str, lines: int = 15) -> str:
    log = state / "logs" / f"{name}.log"
    if not log.exists():
        return ""
    return "\n".join(log.read_text(errors="replace").splitlines()[-lines:])


def wait_until(
    state: Path,
    name: str,
    process: subprocess.Popen[bytes],
    ready: Callable[[], str | None],
    timeout: float = 120,
) -> None:
    """Poll `ready` (None when ready, else why not) until it passes or the process exits."""
    deadline = time.monotonic() + timeout
    last = ""
    while time.monotonic() < deadline:
        if process.poll() is not None:
            raise DevClusterError(f"{name} exited during start-up:\n{tail(state, name)}")
        reason = ready()
        if reason is None:
            return
        last = reason
        time.sleep(0.2)
    raise DevClusterError(f"{name} not ready after {timeout:.0f} s ({last}):\n{tail(state, name)}")


def http_ok(url: str, context: ssl.SSLContext | None) -> Callable[[], str | None]:
    """A readiness check: GET `url` answers 200."""

    def check() -> str | None:
        try:
            with urllib.request.urlopen(url, timeout=2, context=context) as response:
                return None if response.status == 200 else f"HTTP {response.status}"
        except urllib.error.HTTPError as exc:
            return exc.read().decode(errors="replace")[-400:]
        except OSError as exc:
            return str(exc)

    return check


def stop(state: Path, name: str, timeout: float = 15) -> bool:
    """SIGTERM the process group of `name`, SIGKILL after `timeout`; True when it was running."""
    pid_file = state / f"{name}.pid"
    pid = read_pid(state, name)
    was_running = bool(pid) and pid_alive(pid, name)
    if was_running:
        os.killpg(pid, signal.SIGTERM)
        deadline = time.monotonic() + timeout
        while pid_alive(pid, name) and time.monotonic() < deadline:
            time.sleep(0.1)
        if pid_alive(pid, name):
            os.killpg(pid, signal.SIGKILL)
        _reap(pid)
    pid_file.unlink(missing_ok=True)
    return was_running


def _reap(pid: int) -> None:
    """Collect the exit status when the process is our own child (no zombie left behind)."""
    try:
        os.waitpid(pid, 0)
    except ChildProcessError:
        pass
    except OSError as exc:
        print(f"warning: could not reap pid {pid}: {exc}", file=sys.stderr)


def run(*args: str, check: bool = True, **kwargs: object) -> subprocess.CompletedProcess[str]:
    """Run a short command; a failure is a DevClusterError with its stderr."""
    result = subprocess.run(list(args), capture_output=True, text=True, check=False, **kwargs)  # type: ignore[call-overload]
    if check and result.returncode != 0:
        raise DevClusterError(f"{' '.join(args)} failed: {result.stderr.strip()}")
    completed: subprocess.CompletedProcess[str] = result
    return completed
