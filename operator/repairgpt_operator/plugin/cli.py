"""`kubectl-repairgpt` (run as `kubectl repairgpt VERB ...`): the verbs and their options."""

from __future__ import annotations

import argparse
import sys
from collections.abc import Callable, Sequence
from typing import TextIO

from repairgpt_operator.ownership import label_selector
from repairgpt_operator.plugin import actions
from repairgpt_operator.plugin.client import Cluster, PluginError, Target
from repairgpt_operator.plugin.status import render_status
from repairgpt_operator.plugin.wait import (
    backup_step,
    maintenance_step,
    restore_step,
    wait,
)
from repairgpt_operator.spec import KIND

Verb = Callable[[Cluster, argparse.Namespace, TextIO], int]


def _done(out: TextIO, name: str, what: str) -> None:
    print(f"repairgptinstance.repairgpt.io/{name} {what}", file=out)


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
        line = wait(
            lambda: maintenance_step(cluster, args.name, enabled),
            what=f"maintenance {args.state} of {args.name}",
            timeout=args.timeout,
            out=out,
        )
        print(line, file=out)
    return 0


def cmd_backup(cluster: Cluster, args: argparse.Namespace, out: TextIO) -> int:
    body = cluster.instance(args.name)
    token = actions.now_token()
    cluster.annotate_instance(args.name, actions.backup_now_annotation(body, token))
    _done(out, args.name, f"annotated: repairgpt.io/backup-now={token}")
    if args.wait:
        line = wait(
            lambda: backup_step(cluster, args.name, token),
            what=f"the backup of {args.name}",
            timeout=args.timeout,
            out=out,
        )
        print(line, file=out)
    return 0


def cmd_restore(cluster: Cluster, args: argparse.Namespace, out: TextIO) -> int:
    cluster.instance(args.name)
    manifest = actions.restore_manifest(args.name, args.backup, clean=args.clean)
    created = cluster.create_restore(manifest)
    restore = created["metadata"]["name"]
    print(f"repairgptrestore.repairgpt.io/{restore} created (backup {args.backup})", file=out)
    if args.wait:
        line = wait(
            lambda: restore_step(cluster, restore),
            what=f"restore {restore}",
            timeout=args.timeout,
            out=out,
        )
        print(line, file=out)
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


def _verb(
    verbs: argparse._SubParsersAction[argparse.ArgumentParser],
    common: argparse.ArgumentParser,
    name: str,
    help_text: str,
    func: Verb,
) -> argparse.ArgumentParser:
    parser = verbs.add_parser(name, help=help_text, parents=[common], description=help_text)
    parser.add_argument("name", metavar="NAME", help="the RepairGPTInstance")
    parser.set_defaults(func=func)
    return parser


def _add_wait(parser: argparse.ArgumentParser, timeout: int) -> None:
    parser.add_argument("--wait", action="store_true", help="wait until it has finished")
    parser.add_argument(
        "--timeout", type=float, default=timeout, help=f"seconds to wait (default {timeout})"
    )


def build_parser() -> argparse.ArgumentParser:
    common = _connection_options()
    parser = argparse.ArgumentParser(
        prog="kubectl repairgpt",
        description="Day-2 operations on RepairGPT instances (RepairGPTInstance, rgi).",
        parents=[common],
    )
    verbs = parser.add_subparsers(dest="verb", required=True, metavar="VERB")
    _verb(verbs, common, "status", "a one-screen summary of an instance", cmd_status)
    maintenance = verbs.add_parser(
        "maintenance", help="turn maintenance mode on or off", parents=[common]
    )
    maintenance.add_argument("state", choices=["on", "off"])
    maintenance.add_argument("name", metavar="NAME", help="the RepairGPTInstance")
    maintenance.add_argument("--message", help="the maintenance page's message")
    _add_wait(maintenance, 300)
    maintenance.set_defaults(func=cmd_maintenance)
    _add_wait(_verb(verbs, common, "backup", "take a backup now", cmd_backup), 1800)
    restore = _verb(verbs, common, "restore", "restore a backup (a RepairGPTRestore)", cmd_restore)
    restore.add_argument(
        "--backup", required=True, help="`latest` or a key from `repairgpt backup list`"
    )
    restore.add_argument("--clean", action="store_true", help="drop objects before restoring")
    _add_wait(restore, 3600)
    _verb(verbs, common, "failback", "go back to the primary database", cmd_failback)
    _verb(verbs, common, "restart", "restart the API pods (rolling)", cmd_restart)
    _verb(verbs, common, "rollback", "go back to the previous good image", cmd_rollback)
    logs = _verb(verbs, common, "logs", "print the API pods' logs", cmd_logs)
    logs.add_argument("--tail", type=int, default=200, help="lines per pod (default 200)")
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
