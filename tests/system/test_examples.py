"""The examples, reconciled by the operator as a pod, answer questions through their Service."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest
import yaml

from tests.conftest import KubeCluster
from tests.utils.node import (
    apply,
    ask,
    get,
    image,
    ready_pods,
    routed_service_url,
    wait_for,
)
from tests.utils.servers import RedisServer

EXAMPLES = Path(__file__).resolve().parents[2] / "examples"
# Small requests: the node has 2 CPUs for everything the suite runs.
SMALL = {"requests": {"cpu": "100m", "memory": "192Mi"}, "limits": {"cpu": "1", "memory": "512Mi"}}


def example_for_the_node(
    name: str, app_image: str, database_url: str, redis_url: str
) -> list[dict[str, Any]]:
    """The example as a user would apply it, with the Secrets pointing at this machine's
    servers, the image built here, and small resource requests."""
    documents = [d for d in yaml.safe_load_all((EXAMPLES / f"{name}.yaml").read_text()) if d]
    for document in documents:
        if document["kind"] == "Secret" and "database-url" in document.get("stringData", {}):
            document["stringData"]["database-url"] = database_url
        if document["kind"] == "Secret" and "redis-url" in document.get("stringData", {}):
            document["stringData"]["redis-url"] = redis_url
        if document["kind"] == "RepairGPTInstance":
            document["spec"]["image"] = app_image
            document["spec"]["resources"] = SMALL
    return documents


@pytest.mark.parametrize("example", ["minimal", "staging"])
def test_an_example_runs_its_api_pods_and_answers_in_english_and_japanese(
    node_cluster: KubeCluster,
    node_namespace: str,
    operator_pod: str,
    pod_database: str,
    pod_redis: RedisServer,
    example: str,
) -> None:
    cluster = node_cluster
    redis_url = f"redis://{cluster.node.network.host_ip}:{pod_redis.port}/0"
    documents = example_for_the_node(
        example, image(cluster, "repairgpt-app"), pod_database, redis_url
    )
    apply(cluster, node_namespace, documents)
    instance = next(d for d in documents if d["kind"] == "RepairGPTInstance")
    name = instance["metadata"]["name"]
    replicas = instance["spec"].get("replicas", 1)
    selector = f"app.kubernetes.io/instance={name},app.kubernetes.io/component=api"

    running = wait_for(
        lambda: len(ready_pods(cluster, node_namespace, selector)) == replicas,
        timeout=240,
        what=f"{replicas} ready API pod(s) of {example}",
    )
    assert running
    # The pods run the image built here, as the non-root user, with the restricted context.
    pod = ready_pods(cluster, node_namespace, selector)[0]
    assert pod["spec"]["containers"][0]["image"] == image(cluster, "repairgpt-app")
    assert pod["spec"]["securityContext"]["runAsUser"] == 10001
    status = wait_for(
        lambda: (
            (o := get(cluster, node_namespace, "rgi", name))
            and o.get("status", {}).get("readyReplicas") == replicas
            and o["status"]
        ),
        timeout=60,
        what="the instance's status to count the ready pods",
    )
    assert status["phase"] == "Running"

    base = routed_service_url(cluster, node_namespace, f"{name}-api")
    english = ask(cluster, base, "My iPhone battery drains fast, how do I replace it?")
    assert english["language"] == "en"
    assert english["citations"], english
    assert any("iphone" in c["title"].lower() for c in english["citations"]), english
    japanese = ask(cluster, base, "Switchのジョイコンが勝手に動く。直し方は？")
    assert japanese["language"] == "ja"
    assert japanese["citations"], japanese
    assert english["saved"] and japanese["saved"]
