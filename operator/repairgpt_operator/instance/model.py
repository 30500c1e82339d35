"""A RepairGPTInstance as the builders see it: identity, a validated spec and runtime state."""

from __future__ import annotations

import dataclasses
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any, Literal

from pydantic import (
    ValidationError,
)

from repairgpt_operator.instance.spec import RESTORE_HOLD_ANNOTATION, RepairGPTInstanceSpec
from repairgpt_operator.maintenance.state import PHASES, MaintenanceState, Phase
from repairgpt_operator.rollout.restart import template_token


class InvalidSpec(ValueError):
    """The body of a RepairGPTInstance does not satisfy the models (the API server let it in)."""


@dataclass(frozen=True)
class RuntimeState:
    """What the operator decided at run time and keeps in .status; it shapes children too."""

    database_active: Literal["primary", "replica"] = "primary"
    maintenance: MaintenanceState = MaintenanceState()
    # The RepairGPTRestore that holds the instance in maintenance while it runs (an annotation).
    restore_hold: str | None = None
    # The API image the operator applies (status.rollout.image): not spec.image while a rollback
    # or a backup before upgrade holds.
    api_image: str | None = None
    # The restart token of the pod template (annotation repairgpt.io/restart, then the status).
    restart_token: str | None = None

    @classmethod
    def from_status(cls, status: Mapping[str, Any]) -> RuntimeState:
        database = status.get("database") or {}
        maintenance = status.get("maintenance") or {}
        previous = maintenance.get("previousReplicas")
        phase: Phase = next((p for p in PHASES if p == maintenance.get("phase")), "Off")
        return cls(
            database_active="replica" if database.get("active") == "replica" else "primary",
            maintenance=MaintenanceState(
                phase=phase,
                previous_replicas=int(previous) if previous is not None else None,
            ),
            api_image=(status.get("rollout") or {}).get("image") or None,
        )


@dataclass(frozen=True)
class Instance:
    """A RepairGPTInstance as the builders see it: identity, a validated spec, runtime state."""

    name: str
    namespace: str
    uid: str
    generation: int
    spec: RepairGPTInstanceSpec
    state: RuntimeState = RuntimeState()

    @classmethod
    def from_body(cls, body: Mapping[str, Any]) -> Instance:
        """Parse a RepairGPTInstance object (as the API returns it); raise InvalidSpec."""
        metadata = body.get("metadata") or {}
        try:
            spec = RepairGPTInstanceSpec.model_validate(dict(body.get("spec") or {}))
        except ValidationError as error:
            raise InvalidSpec(_describe(error)) from None
        return cls(
            name=str(metadata["name"]),
            namespace=str(metadata.get("namespace") or "default"),
            uid=str(metadata.get("uid") or ""),
            generation=int(metadata.get("generation") or 0),
            spec=spec,
            state=dataclasses.replace(
                RuntimeState.from_status(body.get("status") or {}),
                restore_hold=(metadata.get("annotations") or {}).get(RESTORE_HOLD_ANNOTATION)
                or None,
                restart_token=template_token(body),
            ),
        )

    @property
    def maintenance_wanted(self) -> bool:
        """Maintenance asked for by the spec or held by a running restore."""
        return self.spec.maintenance.enabled or self.state.restore_hold is not None


def _describe(error: ValidationError) -> str:
    # Field paths and messages only: the offending values could be secrets.
    parts = []
    for item in error.errors(include_url=False, include_input=False):
        path = ".".join(str(p) for p in item["loc"])
        parts.append(f"spec.{path}: {item['msg']}" if path else f"spec: {item['msg']}")
    return "; ".join(parts)
