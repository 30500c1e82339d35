"""Pydantic models of the RepairGPTInstance status: what the operator writes under .status."""

from __future__ import annotations

from typing import Literal

from pydantic import Field

from repairgpt_operator.instance.spec_fields import CamelModel, reported, timestamp
from repairgpt_operator.rollout.models import RestartStatus, RolloutStatus


class Condition(CamelModel):
    """One observation about the instance, in the standard Kubernetes condition shape."""

    type: str = Field(
        description="Ready, Reconciled, Maintenance, FailedOver, Degraded, BackupHealthy, "
        "BackupVerified, UploadStorage, RolloutHealthy, BackupBeforeUpgrade or MonitoringReady."
    )
    status: Literal["True", "False", "Unknown"] = Field(description="True, False or Unknown.")
    reason: str = Field(default="", description="One CamelCase word saying why.")
    message: str = Field(default="", description="Human-readable details.")
    last_transition_time: str | None = timestamp("When status last changed (RFC 3339).")
    observed_generation: int | None = reported("metadata.generation that this condition describes.")


class DatabaseStatus(CamelModel):
    """Which database the API uses, and the health of the primary."""

    active: Literal["primary", "replica"] = Field(
        default="primary", description="The database the API currently uses."
    )
    consecutive_failures: int = Field(
        default=0, description="Failed probes of the primary in a row."
    )
    last_probe_time: str | None = timestamp("Time of the last probe of the primary (RFC 3339).")


class MaintenanceStatus(CamelModel):
    """Where the instance is in maintenance mode (the operator's memory of it)."""

    phase: Literal["Off", "Entering", "On", "Exiting"] = Field(
        default="Off",
        description="Off; Entering (the maintenance page starts, the API still serves); On "
        "(API held at 0, maintenance page served); Exiting (API scaled back, the Service "
        "switches back once an API pod is ready).",
    )
    previous_replicas: int | None = reported(
        "API replicas when maintenance began, restored on exit."
    )


class BackupStatus(CamelModel):
    """Outcome of the backups."""

    last_schedule_time: str | None = timestamp("When the last backup Job was started (RFC 3339).")
    last_successful_time: str | None = timestamp(
        "When the newest successful backup finished (RFC 3339)."
    )
    last_failure_time: str | None = timestamp(
        "When the newest failed backup Job gave up (RFC 3339)."
    )
    last_location: str | None = reported(
        "s3:// URL of the newest successful backup; filled when the backup Job reports its result."
    )
    last_size_bytes: int | None = reported(
        "Size of the newest successful backup in bytes; filled when the backup Job reports its "
        "result."
    )
    last_error: str | None = reported("Error of the last failed backup.")
    source: Literal["primary", "replica"] | None = reported(
        "The database the backups dump from: replica while the instance is failed over (the "
        "primary is down, the replica has its data), else primary."
    )
    last_source: Literal["primary", "replica"] | None = reported(
        "The database the newest successful backup was dumped from."
    )
    last_manual_token: str | None = reported(
        "Token of the newest finished on-demand backup (annotation repairgpt.io/backup-now)."
    )
    last_verified_time: str | None = timestamp(
        "When the newest successful verification (a restore into a throwaway database with "
        "matching row counts) finished (RFC 3339)."
    )
    last_verified_location: str | None = reported(
        "s3:// URL of the backup that the newest verification restored."
    )
    last_verification_failure_time: str | None = timestamp(
        "When the newest failed verification Job gave up (RFC 3339)."
    )
    last_verification_error: str | None = reported("Error of the last failed verification.")


class RetentionStatus(CamelModel):
    """The last run of the chat retention Job."""

    last_run_time: str | None = timestamp(
        "When the newest finished retention Job ended (RFC 3339)."
    )
    outcome: Literal["Succeeded", "Failed"] | None = reported("How that Job ended.")
    rows_deleted: int | None = reported(
        "Chat messages and sessions the last successful run deleted."
    )
    messages_deleted: int | None = reported("Chat messages the last successful run deleted.")
    sessions_deleted: int | None = reported("Chat sessions the last successful run deleted.")
    batches: int | None = reported("Transactions the last successful run took.")
    seconds: float | None = reported("How long the last successful prune ran.")
    max_batch_seconds: float | None = reported(
        "The longest transaction, i.e. the longest any lock was held."
    )
    last_successful_time: str | None = timestamp(
        "When the newest successful retention Job ended (RFC 3339)."
    )
    last_error: str | None = reported("Error of the last failed run.")


class RepairGPTInstanceStatus(CamelModel):
    """Observed state of one RepairGPT deployment, written by the operator."""

    observed_generation: int | None = reported(
        "metadata.generation that the operator last reconciled."
    )
    phase: Literal["Running", "Progressing", "Maintenance", "FailedOver", "Degraded"] | None = (
        reported("Running, Progressing, Maintenance, FailedOver or Degraded.")
    )
    conditions: list[Condition] = Field(
        default_factory=list, description="Ready, Reconciled and the other conditions."
    )
    replicas: int | None = reported("Pods of the API Deployment (from its status).")
    ready_replicas: int | None = reported("Ready pods of the API Deployment (from its status).")
    selector: str | None = reported("Label selector of the API pods (for the scale subresource).")
    database: DatabaseStatus | None = reported("Database in use and primary health.")
    maintenance: MaintenanceStatus | None = reported(
        "Progress of entering and leaving maintenance mode."
    )
    backup: BackupStatus | None = reported("Outcome of the backups.")
    rollout: RolloutStatus | None = reported(
        "Images of the API: applied, ready (history, last good), failed, held."
    )
    restart: RestartStatus | None = reported(
        "The newest restart (annotation repairgpt.io/restart)."
    )
    retention: RetentionStatus | None = reported("The last run of the chat retention Job.")
