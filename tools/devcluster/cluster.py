"""Bring the whole local cluster up or down: binaries, network, certificates, control plane,
node, images."""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import time
from dataclasses import dataclass
from pathlib import Path

from devcluster import controlplane, network, node, pki
from devcluster.network import NodeNetwork
from devcluster.processes import DevClusterError, read_pid, running, stop, tail

REPO_ROOT = Path(__file__).resolve().parents[2]
BUILD_SCRIPT = REPO_ROOT / "tools" / "k8s" / "build.sh"
IMAGES_SCRIPT = REPO_ROOT / "tools" / "images" / "build.sh"
COMPONENTS = (*controlplane.COMPONENTS, *node.COMPONENTS)
BINARIES = (
    "etcd", "kube-apiserver", "kube-controller-manager", "kube-scheduler", "kubectl",
    "kubelet", "kube-proxy", "metrics-server",
)  # fmt: skip
NODE_READY_SECONDS = 120


@dataclass(frozen=True)
class Cluster:
    directory: Path
    kubeconfig: Path
    server: str
    version: str
    bin_dir: Path
    network: NodeNetwork
    images: tuple[str, ...]

    @property
    def containerd_socket(self) -> Path:
        return node.containerd_socket(self.directory)


def ensure_binaries() -> Path:
    """The folder holding the cluster's binaries, building them first when missing.

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
    result = subprocess.run(
        ["bash", str(BUILD_SCRIPT)], stdout=subprocess.PIPE, stderr=None, text=True, check=False
    )
    if result.returncode != 0:
        raise DevClusterError(f"building the cluster's binaries failed (exit {result.returncode})")
    return Path(result.stdout.strip().splitlines()[-1])


def load_images(socket: Path) -> tuple[str, ...]:
    """Build the project's images when their inputs changed, and import them into the node."""
    result = subprocess.run(
        ["bash", str(IMAGES_SCRIPT), "--load", str(socket)],
        stdout=subprocess.PIPE,
        stderr=None,
        text=True,
        check=False,
    )
    if result.returncode != 0:
        raise DevClusterError(f"building or loading the images failed (exit {result.returncode})")
    return tuple(line for line in result.stdout.split() if "/" in line and ":" in line)


def _read_slot(state: Path) -> NodeNetwork | None:
    try:
        return NodeNetwork(int((state / "slot").read_text()))
    except (OSError, ValueError):
        return None


def forget_state_of_another_slot(state: Path, net: NodeNetwork) -> bool:
    """Start from an empty etcd when the cluster comes back in another slot (or address layout)
    than the one its objects were made in: they hold that slot's addresses (the `kubernetes`
    Service's ClusterIP, which the API server's certificate no longer names; pod and endpoint
    addresses).
    Returns whether the old state was removed."""
    data, record = state / "etcd", state / "etcd-slot"
    made_in = record.read_text().strip() if record.exists() else None
    stale = data.exists() and made_in != net.layout
    if stale:
        shutil.rmtree(data)
    record.write_text(net.layout)
    return stale


def up(directory: Path) -> Cluster:
    """Start the cluster with its state in `directory`; reuse it when it is already running."""
    state = directory.resolve()
    state.mkdir(parents=True, exist_ok=True)
    if all(s.startswith("running") for s in status(state).values()):
        return describe(state)
    down(state)
    bin_dir = ensure_binaries()
    net = network.claim_slot(state)
    (state / "slot").write_text(str(net.slot))
    if forget_state_of_another_slot(state, net):
        print(f"the cluster's objects were made in another slot: starting slot {net.slot} empty")
    try:
        network.create(net)
        pki_dir = state / "pki"
        pki.make_ca(pki_dir)
        for identity in (*controlplane.identities(net), *node.node_identities(net)):
            pki.issue(pki_dir, identity)
        server = controlplane.start(state, net, bin_dir)
        node.start(state, net, server, bin_dir)
        images = load_images(node.containerd_socket(state))
        kubectl = Kubectl(state, bin_dir)
        manifests = node.metrics_api_manifests(net, (pki_dir / "ca.crt").read_text())
        kubectl("apply", "-f", "-", input="\n---\n".join(json.dumps(m) for m in manifests))
        _wait_node_ready(state, kubectl)
    except BaseException:
        down(state)
        raise
    (state / "cluster.json").write_text(
        json.dumps(
            {
                "server": server,
                "bin_dir": str(bin_dir),
                "version": _read_version(bin_dir),
                "images": list(images),
            }
        )
    )
    return describe(state)


class Kubectl:
    """kubectl with the cluster's admin kubeconfig; a failure is a DevClusterError."""

    def __init__(self, state: Path, bin_dir: Path) -> None:
        self.command = [str(bin_dir / "kubectl"), f"--kubeconfig={state / 'kubeconfig'}"]

    def __call__(self, *args: str, input: str | None = None) -> str:
        result = subprocess.run(
            [*self.command, *args], input=input, capture_output=True, text=True, check=False
        )
        if result.returncode != 0:
            raise DevClusterError(f"kubectl {' '.join(args)}: {result.stderr.strip()}")
        return result.stdout


def _wait_node_ready(state: Path, kubectl: Kubectl) -> None:
    deadline = time.monotonic() + NODE_READY_SECONDS
    last = ""
    while time.monotonic() < deadline:
        for name in node.COMPONENTS:
            if not running(state, name):
                raise DevClusterError(f"{name} exited during start-up:\n{tail(state, name)}")
        try:
            ready = kubectl(
                "get", "node", node.NODE_NAME,
                "-o", "jsonpath={.status.conditions[?(@.type=='Ready')].status}",
            )  # fmt: skip
        except DevClusterError as exc:
            ready, last = "", str(exc)
        if ready == "True":
            return
        time.sleep(0.5)
    raise DevClusterError(f"node {node.NODE_NAME} not Ready after {NODE_READY_SECONDS} s {last}")


def _read_version(bin_dir: Path) -> str:
    out = subprocess.run(
        [str(bin_dir / "kube-apiserver"), "--version"], capture_output=True, text=True, check=False
    )
    return out.stdout.split()[-1] if out.stdout.strip() else "unknown"


def describe(state: Path) -> Cluster:
    info = json.loads((state / "cluster.json").read_text())
    net = _read_slot(state)
    assert net is not None
    return Cluster(
        directory=state,
        kubeconfig=state / "kubeconfig",
        server=info["server"],
        version=info["version"],
        bin_dir=Path(info["bin_dir"]),
        network=net,
        images=tuple(info.get("images", ())),
    )


def status(directory: Path) -> dict[str, str]:
    """Each component's state: `running (pid N)` or `stopped`."""
    return {
        name: f"running (pid {read_pid(directory, name)})"
        if running(directory, name)
        else "stopped"
        for name in COMPONENTS
    }


def down(directory: Path) -> list[str]:
    """Stop every component and remove the node's network; returns what was running."""
    state = directory.resolve()
    net = _read_slot(state)
    stopped: list[str] = []
    if net is not None:
        stopped += node.stop_all(state, net)
    stopped += [name for name in reversed(controlplane.COMPONENTS) if stop(state, name)]
    if net is not None:
        network.remove(net)
        network.release_slot(state, net)
        (state / "slot").unlink(missing_ok=True)
    (state / "cluster.json").unlink(missing_ok=True)
    return stopped
