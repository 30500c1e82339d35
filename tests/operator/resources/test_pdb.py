"""The PodDisruptionBudget protects the API without blocking maintenance."""

from __future__ import annotations

from repairgpt_operator.resources.deployment import build_deployment
from repairgpt_operator.resources.pdb import build_pdb
from tests.operator.factories import make_instance


def test_pdb_limits_unavailable_pods_instead_of_requiring_available_ones() -> None:
    pdb = build_pdb(make_instance({"podDisruptionBudget": {"maxUnavailable": 2}}))
    assert pdb["apiVersion"] == "policy/v1"
    assert pdb["spec"]["maxUnavailable"] == 2
    assert "minAvailable" not in pdb["spec"]


def test_pdb_selects_the_api_pods() -> None:
    instance = make_instance()
    labels = build_deployment(instance)["spec"]["template"]["metadata"]["labels"]
    assert build_pdb(instance)["spec"]["selector"]["matchLabels"].items() <= labels.items()
