"""The pydantic model of spec.maintenance."""

from __future__ import annotations

from pydantic import (
    Field,
)

from repairgpt_operator.instance.spec_fields import CamelModel


class Maintenance(CamelModel):
    """Maintenance mode: the API scaled to zero and a maintenance page served instead."""

    enabled: bool = Field(default=False, description="Turn maintenance mode on.")
    message: str = Field(
        default="RepairGPT is under maintenance",
        min_length=1,
        max_length=1024,
        description="The message that the maintenance page shows.",
    )
