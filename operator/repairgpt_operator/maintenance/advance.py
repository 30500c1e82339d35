"""Moves an instance through maintenance mode, reading the Deployments the phase machine needs."""

from __future__ import annotations

import dataclasses
from collections.abc import Mapping
from typing import Any

from repairgpt_operator.instance.model import Instance
from repairgpt_operator.instance.observed import (
    maintenance_status,
)
from repairgpt_operator.instance.status_writer import write_status
from repairgpt_operator.kube import Kube
from repairgpt_operator.maintenance import state as maintenance
from repairgpt_operator.maintenance.state import ApiDeploymentState
from repairgpt_operator.metrics import (
    MAINTENANCE_TRANSITIONS,
)
from repairgpt_operator.ownership import (
    REPLICAS_HANDOFF_MANAGER,
    child_name,
)


def restore_replicas_after_maintenance(
    kube: Kube, instance: Instance, manifest: Mapping[str, Any], live: Mapping[str, Any] | None
) -> dict[str, Any] | None:
    """Leaving maintenance with an HPA: give the API its previous replica count back.

    An HPA does nothing while its target has 0 replicas. The count is set under the hand-off
    manager (as when autoscaling is switched on), so the operator's own apply without
    `replicas` leaves it alone and the HPA takes it over from there. Returns the Deployment if
    it wrote.
    """
    state = instance.state.maintenance
    if state.phase != "Exiting" or live is None:
        return None
    if int((live.get("spec") or {}).get("replicas") or 0) != 0:
        return None
    replicas = maintenance.restore_replicas(
        state, autoscaling=True, min_replicas=instance.spec.autoscaling.min_replicas
    )
    metadata = manifest["metadata"]
    return kube.apply(
        {
            "apiVersion": manifest["apiVersion"],
            "kind": manifest["kind"],
            "metadata": {"name": metadata["name"], "namespace": metadata["namespace"]},
            "spec": {"replicas": replicas},
        },
        field_manager=REPLICAS_HANDOFF_MANAGER,
    )


def api_deployment_state(deployment: Mapping[str, Any] | None) -> ApiDeploymentState | None:
    """What maintenance decisions need of the live API Deployment."""
    if deployment is None:
        return None
    spec = deployment.get("spec") or {}
    status = deployment.get("status") or {}
    generation = int((deployment.get("metadata") or {}).get("generation") or 0)
    return ApiDeploymentState(
        replicas=int(spec.get("replicas", 1)),
        ready_replicas=int(status.get("readyReplicas") or 0),
        up_to_date=int(status.get("observedGeneration") or 0) >= generation,
    )


def advance_maintenance(
    kube: Kube, instance: Instance, body: Mapping[str, Any]
) -> tuple[Instance, Mapping[str, Any]]:
    """Move the maintenance phase on, recording it in the status before any child changes.

    Recording first matters: the replica count noted on entry must survive an operator crash
    between this write and the scale-down (a second look would see 0 replicas).
    """
    state = instance.state.maintenance
    enabled = instance.maintenance_wanted
    if state.phase == "Off" and not enabled:
        return instance, body
    live = kube.get("apps/v1", "Deployment", instance.namespace, child_name(instance, "api"))
    page_ready = False
    if state.phase == "Entering":
        page = kube.get(
            "apps/v1", "Deployment", instance.namespace, child_name(instance, "maintenance")
        )
        page_state = api_deployment_state(page)
        page_ready = page_state is not None and page_state.ready_replicas >= 1
    new_state = maintenance.next_state(
        state, enabled=enabled, api=api_deployment_state(live), page_ready=page_ready
    )
    if new_state == state:
        return instance, body
    # One attempt: on a conflict the next pass decides again from what it then sees.
    written = write_status(
        kube,
        instance.namespace,
        instance.name,
        body,
        lambda _: {"maintenance": maintenance_status(new_state)},
        attempts=1,
    )
    assert written is not None and written.stored is not None
    stored = written.stored
    MAINTENANCE_TRANSITIONS.labels(phase=new_state.phase).inc()
    runtime = dataclasses.replace(instance.state, maintenance=new_state)
    return dataclasses.replace(instance, state=runtime), stored
