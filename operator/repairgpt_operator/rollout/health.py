"""Rollout health without I/O: which images became ready, a missed progress deadline, and the
automatic rollback to the last good image (kept in `status.rollout`).

The Deployment controller marks a rollout whose pods are not ready within
`progressDeadlineSeconds` with `Progressing=False, reason ProgressDeadlineExceeded`; that is the
failure signal. A rollback is remembered against the failed image, so it is decided once: the
operator keeps applying the last good image while `spec.image` still names the failed one, and
tries again as soon as `spec.image` changes.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

from repairgpt_operator.conditions import ROLLOUT_HEALTHY, make_condition
from repairgpt_operator.events import Event

HISTORY_LIMIT = 5
API_CONTAINER = "api"
DEADLINE_REASON = "ProgressDeadlineExceeded"
RESTART_TEMPLATE_ANNOTATION = "repairgpt.io/restart"


@dataclass(frozen=True)
class DeploymentObservation:
    """What rollout decisions need of the live API Deployment."""

    image: str | None = None
    replicas: int = 0
    current: bool = False  # the controller has observed the latest generation
    complete: bool = False  # every wanted pod is updated and available, no old pod is left
    deadline_exceeded: bool = False
    progress_message: str = ""
    restart_token: str | None = None


def _api_image(template_spec: Mapping[str, Any]) -> str | None:
    for container in template_spec.get("containers") or []:
        if container.get("name") == API_CONTAINER:
            return str(container.get("image") or "") or None
    return None


def observe_deployment(deployment: Mapping[str, Any] | None) -> DeploymentObservation | None:
    """The rollout state of the API Deployment, as its controller reports it."""
    if not deployment:
        return None
    metadata = deployment.get("metadata") or {}
    spec = deployment.get("spec") or {}
    status = deployment.get("status") or {}
    template = spec.get("template") or {}
    replicas = int(spec.get("replicas", 1))
    current = int(status.get("observedGeneration") or 0) >= int(metadata.get("generation") or 0)
    updated = int(status.get("updatedReplicas") or 0)
    available = int(status.get("availableReplicas") or 0)
    total = int(status.get("replicas") or 0)
    progressing: Mapping[str, Any] = next(
        (c for c in status.get("conditions") or [] if c.get("type") == "Progressing"), {}
    )
    exceeded = progressing.get("status") == "False" and progressing.get("reason") == DEADLINE_REASON
    annotations = (template.get("metadata") or {}).get("annotations") or {}
    return DeploymentObservation(
        image=_api_image(template.get("spec") or {}),
        replicas=replicas,
        current=current,
        complete=current and replicas >= 1 and min(updated, available) >= replicas == total,
        deadline_exceeded=current and exceeded,
        progress_message=str(progressing.get("message") or ""),
        restart_token=annotations.get(RESTART_TEMPLATE_ANNOTATION),
    )


def next_rollout(
    previous: Mapping[str, Any],
    observed: DeploymentObservation | None,
    *,
    spec_image: str,
    auto_rollback: bool,
    now: str,
) -> dict[str, Any]:
    """status.rollout after one look at the Deployment, `image` (what to apply) aside: history
    and last good image, the recorded failure, and the image it was rolled back to."""
    rollout = {key: value for key, value in previous.items() if key != "failure"}
    history = [dict(entry) for entry in previous.get("history") or []]
    failure = dict(previous.get("failure") or {})
    if failure and failure.get("image") != spec_image:
        # spec.image names another image now: that one is tried, whatever failed before.
        failure = {}
    if observed is not None and observed.complete and observed.image:
        if not history or history[0].get("image") != observed.image:
            history = [{"image": observed.image, "readyTime": now}, *history][:HISTORY_LIMIT]
        rollout["lastGoodImage"] = observed.image
        if failure.get("image") == observed.image:
            failure = {}  # it made it after all (a slow pull)
    if history:
        rollout["history"] = history
    if (
        observed is not None
        and observed.deadline_exceeded
        and observed.image == spec_image
        and failure.get("image") != spec_image
    ):
        failure = {"image": spec_image, "time": now, "message": observed.progress_message}
    last_good = rollout.get("lastGoodImage")
    if failure and auto_rollback and last_good and last_good != failure["image"]:
        failure.setdefault("rolledBackTo", last_good)
    elif failure:
        failure.pop("rolledBackTo", None)
    if failure:
        rollout["failure"] = failure
    return rollout


def rolled_back_image(rollout: Mapping[str, Any], spec_image: str) -> str | None:
    """The last good image applied instead of `spec_image`, while a rollback holds."""
    failure = rollout.get("failure") or {}
    if failure.get("image") == spec_image and failure.get("rolledBackTo"):
        return str(failure["rolledBackTo"])
    return None


def choose_image(rollout: Mapping[str, Any], *, spec_image: str, held_at: str | None = None) -> str:
    """The image to apply: the last good one after a rollback, the running one while an upgrade
    is held (`held_at`), else spec.image."""
    return rolled_back_image(rollout, spec_image) or held_at or spec_image


def rollout_condition(
    rollout: Mapping[str, Any],
    observed: DeploymentObservation | None,
    *,
    spec_image: str,
    deadline_seconds: int,
    auto_rollback: bool,
    generation: int,
) -> dict[str, Any]:
    """RolloutHealthy: False when pods of the newest image were not ready in time (and after a
    rollback, which leaves spec.image not applied); True while rolling out or rolled out."""

    def condition(status: Any, reason: str, message: str) -> dict[str, Any]:
        return make_condition(
            ROLLOUT_HEALTHY, status, reason=reason, message=message, observed_generation=generation
        )

    back = rolled_back_image(rollout, spec_image)
    if back is not None:
        return condition(
            "False",
            "RolledBack",
            f"pods of {spec_image} were not ready within {deadline_seconds} s; rolled back to "
            f"{back}. spec.image {spec_image} is not applied until it changes",
        )
    if observed is None:
        return condition("Unknown", "DeploymentMissing", "the API Deployment does not exist yet")
    if observed.deadline_exceeded:
        if not auto_rollback:
            why = "spec.rollout.autoRollback is off"
        elif observed.image != spec_image:
            why = f"it is not spec.image ({spec_image}), so it is not rolled back"
        else:
            why = "no earlier image became ready, so there is nothing to roll back to"
        return condition(
            "False",
            DEADLINE_REASON,
            f"pods of {observed.image} were not ready within {deadline_seconds} s; {why}",
        )
    if observed.replicas == 0:
        return condition("True", "ScaledToZero", "the API Deployment has 0 replicas")
    if observed.complete:
        return condition(
            "True", "RolledOut", f"{observed.image} is ready on all {observed.replicas} pods"
        )
    return condition("True", "Progressing", f"rolling out {observed.image}")


def rollout_events(before: Mapping[str, Any], after: Mapping[str, Any]) -> list[Event]:
    """RolledOut for a newly ready image, RolloutFailed and RolledBack for a new failure."""
    events = []
    old_history = before.get("history") or [{}]
    new_history = after.get("history") or [{}]
    if new_history[0].get("image") and new_history[0] != old_history[0]:
        image = new_history[0]["image"]
        events.append(Event("Normal", "RolledOut", f"{image} is ready on every API pod"))
    old, new = before.get("failure") or {}, after.get("failure") or {}
    if new.get("image") and (new.get("image"), new.get("time")) != (
        old.get("image"),
        old.get("time"),
    ):
        message = f"pods of {new['image']} were not ready in time: {new.get('message', '')}"
        events.append(Event("Warning", "RolloutFailed", message.strip()))
    if new.get("rolledBackTo") and new.get("rolledBackTo") != old.get("rolledBackTo"):
        events.append(
            Event(
                "Warning",
                "RolledBack",
                f"rolled the API back to {new['rolledBackTo']}; spec.image {new['image']} is "
                "not applied until it changes",
            )
        )
    return events
