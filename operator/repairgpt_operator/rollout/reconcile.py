"""Sequences the rollout decisions (`rollout.py`, `upgrade.py`, `restart.py`) around the API calls.

`advance_rollout` runs before the children are applied: it looks at the API Deployment (and at
the backup Job of a held upgrade, starting it when due), plans `status.rollout`,
`status.restart` and their conditions, and returns the instance with the image to apply. When
the plan changes the image to apply (or the upgrade record), the status is written first, so
that drift correction, which builds the Deployment from the stored status, applies the same
image; otherwise the plan (a `RolloutRecord`) is written with the rest of the status, in the
same request.
"""

from __future__ import annotations

import dataclasses
import logging
from collections.abc import Mapping
from typing import Any, Literal

from repairgpt_operator.backup.job_output import pod_error
from repairgpt_operator.backup.jobs import JOB_NAME_LABEL, finished_job
from repairgpt_operator.conditions import (
    BACKUP_BEFORE_UPGRADE,
    ROLLOUT_HEALTHY,
    find_condition,
    set_condition,
)
from repairgpt_operator.events import Event, post_events
from repairgpt_operator.instance.model import Instance
from repairgpt_operator.instance.status_writer import StatusConflict, write_status
from repairgpt_operator.kube import Kube
from repairgpt_operator.resources.backup_cronjob import build_backup_cronjob
from repairgpt_operator.resources.backup_job import build_upgrade_job
from repairgpt_operator.rollout.health import (
    DeploymentObservation,
    choose_image,
    next_rollout,
    observe_deployment,
    rolled_back_image,
    rollout_condition,
    rollout_events,
)
from repairgpt_operator.rollout.restart import next_restart, requested_token
from repairgpt_operator.rollout.upgrade import (
    UpgradeJob,
    holds,
    judge,
    pending_change,
    skip_requested,
    upgrade_condition,
    upgrade_events,
)

log = logging.getLogger(__name__)
WRITE_ATTEMPTS = 3


def plan_rollout(
    instance: Instance,
    body: Mapping[str, Any],
    observed: DeploymentObservation | None,
    *,
    upgrade: Mapping[str, Any] | None,
    now: str,
) -> dict[str, Any]:
    """The status fields this feature owns (rollout, restart, conditions), from the previous
    status, one look at the Deployment and the judged upgrade record."""
    status = body.get("status") or {}
    spec = instance.spec
    rollout = next_rollout(
        status.get("rollout") or {},
        observed,
        spec_image=spec.image,
        auto_rollback=spec.rollout.auto_rollback,
        now=now,
    )
    running = (status.get("rollout") or {}).get("image") or (observed.image if observed else None)
    held_at = running if holds(upgrade) else None
    rollout["image"] = choose_image(rollout, spec_image=spec.image, held_at=held_at)
    rollout.pop("upgrade", None)
    if upgrade:
        rollout["upgrade"] = dict(upgrade)
    complete_token = observed.restart_token if observed is not None and observed.complete else None
    restart = next_restart(
        status.get("restart") or {}, requested_token(body), rolled_out_token=complete_token, now=now
    )
    conditions = set_condition(
        status.get("conditions") or [],
        rollout_condition(
            rollout,
            observed,
            spec_image=spec.image,
            deadline_seconds=spec.rollout.progress_deadline_seconds,
            auto_rollback=spec.rollout.auto_rollback,
            generation=instance.generation,
        ),
        now=now,
    )
    if spec.backup.before_upgrade:
        condition = upgrade_condition(
            upgrade, instance_name=instance.name, generation=instance.generation
        )
        conditions = set_condition(conditions, condition, now=now)
    else:
        conditions = [c for c in conditions if c.get("type") != BACKUP_BEFORE_UPGRADE]
    planned: dict[str, Any] = {"rollout": rollout, "conditions": conditions}
    if restart:
        planned["restart"] = restart
    return planned


def merge_patch(old: Any, new: Any) -> Any:
    """The JSON merge patch that turns `old` into `new`: keys that went away become null (a
    merge patch leaves keys it does not name as they are)."""
    if not isinstance(old, Mapping) or not isinstance(new, Mapping):
        return new
    patch = {key: None for key in old if key not in new}
    for key, value in new.items():
        if old.get(key) != value:
            patch[key] = merge_patch(old.get(key), value)
    return patch


def _changes(status: Mapping[str, Any], planned: Mapping[str, Any]) -> dict[str, Any]:
    return {
        key: merge_patch(status.get(key), value)
        for key, value in planned.items()
        if status.get(key) != value
    }


def _applied_image(instance: Instance, status: Mapping[str, Any]) -> str:
    """The image the builders put in the API Deployment for this stored status."""
    return str((status.get("rollout") or {}).get("image") or instance.spec.image)


def _settled(upgrade: Mapping[str, Any] | None) -> bool:
    return upgrade is None or upgrade.get("phase") in ("Succeeded", "Skipped")


# What a change of the API Deployment asks of the rollout (`rollout_step`).
RolloutStep = Literal["none", "record", "act"]


def rollout_step(body: Mapping[str, Any], deployment: Mapping[str, Any] | None) -> RolloutStep:
    """What a change of the API Deployment asks of the rollout: nothing; a record in the status
    (a newly ready image, a finished restart, the RolloutHealthy condition), which a status
    refresh writes (`RolloutRecord`); or to act, in a full reconciliation, when the image to
    apply changes (a rollback after a missed deadline, a released hold) or an upgrade's backup
    is under way."""
    try:
        instance = Instance.from_body(body)
    except ValueError:
        return "none"
    status = body.get("status") or {}
    upgrade = (status.get("rollout") or {}).get("upgrade")
    planned = plan_rollout(instance, body, observe_deployment(deployment), upgrade=upgrade, now="")
    rollout_status = find_condition(status.get("conditions") or [], ROLLOUT_HEALTHY) or {}
    rollout_planned = find_condition(planned["conditions"], ROLLOUT_HEALTHY) or {}
    same_condition = all(
        rollout_status.get(key) == rollout_planned.get(key) for key in ("status", "reason")
    )
    image = planned["rollout"]["image"]
    planned.pop("conditions")
    if same_condition and not _changes(status, planned):
        return "none"
    if not _settled(upgrade) or image != _applied_image(instance, status):
        return "act"
    return "record"


def _observe_upgrade_job(
    kube: Kube, instance: Instance, record: Mapping[str, Any], *, skip: str | None
) -> UpgradeJob:
    """The backup Job of a held change, started here when it does not exist yet."""
    name = str(record["job"])
    job = kube.get("batch/v1", "Job", instance.namespace, name)
    if job is None:
        if skip == record.get("image"):
            return UpgradeJob()
        kube.apply(build_upgrade_job(instance, build_backup_cronjob(instance), record))
        log.info("started backup Job %s before the upgrade to %s", name, record.get("image"))
        return UpgradeJob(exists=True)
    finished = finished_job(job)
    error = None
    if finished is not None and not finished.succeeded:
        pods = kube.list("v1", "Pod", instance.namespace, label_selector=f"{JOB_NAME_LABEL}={name}")
        error = pod_error(pods, name)
    return UpgradeJob(exists=True, finished=finished, error=error)


def _judged_upgrade(
    kube: Kube,
    instance: Instance,
    body: Mapping[str, Any],
    observed: DeploymentObservation | None,
) -> dict[str, Any] | None:
    status = body.get("status") or {}
    previous = status.get("rollout") or {}
    spec = instance.spec
    rolled_back = rolled_back_image(
        next_rollout(
            previous, observed, spec_image=spec.image, auto_rollback=spec.rollout.auto_rollback,
            now="",
        ),
        spec.image,
    )  # fmt: skip
    record = pending_change(
        previous.get("upgrade"),
        enabled=spec.backup.before_upgrade and rolled_back is None,
        running_image=previous.get("image") or (observed.image if observed else None),
        target=spec.image,
        generation=instance.generation,
        instance_name=instance.name,
    )
    if record is None or record.get("phase") in ("Succeeded", "Skipped"):
        return record
    skip = skip_requested(body)
    return judge(record, _observe_upgrade_job(kube, instance, record, skip=skip), skip=skip)


def _events(before: Mapping[str, Any], after: Mapping[str, Any]) -> list[Event]:
    old, new = before.get("rollout") or {}, after.get("rollout") or {}
    events = rollout_events(old, new) + upgrade_events(old.get("upgrade"), new.get("upgrade"))
    token = (after.get("restart") or {}).get("token")
    if token and token != (before.get("restart") or {}).get("token"):
        events.append(Event("Normal", "Restarting", f"restart {token}: rolling the API pods"))
    return events


class RolloutRecord:
    """The rollout's status fields, planned from one look at the API Deployment, for a status
    write to carry with its own fields. `plan` may be called again with a fresher copy of the
    instance (after a conflict); `events` tells what the last plan changed."""

    def __init__(
        self,
        kube: Kube,
        instance: Instance,
        deployment: Mapping[str, Any] | None,
        *,
        now: str,
    ) -> None:
        self._kube = kube
        self._instance = instance
        self._observed = observe_deployment(deployment)
        self._now = now
        self._planned_from: object = None
        self.planned: dict[str, Any] = {}

    def plan(self, body: Mapping[str, Any]) -> dict[str, Any]:
        """The planned fields (whole values: the status as it should read), planned again only
        for another version of the instance."""
        version = (body.get("metadata") or {}).get("resourceVersion") or id(body)
        if version != self._planned_from:
            upgrade = _judged_upgrade(self._kube, self._instance, body, self._observed)
            self.planned = plan_rollout(
                self._instance, body, self._observed, upgrade=upgrade, now=self._now
            )
            self._planned_from = version
        return self.planned

    def changes(self, status: Mapping[str, Any]) -> dict[str, Any]:
        """The merge patch from `status` to the last plan."""
        return _changes(status, self.planned)

    def events(self, before: Mapping[str, Any]) -> list[Event]:
        return _events(before, self.planned)


def advance_rollout(
    kube: Kube,
    instance: Instance,
    body: Mapping[str, Any],
    deployment: Mapping[str, Any] | None,
    *,
    now: str,
) -> tuple[Instance, Mapping[str, Any], RolloutRecord | None]:
    """Plan the rollout's progress from the live API `deployment` (starting a held upgrade's
    backup Job when due); return the instance with the image to apply, the body as last stored,
    and the plan when it is left for the status write to carry (None: written here already)."""
    record = RolloutRecord(kube, instance, deployment, now=now)
    planned = record.plan(body)
    status = body.get("status") or {}
    image = str(planned["rollout"]["image"])
    same_upgrade = planned["rollout"].get("upgrade") == (status.get("rollout") or {}).get("upgrade")
    if image == _applied_image(instance, status) and same_upgrade:
        runtime = dataclasses.replace(instance.state, api_image=image)
        return dataclasses.replace(instance, state=runtime), body, record

    def changes(current: Mapping[str, Any]) -> dict[str, Any]:
        record.plan(current)
        return record.changes(current.get("status") or {})

    try:
        written = write_status(
            kube, instance.namespace, instance.name, body, changes, attempts=WRITE_ATTEMPTS
        )
    except StatusConflict as conflict:
        # Kept changing: go on with the newest copy; the next pass records the rollout.
        written, body = None, conflict.body
    else:
        if written is None:
            raise StatusConflict(body)
    if written is not None and written.stored is not None:
        body = written.stored
        post_events(kube, body, record.events(written.previous))
    image = ((body.get("status") or {}).get("rollout") or {}).get("image") or instance.spec.image
    runtime = dataclasses.replace(instance.state, api_image=image)
    return dataclasses.replace(instance, state=runtime), body, None
