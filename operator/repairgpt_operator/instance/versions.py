"""The order of two versions of one object, by resourceVersion: opaque by contract, etcd
revisions in practice, so compared only when both are numbers."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any


def resource_version(obj: Mapping[str, Any]) -> int | None:
    """The object's resourceVersion as a number, or None when it has none or it is not one."""
    return as_number((obj.get("metadata") or {}).get("resourceVersion"))


def as_number(value: object) -> int | None:
    """A resourceVersion as a number, or None when it is not one."""
    if isinstance(value, int):
        return value
    return int(value) if isinstance(value, str) and value.isdigit() else None


def older(version: int | None, than: int | None) -> bool:
    """Whether `version` is known to be older than `than`: never when either is unknown."""
    return version is not None and than is not None and version < than
