"""Builds the HorizontalPodAutoscaler `<instance>-api` (autoscaling/v2, CPU and memory)."""

from __future__ import annotations

from typing import Any

from repairgpt_operator.instance.model import Instance
from repairgpt_operator.ownership import child_metadata, child_name


def _utilization(resource: str, percent: int) -> dict[str, Any]:
    return {
        "type": "Resource",
        "resource": {
            "name": resource,
            "target": {"type": "Utilization", "averageUtilization": percent},
        },
    }


def build_hpa(instance: Instance) -> dict[str, Any]:
    """An HPA on the API Deployment between minReplicas and maxReplicas."""
    autoscaling = instance.spec.autoscaling
    return {
        "apiVersion": "autoscaling/v2",
        "kind": "HorizontalPodAutoscaler",
        "metadata": child_metadata(instance),
        "spec": {
            "scaleTargetRef": {
                "apiVersion": "apps/v1",
                "kind": "Deployment",
                "name": child_name(instance, "api"),
            },
            "minReplicas": autoscaling.min_replicas,
            "maxReplicas": autoscaling.max_replicas,
            "metrics": [
                _utilization("cpu", autoscaling.target_cpu_utilization_percentage),
                _utilization("memory", autoscaling.target_memory_utilization_percentage),
            ],
        },
    }
