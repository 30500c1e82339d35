"""Builds RepairGPTInstance bodies and parsed instances for tests."""

from __future__ import annotations

import copy
from pathlib import Path
from typing import Any

import yaml

from repairgpt_operator.instance.model import Instance

REPO_ROOT = Path(__file__).resolve().parents[2]
EXAMPLES = REPO_ROOT / "examples"


def minimal_spec() -> dict[str, Any]:
    return {
        "image": "ghcr.io/example/repairgpt-app:1.2.3",
        "database": {"primary": {"secretName": "repairgpt-db", "key": "database-url"}},
    }


def deep_merge(base: dict[str, Any], override: dict[str, Any]) -> dict[str, Any]:
    merged = copy.deepcopy(base)
    for key, value in override.items():
        if isinstance(value, dict) and isinstance(merged.get(key), dict):
            merged[key] = deep_merge(merged[key], value)
        else:
            merged[key] = copy.deepcopy(value)
    return merged


def instance_body(
    spec: dict[str, Any] | None = None,
    *,
    name: str = "shop",
    namespace: str = "repair",
    generation: int = 1,
    status: dict[str, Any] | None = None,
) -> dict[str, Any]:
    body: dict[str, Any] = {
        "apiVersion": "repairgpt.io/v1alpha1",
        "kind": "RepairGPTInstance",
        "metadata": {
            "name": name,
            "namespace": namespace,
            "uid": "0b8f3c1e-1111-2222-3333-444455556666",
            "generation": generation,
        },
        "spec": deep_merge(minimal_spec(), spec or {}),
    }
    if status is not None:
        body["status"] = status
    return body


def make_instance(spec: dict[str, Any] | None = None, **kwargs: Any) -> Instance:
    return Instance.from_body(instance_body(spec, **kwargs))


def example_instance(name: str) -> Instance:
    """The RepairGPTInstance of examples/<name>.yaml, as if stored in namespace `repair`."""
    for document in yaml.safe_load_all((EXAMPLES / f"{name}.yaml").read_text()):
        if document["kind"] == "RepairGPTInstance":
            document["metadata"].update(namespace="repair", uid="uid-1", generation=1)
            return Instance.from_body(document)
    raise AssertionError(f"no RepairGPTInstance in examples/{name}.yaml")
