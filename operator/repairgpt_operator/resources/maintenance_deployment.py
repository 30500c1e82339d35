"""Builds the Deployment `<instance>-maintenance` that serves the maintenance page."""

from __future__ import annotations

from typing import Any

from repairgpt_operator.instance.model import Instance
from repairgpt_operator.ownership import child_metadata, common_labels, selector_labels
from repairgpt_operator.resources.deployment import (
    API_PORT,
    pre_stop_lifecycle,
    restricted_container_security_context,
    restricted_pod_security_context,
)

# The maintenance page writes next to nothing (it is its DATA_DIR, and it takes no uploads).
MAINTENANCE_TMP_SIZE_LIMIT = "64Mi"


def build_maintenance_deployment(instance: Instance) -> dict[str, Any]:
    """One pod of the app image in MAINTENANCE_MODE: it answers every request with the
    configured message and holds no database connection (it is given no database URL).

    Readiness is probed on /health: in maintenance mode /ready answers 503 by design, and this
    pod is ready as soon as it serves the page.
    """
    spec = instance.spec
    probe = {"httpGet": {"path": "/health", "port": "http"}, "timeoutSeconds": 3}
    container = {
        "name": "maintenance",
        "image": spec.image,
        "imagePullPolicy": spec.image_pull_policy,
        "ports": [{"name": "http", "containerPort": API_PORT, "protocol": "TCP"}],
        "env": [
            {"name": "MAINTENANCE_MODE", "value": "true"},
            {"name": "MAINTENANCE_MESSAGE", "value": spec.maintenance.message},
            {"name": "LOG_LEVEL", "value": spec.config.log_level},
            {"name": "DATA_DIR", "value": "/tmp"},
        ],
        "livenessProbe": {**probe, "periodSeconds": 10, "failureThreshold": 3},
        "readinessProbe": {**probe, "periodSeconds": 2, "failureThreshold": 3},
        "resources": {
            "requests": {"cpu": "50m", "memory": "128Mi"},
            "limits": {"cpu": "500m", "memory": "256Mi"},
        },
        "lifecycle": pre_stop_lifecycle(),
        "securityContext": restricted_container_security_context(),
        "volumeMounts": [{"name": "tmp", "mountPath": "/tmp"}],
    }
    return {
        "apiVersion": "apps/v1",
        "kind": "Deployment",
        "metadata": child_metadata(instance, "maintenance"),
        "spec": {
            "replicas": 1,
            "revisionHistoryLimit": 2,
            "selector": {"matchLabels": selector_labels(instance, "maintenance")},
            "template": {
                "metadata": {"labels": common_labels(instance, "maintenance")},
                "spec": {
                    "automountServiceAccountToken": False,
                    "securityContext": restricted_pod_security_context(),
                    "containers": [container],
                    "volumes": [
                        {"name": "tmp", "emptyDir": {"sizeLimit": MAINTENANCE_TMP_SIZE_LIMIT}}
                    ],
                },
            },
        },
    }
