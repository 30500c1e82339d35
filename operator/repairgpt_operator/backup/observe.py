"""Reads the backup CronJob, Jobs and pods (and starts on-demand Jobs); backup metrics."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from repairgpt_operator.backup.jobs import BackupObservation, JobsObservation, finished_job
from repairgpt_operator.backup.on_demand import wants_manual_job
from repairgpt_operator.instance.model import Instance
from repairgpt_operator.instance.outcome import Outcome
from repairgpt_operator.kube import ApiError, Kube
from repairgpt_operator.metrics import (
    BACKUP_JOB_DURATION,
    BACKUP_LAST_SIZE,
    BACKUP_LAST_SUCCESS,
    BACKUP_LAST_VERIFIED,
)
from repairgpt_operator.ownership import (
    Component,
    child_name,
    label_selector,
    selector_labels,
)
from repairgpt_operator.resources.backup_job import build_manual_job, manual_job_name
from repairgpt_operator.timestamps import parse_time


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
        outcome.errors.append(error.about("backup"))
        return BackupObservation()
    return BackupObservation(cronjob=cronjob, jobs=tuple(jobs), pods=tuple(pods), verify=verify)


def observe_jobs(kube: Kube, instance: Instance, component: Component) -> JobsObservation:
    """The CronJob of one component and its Jobs and pods."""
    namespace = instance.namespace
    selector = label_selector(selector_labels(instance, component))
    jobs = tuple(kube.list("batch/v1", "Job", namespace, label_selector=selector))
    # The pods matter only for the termination messages of the Jobs' pods.
    pods = tuple(kube.list("v1", "Pod", namespace, label_selector=selector)) if jobs else ()
    return JobsObservation(
        cronjob=kube.get("batch/v1", "CronJob", namespace, child_name(instance, component)),
        jobs=jobs,
        pods=pods,
    )


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
