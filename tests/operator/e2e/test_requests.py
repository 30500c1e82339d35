"""What a reconciliation asks of the API server: a creation applies its children and writes its
status once, reading nothing; the rollout's progress rides on the status refresh of a Deployment
change instead of a full reconciliation."""

from __future__ import annotations

import time
from collections import Counter
from functools import partial
from typing import Any

import pytest

from repairgpt_operator.backup.job_index import JobIndex
from repairgpt_operator.conditions import ROLLOUT_HEALTHY, find_condition
from repairgpt_operator.instance.model import Instance
from repairgpt_operator.instance.pods import WatchedPods
from repairgpt_operator.instance.reconcile import (
    compares_first,
    reconcile_instance,
    refresh_status,
)
from repairgpt_operator.instance.registry import InstanceRegistry
from repairgpt_operator.instance.spec import API_VERSION, KIND
from repairgpt_operator.instance.status_refresh import slim_deployment
from repairgpt_operator.instance.verdicts import ChildVerdicts
from repairgpt_operator.instance.watched import WatchedDeployments
from repairgpt_operator.kube import APPLY_CONTENT_TYPE, Kube, load_api_client
from repairgpt_operator.rollout.reconcile import rollout_step
from tests.conftest import KubeCluster

pytestmark = pytest.mark.cluster


class CountingKube(Kube):
    """The operator's gateway, noting each request as (verb, path); APPLY for server-side
    apply."""

    def __init__(self) -> None:
        super().__init__(load_api_client())
        self.requests: list[tuple[str, str]] = []

    def _request(self, method: str, path: str, **kwargs: Any) -> Any:
        verb = "APPLY" if kwargs.get("content_type") == APPLY_CONTENT_TYPE else method
        self.requests.append((verb, path))
        return super()._request(method, path, **kwargs)

    def object_requests(self) -> list[tuple[str, str]]:
        """The requests about objects in namespaces (API discovery left out)."""
        return [(verb, path) for verb, path in self.requests if "/namespaces/" in path]


@pytest.fixture
def kube(
    k8s_cluster: KubeCluster, installed_crds: None, monkeypatch: pytest.MonkeyPatch
) -> CountingKube:
    monkeypatch.setenv("KUBECONFIG", str(k8s_cluster.kubeconfig))
    return CountingKube()


def _create(kube: Kube, namespace: str) -> dict[str, Any]:
    return kube.apply(
        {
            "apiVersion": API_VERSION,
            "kind": KIND,
            "metadata": {"name": "shop", "namespace": namespace},
            "spec": {
                "image": "ghcr.io/example/repairgpt-app:1.2.3",
                # Nothing is pulled: the pods stay not ready, which is all this test needs.
                "imagePullPolicy": "Never",
                "replicas": 2,
                "database": {"primary": {"secretName": "repairgpt-db"}},
            },
        }
    )


def _reconciled(status: dict[str, Any]) -> bool:
    condition = find_condition(status.get("conditions") or [], "Reconciled") or {}
    return condition.get("status") == "True"


def test_a_creation_applies_its_children_and_writes_its_status_once_reading_nothing(
    kube: CountingKube, k8s_namespace: str
) -> None:
    body = _create(kube, k8s_namespace)
    registry, verdicts = InstanceRegistry(), ChildVerdicts()
    registry.remember(body)
    kube.requests.clear()

    outcome = reconcile_instance(
        kube, body, compare=compares_first(body, "create"), registry=registry, verdicts=verdicts
    )

    assert outcome.error_message is None
    requests = kube.object_requests()
    verbs = Counter(verb for verb, _ in requests)
    assert verbs["APPLY"] == len(outcome.applied) >= 7, requests
    assert [path for verb, path in requests if verb == "PATCH"] == [
        f"/apis/{API_VERSION}/namespaces/{k8s_namespace}/repairgptinstances/shop/status"
    ]
    assert set(verbs) <= {"APPLY", "PATCH", "POST"}, requests  # POST: its Events
    # The one write holds the rollout's record with the rest of the status.
    stored = kube.get_instance(k8s_namespace, "shop")
    assert stored is not None
    status = stored["status"]
    assert _reconciled(status) and status["observedGeneration"] == 1
    assert status["rollout"]["image"] == "ghcr.io/example/repairgpt-app:1.2.3"
    assert find_condition(status["conditions"], ROLLOUT_HEALTHY) is not None

    # A pass that compares (a resync) afterwards finds every child in line: it applies nothing
    # (the status may follow the Deployment controller meanwhile), and reads neither the
    # children found in line nor Jobs the Job watch does not know of.
    resync = partial(
        reconcile_instance,
        kube,
        compare=True,
        registry=registry,
        verdicts=verdicts,
        jobs=JobIndex(),
        trust_watches=True,
    )
    kube.requests.clear()
    again = resync(stored)
    assert again.error_message is None and not again.applied and not again.deleted
    requests = kube.object_requests()
    assert {verb for verb, _ in requests} <= {"GET", "PATCH", "POST"}, requests
    assert all(path.endswith("/status") for verb, path in requests if verb == "PATCH")
    deployment_path = f"/apis/apps/v1/namespaces/{k8s_namespace}/deployments/shop-api"
    assert requests.count(("GET", deployment_path)) == 1  # for the rollout and the status
    assert not [path for _, path in requests if "/jobs" in path or "/cronjobs/" in path]
    assert not [path for _, path in requests if "/services/" in path or "/configmaps/" in path]

    # With the watch's copy of the API Deployment at hand, not even that one is read.
    deployments = WatchedDeployments()
    live = kube.get("apps/v1", "Deployment", k8s_namespace, "shop-api")
    assert live is not None
    deployments.remember(k8s_namespace, "shop", slim_deployment(live))
    latest = kube.get_instance(k8s_namespace, "shop")
    assert latest is not None
    kube.requests.clear()
    third = resync(latest, deployments=deployments)
    assert third.error_message is None and not third.applied and not third.deleted
    assert ("GET", deployment_path) not in kube.object_requests()


def test_the_rollout_progress_of_a_deployment_change_rides_on_the_status_refresh(
    kube: CountingKube, k8s_namespace: str
) -> None:
    body = _create(kube, k8s_namespace)
    outcome = reconcile_instance(kube, body, compare=False)
    assert outcome.error_message is None
    # The Deployment controller's first status of the new Deployment moves the rollout on.
    deadline = time.monotonic() + 60
    while True:
        deployment = kube.get("apps/v1", "Deployment", k8s_namespace, "shop-api")
        assert deployment is not None
        if (deployment.get("status") or {}).get("replicas"):
            break
        assert time.monotonic() < deadline, "the Deployment controller wrote no status"
        time.sleep(0.2)
    stored = kube.get_instance(k8s_namespace, "shop")
    assert stored is not None
    assert rollout_step(stored, deployment) == "record"  # no image changes: status only

    kube.requests.clear()
    refreshed = refresh_status(kube, stored, deployment, rollout=True)

    assert refreshed.error_message is None and refreshed.status_written
    requests = kube.object_requests()
    assert [path for verb, path in requests if verb == "PATCH"] == [
        f"/apis/{API_VERSION}/namespaces/{k8s_namespace}/repairgptinstances/shop/status"
    ]
    assert {verb for verb, _ in requests} <= {"GET", "PATCH", "POST"}, requests
    # It reads no child but the API pods (not ready: the status says why).
    assert all("/pods" in path for verb, path in requests if verb == "GET"), requests
    after = kube.get_instance(k8s_namespace, "shop")
    assert after is not None
    assert rollout_step(after, deployment) == "none"  # recorded: nothing left to move on
    assert Instance.from_body(after).state.api_image == Instance.from_body(stored).state.api_image


def test_the_reasons_of_pods_not_ready_come_from_the_pod_watch_once_it_agrees(
    kube: CountingKube, k8s_namespace: str
) -> None:
    body = _create(kube, k8s_namespace)
    assert reconcile_instance(kube, body, compare=False).error_message is None
    pods_path = f"/api/v1/namespaces/{k8s_namespace}/pods"
    selector = "app.kubernetes.io/instance=shop,app.kubernetes.io/component=api"
    deadline = time.monotonic() + 60
    while True:  # both pods exist and the Deployment counts them
        deployment = kube.get("apps/v1", "Deployment", k8s_namespace, "shop-api")
        assert deployment is not None
        live = kube.list("v1", "Pod", k8s_namespace, label_selector=selector)
        if (deployment.get("status") or {}).get("replicas") == 2 and len(live) == 2:
            break
        assert time.monotonic() < deadline, "the pods of the Deployment were not created"
        time.sleep(0.2)
    watched = WatchedPods()

    def refreshed_reasons() -> str:
        stored = kube.get_instance(k8s_namespace, "shop")
        assert stored is not None
        kube.requests.clear()
        assert refresh_status(kube, stored, deployment, pods=watched).error_message is None
        after = kube.get_instance(k8s_namespace, "shop")
        assert after is not None
        ready = find_condition(after["status"]["conditions"], "Ready") or {}
        return str(ready.get("message"))

    # The watch has seen nothing yet: the pods are listed, and the watch's copies follow.
    message = refreshed_reasons()
    assert [verb for verb, path in kube.object_requests() if path == pods_path] == ["GET"]
    assert sorted(p["metadata"]["name"] for p in watched.of(k8s_namespace, "shop")) == sorted(
        p["metadata"]["name"] for p in live
    )
    for pod in live:
        assert pod["metadata"]["name"] + ": " in message, message
    # Now it holds as many running pods as the Deployment counts: nothing is listed, and the
    # reasons stay the same.
    assert refreshed_reasons() == message
    assert not [path for _, path in kube.object_requests() if path == pods_path]
    # A pod the watch missed (deleted while it reconnected) makes it disagree: listed again.
    watched.observe({**live[0], "metadata": {**live[0]["metadata"], "name": "gone"}}, deleted=False)
    refreshed_reasons()
    assert [verb for verb, path in kube.object_requests() if path == pods_path] == ["GET"]
    assert "gone" not in {p["metadata"]["name"] for p in watched.of(k8s_namespace, "shop")}
