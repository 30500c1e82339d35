"""The pydantic model of spec.retention: how long chat history is kept."""

from __future__ import annotations

from pydantic import Field

from repairgpt_operator.instance.spec_fields import CamelModel, CronSchedule


class Retention(CamelModel):
    """Scheduled deletion of old chat history (CronJob <name>-retention)."""

    chat_history_days: int = Field(
        default=365,
        ge=0,
        le=36500,
        description="Chat messages older than this many days are deleted, with sessions left "
        "idle and empty; 0 turns retention off (no CronJob).",
    )
    schedule: CronSchedule = Field(
        default="15 4 * * *",
        description="Five-field cron schedule of the retention Job (default daily, 04:15 UTC).",
    )
    batch_size: int = Field(
        default=5000,
        ge=100,
        le=100_000,
        description="Rows deleted per transaction, so that no statement holds locks for long.",
    )
