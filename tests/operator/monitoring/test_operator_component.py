"""deploy/monitoring/: the operator's own PodMonitor and alerts, as a kustomize component."""

from __future__ import annotations

import os
import subprocess
from pathlib import Path
from typing import Any

import pytest
import yaml

from tests.operator.factories import REPO_ROOT
from tests.operator.monitoring.metric_names import SYNTHETIC, operator_series, selected
from tests.operator.test_rbac import _kubectl

DEPLOY = REPO_ROOT / "deploy"


def render_with_monitoring(folder: Path) -> list[dict[str, Any]]:
    """deploy/ with the deploy/monitoring component, as `kubectl apply -k` would apply it."""
    folder.mkdir(parents=True, exist_ok=True)
    kustomization = {
        "resources": [os.path.relpath(DEPLOY, folder)],
        "components": [os.path.relpath(DEPLOY / "monitoring", folder)],
    }
    (folder / "kustomization.yaml").write_text(yaml.safe_dump(kustomization))
    result = subprocess.run(
        [_kubectl(), "kustomize", str(folder)], capture_output=True, text=True, check=False
    )
    assert result.returncode == 0, result.stderr
    return [d for d in yaml.safe_load_all(result.stdout) if d]


@pytest.fixture(scope="module")
def bundle(tmp_path_factory: pytest.TempPathFactory) -> list[dict[str, Any]]:
    return render_with_monitoring(tmp_path_factory.mktemp("monitoring") / "install")


def _one(bundle: list[dict[str, Any]], kind: str, name: str) -> dict[str, Any]:
    (found,) = [d for d in bundle if d["kind"] == kind and d["metadata"]["name"] == name]
    return found


def test_the_pod_monitor_scrapes_the_operators_metrics_port_keeping_its_labels(
    bundle: list[dict[str, Any]],
) -> None:
    monitor = _one(bundle, "PodMonitor", "repairgpt-operator")
    operator = _one(bundle, "Deployment", "repairgpt-operator")
    template = operator["spec"]["template"]
    assert monitor["metadata"]["namespace"] == operator["metadata"]["namespace"]
    assert (
        monitor["spec"]["selector"]["matchLabels"].items() <= template["metadata"]["labels"].items()
    )
    (endpoint,) = monitor["spec"]["podMetricsEndpoints"]
    ports = {p["name"] for c in template["spec"]["containers"] for p in c["ports"]}
    assert endpoint["port"] in ports
    assert endpoint["honorLabels"] is True


def test_the_operators_alerts_are_complete_and_on_its_own_metrics(
    bundle: list[dict[str, Any]],
) -> None:
    rule = _one(bundle, "PrometheusRule", "repairgpt-operator")
    alerts = {r["alert"]: r for group in rule["spec"]["groups"] for r in group["rules"]}
    assert set(alerts) == {
        "RepairGPTOperatorDown",
        "RepairGPTOperatorReconcileErrors",
        "RepairGPTOperatorRetriesStuck",
        "RepairGPTOperatorQueueBacklog",
        "RepairGPTOperatorResyncBehind",
    }
    readme = (REPO_ROOT / "README.md").read_text().lower()
    known = operator_series() | SYNTHETIC
    for name, alert in alerts.items():
        assert alert["labels"]["severity"] in ("warning", "critical")
        annotations = alert["annotations"]
        assert annotations["summary"] and annotations["description"]
        assert annotations["runbook_url"].endswith("#" + name.lower())
        assert f"### {name.lower()}\n" in readme
        used = selected([alert["expr"]])
        assert used and {metric for metric, _ in used} <= known, name
        assert all('job="repairgpt-operator"' in matchers for _, matchers in used)
