"""Records the status computed for an instance, with the Events and metrics its changes ask for."""

from __future__ import annotations

import copy
from collections.abc import Mapping
from typing import Any

from repairgpt_operator.backup.jobs import BackupObservation
from repairgpt_operator.backup.observe import record_backup_durations, record_last_success
from repairgpt_operator.backup.status import backup_events
from repairgpt_operator.backup.verification import verification_events
from repairgpt_operator.events import Event, post_events
from repairgpt_operator.instance.model import Instance
from repairgpt_operator.instance.observed import (
    compute_status,
    deployment_counts,
    status_patch,
    upload_storage_events,
)
from repairgpt_operator.instance.outcome import Outcome
from repairgpt_operator.instance.pods import WatchedPods, running
from repairgpt_operator.instance.registry import InstanceRegistry
from repairgpt_operator.instance.status_writer import write_status as write_status_patch
from repairgpt_operator.kube import Kube
from repairgpt_operator.metrics import API_POD_LISTS, INSTANCES
from repairgpt_operator.monitoring.readiness import (
    monitoring_turned_unready,
    with_monitoring_condition,
)
from repairgpt_operator.monitoring.snapshot import instance_snapshot
from repairgpt_operator.ownership import (
    label_selector,
    selector_labels,
)
from repairgpt_operator.resources import (
    desired_child_count,
)
from repairgpt_operator.retention.status import retention_events
from repairgpt_operator.rollout.reconcile import RolloutRecord
from repairgpt_operator.timestamps import now_rfc3339


def _monitoring_events(before: list[dict[str, Any]], after: list[dict[str, Any]]) -> list[Event]:
    turned = monitoring_turned_unready(before, after)
    if turned is None:
        return []
    return [Event("Warning", str(turned["reason"]), str(turned["message"]))]


def _api_pods_if_not_ready(
    kube: Kube,
    instance: Instance,
    deployment: Mapping[str, Any] | None,
    watched: WatchedPods | None,
) -> list[dict[str, Any]]:
    """The API pods, only when some wanted pod is not ready (the status then says why), and
    once the Deployment has some: the pod watch's copies (`watched`) when it holds as many
    running pods as the Deployment counts, else a list, which the watch's copies then follow."""
    wanted, current, ready = deployment_counts(deployment)
    if not deployment or wanted == 0 or ready >= wanted or current == 0:
        return []
    if watched is not None:
        pods = watched.of(instance.namespace, instance.name)
        if running(pods) == current:
            return pods
    selector = label_selector(selector_labels(instance, "api"))
    listed = kube.list("v1", "Pod", instance.namespace, label_selector=selector)
    API_POD_LISTS.inc()
    if watched is not None:
        watched.replace(instance.namespace, instance.name, listed)
    return listed


def _status_changes(
    instance: Instance,
    latest: Mapping[str, Any],
    *,
    deployment: Mapping[str, Any] | None,
    outcome: Outcome,
    children_synced: bool,
    backup: BackupObservation | None,
    pods: list[dict[str, Any]],
    rollout: RolloutRecord | None,
) -> dict[str, Any]:
    """The patch from the status of `latest` to the status observed now (with the rollout's
    planned fields, if given); the instance's metrics are recorded from the observed status on
    the way."""
    previous = copy.deepcopy(dict(latest.get("status") or {}))
    base, carried = previous, {}
    if rollout is not None:
        base = {**previous, **rollout.plan(latest)}
        # Conditions come from compute_status, which starts from the planned ones.
        carried = {k: v for k, v in rollout.changes(previous).items() if k != "conditions"}
    computed = compute_status(
        instance,
        previous=base,
        deployment=deployment,
        now=now_rfc3339(),
        children_synced=children_synced,
        error=outcome.error_message,
        applied=desired_child_count(instance, outcome.monitoring_missing or frozenset()),
        backup=backup,
        pods=pods,
        retention=outcome.retention,
    )
    if outcome.monitoring_missing is not None:
        computed["conditions"] = with_monitoring_condition(
            computed["conditions"], instance, outcome.monitoring_missing, now=now_rfc3339()
        )
    snapshot = instance_snapshot(instance, {**base, **computed})
    INSTANCES.record(instance.namespace, instance.name, snapshot)
    if backup is not None and "backup" in computed:
        record_last_success(instance, computed["backup"])
    return carried | status_patch(previous, computed)


def write_status(
    kube: Kube,
    instance: Instance,
    body: Mapping[str, Any],
    deployment: Mapping[str, Any] | None,
    outcome: Outcome,
    *,
    children_synced: bool = True,
    registry: InstanceRegistry | None = None,
    backup: BackupObservation | None = None,
    rollout: RolloutRecord | None = None,
    pods: WatchedPods | None = None,
) -> None:
    """Patch the instance status if (and only if) an observed field changed; `rollout` adds the
    rollout's planned fields to the same write; `pods`, the pod watch's copies, spare listing
    the API pods when they agree with the Deployment.

    The patch is conditional on the resourceVersion of `body`; when another writer got there
    first, the status is recomputed from a fresh read, so no condition is ever lost. With a
    registry, writes for one instance are serialised and start from the newest known copy,
    which keeps such conflicts rare.
    """

    def write(current: Mapping[str, Any]) -> None:
        api_pods = _api_pods_if_not_ready(kube, instance, deployment, pods)

        def changes(latest: Mapping[str, Any]) -> dict[str, Any]:
            return _status_changes(
                instance,
                latest,
                deployment=deployment,
                outcome=outcome,
                children_synced=children_synced,
                backup=backup,
                pods=api_pods,
                rollout=rollout,
            )

        written = write_status_patch(
            kube, instance.namespace, instance.name, current, changes, uid=instance.uid
        )
        if written is None or not written.patch:
            return
        outcome.stored_instance = written.stored
        outcome.status_written = True
        _record_changes(outcome, written.previous, written.patch, backup)
        if rollout is not None:
            outcome.status_events += rollout.events(written.previous)

    if registry is None:
        write(body)
    else:
        with registry.status_lock(instance.namespace, instance.name):
            write(registry.freshest(body))
            if outcome.stored_instance is not None:
                registry.remember(outcome.stored_instance)
    post_events(kube, body, outcome.status_events)


def _record_changes(
    outcome: Outcome,
    previous: Mapping[str, Any],
    patch: Mapping[str, Any],
    backup: BackupObservation | None,
) -> None:
    """The Events (and the backup Job durations) of the fields a status write changed."""
    if "conditions" in patch:
        before = previous.get("conditions") or []
        outcome.status_events = upload_storage_events(
            before, patch["conditions"]
        ) + _monitoring_events(before, patch["conditions"])
    if "backup" in patch and backup is not None:
        before = previous.get("backup") or {}
        outcome.backup_events = backup_events(before, patch["backup"])
        outcome.backup_events += verification_events(before, patch["backup"])
        record_backup_durations(before, patch["backup"], backup)
    if "retention" in patch:
        before = previous.get("retention") or {}
        outcome.backup_events += retention_events(before, patch["retention"])
