"""Reads the backup CronJob, Jobs and pods (and starts on-demand Jobs); backup metrics."""

from __future__ import annotations

from collections.abc import Callable, Mapping
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

Applied = Mapping[tuple[str, str], Mapping[str, Any] | None]
# (namespace, instance, component) -> whether the Job watch knows of a Job (`JobIndex.any`).
JobsKnown = Callable[[str, str, str], bool]


def observe_backup(
    kube: Kube,
    instance: Instance,
    body: Mapping[str, Any],
    outcome: Outcome,
    *,
    applied: Applied | None = None,
    known: JobsKnown | None = None,
) -> BackupObservation:
    """Read the backup CronJob and Jobs, starting the on-demand Job a new token asks for.

    `applied`: the children just applied to an instance that has no Job yet (a new one); its
    CronJobs are taken from there and nothing is read. `known`: the Job watch's word on which
    components have Jobs (once it has listed them all); the others are not listed."""
    if not instance.spec.backup.enabled:
        return BackupObservation()
    namespace = instance.namespace
    try:
        cronjob_name = child_name(instance, "backup")
        cronjob: Mapping[str, Any] | None
        jobs: list[dict[str, Any]] = []
        pods: list[dict[str, Any]] = []
        if applied is not None:
            cronjob = applied.get(("CronJob", cronjob_name))
        else:
            cronjob = kube.get("batch/v1", "CronJob", namespace, cronjob_name)
            found, found_pods = find_jobs(kube, instance, "backup", known=known)
            jobs, pods = list(found), list(found_pods)
        token = wants_manual_job(body)
        if token is not None and cronjob is not None:
            name = manual_job_name(instance, token)
            # Once per token: the name is derived from it, so an existing Job means "started".
            if not any(job["metadata"]["name"] == name for job in jobs):
                jobs.append(kube.apply(build_manual_job(instance, cronjob, token)))
                outcome.started_job = name
        verify = None
        if instance.spec.backup.verify.enabled:
            verify = observe_jobs(kube, instance, "verify", applied=applied, known=known)
    except ApiError as error:
        outcome.errors.append(error.about("backup"))
        return BackupObservation()
    return BackupObservation(cronjob=cronjob, jobs=tuple(jobs), pods=tuple(pods), verify=verify)


def find_jobs(
    kube: Kube, instance: Instance, component: Component, *, known: JobsKnown | None = None
) -> tuple[tuple[dict[str, Any], ...], tuple[dict[str, Any], ...]]:
    """The Jobs of one component and their pods (see `observe_backup` for `known`)."""
    if known is not None and not known(instance.namespace, instance.name, component):
        return (), ()
    namespace = instance.namespace
    selector = label_selector(selector_labels(instance, component))
    jobs = tuple(kube.list("batch/v1", "Job", namespace, label_selector=selector))
    # The pods matter only for the termination messages of the Jobs' pods (the command's error
    # or result).
    pods = tuple(kube.list("v1", "Pod", namespace, label_selector=selector)) if jobs else ()
    return jobs, pods


def observe_jobs(
    kube: Kube,
    instance: Instance,
    component: Component,
    *,
    applied: Applied | None = None,
    known: JobsKnown | None = None,
) -> JobsObservation:
    """The CronJob of one component and its Jobs and pods (see `observe_backup` for `applied`
    and `known`)."""
    name = child_name(instance, component)
    if applied is not None:
        return JobsObservation(cronjob=applied.get(("CronJob", name)))
    jobs, pods = find_jobs(kube, instance, component, known=known)
    cronjob = kube.get("batch/v1", "CronJob", instance.namespace, name)
    return JobsObservation(cronjob=cronjob, jobs=jobs, pods=pods)


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
