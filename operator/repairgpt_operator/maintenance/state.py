"""Maintenance mode: the pure state machine and what each of its phases asks of the children.

Off -> Entering when `spec.maintenance.enabled` turns true: `<name>-maintenance` starts while the
API goes on serving. Entering -> On once a maintenance pod is ready: the Service points at it, the
API is scaled to 0 (no app connection holds the database) and its HPA and PDB are removed. (An API
that runs no pod goes straight to On.) On -> Exiting when it turns false: the API gets its previous
replica count back (and its HPA and PDB), but the Service keeps pointing at the maintenance pod
until an API pod is ready, so that there is never a moment without a backend. Exiting -> Off then
points the Service back and removes the maintenance Deployment.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Literal, get_args

Phase = Literal["Off", "Entering", "On", "Exiting"]
PHASES: tuple[Phase, ...] = get_args(Phase)


@dataclass(frozen=True)
class MaintenanceState:
    """What the operator remembers in `status.maintenance`."""

    phase: Phase = "Off"
    previous_replicas: int | None = None


@dataclass(frozen=True)
class ApiDeploymentState:
    """The parts of the live API Deployment that maintenance decisions look at."""

    replicas: int | None = None
    ready_replicas: int = 0
    up_to_date: bool = False  # the controller has observed the latest spec


def next_state(
    state: MaintenanceState,
    *,
    enabled: bool,
    api: ApiDeploymentState | None,
    page_ready: bool = False,
) -> MaintenanceState:
    """The maintenance phase after looking at the spec, the live API Deployment and whether a
    maintenance pod is ready."""
    if enabled:
        if state.phase == "Off":
            # Remember what runs now (the HPA's choice included) to give it back on exit.
            previous = api.replicas if api is not None else None
            if not previous:
                return MaintenanceState("On", previous)
            return MaintenanceState("Entering", previous)
        if state.phase == "Entering" and not page_ready:
            # The Service switches only to a page that answers: never a moment without one.
            return state
        return MaintenanceState("On", state.previous_replicas)
    if state.phase in ("Off", "Entering"):
        # Left before the page took over: the API never stopped serving.
        return MaintenanceState()
    if api is not None and api.up_to_date and api.ready_replicas >= 1:
        return MaintenanceState()
    if state.phase == "On" and state.previous_replicas == 0:
        # Nothing ran before maintenance: there is nothing to wait for.
        return MaintenanceState()
    return MaintenanceState("Exiting", state.previous_replicas)


def api_replicas(state: MaintenanceState, *, spec_replicas: int, autoscaling: bool) -> int | None:
    """The replica count the operator applies to the API Deployment; None leaves it to the HPA."""
    if state.phase == "On":
        return 0
    if autoscaling:
        return None
    return spec_replicas


def restore_replicas(state: MaintenanceState, *, autoscaling: bool, min_replicas: int) -> int:
    """On the way out with an HPA: the replica count to set once through the scale subresource.

    An HPA does nothing while its target has 0 replicas, so the operator gives the Deployment
    its previous count back before handing it over to the HPA again.
    """
    if not autoscaling:
        raise ValueError("only needed when the HPA owns the replica count")
    return max(state.previous_replicas or 0, min_replicas)


def serves_maintenance_page(state: MaintenanceState) -> bool:
    """Whether the Service points at the maintenance Deployment."""
    return state.phase in ("On", "Exiting")


def runs_maintenance_page(state: MaintenanceState) -> bool:
    """Whether the maintenance Deployment exists (from entering until the API is back)."""
    return state.phase != "Off"


def keeps_api_guards(state: MaintenanceState) -> bool:
    """Whether the HPA and the PDB of the API exist (not while the API is held at zero)."""
    return state.phase != "On"
