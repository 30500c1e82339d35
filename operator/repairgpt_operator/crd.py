"""Generates the RepairGPTInstance CustomResourceDefinition from the pydantic models of its spec.

The models carry the field names, types, descriptions, defaults and CEL rules; this module turns
their JSON schema into a Kubernetes structural schema and adds what only the CRD knows (names,
printer columns, subresources). Regenerate with:

    python -m repairgpt_operator.crd --output crds/repairgptinstance.yaml
"""

from __future__ import annotations

import argparse
import sys
from collections.abc import Callable, Mapping
from pathlib import Path
from typing import Any

import yaml
from pydantic import BaseModel

from repairgpt_operator.instance.spec import (
    GROUP,
    KIND,
    PLURAL,
    SHORT_NAMES,
    SINGULAR,
    VERSION,
    RepairGPTInstanceSpec,
)
from repairgpt_operator.instance.spec_fields import cel_rule
from repairgpt_operator.instance.status import RepairGPTInstanceStatus

HEADER = (
    "# Generated from operator/repairgpt_operator/instance/spec.py by\n"
    "#   python -m repairgpt_operator.crd --output crds/repairgptinstance.yaml\n"
    "# Edit the models, not this file (tests/operator/test_crd.py checks they agree).\n"
)

# Children append "-api", "-maintenance" and "-backup" to the instance name; a CronJob name may
# have at most 52 characters and a Service name must be a DNS-1035 label.
MAX_NAME_LENGTH = 45

PRINTER_COLUMNS: list[dict[str, Any]] = [
    {"name": "Phase", "type": "string", "jsonPath": ".status.phase"},
    {
        "name": "Ready",
        "type": "string",
        "jsonPath": '.status.conditions[?(@.type=="Ready")].status',
    },
    {"name": "Replicas", "type": "integer", "jsonPath": ".status.replicas"},
    {"name": "Database", "type": "string", "jsonPath": ".status.database.active"},
    {"name": "Maintenance", "type": "boolean", "jsonPath": ".spec.maintenance.enabled"},
    {"name": "Last Backup", "type": "date", "jsonPath": ".status.backup.lastSuccessfulTime"},
    {"name": "Age", "type": "date", "jsonPath": ".metadata.creationTimestamp"},
]

_DROPPED_KEYS = {"title", "additionalProperties"}


class SchemaError(ValueError):
    """The models cannot be expressed as a structural schema (e.g. a field lacks a description)."""


def structural_schema(model: type[BaseModel]) -> dict[str, Any]:
    """The structural OpenAPI v3 schema of a model, as a CRD's openAPIV3Schema expects it."""
    raw = model.model_json_schema(by_alias=True, mode="validation")
    defs: dict[str, Any] = raw.pop("$defs", {})
    return _convert(raw, defs, path=model.__name__)


def _convert(node: dict[str, Any], defs: dict[str, Any], path: str) -> dict[str, Any]:
    node = dict(node)
    if "$ref" in node:
        target = defs[node.pop("$ref").rsplit("/", 1)[-1]]
        merged = {**target, **node}
        return _convert(merged, defs, path)
    if "anyOf" in node:
        branches = [b for b in node.pop("anyOf") if b.get("type") != "null"]
        if node.get("default", 0) is None:
            node.pop("default")
        if len(branches) == 1:
            return _convert({**branches[0], **node}, defs, path)
        return _int_or_string(branches, node, path)

    out: dict[str, Any] = {}
    for key, value in node.items():
        if key == "additionalProperties" and isinstance(value, dict):
            # A map (e.g. labels): its values' schema; `false` (closed models) is dropped.
            out[key] = _convert(value, defs, f"{path}{{}}")
            continue
        if key in _DROPPED_KEYS or (key == "default" and value is None):
            continue
        if key == "properties":
            out["properties"] = {
                name: _convert(sub, defs, f"{path}.{name}") for name, sub in value.items()
            }
            for name, sub in out["properties"].items():
                if not sub.get("description"):
                    raise SchemaError(f"{path}.{name} has no description")
        elif key == "items":
            out["items"] = _convert(value, defs, f"{path}[]")
        else:
            out[key] = value
    return out


def _int_or_string(
    branches: list[dict[str, Any]], node: dict[str, Any], path: str
) -> dict[str, Any]:
    types = {b.get("type") for b in branches}
    if types != {"integer", "string"}:
        raise SchemaError(f"{path}: unions other than int-or-string are not structural")
    out = {k: v for k, v in node.items() if k not in _DROPPED_KEYS}
    out["x-kubernetes-int-or-string"] = True
    out["anyOf"] = [{"type": "integer"}, {"type": "string"}]
    # Value validations of the string branch apply only to strings, so they can sit on top.
    for branch in branches:
        for key in ("pattern", "maxLength"):
            if key in branch:
                out[key] = branch[key]
    return out


def root_schema(
    description: str,
    spec: type[BaseModel],
    status: type[BaseModel],
    validations: list[dict[str, Any]] | None = None,
) -> dict[str, Any]:
    """The openAPIV3Schema of a custom resource with the given spec and status models."""
    root: dict[str, Any] = {
        "type": "object",
        "description": description,
        "required": ["spec"],
        "properties": {
            "apiVersion": {"type": "string", "description": "APIVersion of this object."},
            "kind": {"type": "string", "description": "Kind of this object."},
            "metadata": {"type": "object"},
            "spec": structural_schema(spec),
            "status": structural_schema(status),
        },
    }
    if validations:
        root["x-kubernetes-validations"] = validations
    return root


def custom_resource_definition(
    *,
    kind: str,
    plural: str,
    singular: str,
    short_names: list[str],
    root: dict[str, Any],
    subresources: dict[str, Any],
    printer_columns: list[dict[str, Any]],
) -> dict[str, Any]:
    """A namespaced CustomResourceDefinition of the repairgpt.io group, one served version."""
    return {
        "apiVersion": "apiextensions.k8s.io/v1",
        "kind": "CustomResourceDefinition",
        "metadata": {
            "name": f"{plural}.{GROUP}",
            "labels": {"app.kubernetes.io/name": "repairgpt-operator"},
        },
        "spec": {
            "group": GROUP,
            "scope": "Namespaced",
            "names": {
                "kind": kind,
                "listKind": f"{kind}List",
                "plural": plural,
                "singular": singular,
                "shortNames": list(short_names),
                "categories": ["repairgpt"],
            },
            "versions": [
                {
                    "name": VERSION,
                    "served": True,
                    "storage": True,
                    "schema": {"openAPIV3Schema": root},
                    "subresources": subresources,
                    "additionalPrinterColumns": printer_columns,
                }
            ],
        },
    }


def build_crd() -> dict[str, Any]:
    """The whole CustomResourceDefinition object."""
    root = root_schema(
        "A RepairGPT deployment managed by the RepairGPT operator: the API workload, its "
        "autoscaling, network policy, ingress, maintenance mode, database failover and backups.",
        RepairGPTInstanceSpec,
        RepairGPTInstanceStatus,
        validations=[
            cel_rule(
                f"size(self.metadata.name) <= {MAX_NAME_LENGTH} && "
                "self.metadata.name.matches('^[a-z]([-a-z0-9]*[a-z0-9])?$')",
                f"metadata.name must be a DNS-1035 label of at most {MAX_NAME_LENGTH} "
                "characters (the operator appends -api, -maintenance and -backup to it)",
                reason="FieldValueInvalid",
            )
        ],
    )
    return custom_resource_definition(
        kind=KIND,
        plural=PLURAL,
        singular=SINGULAR,
        short_names=SHORT_NAMES,
        root=root,
        subresources={
            "status": {},
            "scale": {
                "specReplicasPath": ".spec.replicas",
                "statusReplicasPath": ".status.replicas",
                "labelSelectorPath": ".status.selector",
            },
        },
        printer_columns=PRINTER_COLUMNS,
    )


def render(crd: Mapping[str, Any], header: str) -> str:
    """A CRD as the YAML text committed in crds/, below its `header`."""
    return header + yaml.safe_dump(dict(crd), sort_keys=False, width=100, allow_unicode=True)


def render_crd() -> str:
    """The RepairGPTInstance CRD as the YAML text committed in crds/."""
    return render(build_crd(), HEADER)


def generate(argv: list[str] | None, text: Callable[[], str], description: str) -> int:
    """The command line of a CRD generator: print `text()`, write it to --output, or say with
    --check whether --output still matches it (exit 1 if not)."""
    parser = argparse.ArgumentParser(description=description)
    parser.add_argument("--output", type=Path, help="write here instead of stdout")
    parser.add_argument(
        "--check", action="store_true", help="exit 1 if --output differs from the models"
    )
    args = parser.parse_args(argv)
    rendered = text()
    if args.output is None:
        sys.stdout.write(rendered)
        return 0
    if args.check:
        current = args.output.read_text() if args.output.exists() else ""
        if current != rendered:
            print(f"{args.output} is out of date; regenerate it", file=sys.stderr)
            return 1
        return 0
    args.output.parent.mkdir(parents=True, exist_ok=True)
    args.output.write_text(rendered)
    return 0


def main(argv: list[str] | None = None) -> int:
    return generate(argv, render_crd, __doc__.splitlines()[0])


if __name__ == "__main__":
    sys.exit(main())
