"""`python -m devcluster up|down|status|build [--dir DIR]` (or `tools/dev-cluster ...`)."""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

from devcluster import cluster
from devcluster.processes import DevClusterError


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="dev-cluster", description=__doc__)
    parser.add_argument("action", choices=["up", "down", "status", "build"])
    parser.add_argument("--dir", default=".cluster", help="state folder (default: .cluster)")
    args = parser.parse_args(argv)
    directory = Path(args.dir)
    try:
        if args.action == "up":
            up = cluster.up(directory)
            print(
                f"Kubernetes {up.version} is up: API server {up.server}, "
                f"node {up.network.node_ip} (pods {up.network.pod_cidr})"
            )
            for image in up.images:
                print(f"image loaded: {image}")
            print(f"stop it with: tools/dev-cluster down --dir {directory}")
            print(f"export KUBECONFIG={up.kubeconfig}")
            return 0
        if args.action == "down":
            stopped = cluster.down(directory)
            print("stopped: " + (", ".join(stopped) if stopped else "nothing was running"))
            return 0
        if args.action == "status":
            report = cluster.status(directory)
            for name, state in report.items():
                print(f"{name:<24} {state}")
            return 0 if all(s.startswith("running") for s in report.values()) else 3
        print(cluster.ensure_binaries())
        return 0
    except DevClusterError as exc:
        print(f"dev-cluster: error: {exc}", file=sys.stderr)
        return 1


if __name__ == "__main__":
    sys.exit(main())
