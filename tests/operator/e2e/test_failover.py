"""Failover to a real streaming replica when the real primary dies, and failback both ways."""

from __future__ import annotations

import json
import time
from collections.abc import Iterator
from typing import Any

import pytest

from tests.conftest import KubeCluster
from tests.operator.e2e.conftest import OperatorProcess, apply_manifest
from tests.operator.e2e.databases import (
    SECRET_KEY,
    PrimaryAndReplica,
    database_secrets,
    instance_manifest,
)
from tests.operator.e2e.observe import condition, get_json, is_reconciled, wait_until
from tests.operator.e2e.test_plugin import kubectl_repairgpt

pytestmark = pytest.mark.cluster

NAME = "shop"
PRIMARY_SECRET = "shop-db"
REPLICA_SECRET = "shop-db-replica"
PROBE_INTERVAL = 1
FAILURE_THRESHOLD = 3
# The switch is due after interval x threshold; this is the slack for a busy 2-core machine.
SWITCH_SLACK_SECONDS = 5
CONVERGE_SECONDS = 30
FAILBACK_ANNOTATION = "repairgpt.io/failback"


@pytest.fixture
def databases() -> Iterator[PrimaryAndReplica]:
    pair = PrimaryAndReplica().start()
    try:
        yield pair
    finally:
        pair.cleanup()


def _deploy(
    cluster: KubeCluster,
    namespace: str,
    databases: PrimaryAndReplica,
    *,
    failback: str = "Manual",
    window: int = 60,
    threshold: int = FAILURE_THRESHOLD,
) -> None:
    """The Secrets and an instance with failover on; waits until the primary is being probed."""
    for secret in database_secrets(databases, PRIMARY_SECRET, REPLICA_SECRET):
        assert apply_manifest(cluster, namespace, secret).returncode == 0
    manifest = instance_manifest(
        NAME,
        replicas=2,
        database={
            "primary": {"secretName": PRIMARY_SECRET, "key": SECRET_KEY},
            "replica": {"secretName": REPLICA_SECRET, "key": SECRET_KEY},
        },
        failover={
            "enabled": True,
            "probeIntervalSeconds": PROBE_INTERVAL,
            "failureThreshold": threshold,
            "failback": failback,
            "stabilizationWindowSeconds": window,
        },
    )
    result = apply_manifest(cluster, namespace, manifest)
    assert result.returncode == 0, result.stderr
    wait_until(
        lambda: (
            (o := _instance(cluster, namespace))
            and is_reconciled(o)
            and (o["status"].get("database") or {}).get("active") == "primary"
            and _uses(_deployment(cluster, namespace)) == (PRIMARY_SECRET, None)
        ),
        timeout=CONVERGE_SECONDS,
        what="the instance reconciled, probing its primary",
    )


def _instance(cluster: KubeCluster, namespace: str) -> dict[str, Any] | None:
    return get_json(cluster, namespace, "rgi", NAME)


def _deployment(cluster: KubeCluster, namespace: str) -> dict[str, Any] | None:
    return get_json(cluster, namespace, "deployment", f"{NAME}-api")


def _uses(deployment: dict[str, Any] | None) -> tuple[str | None, str | None]:
    """(Secret behind DATABASE_URL, value of READ_ONLY_MODE) of the API container."""
    if deployment is None:
        return None, None
    container = deployment["spec"]["template"]["spec"]["containers"][0]
    env = {e["name"]: e for e in container.get("env", [])}
    ref = (env.get("DATABASE_URL", {}).get("valueFrom") or {}).get("secretKeyRef") or {}
    secret = ref.get("name") if ref.get("key") == SECRET_KEY else None
    read_only = env.get("READ_ONLY_MODE", {}).get("value") if "READ_ONLY_MODE" in env else None
    return secret, read_only


def _active(cluster: KubeCluster, namespace: str) -> str | None:
    instance = _instance(cluster, namespace)
    return ((instance or {}).get("status", {}).get("database") or {}).get("active")


def _events(cluster: KubeCluster, namespace: str) -> list[dict[str, Any]]:
    items: list[dict[str, Any]] = json.loads(
        cluster.kubectl(
            "-n",
            namespace,
            "get",
            "events",
            "--field-selector",
            f"involvedObject.name={NAME}",
            "-o",
            "json",
        ).stdout  # fmt: skip
    )["items"]
    return items


def _reasons(cluster: KubeCluster, namespace: str) -> set[str]:
    return {e["reason"] for e in _events(cluster, namespace)}


def _wait_switched(cluster: KubeCluster, namespace: str, budget: float) -> float:
    """Seconds until the API Deployment runs on the replica in read-only mode."""
    started = time.monotonic()
    wait_until(
        lambda: _uses(_deployment(cluster, namespace)) == (REPLICA_SECRET, "true"),
        timeout=budget,
        what="DATABASE_URL from the replica Secret and READ_ONLY_MODE=true",
        interval=0.1,
    )
    return time.monotonic() - started


def _assert_stays_on_primary(cluster: KubeCluster, namespace: str, seconds: float) -> None:
    deadline = time.monotonic() + seconds
    while time.monotonic() < deadline:
        assert _uses(_deployment(cluster, namespace)) == (PRIMARY_SECRET, None)
        assert _active(cluster, namespace) == "primary"
        time.sleep(0.3)


def _assert_no_secret_leaked(
    cluster: KubeCluster, namespace: str, operator: OperatorProcess, secret: str
) -> None:
    events = cluster.kubectl("-n", namespace, "get", "events", "-o", "yaml").stdout
    instance = cluster.kubectl("-n", namespace, "get", "rgi", NAME, "-o", "yaml").stdout
    assert secret not in events, "a database password appears in an Event"
    assert secret not in instance, "a database password appears in the instance"
    assert secret not in operator.log(), "a database password appears in the operator log"


def _assert_failed_over(cluster: KubeCluster, namespace: str) -> None:
    instance = wait_until(
        lambda: (
            (o := _instance(cluster, namespace))
            and (o["status"].get("database") or {}).get("active") == "replica"
            and o["status"].get("phase") == "FailedOver"
            and o
        ),
        timeout=10,
        what="status.database.active replica and phase FailedOver",
    )
    failed_over = condition(instance, "FailedOver")
    assert failed_over is not None and failed_over["status"] == "True"
    wait_until(
        lambda: "FailedOver" in _reasons(cluster, namespace),
        timeout=10,
        what="a FailedOver Event",
    )


def test_a_dead_primary_switches_the_api_to_the_replica_in_read_only_mode(
    k8s_cluster: KubeCluster,
    k8s_namespace: str,
    operator: OperatorProcess,
    databases: PrimaryAndReplica,
) -> None:
    _deploy(k8s_cluster, k8s_namespace, databases)
    failovers = operator.metric("repairgpt_operator_failovers_total", direction="to_replica")
    before = _deployment(k8s_cluster, k8s_namespace)
    assert before is not None

    databases.primary.kill()
    floor = PROBE_INTERVAL * FAILURE_THRESHOLD
    seconds = _wait_switched(k8s_cluster, k8s_namespace, floor + SWITCH_SLACK_SECONDS)
    print(f"switched {seconds:.2f} s after the primary died (floor {floor} s)")

    _assert_failed_over(k8s_cluster, k8s_namespace)
    after = _deployment(k8s_cluster, k8s_namespace)
    assert after is not None
    assert after["metadata"]["generation"] == before["metadata"]["generation"] + 1, (
        "the switch should be one rolling update"
    )
    wait_until(
        lambda: (
            operator.metric("repairgpt_operator_failovers_total", direction="to_replica")
            == failovers + 1
        ),
        timeout=10,
        what="repairgpt_operator_failovers_total{direction=to_replica} to count the failover",
    )
    # It stays on the replica: the dead primary does not cause a second switch.
    time.sleep(2 * PROBE_INTERVAL * FAILURE_THRESHOLD)
    assert _uses(_deployment(k8s_cluster, k8s_namespace)) == (REPLICA_SECRET, "true")
    assert _active(k8s_cluster, k8s_namespace) == "replica"
    _assert_no_secret_leaked(k8s_cluster, k8s_namespace, operator, databases.password)


def test_a_blip_shorter_than_the_threshold_does_not_switch(
    k8s_cluster: KubeCluster,
    k8s_namespace: str,
    operator: OperatorProcess,
    databases: PrimaryAndReplica,
) -> None:
    _deploy(k8s_cluster, k8s_namespace, databases)
    down_at = time.monotonic()
    databases.primary.stop()
    time.sleep(PROBE_INTERVAL)
    databases.primary.start()
    downtime = time.monotonic() - down_at
    print(f"the primary was down for {downtime:.2f} s")
    assert downtime < PROBE_INTERVAL * (FAILURE_THRESHOLD - 1), (
        f"the blip lasted {downtime:.2f} s: too long for this test to mean anything"
    )
    _assert_stays_on_primary(k8s_cluster, k8s_namespace, 2 * PROBE_INTERVAL * FAILURE_THRESHOLD + 2)
    assert "FailedOver" not in _reasons(k8s_cluster, k8s_namespace)


def test_no_switch_to_a_replica_that_is_down_too_but_degraded_until_the_primary_returns(
    k8s_cluster: KubeCluster,
    k8s_namespace: str,
    operator: OperatorProcess,
    databases: PrimaryAndReplica,
) -> None:
    _deploy(k8s_cluster, k8s_namespace, databases)
    databases.replica.stop()
    databases.primary.kill()
    degraded = wait_until(
        lambda: (
            (o := _instance(k8s_cluster, k8s_namespace))
            and (c := condition(o, "Degraded"))
            and c["status"] == "True"
            # The prober records the condition; the reconciliation it triggers, the phase.
            and o["status"].get("phase") == "Degraded"
            and o
        ),
        timeout=PROBE_INTERVAL * FAILURE_THRESHOLD + SWITCH_SLACK_SECONDS,
        what="condition Degraded=True and phase Degraded",
    )
    assert degraded["status"]["database"]["active"] == "primary"
    wait_until(
        lambda: "Degraded" in _reasons(k8s_cluster, k8s_namespace),
        timeout=10,
        what="a Degraded Event",
    )
    _assert_stays_on_primary(k8s_cluster, k8s_namespace, 2 * PROBE_INTERVAL * FAILURE_THRESHOLD)

    databases.primary.start()
    recovered = wait_until(
        lambda: (
            (o := _instance(k8s_cluster, k8s_namespace))
            and ((c := condition(o, "Degraded")) is None or c["status"] == "False")
            and o["status"].get("phase") != "Degraded"
            and o
        ),
        timeout=PROBE_INTERVAL * 2 + SWITCH_SLACK_SECONDS + 10,
        what="Degraded to clear once the primary answers",
    )
    assert recovered["status"]["database"]["active"] == "primary"
    assert _uses(_deployment(k8s_cluster, k8s_namespace)) == (PRIMARY_SECRET, None)
    assert "FailedOver" not in _reasons(k8s_cluster, k8s_namespace)
    _assert_no_secret_leaked(k8s_cluster, k8s_namespace, operator, databases.password)


def test_manual_failback_waits_for_the_annotation(
    k8s_cluster: KubeCluster,
    k8s_namespace: str,
    operator: OperatorProcess,
    databases: PrimaryAndReplica,
) -> None:
    _deploy(k8s_cluster, k8s_namespace, databases, failback="Manual")
    databases.primary.kill()
    _wait_switched(
        k8s_cluster, k8s_namespace, PROBE_INTERVAL * FAILURE_THRESHOLD + SWITCH_SLACK_SECONDS
    )
    _assert_failed_over(k8s_cluster, k8s_namespace)

    databases.primary.start()
    # The primary answers again, but Manual means nothing moves until someone asks.
    deadline = time.monotonic() + 6 * PROBE_INTERVAL
    while time.monotonic() < deadline:
        assert _uses(_deployment(k8s_cluster, k8s_namespace)) == (REPLICA_SECRET, "true")
        time.sleep(0.3)
    assert _active(k8s_cluster, k8s_namespace) == "replica"

    # `kubectl repairgpt failback` writes the failback annotation (refused unless failed over).
    asked = kubectl_repairgpt(k8s_cluster, "-n", k8s_namespace, "failback", NAME)
    assert asked.returncode == 0, asked.stderr
    wait_until(
        lambda: _uses(_deployment(k8s_cluster, k8s_namespace)) == (PRIMARY_SECRET, None),
        timeout=PROBE_INTERVAL * 2 + SWITCH_SLACK_SECONDS + 5,
        what="DATABASE_URL back on the primary Secret, READ_ONLY_MODE gone",
    )
    back = wait_until(
        lambda: (
            (o := _instance(k8s_cluster, k8s_namespace))
            and (o["status"].get("database") or {}).get("active") == "primary"
            and FAILBACK_ANNOTATION not in (o["metadata"].get("annotations") or {})
            # The phase follows with the status write of the reconciliation that the failback
            # starts, a moment after the failover fields.
            and o["status"].get("phase") != "FailedOver"
            and o
        ),
        timeout=10,
        what="active primary, the failback annotation removed and the phase moved on",
    )
    failed_over = condition(back, "FailedOver")
    assert failed_over is not None and failed_over["status"] == "False"
    wait_until(
        lambda: "FailedBack" in _reasons(k8s_cluster, k8s_namespace),
        timeout=10,
        what="a FailedBack Event",
    )
    _assert_no_secret_leaked(k8s_cluster, k8s_namespace, operator, databases.password)


def test_automatic_failback_after_the_primary_is_stable_for_the_window(
    k8s_cluster: KubeCluster,
    k8s_namespace: str,
    operator: OperatorProcess,
    databases: PrimaryAndReplica,
) -> None:
    window = 3
    _deploy(k8s_cluster, k8s_namespace, databases, failback="Automatic", window=window)
    databases.primary.kill()
    _wait_switched(
        k8s_cluster, k8s_namespace, PROBE_INTERVAL * FAILURE_THRESHOLD + SWITCH_SLACK_SECONDS
    )
    _assert_failed_over(k8s_cluster, k8s_namespace)

    databases.primary.start()
    healthy_at = time.monotonic()
    wait_until(
        lambda: _uses(_deployment(k8s_cluster, k8s_namespace)) == (PRIMARY_SECRET, None),
        timeout=window + PROBE_INTERVAL + SWITCH_SLACK_SECONDS + 5,
        what="the automatic failback",
        interval=0.1,
    )
    waited = time.monotonic() - healthy_at
    print(f"failed back {waited:.2f} s after the primary came back (window {window} s)")
    # pg_ctl returns a moment after the server accepts connections, hence the second of slack.
    assert waited >= window - 1, f"failed back after {waited:.2f} s, before the window"
    back = wait_until(
        lambda: (
            (o := _instance(k8s_cluster, k8s_namespace))
            and (o["status"].get("database") or {}).get("active") == "primary"
            and o
        ),
        timeout=10,
        what="status.database.active primary",
    )
    failed_over = condition(back, "FailedOver")
    assert failed_over is not None and failed_over["status"] == "False"
    wait_until(
        lambda: "FailedBack" in _reasons(k8s_cluster, k8s_namespace),
        timeout=10,
        what="a FailedBack Event",
    )
    _assert_no_secret_leaked(k8s_cluster, k8s_namespace, operator, databases.password)
