"""The HPA scales the API Deployment on CPU and memory."""

from __future__ import annotations

from repairgpt_operator.resources.hpa import build_hpa
from tests.operator.factories import example_instance


def test_hpa_of_the_production_example_scales_5_to_20_on_cpu_70_and_memory_80() -> None:
    hpa = build_hpa(example_instance("production"))
    assert hpa["apiVersion"] == "autoscaling/v2"
    spec = hpa["spec"]
    assert spec["scaleTargetRef"] == {
        "apiVersion": "apps/v1",
        "kind": "Deployment",
        "name": "repairgpt-api",
    }
    assert (spec["minReplicas"], spec["maxReplicas"]) == (5, 20)
    targets = {
        m["resource"]["name"]: m["resource"]["target"]["averageUtilization"]
        for m in spec["metrics"]
    }
    assert targets == {"cpu": 70, "memory": 80}
