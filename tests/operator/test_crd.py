"""The committed CRD is exactly what the spec models generate, and it is a usable CRD."""

from __future__ import annotations

import re
from typing import Any

import pytest
import yaml

from repairgpt_operator.crd import render_crd
from tests.operator.factories import REPO_ROOT

CRD_PATH = REPO_ROOT / "crds" / "repairgptinstance.yaml"


def _schema() -> dict[str, Any]:
    crd = yaml.safe_load(CRD_PATH.read_text())
    schema: dict[str, Any] = crd["spec"]["versions"][0]["schema"]["openAPIV3Schema"]
    return schema


def _walk(node: dict[str, Any], path: str = "") -> list[tuple[str, dict[str, Any]]]:
    found = [(path, node)]
    for name, child in (node.get("properties") or {}).items():
        found += _walk(child, f"{path}.{name}")
    if "items" in node:
        found += _walk(node["items"], f"{path}[]")
    return found


def test_committed_crd_matches_the_models() -> None:
    assert CRD_PATH.read_text() == render_crd(), (
        "crds/repairgptinstance.yaml is stale: run "
        "python -m repairgpt_operator.crd --output crds/repairgptinstance.yaml"
    )


def test_every_field_has_a_description() -> None:
    # The API server forbids anything but `type` on metadata.
    missing = [
        path
        for path, node in _walk(_schema())
        if path and path != ".metadata" and not node.get("description")
    ]
    assert missing == []


def test_schema_is_structural() -> None:
    for path, node in _walk(_schema()):
        if node.get("x-kubernetes-int-or-string"):
            assert node["anyOf"] == [{"type": "integer"}, {"type": "string"}], path
            continue
        assert "type" in node, f"{path} has no type"
        assert "$ref" not in node, path
        # A map (labels) has a schema for its values; objects have properties, never both.
        extra = node.get("additionalProperties")
        assert extra is None or (isinstance(extra, dict) and "properties" not in node), path


def test_contract_fields_exist() -> None:
    spec = _schema()["properties"]["spec"]["properties"]
    assert {
        "image",
        "replicas",
        "autoscaling",
        "resources",
        "config",
        "database",
        "redis",
        "llm",
        "storage",
        "maintenance",
        "failover",
        "backup",
        "networkPolicy",
        "ingress",
    } <= set(spec)
    assert "targetCPUUtilizationPercentage" in spec["autoscaling"]["properties"]
    assert "baseURL" in spec["llm"]["properties"]
    assert "trustedProxies" in spec["ingress"]["properties"]
    assert "emptyDirSizeLimit" in spec["storage"]["properties"]
    assert "metricsNamespaces" in spec["networkPolicy"]["properties"]
    admin = spec["adminApiKeySecret"]
    assert set(admin["properties"]) == {"name", "key"} and admin["required"] == ["name"]
    status = _schema()["properties"]["status"]["properties"]
    assert {
        "observedGeneration",
        "phase",
        "conditions",
        "replicas",
        "readyReplicas",
        "database",
        "backup",
    } <= set(status)


def test_cross_field_rules_are_cel_validations() -> None:
    spec = _schema()["properties"]["spec"]
    rules = [r["rule"] for r in spec["x-kubernetes-validations"]]
    rules += [r["rule"] for r in spec["properties"]["autoscaling"]["x-kubernetes-validations"]]
    rules += [r["rule"] for r in spec["properties"]["backup"]["x-kubernetes-validations"]]
    assert "self.minReplicas <= self.maxReplicas" in rules
    assert any("has(self.database.replica)" in r for r in rules)
    assert any("self.s3.bucket" in r for r in rules)


def test_crd_has_short_name_subresources_and_printer_columns() -> None:
    crd = yaml.safe_load(CRD_PATH.read_text())
    assert crd["spec"]["names"]["shortNames"] == ["rgi"]
    version = crd["spec"]["versions"][0]
    assert version["subresources"]["status"] == {}
    assert version["subresources"]["scale"] == {
        "specReplicasPath": ".spec.replicas",
        "statusReplicasPath": ".status.replicas",
        "labelSelectorPath": ".status.selector",
    }
    columns = [c["name"] for c in version["additionalPrinterColumns"]]
    assert columns == [
        "Phase",
        "Ready",
        "Replicas",
        "Database",
        "Maintenance",
        "Last Backup",
        "Age",
    ]


def test_config_fields_the_api_never_read_are_gone_from_the_schema() -> None:
    # Removed fields are pruned from stored objects and from applies without strict validation.
    config = _schema()["properties"]["spec"]["properties"]["config"]
    assert not {"debug", "apiVersion"} & set(config["properties"])
    assert not {"debug", "apiVersion"} & set(config["default"])


@pytest.mark.parametrize("proxy", ["*", "10.0.0.1", "10.0.0.0/8", "fd00::/8", "::1"])
def test_the_schema_accepts_proxy_addresses(proxy: str) -> None:
    item = _schema()["properties"]["spec"]["properties"]["ingress"]["properties"]
    assert re.match(item["trustedProxies"]["items"]["pattern"], proxy)


@pytest.mark.parametrize("proxy", ["ingress-nginx", "10.0.0.0/8,10.1.0.0/16", "", "* "])
def test_the_schema_refuses_what_is_no_proxy_address(proxy: str) -> None:
    item = _schema()["properties"]["spec"]["properties"]["ingress"]["properties"]
    assert not re.match(item["trustedProxies"]["items"]["pattern"], proxy)
