"""What the per-instance metrics show, derived from the status the operator has just computed."""

from __future__ import annotations

import dataclasses
from collections.abc import Mapping
from typing import Any

from repairgpt_operator.backup.rpo import rpo_window
from repairgpt_operator.conditions import MAINTENANCE, find_condition
from repairgpt_operator.instance.model import Instance
from repairgpt_operator.metrics import InstanceSnapshot
from repairgpt_operator.timestamps import parse_time


def _failed_last(failure: str | None, success: str | None) -> bool:
    return bool(failure) and (not success or parse_time(str(failure)) >= parse_time(str(success)))


def _maintenance_since(status: Mapping[str, Any]) -> float | None:
    phase = (status.get("maintenance") or {}).get("phase", "Off")
    condition = find_condition(status.get("conditions") or [], MAINTENANCE)
    if phase == "Off" or condition is None or not condition.get("lastTransitionTime"):
        return None
    return parse_time(str(condition["lastTransitionTime"])).timestamp()


def status_snapshot(status: Mapping[str, Any]) -> InstanceSnapshot:
    """What the status alone tells (a spec the operator cannot parse: phase, conditions,
    failover and maintenance; the backup series need the spec)."""
    return InstanceSnapshot(
        phase=status.get("phase"),
        conditions=tuple(
            (str(c.get("type")), str(c.get("status"))) for c in status.get("conditions") or []
        ),
        failed_over=(status.get("database") or {}).get("active") == "replica",
        maintenance_since=_maintenance_since(status),
    )


def instance_snapshot(instance: Instance, status: Mapping[str, Any]) -> InstanceSnapshot:
    """The snapshot of an instance's status (backup series only while backups are on; the RPO
    deadline not while they are suspended, as BackupHealthy then is Unknown)."""
    backup_spec = instance.spec.backup
    backup = status.get("backup") or {}
    success = backup.get("lastSuccessfulTime")
    last_failed = verification_failed = deadline = None
    if backup_spec.enabled:
        last_failed = _failed_last(backup.get("lastFailureTime"), success)
        if success and not backup_spec.suspend:
            window = rpo_window(backup_spec.schedule, parse_time(str(success)))
            deadline = window.deadline.timestamp()
        if backup_spec.verify.enabled:
            verification_failed = _failed_last(
                backup.get("lastVerificationFailureTime"), backup.get("lastVerifiedTime")
            )
    return dataclasses.replace(
        status_snapshot(status),
        backup_last_failed=last_failed,
        backup_rpo_deadline=deadline,
        verification_failed=verification_failed,
    )
