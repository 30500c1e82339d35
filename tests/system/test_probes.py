"""The API pods' probes on the real node: a pod joins its Service only while its database is
reachable and migrated to head, and when it is not, the instance's status says why without
revealing the database password."""

from __future__ import annotations

import json
import time
import uuid
from collections.abc import Iterator
from typing import Any

import psycopg
import pytest

from repairgpt.core.db import _MIGRATION_LOCK_KEY, head_revision
from tests.conftest import KubeCluster
from tests.utils.instances import (
    api_selector,
    condition,
    instance_documents,
    instance_status,
    ready_since,
)
from tests.utils.node import apply, image, pods, ready_pods, wait_for
from tests.utils.servers import PostgresServer, free_port

READY_TIMEOUT = 180
STARTING = "starting (the startup probe, /health, has not passed yet)"
READY_FAILS = "running, but /ready fails: the database is unreachable or not migrated"


def events(cluster: KubeCluster, namespace: str) -> list[dict[str, Any]]:
    out = cluster.kubectl("-n", namespace, "get", "events", "-o", "json").stdout
    items: list[dict[str, Any]] = json.loads(out)["items"]
    return items


def probe_failures(cluster: KubeCluster, namespace: str, pod: str, probe: str) -> list[str]:
    """The kubelet's `<probe> probe failed: ...` messages about one pod."""
    return [
        e.get("message", "")
        for e in events(cluster, namespace)
        if e["involvedObject"].get("name") == pod
        and e.get("reason") == "Unhealthy"
        and e.get("message", "").startswith(f"{probe} probe failed")
    ]


def ready_message(cluster: KubeCluster, namespace: str, name: str) -> str:
    return str(condition(instance_status(cluster, namespace, name), "Ready").get("message", ""))


def alembic_version(server: PostgresServer, dbname: str) -> str | None:
    """The database's migration revision; None while alembic's table does not exist."""
    if not server.psql("SELECT to_regclass('public.alembic_version')", dbname):
        return None
    return server.psql("SELECT version_num FROM alembic_version", dbname)


@pytest.fixture
def fresh_database(pod_postgres: PostgresServer) -> str:
    name = f"t_{uuid.uuid4().hex[:12]}"
    pod_postgres.create_database(name)
    return name


@pytest.fixture
def migration_lock(
    pod_postgres: PostgresServer, fresh_database: str
) -> Iterator[psycopg.Connection]:
    """The API's migration lock, held by the test: the API waits for it before migrating (as
    it would behind another replica's long migration) until the connection is closed."""
    connection = psycopg.connect(pod_postgres.url_for(fresh_database), autocommit=True)
    connection.execute("SELECT pg_advisory_lock(%s)", (_MIGRATION_LOCK_KEY,))
    yield connection
    connection.close()


def test_api_pods_are_ready_only_while_their_database_is_migrated_to_head(
    node_cluster: KubeCluster,
    node_namespace: str,
    operator_pod: str,
    pod_postgres: PostgresServer,
    fresh_database: str,
    migration_lock: psycopg.Connection,
) -> None:
    cluster, namespace, name = node_cluster, node_namespace, "probes"
    selector = api_selector(name)
    apply(
        cluster,
        namespace,
        instance_documents(
            name,
            image=image(cluster, "repairgpt-app"),
            database_url=pod_postgres.pod_url_for(fresh_database),
        ),
    )

    # While the migration waits, the container runs but the pod stays out of the Service: the
    # startup probe fails (nothing listens before migrating) and the status says so.
    pod = wait_for(
        lambda: next(
            (
                p["metadata"]["name"]
                for p in pods(cluster, namespace, selector)
                if "running" in (p["status"].get("containerStatuses") or [{}])[0].get("state", {})
            ),
            None,
        ),
        timeout=READY_TIMEOUT,
        what="a running API container",
    )
    held_until = time.monotonic() + 25
    while time.monotonic() < held_until:
        assert not ready_pods(cluster, namespace, selector), "Ready before migrating"
        assert alembic_version(pod_postgres, fresh_database) is None
        time.sleep(1)
    startup_failures = probe_failures(cluster, namespace, pod, "Startup")
    print(f"while migrations waited: {startup_failures}")
    assert startup_failures, "the kubelet reported no failed startup probe while migrating"
    wait_for(
        lambda: STARTING in ready_message(cluster, namespace, name),
        timeout=60,
        what=f"the Ready condition to say {STARTING!r}",
    )

    migration_lock.close()
    released_at = time.time()
    ready = wait_for(
        lambda: ready_pods(cluster, namespace, selector),
        timeout=READY_TIMEOUT,
        what="the API pod to turn Ready after migrating",
    )
    assert alembic_version(pod_postgres, fresh_database) == head_revision()
    assert ready_since(ready[0]) >= int(released_at) - 1, "Ready before the migration ran"
    wait_for(
        lambda: instance_status(cluster, namespace, name).get("phase") == "Running",
        timeout=60,
        what="the instance to be Running",
    )

    # A database that falls behind head (as after a restore of an older dump) makes /ready
    # answer 503: the pod leaves the Service and the status says why.
    pod_postgres.psql("UPDATE alembic_version SET version_num = 'behind-head'", fresh_database)
    wait_for(
        lambda: not ready_pods(cluster, namespace, selector),
        timeout=60,
        what="the API pod to turn unready once the database is behind head",
    )
    # The kubelet posts its events on its own schedule: wait for the 503 to be recorded.
    readiness_failures = wait_for(
        lambda: [
            m
            for m in probe_failures(cluster, namespace, pod, "Readiness")
            if "statuscode: 503" in m
        ],
        timeout=60,
        what="the kubelet's event of a readiness probe answered 503",
    )
    print(f"while behind head: {readiness_failures}")
    wait_for(
        lambda: READY_FAILS in ready_message(cluster, namespace, name),
        timeout=60,
        what=f"the Ready condition to say {READY_FAILS!r}",
    )
    assert instance_status(cluster, namespace, name).get("phase") != "Running"

    pod_postgres.psql(
        f"UPDATE alembic_version SET version_num = '{head_revision()}'", fresh_database
    )
    wait_for(
        lambda: ready_pods(cluster, namespace, selector),
        timeout=60,
        what="the API pod to turn Ready again at head",
    )


@pytest.mark.parametrize("wrong", ["missing-database", "closed-port"])
def test_a_wrong_database_url_keeps_the_pods_unready_and_the_status_says_why_without_the_password(
    node_cluster: KubeCluster,
    node_namespace: str,
    operator_pod: str,
    pod_postgres: PostgresServer,
    wrong: str,
) -> None:
    cluster, namespace, name = node_cluster, node_namespace, "wrong-db"
    password = f"pw-{uuid.uuid4().hex}"
    host = cluster.node.network.host_ip
    port = pod_postgres.port if wrong == "missing-database" else free_port()
    dbname = f"missing_{uuid.uuid4().hex[:8]}" if wrong == "missing-database" else "postgres"
    url = f"postgresql://postgres:{password}@{host}:{port}/{dbname}"
    selector = api_selector(name)
    apply(
        cluster,
        namespace,
        instance_documents(name, image=image(cluster, "repairgpt-app"), database_url=url),
    )

    def why() -> str | None:
        assert not ready_pods(cluster, namespace, selector), "an API pod is Ready"
        message = ready_message(cluster, namespace, name)
        reasons = ("restarting (last exit code", READY_FAILS)
        return message if any(r in message for r in reasons) else None

    message = wait_for(why, timeout=READY_TIMEOUT, what="the Ready condition to say why")
    print(f"{wrong}: Ready condition: {message}")
    status = instance_status(cluster, namespace, name)
    assert status.get("phase") != "Running"
    assert not status.get("readyReplicas")
    assert condition(status, "Ready")["status"] == "False"

    instance = cluster.kubectl("-n", namespace, "get", "rgi", name, "-o", "json").stdout
    assert password not in instance
    assert password not in json.dumps(events(cluster, namespace))
    for pod in pods(cluster, namespace, selector):
        for previous in ("--previous=false", "--previous=true"):
            logs = cluster.kubectl(
                "-n", namespace, "logs", pod["metadata"]["name"], previous, check=False
            )
            assert password not in logs.stdout + logs.stderr
