"""The `repairgpt-operator` command: run the operator, or manage the local control plane."""

from __future__ import annotations

import argparse
import sys
from pathlib import Path


def _run(args: argparse.Namespace) -> int:
    from repairgpt_operator.runner import run_operator

    return run_operator(
        namespaces=args.namespace or None,
        metrics_host=args.metrics_host,
        metrics_port=args.metrics_port,
        verbose=args.verbose,
    )


def _dev_cluster(args: argparse.Namespace) -> int:
    from repairgpt_operator import devcluster

    directory = Path(args.dir)
    if args.action == "up":
        cluster = devcluster.up(directory)
        print(f"control plane {cluster.version} is up (API server {cluster.server})")
        print(f"stop it with: repairgpt-operator dev-cluster down --dir {directory}")
        print(f"export KUBECONFIG={cluster.kubeconfig}")
        return 0
    if args.action == "down":
        stopped = devcluster.down(directory)
        print("stopped: " + (", ".join(stopped) if stopped else "nothing was running"))
        return 0
    if args.action == "status":
        report = devcluster.status(directory)
        for name, state in report.items():
            print(f"{name:<24} {state}")
        return 0 if all(s.startswith("running") for s in report.values()) else 3
    bin_dir = devcluster.ensure_binaries()
    print(bin_dir)
    return 0


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="repairgpt-operator", description=__doc__)
    commands = parser.add_subparsers(dest="command", required=True)

    run = commands.add_parser("run", help="run the operator against the current kubeconfig")
    run.add_argument(
        "--namespace",
        action="append",
        help="watch only this namespace (repeatable; default: all namespaces)",
    )
    run.add_argument("--metrics-host", default="0.0.0.0", help="address of /metrics and /healthz")
    run.add_argument("--metrics-port", type=int, default=8080, help="port of /metrics and /healthz")
    run.add_argument("--verbose", action="store_true", help="debug logging")
    run.set_defaults(func=_run)

    dev = commands.add_parser(
        "dev-cluster", help="a local Kubernetes control plane for tests and demos"
    )
    dev.add_argument("action", choices=["up", "down", "status", "build"])
    dev.add_argument("--dir", default=".cluster", help="state folder (default: .cluster)")
    dev.set_defaults(func=_dev_cluster)
    return parser


def main(argv: list[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    result: int = args.func(args)
    return result


if __name__ == "__main__":
    sys.exit(main())
