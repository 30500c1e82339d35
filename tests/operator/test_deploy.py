"""The install bundle grants what the operator uses, runs it safely, and ships the CRDs."""

from __future__ import annotations

from typing import Any

import yaml

from repairgpt_operator.resources import API_CHILD_KINDS
from tests.operator.factories import REPO_ROOT

DEPLOY = REPO_ROOT / "deploy"


def _documents(name: str) -> list[dict[str, Any]]:
    return [d for d in yaml.safe_load_all((DEPLOY / name).read_text()) if d]


def _allowed(rules: list[dict[str, Any]], group: str, resource: str) -> set[str]:
    verbs: set[str] = set()
    for rule in rules:
        if group in rule["apiGroups"] and resource in rule["resources"]:
            verbs |= set(rule["verbs"])
    return verbs


def test_cluster_role_covers_every_managed_kind_and_no_wildcards() -> None:
    (role,) = [d for d in _documents("rbac.yaml") if d["kind"] == "ClusterRole"]
    rules = role["rules"]
    for kind in API_CHILD_KINDS:
        # Watched, read, and written by server-side apply (which creates through PATCH).
        assert {"get", "list", "watch", "create", "patch"} <= _allowed(
            rules, kind.group, kind.plural
        ), kind.kind
    assert {"patch"} <= _allowed(rules, "repairgpt.io", "repairgptinstances/status")
    assert {"create"} <= _allowed(rules, "", "events")
    for rule in rules:
        assert "*" not in rule["verbs"] and "*" not in rule["resources"]


def test_operator_deployment_is_non_root_with_probes_on_the_metrics_port() -> None:
    (deployment,) = _documents("operator.yaml")
    pod = deployment["spec"]["template"]["spec"]
    (container,) = pod["containers"]
    assert pod["securityContext"]["runAsNonRoot"] is True
    assert container["securityContext"]["allowPrivilegeEscalation"] is False
    assert container["securityContext"]["capabilities"] == {"drop": ["ALL"]}
    assert container["livenessProbe"]["httpGet"] == {"path": "/healthz", "port": "metrics"}
    assert container["readinessProbe"]["httpGet"]["port"] == "metrics"
    assert pod["serviceAccountName"] == "repairgpt-operator"


def test_kustomization_includes_the_crds() -> None:
    kustomization = yaml.safe_load((DEPLOY / "kustomization.yaml").read_text())
    assert "../crds" in kustomization["resources"]
    crds = yaml.safe_load((REPO_ROOT / "crds" / "Kustomization").read_text())
    assert {"repairgptinstance.yaml", "repairgptrestore.yaml"} <= set(crds["resources"])
