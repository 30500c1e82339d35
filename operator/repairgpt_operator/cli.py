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


def _run(args: argparse.Namespace) -> int:
    from repairgpt_operator.runner import run_operator

    return run_operator(
        namespaces=args.namespace or None,
        metrics_host=args.metrics_host,
        metrics_port=args.metrics_port,
        verbose=args.verbose,
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
    run.set_defaults(func=_run)

    return parser


def main(argv: list[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    result: int = args.func(args)
    return result


if __name__ == "__main__":
    sys.exit(main())
