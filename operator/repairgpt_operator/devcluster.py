"""A local Kubernetes control plane (etcd, kube-apiserver, kube-controller-manager) on loopback.

The binaries are built once from the pinned release in `tools/k8s/` into a cache folder. There is
no kubelet: Pods stay Pending, but API validation, RBAC, server-side apply, the garbage collector
and the Deployment/ReplicaSet/Job/CronJob controllers are the real ones.
"""

from __future__ import annotations

import base64
import json
import os
import signal
import socket
import ssl
import subprocess
import sys
import time
import urllib.error
import urllib.request
from dataclasses import dataclass
from pathlib import Path

import yaml

REPO_ROOT = Path(__file__).resolve().parents[2]
BUILD_SCRIPT = REPO_ROOT / "tools" / "k8s" / "build.sh"
COMPONENTS = ("etcd", "kube-apiserver", "kube-controller-manager")
BINARIES = (*COMPONENTS, "kubectl")
SERVICE_CIDR = "10.96.0.0/16"


class DevClusterError(RuntimeError):
    """The local control plane could not be built or started."""


@dataclass(frozen=True)
class Cluster:
    directory: Path
    kubeconfig: Path
    server: str
    version: str
    bin_dir: Path


def ensure_binaries() -> Path:
    """The folder holding the control-plane binaries, building them first when missing.

    REPAIRGPT_K8S_BIN points at a folder of ready binaries; otherwise tools/k8s/build.sh builds
    into REPAIRGPT_K8S_CACHE (default ~/.cache/repairgpt/k8s/<version>/bin) and shows progress.
    """
    preset = os.environ.get("REPAIRGPT_K8S_BIN")
    if preset:
        bin_dir = Path(preset)
        missing = [b for b in BINARIES if not (bin_dir / b).exists()]
        if missing:
            raise DevClusterError(f"REPAIRGPT_K8S_BIN={bin_dir} lacks {', '.join(missing)}")
        return bin_dir
    if not BUILD_SCRIPT.exists():
        raise DevClusterError(
            f"{BUILD_SCRIPT} not found: dev-cluster runs from a checkout of the repository "
            "(or set REPAIRGPT_K8S_BIN to a folder with etcd, kube-apiserver, "
            "kube-controller-manager and kubectl)"
        )
    result = subprocess.run(
        ["bash", str(BUILD_SCRIPT)], stdout=subprocess.PIPE, stderr=None, text=True, check=False
    )
    if result.returncode != 0:
        raise DevClusterError(f"building the control plane failed (exit {result.returncode})")
    return Path(result.stdout.strip().splitlines()[-1])


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port: int = sock.getsockname()[1]
        return port


def _openssl(*args: str, cwd: Path) -> None:
    result = subprocess.run(["openssl", *args], cwd=cwd, capture_output=True, text=True)
    if result.returncode != 0:
        raise DevClusterError(f"openssl {args[0]} failed: {result.stderr.strip()}")


def _issue_cert(pki: Path, name: str, subject: str, extensions: str) -> None:
    ext_file = pki / f"{name}.ext"
    ext_file.write_text(extensions + "\n")
    _openssl(
        "req", "-new", "-newkey", "rsa:2048", "-nodes", "-keyout", f"{name}.key",
        "-out", f"{name}.csr", "-subj", subject, cwd=pki,
    )  # fmt: skip
    _openssl(
        "x509", "-req", "-in", f"{name}.csr", "-CA", "ca.crt", "-CAkey", "ca.key",
        "-CAcreateserial", "-out", f"{name}.crt", "-days", "3650", "-extfile", ext_file.name,
        cwd=pki,
    )  # fmt: skip


def _make_pki(pki: Path) -> None:
    """A CA, the API server's serving certificate, client certificates and the SA signing key."""
    if (pki / "sa.pub").exists():
        return
    pki.mkdir(parents=True, exist_ok=True)
    _openssl(
        "req", "-x509", "-newkey", "rsa:2048", "-nodes", "-keyout", "ca.key", "-out", "ca.crt",
        "-days", "3650", "-subj", "/CN=repairgpt-dev-cluster-ca", cwd=pki,
    )  # fmt: skip
    _issue_cert(
        pki,
        "apiserver",
        "/CN=kube-apiserver",
        "subjectAltName=IP:127.0.0.1,IP:10.96.0.1,DNS:localhost,DNS:kubernetes,"
        "DNS:kubernetes.default,DNS:kubernetes.default.svc,"
        "DNS:kubernetes.default.svc.cluster.local\nextendedKeyUsage=serverAuth",
    )
    _issue_cert(pki, "admin", "/O=system:masters/CN=admin", "extendedKeyUsage=clientAuth")
    _issue_cert(
        pki,
        "controller-manager",
        "/CN=system:kube-controller-manager",
        "extendedKeyUsage=clientAuth",
    )
    _openssl("genrsa", "-out", "sa.key", "2048", cwd=pki)
    _openssl("rsa", "-in", "sa.key", "-pubout", "-out", "sa.pub", cwd=pki)


def _b64(path: Path) -> str:
    return base64.b64encode(path.read_bytes()).decode()


def build_kubeconfig(server: str, pki: Path, user: str) -> dict[str, object]:
    """A kubeconfig for `user` (a client certificate name in `pki`), embedding its credentials."""
    return {
        "apiVersion": "v1",
        "kind": "Config",
        "clusters": [
            {
                "name": "repairgpt-dev",
                "cluster": {
                    "server": server,
                    "certificate-authority-data": _b64(pki / "ca.crt"),
                },
            }
        ],
        "users": [
            {
                "name": user,
                "user": {
                    "client-certificate-data": _b64(pki / f"{user}.crt"),
                    "client-key-data": _b64(pki / f"{user}.key"),
                },
            }
        ],
        "contexts": [
            {"name": "repairgpt-dev", "context": {"cluster": "repairgpt-dev", "user": user}}
        ],
        "current-context": "repairgpt-dev",
    }


def server_of(kubeconfig: Path) -> str:
    """The API server URL of a kubeconfig's current context."""
    config = yaml.safe_load(kubeconfig.read_text())
    context_name = config.get("current-context")
    context = next(c["context"] for c in config["contexts"] if c["name"] == context_name)
    cluster = next(c["cluster"] for c in config["clusters"] if c["name"] == context["cluster"])
    server: str = cluster["server"]
    return server


def _pid_alive(pid: int, name: str) -> bool:
    try:
        cmdline = Path(f"/proc/{pid}/cmdline").read_bytes().split(b"\0")[0]
    except OSError:
        return False
    # A stale pid file may name a pid that the system has since given to another program.
    return Path(cmdline.decode(errors="replace")).name == name


def _spawn(state: Path, name: str, args: list[str]) -> subprocess.Popen[bytes]:
    logs = state / "logs"
    logs.mkdir(exist_ok=True)
    with (logs / f"{name}.log").open("ab") as log:
        process = subprocess.Popen(
            args,
            stdout=log,
            stderr=subprocess.STDOUT,
            stdin=subprocess.DEVNULL,
            start_new_session=True,
        )
    (state / f"{name}.pid").write_text(str(process.pid))
    return process


def _tail(state: Path, name: str, lines: int = 15) -> str:
    log = state / "logs" / f"{name}.log"
    if not log.exists():
        return ""
    return "\n".join(log.read_text(errors="replace").splitlines()[-lines:])


def _wait_ready(
    state: Path,
    name: str,
    process: subprocess.Popen[bytes],
    probe: str,
    context: ssl.SSLContext | None,
) -> None:
    deadline = time.monotonic() + 120
    last = ""
    while time.monotonic() < deadline:
        if process.poll() is not None:
            raise DevClusterError(f"{name} exited during start-up:\n{_tail(state, name)}")
        try:
            with urllib.request.urlopen(probe, timeout=2, context=context) as response:
                if response.status == 200:
                    return
        except urllib.error.HTTPError as exc:
            last = exc.read().decode(errors="replace")[-400:]
        except OSError as exc:
            last = str(exc)
        time.sleep(0.2)
    raise DevClusterError(f"{name} not ready after 120 s ({last}):\n{_tail(state, name)}")


def _read_version(bin_dir: Path) -> str:
    out = subprocess.run(
        [str(bin_dir / "kube-apiserver"), "--version"], capture_output=True, text=True, check=False
    )
    return out.stdout.split()[-1] if out.stdout.strip() else "unknown"


def up(directory: Path) -> Cluster:
    """Start the control plane with its state in `directory`; reuse it when already running."""
    state = directory.resolve()
    state.mkdir(parents=True, exist_ok=True)
    if all(s.startswith("running") for s in status(state).values()):
        return _describe(state)
    down(state)
    bin_dir = ensure_binaries()
    pki = state / "pki"
    _make_pki(pki)

    ports = {"etcd": _free_port(), "etcd-peer": _free_port(), "apiserver": _free_port(),
             "controller-manager": _free_port()}  # fmt: skip
    server = f"https://127.0.0.1:{ports['apiserver']}"
    etcd_url = f"http://127.0.0.1:{ports['etcd']}"
    peer_url = f"http://127.0.0.1:{ports['etcd-peer']}"

    etcd = _spawn(state, "etcd", [
        str(bin_dir / "etcd"), "--name", "dev", "--data-dir", str(state / "etcd"),
        "--listen-client-urls", etcd_url, "--advertise-client-urls", etcd_url,
        "--listen-peer-urls", peer_url, "--initial-advertise-peer-urls", peer_url,
        "--initial-cluster", f"dev={peer_url}", "--unsafe-no-fsync", "--log-level", "warn",
    ])  # fmt: skip
    _wait_ready(state, "etcd", etcd, f"{etcd_url}/health", None)

    apiserver = _spawn(state, "kube-apiserver", [
        str(bin_dir / "kube-apiserver"),
        f"--etcd-servers={etcd_url}",
        "--bind-address=127.0.0.1", "--advertise-address=127.0.0.1",
        f"--secure-port={ports['apiserver']}",
        f"--cert-dir={state / 'pki'}",
        f"--tls-cert-file={pki / 'apiserver.crt'}",
        f"--tls-private-key-file={pki / 'apiserver.key'}",
        f"--client-ca-file={pki / 'ca.crt'}",
        "--authorization-mode=RBAC",
        "--service-account-issuer=https://kubernetes.default.svc.cluster.local",
        f"--service-account-key-file={pki / 'sa.pub'}",
        f"--service-account-signing-key-file={pki / 'sa.key'}",
        f"--service-cluster-ip-range={SERVICE_CIDR}",
        "--allow-privileged=true",
        "--profiling=false",
        "--v=1",
    ])  # fmt: skip
    admin_kubeconfig = state / "kubeconfig"
    admin_kubeconfig.write_text(yaml.safe_dump(build_kubeconfig(server, pki, "admin")))
    admin_kubeconfig.chmod(0o600)
    context = ssl.create_default_context(cafile=str(pki / "ca.crt"))
    context.load_cert_chain(str(pki / "admin.crt"), str(pki / "admin.key"))
    _wait_ready(state, "kube-apiserver", apiserver, f"{server}/readyz", context)

    kcm_kubeconfig = state / "controller-manager.kubeconfig"
    kcm_kubeconfig.write_text(yaml.safe_dump(build_kubeconfig(server, pki, "controller-manager")))
    controller_manager = _spawn(state, "kube-controller-manager", [
        str(bin_dir / "kube-controller-manager"),
        f"--kubeconfig={kcm_kubeconfig}",
        f"--authentication-kubeconfig={kcm_kubeconfig}",
        f"--authorization-kubeconfig={kcm_kubeconfig}",
        "--bind-address=127.0.0.1",
        f"--secure-port={ports['controller-manager']}",
        f"--cert-dir={state / 'pki' / 'controller-manager'}",
        "--controllers=*",
        "--use-service-account-credentials=true",
        f"--service-account-private-key-file={pki / 'sa.key'}",
        f"--root-ca-file={pki / 'ca.crt'}",
        f"--service-cluster-ip-range={SERVICE_CIDR}",
        "--leader-elect=false",
        "--concurrent-gc-syncs=5",
        "--v=1",
    ])  # fmt: skip
    insecure = ssl.create_default_context()
    insecure.check_hostname = False
    insecure.verify_mode = ssl.CERT_NONE
    _wait_ready(
        state,
        "kube-controller-manager",
        controller_manager,
        f"https://127.0.0.1:{ports['controller-manager']}/healthz",
        insecure,
    )
    (state / "cluster.json").write_text(
        json.dumps({"server": server, "bin_dir": str(bin_dir), "version": _read_version(bin_dir)})
    )
    return _describe(state)


def _describe(state: Path) -> Cluster:
    info = json.loads((state / "cluster.json").read_text())
    return Cluster(
        directory=state,
        kubeconfig=state / "kubeconfig",
        server=info["server"],
        version=info["version"],
        bin_dir=Path(info["bin_dir"]),
    )


def status(directory: Path) -> dict[str, str]:
    """Each component's state: `running (pid N)` or `stopped`."""
    report = {}
    for name in COMPONENTS:
        pid_file = directory / f"{name}.pid"
        pid = int(pid_file.read_text()) if pid_file.exists() else 0
        report[name] = f"running (pid {pid})" if pid and _pid_alive(pid, name) else "stopped"
    return report


def down(directory: Path, timeout: float = 15) -> list[str]:
    """Stop every component (the controller manager first, etcd last); returns what it stopped."""
    stopped = []
    for name in reversed(COMPONENTS):
        pid_file = directory / f"{name}.pid"
        if not pid_file.exists():
            continue
        pid = int(pid_file.read_text())
        if _pid_alive(pid, name):
            os.killpg(pid, signal.SIGTERM)
            deadline = time.monotonic() + timeout
            while _pid_alive(pid, name) and time.monotonic() < deadline:
                time.sleep(0.1)
            if _pid_alive(pid, name):
                os.killpg(pid, signal.SIGKILL)
            _reap(pid)
            stopped.append(name)
        pid_file.unlink()
    return stopped


def _reap(pid: int) -> None:
    """Collect the exit status when the component is our own child (no zombie left behind)."""
    try:
        os.waitpid(pid, 0)
    except ChildProcessError:
        pass
    except OSError as exc:
        print(f"warning: could not reap pid {pid}: {exc}", file=sys.stderr)
