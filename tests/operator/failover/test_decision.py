"""The failover decision: threshold, no switch to a dead replica, no flapping, failback modes."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from typing import Literal

import pytest

from repairgpt_operator.failover.decision import Decision, FailoverState, ProbeResult, decide
from repairgpt_operator.failover.probe import libpq_url, probe_database, scrub
from tests.utils.servers import PostgresServer, free_port

UP = ProbeResult(True)
DOWN = ProbeResult(False, "connection refused")
T0 = datetime(2026, 1, 1, tzinfo=UTC)


def step(
    state: FailoverState,
    primary: ProbeResult,
    replica: ProbeResult | None = UP,
    *,
    at: datetime = T0,
    failback: Literal["Manual", "Automatic"] = "Manual",
    requested: bool = False,
) -> Decision:
    return decide(
        state,
        primary=primary,
        replica=replica,
        now=at,
        failure_threshold=3,
        failback=failback,
        stabilization_window=timedelta(seconds=60),
        failback_requested=requested,
    )


def test_failover_happens_on_the_threshold_th_consecutive_failure() -> None:
    state = FailoverState()
    actions = []
    for _ in range(3):
        decision = step(state, DOWN)
        actions.append(decision.action)
        state = decision.state
    assert actions == ["none", "none", "failover"]
    assert state.active == "replica"
    assert "read-only" in decision.reason


def test_a_blip_shorter_than_the_threshold_resets_the_count() -> None:
    state = step(step(FailoverState(), DOWN).state, DOWN).state
    assert state.consecutive_failures == 2
    state = step(state, UP).state
    assert state.consecutive_failures == 0
    decision = step(step(state, DOWN).state, DOWN)
    assert decision.action == "none"
    assert decision.state.active == "primary"


def test_no_failover_to_an_unreachable_replica_and_degraded_is_reported_once() -> None:
    state = FailoverState(consecutive_failures=2)
    first = step(state, DOWN, ProbeResult(False, "timeout"))
    assert first.action == "degraded"
    assert first.state.active == "primary"
    assert "replica is unreachable" in first.reason
    again = step(first.state, DOWN, ProbeResult(False, "timeout"))
    assert again.action == "none"
    assert again.state.degraded
    # The replica coming back while the primary is still down completes the failover.
    assert step(again.state, DOWN, UP).action == "failover"


def test_degraded_clears_when_the_primary_answers_again() -> None:
    state = FailoverState(consecutive_failures=5, degraded=True)
    decision = step(state, UP)
    assert decision.action == "recovered"
    assert decision.state == FailoverState()


def test_manual_failback_waits_for_the_request_and_a_healthy_primary() -> None:
    on_replica = FailoverState(active="replica")
    waiting = step(on_replica, UP, at=T0 + timedelta(hours=5))
    assert waiting.action == "none"
    assert "annotation" in waiting.reason
    refused = step(on_replica, DOWN, requested=True)
    assert refused.action == "none"
    assert refused.state.active == "replica"
    assert "still down" in refused.reason
    done = step(on_replica, UP, requested=True)
    assert done.action == "failback"
    assert done.state.active == "primary"


def test_automatic_failback_needs_a_whole_stabilization_window() -> None:
    state = FailoverState(active="replica")
    state = step(state, UP, at=T0, failback="Automatic").state
    assert step(state, UP, at=T0 + timedelta(seconds=59), failback="Automatic").action == "none"
    # A failure inside the window starts it again: no flapping on an unstable primary.
    state = step(state, DOWN, at=T0 + timedelta(seconds=30), failback="Automatic").state
    state = step(state, UP, at=T0 + timedelta(seconds=40), failback="Automatic").state
    assert step(state, UP, at=T0 + timedelta(seconds=90), failback="Automatic").action == "none"
    back = step(state, UP, at=T0 + timedelta(seconds=100), failback="Automatic")
    assert back.action == "failback"
    assert back.state == FailoverState()


def test_sqlalchemy_urls_become_libpq_urls() -> None:
    assert libpq_url("postgresql+psycopg://u:p@h:5432/db") == "postgresql://u:p@h:5432/db"
    assert libpq_url("postgresql://u@h/db") == "postgresql://u@h/db"


def test_probe_answers_for_a_live_server_and_fails_fast_for_a_closed_port(
    postgres_server: PostgresServer,
) -> None:
    assert probe_database(postgres_server.url).ok
    closed = probe_database(f"postgresql://postgres:s3cret@127.0.0.1:{free_port()}/x", timeout=1)
    assert not closed.ok
    assert closed.seconds < 5
    assert "s3cret" not in closed.error


@pytest.mark.parametrize(
    ("value", "secret"),
    [
        ("sk-live-4f9a8b7c6d5e", "sk-live-4f9a8b7c6d5e"),
        ("postgres//repairgpt:hunter22@db:5432/app", "hunter22"),
        ("postgresql://repairgpt:hunter22@127.0.0.1:99999/app", "hunter22"),
        ("postgresql://repairgpt:hunter22@127.0.0.1:port/app", "hunter22"),
    ],
)
def test_a_malformed_database_url_is_reported_without_its_value(value: str, secret: str) -> None:
    result = probe_database(value, timeout=1)
    assert not result.ok
    assert "not a valid PostgreSQL URL" in result.error
    assert secret not in result.error and value not in result.error


def test_the_driver_error_of_a_well_formed_url_never_holds_its_password() -> None:
    url = f"postgresql://repairgpt:hunter22@127.0.0.1:{free_port()}/app"
    result = probe_database(url, timeout=1)
    assert not result.ok and result.error
    assert "hunter22" not in result.error and url not in result.error


def test_scrub_removes_the_url_and_its_user_info() -> None:
    url = "postgresql://alice:p%40ss@db:5432/app"
    message = f"cannot connect with {url}; user alice:p%40ss, password p@ss"
    scrubbed = scrub(message, url)
    assert "p%40ss" not in scrubbed and "p@ss" not in scrubbed and url not in scrubbed
