"""Reads the retention CronJob's Jobs and pods (their termination messages carry the results)."""

from __future__ import annotations

from repairgpt_operator.backup.jobs import JobsObservation
from repairgpt_operator.backup.observe import observe_jobs
from repairgpt_operator.instance.model import Instance
from repairgpt_operator.instance.outcome import Outcome
from repairgpt_operator.kube import ApiError, Kube
from repairgpt_operator.resources.retention_cronjob import retention_wanted


def observe_retention(kube: Kube, instance: Instance, outcome: Outcome) -> JobsObservation | None:
    """The retention CronJob's Jobs and pods (their termination messages carry the results)."""
    if not retention_wanted(instance):
        return None
    try:
        return observe_jobs(kube, instance, "retention")
    except ApiError as error:
        outcome.errors.append(error.about("retention"))
        return None
