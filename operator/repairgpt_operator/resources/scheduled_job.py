"""What the app image's Jobs share: their container's frame, their pod, and for the scheduled
ones the CronJob around it."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from repairgpt_operator.instance.model import Instance
from repairgpt_operator.ownership import Component, child_metadata, common_labels
from repairgpt_operator.resources.deployment import (
    job_scratch_volume,
    restricted_container_security_context,
    restricted_pod_security_context,
)


def job_container_frame(
    name: str,
    *,
    image: str,
    instance: Instance,
    command: list[str],
    env: list[dict[str, Any]],
    resources: dict[str, Any],
) -> dict[str, Any]:
    """A container of the app image in a Job: restricted, with a scratch /tmp."""
    return {
        "name": name,
        "image": image,
        "imagePullPolicy": instance.spec.image_pull_policy,
        "command": command,
        "env": env,
        "resources": resources,
        "securityContext": restricted_container_security_context(),
        # On failure the tail of the log (the error) becomes the termination message, which the
        # Job's Failed condition and `kubectl describe pod` then show.
        "terminationMessagePolicy": "FallbackToLogsOnError",
        "volumeMounts": [{"name": "tmp", "mountPath": "/tmp"}],
    }


def job_pod_spec(
    containers: list[dict[str, Any]], *, init_containers: list[dict[str, Any]] | None = None
) -> dict[str, Any]:
    """The pod of a Job: run once, without an API token, restricted, with a scratch /tmp."""
    pod: dict[str, Any] = {
        "restartPolicy": "Never",
        "automountServiceAccountToken": False,
        "securityContext": restricted_pod_security_context(),
    }
    if init_containers:
        pod["initContainers"] = init_containers
    pod["containers"] = containers
    pod["volumes"] = [job_scratch_volume()]
    return pod


@dataclass(frozen=True)
class JobLimits:
    """How long a scheduled run may wait and take, how often it is retried, what is kept."""

    # A run that has not started within this long after its slot is skipped (and counted as
    # missed by the CronJob controller) rather than started late.
    starting_deadline_seconds: int
    backoff_limit: int
    active_deadline_seconds: int
    history_limit: int


def build_scheduled_job(
    instance: Instance,
    component: Component,
    *,
    schedule: str,
    suspend: bool,
    limits: JobLimits,
    pod_spec: dict[str, Any],
    annotations: dict[str, str] | None = None,
) -> dict[str, Any]:
    """CronJob `<instance>-<component>` running `pod_spec`, one run at a time."""
    labels = common_labels(instance, component)
    job_metadata: dict[str, Any] = {"labels": labels}
    if annotations:
        # Copied onto every Job, so each one tells what it ran against.
        job_metadata["annotations"] = annotations
    return {
        "apiVersion": "batch/v1",
        "kind": "CronJob",
        "metadata": child_metadata(instance, component),
        "spec": {
            "schedule": schedule,
            "suspend": suspend,
            # A second run while one is still going would only double the load.
            "concurrencyPolicy": "Forbid",
            "startingDeadlineSeconds": limits.starting_deadline_seconds,
            "successfulJobsHistoryLimit": limits.history_limit,
            "failedJobsHistoryLimit": limits.history_limit,
            "jobTemplate": {
                "metadata": job_metadata,
                "spec": {
                    "backoffLimit": limits.backoff_limit,
                    "activeDeadlineSeconds": limits.active_deadline_seconds,
                    "template": {"metadata": {"labels": labels}, "spec": pod_spec},
                },
            },
        },
    }
