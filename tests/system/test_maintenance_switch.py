"""Maintenance switched on and off with `kubectl patch` on the real node: the Service serves the
maintenance page, then the API with its replicas again, and clients under load see hardly any
connection fail during either switch."""

from __future__ import annotations

import json
import time
from datetime import datetime

from tests.conftest import KubeCluster
from tests.utils.instances import (
    api_selector,
    condition,
    instance_documents,
    instance_status,
    ready_since,
)
from tests.utils.node import apply, get, image, pods, ready_pods, routed_service_url, wait_for
from tests.utils.service_load import LoadCounts, ServiceLoad

READY_TIMEOUT = 180
MESSAGE = "Fixing the guide shelves: back at 14:00"
GUIDES = "/api/v1/guides?limit=1"
# The load asks /ready (200 from the API, the 503 page in maintenance): outside /api/ no
# per-client rate limit applies, and the node sends every request from one address.
LOAD_PATH = "/ready"
# Requests that get no HTTP answer at all while one switch happens: a handful at most.
MAX_CONNECTION_FAILURES = 5
# The load keeps going this long after a switch has visibly completed (kube-proxy catches up).
SETTLE_SECONDS = 3


def answer(cluster: KubeCluster, url: str, accept: str) -> tuple[int, str] | None:
    """(status, body) of one GET from inside the node, or None when no HTTP answer came."""
    result = cluster.node_run(
        "curl", "-sS", "-m", "10", "-H", f"Accept: {accept}", "-o", "-", "-w", "\n%{http_code}",
        url, check=False, timeout=30,
    )  # fmt: skip
    if result.returncode != 0:
        return None
    body, _, code = result.stdout.rpartition("\n")
    return int(code), body


def switch_maintenance(cluster: KubeCluster, namespace: str, name: str, enabled: bool) -> None:
    patch = {"spec": {"maintenance": {"enabled": enabled}}}
    cluster.kubectl(
        "-n", namespace, "patch", "rgi", name, "--type", "merge", "-p", json.dumps(patch)
    )


def report(what: str, counts: LoadCounts) -> None:
    print(
        f"{what}: {counts.sent} requests in {counts.seconds} s, statuses {counts.statuses}, "
        f"connection failures {counts.failed} {counts.connection_failures}, "
        f"timeline {counts.timeline}"
    )


def test_maintenance_serves_the_page_then_the_api_again_with_its_replicas_under_load(
    node_cluster: KubeCluster, node_namespace: str, operator_pod: str, pod_database: str
) -> None:
    cluster, namespace, name = node_cluster, node_namespace, "switch"
    api = api_selector(name)
    page = f"app.kubernetes.io/instance={name},app.kubernetes.io/component=maintenance"
    apply(
        cluster,
        namespace,
        instance_documents(
            name,
            image=image(cluster, "repairgpt-app"),
            database_url=pod_database,
            replicas=2,
            maintenance={"enabled": False, "message": MESSAGE},
        ),
    )
    wait_for(
        lambda: len(ready_pods(cluster, namespace, api)) == 2,
        timeout=READY_TIMEOUT,
        what="2 ready API pods",
    )
    service = routed_service_url(cluster, namespace, f"{name}-api")
    url = service + GUIDES
    assert (answer(cluster, url, "application/json") or (0, ""))[0] == 200

    def serves_page() -> bool:
        got = answer(cluster, url, "application/json")
        return (
            got is not None
            and got[0] == 503
            and instance_status(cluster, namespace, name).get("phase") == "Maintenance"
            and not pods(cluster, namespace, api)
        )

    with ServiceLoad(cluster, service + LOAD_PATH) as load:
        time.sleep(2)
        switched_at = time.time()
        switch_maintenance(cluster, namespace, name, True)
        wait_for(serves_page, timeout=READY_TIMEOUT, what="the maintenance page, API pods gone")
        time.sleep(SETTLE_SECONDS)
    entering = load.stop()
    report("entering maintenance", entering)
    # Where refused connections come from: how long the Service had no ready backend.
    maintenance_pod = pods(cluster, namespace, page)[0]
    stamp = maintenance_pod["metadata"]["creationTimestamp"].replace("Z", "+00:00")
    created = datetime.fromisoformat(stamp).timestamp() - switched_at
    print(
        f"the maintenance pod was created {created:+.0f} s and turned Ready "
        f"{ready_since(maintenance_pod) - switched_at:+.0f} s after the switch"
    )

    got = answer(cluster, url, "application/json")
    assert got is not None and got[0] == 503, got
    problem = json.loads(got[1])
    assert problem["title"] == "Under maintenance" and problem["detail"] == MESSAGE, problem
    html = answer(cluster, url, "text/html")
    assert html is not None and html[0] == 503 and MESSAGE in html[1], html
    status = instance_status(cluster, namespace, name)
    assert status["maintenance"] == {"phase": "On", "previousReplicas": 2}, status
    assert condition(status, "Maintenance")["status"] == "True"
    assert (get(cluster, namespace, "deployment", f"{name}-api") or {})["spec"]["replicas"] == 0

    def serves_api() -> bool:
        got = answer(cluster, url, "application/json")
        return (
            got is not None
            and got[0] == 200
            and len(ready_pods(cluster, namespace, api)) == 2
            and not pods(cluster, namespace, page)
            and (instance_status(cluster, namespace, name).get("maintenance") or {}).get("phase")
            == "Off"
        )

    with ServiceLoad(cluster, service + LOAD_PATH) as load:
        time.sleep(2)
        switch_maintenance(cluster, namespace, name, False)
        wait_for(serves_api, timeout=READY_TIMEOUT, what="the API with 2 ready pods, page gone")
        time.sleep(SETTLE_SECONDS)
    leaving = load.stop()
    report("leaving maintenance", leaving)

    status = instance_status(cluster, namespace, name)
    assert status.get("phase") == "Running" and status.get("readyReplicas") == 2, status
    assert (get(cluster, namespace, "deployment", f"{name}-api") or {})["spec"]["replicas"] == 2
    assert get(cluster, namespace, "deployment", f"{name}-maintenance") is None
    assert entering.statuses.get("503") and leaving.statuses.get("200")
    failures = {"entering": entering.timeline, "leaving": leaving.timeline}
    assert max(entering.failed, leaving.failed) <= MAX_CONNECTION_FAILURES, (
        f"connection failures: {entering.failed} entering, {leaving.failed} leaving; {failures}"
    )
