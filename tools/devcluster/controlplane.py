"""The control plane: etcd, kube-apiserver, kube-controller-manager and kube-scheduler.

They run on this machine (not in the node's namespace). The API server listens on the host end
of the node's link, so that the kubelet and the pods (through the `kubernetes` Service) reach it.
"""

from __future__ import annotations

import socket
import ssl
from pathlib import Path

from devcluster import pki
from devcluster.network import NodeNetwork
from devcluster.processes import http_ok, spawn, wait_until

# Started in this order, stopped in the reverse one.
COMPONENTS = ("etcd", "kube-apiserver", "kube-controller-manager", "kube-scheduler")


def free_port(host: str = "127.0.0.1") -> int:
    with socket.socket() as sock:
        sock.bind((host, 0))
        port: int = sock.getsockname()[1]
        return port


def identities(network: NodeNetwork) -> list[pki.Identity]:
    return [
        pki.server(
            "apiserver",
            "kube-apiserver",
            [
                "IP:127.0.0.1",
                f"IP:{network.host_ip}",
                f"IP:{network.kubernetes_service_ip}",
                "DNS:localhost",
                "DNS:kubernetes",
                "DNS:kubernetes.default",
                "DNS:kubernetes.default.svc",
                "DNS:kubernetes.default.svc.cluster.local",
            ],
        ),  # fmt: skip
        pki.client("admin", "admin", "system:masters"),
        pki.client("controller-manager", "system:kube-controller-manager"),
        pki.client("scheduler", "system:kube-scheduler"),
        # The API server's identity towards the kubelets (logs, exec, port-forward).
        pki.client("apiserver-kubelet-client", "kube-apiserver-kubelet-client", "system:masters"),
        # The aggregation layer's identity towards metrics-server.
        pki.client("front-proxy-client", "front-proxy-client"),
    ]


def start(state: Path, network: NodeNetwork, bin_dir: Path) -> str:
    """Start the control plane; returns the API server's URL."""
    ports = {name: free_port() for name in ("etcd", "etcd-peer", "controller-manager",
                                             "scheduler")}  # fmt: skip
    apiserver_port = free_port(network.host_ip)
    etcd_url = _start_etcd(state, bin_dir, ports["etcd"], ports["etcd-peer"])
    server = _start_apiserver(state, network, bin_dir, etcd_url, apiserver_port)

    insecure = ssl.create_default_context()
    insecure.check_hostname = False
    insecure.verify_mode = ssl.CERT_NONE
    _start_controller_manager(
        state, network, bin_dir, server, ports["controller-manager"], insecure
    )
    _start_scheduler(state, bin_dir, server, ports["scheduler"], insecure)
    return server


def _start_etcd(state: Path, bin_dir: Path, client_port: int, peer_port: int) -> str:
    """Start etcd and wait for its health; returns its client URL."""
    etcd_url = f"http://127.0.0.1:{client_port}"
    peer_url = f"http://127.0.0.1:{peer_port}"
    etcd = spawn(state, "etcd", [
        str(bin_dir / "etcd"), "--name", "dev", "--data-dir", str(state / "etcd"),
        "--listen-client-urls", etcd_url, "--advertise-client-urls", etcd_url,
        "--listen-peer-urls", peer_url, "--initial-advertise-peer-urls", peer_url,
        "--initial-cluster", f"dev={peer_url}", "--unsafe-no-fsync", "--log-level", "warn",
    ])  # fmt: skip
    wait_until(state, "etcd", etcd, http_ok(f"{etcd_url}/health", None))
    return etcd_url


def _start_apiserver(
    state: Path, network: NodeNetwork, bin_dir: Path, etcd_url: str, port: int
) -> str:
    """Start kube-apiserver, write the admin kubeconfig, wait until ready; returns its URL."""
    pki_dir = state / "pki"
    server = f"https://{network.host_ip}:{port}"
    apiserver = spawn(state, "kube-apiserver", [
        str(bin_dir / "kube-apiserver"),
        f"--etcd-servers={etcd_url}",
        f"--bind-address={network.host_ip}", f"--advertise-address={network.host_ip}",
        f"--secure-port={port}",
        f"--cert-dir={pki_dir}",
        f"--tls-cert-file={pki_dir / 'apiserver.crt'}",
        f"--tls-private-key-file={pki_dir / 'apiserver.key'}",
        f"--client-ca-file={pki_dir / 'ca.crt'}",
        "--authorization-mode=Node,RBAC",
        "--enable-admission-plugins=NodeRestriction",
        "--service-account-issuer=https://kubernetes.default.svc.cluster.local",
        f"--service-account-key-file={pki_dir / 'sa.pub'}",
        f"--service-account-signing-key-file={pki_dir / 'sa.key'}",
        f"--service-cluster-ip-range={network.service_cidr}",
        f"--kubelet-client-certificate={pki_dir / 'apiserver-kubelet-client.crt'}",
        f"--kubelet-client-key={pki_dir / 'apiserver-kubelet-client.key'}",
        f"--kubelet-certificate-authority={pki_dir / 'ca.crt'}",
        "--kubelet-preferred-address-types=InternalIP",
        f"--requestheader-client-ca-file={pki_dir / 'ca.crt'}",
        "--requestheader-allowed-names=front-proxy-client",
        "--requestheader-username-headers=X-Remote-User",
        "--requestheader-group-headers=X-Remote-Group",
        "--requestheader-extra-headers-prefix=X-Remote-Extra-",
        f"--proxy-client-cert-file={pki_dir / 'front-proxy-client.crt'}",
        f"--proxy-client-key-file={pki_dir / 'front-proxy-client.key'}",
        # metrics-server runs on the node, not behind a ClusterIP this machine could route to.
        "--enable-aggregator-routing=true",
        "--allow-privileged=true",
        "--profiling=false",
        "--v=1",
    ])  # fmt: skip
    pki.write_kubeconfig(state / "kubeconfig", server, pki_dir, "admin")
    context = ssl.create_default_context(cafile=str(pki_dir / "ca.crt"))
    context.load_cert_chain(str(pki_dir / "admin.crt"), str(pki_dir / "admin.key"))
    wait_until(state, "kube-apiserver", apiserver, http_ok(f"{server}/readyz", context))
    return server


def _start_controller_manager(
    state: Path,
    network: NodeNetwork,
    bin_dir: Path,
    server: str,
    port: int,
    insecure: ssl.SSLContext,
) -> None:
    """Start kube-controller-manager (every controller; the cluster's Service range)."""
    pki_dir = state / "pki"
    flags = [
        f"--cert-dir={pki_dir / 'controller-manager'}",
        "--controllers=*",
        "--use-service-account-credentials=true",
        f"--service-account-private-key-file={pki_dir / 'sa.key'}",
        f"--root-ca-file={pki_dir / 'ca.crt'}",
        f"--service-cluster-ip-range={network.service_cidr}",
        "--leader-elect=false",
        "--concurrent-gc-syncs=5",
        # The HPA reacts within seconds, not the default 15 s (tests and benchmarks watch it).
        "--horizontal-pod-autoscaler-sync-period=5s",
        "--v=1",
    ]
    _start_with_kubeconfig(
        state,
        bin_dir,
        server,
        "kube-controller-manager",
        "controller-manager",
        port,
        insecure,
        flags,
    )


def _start_scheduler(
    state: Path, bin_dir: Path, server: str, port: int, insecure: ssl.SSLContext
) -> None:
    """Start kube-scheduler (one instance: no leader election)."""
    flags = ["--leader-elect=false", "--v=1"]
    _start_with_kubeconfig(
        state, bin_dir, server, "kube-scheduler", "scheduler", port, insecure, flags
    )


def _start_with_kubeconfig(
    state: Path,
    bin_dir: Path,
    server: str,
    name: str,
    user: str,
    port: int,
    insecure: ssl.SSLContext,
    flags: list[str],
) -> None:
    """Start a component that reaches the API server as `user` through its own kubeconfig.

    It serves /healthz on `port` of 127.0.0.1 with a self-signed certificate, hence `insecure`.
    """
    kubeconfig = pki.write_kubeconfig(state / f"{user}.kubeconfig", server, state / "pki", user)
    process = spawn(state, name, [
        str(bin_dir / name),
        f"--kubeconfig={kubeconfig}",
        f"--authentication-kubeconfig={kubeconfig}",
        f"--authorization-kubeconfig={kubeconfig}",
        "--bind-address=127.0.0.1",
        f"--secure-port={port}",
        *flags,
    ])  # fmt: skip
    wait_until(state, name, process, http_ok(f"https://127.0.0.1:{port}/healthz", insecure))
