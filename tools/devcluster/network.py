"""The node's network: a network namespace joined to this machine by one veth pair.

Everything of the pod and Service networks lives inside the namespace `repairgpt-node-<slot>`:
the pods' bridge, kube-proxy's rules, the pods' addresses. The machine itself only gets the host
end of the veth pair, one address on a /24 of its own per slot. The namespace has no default
route, and a forward rule drops whatever a pod sends to an interface other than the bridge,
unless it goes to the host end (where the API server and the test servers listen): pods have no
route beyond this machine. Deleting the namespace deletes the bridge, the veths and the rules.
"""

from __future__ import annotations

import ipaddress
import os
from dataclasses import dataclass
from pathlib import Path

from devcluster.processes import DevClusterError, run

SLOTS_DIR = Path("/run/repairgpt-devcluster")
MAX_SLOT = 200
# Each slot's Services get a /20 of this block: 4,094 ClusterIPs, room for a thousand instances
# and the same again applied by a benchmark's reference client.
SERVICE_BLOCK = ipaddress.IPv4Network("10.176.0.0/12")
SERVICE_PREFIX = 20


@dataclass(frozen=True)
class NodeNetwork:
    """The addresses of one node, derived from its slot (1..200)."""

    slot: int

    @property
    def netns(self) -> str:
        return f"repairgpt-node-{self.slot}"

    @property
    def host_veth(self) -> str:
        return f"rgpt{self.slot}"

    @property
    def host_ip(self) -> str:
        """The machine's end of the link: the API server and test servers listen here."""
        return f"10.152.{self.slot}.1"

    @property
    def node_ip(self) -> str:
        """The node's address: the kubelet, kube-proxy and metrics-server listen here."""
        return f"10.152.{self.slot}.2"

    @property
    def pod_cidr(self) -> str:
        return f"10.150.{self.slot}.0/24"

    @property
    def pod_gateway(self) -> str:
        return f"10.150.{self.slot}.1"

    @property
    def service_cidr(self) -> str:
        size = 2 ** (32 - SERVICE_PREFIX)
        start = int(SERVICE_BLOCK.network_address) + self.slot * size
        return str(ipaddress.IPv4Network((start, SERVICE_PREFIX)))

    @property
    def kubernetes_service_ip(self) -> str:
        return str(ipaddress.IPv4Network(self.service_cidr)[1])

    @property
    def layout(self) -> str:
        """What the cluster's stored objects depend on: its slot and its Service range."""
        return f"{self.slot} {self.service_cidr}"

    @property
    def bridge(self) -> str:
        return "cni0"


def claim_slot(state: Path) -> NodeNetwork:
    """A slot for the cluster in `state`: its own if it has one, else the first free one.

    A slot whose owner folder is gone or names another slot is stale (a crash, a reboot of
    only the folder) and is taken over after its leftovers are removed.
    """
    SLOTS_DIR.mkdir(parents=True, exist_ok=True)
    owner = str(state.resolve())
    for slot in range(1, MAX_SLOT + 1):
        marker = SLOTS_DIR / str(slot)
        try:
            fd = os.open(marker, os.O_CREAT | os.O_EXCL | os.O_WRONLY, 0o644)
        except FileExistsError:
            holder = marker.read_text().strip()
            if holder == owner or _stale(Path(holder), slot):
                remove(NodeNetwork(slot))
                marker.write_text(owner)
                return NodeNetwork(slot)
            continue
        with os.fdopen(fd, "w") as handle:
            handle.write(owner)
        remove(NodeNetwork(slot))
        return NodeNetwork(slot)
    raise DevClusterError(f"all {MAX_SLOT} node slots in {SLOTS_DIR} are taken")


def _stale(holder: Path, slot: int) -> bool:
    try:
        return int((holder / "slot").read_text()) != slot
    except (OSError, ValueError):
        return True


def release_slot(state: Path, network: NodeNetwork) -> None:
    marker = SLOTS_DIR / str(network.slot)
    try:
        if marker.read_text().strip() == str(state.resolve()):
            marker.unlink()
    except OSError:
        pass


def netns_exists(network: NodeNetwork) -> bool:
    return Path(f"/run/netns/{network.netns}").exists()


def in_netns(network: NodeNetwork, *args: str, check: bool = True) -> str:
    return run("ip", "netns", "exec", network.netns, *args, check=check).stdout


def create(network: NodeNetwork) -> None:
    """The namespace, the veth pair, sysctls and the node's own forward and NAT rules."""
    ns = network.netns
    run("ip", "netns", "add", ns)
    run("ip", "link", "add", network.host_veth, "type", "veth", "peer", "name", "eth0",
        "netns", ns)  # fmt: skip
    run("ip", "addr", "add", f"{network.host_ip}/24", "dev", network.host_veth)
    run("ip", "link", "set", network.host_veth, "up")
    in_netns(network, "ip", "link", "set", "lo", "up")
    in_netns(network, "ip", "addr", "add", f"{network.node_ip}/24", "dev", "eth0")
    in_netns(network, "ip", "link", "set", "eth0", "up")
    # Locally sent packets to a Service address need a route before kube-proxy's DNAT applies;
    # one that is not translated (no such Service) finds no neighbour and fails.
    in_netns(network, "ip", "route", "add", network.service_cidr, "dev", "eth0")
    for key, value in (
        ("net.ipv4.ip_forward", "1"),
        ("net.bridge.bridge-nf-call-iptables", "1"),
        ("net.ipv4.conf.all.route_localnet", "1"),
    ):
        in_netns(network, "sysctl", "-qw", f"{key}={value}")
    in_netns(network, *forward_drop_rule(network))
    in_netns(network, "iptables", "-t", "nat", "-A", "POSTROUTING", "-s", network.pod_cidr,
             "-o", "eth0", "-j", "MASQUERADE")  # fmt: skip


def forward_drop_rule(network: NodeNetwork) -> list[str]:
    """Pods reach the bridge and the host end of the link, and nothing else.

    In the mangle table, which forwarded packets pass before the filter table: kube-proxy puts
    its own accept rules (for Service traffic it marks) first in filter/FORWARD, and nothing of
    the cluster writes to mangle/FORWARD.
    """
    return [
        "iptables", "-t", "mangle", "-A", "FORWARD", "-s", network.pod_cidr,
        "!", "-o", network.bridge, "!", "-d", f"{network.host_ip}/32", "-j", "DROP",
        "-m", "comment", "--comment", "repairgpt: pods have no route beyond this machine",
    ]  # fmt: skip


def remove(network: NodeNetwork) -> None:
    """Delete the namespace: its bridge, veths, routes and iptables rules go with it."""
    if netns_exists(network):
        run("ip", "netns", "delete", network.netns)
    # The host end dies with its peer; delete it too in case the namespace was half made.
    run("ip", "link", "delete", network.host_veth, check=False)
