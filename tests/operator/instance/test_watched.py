"""The watch's copy of each instance's API Deployment: slim, a copy for each reader, gone with
the Deployment."""

from __future__ import annotations

from repairgpt_operator.instance.status_refresh import slim_deployment
from repairgpt_operator.instance.watched import WatchedDeployments
from repairgpt_operator.resources import build_deployment
from tests.operator.factories import make_instance


def test_the_latest_deployment_is_kept_slim_and_handed_out_as_copies() -> None:
    deployments = WatchedDeployments()
    assert deployments.get("repair", "shop") is None
    deployment = build_deployment(make_instance())
    deployment["status"] = {"replicas": 2, "readyReplicas": 1}
    deployments.remember("repair", "shop", slim_deployment(deployment))
    kept = deployments.get("repair", "shop")
    assert kept == slim_deployment(deployment)
    assert kept is not None
    kept["status"]["readyReplicas"] = 2  # the reader's own copy
    assert deployments.get("repair", "shop") == slim_deployment(deployment)
    deployment["status"] = {"replicas": 2, "readyReplicas": 2}
    deployments.remember("repair", "shop", slim_deployment(deployment))
    newest = deployments.get("repair", "shop")
    assert newest is not None and newest["status"]["readyReplicas"] == 2
    deployments.forget("repair", "shop")
    assert deployments.get("repair", "shop") is None and len(deployments) == 0
