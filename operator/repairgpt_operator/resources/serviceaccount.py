"""Builds the ServiceAccount `<instance>-api` that the API pods run as."""

from __future__ import annotations

from typing import Any

from repairgpt_operator.instance.model import Instance
from repairgpt_operator.ownership import child_metadata


def build_serviceaccount(instance: Instance) -> dict[str, Any]:
    """A ServiceAccount without an API token: the API never talks to Kubernetes."""
    return {
        "apiVersion": "v1",
        "kind": "ServiceAccount",
        "metadata": child_metadata(instance),
        "automountServiceAccountToken": False,
    }
