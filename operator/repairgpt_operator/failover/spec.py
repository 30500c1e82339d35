"""The pydantic model of spec.failover."""

from __future__ import annotations

from typing import Literal

from pydantic import (
    Field,
)

from repairgpt_operator.instance.spec_fields import CamelModel


class Failover(CamelModel):
    """Automatic switch of the API to the replica database when the primary stops answering."""

    enabled: bool = Field(
        default=False,
        description="Probe the primary and fail over to spec.database.replica (read-only mode).",
    )
    probe_interval_seconds: int = Field(
        default=5, ge=1, le=300, description="Seconds between two probes of the primary."
    )
    failure_threshold: int = Field(
        default=3, ge=1, le=100, description="Consecutive failed probes before failing over."
    )
    failback: Literal["Manual", "Automatic"] = Field(
        default="Manual",
        description="Manual: back to the primary on the annotation repairgpt.io/failback=now. "
        "Automatic: once the primary has been healthy for stabilizationWindowSeconds.",
    )
    stabilization_window_seconds: int = Field(
        default=60,
        ge=0,
        le=86400,
        description="How long the primary must stay healthy before an automatic failback.",
    )
