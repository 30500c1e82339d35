"""The pod watch's copies of the API pods: slim, never older than what was held, and replaced by
a list when asked."""

from __future__ import annotations

from typing import Any

from repairgpt_operator.instance.observed import not_ready_reasons, why_not_ready
from repairgpt_operator.instance.pods import WatchedPods, running, slim_pod
from repairgpt_operator.ownership import INSTANCE_LABEL


def _pod(
    name: str, version: int, *, instance: str = "shop", deleting: bool = False, **status: Any
) -> dict[str, Any]:
    metadata: dict[str, Any] = {
        "name": name,
        "namespace": "repair",
        "resourceVersion": str(version),
        "labels": {INSTANCE_LABEL: instance, "app.kubernetes.io/component": "api"},
        "uid": f"uid-{name}",
        "managedFields": [{"manager": "kubelet"}] * 5,
    }
    if deleting:
        metadata["deletionTimestamp"] = "2026-12-01T00:00:00Z"
    return {
        "apiVersion": "v1",
        "kind": "Pod",
        "metadata": metadata,
        "spec": {"containers": [{"name": "api", "image": "repairgpt:1", "env": [{}] * 30}]},
        "status": {"phase": "Pending", **status},
    }


UNSCHEDULABLE = {
    "conditions": [
        {"type": "PodScheduled", "status": "False", "reason": "Unschedulable",
         "message": "0/1 nodes are available: 1 node(s) were unschedulable."}
    ]
}  # fmt: skip
PULL_FAILS = {
    "containerStatuses": [
        {"name": "api", "image": "repairgpt:1", "started": False, "ready": False,
         "state": {"waiting": {"reason": "ImagePullBackOff", "message": "Back-off pulling"}}}
    ]
}  # fmt: skip
CRASHING = {
    "containerStatuses": [
        {"name": "api", "image": "repairgpt:1", "started": False, "restartCount": 3,
         "state": {"waiting": {"reason": "CrashLoopBackOff"}},
         "lastState": {"terminated": {"exitCode": 1, "reason": "Error"}}}
    ]
}  # fmt: skip
STARTING = {
    "containerStatuses": [
        {"name": "api", "image": "repairgpt:1", "started": False, "state": {"running": {}}}
    ]
}


def test_a_slim_pod_gives_the_same_reasons_as_the_whole_pod() -> None:
    pods = [
        _pod("api-a", 1, **UNSCHEDULABLE),
        _pod("api-b", 2, **PULL_FAILS),
        _pod("api-c", 3, **CRASHING),
        _pod("api-d", 4, **STARTING),
        _pod("api-e", 5, deleting=True, **CRASHING),
    ]
    for pod in pods:
        assert why_not_ready(slim_pod(pod)) == why_not_ready(pod)
    slim = [slim_pod(pod) for pod in pods]
    assert not_ready_reasons(slim, limit=5) == not_ready_reasons(pods, limit=5)
    assert "api-e" not in not_ready_reasons(slim, limit=5)  # going: left out, as before
    assert "managedFields" not in slim[0]["metadata"] and "spec" not in slim[0]


def test_the_watch_keeps_the_newest_version_of_each_pod_per_instance() -> None:
    watched = WatchedPods()
    watched.observe(_pod("api-a", 10, **UNSCHEDULABLE), deleted=False)
    watched.observe(_pod("api-b", 11, **UNSCHEDULABLE), deleted=False)
    watched.observe(_pod("api-x", 12, instance="other", **UNSCHEDULABLE), deleted=False)
    watched.observe(_pod("api-a", 20, **PULL_FAILS), deleted=False)
    watched.observe(_pod("api-a", 15, **UNSCHEDULABLE), deleted=False)  # late and older
    pods = {p["metadata"]["name"]: p for p in watched.of("repair", "shop")}
    assert sorted(pods) == ["api-a", "api-b"]
    assert why_not_ready(pods["api-a"]) == why_not_ready(_pod("api-a", 20, **PULL_FAILS))

    pods["api-a"]["status"] = {}  # the reader's own copy
    kept = {p["metadata"]["name"]: p for p in watched.of("repair", "shop")}
    assert why_not_ready(kept["api-a"]) == why_not_ready(_pod("api-a", 20, **PULL_FAILS))

    watched.observe(_pod("api-b", 30), deleted=True)
    assert [p["metadata"]["name"] for p in watched.of("repair", "shop")] == ["api-a"]
    unlabelled = _pod("api-z", 40)
    del unlabelled["metadata"]["labels"]
    watched.observe(unlabelled, deleted=False)
    assert len(watched.of("repair", "shop")) == 1
    watched.forget("repair", "shop")
    assert watched.of("repair", "shop") == [] and len(watched.of("repair", "other")) == 1


def test_a_list_replaces_what_the_watch_held_except_newer_versions() -> None:
    watched = WatchedPods()
    watched.observe(_pod("api-gone", 5, **UNSCHEDULABLE), deleted=False)  # deleted unseen
    watched.observe(_pod("api-a", 30, **CRASHING), deleted=False)  # newer than the list
    watched.replace(
        "repair", "shop", [_pod("api-a", 25, **STARTING), _pod("api-b", 26, **PULL_FAILS)]
    )
    pods = {p["metadata"]["name"]: p for p in watched.of("repair", "shop")}
    assert sorted(pods) == ["api-a", "api-b"]
    assert why_not_ready(pods["api-a"]) == why_not_ready(_pod("api-a", 30, **CRASHING))
    watched.replace("repair", "shop", [])
    assert watched.of("repair", "shop") == []


def test_running_counts_the_pods_not_being_deleted() -> None:
    pods = [_pod("api-a", 1), _pod("api-b", 2, deleting=True), _pod("api-c", 3)]
    assert running(pods) == 2
    assert running(slim_pod(p) for p in pods) == 2
