"""Pods reach the node's own link and nothing beyond: the forward rule and the missing default
route keep the pod network on this machine."""

from __future__ import annotations

import socket
import subprocess
import threading
from collections.abc import Iterator

import pytest

from tests.conftest import KubeCluster
from tests.utils.node import image
from tests.utils.servers import free_port


class Listener:
    """A TCP server on this machine that accepts and closes connections."""

    def __init__(self, host: str) -> None:
        self.sock = socket.socket()
        self.sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        self.sock.bind((host, free_port()))
        self.sock.listen()
        self.host, self.port = self.sock.getsockname()
        threading.Thread(target=self._serve, daemon=True).start()

    def _serve(self) -> None:
        while True:
            try:
                conn, _ = self.sock.accept()
            except OSError:
                return
            conn.close()

    def close(self) -> None:
        self.sock.close()


@pytest.fixture
def probe_pod(node_cluster: KubeCluster, node_namespace: str) -> Iterator[str]:
    node_cluster.kubectl(
        "-n", node_namespace, "run", "probe", f"--image={image(node_cluster, 'repairgpt-app')}",
        "--image-pull-policy=Never", "--command", "--",
        "python", "-c", "import time; time.sleep(3600)",
    )  # fmt: skip
    node_cluster.kubectl(
        "-n", node_namespace, "wait", "--for=condition=Ready", "pod/probe", "--timeout=120s",
        timeout=150,
    )  # fmt: skip
    yield "probe"


def connects(cluster: KubeCluster, namespace: str, pod: str, host: str, port: int) -> bool:
    code = f"import socket; socket.create_connection(({host!r}, {port}), timeout=3).close()"
    result = cluster.kubectl(
        "-n", namespace, "exec", pod, "--", "python", "-c", code, check=False, timeout=30
    )
    return result.returncode == 0


def test_a_pod_reaches_the_host_end_of_the_link_and_no_other_address_beyond_the_node(
    node_cluster: KubeCluster, node_namespace: str, probe_pod: str
) -> None:
    network = node_cluster.node.network
    # A second address on this machine's end of the link: routed like the host end, but not
    # the host end, so only the forward rule stands between a pod and it.
    other = f"10.152.{network.slot}.3"
    subprocess.run(["ip", "addr", "add", f"{other}/32", "dev", network.host_veth], check=True)
    allowed, denied = Listener(network.host_ip), Listener(other)
    try:
        assert connects(node_cluster, node_namespace, probe_pod, allowed.host, allowed.port)
        assert not connects(node_cluster, node_namespace, probe_pod, denied.host, denied.port)
        # From the node itself (not a pod) the same address is reachable: it is the forward
        # rule for pods that refuses it, not a broken route.
        reach = node_cluster.node_run(
            "python3", "-c",
            f"import socket; socket.create_connection(({other!r}, {denied.port}), 3).close()",
            check=False,
        )  # fmt: skip
        assert reach.returncode == 0, reach.stderr
    finally:
        allowed.close()
        denied.close()
        subprocess.run(["ip", "addr", "del", f"{other}/32", "dev", network.host_veth], check=False)


def test_the_node_has_no_default_route_and_drops_pod_traffic_leaving_the_bridge(
    node_cluster: KubeCluster,
) -> None:
    network = node_cluster.node.network
    routes = node_cluster.node_run("ip", "route", "show").stdout
    assert "default" not in routes, routes
    # Asking the routing table sends nothing: an outside address has no route from a pod.
    lookup = node_cluster.node_run(
        "ip", "route", "get", "192.0.2.10", "from", f"10.150.{network.slot}.9", "iif",
        network.bridge, check=False,
    )  # fmt: skip
    assert lookup.returncode != 0 and "unreachable" in lookup.stderr.lower(), lookup
    # In mangle/FORWARD, which a forwarded packet passes before kube-proxy's accept rules in
    # filter/FORWARD: a packet that kube-proxy marks for a Service cannot slip past it.
    rules = node_cluster.node_run("iptables", "-t", "mangle", "-S", "FORWARD").stdout
    drop = [r for r in rules.splitlines() if "no route beyond this machine" in r]
    assert len(drop) == 1, rules
    assert f"-s {network.pod_cidr}" in drop[0] and "! -o cni0" in drop[0] and "-j DROP" in drop[0]
    assert not [r for r in rules.splitlines() if r.startswith("-A") and "ACCEPT" in r], rules
