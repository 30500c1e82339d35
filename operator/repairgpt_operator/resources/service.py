"""Builds the Service `<instance>-api` in front of the API pods."""

from __future__ import annotations

from typing import Any

from repairgpt_operator.instance.model import Instance
from repairgpt_operator.maintenance.state import serves_maintenance_page
from repairgpt_operator.ownership import Component, child_metadata, selector_labels

SERVICE_PORT = 80


def build_service(instance: Instance) -> dict[str, Any]:
    """A ClusterIP Service on port 80 that forwards to the `http` port of the API pods, or of
    the maintenance pod while the maintenance page is served."""
    on_page = serves_maintenance_page(instance.state.maintenance)
    target: Component = "maintenance" if on_page else "api"
    return {
        "apiVersion": "v1",
        "kind": "Service",
        "metadata": child_metadata(instance),
        "spec": {
            "type": "ClusterIP",
            "selector": selector_labels(instance, target),
            "ports": [
                {"name": "http", "port": SERVICE_PORT, "targetPort": "http", "protocol": "TCP"}
            ],
        },
    }
