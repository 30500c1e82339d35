"""kopf handlers: thin glue from Kubernetes events to `reconcile.py`, events and metrics."""

from __future__ import annotations

import asyncio
import logging
import os
import time
from collections.abc import Mapping
from typing import Any

import kopf

from repairgpt_operator import kube, metrics
from repairgpt_operator.failover_probes import FailoverProber
from repairgpt_operator.inventory import Inventory
from repairgpt_operator.kube import ApiError
from repairgpt_operator.ownership import (
    COMPONENT_LABEL,
    FIELD_MANAGER,
    INSTANCE_LABEL,
    MANAGED_BY_LABEL,
    owner_of,
)
from repairgpt_operator.reconcile import (
    Outcome,
    reconcile_child,
    reconcile_instance,
    refresh_status,
)
from repairgpt_operator.resources import API_CHILD_KINDS, ChildKind
from repairgpt_operator.resources.restore_job import RESTORE_LABEL
from repairgpt_operator.restore import is_terminal
from repairgpt_operator.restore_reconcile import RestoreOutcome, reconcile_restore
from repairgpt_operator.restore_spec import RESTORE_KIND, RESTORE_PLURAL
from repairgpt_operator.restore_tracker import RestoreTracker
from repairgpt_operator.rollout_reconcile import needs_advance
from repairgpt_operator.spec import API_VERSION, GROUP, PLURAL, RESTORE_HOLD_ANNOTATION, VERSION
from repairgpt_operator.status_refresh import StatusRefresher

# A periodic resync catches what no watch event reports (e.g. a change made while the operator
# was down and missed by the resume pass); child edits are caught sooner by the child watches.
RESYNC_INTERVAL_SECONDS = float(os.environ.get("REPAIRGPT_RESYNC_SECONDS", "60"))
RESYNC_CONCURRENCY = 4
HEARTBEAT_SECONDS = 5.0
# Deployment status changes come in bursts; one status write per instance per second is enough.
STATUS_REFRESH_DELAY_SECONDS = 1.0
MAX_RETRY_DELAY_SECONDS = 300.0
# A restore waits for maintenance mode and for the API's pods to go: look again this often.
RESTORE_TICK_SECONDS = 2.0
RESTORE_WAKE_DELAY_SECONDS = 0.2

log = logging.getLogger(__name__)
inventory = Inventory()


def retry_delay(retry: int) -> float:
    """Exponential backoff for refused applies: 5 s, 10 s, 20 s ... at most 5 minutes."""
    return float(min(MAX_RETRY_DELAY_SECONDS, 5.0 * (2 ** min(retry, 10))))


def _post_event(body: Mapping[str, Any], *, type_: str, reason: str, message: str) -> None:
    try:
        kube.shared().post_event(dict(body), type_=type_, reason=reason, message=message)
    except ApiError as error:
        # An event that cannot be recorded must not fail the reconciliation it reports on.
        log.warning("could not record event %s: %s", reason, error.message)


def _report(body: Mapping[str, Any], trigger: str, outcome: Outcome) -> None:
    """Metrics and Events for one reconciliation."""
    metrics.record_reconciliation(
        trigger,
        wrote=outcome.wrote,
        failed=bool(outcome.error_message),
        duration_seconds=outcome.duration_seconds,
    )
    if outcome.instance is not None and trigger != "status":
        # A status refresh applies nothing: it says nothing of a failing apply.
        metrics.INSTANCES.count_reconciliation(
            outcome.instance.namespace, outcome.instance.name, failed=bool(outcome.error_message)
        )
    for action, items in (("apply", outcome.applied), ("delete", outcome.deleted)):
        for item in items:
            metrics.CHILD_WRITES.labels(kind=item.split("/", 1)[0], action=action).inc()
    if outcome.invalid_spec:
        _post_event(body, type_="Warning", reason="InvalidSpec", message=outcome.invalid_spec)
        return
    if outcome.errors:
        message = outcome.error_message or "the API server refused a child object"
        _post_event(body, type_="Warning", reason="ApplyFailed", message=message)
    _report_maintenance(body, outcome)
    _report_backup(body, outcome)
    changed = outcome.applied + [f"deleted {item}" for item in outcome.deleted]
    if not changed:
        return
    generation = (body.get("metadata") or {}).get("generation")
    summary = ", ".join(changed)
    if trigger == "create":
        _post_event(body, type_="Normal", reason="Created", message=f"created {summary}")
    elif trigger == "update":
        _post_event(
            body,
            type_="Normal",
            reason="Updated",
            message=f"applied generation {generation}: {summary}",
        )
    elif trigger in ("resync", "child"):
        _post_event(body, type_="Normal", reason="DriftCorrected", message=f"restored {summary}")
    else:
        _post_event(body, type_="Normal", reason="Applied", message=f"{trigger}: {summary}")


MAINTENANCE_EVENTS = {
    "Entering": ("MaintenanceEntering", "maintenance mode on: starting the maintenance page"),
    "On": ("MaintenanceOn", "maintenance mode on: API scaled to 0, maintenance page served"),
    "Exiting": ("MaintenanceExiting", "maintenance mode off: scaling the API back"),
    "Off": ("MaintenanceOff", "the API is ready again; the Service points back at it"),
}


def _report_backup(body: Mapping[str, Any], outcome: Outcome) -> None:
    if outcome.started_job:
        _post_event(
            body,
            type_="Normal",
            reason="BackupStarted",
            message=f"started the on-demand backup Job {outcome.started_job}",
        )
    for event in outcome.backup_events:
        _post_event(body, type_=event.type, reason=event.reason, message=event.message)


def _report_maintenance(body: Mapping[str, Any], outcome: Outcome) -> None:
    if outcome.instance is None:
        return
    before = ((body.get("status") or {}).get("maintenance") or {}).get("phase", "Off")
    after = outcome.instance.state.maintenance.phase
    if before != after:
        reason, message = MAINTENANCE_EVENTS[after]
        _post_event(body, type_="Normal", reason=reason, message=message)


def _reconcile(body: Mapping[str, Any], trigger: str, *, compare: bool) -> Outcome:
    outcome = reconcile_instance(kube.shared(), body, compare=compare, inventory=inventory)
    if outcome.namespace_terminating:
        # The namespace controller is deleting the instance with everything else.
        return outcome
    _report(body, trigger, outcome)
    if outcome.wrote or outcome.error_message:
        log.info(
            "reconciled %s/%s (%s): applied=%s deleted=%s status=%s error=%s in %.3fs",
            (body.get("metadata") or {}).get("namespace"),
            (body.get("metadata") or {}).get("name"),
            trigger,
            outcome.applied,
            outcome.deleted,
            outcome.status_written,
            outcome.error_message,
            outcome.duration_seconds,
        )
    return outcome


# --- framework tuning ---------------------------------------------------------------------------


# kopf keeps its own state (handler progress, the last handled spec) in annotations under this
# prefix, and leaves every annotation under it out of the old/new comparison. So it must not be
# the prefix of the annotations that ask for an action (repairgpt.io/backup-now, failback): those
# have to trigger an update at once, not wait for the next resync.
KOPF_STATE_PREFIX = f"kopf.{GROUP}"
# Where an earlier version of the operator kept kopf's state: removed when seen.
LEGACY_KOPF_ANNOTATIONS = frozenset(
    f"{GROUP}/{key}"
    for key in (
        "kopf-managed", "last-handled-configuration",
        "reconcile-on-resume", "reconcile-on-create", "reconcile-on-update",
    )
)  # fmt: skip


def tune(settings: kopf.OperatorSettings) -> None:
    """kopf's settings: state in annotations of our own, no peering, bounded watches."""
    settings.persistence.progress_storage = kopf.AnnotationsProgressStorage(
        prefix=KOPF_STATE_PREFIX
    )
    settings.persistence.diffbase_storage = kopf.AnnotationsDiffBaseStorage(
        prefix=KOPF_STATE_PREFIX, key="last-handled-configuration"
    )
    settings.persistence.finalizer = f"{GROUP}/finalizer"
    # Events are posted by kube.post_event with domain reasons, not kopf's handler chatter.
    settings.posting.enabled = False
    settings.peering.standalone = True
    settings.peering.mandatory = False
    settings.watching.server_timeout = 270
    settings.watching.client_timeout = 300
    settings.watching.connect_timeout = 10
    settings.networking.request_timeout = 60
    settings.execution.max_workers = 16
    selector = f"{MANAGED_BY_LABEL}={FIELD_MANAGER}"
    for kind in API_CHILD_KINDS:
        # Server-side filtering: only the operator's own children travel over the watches.
        settings.watching.label_selectors[kind.api_version, kind.plural] = selector
    settings.watching.label_selectors["batch/v1", "jobs"] = selector


@kopf.on.startup()
async def configure(settings: kopf.OperatorSettings, memo: kopf.Memo, **_: Any) -> None:
    """Tune kopf once and start the background loops."""
    # With --leader-elect kopf starts only on the Lease holder (runner.py), and with it these
    # loops: a standby neither reconciles, resyncs, probes databases nor drives restores.
    tune(settings)
    memo.background = [
        asyncio.create_task(_heartbeat(), name="heartbeat"),
        asyncio.create_task(_resync_forever(RESYNC_INTERVAL_SECONDS), name="resync"),
        asyncio.create_task(_probe_databases_forever(), name="failover-probes"),
        asyncio.create_task(_drive_restores_forever(), name="restores"),
    ]


@kopf.on.cleanup()
async def stop_background(memo: kopf.Memo, **_: Any) -> None:
    """Stop the heartbeat and the resync loop."""
    for task in getattr(memo, "background", []):
        task.cancel()


async def _heartbeat() -> None:
    while True:
        metrics.heartbeat()
        await asyncio.sleep(HEARTBEAT_SECONDS)


async def _resync_forever(interval: float) -> None:
    loop = asyncio.get_running_loop()
    gate = asyncio.Semaphore(RESYNC_CONCURRENCY)

    def resync_one_blocking(namespace: str, name: str) -> None:
        # Read the instance afresh: a remembered copy could be older than a concurrent update.
        body = kube.shared().get_instance(namespace, name)
        if body is not None and not body["metadata"].get("deletionTimestamp"):
            _reconcile(body, "resync", compare=True)

    async def resync_one(namespace: str, name: str) -> None:
        async with gate:
            await loop.run_in_executor(None, resync_one_blocking, namespace, name)

    while True:
        await asyncio.sleep(interval)
        keys = inventory.keys()
        results = await asyncio.gather(*(resync_one(*key) for key in keys), return_exceptions=True)
        for result in results:
            if isinstance(result, Exception):
                log.warning("resync failed: %s", result)


def _reconcile_after_switch(body: dict[str, Any]) -> None:
    _reconcile(body, "failover", compare=True)


def _post_failover_event(body: Mapping[str, Any], type_: str, reason: str, message: str) -> None:
    _post_event(body, type_=type_, reason=reason, message=message)


prober = FailoverProber(
    kube.shared, inventory.snapshot, _reconcile_after_switch, _post_failover_event
)


async def _probe_databases_forever(tick: float = 0.25) -> None:
    """Start each due probe in the thread pool; probes of different instances overlap."""
    loop = asyncio.get_running_loop()
    while True:
        for body in prober.due(time.monotonic()):
            loop.run_in_executor(None, prober.probe, body)
        await asyncio.sleep(tick)


# --- the instance -------------------------------------------------------------------------------


@kopf.on.event(GROUP, VERSION, PLURAL, id="remember-instance")
def remember_instance(event: Mapping[str, Any], body: kopf.Body, **_: Any) -> None:
    """Keep the inventory (and the managed-instances gauge) current."""
    if event.get("type") == "DELETED":
        inventory.forget(str(body.metadata.namespace), str(body.metadata.name))
        metrics.INSTANCES.forget(str(body.metadata.namespace), str(body.metadata.name))
    else:
        inventory.remember(body)
    metrics.MANAGED_INSTANCES.set(len(inventory))


@kopf.on.resume(GROUP, VERSION, PLURAL, id="reconcile-on-resume")
@kopf.on.create(GROUP, VERSION, PLURAL, id="reconcile-on-create")
@kopf.on.update(GROUP, VERSION, PLURAL, id="reconcile-on-update")
def reconcile_on_change(
    body: kopf.Body, reason: Any, retry: int, patch: kopf.Patch, **_: Any
) -> None:
    """Apply the children of a new, changed or (on operator start) resumed instance."""
    for key in LEGACY_KOPF_ANNOTATIONS & set(body.metadata.annotations):
        patch.metadata.annotations[key] = None
    trigger = str(getattr(reason, "value", reason))
    # On resume most children already match: compare first, so a restart writes nothing.
    outcome = _reconcile(body, trigger, compare=trigger == "resume")
    if outcome.invalid_spec:
        raise kopf.PermanentError(outcome.invalid_spec)
    if outcome.errors and not outcome.namespace_terminating:
        raise kopf.TemporaryError(outcome.error_message, delay=retry_delay(retry))


# --- the children -------------------------------------------------------------------------------


def _refresh_status(namespace: str, name: str, deployment: dict[str, Any]) -> None:
    body = inventory.get(namespace, name)
    if body is None or body["metadata"].get("deletionTimestamp"):
        return
    if ((body.get("status") or {}).get("maintenance") or {}).get("phase") in (
        "Entering",
        "Exiting",
    ):
        # Entering waits for a ready maintenance pod, leaving for a ready API pod: this may be
        # the event it waits for.
        _reconcile(body, "maintenance", compare=True)
        return
    if needs_advance(body, deployment):
        # A newly ready image, a missed deadline (maybe a rollback), a finished restart.
        _reconcile(body, "rollout", compare=True)
        return
    outcome = refresh_status(kube.shared(), body, deployment, inventory=inventory)
    _report(body, "status", outcome)


status_refresher = StatusRefresher(_refresh_status, STATUS_REFRESH_DELAY_SECONDS)


def _on_child_event(kind: ChildKind, event: Mapping[str, Any]) -> None:
    child = event.get("object") or {}
    owner = owner_of(child)
    if owner is None:
        return
    namespace, name = owner
    deleted = event.get("type") == "DELETED"
    instance_body = None if deleted else inventory.get(namespace, name)
    if instance_body is None:
        # A vanished child may mean a deleted instance (garbage collection): ask the server.
        instance_body = kube.shared().get_instance(namespace, name)
    if instance_body is None or instance_body["metadata"].get("deletionTimestamp"):
        return
    owner_uids = {ref.get("uid") for ref in child["metadata"].get("ownerReferences") or []}
    if instance_body["metadata"].get("uid") not in owner_uids:
        return
    outcome = reconcile_child(
        kube.shared(),
        instance_body,
        None if deleted else child,
        kind=kind.kind,
        name=str(child["metadata"]["name"]),
    )
    _report(instance_body, "child", outcome)
    is_api_deployment = kind.kind == "Deployment" and child["metadata"]["name"] == f"{name}-api"
    if is_api_deployment and not deleted and not outcome.applied:
        # A restored Deployment comes back as a new event; refresh from that one.
        status_refresher.submit(namespace, name, dict(child))
    if outcome.applied:
        log.info(
            "restored %s of %s/%s (%s)",
            outcome.applied,
            namespace,
            name,
            "deleted" if deleted else "changed",
        )


def _register_child_watch(kind: ChildKind) -> None:
    def on_child_event(event: Mapping[str, Any], **_: Any) -> None:
        _on_child_event(kind, event)

    kopf.on.event(
        group=kind.group,
        version=kind.api_version.rpartition("/")[2],
        plural=kind.plural,
        labels={MANAGED_BY_LABEL: FIELD_MANAGER},
        id=f"watch-{kind.plural}",
    )(on_child_event)


# One watch per resource type (the API and the maintenance Deployment share one).
for _kind in {kind.plural: kind for kind in reversed(API_CHILD_KINDS)}.values():
    _register_child_watch(_kind)


# --- backup Jobs --------------------------------------------------------------------------------


def _refresh_backup(namespace: str, name: str, _job: dict[str, Any]) -> None:
    body = inventory.get(namespace, name)
    if body is None or body["metadata"].get("deletionTimestamp"):
        return
    _reconcile(body, "backup", compare=True)


# Scheduled Jobs are owned by the CronJob, not the instance: they are matched by their labels.
backup_refresher = StatusRefresher(_refresh_backup, STATUS_REFRESH_DELAY_SECONDS)
metrics.WORK_QUEUE_DEPTH.labels(queue="status").set_function(status_refresher.pending)
metrics.WORK_QUEUE_DEPTH.labels(queue="backup").set_function(backup_refresher.pending)


@kopf.on.event("batch", "v1", "jobs", labels={MANAGED_BY_LABEL: FIELD_MANAGER}, id="watch-jobs")
def on_job_event(event: Mapping[str, Any], **_: Any) -> None:
    """A backup, verification or restore Job started, finished or went away: bring the status of
    its instance (or its restore) up to date."""
    job = event.get("object") or {}
    metadata = job.get("metadata") or {}
    labels = metadata.get("labels") or {}
    namespace = str(metadata.get("namespace"))
    component = labels.get(COMPONENT_LABEL)
    if component == "restore" and labels.get(RESTORE_LABEL):
        restores.wake(namespace, str(labels[RESTORE_LABEL]))
    elif component in ("backup", "verify") and labels.get(INSTANCE_LABEL):
        backup_refresher.submit(namespace, str(labels[INSTANCE_LABEL]), dict(job))


# --- restores -----------------------------------------------------------------------------------


def _report_restore(body: Mapping[str, Any], outcome: RestoreOutcome) -> None:
    spec = body.get("spec") or {}
    metadata = body.get("metadata") or {}
    instance_body = None
    for event in outcome.events:
        _post_event(body, type_=event.type, reason=event.reason, message=event.message)
        if event.on_instance:
            instance_body = instance_body or kube.shared().get_instance(
                str(metadata.get("namespace")), str(spec.get("instanceName"))
            )
            if instance_body is not None:
                message = f"RepairGPTRestore {metadata.get('name')}: {event.message}"
                _post_event(instance_body, type_=event.type, reason=event.reason, message=message)
    before = (body.get("status") or {}).get("phase")
    if outcome.phase in ("Succeeded", "Failed") and before != outcome.phase:
        metrics.RESTORES.labels(outcome=outcome.phase.lower()).inc()
    if outcome.wrote or outcome.error:
        log.info(
            "restore %s/%s: phase=%s error=%s in %.3fs",
            metadata.get("namespace"),
            metadata.get("name"),
            outcome.phase,
            outcome.error,
            outcome.duration_seconds,
        )


def _drive_restore(namespace: str, name: str) -> bool:
    """One pass over a restore; False once it needs no more passes (finished or gone)."""
    try:
        body = kube.shared().get(API_VERSION, RESTORE_KIND, namespace, name)
    except ApiError as error:
        log.warning("could not read restore %s/%s: %s", namespace, name, error.message)
        return True
    if body is None:
        return False
    outcome = reconcile_restore(kube.shared(), body)
    _report_restore(body, outcome)
    return outcome.phase not in ("Succeeded", "Failed") or bool(outcome.error)


restores = RestoreTracker(_drive_restore, RESTORE_WAKE_DELAY_SECONDS)


async def _drive_restores_forever() -> None:
    """Restores wait on other objects (maintenance, the API's pods): look again every tick."""
    loop = asyncio.get_running_loop()
    while True:
        for key in restores.active():
            loop.run_in_executor(None, restores.drive_if_idle, *key)
        await asyncio.sleep(RESTORE_TICK_SECONDS)


@kopf.on.event(GROUP, VERSION, RESTORE_PLURAL, id="watch-restores")
def on_restore_event(event: Mapping[str, Any], body: kopf.Body, **_: Any) -> None:
    """Track unfinished restores; a deleted one lifts its maintenance hold at once."""
    namespace, name = str(body.metadata.namespace), str(body.metadata.name)
    if event.get("type") == "DELETED":
        restores.forget(namespace, name)
        instance_name = str((body.get("spec") or {}).get("instanceName") or "")
        instance_body = inventory.get(namespace, instance_name)
        annotations = ((instance_body or {}).get("metadata") or {}).get("annotations") or {}
        if instance_body is not None and annotations.get(RESTORE_HOLD_ANNOTATION) == name:
            _reconcile(instance_body, "restore", compare=True)
        return
    if not is_terminal(body.get("status") or {}):
        restores.wake(namespace, name)
