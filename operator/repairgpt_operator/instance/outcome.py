"""What one reconciliation of an instance did, for Events, metrics and kopf's retries."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from repairgpt_operator.backup.jobs import JobsObservation
from repairgpt_operator.events import Event
from repairgpt_operator.instance.model import Instance
from repairgpt_operator.kube import ApiError


@dataclass
class Outcome:
    """What one reconciliation did."""

    instance: Instance | None = None
    applied: list[str] = field(default_factory=list)
    deleted: list[str] = field(default_factory=list)
    errors: list[ApiError] = field(default_factory=list)
    invalid_spec: str | None = None
    status_written: bool = False
    # The instance as the API server returned it after a status write (newer than any event).
    stored_instance: dict[str, Any] | None = None
    duration_seconds: float = 0.0
    # Backup outcomes newly recorded in the status (for Events).
    backup_events: list[Event] = field(default_factory=list)
    # The on-demand backup Job started by this reconciliation, if any.
    started_job: str | None = None
    # Condition changes newly recorded in the status (posted as Events by write_status).
    status_events: list[Event] = field(default_factory=list)
    # The prometheus-operator kinds the cluster lacks, as sync_children found (None: not asked).
    monitoring_missing: frozenset[tuple[str, str]] | None = None
    # The chat retention CronJob's Jobs and pods (None: not observed this time).
    retention: JobsObservation | None = None

    @property
    def wrote(self) -> bool:
        return bool(self.applied or self.deleted or self.status_written)

    @property
    def error_message(self) -> str | None:
        if self.invalid_spec:
            return self.invalid_spec
        if not self.errors:
            return None
        return "; ".join(error.message for error in self.errors)

    @property
    def retryable(self) -> bool:
        return any(error.retryable for error in self.errors)

    @property
    def namespace_terminating(self) -> bool:
        """Every failure is the namespace going away: the instance is about to be deleted."""
        return bool(self.errors) and all(error.namespace_terminating for error in self.errors)
