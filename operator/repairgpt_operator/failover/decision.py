"""Failover of the API to the replica database: the pure decision that each probe feeds.

`decide` is a small state machine: it switches to the replica only after `failureThreshold`
consecutive failed probes of the primary and only when the replica answers (never from one
dead database to another), and it switches back only on request (Manual) or after the primary
has answered for a whole stabilization window (Automatic), so short blips never cause flapping.
"""

from __future__ import annotations

from dataclasses import dataclass, replace
from datetime import datetime, timedelta
from typing import Literal

Active = Literal["primary", "replica"]
Action = Literal["none", "failover", "failback", "degraded", "recovered"]

FAILBACK_ANNOTATION = "repairgpt.io/failback"


@dataclass(frozen=True)
class ProbeResult:
    ok: bool
    error: str = ""
    seconds: float = 0.0


@dataclass(frozen=True)
class FailoverState:
    """What the operator remembers between probes (kept in `status.database`)."""

    active: Active = "primary"
    consecutive_failures: int = 0
    primary_healthy_since: datetime | None = None
    degraded: bool = False


@dataclass(frozen=True)
class Decision:
    state: FailoverState
    action: Action
    reason: str


def decide(
    state: FailoverState,
    *,
    primary: ProbeResult,
    replica: ProbeResult | None,
    now: datetime,
    failure_threshold: int,
    failback: Literal["Manual", "Automatic"],
    stabilization_window: timedelta,
    failback_requested: bool = False,
) -> Decision:
    """The next state after one probe of the primary (and of the replica when it matters).

    `replica` is needed only when a failover is due; callers may pass None otherwise.
    """
    if state.active == "primary":
        return _on_primary(state, primary, replica, failure_threshold)
    return _on_replica(
        state,
        primary,
        now=now,
        failback=failback,
        stabilization_window=stabilization_window,
        failback_requested=failback_requested,
    )


def _on_primary(
    state: FailoverState,
    primary: ProbeResult,
    replica: ProbeResult | None,
    failure_threshold: int,
) -> Decision:
    """Serving from the primary: fail over once it has failed often enough and the replica
    answers."""
    if primary.ok:
        if state.degraded:
            return Decision(FailoverState(), "recovered", "the primary answers again")
        return Decision(replace(state, consecutive_failures=0), "none", "primary healthy")
    failures = state.consecutive_failures + 1
    if failures < failure_threshold:
        return Decision(
            replace(state, consecutive_failures=failures),
            "none",
            f"primary probe failed ({failures}/{failure_threshold}): {primary.error}",
        )
    if replica is None or not replica.ok:
        why = replica.error if replica else "no replica probed"
        return Decision(
            replace(state, consecutive_failures=failures, degraded=True),
            "none" if state.degraded else "degraded",
            f"primary down for {failures} probes, but the replica is unreachable too "
            f"({why}); staying on the primary",
        )
    return Decision(
        FailoverState(active="replica", consecutive_failures=failures),
        "failover",
        f"primary down for {failures} consecutive probes ({primary.error}); "
        "switched to the replica in read-only mode",
    )


def _on_replica(
    state: FailoverState,
    primary: ProbeResult,
    *,
    now: datetime,
    failback: Literal["Manual", "Automatic"],
    stabilization_window: timedelta,
    failback_requested: bool,
) -> Decision:
    """Serving from the replica: look for a safe moment to go back."""
    if not primary.ok:
        why = "failback requested, but the primary is still down" if failback_requested else ""
        return Decision(
            replace(state, primary_healthy_since=None, consecutive_failures=0),
            "none",
            why or f"primary still down: {primary.error}",
        )
    healthy_since = state.primary_healthy_since or now
    if failback_requested:
        return Decision(FailoverState(), "failback", "failback requested; the primary answers")
    if failback == "Automatic" and now - healthy_since >= stabilization_window:
        return Decision(
            FailoverState(),
            "failback",
            f"the primary has answered for {int((now - healthy_since).total_seconds())} s",
        )
    return Decision(
        replace(state, primary_healthy_since=healthy_since, consecutive_failures=0),
        "none",
        "primary healthy again; waiting for "
        + ("the failback annotation" if failback == "Manual" else "the stabilization window"),
    )
