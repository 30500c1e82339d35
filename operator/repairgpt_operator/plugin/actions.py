"""What each writing verb writes, decided without I/O: the same patches, annotations and
objects a user would write by hand (see the README's day-2 operations)."""

from __future__ import annotations

import re
from collections.abc import Mapping
from datetime import UTC, datetime
from typing import Any

from repairgpt_operator.backup.on_demand import BACKUP_NOW_ANNOTATION
from repairgpt_operator.failover.decision import FAILBACK_ANNOTATION
from repairgpt_operator.instance.spec import API_VERSION
from repairgpt_operator.plugin.client import PluginError
from repairgpt_operator.restore.spec import RESTORE_KIND

RESTART_ANNOTATION = "repairgpt.io/restart"
# A RepairGPTRestore name: the instance's name (at most 45 characters) and a UTC timestamp.
_NAME_SAFE = re.compile(r"[^a-z0-9-]")


def now_token(now: datetime | None = None) -> str:
    """A token naming one request: the UTC time, as `kubectl rollout restart` stamps it."""
    return (now or datetime.now(UTC)).strftime("%Y-%m-%dT%H:%M:%SZ")


def _status(body: Mapping[str, Any], *path: str) -> Any:
    node: Any = body.get("status") or {}
    for key in path:
        node = (node or {}).get(key) if isinstance(node, Mapping) else None
    return node


def maintenance_patch(enabled: bool, message: str | None) -> dict[str, Any]:
    """`kubectl patch rgi NAME --type merge -p '{"spec":{"maintenance":{...}}}'`."""
    maintenance: dict[str, Any] = {"enabled": enabled}
    if message is not None:
        maintenance["message"] = message
    return {"spec": {"maintenance": maintenance}}


def backup_now_annotation(body: Mapping[str, Any], token: str) -> dict[str, str]:
    """`kubectl annotate rgi NAME repairgpt.io/backup-now=<token>`; backups must be enabled."""
    spec = body.get("spec") or {}
    if not (spec.get("backup") or {}).get("enabled"):
        name = (body.get("metadata") or {}).get("name")
        raise PluginError(
            f"backups are not enabled on {name}: set spec.backup.enabled and spec.backup.s3 first"
        )
    return {BACKUP_NOW_ANNOTATION: token}


def failback_annotation(body: Mapping[str, Any]) -> dict[str, str]:
    """`kubectl annotate rgi NAME repairgpt.io/failback=now`, only while failed over: a
    leftover annotation would fail the next failover back at once."""
    active = _status(body, "database", "active") or "primary"
    if active != "replica":
        name = (body.get("metadata") or {}).get("name")
        raise PluginError(
            f"{name} is not failed over (status.database.active is {active}): nothing to fail back"
        )
    return {FAILBACK_ANNOTATION: "now"}


def restart_annotation(token: str) -> dict[str, str]:
    """`kubectl annotate rgi NAME repairgpt.io/restart=<token> --overwrite`."""
    return {RESTART_ANNOTATION: token}


def rollback_image(body: Mapping[str, Any]) -> str:
    """The previous good image of the API from status.rollout: the last good image when
    spec.image is another (a broken rollout), else the newest earlier image of the history."""
    current = (body.get("spec") or {}).get("image")
    rollout = _status(body, "rollout") or {}
    last_good = rollout.get("lastGoodImage") or rollout.get("lastGood")
    if last_good and last_good != current:
        return str(last_good)
    for entry in rollout.get("history") or []:
        image = entry.get("image") if isinstance(entry, Mapping) else None
        if image and image != current:
            return str(image)
    name = (body.get("metadata") or {}).get("name")
    raise PluginError(
        f"no earlier good image of {name} is known (status.rollout has no image other than "
        f"{current})"
    )


def rollback_patch(body: Mapping[str, Any]) -> tuple[str, dict[str, Any]]:
    """The image to go back to, and the spec patch; conditional on the resourceVersion read,
    so a concurrent change of the instance is not overwritten."""
    image = rollback_image(body)
    version = (body.get("metadata") or {}).get("resourceVersion")
    patch: dict[str, Any] = {"spec": {"image": image}}
    if version:
        patch["metadata"] = {"resourceVersion": version}
    return image, patch


def restore_manifest(
    instance: str, backup: str, *, clean: bool, now: datetime | None = None
) -> dict[str, Any]:
    """A RepairGPTRestore of `backup` into the instance's own database, named after both."""
    stamp = (now or datetime.now(UTC)).strftime("%Y%m%d-%H%M%S")
    name = _NAME_SAFE.sub("-", f"{instance}-restore-{stamp}".lower())
    return {
        "apiVersion": API_VERSION,
        "kind": RESTORE_KIND,
        "metadata": {"name": name},
        "spec": {"instanceName": instance, "backup": backup, "clean": clean},
    }
