"""The one way the operator writes an instance's status: a merge patch conditional on the
resourceVersion it was computed from, computed again from a fresh read after a conflict."""

from __future__ import annotations

import copy
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from typing import Any

from repairgpt_operator.kube import ApiError, Kube
from repairgpt_operator.metrics import STATUS_WRITES

STATUS_WRITE_ATTEMPTS = 4


class StatusConflict(ApiError):
    """The instance kept changing while its status was written; `body` is the newest copy read."""

    def __init__(self, body: Mapping[str, Any]) -> None:
        super().__init__(409, "Conflict", "the instance kept changing while its status was written")
        self.body = body


@dataclass(frozen=True)
class StatusWrite:
    """One status write: the status it started from, the patch (empty: nothing was written)
    and the instance as the API server stored it."""

    previous: dict[str, Any]
    patch: dict[str, Any]
    stored: dict[str, Any] | None = None


def write_status(
    kube: Kube,
    namespace: str,
    name: str,
    body: Mapping[str, Any] | None,
    changes: Callable[[Mapping[str, Any]], dict[str, Any]],
    *,
    uid: str | None = None,
    attempts: int = STATUS_WRITE_ATTEMPTS,
) -> StatusWrite | None:
    """Merge `changes(body)` (the status fields to patch) into the instance's status.

    Without `body` the instance is read first. On a conflict it is read again and the
    patch computed again, at most `attempts` times (then StatusConflict). None: the instance is
    gone, or (with `uid`) was replaced by another of the same name.
    """
    current = body
    for _ in range(attempts):
        if current is None:
            current = kube.get_instance(namespace, name)
            if current is None or (uid is not None and _uid(current) != uid):
                return None
        previous = copy.deepcopy(dict(current.get("status") or {}))
        patch = changes(current)
        if not patch:
            return StatusWrite(previous, {})
        try:
            stored = kube.patch_instance_status(
                namespace,
                name,
                patch,
                resource_version=(current.get("metadata") or {}).get("resourceVersion"),
            )
        except ApiError as error:
            if error.status != 409:
                raise
            STATUS_WRITES.labels(outcome="conflict").inc()
            current = None
            continue
        STATUS_WRITES.labels(outcome="written").inc()
        return StatusWrite(previous, patch, stored)
    raise StatusConflict(current or body or {})


def _uid(body: Mapping[str, Any]) -> str | None:
    uid = (body.get("metadata") or {}).get("uid")
    return None if uid is None else str(uid)
