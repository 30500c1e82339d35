"""Condition maths: the standard Kubernetes condition list, kept without I/O."""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from typing import Any, Literal

ConditionStatus = Literal["True", "False", "Unknown"]

READY = "Ready"
RECONCILED = "Reconciled"
MAINTENANCE = "Maintenance"
FAILED_OVER = "FailedOver"
DEGRADED = "Degraded"
BACKUP_HEALTHY = "BackupHealthy"
BACKUP_VERIFIED = "BackupVerified"
UPLOAD_STORAGE = "UploadStorage"
ROLLOUT_HEALTHY = "RolloutHealthy"
BACKUP_BEFORE_UPGRADE = "BackupBeforeUpgrade"


def make_condition(
    type_: str,
    status: ConditionStatus,
    *,
    reason: str,
    message: str,
    observed_generation: int,
) -> dict[str, Any]:
    """A condition without lastTransitionTime (set_condition decides that)."""
    return {
        "type": type_,
        "status": status,
        "reason": reason,
        "message": message,
        "observedGeneration": observed_generation,
    }


def find_condition(conditions: Iterable[Mapping[str, Any]], type_: str) -> Mapping[str, Any] | None:
    """The condition of that type, if present."""
    for condition in conditions:
        if condition.get("type") == type_:
            return condition
    return None


def is_true(conditions: Iterable[Mapping[str, Any]], type_: str) -> bool:
    """Whether the condition of that type is present and True."""
    condition = find_condition(conditions, type_)
    return condition is not None and condition.get("status") == "True"


def set_condition(
    conditions: Iterable[Mapping[str, Any]], new: Mapping[str, Any], *, now: str
) -> list[dict[str, Any]]:
    """A new list with `new` in place of its type; lastTransitionTime moves only when the status
    flips, so that rewriting the same observation changes nothing."""
    result: list[dict[str, Any]] = []
    replaced = False
    for condition in conditions:
        if condition.get("type") != new["type"]:
            result.append(dict(condition))
            continue
        replaced = True
        merged = dict(new)
        if condition.get("status") == new["status"] and condition.get("lastTransitionTime"):
            merged["lastTransitionTime"] = condition["lastTransitionTime"]
        else:
            merged["lastTransitionTime"] = now
        result.append(merged)
    if not replaced:
        result.append({**new, "lastTransitionTime": now})
    return result
