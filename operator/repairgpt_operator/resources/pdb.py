"""Builds the PodDisruptionBudget `<instance>-api` of the API pods."""

from __future__ import annotations

from typing import Any

from repairgpt_operator.instance.model import Instance
from repairgpt_operator.ownership import child_metadata, selector_labels


def build_pdb(instance: Instance) -> dict[str, Any]:
    """A PDB by maxUnavailable: it limits evictions during node drains but, unlike minAvailable,
    never blocks scaling the API to zero (maintenance mode)."""
    return {
        "apiVersion": "policy/v1",
        "kind": "PodDisruptionBudget",
        "metadata": child_metadata(instance),
        "spec": {
            "maxUnavailable": instance.spec.pod_disruption_budget.max_unavailable,
            "selector": {"matchLabels": selector_labels(instance, "api")},
        },
    }
