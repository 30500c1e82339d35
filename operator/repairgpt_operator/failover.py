"""Failover of the API to the replica database: the probe, and the pure decision it feeds.

`decide` is a small state machine: it switches to the replica only after `failureThreshold`
consecutive failed probes of the primary and only when the replica answers (never from one
dead database to another), and it switches back only on request (Manual) or after the primary
has answered for a whole stabilization window (Automatic), so short blips never cause flapping.
"""

from __future__ import annotations

import time
import urllib.parse
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


def libpq_url(url: str) -> str:
    """A libpq URL from an SQLAlchemy-style one (`postgresql+psycopg://` -> `postgresql://`)."""
    scheme, sep, rest = url.partition("://")
    if sep and scheme.startswith("postgresql+"):
        return f"postgresql://{rest}"
    return url


def invalid_url_reason(url: str) -> str | None:
    """Why `url` is not a PostgreSQL URL the probe can use, in words that never quote it.

    A Secret value that is not a URL would otherwise reach libpq, whose error quotes it (e.g.
    `missing "=" after "sk-live-..."`), and from there the status, Events and logs.
    """
    text = url.strip()
    try:
        parts = urllib.parse.urlsplit(text)
        parts.port  # noqa: B018  (raises ValueError on a port that is not a number in range)
    except ValueError:
        return "its port is not a number from 1 to 65535"
    scheme = parts.scheme.lower().partition("+")[0]
    if scheme not in ("postgresql", "postgres") or not text.lower().startswith(
        f"{parts.scheme.lower()}://"
    ):
        return "it does not start with postgresql://"
    if not parts.hostname and "host=" not in parts.query:
        return "it names no host"
    return None


def scrub(message: str, url: str) -> str:
    """`message` with the URL and each of its secret parts (user info, password) replaced."""
    parts = urllib.parse.urlsplit(url.strip()) if "://" in url else None
    secrets = [url.strip(), url]
    if parts is not None:
        secrets += [parts.netloc.rpartition("@")[0], parts.password or "", parts.username or ""]
        secrets += [urllib.parse.unquote(parts.password or "")]
    for secret in sorted({s for s in secrets if len(s) >= 3}, key=len, reverse=True):
        message = message.replace(secret, "***")
    return message


def probe_database(url: str, *, timeout: float = 2.0) -> ProbeResult:
    """`SELECT 1` on a fresh connection with a short connect timeout; never raises.

    The URL is checked first, so that libpq never quotes a malformed value back; the driver's
    error (which names host and port) is scrubbed of the URL and its secret parts all the same.
    """
    import psycopg

    reason = invalid_url_reason(url)
    if reason is not None:
        return ProbeResult(False, f"the database URL is not a valid PostgreSQL URL: {reason}")
    started = time.monotonic()
    try:
        with psycopg.connect(
            libpq_url(url),
            connect_timeout=max(1, round(timeout)),
            options=f"-c statement_timeout={int(timeout * 1000)}",
            autocommit=True,
        ) as conn:
            conn.execute("SELECT 1").fetchone()
    except Exception as exc:  # any failure, of the network or of the server, is a failed probe
        message = str(exc).strip().splitlines()[0] if str(exc).strip() else type(exc).__name__
        return ProbeResult(False, scrub(message, url), time.monotonic() - started)
    return ProbeResult(True, "", time.monotonic() - started)


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

    # Serving from the replica: look for a safe moment to go back.
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
