"""Brings the children and the status of one RepairGPTInstance in line with its spec.

The decisions are pure (builders, drift, status); this module only sequences them around the
calls of `kube.Kube`, and reports what it did so that handlers can emit events and metrics.
"""

from __future__ import annotations

import copy
import dataclasses
import logging
import time
from collections.abc import Mapping
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any

from repairgpt_operator import maintenance
from repairgpt_operator.backup import (
    BackupEvent,
    BackupObservation,
    JobsObservation,
    backup_events,
    build_manual_job,
    finished_job,
    manual_job_name,
    parse_time,
    wants_manual_job,
)
from repairgpt_operator.drift import applies_field, needs_apply
from repairgpt_operator.inventory import Inventory
from repairgpt_operator.kube import ApiError, Kube
from repairgpt_operator.maintenance import ApiDeploymentState
from repairgpt_operator.metrics import (
    BACKUP_JOB_DURATION,
    BACKUP_LAST_SIZE,
    BACKUP_LAST_SUCCESS,
    BACKUP_LAST_VERIFIED,
    INSTANCES,
    MAINTENANCE_TRANSITIONS,
    STATUS_WRITES,
)
from repairgpt_operator.monitoring.discovery import (
    MONITORING_GROUP,
    MONITORING_GROUP_VERSION,
    forget_monitoring_kinds,
    missing_monitoring_kinds,
)
from repairgpt_operator.monitoring.readiness import (
    monitoring_turned_unready,
    with_monitoring_condition,
)
from repairgpt_operator.monitoring.snapshot import instance_snapshot, status_snapshot
from repairgpt_operator.ownership import (
    FIELD_MANAGER,
    Component,
    child_name,
    label_selector,
    selector_labels,
)
from repairgpt_operator.resources import (
    API_CHILD_KINDS,
    ChildRef,
    child_kind,
    desired_children,
    unwanted_children,
)
from repairgpt_operator.resources.retention_cronjob import retention_wanted
from repairgpt_operator.restore_reconcile import restore_still_holds
from repairgpt_operator.retention import retention_events
from repairgpt_operator.rollout_reconcile import advance_rollout
from repairgpt_operator.spec import RESTORE_HOLD_ANNOTATION, Instance, InvalidSpec
from repairgpt_operator.status import (
    StatusEvent,
    compute_status,
    deployment_counts,
    invalid_spec_status,
    maintenance_status,
    status_patch,
    upload_storage_events,
)
from repairgpt_operator.verification import verification_events

log = logging.getLogger(__name__)


def now_rfc3339() -> str:
    """The current time as Kubernetes writes timestamps."""
    return datetime.now(UTC).strftime("%Y-%m-%dT%H:%M:%SZ")


@dataclass
class Outcome:
    """What one reconciliation did."""

    instance: Instance | None = None
    applied: list[str] = field(default_factory=list)
    deleted: list[str] = field(default_factory=list)
    errors: list[ApiError] = field(default_factory=list)
    invalid_spec: str | None = None
    status_written: bool = False
    # The instance as the API server returned it after a status write (newer than any event).
    stored_instance: dict[str, Any] | None = None
    duration_seconds: float = 0.0
    # Backup outcomes newly recorded in the status (for Events).
    backup_events: list[BackupEvent] = field(default_factory=list)
    # The on-demand backup Job started by this reconciliation, if any.
    started_job: str | None = None
    # Condition changes newly recorded in the status (posted as Events by write_status).
    status_events: list[StatusEvent] = field(default_factory=list)
    # The prometheus-operator kinds the cluster lacks, as sync_children found (None: not asked).
    monitoring_missing: frozenset[tuple[str, str]] | None = None
    # The chat retention CronJob's Jobs and pods (None: not observed this time).
    retention: JobsObservation | None = None

    @property
    def wrote(self) -> bool:
        return bool(self.applied or self.deleted or self.status_written)

    @property
    def error_message(self) -> str | None:
        if self.invalid_spec:
            return self.invalid_spec
        if not self.errors:
            return None
        return "; ".join(error.message for error in self.errors)

    @property
    def retryable(self) -> bool:
        return any(error.retryable for error in self.errors)

    @property
    def namespace_terminating(self) -> bool:
        """Every failure is the namespace going away: the instance is about to be deleted."""
        return bool(self.errors) and all(error.namespace_terminating for error in self.errors)


def _describe(manifest: Mapping[str, Any]) -> str:
    return f"{manifest['kind']}/{manifest['metadata']['name']}"


def _describe_ref(ref: ChildRef) -> str:
    return f"{ref.kind}/{ref.name}"


# Co-owns spec.replicas of an API Deployment while the operator hands it over to the HPA.
REPLICAS_HANDOFF_MANAGER = "repairgpt-operator-replicas-handoff"


def hand_over_replicas(
    kube: Kube, manifest: Mapping[str, Any], live: Mapping[str, Any] | None
) -> None:
    """Keep the replica count when the operator stops setting it (autoscaling switched on).

    The operator applied `replicas` until now; an apply without it would make the API server
    drop the field (back to 1 pod) until the HPA scales up again. Applying the same value under a
    second manager first makes that manager co-own it, so the count survives the apply; the
    HPA's first scaling then takes the field over (an update moves ownership).
    """
    if manifest["kind"] != "Deployment" or "replicas" in manifest["spec"] or live is None:
        return
    if not applies_field(dict(live), FIELD_MANAGER, ("spec", "replicas")):
        return
    replicas = (live.get("spec") or {}).get("replicas")
    if replicas is None:
        return
    metadata = manifest["metadata"]
    kube.apply(
        {
            "apiVersion": manifest["apiVersion"],
            "kind": manifest["kind"],
            "metadata": {"name": metadata["name"], "namespace": metadata["namespace"]},
            "spec": {"replicas": replicas},
        },
        field_manager=REPLICAS_HANDOFF_MANAGER,
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
    stored = kube.patch_instance_status(
        instance.namespace,
        instance.name,
        {"maintenance": maintenance_status(new_state)},
        resource_version=(body.get("metadata") or {}).get("resourceVersion"),
    )
    MAINTENANCE_TRANSITIONS.labels(phase=new_state.phase).inc()
    runtime = dataclasses.replace(instance.state, maintenance=new_state)
    return dataclasses.replace(instance, state=runtime), stored


def lift_stale_restore_hold(kube: Kube, instance: Instance) -> Instance:
    """Ignore (and remove) a maintenance hold whose restore has finished or was deleted."""
    if instance.state.restore_hold is None or restore_still_holds(kube, instance):
        return instance
    kube.annotate_instance(instance.namespace, instance.name, {RESTORE_HOLD_ANNOTATION: None})
    runtime = dataclasses.replace(instance.state, restore_hold=None)
    return dataclasses.replace(instance, state=runtime)


def _missing_monitoring_kinds(
    kube: Kube, instance: Instance, outcome: Outcome
) -> frozenset[tuple[str, str]]:
    """The prometheus-operator kinds the cluster lacks (discovery, cached): not applied while
    missing, and not read to find something to delete either."""
    try:
        missing = missing_monitoring_kinds(kube)
    except ApiError as error:
        if not instance.spec.monitoring.enabled:
            # Nothing to create: look for leftovers to delete as if every kind were served.
            missing = frozenset()
        else:
            message = f"discovery: {error.message}"
            outcome.errors.append(ApiError(error.status, error.reason, message))
            missing = frozenset(
                (k.api_version, k.kind) for k in API_CHILD_KINDS if k.group == MONITORING_GROUP
            )
    outcome.monitoring_missing = missing
    return missing


def _monitoring_events(
    before: list[dict[str, Any]], after: list[dict[str, Any]]
) -> list[StatusEvent]:
    turned = monitoring_turned_unready(before, after)
    if turned is None:
        return []
    return [StatusEvent("Warning", str(turned["reason"]), str(turned["message"]))]


def sync_children(
    kube: Kube,
    instance: Instance,
    *,
    compare: bool,
    live: Mapping[tuple[str, str], dict[str, Any] | None] | None = None,
    outcome: Outcome,
) -> dict[str, Any] | None:
    """Apply every wanted child and delete switched-off ones; return the API Deployment.

    With compare=False every child is applied blindly (create and spec updates, where a change
    is expected); with compare=True a child is written only when it differs from the live object
    (`live` may supply objects already in hand, keyed by (kind, name)).
    """
    deployment: dict[str, Any] | None = None
    api_name = child_name(instance, "api")
    missing = _missing_monitoring_kinds(kube, instance, outcome)
    for manifest in desired_children(instance, missing):
        name = manifest["metadata"]["name"]
        is_api_deployment = manifest["kind"] == "Deployment" and name == api_name
        current: dict[str, Any] | None = None
        try:
            if compare:
                key = (manifest["kind"], name)
                if live is not None and key in live:
                    current = live[key]
                else:
                    current = kube.get(
                        manifest["apiVersion"], manifest["kind"], instance.namespace, name
                    )
            if is_api_deployment and "replicas" not in manifest["spec"]:
                if current is None and not compare:
                    current = kube.get(
                        manifest["apiVersion"], manifest["kind"], instance.namespace, name
                    )
                restored = restore_replicas_after_maintenance(kube, instance, manifest, current)
                if restored is not None:
                    current = restored
                    outcome.applied.append(f"{_describe(manifest)} (replicas restored)")
                else:
                    hand_over_replicas(kube, manifest, current)
            if not compare or needs_apply(manifest, current):
                current = kube.apply(manifest)
                outcome.applied.append(_describe(manifest))
        except ApiError as error:
            if error.status == 404 and manifest["apiVersion"] == MONITORING_GROUP_VERSION:
                # The CRD went away since discovery was last asked: ask again next time.
                forget_monitoring_kinds(kube)
            outcome.errors.append(
                ApiError(error.status, error.reason, f"{_describe(manifest)}: {error.message}")
            )
        if is_api_deployment:
            deployment = current
    for ref in unwanted_children(instance, missing):
        try:
            # Read first: a DELETE of nothing would still be a write request.
            if kube.get(ref.api_version, ref.kind, ref.namespace, ref.name) is None:
                continue
            if kube.delete(ref.api_version, ref.kind, ref.namespace, ref.name):
                outcome.deleted.append(_describe_ref(ref))
        except ApiError as error:
            outcome.errors.append(
                ApiError(error.status, error.reason, f"{_describe_ref(ref)}: {error.message}")
            )
    return deployment


def observe_backup(
    kube: Kube, instance: Instance, body: Mapping[str, Any], outcome: Outcome
) -> BackupObservation:
    """Read the backup CronJob and Jobs, starting the on-demand Job a new token asks for."""
    if not instance.spec.backup.enabled:
        return BackupObservation()
    namespace = instance.namespace
    try:
        cronjob = kube.get("batch/v1", "CronJob", namespace, child_name(instance, "backup"))
        selector = label_selector(selector_labels(instance, "backup"))
        jobs = kube.list("batch/v1", "Job", namespace, label_selector=selector)
        # Termination messages of backup pods carry the command's error (and result).
        pods = kube.list("v1", "Pod", namespace, label_selector=selector)
        token = wants_manual_job(body)
        if token is not None and cronjob is not None:
            name = manual_job_name(instance, token)
            # Once per token: the name is derived from it, so an existing Job means "started".
            if not any(job["metadata"]["name"] == name for job in jobs):
                jobs.append(kube.apply(build_manual_job(instance, cronjob, token)))
                outcome.started_job = name
        verify = None
        if instance.spec.backup.verify.enabled:
            verify = observe_jobs(kube, instance, "verify")
    except ApiError as error:
        outcome.errors.append(ApiError(error.status, error.reason, f"backup: {error.message}"))
        return BackupObservation()
    return BackupObservation(cronjob=cronjob, jobs=tuple(jobs), pods=tuple(pods), verify=verify)


def observe_jobs(kube: Kube, instance: Instance, component: Component) -> JobsObservation:
    """The CronJob of one component and its Jobs and pods."""
    namespace = instance.namespace
    selector = label_selector(selector_labels(instance, component))
    return JobsObservation(
        cronjob=kube.get("batch/v1", "CronJob", namespace, child_name(instance, component)),
        jobs=tuple(kube.list("batch/v1", "Job", namespace, label_selector=selector)),
        pods=tuple(kube.list("v1", "Pod", namespace, label_selector=selector)),
    )


def observe_retention(kube: Kube, instance: Instance, outcome: Outcome) -> JobsObservation | None:
    """The retention CronJob's Jobs and pods (their termination messages carry the results)."""
    if not retention_wanted(instance):
        return None
    try:
        return observe_jobs(kube, instance, "retention")
    except ApiError as error:
        outcome.errors.append(ApiError(error.status, error.reason, f"retention: {error.message}"))
        return None


def record_last_success(instance: Instance, backup: Mapping[str, Any]) -> None:
    """The last-success, size and verification gauges (set on every pass, so that they survive
    an operator restart)."""
    labels = {"namespace": instance.namespace, "name": instance.name}
    success = backup.get("lastSuccessfulTime")
    if success:
        BACKUP_LAST_SUCCESS.labels(**labels).set(parse_time(success).timestamp())
    size = backup.get("lastSizeBytes")
    if isinstance(size, int):
        BACKUP_LAST_SIZE.labels(**labels).set(size)
    verified = backup.get("lastVerifiedTime")
    if verified:
        BACKUP_LAST_VERIFIED.labels(**labels).set(parse_time(verified).timestamp())


def record_backup_durations(
    before: Mapping[str, Any], after: Mapping[str, Any], observed: BackupObservation
) -> None:
    """The duration of the Jobs whose outcome the status has just recorded (once each)."""
    new_times = {
        after.get(key)
        for key in ("lastSuccessfulTime", "lastFailureTime")
        if after.get(key) and after.get(key) != before.get(key)
    }
    for job in observed.jobs:
        finished = finished_job(job)
        if finished is None or finished.finished not in new_times:
            continue
        if finished.duration_seconds is not None:
            BACKUP_JOB_DURATION.labels(
                outcome="succeeded" if finished.succeeded else "failed"
            ).observe(finished.duration_seconds)


STATUS_WRITE_ATTEMPTS = 4


def _api_pods_if_not_ready(
    kube: Kube, instance: Instance, deployment: Mapping[str, Any] | None
) -> list[dict[str, Any]]:
    """The API pods, read only when some wanted pod is not ready (the status then says why)."""
    wanted, _, ready = deployment_counts(deployment)
    if not deployment or wanted == 0 or ready >= wanted:
        return []
    selector = label_selector(selector_labels(instance, "api"))
    return kube.list("v1", "Pod", instance.namespace, label_selector=selector)


def write_status(
    kube: Kube,
    instance: Instance,
    body: Mapping[str, Any],
    deployment: Mapping[str, Any] | None,
    outcome: Outcome,
    *,
    children_synced: bool = True,
    inventory: Inventory | None = None,
    backup: BackupObservation | None = None,
) -> None:
    """Patch the instance status if (and only if) an observed field changed.

    The patch is conditional on the resourceVersion of `body`; when another writer got there
    first, the status is recomputed from a fresh read, so no condition is ever lost. With an
    inventory, writes for one instance are serialised and start from the newest known copy,
    which keeps such conflicts rare.
    """
    if inventory is None:
        _write_status(
            kube,
            instance,
            body,
            deployment,
            outcome,
            children_synced=children_synced,
            backup=backup,
        )
    else:
        with inventory.status_lock(instance.namespace, instance.name):
            _write_status(
                kube,
                instance,
                inventory.freshest(body),
                deployment,
                outcome,
                children_synced=children_synced,
                backup=backup,
            )
            if outcome.stored_instance is not None:
                inventory.remember(outcome.stored_instance)
    _post_status_events(kube, body, outcome.status_events)


def _post_status_events(kube: Kube, body: Mapping[str, Any], events: list[StatusEvent]) -> None:
    for event in events:
        try:
            kube.post_event(
                dict(body), type_=event.type, reason=event.reason, message=event.message
            )
        except ApiError as error:
            # An Event that cannot be recorded must not fail the status write it reports on.
            log.warning("could not record event %s: %s", event.reason, error.message)


def _write_status(
    kube: Kube,
    instance: Instance,
    body: Mapping[str, Any],
    deployment: Mapping[str, Any] | None,
    outcome: Outcome,
    *,
    children_synced: bool,
    backup: BackupObservation | None = None,
) -> None:
    pods = _api_pods_if_not_ready(kube, instance, deployment)
    for _ in range(STATUS_WRITE_ATTEMPTS):
        previous = copy.deepcopy(dict(body.get("status") or {}))
        computed = compute_status(
            instance,
            previous=previous,
            deployment=deployment,
            now=now_rfc3339(),
            children_synced=children_synced,
            error=outcome.error_message,
            applied=len(desired_children(instance, outcome.monitoring_missing or frozenset())),
            backup=backup,
            pods=pods,
            retention=outcome.retention,
        )
        if outcome.monitoring_missing is not None:
            computed["conditions"] = with_monitoring_condition(
                computed["conditions"], instance, outcome.monitoring_missing, now=now_rfc3339()
            )
        INSTANCES.record(
            instance.namespace, instance.name, instance_snapshot(instance, {**previous, **computed})
        )
        if backup is not None and "backup" in computed:
            record_last_success(instance, computed["backup"])
        patch = status_patch(previous, computed)
        if not patch:
            return
        try:
            outcome.stored_instance = kube.patch_instance_status(
                instance.namespace,
                instance.name,
                patch,
                resource_version=(body.get("metadata") or {}).get("resourceVersion"),
            )
            outcome.status_written = True
            STATUS_WRITES.labels(outcome="written").inc()
            if "conditions" in patch:
                outcome.status_events = upload_storage_events(
                    previous.get("conditions") or [], patch["conditions"]
                ) + _monitoring_events(previous.get("conditions") or [], patch["conditions"])
            if "backup" in patch and backup is not None:
                before = previous.get("backup") or {}
                outcome.backup_events = backup_events(before, patch["backup"])
                outcome.backup_events += verification_events(before, patch["backup"])
                record_backup_durations(before, patch["backup"], backup)
            if "retention" in patch:
                before = previous.get("retention") or {}
                outcome.backup_events += retention_events(before, patch["retention"])
            return
        except ApiError as error:
            if error.status != 409:
                raise
            STATUS_WRITES.labels(outcome="conflict").inc()
        fresh = kube.get_instance(instance.namespace, instance.name)
        if fresh is None or (fresh.get("metadata") or {}).get("uid") != instance.uid:
            return
        body = fresh
    raise ApiError(409, "Conflict", "the instance kept changing while its status was written")


def reconcile_instance(
    kube: Kube,
    body: Mapping[str, Any],
    *,
    compare: bool,
    inventory: Inventory | None = None,
) -> Outcome:
    """Reconcile one instance body (as the API returned it): children first, then status."""
    started = time.monotonic()
    outcome = Outcome()
    previous = copy.deepcopy(dict(body.get("status") or {}))
    try:
        instance = Instance.from_body(body)
    except InvalidSpec as error:
        metadata = body.get("metadata") or {}
        outcome.invalid_spec = str(error)
        computed = invalid_spec_status(
            previous,
            generation=int(metadata.get("generation") or 0),
            message=str(error),
            now=now_rfc3339(),
        )
        patch = status_patch(previous, computed)
        INSTANCES.record(
            str(metadata["namespace"]), str(metadata["name"]), status_snapshot(previous | computed)
        )
        if patch:
            kube.patch_instance_status(str(metadata["namespace"]), str(metadata["name"]), patch)
            outcome.status_written = True
        outcome.duration_seconds = time.monotonic() - started
        return outcome
    try:
        instance = lift_stale_restore_hold(kube, instance)
        instance, body = advance_maintenance(kube, instance, body)
        instance, body = advance_rollout(kube, instance, body, now=now_rfc3339())
    except ApiError as error:
        outcome.instance = instance
        outcome.errors.append(error)
        outcome.duration_seconds = time.monotonic() - started
        return outcome
    outcome.instance = instance
    deployment = sync_children(kube, instance, compare=compare, outcome=outcome)
    backup = observe_backup(kube, instance, body, outcome)
    outcome.retention = observe_retention(kube, instance, outcome)
    try:
        write_status(kube, instance, body, deployment, outcome, inventory=inventory, backup=backup)
    except ApiError as error:
        outcome.errors.append(error)
    outcome.duration_seconds = time.monotonic() - started
    return outcome


def _desired_child(instance: Instance, kind: str, name: str) -> dict[str, Any] | None:
    for manifest in desired_children(instance):
        if manifest["kind"] == kind and manifest["metadata"]["name"] == name:
            return manifest
    return None


def reconcile_child(
    kube: Kube,
    instance_body: Mapping[str, Any],
    child: Mapping[str, Any] | None,
    *,
    kind: str,
    name: str,
) -> Outcome:
    """React to an event about one child: restore it if it drifted or vanished.

    `instance_body` may be a remembered copy; before writing, the instance is read again, so a
    stale copy can never roll a child back to an older spec.
    """
    started = time.monotonic()
    outcome = Outcome()
    try:
        instance = Instance.from_body(instance_body)
    except InvalidSpec:
        return outcome
    outcome.instance = instance
    manifest = _desired_child(instance, kind, name)
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
            manifest = _desired_child(instance, kind, name)
            if manifest is not None and needs_apply(manifest, current):
                hand_over_replicas(kube, manifest, current)
                current = kube.apply(manifest)
                outcome.applied.append(_describe(manifest))
    except InvalidSpec:
        return outcome
    except ApiError as error:
        label = f"{kind}/{name}"
        outcome.errors.append(ApiError(error.status, error.reason, f"{label}: {error.message}"))
    outcome.duration_seconds = time.monotonic() - started
    return outcome


def refresh_status(
    kube: Kube,
    instance_body: Mapping[str, Any],
    deployment: Mapping[str, Any] | None,
    *,
    inventory: Inventory | None = None,
) -> Outcome:
    """Bring replicas, readiness and phase in the status up to date with the API Deployment,
    leaving the verdict of the last full reconciliation (Reconciled, observedGeneration) alone."""
    started = time.monotonic()
    outcome = Outcome()
    try:
        instance = Instance.from_body(instance_body)
    except InvalidSpec:
        return outcome
    outcome.instance = instance
    try:
        write_status(
            kube,
            instance,
            instance_body,
            deployment,
            outcome,
            children_synced=False,
            inventory=inventory,
        )
    except ApiError as error:
        outcome.errors.append(error)
    outcome.duration_seconds = time.monotonic() - started
    return outcome


def is_managed_kind(api_version: str, kind: str) -> bool:
    """Whether the operator manages objects of this kind."""
    return child_kind(api_version, kind) is not None
