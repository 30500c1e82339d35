"""The local Kubernetes cluster of the tests and `make demo`: a control plane and one real node.

Developer tooling only: it is not part of the `repairgpt` distribution or of any image. The
binaries are built once from the pinned release in `tools/k8s/`; the project's images are built
from its Dockerfiles by `tools/images/`. Run it as `tools/dev-cluster up|down|status|build`.
"""

from devcluster.cluster import Cluster, describe, down, ensure_binaries, status, up
from devcluster.pki import server_of
from devcluster.processes import DevClusterError

__all__ = [
    "Cluster", "DevClusterError", "describe", "down", "ensure_binaries", "server_of", "status",
    "up",
]  # fmt: skip
