"""`tools/dev-cluster up/status/down` as a user runs it: a control plane and a real node that
leave nothing behind when stopped."""

from __future__ import annotations

import ipaddress
import json
import subprocess
from pathlib import Path

import pytest

import devcluster
from devcluster.network import NodeNetwork

DEV_CLUSTER = Path(__file__).resolve().parents[2] / "tools" / "dev-cluster"


def cli(*args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [str(DEV_CLUSTER), *args], capture_output=True, text=True, timeout=600, check=False
    )


def leftovers(state: Path, network: NodeNetwork) -> dict[str, list[str]]:
    """What a stopped node could leave behind on this machine."""
    prefix = str(state.resolve())
    mounts = [
        line.split()[4]
        for line in Path("/proc/self/mountinfo").read_text().splitlines()
        if line.split()[4].startswith(prefix)
    ]
    links = subprocess.run(["ip", "-j", "link"], capture_output=True, text=True, check=True)
    names = [link["ifname"] for link in json.loads(links.stdout)]
    rules = subprocess.run(["iptables-save"], capture_output=True, text=True, check=True).stdout
    processes = []
    for proc in Path("/proc").iterdir():
        if not proc.name.isdigit():
            continue
        try:
            cmdline = (proc / "cmdline").read_bytes().replace(b"\0", b" ").decode()
            stat = (proc / "stat").read_text().rpartition(")")[2].split()[0]
        except OSError:
            continue
        if stat != "Z" and prefix in cmdline:
            processes.append(cmdline[:120])
    netns = subprocess.run(["ip", "netns", "list"], capture_output=True, text=True).stdout
    return {
        "processes": processes,
        "mounts": mounts,
        "netns": [n for n in netns.split() if n == network.netns or n.startswith("cni-")],
        "links": [n for n in names if n in (network.host_veth, network.bridge) or "veth" in n],
        "iptables": [r for r in rules.splitlines() if "repairgpt" in r or "KUBE-" in r],
        "cgroups": [
            str(p) for p in Path("/sys/fs/cgroup").glob(f"*/repairgpt-node-{network.slot}")
        ],
    }


@pytest.mark.cluster
@pytest.mark.slow
def test_up_runs_a_node_and_down_leaves_no_process_mount_netns_link_or_rule(
    tmp_path: Path,
) -> None:
    state = tmp_path / "cluster"
    try:
        started = cli("up", "--dir", str(state))
        assert started.returncode == 0, started.stderr[-3000:]
        assert f"export KUBECONFIG={state / 'kubeconfig'}" in started.stdout
        cluster = devcluster.describe(state)
        assert any("/repairgpt-app:" in image for image in cluster.images), cluster.images

        status = cli("status", "--dir", str(state))
        assert status.returncode == 0, status.stdout
        assert {line.split()[0] for line in status.stdout.splitlines()} >= {
            "kube-scheduler", "containerd", "kubelet", "kube-proxy", "metrics-server",
        }  # fmt: skip
        # A pod really runs on the node; the node then holds mounts, a pod netns, a veth.
        kubectl = [str(cluster.bin_dir / "kubectl"), f"--kubeconfig={cluster.kubeconfig}"]
        image = next(i for i in cluster.images if "/repairgpt-pause:" in i)
        subprocess.run(
            [*kubectl, "run", "pause", f"--image={image}", "--image-pull-policy=Never"],
            check=True, capture_output=True,
        )  # fmt: skip
        waited = subprocess.run(
            [*kubectl, "wait", "--for=condition=Ready", "pod/pause", "--timeout=120s"],
            capture_output=True, text=True,
        )  # fmt: skip
        assert waited.returncode == 0, waited.stderr
        assert leftovers(state, cluster.network)["mounts"]

        # `up` again reuses the running cluster instead of starting a second one.
        again = cli("up", "--dir", str(state))
        assert again.returncode == 0
        assert cli("status", "--dir", str(state)).stdout == status.stdout
    finally:
        stopped = cli("down", "--dir", str(state))
    assert stopped.returncode == 0, stopped.stderr
    assert "kubelet" in stopped.stdout and "kube-apiserver" in stopped.stdout
    assert leftovers(state, cluster.network) == {
        "processes": [], "mounts": [], "netns": [], "links": [], "iptables": [], "cgroups": [],
    }  # fmt: skip
    after = cli("status", "--dir", str(state))
    assert after.returncode == 3
    assert "running" not in after.stdout


def test_status_of_a_folder_that_never_ran_says_stopped(tmp_path: Path) -> None:
    assert devcluster.status(tmp_path) == dict.fromkeys(devcluster.cluster.COMPONENTS, "stopped")
    assert devcluster.down(tmp_path) == []


def test_a_preset_binary_folder_missing_binaries_is_a_clear_error(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("REPAIRGPT_K8S_BIN", str(tmp_path))
    with pytest.raises(devcluster.DevClusterError, match="lacks etcd"):
        devcluster.ensure_binaries()


def test_service_ranges_of_slots_do_not_overlap_and_hold_thousands() -> None:
    ranges = [ipaddress.IPv4Network(NodeNetwork(slot).service_cidr) for slot in (1, 2, 200)]
    assert all(r.num_addresses >= 4096 for r in ranges)
    assert not ranges[0].overlaps(ranges[1]) and not ranges[1].overlaps(ranges[2])
    assert NodeNetwork(1).kubernetes_service_ip == str(ranges[0][1])


def test_a_cluster_back_in_another_slot_starts_with_an_empty_etcd(tmp_path: Path) -> None:
    from devcluster.cluster import forget_state_of_another_slot

    (tmp_path / "etcd" / "member").mkdir(parents=True)
    (tmp_path / "etcd-slot").write_text(NodeNetwork(2).layout)
    # Data made in slot 2 is kept while the cluster comes back in slot 2 ...
    assert not forget_state_of_another_slot(tmp_path, NodeNetwork(2))
    assert not forget_state_of_another_slot(tmp_path, NodeNetwork(2))
    assert (tmp_path / "etcd" / "member").is_dir()
    # ... and dropped when it comes back in slot 1, whose addresses its objects do not hold.
    assert forget_state_of_another_slot(tmp_path, NodeNetwork(1))
    assert not (tmp_path / "etcd").exists()
    assert (tmp_path / "etcd-slot").read_text() == NodeNetwork(1).layout
    # Data made in the same slot with another Service range (an older layout) is dropped.
    (tmp_path / "etcd").mkdir()
    (tmp_path / "etcd-slot").write_text("1")
    assert forget_state_of_another_slot(tmp_path, NodeNetwork(1))
    # Data of unknown origin (from before the slot was recorded) is dropped too.
    (tmp_path / "etcd-slot").unlink()
    (tmp_path / "etcd").mkdir()
    assert forget_state_of_another_slot(tmp_path, NodeNetwork(1))
