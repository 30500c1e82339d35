"""Builds the Service `<instance>-api` in front of the API pods."""

from __future__ import annotations

from typing import Any

from repairgpt_operator.ownership import child_metadata, selector_labels
from repairgpt_operator.spec import Instance

SERVICE_PORT = 80


def build_service(instance: Instance) -> dict[str, Any]:
    """A ClusterIP Service on port 80 that forwards to the API container's `http` port."""
    return {
        "apiVersion": "v1",
        "kind": "Service",
        "metadata": child_metadata(instance),
        "spec": {
            "type": "ClusterIP",
            "selector": selector_labels(instance, "api"),
            "ports": [
                {"name": "http", "port": SERVICE_PORT, "targetPort": "http", "protocol": "TCP"}
            ],
        },
    }
