"""The models of `spec.rollout`, `status.rollout` and `status.restart`.

Kept beside the rollout code and imported by `spec.py`, which remains the one model of the
custom resource (and so of the CRD's schema).
"""

from __future__ import annotations

from typing import Literal

from pydantic import Field

from repairgpt_operator.instance.spec_fields import DATE_TIME, CamelModel, reported, timestamp

DEFAULT_PROGRESS_DEADLINE_SECONDS = 600


class RolloutSpec(CamelModel):
    """How a new image rolls out, and what happens when its pods do not become ready."""

    progress_deadline_seconds: int = Field(
        default=DEFAULT_PROGRESS_DEADLINE_SECONDS,
        ge=10,
        le=86_400,
        description="progressDeadlineSeconds of the API Deployment: a rollout whose pods are "
        "not ready by then turns RolloutHealthy False (reason ProgressDeadlineExceeded).",
    )
    auto_rollback: bool = Field(
        default=False,
        description="When a rollout of spec.image misses its deadline, set the Deployment back "
        "to the last image that was ready (status.rollout.lastGoodImage). spec.image is kept "
        "and not applied until it changes.",
    )


class RolloutHistoryEntry(CamelModel):
    """One image that became ready on every API pod."""

    image: str = Field(description="The API image.")
    ready_time: str = Field(
        description="When every pod ran it, updated and available (RFC 3339).",
        json_schema_extra=DATE_TIME,
    )


class RolloutFailure(CamelModel):
    """A rollout of spec.image that missed its progress deadline."""

    image: str = Field(description="The image whose pods were not ready in time.")
    time: str = Field(
        description="When the deadline was seen missed (RFC 3339).", json_schema_extra=DATE_TIME
    )
    message: str = Field(default="", description="The Deployment controller's message.")
    rolled_back_to: str | None = reported(
        "The last good image applied instead (spec.rollout.autoRollback); spec.image is not "
        "applied until it changes."
    )


class UpgradeRecord(CamelModel):
    """A change of spec.image and its backup (spec.backup.beforeUpgrade)."""

    image: str = Field(description="The image spec.image asks for.")
    from_image: str = Field(description="The image that ran when the change was seen.")
    generation: int = Field(description="metadata.generation that made the change.")
    job: str = Field(description="Name of the backup Job of this change.")
    phase: Literal["Pending", "Running", "Failed", "Succeeded", "Skipped"] = Field(
        description="Pending, Running or Failed: the change waits and the API keeps fromImage; "
        "Succeeded or Skipped: it was applied."
    )
    message: str | None = reported("Why the backup failed.")


class RolloutStatus(CamelModel):
    """The images of the API: what is applied, what was ready, what failed."""

    image: str | None = reported(
        "The image the operator applies to the API Deployment; it differs from spec.image while a "
        "rollback or a backup before upgrade holds."
    )
    last_good_image: str | None = reported("The newest image that was ready on every API pod.")
    history: list[RolloutHistoryEntry] = Field(
        default_factory=list,
        description="Images that became ready on every API pod, newest first (at most 5).",
    )
    failure: RolloutFailure | None = reported(
        "The rollout of spec.image that missed its deadline, if any."
    )
    upgrade: UpgradeRecord | None = reported("The newest change of spec.image held for a backup.")


class RestartStatus(CamelModel):
    """The newest restart asked for with the annotation repairgpt.io/restart."""

    token: str | None = reported("The annotation's value.")
    requested_time: str | None = timestamp(
        "When the operator put it into the pod template (RFC 3339)."
    )
    rolled_out_time: str | None = timestamp("When every pod of that template was ready (RFC 3339).")
