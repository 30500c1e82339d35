"""`kubectl-repairgpt` (run as `kubectl repairgpt VERB ...`): the verbs and their options."""

from __future__ import annotations

import argparse
import sys
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import Any, TextIO

from repairgpt_operator.instance.spec import KIND
from repairgpt_operator.ownership import label_selector
from repairgpt_operator.plugin import actions
from repairgpt_operator.plugin.client import Cluster, PluginError, Target
from repairgpt_operator.plugin.status import render_status
from repairgpt_operator.plugin.wait import (
    Step,
    backup_step,
    maintenance_step,
    restore_step,
    wait,
)

Verb = Callable[[Cluster, argparse.Namespace, TextIO], int]


def _done(out: TextIO, name: str, what: str) -> None:
    print(f"repairgptinstance.repairgpt.io/{name} {what}", file=out)


def _wait(args: argparse.Namespace, out: TextIO, look: Callable[[], Step], what: str) -> None:
    """--wait: follow the request until it has finished, then print its closing line."""
    print(wait(look, what=what, timeout=args.timeout, out=out), file=out)


def cmd_status(cluster: Cluster, args: argparse.Namespace, out: TextIO) -> int:
    body = cluster.instance(args.name)
    out.write(render_status(body, cluster.events_about(KIND, args.name)))
    return 0


def cmd_maintenance(cluster: Cluster, args: argparse.Namespace, out: TextIO) -> int:
    enabled = args.state == "on"
    cluster.instance(args.name)
    cluster.patch_instance(args.name, actions.maintenance_patch(enabled, args.message))
    _done(out, args.name, f"patched: spec.maintenance.enabled={str(enabled).lower()}")
    if args.wait:
        what = f"maintenance {args.state} of {args.name}"
        _wait(args, out, lambda: maintenance_step(cluster, args.name, enabled), what)
    return 0


def cmd_backup(cluster: Cluster, args: argparse.Namespace, out: TextIO) -> int:
    body = cluster.instance(args.name)
    token = actions.now_token()
    cluster.annotate_instance(args.name, actions.backup_now_annotation(body, token))
    _done(out, args.name, f"annotated: repairgpt.io/backup-now={token}")
    if args.wait:
        _wait(
            args, out, lambda: backup_step(cluster, args.name, token), f"the backup of {args.name}"
        )
    return 0


def cmd_restore(cluster: Cluster, args: argparse.Namespace, out: TextIO) -> int:
    cluster.instance(args.name)
    manifest = actions.restore_manifest(args.name, args.backup, clean=args.clean)
    created = cluster.create_restore(manifest)
    restore = created["metadata"]["name"]
    print(f"repairgptrestore.repairgpt.io/{restore} created (backup {args.backup})", file=out)
    if args.wait:
        _wait(args, out, lambda: restore_step(cluster, restore), f"restore {restore}")
    else:
        print(f"follow it with: kubectl -n {cluster.namespace} get rgr {restore} -w", file=out)
    return 0


def cmd_failback(cluster: Cluster, args: argparse.Namespace, out: TextIO) -> int:
    body = cluster.instance(args.name)
    cluster.annotate_instance(args.name, actions.failback_annotation(body))
    _done(out, args.name, "annotated: repairgpt.io/failback=now")
    return 0


def cmd_restart(cluster: Cluster, args: argparse.Namespace, out: TextIO) -> int:
    cluster.instance(args.name)
    token = actions.now_token()
    cluster.annotate_instance(args.name, actions.restart_annotation(token))
    _done(out, args.name, f"annotated: {actions.RESTART_ANNOTATION}={token}")
    return 0


def cmd_rollback(cluster: Cluster, args: argparse.Namespace, out: TextIO) -> int:
    body = cluster.instance(args.name)
    image, patch = actions.rollback_patch(body)
    cluster.patch_instance(args.name, patch)
    previous = (body.get("spec") or {}).get("image")
    _done(out, args.name, f"patched: spec.image {previous} -> {image}")
    return 0


def cmd_logs(cluster: Cluster, args: argparse.Namespace, out: TextIO) -> int:
    cluster.instance(args.name)
    selector = label_selector(
        {"app.kubernetes.io/instance": args.name, "app.kubernetes.io/component": "api"}
    )
    pods = sorted(cluster.pods(selector), key=lambda p: str(p["metadata"]["name"]))
    if not pods:
        raise PluginError(f"{args.name} has no API pods in namespace {cluster.namespace}")
    for pod in pods:
        pod_name = pod["metadata"]["name"]
        phase = (pod.get("status") or {}).get("phase")
        if phase == "Pending":
            print(f"==> {pod_name}: Pending, no log yet", file=out)
            continue
        print(f"==> {pod_name} <==", file=out)
        text = cluster.pod_log(pod_name, "api", args.tail)
        out.write(text if text.endswith("\n") or not text else text + "\n")
    return 0


def _connection_options() -> argparse.ArgumentParser:
    common = argparse.ArgumentParser(add_help=False)
    common.add_argument("--kubeconfig", default=argparse.SUPPRESS, help="path of the kubeconfig")
    common.add_argument("--context", default=argparse.SUPPRESS, help="kubeconfig context")
    common.add_argument(
        "-n", "--namespace", default=argparse.SUPPRESS, help="namespace of the instance"
    )
    return common


# add_argument's positional and keyword arguments.
Option = tuple[tuple[str, ...], dict[str, Any]]


def _option(*flags: str, **settings: Any) -> Option:
    return flags, settings


@dataclass(frozen=True)
class Command:
    """One verb: `kubectl repairgpt VERB [LEADING...] NAME [OPTIONS]`."""

    verb: str
    help: str
    run: Verb
    options: tuple[Option, ...] = ()
    leading: tuple[Option, ...] = ()
    # Default --timeout of --wait, for verbs whose request takes a while to finish.
    wait_timeout: int | None = None


COMMANDS = (
    Command("status", "a one-screen summary of an instance", cmd_status),
    Command(
        "maintenance",
        "turn maintenance mode on or off",
        cmd_maintenance,
        leading=(_option("state", choices=["on", "off"]),),
        options=(_option("--message", help="the maintenance page's message"),),
        wait_timeout=300,
    ),
    Command("backup", "take a backup now", cmd_backup, wait_timeout=1800),
    Command(
        "restore",
        "restore a backup (a RepairGPTRestore)",
        cmd_restore,
        options=(
            _option(
                "--backup", required=True, help="`latest` or a key from `repairgpt backup list`"
            ),
            _option("--clean", action="store_true", help="drop objects before restoring"),
        ),
        wait_timeout=3600,
    ),
    Command("failback", "go back to the primary database", cmd_failback),
    Command("restart", "restart the API pods (rolling)", cmd_restart),
    Command("rollback", "go back to the previous good image", cmd_rollback),
    Command(
        "logs",
        "print the API pods' logs",
        cmd_logs,
        options=(_option("--tail", type=int, default=200, help="lines per pod (default 200)"),),
    ),
)


def _add_verb(
    verbs: argparse._SubParsersAction[argparse.ArgumentParser],
    common: argparse.ArgumentParser,
    command: Command,
) -> None:
    parser = verbs.add_parser(
        command.verb, help=command.help, parents=[common], description=command.help
    )
    for flags, settings in command.leading:
        parser.add_argument(*flags, **settings)
    parser.add_argument("name", metavar="NAME", help="the RepairGPTInstance")
    for flags, settings in command.options:
        parser.add_argument(*flags, **settings)
    if command.wait_timeout is not None:
        timeout = command.wait_timeout
        parser.add_argument("--wait", action="store_true", help="wait until it has finished")
        parser.add_argument(
            "--timeout", type=float, default=timeout, help=f"seconds to wait (default {timeout})"
        )
    parser.set_defaults(func=command.run)


def build_parser() -> argparse.ArgumentParser:
    common = _connection_options()
    parser = argparse.ArgumentParser(
        prog="kubectl repairgpt",
        description="Day-2 operations on RepairGPT instances (RepairGPTInstance, rgi).",
        parents=[common],
    )
    verbs = parser.add_subparsers(dest="verb", required=True, metavar="VERB")
    for command in COMMANDS:
        _add_verb(verbs, common, command)
    return parser


def main(argv: Sequence[str] | None = None, out: TextIO | None = None) -> int:
    args = build_parser().parse_args(argv)
    stream = out or sys.stdout
    target = Target(
        kubeconfig=getattr(args, "kubeconfig", None),
        context=getattr(args, "context", None),
        namespace=getattr(args, "namespace", None),
    )
    try:
        cluster = Cluster(target)
        code: int = args.func(cluster, args, stream)
    except PluginError as error:
        print(f"error: {error}", file=sys.stderr)
        return 1
    return code


if __name__ == "__main__":
    raise SystemExit(main())
