"""Day-2 operations on real pods: a restart on request, and a rollout whose pods never become
ready, rolled back to the last good image once.

The operator runs as a local process; the API pods run on the local cluster's node from the
image built from this repository, and the Deployment controller says when a rollout is complete
or has missed its deadline.
"""

from __future__ import annotations

import json
import time
from typing import Any

import pytest

from tests.conftest import KubeCluster
from tests.operator.e2e.conftest import TEST_RESYNC_SECONDS, OperatorProcess
from tests.operator.e2e.observe import condition, get_json, list_json, wait_until
from tests.operator.e2e.test_plugin import kubectl_repairgpt
from tests.system.test_rollout import tag_image
from tests.utils.instances import api_selector, instance_documents
from tests.utils.node import apply, image, ready_pods

pytestmark = pytest.mark.cluster

READY_SECONDS = 180
# The shortest deadline the CRD accepts is 10 s; a little more leaves a slow node room to start
# a good pod.
DEADLINE_SECONDS = 20


def _rgi(cluster: KubeCluster, namespace: str, name: str) -> dict[str, Any]:
    return get_json(cluster, namespace, "rgi", name) or {}


def _deployment(cluster: KubeCluster, namespace: str, name: str) -> dict[str, Any]:
    return get_json(cluster, namespace, "deployment", f"{name}-api") or {}


def _template_image(deployment: dict[str, Any]) -> str:
    image_ref: str = deployment["spec"]["template"]["spec"]["containers"][0]["image"]
    return image_ref


def _patch_spec(cluster: KubeCluster, namespace: str, name: str, spec: dict[str, Any]) -> None:
    cluster.kubectl(
        "-n", namespace, "patch", "rgi", name, "--type=merge", "-p", json.dumps({"spec": spec})
    )


def _ready_on(cluster: KubeCluster, namespace: str, name: str, image_ref: str) -> bool:
    pods = ready_pods(cluster, namespace, api_selector(name))
    return bool(pods) and all(p["spec"]["containers"][0]["image"] == image_ref for p in pods)


def _events(cluster: KubeCluster, namespace: str, reason: str) -> list[dict[str, Any]]:
    return [e for e in list_json(cluster, namespace, "events") if e.get("reason") == reason]


def test_the_restart_annotation_rolls_the_pods_once_per_token(
    node_cluster: KubeCluster,
    node_namespace: str,
    operator: OperatorProcess,
    pod_database: str,
) -> None:
    cluster, namespace, name = node_cluster, node_namespace, "restart"
    app = image(cluster, "repairgpt-app")
    apply(cluster, namespace, instance_documents(name, image=app, database_url=pod_database))
    [first] = wait_until(
        lambda: ready_pods(cluster, namespace, api_selector(name)),
        timeout=READY_SECONDS,
        what="a ready API pod",
    )

    annotated = time.monotonic()
    cluster.kubectl("-n", namespace, "annotate", "rgi", name, "repairgpt.io/restart=token-1")
    wait_until(
        lambda: (
            _deployment(cluster, namespace, name)["spec"]["template"]["metadata"]
            .get("annotations", {})
            .get("repairgpt.io/restart")
            == "token-1"
        ),
        timeout=30,
        what="the restart token in the pod template",
        interval=0.1,
    )
    latency = time.monotonic() - annotated
    print(f"restart: the pod template carries the token {latency:.2f} s after the annotation")
    assert latency <= 2.0, f"the restart took {latency:.2f} s to reach the Deployment"

    [second] = wait_until(
        lambda: [
            p
            for p in ready_pods(cluster, namespace, api_selector(name))
            if p["metadata"]["name"] != first["metadata"]["name"]
        ],
        timeout=READY_SECONDS,
        what="a new ready API pod",
    )
    restart = wait_until(
        lambda: (lambda r: r if r.get("rolledOutTime") else None)(
            (_rgi(cluster, namespace, name).get("status") or {}).get("restart") or {}
        ),
        timeout=READY_SECONDS,
        what="status.restart.rolledOutTime",
    )
    assert restart["token"] == "token-1" and restart["requestedTime"]
    assert [e["message"] for e in _events(cluster, namespace, "Restarting")] == [
        "restart token-1: rolling the API pods"
    ]
    generation = _deployment(cluster, namespace, name)["metadata"]["generation"]

    # The same token rolls nothing more, and neither does removing the annotation.
    time.sleep(3 * TEST_RESYNC_SECONDS)
    cluster.kubectl("-n", namespace, "annotate", "rgi", name, "repairgpt.io/restart-")
    time.sleep(3 * TEST_RESYNC_SECONDS)
    assert _deployment(cluster, namespace, name)["metadata"]["generation"] == generation
    pods = ready_pods(cluster, namespace, api_selector(name))
    assert [p["metadata"]["name"] for p in pods] == [second["metadata"]["name"]]

    # A new token rolls the pods again; its restart is not done before its pods are.
    cluster.kubectl("-n", namespace, "annotate", "rgi", name, "repairgpt.io/restart=token-2")
    restart = wait_until(
        lambda: (lambda r: r if r.get("token") == "token-2" else None)(
            (_rgi(cluster, namespace, name).get("status") or {}).get("restart") or {}
        ),
        timeout=30,
        what="status.restart.token to be token-2",
        interval=0.1,
    )
    assert "rolledOutTime" not in restart, restart
    wait_until(
        lambda: [
            p
            for p in ready_pods(cluster, namespace, api_selector(name))
            if p["metadata"]["name"] != second["metadata"]["name"]
        ],
        timeout=READY_SECONDS,
        what="a third ready API pod",
    )


def test_a_bad_image_is_rolled_back_to_the_last_good_one_once_and_a_new_image_is_tried(
    node_cluster: KubeCluster,
    node_namespace: str,
    operator: OperatorProcess,
    pod_database: str,
) -> None:
    cluster, namespace, name = node_cluster, node_namespace, "rollback"
    good = image(cluster, "repairgpt-app")
    # Not in the node's containerd, and no registry is reachable: the pod stays ErrImagePull.
    bad = good.rpartition(":")[0] + ":does-not-exist"
    rollout = {"progressDeadlineSeconds": DEADLINE_SECONDS, "autoRollback": True}
    documents = instance_documents(name, image=good, database_url=pod_database, rollout=rollout)
    apply(cluster, namespace, documents)
    stored = wait_until(
        lambda: (lambda o: o if ((o.get("status") or {}).get("rollout") or {}).get(
            "lastGoodImage"
        ) else None)(_rgi(cluster, namespace, name)),
        timeout=READY_SECONDS,
        what="status.rollout.lastGoodImage",
    )  # fmt: skip
    assert stored["status"]["rollout"]["lastGoodImage"] == good
    assert [entry["image"] for entry in stored["status"]["rollout"]["history"]] == [good]
    healthy = condition(stored, "RolloutHealthy")
    assert healthy is not None and (healthy["status"], healthy["reason"]) == ("True", "RolledOut")

    _patch_spec(cluster, namespace, name, {"image": bad})
    wait_until(
        lambda: _template_image(_deployment(cluster, namespace, name)) == bad,
        timeout=30,
        what="the Deployment to try the bad image",
    )
    stored = wait_until(
        lambda: (lambda o: o if (condition(o, "RolloutHealthy") or {}).get("reason") == "RolledBack"
                 else None)(_rgi(cluster, namespace, name)),
        timeout=DEADLINE_SECONDS + 120,
        what="RolloutHealthy=False reason RolledBack",
    )  # fmt: skip
    failure = stored["status"]["rollout"]["failure"]
    assert (failure["image"], failure["rolledBackTo"]) == (bad, good)
    assert stored["spec"]["image"] == bad, "spec.image stays the user's"
    assert stored["status"]["rollout"]["image"] == good
    message = (condition(stored, "RolloutHealthy") or {})["message"]
    assert f"spec.image {bad} is not applied until it changes" in message
    assert _template_image(_deployment(cluster, namespace, name)) == good
    wait_until(
        lambda: _ready_on(cluster, namespace, name, good),
        timeout=READY_SECONDS,
        what="the API pods back on the good image",
    )
    [rolled_back] = _events(cluster, namespace, "RolledBack")
    assert rolled_back["type"] == "Warning" and bad in rolled_back["message"]
    assert len(_events(cluster, namespace, "RolloutFailed")) == 1

    # No loop: resyncs and drift correction leave the Deployment on the good image.
    generation = _deployment(cluster, namespace, name)["metadata"]["generation"]
    time.sleep(4 * TEST_RESYNC_SECONDS)
    deployment = _deployment(cluster, namespace, name)
    assert (deployment["metadata"]["generation"], _template_image(deployment)) == (
        generation,
        good,
    )
    assert len(_events(cluster, namespace, "RolledBack")) == 1

    # A different spec.image is tried (and this one becomes ready).
    fixed = f"{good}-fixed"
    tag_image(cluster, good, fixed)
    _patch_spec(cluster, namespace, name, {"image": fixed})
    stored = wait_until(
        lambda: (lambda o: o if ((o.get("status") or {}).get("rollout") or {}).get(
            "lastGoodImage"
        ) == fixed else None)(_rgi(cluster, namespace, name)),
        timeout=READY_SECONDS,
        what="the fixed image to become the last good one",
    )  # fmt: skip
    assert [entry["image"] for entry in stored["status"]["rollout"]["history"]] == [fixed, good]
    assert "failure" not in stored["status"]["rollout"]
    healthy = condition(stored, "RolloutHealthy")
    assert healthy is not None and (healthy["status"], healthy["reason"]) == ("True", "RolledOut")
    assert _ready_on(cluster, namespace, name, fixed)

    # `kubectl repairgpt rollback` goes to the image that was good before the current one.
    rolled = kubectl_repairgpt(cluster, "-n", namespace, "rollback", name)
    assert rolled.returncode == 0, rolled.stderr
    assert f"{fixed} -> {good}" in rolled.stdout
    assert _rgi(cluster, namespace, name)["spec"]["image"] == good


def test_a_missed_deadline_is_reported_and_rolled_back_once_auto_rollback_is_switched_on(
    node_cluster: KubeCluster,
    node_namespace: str,
    operator: OperatorProcess,
    pod_database: str,
) -> None:
    cluster, namespace, name = node_cluster, node_namespace, "deadline"
    good = image(cluster, "repairgpt-app")
    bad = good.rpartition(":")[0] + ":not-on-this-node"
    rollout = {"progressDeadlineSeconds": DEADLINE_SECONDS}
    documents = instance_documents(name, image=good, database_url=pod_database, rollout=rollout)
    apply(cluster, namespace, documents)
    wait_until(
        lambda: (
            ((_rgi(cluster, namespace, name).get("status") or {}).get("rollout") or {}).get(
                "lastGoodImage"
            )
            == good
        ),
        timeout=READY_SECONDS,
        what="the good image to be ready",
    )
    assert _deployment(cluster, namespace, name)["spec"]["progressDeadlineSeconds"] == (
        DEADLINE_SECONDS
    )

    _patch_spec(cluster, namespace, name, {"image": bad})
    stored = wait_until(
        lambda: (lambda o: o if (condition(o, "RolloutHealthy") or {}).get("status") == "False"
                 else None)(_rgi(cluster, namespace, name)),
        timeout=DEADLINE_SECONDS + 120,
        what="RolloutHealthy=False",
    )  # fmt: skip
    healthy = condition(stored, "RolloutHealthy") or {}
    assert healthy["reason"] == "ProgressDeadlineExceeded"
    assert healthy["message"] == (
        f"pods of {bad} were not ready within {DEADLINE_SECONDS} s; "
        "spec.rollout.autoRollback is off"
    )
    assert stored["status"]["rollout"]["failure"]["image"] == bad
    assert "rolledBackTo" not in stored["status"]["rollout"]["failure"]
    [event] = wait_until(
        lambda: _events(cluster, namespace, "RolloutFailed"),
        timeout=30,
        what="a RolloutFailed event",
    )
    assert event["type"] == "Warning" and bad in event["message"]
    time.sleep(2 * TEST_RESYNC_SECONDS)
    assert _template_image(_deployment(cluster, namespace, name)) == bad, "no rollback when off"

    _patch_spec(cluster, namespace, name, {"rollout": {"autoRollback": True}})
    wait_until(
        lambda: _template_image(_deployment(cluster, namespace, name)) == good,
        timeout=30,
        what="the rollback once autoRollback is on",
    )
    wait_until(
        lambda: _ready_on(cluster, namespace, name, good),
        timeout=READY_SECONDS,
        what="the API pods back on the good image",
    )
    stored = _rgi(cluster, namespace, name)
    assert stored["status"]["rollout"]["failure"]["rolledBackTo"] == good
    assert (condition(stored, "RolloutHealthy") or {}).get("reason") == "RolledBack"
