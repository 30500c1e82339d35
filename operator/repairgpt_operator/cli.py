"""The `repairgpt-operator` command: run the operator."""

from __future__ import annotations

import argparse
import re
import sys

# A namespace is a DNS label. kopf would read "team-*" as a pattern, which needs cluster-wide
# access to list namespaces; the namespaced installation has none, so only exact names are taken.
NAMESPACE_NAME = re.compile(r"[a-z0-9]([-a-z0-9]{0,61}[a-z0-9])?")


def namespace_name(value: str) -> str:
    """An exact namespace name (argparse type of --namespace)."""
    if not NAMESPACE_NAME.fullmatch(value):
        raise argparse.ArgumentTypeError(
            f"{value!r} is not a namespace name (lowercase letters, digits and '-'; no patterns)"
        )
    return value


def _lease(args: argparse.Namespace) -> tuple[str, str] | None:
    """(namespace, name) of the leader Lease, or None without --leader-elect."""
    if not args.leader_elect:
        return None
    from repairgpt_operator.leadership import own_namespace

    namespace = args.leader_election_namespace or own_namespace()
    if not namespace:
        raise SystemExit(
            "--leader-elect needs --leader-election-namespace outside a pod (or POD_NAMESPACE)"
        )
    return namespace, args.leader_election_lease


def _run(args: argparse.Namespace) -> int:
    from repairgpt_operator.runner import run_operator

    return run_operator(
        namespaces=args.namespace or None,
        metrics_host=args.metrics_host,
        metrics_port=args.metrics_port,
        verbose=args.verbose,
        lease=_lease(args),
    )


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="repairgpt-operator", description=__doc__)
    commands = parser.add_subparsers(dest="command", required=True)

    run = commands.add_parser("run", help="run the operator against the current kubeconfig")
    run.add_argument(
        "--namespace",
        action="append",
        type=namespace_name,
        help="watch only this namespace (repeatable; default: all namespaces)",
    )
    run.add_argument("--metrics-host", default="0.0.0.0", help="address of /metrics and /healthz")
    run.add_argument("--metrics-port", type=int, default=8080, help="port of /metrics and /healthz")
    run.add_argument("--verbose", action="store_true", help="debug logging")
    run.add_argument(
        "--leader-elect",
        action="store_true",
        help="act only while holding the leader Lease (for running several replicas)",
    )
    run.add_argument(
        "--leader-election-namespace",
        help="namespace of the Lease (default: the pod's own, from POD_NAMESPACE)",
    )
    run.add_argument(
        "--leader-election-lease", default="repairgpt-operator", help="name of the Lease"
    )
    run.set_defaults(func=_run)

    return parser


def main(argv: list[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    result: int = args.func(args)
    return result


if __name__ == "__main__":
    sys.exit(main())
