"""Drives one RepairGPTRestore: reads what `restore.plan_restore` needs, then carries out its plan
(maintenance hold on the instance, the find, backup and restore Jobs, the restore's status)."""

from __future__ import annotations

import time
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

from pydantic import ValidationError

from repairgpt_operator.backup.jobs import JOB_NAME_LABEL
from repairgpt_operator.instance.model import Instance, InvalidSpec
from repairgpt_operator.instance.spec import API_VERSION, RESTORE_HOLD_ANNOTATION
from repairgpt_operator.kube import ApiError, Kube
from repairgpt_operator.ownership import label_selector, selector_labels
from repairgpt_operator.resources.restore_job import (
    RESTORE_CONTAINER,
    RESTORE_LABEL,
    RestoreRequest,
    build_find_job,
    build_restore_job,
    build_safety_backup_job,
    restore_job_name,
)
from repairgpt_operator.restore.plan import plan_restore
from repairgpt_operator.restore.spec import RESTORE_KIND, RepairGPTRestoreSpec
from repairgpt_operator.restore.view import (
    RestoreEvent,
    RestorePlan,
    RestoreView,
    is_terminal,
    safety_backup_location,
    source_of,
    target_of,
)
from repairgpt_operator.timestamps import now_rfc3339


@dataclass
class RestoreOutcome:
    """What one pass over a restore did (for Events, logs and metrics)."""

    phase: str | None = None
    events: list[RestoreEvent] = field(default_factory=list)
    instance_body: dict[str, Any] | None = None
    wrote: bool = False
    error: str | None = None
    duration_seconds: float = 0.0


def parse_restore(body: Mapping[str, Any]) -> RestoreRequest:
    """A RepairGPTRestore object as the API returns it (its spec was validated by the CRD)."""
    metadata = body.get("metadata") or {}
    return RestoreRequest(
        name=str(metadata["name"]),
        namespace=str(metadata.get("namespace") or "default"),
        uid=str(metadata.get("uid") or ""),
        spec=RepairGPTRestoreSpec.model_validate(dict(body.get("spec") or {})),
    )


def observe(kube: Kube, restore: RestoreRequest, body: Mapping[str, Any]) -> RestoreView:
    """Read the instance, its API Deployment, the restore Job and the Job's pods."""
    status = dict(body.get("status") or {})
    namespace = restore.namespace
    instance_body = kube.get_instance(namespace, restore.spec.instance_name)
    instance: Instance | None = None
    instance_error = None
    if instance_body is not None:
        try:
            instance = Instance.from_body(instance_body)
        except InvalidSpec as error:
            instance_error = str(error)
    job = find_job = backup_job = None
    pods: list[dict[str, Any]] = []
    api_pods = 0
    log_tail = ""
    if not is_terminal(status):
        job = kube.get("batch/v1", "Job", namespace, restore_job_name(restore))
        if job is None:
            find_job = kube.get("batch/v1", "Job", namespace, restore_job_name(restore, "find"))
            backup_job = kube.get("batch/v1", "Job", namespace, restore_job_name(restore, "backup"))
        if job is not None or find_job is not None or backup_job is not None:
            # Their termination messages carry each command's result or error.
            pods = kube.list(
                "v1", "Pod", namespace, label_selector=f"{RESTORE_LABEL}={restore.name}"
            )
        if job is not None:
            name = job["metadata"]["name"]
            running = [
                p
                for p in pods
                if (p.get("status") or {}).get("phase") == "Running"
                and ((p.get("metadata") or {}).get("labels") or {}).get(JOB_NAME_LABEL) == name
            ]
            if running:
                # Progress for the restore's status; its own lines, every 30 s.
                log_tail = kube.pod_log_tail(
                    namespace, running[0]["metadata"]["name"], RESTORE_CONTAINER
                )
        elif instance is not None and restore.spec.maintenance:
            # The pods themselves, terminating ones included: the Deployment's count drops to 0
            # as soon as they are asked to stop, while they may still be writing.
            selector = label_selector(selector_labels(instance, "api"))
            api_pods = len(kube.list("v1", "Pod", namespace, label_selector=selector))
    return RestoreView(
        restore=restore,
        status=status,
        instance=instance,
        instance_error=instance_error,
        api_pods=api_pods,
        job=job,
        find_job=find_job,
        backup_job=backup_job,
        pods=tuple(pods),
        log_tail=log_tail,
    )


def _set_hold(
    kube: Kube, view: RestoreView, holder: str | None, instance_body: Mapping[str, Any]
) -> dict[str, Any]:
    """Take or lift the maintenance hold; conditional on the instance's resourceVersion, so two
    restores of one instance cannot both take it."""
    assert view.instance is not None
    return kube.annotate_instance(
        view.instance.namespace,
        view.instance.name,
        {RESTORE_HOLD_ANNOTATION: holder},
        resource_version=(instance_body.get("metadata") or {}).get("resourceVersion"),
    )


def _step_job(view: RestoreView, plan: RestorePlan) -> dict[str, Any]:
    """The Job of the step the plan starts."""
    restore, instance = view.restore, view.instance
    source, target = source_of(view), target_of(view)
    assert instance is not None and source is not None and target is not None
    if plan.start == "find":
        return build_find_job(restore, instance, s3=source)
    if plan.start == "backup":
        where = safety_backup_location(view)
        assert where is not None
        return build_safety_backup_job(
            restore, instance, s3=where, database=instance.spec.database.primary
        )
    key = str(plan.status.get("backupKey") or restore.spec.backup)
    return build_restore_job(restore, instance, s3=source, target=target, key=key)


def carry_out(
    kube: Kube, body: Mapping[str, Any], view: RestoreView, plan: RestorePlan
) -> RestoreOutcome:
    """Take the hold, start the Job, write the status, lift the hold, in that order."""
    outcome = RestoreOutcome(phase=plan.phase, events=list(plan.events))
    restore = view.restore
    instance_body: Mapping[str, Any] | None = None
    if plan.hold is not None and view.instance is not None:
        instance_body = kube.get_instance(view.instance.namespace, view.instance.name)
    if plan.hold == "take" and instance_body is not None:
        outcome.instance_body = _set_hold(kube, view, restore.name, instance_body)
        outcome.wrote = True
    if plan.start is not None:
        kube.apply(_step_job(view, plan))
        outcome.wrote = True
    if plan.status != dict(view.status):
        kube.patch_status(
            API_VERSION,
            RESTORE_KIND,
            restore.namespace,
            restore.name,
            plan.status,
            resource_version=(body.get("metadata") or {}).get("resourceVersion"),
        )
        outcome.wrote = True
    if plan.hold == "release" and instance_body is not None:
        annotations = (instance_body.get("metadata") or {}).get("annotations") or {}
        if annotations.get(RESTORE_HOLD_ANNOTATION) == restore.name:
            outcome.instance_body = _set_hold(kube, view, None, instance_body)
            outcome.wrote = True
    return outcome


def reconcile_restore(kube: Kube, body: Mapping[str, Any]) -> RestoreOutcome:
    """One idempotent pass over a restore; run it on every event and on a short tick."""
    started = time.monotonic()
    try:
        restore = parse_restore(body)
    except ValidationError as error:
        # The CRD validates the spec; this only guards against a CRD older than the operator.
        return RestoreOutcome(error=f"invalid spec: {error.error_count()} errors")
    try:
        view = observe(kube, restore, body)
        plan = plan_restore(view, now=now_rfc3339())
        outcome = carry_out(kube, body, view, plan)
    except ApiError as error:
        outcome = RestoreOutcome(error=error.message)
    outcome.duration_seconds = time.monotonic() - started
    return outcome
