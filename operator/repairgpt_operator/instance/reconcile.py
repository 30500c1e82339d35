"""Brings the children and the status of one RepairGPTInstance in line with its spec.

The decisions are pure (builders, drift, status); this module only sequences them around the
calls of `kube.Kube`, and reports what it did so that handlers can emit events and metrics.
"""

from __future__ import annotations

import copy
import logging
import time
from collections.abc import Mapping
from typing import Any

from repairgpt_operator.backup.job_index import JobIndex
from repairgpt_operator.backup.observe import JobsKnown, observe_backup
from repairgpt_operator.instance.children import (
    describe,
    hand_over_replicas,
    sync_children,
)
from repairgpt_operator.instance.drift import needs_apply
from repairgpt_operator.instance.model import Instance, InvalidSpec
from repairgpt_operator.instance.observed import (
    invalid_spec_status,
    status_patch,
)
from repairgpt_operator.instance.outcome import Outcome
from repairgpt_operator.instance.pods import WatchedPods
from repairgpt_operator.instance.registry import InstanceRegistry
from repairgpt_operator.instance.status_record import write_status
from repairgpt_operator.instance.status_writer import write_status as write_status_patch
from repairgpt_operator.instance.verdicts import ChildVerdicts
from repairgpt_operator.instance.watched import WatchedDeployments
from repairgpt_operator.kube import ApiError, Kube
from repairgpt_operator.maintenance.advance import advance_maintenance
from repairgpt_operator.metrics import (
    INSTANCES,
)
from repairgpt_operator.monitoring.snapshot import status_snapshot
from repairgpt_operator.ownership import child_name
from repairgpt_operator.resources import desired_child
from repairgpt_operator.restore.hold import lift_stale_restore_hold
from repairgpt_operator.retention.observe import observe_retention
from repairgpt_operator.rollout.reconcile import RolloutRecord, advance_rollout
from repairgpt_operator.timestamps import now_rfc3339

log = logging.getLogger(__name__)


def _record_invalid_spec(kube: Kube, body: Mapping[str, Any], message: str) -> bool:
    """Say in the status why the spec is refused; whether that wrote anything."""
    metadata = body.get("metadata") or {}
    namespace, name = str(metadata["namespace"]), str(metadata["name"])

    def changes(current: Mapping[str, Any]) -> dict[str, Any]:
        previous = copy.deepcopy(dict(current.get("status") or {}))
        generation = int((current.get("metadata") or {}).get("generation") or 0)
        computed = invalid_spec_status(
            previous, generation=generation, message=message, now=now_rfc3339()
        )
        INSTANCES.record(namespace, name, status_snapshot(previous | computed))
        return status_patch(previous, computed)

    written = write_status_patch(kube, namespace, name, body, changes)
    return written is not None and bool(written.patch)


def compares_first(body: Mapping[str, Any], trigger: str) -> bool:
    """Whether a change-triggered reconciliation reads each child before writing it.

    A resumed instance, or one whose status already covers its generation (kopf may hand the
    same creation over again when the operator's status write reaches it before kopf's own
    bookkeeping does; an annotation-only change), mostly matches: comparing first writes nothing
    then. A new generation applies blindly, saving a read per child that is about to change.
    """
    if trigger == "resume":
        return True
    generation = (body.get("metadata") or {}).get("generation")
    observed = (body.get("status") or {}).get("observedGeneration")
    return generation is not None and observed == generation


def is_new(body: Mapping[str, Any], *, compare: bool) -> bool:
    """A creation the operator has written no status for yet (and applies blindly). Its uid owns
    no child and no Job: what an earlier instance of the same name left belongs to that one's uid
    (the garbage collector removes it), so nothing needs reading before the children are
    applied. A pass that compares (a resync that meets the creation halfway) reads as usual."""
    return not compare and not body.get("status")


def _watched_api(
    instance: Instance, deployments: WatchedDeployments | None
) -> dict[str, Any] | None:
    """The watch's copy of the API Deployment, if it has one."""
    return deployments.get(instance.namespace, instance.name) if deployments is not None else None


def reconcile_instance(
    kube: Kube,
    body: Mapping[str, Any],
    *,
    compare: bool,
    registry: InstanceRegistry | None = None,
    verdicts: ChildVerdicts | None = None,
    jobs: JobIndex | None = None,
    deployments: WatchedDeployments | None = None,
    trust_watches: bool = False,
    pods: WatchedPods | None = None,
) -> Outcome:
    """Reconcile one instance body (as the API returned it): children first, then status.

    `verdicts` and `trust_watches` go to `sync_children`. With `trust_watches`, the Jobs of a
    component are listed only when `jobs` (the Job watch's index) knows of some, and the API
    Deployment that `deployments` holds serves the rollout and the status (it is read only to
    be compared, when its latest version has not been found in line). `pods`, the pod watch's
    copies, go to the status write."""
    started = time.monotonic()
    outcome = Outcome()
    try:
        instance = Instance.from_body(body)
    except InvalidSpec as error:
        outcome.invalid_spec = str(error)
        outcome.status_written = _record_invalid_spec(kube, body, str(error))
        return _finished(outcome, started)
    new = is_new(body, compare=compare)
    api = ("Deployment", child_name(instance, "api"))
    watched = _watched_api(instance, deployments) if trust_watches and not new else None
    live: dict[tuple[str, str], dict[str, Any] | None] = {}
    outcome.instance = instance
    try:
        instance, body, rollout = _advance(kube, instance, body, watched, live, new=new)
    except ApiError as error:
        outcome.errors.append(error)
        return _finished(outcome, started)
    outcome.instance = instance
    children = sync_children(
        kube,
        instance,
        compare=compare,
        live=live,
        watched={api: watched} if watched is not None else None,
        outcome=outcome,
        verdicts=verdicts,
        trust_watches=trust_watches,
        new=new,
    )
    known = jobs.any if trust_watches and jobs is not None else None
    _observe_and_record(
        kube,
        instance,
        body,
        children,
        outcome,
        new=new,
        known=known,
        registry=registry,
        rollout=rollout,
        pods=pods,
    )
    return _finished(outcome, started)


def _finished(outcome: Outcome, started: float) -> Outcome:
    """`outcome`, with the time since `started` (a `time.monotonic()` reading)."""
    outcome.duration_seconds = time.monotonic() - started
    return outcome


def _observe_and_record(
    kube: Kube,
    instance: Instance,
    body: Mapping[str, Any],
    children: Mapping[tuple[str, str], dict[str, Any] | None],
    outcome: Outcome,
    *,
    new: bool,
    known: JobsKnown | None,
    registry: InstanceRegistry | None,
    rollout: RolloutRecord | None,
    pods: WatchedPods | None,
) -> None:
    """Observe the backups and the retention of the instance, then write its status (with the
    rollout's record). A `new` instance's components are known from the `children` just
    applied; `known` says whether the Job watch knows Jobs of a component."""
    applied = children if new else None
    backup = observe_backup(kube, instance, body, outcome, applied=applied, known=known)
    outcome.retention = observe_retention(kube, instance, outcome, applied=applied, known=known)
    api = children[("Deployment", child_name(instance, "api"))]
    try:
        write_status(
            kube, instance, body, api, outcome,
            registry=registry, backup=backup, rollout=rollout, pods=pods,
        )  # fmt: skip
    except ApiError as error:
        outcome.errors.append(error)


def _advance(
    kube: Kube,
    instance: Instance,
    body: Mapping[str, Any],
    watched: dict[str, Any] | None,
    live: dict[tuple[str, str], dict[str, Any] | None],
    *,
    new: bool,
) -> tuple[Instance, Mapping[str, Any], RolloutRecord | None]:
    """Lift a stale restore hold, then advance maintenance and the rollout, which may change the
    instance. Without the watch's copy (`watched`), the API Deployment is read once into `live`,
    where the comparison of the children finds it (a `new` instance has none to read)."""
    instance = lift_stale_restore_hold(kube, instance)
    instance, body = advance_maintenance(kube, instance, body)
    api = ("Deployment", child_name(instance, "api"))
    if watched is None:
        live[api] = None if new else kube.get("apps/v1", "Deployment", instance.namespace, api[1])
    return advance_rollout(kube, instance, body, watched or live[api], now=now_rfc3339())


def _parse(body: Mapping[str, Any]) -> tuple[Outcome, Instance | None]:
    """A fresh outcome, with the instance parsed from `body` (None: its spec is invalid)."""
    try:
        instance = Instance.from_body(body)
    except InvalidSpec:
        return Outcome(), None
    return Outcome(instance=instance), instance


def reconcile_child(
    kube: Kube,
    instance_body: Mapping[str, Any],
    child: Mapping[str, Any] | None,
    *,
    kind: str,
    name: str,
    verdicts: ChildVerdicts | None = None,
) -> Outcome:
    """React to an event about one child: restore it if it drifted or vanished.

    `instance_body` may be a remembered copy; before writing, the instance is read again, so a
    stale copy can never roll a child back to an older spec. `verdicts` learns the versions
    found in line (or written).
    """
    started = time.monotonic()
    outcome, instance = _parse(instance_body)
    if instance is None:
        return outcome
    manifest = desired_child(instance, kind, name)
    current: dict[str, Any] | None = dict(child) if child is not None else None
    try:
        if manifest is not None and needs_apply(manifest, current):
            fresh = kube.get_instance(instance.namespace, instance.name)
            if fresh is None or (fresh.get("metadata") or {}).get("uid") != instance.uid:
                return outcome
            if (fresh.get("metadata") or {}).get("deletionTimestamp"):
                return outcome
            instance_body = fresh
            instance = Instance.from_body(fresh)
            outcome.instance = instance
            manifest = desired_child(instance, kind, name)
            if manifest is not None and needs_apply(manifest, current):
                hand_over_replicas(kube, manifest, current)
                current = kube.apply(manifest)
                outcome.applied.append(describe(manifest))
        if manifest is not None and current is not None and verdicts is not None:
            verdicts.verified(current, manifest)
    except InvalidSpec:
        return outcome
    except ApiError as error:
        label = f"{kind}/{name}"
        outcome.errors.append(error.about(label))
    return _finished(outcome, started)


def refresh_status(
    kube: Kube,
    instance_body: Mapping[str, Any],
    deployment: Mapping[str, Any] | None,
    *,
    registry: InstanceRegistry | None = None,
    rollout: bool = False,
    pods: WatchedPods | None = None,
) -> Outcome:
    """Bring replicas, readiness and phase in the status up to date with the API Deployment,
    leaving the verdict of the last full reconciliation (Reconciled, observedGeneration) alone;
    with `rollout`, record the rollout's progress too (when `rollout_step` says a record is
    enough). `pods`, the pod watch's copies, go to the status write."""
    started = time.monotonic()
    outcome, instance = _parse(instance_body)
    if instance is None:
        return outcome
    try:
        record = RolloutRecord(kube, instance, deployment, now=now_rfc3339()) if rollout else None
        write_status(
            kube,
            instance,
            instance_body,
            deployment,
            outcome,
            children_synced=False,
            registry=registry,
            rollout=record,
            pods=pods,
        )
    except ApiError as error:
        outcome.errors.append(error)
    return _finished(outcome, started)
