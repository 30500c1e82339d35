"""Shared fixtures: real servers (PostgreSQL, Redis, S3, Kubernetes) started once per test run."""

from __future__ import annotations

import os
import subprocess
import uuid
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
import yaml

import devcluster
from tests.operator.e2e.observe import wait_established
from tests.utils.node import OPERATOR_NAMESPACE, image, operator_manifests
from tests.utils.servers import PostgresServer, RedisServer, S3Server

REPO_ROOT = Path(__file__).resolve().parent.parent


@pytest.fixture(scope="session")
def postgres_server() -> Iterator[PostgresServer]:
    # Its own folder under /tmp, not pytest's: as root, the server runs as the `postgres` user,
    # which cannot enter pytest's private temporary folders.
    server = PostgresServer().init().start()
    yield server
    server.cleanup()


@pytest.fixture
def postgres_url(postgres_server: PostgresServer) -> str:
    """A fresh, empty database on the shared server."""
    return postgres_server.create_database(f"t_{uuid.uuid4().hex[:12]}")


@pytest.fixture(scope="session")
def redis_server() -> Iterator[RedisServer]:
    server = RedisServer().start()
    yield server
    server.stop()


@pytest.fixture(scope="session")
def s3_server() -> Iterator[S3Server]:
    server = S3Server().start()
    yield server
    server.stop()


@pytest.fixture
def s3_bucket(s3_server: S3Server) -> str:
    name = f"test-{uuid.uuid4().hex[:12]}"
    s3_server.client().create_bucket(Bucket=name)
    return name


class KubeCluster:
    """A running Kubernetes API server and the admin kubeconfig to reach it; with the local
    cluster, also its node (pod and Service addresses are reached from inside the node)."""

    def __init__(
        self,
        kubeconfig: Path,
        server: str,
        bin_dir: Path | None,
        local: devcluster.Cluster | None = None,
    ) -> None:
        self.kubeconfig = kubeconfig
        self.server = server
        self.bin_dir = bin_dir
        self.local = local

    @property
    def node(self) -> devcluster.Cluster:
        """The local cluster with its node; tests of real pods need it."""
        if self.local is None:
            pytest.skip("needs the local cluster's node (REPAIRGPT_TEST_KUBECONFIG is set)")
        return self.local

    def node_run(
        self, *args: str, timeout: float = 60, check: bool = True
    ) -> subprocess.CompletedProcess[str]:
        """Run a command inside the node's network namespace (where pods are reachable)."""
        netns = self.node.network.netns
        result = subprocess.run(
            ["ip", "netns", "exec", netns, *args],
            capture_output=True,
            text=True,
            timeout=timeout,
            check=False,
        )
        if check and result.returncode != 0:
            raise AssertionError(f"{' '.join(args)} in {netns} failed:\n{result.stderr}")
        return result

    @property
    def env(self) -> dict[str, str]:
        env = {**os.environ, "KUBECONFIG": str(self.kubeconfig)}
        if self.bin_dir is not None:
            env["PATH"] = f"{self.bin_dir}{os.pathsep}{env.get('PATH', '')}"
        return env

    def kubeconfig_for_token(self, token: str, path: Path) -> Path:
        """A kubeconfig that authenticates with `token` only (e.g. a ServiceAccount's)."""
        config = yaml.safe_load(self.kubeconfig.read_text())
        context = next(c for c in config["contexts"] if c["name"] == config["current-context"])
        user_name = context["context"]["user"]
        config["users"] = [{"name": user_name, "user": {"token": token}}]
        path.write_text(yaml.safe_dump(config))
        path.chmod(0o600)
        return path

    def service_account_kubeconfig(self, namespace: str, name: str, path: Path) -> Path:
        """A kubeconfig with a fresh token of ServiceAccount `namespace/name`."""
        token = self.kubectl(
            "-n", namespace, "create", "token", name, "--duration=2h"
        ).stdout.strip()
        return self.kubeconfig_for_token(token, path)

    @property
    def kubectl_path(self) -> str:
        return str(self.bin_dir / "kubectl") if self.bin_dir else "kubectl"

    def kubectl(
        self, *args: str, check: bool = True, input: str | None = None, timeout: float = 60
    ) -> subprocess.CompletedProcess[str]:
        result = subprocess.run(
            [self.kubectl_path, *args],
            env=self.env,
            input=input,
            capture_output=True,
            text=True,
            timeout=timeout,
            check=False,
        )
        if check and result.returncode != 0:
            raise AssertionError(
                f"kubectl {' '.join(args)} failed ({result.returncode}):\n{result.stderr}"
            )
        return result


@pytest.fixture(scope="session")
def k8s_cluster(tmp_path_factory: pytest.TempPathFactory) -> Iterator[KubeCluster]:
    """The local control plane (built from source on first use), or an existing cluster when
    REPAIRGPT_TEST_KUBECONFIG names one."""
    existing = os.environ.get("REPAIRGPT_TEST_KUBECONFIG")
    if existing:
        kubeconfig = Path(existing)
        yield KubeCluster(kubeconfig, devcluster.server_of(kubeconfig), None)
        return
    state = tmp_path_factory.mktemp("cluster")
    cluster = devcluster.up(state)
    try:
        yield KubeCluster(cluster.kubeconfig, cluster.server, cluster.bin_dir, cluster)
    finally:
        devcluster.down(state)


@pytest.fixture
def k8s_namespace(k8s_cluster: KubeCluster, request: pytest.FixtureRequest) -> Iterator[str]:
    base = request.node.name.lower().replace("_", "-")
    name = "".join(c for c in base if c.isalnum() or c == "-")[:40].strip("-")
    name = f"{name}-{uuid.uuid4().hex[:6]}"
    k8s_cluster.kubectl("create", "namespace", name)
    yield name
    k8s_cluster.kubectl("delete", "namespace", name, "--wait=false", check=False)


def pytest_collection_modifyitems(config: Any, items: list[pytest.Item]) -> None:
    """Tests that use the control plane carry the `cluster` mark, so `-m "not cluster"` works."""
    for item in items:
        if "k8s_cluster" in getattr(item, "fixturenames", ()):
            item.add_marker(pytest.mark.cluster)


# The local cluster's node: real servers that pods reach, and the operator as a pod.


@pytest.fixture(scope="session")
def node_cluster(k8s_cluster: KubeCluster) -> KubeCluster:
    k8s_cluster.node  # skips when the cluster has no local node  # noqa: B018
    return k8s_cluster


@pytest.fixture(scope="session")
def pod_postgres(node_cluster: KubeCluster) -> Iterator[PostgresServer]:
    server = PostgresServer(pod_host=node_cluster.node.network.host_ip).init().start()
    yield server
    server.cleanup()


@pytest.fixture
def pod_database(pod_postgres: PostgresServer) -> str:
    """A fresh database, as its URL from inside a pod."""
    name = f"t_{uuid.uuid4().hex[:12]}"
    pod_postgres.create_database(name)
    return pod_postgres.pod_url_for(name)


@pytest.fixture(scope="session")
def pod_redis(node_cluster: KubeCluster) -> Iterator[RedisServer]:
    server = RedisServer(pod_host=node_cluster.node.network.host_ip).start()
    yield server
    server.stop()


@pytest.fixture(scope="session")
def pod_s3(node_cluster: KubeCluster) -> Iterator[S3Server]:
    server = S3Server(host=node_cluster.node.network.host_ip).start()
    yield server
    server.stop()


@pytest.fixture
def node_namespace(node_cluster: KubeCluster, request: pytest.FixtureRequest) -> Iterator[str]:
    """A namespace of its own, deleted without waiting: its pods terminate (preStop included)
    while the next test starts; the small requests of the tests' pods leave room for both."""
    base = request.node.name.lower().replace("_", "-")
    name = "".join(c for c in base if c.isalnum() or c == "-")[:40].strip("-")
    name = f"{name}-{uuid.uuid4().hex[:6]}"
    node_cluster.kubectl("create", "namespace", name)
    yield name
    node_cluster.kubectl("delete", "namespace", name, "--wait=false", check=False)


@pytest.fixture(scope="session")
def operator_pod(node_cluster: KubeCluster) -> Iterator[str]:
    """The operator installed from deploy/ (CRDs, namespace, RBAC, Deployment) running as a pod
    of its own image under its own ServiceAccount; yields its namespace."""
    cluster = node_cluster
    cluster.kubectl("apply", "--server-side", "--force-conflicts", "-f", str(REPO_ROOT / "crds"))
    wait_established(cluster)
    cluster.kubectl(
        "apply", "-f", str(REPO_ROOT / "deploy" / "namespace.yaml"),
        "-f", str(REPO_ROOT / "deploy" / "rbac.yaml"),
    )  # fmt: skip
    cluster.kubectl(
        "apply", "-f", "-", input=operator_manifests(image(cluster, "repairgpt-operator"), 5)
    )
    cluster.kubectl(
        "-n", OPERATOR_NAMESPACE, "rollout", "status", "deployment/repairgpt-operator",
        "--timeout=180s", timeout=200,
    )  # fmt: skip
    yield OPERATOR_NAMESPACE
    logs = cluster.kubectl(
        "-n", OPERATOR_NAMESPACE, "logs", "deployment/repairgpt-operator", "--tail=200",
        check=False,
    )  # fmt: skip
    if "Traceback" in logs.stdout:
        print(logs.stdout[-6000:])
    cluster.kubectl(
        "delete", "-f", "-", "--wait=true", "--timeout=60s", check=False,
        input=operator_manifests(image(cluster, "repairgpt-operator")), timeout=90,
    )  # fmt: skip
