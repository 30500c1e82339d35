"""Decides, without I/O, whether a live child object still matches what the operator wants."""

from __future__ import annotations

import re
from decimal import Decimal, InvalidOperation
from typing import Any

from repairgpt_operator.ownership import APPLIED_HASH_ANNOTATION

_SUFFIXES = {
    "": Decimal(1),
    "n": Decimal("1e-9"),
    "u": Decimal("1e-6"),
    "m": Decimal("1e-3"),
    "k": Decimal("1e3"),
    "M": Decimal("1e6"),
    "G": Decimal("1e9"),
    "T": Decimal("1e12"),
    "P": Decimal("1e15"),
    "E": Decimal("1e18"),
    "Ki": Decimal(2**10),
    "Mi": Decimal(2**20),
    "Gi": Decimal(2**30),
    "Ti": Decimal(2**40),
    "Pi": Decimal(2**50),
    "Ei": Decimal(2**60),
}
_QUANTITY = re.compile(r"^([+-]?[0-9.]+)(Ki|Mi|Gi|Ti|Pi|Ei|[numkMGTPE]|[eE][-+]?[0-9]+)?$")


def parse_quantity(value: object) -> Decimal | None:
    """The numeric value of a Kubernetes quantity (`500m`, `1Gi`, `2`), or None."""
    if isinstance(value, bool):
        return None
    if isinstance(value, int | float):
        return Decimal(str(value))
    if not isinstance(value, str):
        return None
    match = _QUANTITY.match(value.strip())
    if match is None:
        return None
    number, suffix = match.group(1), match.group(2) or ""
    try:
        base = Decimal(number)
    except InvalidOperation:
        return None
    if suffix[:1] in ("e", "E"):
        return base * (Decimal(10) ** int(suffix[1:]))
    return base * _SUFFIXES[suffix]


def _scalars_equal(desired: object, live: object) -> bool:
    if desired == live and type(desired) is type(live):
        return True
    # The API server canonicalises quantities (2 -> "2", 1024Mi -> 1Gi, 0.5 -> 500m).
    left, right = parse_quantity(desired), parse_quantity(live)
    return left is not None and left == right


def _match_item(item: dict[str, Any], candidates: list[Any], index: int) -> Any:
    # Lists of named things (containers, env, ports, volumes) are merged by name.
    if "name" in item:
        for candidate in candidates:
            if isinstance(candidate, dict) and candidate.get("name") == item["name"]:
                return candidate
        return None
    return candidates[index] if index < len(candidates) else None


def is_subset(desired: Any, live: Any) -> bool:
    """True when every field the operator sets has the same value in the live object.

    Fields the API server or other controllers add (defaults, status, replicas set by an HPA)
    do not count; lists of objects are matched by `name` where they have one.
    """
    if isinstance(desired, dict):
        if not isinstance(live, dict):
            return False
        return all(key in live and is_subset(value, live[key]) for key, value in desired.items())
    if isinstance(desired, list):
        if not isinstance(live, list):
            return False
        if desired and all(isinstance(item, dict) for item in desired):
            if len(live) < len(desired):
                return False
            return all(
                is_subset(item, _match_item(item, live, index))
                for index, item in enumerate(desired)
            )
        return len(desired) == len(live) and all(
            is_subset(d, lv) for d, lv in zip(desired, live, strict=True)
        )
    return _scalars_equal(desired, live)


def applied_hash(obj: dict[str, Any] | None) -> str | None:
    """The digest the operator stamped on an object when it last applied it."""
    if not obj:
        return None
    annotations = (obj.get("metadata") or {}).get("annotations") or {}
    value = annotations.get(APPLIED_HASH_ANNOTATION)
    return str(value) if value is not None else None


def needs_apply(desired: dict[str, Any], live: dict[str, Any] | None) -> bool:
    """Whether applying `desired` would change anything.

    A different digest means the desired state changed (and may have dropped fields, which a
    subset test cannot see); a failed subset test means someone edited the child.
    """
    if live is None:
        return True
    if applied_hash(desired) != applied_hash(live):
        return True
    return not is_subset(desired, live)


def applies_field(live: dict[str, Any] | None, manager: str, path: tuple[str, ...]) -> bool:
    """Whether `manager` owns the field at `path` (e.g. ("spec", "replicas")) through an apply.

    When a manager stops applying a field it alone owns, the API server removes the field; a
    caller that wants the value kept must first let another manager co-own it.
    """
    for entry in ((live or {}).get("metadata") or {}).get("managedFields") or []:
        if entry.get("manager") != manager or entry.get("operation") != "Apply":
            continue
        node: Any = entry.get("fieldsV1") or {}
        for part in path:
            node = node.get(f"f:{part}") if isinstance(node, dict) else None
        if node is not None:
            return True
    return False
