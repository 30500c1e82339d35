"""Reads the retention Jobs and their pods (their termination messages carry the results)."""

from __future__ import annotations

from repairgpt_operator.backup.jobs import JobsObservation
from repairgpt_operator.backup.observe import Applied, JobsKnown, find_jobs
from repairgpt_operator.instance.model import Instance
from repairgpt_operator.instance.outcome import Outcome
from repairgpt_operator.kube import ApiError, Kube
from repairgpt_operator.resources.retention_cronjob import retention_wanted


def observe_retention(
    kube: Kube,
    instance: Instance,
    outcome: Outcome,
    *,
    applied: Applied | None = None,
    known: JobsKnown | None = None,
) -> JobsObservation | None:
    """The retention Jobs and their pods (their termination messages carry the results); the
    status needs nothing of the CronJob itself. `applied` and `known` as for `observe_backup`."""
    if not retention_wanted(instance):
        return None
    if applied is not None:
        return JobsObservation()
    try:
        jobs, pods = find_jobs(kube, instance, "retention", known=known)
    except ApiError as error:
        outcome.errors.append(error.about("retention"))
        return None
    return JobsObservation(jobs=jobs, pods=pods)
