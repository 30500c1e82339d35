"""Reads the annotations by which users ask the operator for one-off actions (kubectl annotate)."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any


def annotation(body: Mapping[str, Any], key: str) -> str | None:
    """The value of one annotation of an object, or None when it is absent or empty."""
    value = ((body.get("metadata") or {}).get("annotations") or {}).get(key)
    return str(value) if value else None
