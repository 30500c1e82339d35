"""Two operator processes on one Lease: only the holder reconciles and probes, and the standby
takes over a killed leader within the target (15 s) or a stopped one at once."""

from __future__ import annotations

import json
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from tests.conftest import KubeCluster
from tests.operator.e2e.conftest import (
    OPERATOR_NAMESPACE,
    REPO_ROOT,
    OperatorProcess,
    apply_manifest,
    secret_manifest,
)
from tests.operator.e2e.databases import SECRET_KEY, instance_manifest
from tests.operator.e2e.observe import get_json, is_reconciled, wait_until

pytestmark = pytest.mark.cluster

NAME = "shop"
LEASE = "repairgpt-operator"
HANDOVER_TARGET_SECONDS = 15.0
# Nothing listens there: every probe fails fast, and the threshold keeps failover from acting.
UNREACHABLE_DATABASE = "postgresql://u:p@127.0.0.1:1/x"
# Everything an operator writes or probes: a standby must show none of it.
ACTIVITY = (
    "repairgpt_operator_reconciliations_total",
    "repairgpt_operator_child_writes_total",
    "repairgpt_operator_status_writes_total",
    "repairgpt_operator_primary_probes_total",
)


@pytest.fixture
def fresh_lease(k8s_cluster: KubeCluster, operator_kubeconfig: Path) -> str:
    """deploy/high-availability.yaml applied with its Lease free, as after an install."""
    k8s_cluster.kubectl(
        "-n", OPERATOR_NAMESPACE, "delete", "lease", LEASE, "--ignore-not-found"
    )  # fmt: skip
    k8s_cluster.kubectl("apply", "-f", str(REPO_ROOT / "deploy" / "high-availability.yaml"))
    return LEASE


@pytest.fixture
def replicas(
    operator_kubeconfig: Path, fresh_lease: str, tmp_path: Path
) -> Iterator[list[OperatorProcess]]:
    """Two operators electing a leader on the Lease (started by the test, stopped here)."""
    made = [
        OperatorProcess(
            operator_kubeconfig,
            tmp_path / f"operator-{index}.log",
            resync_seconds=3,
            extra_args=("--leader-elect", "--leader-election-namespace", OPERATOR_NAMESPACE),
        )
        for index in range(2)
    ]
    yield made
    for process in made:
        process.stop()
        if "Traceback" in process.log():
            print(process.log()[-5000:])


@pytest.fixture
def k8s_namespace(k8s_cluster: KubeCluster, k8s_namespace: str) -> Iterator[str]:
    """Deleted and waited for: the operators count their work cluster-wide."""
    yield k8s_namespace
    k8s_cluster.kubectl(
        "delete", "namespace", k8s_namespace, "--timeout=120s", check=False, timeout=150
    )


def _activity(process: OperatorProcess) -> dict[str, float]:
    return {name: process.metric(name) for name in ACTIVITY}


def _leading(process: OperatorProcess) -> bool:
    return process.alive and process.metric("repairgpt_operator_leader") == 1


def _lease_spec(cluster: KubeCluster) -> dict[str, Any]:
    result = cluster.kubectl("-n", OPERATOR_NAMESPACE, "get", "lease", LEASE, "-o", "json")
    spec: dict[str, Any] = json.loads(result.stdout).get("spec") or {}
    return spec


def _deploy_instance(cluster: KubeCluster, namespace: str) -> None:
    """An instance with failover on, so that the leader probes its (unreachable) primary."""
    for name in ("shop-db", "shop-db-replica"):
        secret = secret_manifest(name, {SECRET_KEY: UNREACHABLE_DATABASE})
        assert apply_manifest(cluster, namespace, secret).returncode == 0
    manifest = instance_manifest(
        NAME,
        replicas=1,
        database={
            "primary": {"secretName": "shop-db", "key": SECRET_KEY},
            "replica": {"secretName": "shop-db-replica", "key": SECRET_KEY},
        },
        failover={"enabled": True, "probeIntervalSeconds": 1, "failureThreshold": 100},
    )
    result = apply_manifest(cluster, namespace, manifest)
    assert result.returncode == 0, result.stderr


def _replicas_applied(cluster: KubeCluster, namespace: str, count: int) -> bool:
    deployment = get_json(cluster, namespace, "deployment", f"{NAME}-api")
    instance = get_json(cluster, namespace, "rgi", NAME)
    return bool(deployment and deployment["spec"]["replicas"] == count and is_reconciled(instance))


def _start_leader_and_standby(
    cluster: KubeCluster, replicas: list[OperatorProcess]
) -> tuple[OperatorProcess, OperatorProcess]:
    """Start the first operator, wait until it leads, then start the second as its standby."""
    leader, standby = replicas
    leader.start()
    wait_until(lambda: _leading(leader), timeout=30, what="the first operator to lead")
    standby.start()
    wait_until(lambda: "standing by" in standby.log(), timeout=30, what="the standby")
    assert _lease_spec(cluster)["holderIdentity"] in leader.log()
    return leader, standby


def test_only_the_leader_acts_and_a_standby_takes_over_a_killed_one_within_15s(
    k8s_cluster: KubeCluster, k8s_namespace: str, replicas: list[OperatorProcess]
) -> None:
    leader, standby = _start_leader_and_standby(k8s_cluster, replicas)
    _deploy_instance(k8s_cluster, k8s_namespace)
    wait_until(
        lambda: _replicas_applied(k8s_cluster, k8s_namespace, 1), timeout=60, what="reconciled"
    )
    # A few probe intervals and resyncs, for the standby to show any work it would do.
    time.sleep(5)
    worked = _activity(leader)
    assert worked["repairgpt_operator_reconciliations_total"] > 0
    assert worked["repairgpt_operator_primary_probes_total"] >= 3, "the leader did not probe"
    assert _activity(standby) == dict.fromkeys(ACTIVITY, 0.0), "the standby acted"
    assert standby.metric("repairgpt_operator_leader") == 0
    transitions_before = int(_lease_spec(k8s_cluster).get("leaseTransitions") or 0)

    leader.kill()
    killed = time.monotonic()
    # A change made while nobody leads: the new leader must apply it.
    k8s_cluster.kubectl(
        "-n", k8s_namespace, "patch", "rgi", NAME, "--type=merge", "-p", '{"spec":{"replicas":3}}'
    )
    wait_until(lambda: _leading(standby), timeout=30, what="the standby to lead", interval=0.1)
    acquired = time.monotonic() - killed
    wait_until(
        lambda: _replicas_applied(k8s_cluster, k8s_namespace, 3),
        timeout=30,
        what="the change applied by the new leader",
        interval=0.1,
    )
    handover = time.monotonic() - killed
    print(f"\nhandover after SIGKILL: lease in {acquired:.1f}s, change applied in {handover:.1f}s")
    assert handover <= HANDOVER_TARGET_SECONDS, f"handover took {handover:.1f}s"

    took_over = _activity(standby)
    assert took_over["repairgpt_operator_reconciliations_total"] > 0
    assert "acquired lease" in standby.log()
    wait_until(
        lambda: standby.metric("repairgpt_operator_primary_probes_total") > 0,
        timeout=10,
        what="the new leader to probe",
    )
    lease = _lease_spec(k8s_cluster)
    assert lease["holderIdentity"] in standby.log()
    assert lease["leaseTransitions"] == transitions_before + 1


def test_a_stopped_leader_frees_the_lease_and_the_standby_acts_at_once(
    k8s_cluster: KubeCluster, k8s_namespace: str, replicas: list[OperatorProcess]
) -> None:
    leader, standby = _start_leader_and_standby(k8s_cluster, replicas)
    _deploy_instance(k8s_cluster, k8s_namespace)
    wait_until(
        lambda: _replicas_applied(k8s_cluster, k8s_namespace, 1), timeout=60, what="reconciled"
    )
    stopping = time.monotonic()
    leader.stop()
    assert leader.process is not None and leader.process.returncode == 0
    assert "released lease" in leader.log()
    k8s_cluster.kubectl(
        "-n", k8s_namespace, "patch", "rgi", NAME, "--type=merge", "-p", '{"spec":{"replicas":2}}'
    )
    wait_until(
        lambda: _replicas_applied(k8s_cluster, k8s_namespace, 2),
        timeout=30,
        what="the change applied by the new leader",
        interval=0.1,
    )
    handover = time.monotonic() - stopping
    print(f"\nhandover after SIGTERM: {handover:.1f}s")
    # Well under the lease duration (10 s): the standby did not wait for the lease to expire.
    assert handover < 8, f"handover took {handover:.1f}s"
    assert _leading(standby)


def test_a_leader_whose_lease_is_taken_exits_at_once(
    k8s_cluster: KubeCluster, replicas: list[OperatorProcess]
) -> None:
    leader = replicas[0].start()
    wait_until(lambda: _leading(leader), timeout=30, what="the operator to lead")
    k8s_cluster.kubectl(
        "-n", OPERATOR_NAMESPACE, "patch", "lease", LEASE, "--type=merge",
        "-p", '{"spec":{"holderIdentity":"another-replica","leaseDurationSeconds":10}}',
    )  # fmt: skip
    taken = time.monotonic()
    assert leader.process is not None
    leader.process.wait(timeout=15)
    # The next renewal (every 2 s) finds the Lease taken.
    assert time.monotonic() - taken < 5
    assert leader.process.returncode == 3
    assert "lost lease" in leader.log() and "another-replica holds it now" in leader.log()
