"""The node: containerd with runc and the CNI bridge, the kubelet, kube-proxy and metrics-server.

All four run inside the node's network namespace (see network.py). Their configuration is
built by the pure functions below; `start` writes and runs them, `stop` tears everything down:
the pods' processes, the runtime's shims and mounts, the pods' cgroups and the namespace.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import yaml

from devcluster import host, pki
from devcluster.network import NodeNetwork
from devcluster.processes import run, spawn, stop, wait_until

NODE_NAME = "repairgpt-node"
PAUSE_IMAGE = "localhost/repairgpt-pause:3.10"
CNI_BIN_DIR = "/usr/lib/cni"
KUBELET_PORT = 10250
METRICS_SERVER_PORT = 4443
# Started in this order, stopped in the reverse one.
COMPONENTS = ("containerd", "kubelet", "kube-proxy", "metrics-server")


def containerd_socket(state: Path) -> Path:
    return state / "containerd" / "containerd.sock"


def cgroup_root(network: NodeNetwork) -> str:
    """The node's cgroup parent: one per node, so that two nodes never share pods' cgroups."""
    return f"/repairgpt-node-{network.slot}"


def build_containerd_config(state: Path) -> str:
    """containerd's config (version 2, containerd 1.6): its own folders, runc, the CNI bridge.

    `restrict_oom_score_adj`: this machine withholds CAP_SYS_RESOURCE, so runc may not lower a
    container's OOM score below its own. The namespace has no route out, so a pull fails at once:
    every image comes from `ctr images import`.
    """
    root = state / "containerd"
    cri = {
        "sandbox_image": PAUSE_IMAGE,
        "restrict_oom_score_adj": True,
        "netns_mounts_under_state_dir": True,
        "enable_selinux": False,
        "disable_apparmor": True,
        "stream_server_address": "127.0.0.1",
        "stream_server_port": "0",
        "containerd": {
            "snapshotter": "overlayfs",
            "default_runtime_name": "runc",
            "runtimes": {
                "runc": {
                    "runtime_type": "io.containerd.runc.v2",
                    "options": {"SystemdCgroup": False},
                }
            },
        },
        "cni": {"bin_dir": CNI_BIN_DIR, "conf_dir": str(state / "cni" / "net.d")},
    }
    config = {
        "version": 2,
        "root": str(root / "root"),
        "state": str(root / "state"),
        "grpc": {"address": str(containerd_socket(state))},
        "ttrpc": {"address": str(containerd_socket(state)) + ".ttrpc"},
        "plugins": {
            "io.containerd.grpc.v1.cri": cri,
            "io.containerd.internal.v1.opt": {"path": str(root / "opt")},
        },
    }
    return _toml(config)


def _toml(value: dict[str, Any], table: str = "") -> str:
    """A small TOML writer for nested tables of strings, numbers and booleans."""
    scalars, tables = [], []
    for key, item in value.items():
        quoted = key if key.replace("_", "").replace("-", "").isalnum() else json.dumps(key)
        if isinstance(item, dict):
            tables.append(_toml(item, f"{table}.{quoted}" if table else quoted))
        else:
            scalars.append(f"{quoted} = {json.dumps(item)}")
    head = [f"[{table}]"] if table and scalars else []
    return "\n".join([*head, *scalars, ""]) + "\n".join(tables)


def build_cni_config(state: Path, network: NodeNetwork) -> dict[str, Any]:
    """One bridge for all pods, addresses from the node's pod range, hairpin for Services."""
    return {
        "cniVersion": "1.0.0",
        "name": "repairgpt",
        "plugins": [
            {
                "type": "bridge",
                "bridge": network.bridge,
                "isGateway": True,
                "ipMasq": False,
                "hairpinMode": True,
                "ipam": {
                    "type": "host-local",
                    "ranges": [[{"subnet": network.pod_cidr, "gateway": network.pod_gateway}]],
                    "routes": [{"dst": "0.0.0.0/0"}],
                    "dataDir": str(state / "cni" / "ipam"),
                },
            },
            {"type": "portmap", "capabilities": {"portMappings": True}},
        ],
    }


def build_kubelet_config(state: Path, network: NodeNetwork) -> dict[str, Any]:
    pki_dir = state / "pki"
    return {
        "apiVersion": "kubelet.config.k8s.io/v1beta1",
        "kind": "KubeletConfiguration",
        "address": network.node_ip,
        "port": KUBELET_PORT,
        "readOnlyPort": 0,
        "healthzBindAddress": "127.0.0.1",
        "healthzPort": 10248,
        "authentication": {
            "anonymous": {"enabled": False},
            "webhook": {"enabled": True},
            "x509": {"clientCAFile": str(pki_dir / "ca.crt")},
        },
        "authorization": {"mode": "Webhook"},
        "tlsCertFile": str(pki_dir / "kubelet-serving.crt"),
        "tlsPrivateKeyFile": str(pki_dir / "kubelet-serving.key"),
        "containerRuntimeEndpoint": f"unix://{containerd_socket(state)}",
        "cgroupDriver": "cgroupfs",
        "cgroupRoot": cgroup_root(network),
        # This machine's cgroups are v1; the kubelet refuses them unless told otherwise.
        "failCgroupV1": False,
        "failSwapOn": False,
        # No cluster DNS here; pods get an empty resolv.conf instead of the machine's resolvers.
        "resolvConf": str(state / "node" / "resolv.conf"),
        "podLogsDir": str(state / "node" / "pod-logs"),
        "volumePluginDir": str(state / "kubelet" / "volume-plugins"),
        "serializeImagePulls": False,
        # Images are imported, never pulled: garbage-collecting them would lose them for good.
        "imageGCHighThresholdPercent": 100,
        "imageGCLowThresholdPercent": 99,
        "evictionHard": {
            "memory.available": "100Mi",
            "nodefs.available": "1%",
            "imagefs.available": "1%",
        },
        "maxPods": 110,
        "syncFrequency": "10s",
        "nodeStatusReportFrequency": "10s",
        "nodeStatusUpdateFrequency": "5s",
        "shutdownGracePeriod": "0s",
    }


def build_kube_proxy_config(state: Path, network: NodeNetwork) -> dict[str, Any]:
    return {
        "apiVersion": "kubeproxy.config.k8s.io/v1alpha1",
        "kind": "KubeProxyConfiguration",
        "clientConnection": {"kubeconfig": str(state / "kube-proxy.kubeconfig")},
        "mode": "iptables",
        "clusterCIDR": network.pod_cidr,
        "hostnameOverride": NODE_NAME,
        "bindAddress": network.node_ip,
        "healthzBindAddress": "127.0.0.1:10256",
        "metricsBindAddress": "127.0.0.1:10249",
        "nodePortAddresses": [f"{network.node_ip}/32"],
        # Leave the machine-wide conntrack sysctls alone.
        "conntrack": {"maxPerCore": 0, "min": 0},
        "iptables": {"syncPeriod": "10s", "minSyncPeriod": "0s"},
    }


def node_identities(network: NodeNetwork) -> list[pki.Identity]:
    return [
        pki.client("kubelet", f"system:node:{NODE_NAME}", "system:nodes"),
        pki.server("kubelet-serving", NODE_NAME, [f"IP:{network.node_ip}", f"DNS:{NODE_NAME}"]),
        pki.client("kube-proxy", "system:kube-proxy"),
        # metrics-server reads nodes, pods and the kubelets' resource metrics.
        pki.client("metrics-server", "metrics-server", "system:masters"),
        pki.server(
            "metrics-server-serving",
            "metrics-server",
            [f"IP:{network.node_ip}", "DNS:metrics-server.kube-system.svc"],
        ),
    ]


def start(state: Path, network: NodeNetwork, server: str, bin_dir: Path) -> None:
    """Start containerd, the kubelet, kube-proxy and metrics-server in the node's namespace."""
    pki_dir = state / "pki"
    node_dir = state / "node"
    node_dir.mkdir(parents=True, exist_ok=True)
    (node_dir / "resolv.conf").write_text("")
    (state / "cni" / "net.d").mkdir(parents=True, exist_ok=True)
    (state / "cni" / "net.d" / "10-repairgpt.conflist").write_text(
        json.dumps(build_cni_config(state, network), indent=2)
    )
    containerd_dir = state / "containerd"
    containerd_dir.mkdir(parents=True, exist_ok=True)
    (containerd_dir / "config.toml").write_text(build_containerd_config(state))
    for user in ("kubelet", "kube-proxy", "metrics-server"):
        pki.write_kubeconfig(state / f"{user}.kubeconfig", server, pki_dir, user)
    (node_dir / "kubelet.yaml").write_text(yaml.safe_dump(build_kubelet_config(state, network)))
    (node_dir / "kube-proxy.yaml").write_text(
        yaml.safe_dump(build_kube_proxy_config(state, network))
    )

    host.make_cgroup_root(cgroup_root(network))
    ns = network.netns
    containerd = spawn(
        state, "containerd", ["containerd", "--config", str(containerd_dir / "config.toml")],
        netns=ns,
    )  # fmt: skip
    socket = containerd_socket(state)
    wait_until(state, "containerd", containerd, lambda: _ctr_ready(socket), timeout=60)

    kubelet = spawn(state, "kubelet", [
        str(bin_dir / "kubelet"),
        f"--config={node_dir / 'kubelet.yaml'}",
        f"--kubeconfig={state / 'kubelet.kubeconfig'}",
        f"--root-dir={state / 'kubelet'}",
        f"--node-ip={network.node_ip}",
        f"--hostname-override={NODE_NAME}",
        "--v=1",
    ], netns=ns)  # fmt: skip
    proxy = spawn(state, "kube-proxy", [
        str(bin_dir / "kube-proxy"), f"--config={node_dir / 'kube-proxy.yaml'}", "--v=1",
    ], netns=ns)  # fmt: skip
    metrics = spawn(state, "metrics-server", [
        str(bin_dir / "metrics-server"),
        f"--kubeconfig={state / 'metrics-server.kubeconfig'}",
        f"--authentication-kubeconfig={state / 'metrics-server.kubeconfig'}",
        f"--authorization-kubeconfig={state / 'metrics-server.kubeconfig'}",
        f"--bind-address={network.node_ip}",
        f"--secure-port={METRICS_SERVER_PORT}",
        f"--tls-cert-file={pki_dir / 'metrics-server-serving.crt'}",
        f"--tls-private-key-file={pki_dir / 'metrics-server-serving.key'}",
        f"--kubelet-certificate-authority={pki_dir / 'ca.crt'}",
        "--kubelet-preferred-address-types=InternalIP",
        "--kubelet-use-node-status-port",
        "--metric-resolution=10s",
        "--kubelet-request-timeout=5s",
    ], netns=ns)  # fmt: skip
    del kubelet, proxy, metrics  # watched through their pid files


def _ctr_ready(socket: Path) -> str | None:
    if not socket.exists():
        return "no socket yet"
    result = run("ctr", "--address", str(socket), "version", check=False)
    return None if result.returncode == 0 else result.stderr.strip()


def metrics_api_manifests(network: NodeNetwork, ca_pem: str) -> list[dict[str, Any]]:
    """The Service, its Endpoints (metrics-server runs on the node, not in a pod) and the
    APIService that makes `kubectl top` and the HPA's resource metrics work."""
    import base64

    labels = {"app.kubernetes.io/name": "metrics-server"}
    return [
        {
            "apiVersion": "v1",
            "kind": "Service",
            "metadata": {"name": "metrics-server", "namespace": "kube-system", "labels": labels},
            "spec": {"ports": [{"name": "https", "port": 443, "targetPort": METRICS_SERVER_PORT}]},
        },
        {
            "apiVersion": "v1",
            "kind": "Endpoints",
            "metadata": {"name": "metrics-server", "namespace": "kube-system", "labels": labels},
            "subsets": [
                {
                    "addresses": [{"ip": network.node_ip}],
                    "ports": [{"name": "https", "port": METRICS_SERVER_PORT}],
                }
            ],
        },
        {
            "apiVersion": "apiregistration.k8s.io/v1",
            "kind": "APIService",
            "metadata": {"name": "v1beta1.metrics.k8s.io", "labels": labels},
            "spec": {
                "group": "metrics.k8s.io",
                "version": "v1beta1",
                "groupPriorityMinimum": 100,
                "versionPriority": 100,
                "service": {"name": "metrics-server", "namespace": "kube-system", "port": 443},
                "caBundle": base64.b64encode(ca_pem.encode()).decode(),
            },
        },
    ]


def stop_all(state: Path, network: NodeNetwork) -> list[str]:
    """Stop the node and remove all it made; returns the components that were running."""
    stopped = [name for name in reversed(COMPONENTS) if name != "containerd" and stop(state, name)]
    host.kill_cgroup_tree(cgroup_root(network))
    host.kill_shims(containerd_socket(state))
    if stop(state, "containerd"):
        stopped.append("containerd")
    host.unmount_under(state)
    host.remove_cgroup_tree(cgroup_root(network))
    return stopped
