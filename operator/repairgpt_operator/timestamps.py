"""Timestamps as Kubernetes writes them (RFC 3339, UTC, whole seconds): now, format, parse."""

from __future__ import annotations

from datetime import UTC, datetime

RFC3339 = "%Y-%m-%dT%H:%M:%SZ"


def format_time(moment: datetime) -> str:
    """A UTC moment in RFC 3339 with a Z suffix."""
    return moment.strftime(RFC3339)


def parse_time(text: str) -> datetime:
    """An RFC 3339 timestamp as Kubernetes writes it (e.g. 2024-01-01T00:00:00Z), in UTC."""
    return datetime.strptime(text, RFC3339).replace(tzinfo=UTC)


def now_rfc3339() -> str:
    """The current time as Kubernetes writes timestamps."""
    return format_time(datetime.now(UTC))
