"""Leader election: the decisions on a Lease, the electors against the real API server, and the
install bundle's Lease, access and replicas."""

from __future__ import annotations

import threading
import time
from collections.abc import Iterator
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import pytest
import yaml
from prometheus_client import REGISTRY

from repairgpt_operator import cli, leadership
from repairgpt_operator.cli import build_parser
from repairgpt_operator.kube import Kube, load_api_client
from repairgpt_operator.leadership import (
    DEFAULT_LEASE_NAME,
    LeaderElector,
    LeaseTiming,
    Observation,
    claimed_spec,
    default_identity,
    held_by_other,
    observe,
    own_namespace,
    released_spec,
)
from tests.conftest import KubeCluster
from tests.operator.factories import REPO_ROOT
from tests.operator.test_rbac import all_used_accesses, render_namespaced, used_accesses

DEPLOY = REPO_ROOT / "deploy"
MOMENT = datetime(2026, 1, 2, 3, 4, 5, 678901, tzinfo=UTC)


def _lease(spec: dict[str, Any], version: str = "1") -> dict[str, Any]:
    return {"metadata": {"resourceVersion": version}, "spec": spec}


# --- decisions ----------------------------------------------------------------------------------


def test_the_expiry_clock_restarts_only_when_the_lease_changes() -> None:
    first = observe(None, _lease({"holderIdentity": "a", "renewTime": "t1"}), now=100.0)
    same = observe(first, _lease({"holderIdentity": "a", "renewTime": "t1"}, "1"), now=105.0)
    renewed = observe(same, _lease({"holderIdentity": "a", "renewTime": "t2"}, "2"), now=107.0)
    assert (first.changed_at, same.changed_at, renewed.changed_at) == (100.0, 100.0, 107.0)
    assert renewed.resource_version == "2"


def test_a_lease_is_held_by_another_until_its_duration_passes_unchanged() -> None:
    seen = Observation({"holderIdentity": "a", "leaseDurationSeconds": 10}, "1", changed_at=50.0)
    assert held_by_other(seen, "b", now=59.9, duration=15)
    assert not held_by_other(seen, "b", now=60.0, duration=15)
    assert not held_by_other(seen, "a", now=51.0, duration=15), "one's own lease"
    free = Observation({}, "1", changed_at=50.0)
    assert not held_by_other(free, "b", now=50.0, duration=15)


def test_taking_a_lease_counts_a_transition_and_renewing_keeps_the_acquire_time() -> None:
    taken = claimed_spec(
        {"holderIdentity": "a", "leaseTransitions": 4, "acquireTime": "old"}, "b", MOMENT, 10
    )
    assert taken == {
        "holderIdentity": "b",
        "leaseDurationSeconds": 10,
        "acquireTime": "2026-01-02T03:04:05.678901Z",
        "renewTime": "2026-01-02T03:04:05.678901Z",
        "leaseTransitions": 5,
    }
    renewed = claimed_spec(taken, "b", MOMENT.replace(second=9), 10)
    assert renewed["acquireTime"] == taken["acquireTime"]
    assert renewed["renewTime"] == "2026-01-02T03:04:09.678901Z"
    assert renewed["leaseTransitions"] == 5


def test_a_released_lease_has_no_holder() -> None:
    released = released_spec({"holderIdentity": "b", "leaseTransitions": 5}, MOMENT)
    assert released["holderIdentity"] is None and released["leaseTransitions"] == 5


def test_timings_that_would_let_two_replicas_act_at_once_are_refused() -> None:
    with pytest.raises(ValueError):
        LeaseTiming(lease_duration=5, renew_deadline=6, renew_period=2)
    with pytest.raises(ValueError):
        LeaseTiming(lease_duration=10, renew_deadline=7, renew_period=7)


def test_the_identity_and_namespace_come_from_the_pod_when_it_names_them(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.setenv("POD_NAME", "repairgpt-operator-7d9-abcde")
    monkeypatch.setenv("POD_NAMESPACE", "ops")
    assert default_identity() == "repairgpt-operator-7d9-abcde"
    assert own_namespace() == "ops"
    monkeypatch.delenv("POD_NAME")
    # Two processes on one machine never share an identity.
    assert default_identity() != default_identity()


def test_leader_election_is_asked_for_and_needs_a_namespace(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    parser = build_parser()
    assert cli._lease(parser.parse_args(["run"])) is None
    args = parser.parse_args(["run", "--leader-elect", "--leader-election-namespace", "ops"])
    assert cli._lease(args) == ("ops", DEFAULT_LEASE_NAME)
    monkeypatch.delenv("POD_NAMESPACE", raising=False)
    monkeypatch.setattr(leadership, "SERVICE_ACCOUNT_NAMESPACE", Path("/nonexistent"))
    with pytest.raises(SystemExit, match="leader-election-namespace"):
        cli._lease(parser.parse_args(["run", "--leader-elect"]))


# --- the install bundle -------------------------------------------------------------------------


def _documents(name: str) -> list[dict[str, Any]]:
    return [d for d in yaml.safe_load_all((DEPLOY / name).read_text()) if d]


def test_the_bundle_runs_two_replicas_that_elect_a_leader_on_the_lease_it_creates() -> None:
    (deployment,) = _documents("operator.yaml")
    bundle = _documents("high-availability.yaml")
    (lease,) = [d for d in bundle if d["kind"] == "Lease"]
    (budget,) = [d for d in bundle if d["kind"] == "PodDisruptionBudget"]
    namespace = deployment["metadata"]["namespace"]
    assert deployment["spec"]["replicas"] == 2
    assert budget["spec"]["minAvailable"] == 1
    assert budget["spec"]["selector"] == deployment["spec"]["selector"]
    assert (lease["metadata"]["namespace"], lease["metadata"]["name"]) == (
        namespace,
        DEFAULT_LEASE_NAME,
    )
    (container,) = deployment["spec"]["template"]["spec"]["containers"]
    args = build_parser().parse_args(container["args"])
    assert args.leader_elect and args.leader_election_lease == DEFAULT_LEASE_NAME
    env = {item["name"]: item["valueFrom"]["fieldRef"]["fieldPath"] for item in container["env"]}
    assert env == {"POD_NAME": "metadata.name", "POD_NAMESPACE": "metadata.namespace"}


def test_the_lease_role_grants_exactly_what_the_election_uses_on_that_one_lease() -> None:
    bundle = _documents("high-availability.yaml")
    (role,) = [d for d in bundle if d["kind"] == "Role"]
    (binding,) = [d for d in bundle if d["kind"] == "RoleBinding"]
    (account,) = [d for d in _documents("rbac.yaml") if d["kind"] == "ServiceAccount"]
    election = all_used_accesses(None) - used_accesses(None)
    granted = set()
    for rule in role["rules"]:
        assert rule["resourceNames"] == [DEFAULT_LEASE_NAME], rule
        granted |= {
            (group, resource, verb)
            for group in rule["apiGroups"]
            for resource in rule["resources"]
            for verb in rule["verbs"]
        }
    assert (
        granted
        == election
        == {
            ("coordination.k8s.io", "leases", "get"),
            ("coordination.k8s.io", "leases", "patch"),
        }
    )
    assert role["metadata"]["namespace"] == binding["metadata"]["namespace"] == "repairgpt-system"
    assert binding["roleRef"]["name"] == role["metadata"]["name"]
    assert binding["subjects"] == [
        {"kind": "ServiceAccount", "name": "repairgpt-operator", "namespace": "repairgpt-system"}
    ]
    assert account["metadata"]["name"] == "repairgpt-operator"


def test_the_namespaced_installation_elects_a_leader_too(tmp_path: Path) -> None:
    bundle = render_namespaced(tmp_path / "install")
    (deployment,) = [d for d in bundle if d["kind"] == "Deployment"]
    (container,) = deployment["spec"]["template"]["spec"]["containers"]
    assert build_parser().parse_args(container["args"]).leader_elect
    assert {"Lease", "Role", "RoleBinding"} <= {d["kind"] for d in bundle}
    roles = {d["metadata"]["name"] for d in bundle if d["kind"] == "Role"}
    assert "repairgpt-operator-leader-election" in roles


# --- electors against the API server ------------------------------------------------------------

FAST = LeaseTiming(lease_duration=3, renew_deadline=2, renew_period=0.5, poll_period=0.25)


@pytest.fixture
def gateway(k8s_cluster: KubeCluster, monkeypatch: pytest.MonkeyPatch) -> Kube:
    monkeypatch.setenv("KUBECONFIG", str(k8s_cluster.kubeconfig))
    return Kube(load_api_client())


@pytest.fixture
def lease(k8s_cluster: KubeCluster, k8s_namespace: str) -> str:
    """An empty Lease, as deploy/ creates it; yields its name."""
    manifest = {
        "apiVersion": "coordination.k8s.io/v1",
        "kind": "Lease",
        "metadata": {"name": "leader", "namespace": k8s_namespace},
        "spec": {},
    }
    k8s_cluster.kubectl("apply", "-f", "-", input=yaml.safe_dump(manifest))
    return "leader"


@pytest.fixture
def electors(gateway: Kube, k8s_namespace: str, lease: str) -> Iterator[list[LeaderElector]]:
    made = [
        LeaderElector(
            lambda: gateway, namespace=k8s_namespace, name=lease, identity=f"r{i}", timing=FAST
        )
        for i in range(4)
    ]
    yield made
    for elector in made:
        elector.stop()


def _wait_in_thread(elector: LeaderElector) -> tuple[threading.Thread, list[float]]:
    """Start `wait_until_leading` in a thread; the list gets the time it returned True."""
    acquired: list[float] = []

    def wait() -> None:
        if elector.wait_until_leading():
            acquired.append(time.monotonic())

    thread = threading.Thread(target=wait, daemon=True)
    thread.start()
    return thread, acquired


def _acquisitions() -> float:
    value = REGISTRY.get_sample_value(
        "repairgpt_operator_leader_transitions_total", {"transition": "acquired"}
    )
    return value or 0.0


def _holder(gateway: Kube, namespace: str, name: str) -> str:
    found = gateway.get("coordination.k8s.io/v1", "Lease", namespace, name) or {}
    return str((found.get("spec") or {}).get("holderIdentity") or "")


@pytest.mark.cluster
def test_of_electors_racing_for_a_free_lease_exactly_one_wins(
    electors: list[LeaderElector], gateway: Kube, k8s_namespace: str, lease: str
) -> None:
    barrier = threading.Barrier(len(electors))
    results: dict[str, bool] = {}

    def race(elector: LeaderElector) -> None:
        barrier.wait()
        results[elector.identity] = elector.try_acquire_or_renew()

    threads = [threading.Thread(target=race, args=(e,)) for e in electors]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(timeout=30)
    winners = [identity for identity, won in results.items() if won]
    assert len(winners) == 1, results
    assert _holder(gateway, k8s_namespace, lease) == winners[0]


@pytest.mark.cluster
def test_a_standby_takes_over_a_silent_leader_only_after_the_lease_duration(
    electors: list[LeaderElector], gateway: Kube, k8s_namespace: str, lease: str
) -> None:
    leader, standby = electors[:2]
    assert leader.wait_until_leading()
    acquired_before = _acquisitions()
    thread, acquired = _wait_in_thread(standby)
    time.sleep(FAST.lease_duration / 2)
    assert not acquired, "took the lease while it was being renewed"
    assert leader.try_acquire_or_renew()
    renewed = time.monotonic()
    # The leader dies: it renews no more (and frees nothing).
    leader.stop()
    thread.join(timeout=FAST.lease_duration * 3)
    assert acquired, "the standby never took over"
    waited = acquired[0] - renewed
    assert FAST.lease_duration <= waited <= FAST.lease_duration + 2 * FAST.poll_period + 1
    assert _holder(gateway, k8s_namespace, lease) == standby.identity
    assert _acquisitions() == acquired_before + 1


@pytest.mark.cluster
def test_a_released_lease_is_taken_within_a_poll(
    electors: list[LeaderElector], gateway: Kube, k8s_namespace: str, lease: str
) -> None:
    leader, standby = electors[:2]
    assert leader.wait_until_leading()
    thread, acquired = _wait_in_thread(standby)
    time.sleep(FAST.poll_period * 2)
    released = time.monotonic()
    leader.release()
    thread.join(timeout=FAST.lease_duration)
    assert acquired and acquired[0] - released < FAST.poll_period + 1
    assert _holder(gateway, k8s_namespace, lease) == standby.identity
    assert not leader.is_leading


@pytest.mark.cluster
def test_a_leader_whose_lease_was_taken_learns_it_at_the_next_renewal(
    electors: list[LeaderElector], k8s_cluster: KubeCluster, k8s_namespace: str, lease: str
) -> None:
    leader = electors[0]
    assert leader.wait_until_leading()
    lost: list[tuple[float, str]] = []
    leader.start_renewing(on_lost=lambda reason: lost.append((time.monotonic(), reason)))
    time.sleep(FAST.renew_period * 2)
    assert not lost, "lost a lease it kept renewing"
    k8s_cluster.kubectl(
        "-n", k8s_namespace, "patch", "lease", lease, "--type=merge",
        "-p", '{"spec": {"holderIdentity": "intruder"}}',
    )  # fmt: skip
    taken = time.monotonic()
    deadline = taken + FAST.renew_deadline + 2
    while not lost and time.monotonic() < deadline:
        time.sleep(0.05)
    assert lost and "intruder" in lost[0][1]
    assert lost[0][0] - taken < FAST.renew_period + 1
    assert not leader.is_leading


@pytest.mark.cluster
def test_a_leader_that_cannot_renew_gives_up_after_the_renew_deadline(
    electors: list[LeaderElector], k8s_cluster: KubeCluster, k8s_namespace: str, lease: str
) -> None:
    leader = electors[0]
    assert leader.wait_until_leading()
    lost: list[float] = []
    leader.start_renewing(on_lost=lambda reason: lost.append(time.monotonic()))
    k8s_cluster.kubectl("-n", k8s_namespace, "delete", "lease", lease)
    gone = time.monotonic()
    deadline = gone + FAST.lease_duration + 2
    while not lost and time.monotonic() < deadline:
        time.sleep(0.05)
    assert lost, "kept acting without a lease"
    # Given up before anyone else could take it (lease_duration after the last renewal).
    assert lost[0] - gone < FAST.lease_duration
