"""A new `spec.image` rolls the API pods one at a time on the real node (maxUnavailable 1,
maxSurge 1) while the Service keeps answering."""

from __future__ import annotations

import subprocess
import time
from dataclasses import dataclass

from tests.conftest import KubeCluster
from tests.utils.instances import api_selector, instance_documents, instance_status
from tests.utils.node import apply, get, image, pods, ready_pods, routed_service_url, wait_for
from tests.utils.service_load import ServiceLoad

READY_TIMEOUT = 180
ROLLOUT_TIMEOUT = 300
SAMPLE_EVERY = 0.3
# The load asks /ready: outside /api/ no per-client rate limit applies (the node sends every
# request from one address), so only the rollout can make a request fail.
LOAD_PATH = "/ready"
MAX_CONNECTION_FAILURES = 5


@dataclass(frozen=True)
class Sample:
    """The API pods at one moment of the rollout."""

    seconds: float
    running: int  # not terminating
    ready: int  # ready and not terminating
    ready_on_new_image: int
    terminating: int


def tag_image(cluster: KubeCluster, source: str, target: str) -> None:
    """A second name for an image already in the node's containerd (no registry involved)."""
    subprocess.run(
        ["ctr", "--address", str(cluster.node.containerd_socket), "-n", "k8s.io",
         "images", "tag", "--force", source, target],
        check=True, capture_output=True, text=True, timeout=60,
    )  # fmt: skip


def sample(cluster: KubeCluster, namespace: str, selector: str, new_image: str, t: float) -> Sample:
    everything = pods(cluster, namespace, selector)
    ready = [
        p
        for p in everything
        if not p["metadata"].get("deletionTimestamp")
        and any(
            c["type"] == "Ready" and c["status"] == "True"
            for c in (p.get("status") or {}).get("conditions") or []
        )
    ]
    return Sample(
        seconds=round(t, 1),
        running=sum(1 for p in everything if not p["metadata"].get("deletionTimestamp")),
        ready=len(ready),
        ready_on_new_image=sum(
            1 for p in ready if p["spec"]["containers"][0]["image"] == new_image
        ),
        terminating=sum(1 for p in everything if p["metadata"].get("deletionTimestamp")),
    )


def test_a_new_image_rolls_the_pods_one_at_a_time_while_the_service_keeps_answering(
    node_cluster: KubeCluster, node_namespace: str, operator_pod: str, pod_database: str
) -> None:
    cluster, namespace, name = node_cluster, node_namespace, "rollout"
    selector = api_selector(name)
    old_image = image(cluster, "repairgpt-app")
    new_image = f"{old_image}-b"
    tag_image(cluster, old_image, new_image)
    apply(
        cluster,
        namespace,
        instance_documents(name, image=old_image, database_url=pod_database, replicas=3),
    )
    wait_for(
        lambda: len(ready_pods(cluster, namespace, selector)) == 3,
        timeout=READY_TIMEOUT,
        what="3 ready API pods",
    )
    deployment = get(cluster, namespace, "deployment", f"{name}-api") or {}
    assert deployment["spec"]["strategy"] == {
        "type": "RollingUpdate",
        "rollingUpdate": {"maxUnavailable": 1, "maxSurge": 1},
    }
    url = routed_service_url(cluster, namespace, f"{name}-api") + LOAD_PATH

    samples: list[Sample] = []
    with ServiceLoad(cluster, url) as load:
        time.sleep(1)
        cluster.kubectl(
            "-n", namespace, "patch", "rgi", name, "--type", "merge",
            "-p", f'{{"spec":{{"image":"{new_image}"}}}}',
        )  # fmt: skip
        started = time.monotonic()
        while True:
            now = time.monotonic() - started
            samples.append(sample(cluster, namespace, selector, new_image, now))
            last = samples[-1]
            if last.ready_on_new_image == 3 and last.running == 3 and not last.terminating:
                break
            assert now < ROLLOUT_TIMEOUT, f"the rollout did not finish: {samples[-5:]}"
            time.sleep(SAMPLE_EVERY)
    counts = load.stop()

    print(f"rollout: {len(samples)} samples over {samples[-1].seconds} s")
    for s in samples:
        print(f"  {s}")
    print(
        f"load during the rollout: {counts.sent} requests, statuses {counts.statuses}, "
        f"connection failures {counts.failed} {counts.connection_failures}, "
        f"timeline {counts.timeline}"
    )
    assert max(s.running for s in samples) <= 4, "more than replicas + maxSurge pods"
    assert min(s.ready for s in samples) >= 2, "fewer than replicas - maxUnavailable ready"
    final = ready_pods(cluster, namespace, selector)
    assert [p["spec"]["containers"][0]["image"] for p in final] == [new_image] * 3
    wait_for(
        lambda: instance_status(cluster, namespace, name).get("phase") == "Running",
        timeout=60,
        what="the instance to be Running on the new image",
    )
    assert counts.statuses.get("200", 0) > 0
    assert counts.failed <= MAX_CONNECTION_FAILURES, counts.connection_failures
    assert set(counts.statuses) == {"200"}, counts.statuses


def test_the_restart_annotation_replaces_every_pod_while_the_service_keeps_answering(
    node_cluster: KubeCluster, node_namespace: str, operator_pod: str, pod_database: str
) -> None:
    cluster, namespace, name = node_cluster, node_namespace, "restart"
    selector = api_selector(name)
    app = image(cluster, "repairgpt-app")
    apply(
        cluster,
        namespace,
        instance_documents(name, image=app, database_url=pod_database, replicas=2),
    )
    before = wait_for(
        lambda: (lambda p: p if len(p) == 2 else None)(ready_pods(cluster, namespace, selector)),
        timeout=READY_TIMEOUT,
        what="2 ready API pods",
    )
    old_names = {p["metadata"]["name"] for p in before}
    url = routed_service_url(cluster, namespace, f"{name}-api") + LOAD_PATH

    with ServiceLoad(cluster, url) as load:
        time.sleep(1)
        cluster.kubectl("-n", namespace, "annotate", "rgi", name, "repairgpt.io/restart=first")
        started = time.monotonic()
        while True:
            everything = pods(cluster, namespace, selector)
            ready = ready_pods(cluster, namespace, selector)
            fresh = [p for p in ready if p["metadata"]["name"] not in old_names]
            if len(fresh) == 2 and len(everything) == 2:
                break
            assert len(ready) >= 1, "the restart left no ready pod"
            assert time.monotonic() - started < ROLLOUT_TIMEOUT, "the restart did not finish"
            time.sleep(SAMPLE_EVERY)
    counts = load.stop()
    print(
        f"restart: {time.monotonic() - started:.1f} s; load {counts.sent} requests, statuses "
        f"{counts.statuses}, connection failures {counts.failed} {counts.connection_failures}"
    )
    assert counts.statuses.get("200", 0) > 0
    assert counts.failed <= MAX_CONNECTION_FAILURES, counts.connection_failures
    assert set(counts.statuses) == {"200"}, counts.statuses
    restart = wait_for(
        lambda: (lambda r: r if r.get("rolledOutTime") else None)(
            instance_status(cluster, namespace, name).get("restart") or {}
        ),
        timeout=60,
        what="status.restart.rolledOutTime",
    )
    assert restart["token"] == "first"
    # Only the new token rolled the pods: they stay as they are.
    time.sleep(15)
    assert {p["metadata"]["name"] for p in ready_pods(cluster, namespace, selector)} == {
        p["metadata"]["name"] for p in fresh
    }
