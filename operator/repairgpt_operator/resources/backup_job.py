"""Builds the backup Jobs started outside the CronJob's schedule: on demand, before an upgrade."""

from __future__ import annotations

import copy
import hashlib
from collections.abc import Mapping
from typing import Any

from repairgpt_operator.instance.model import Instance
from repairgpt_operator.ownership import child_name, owner_reference

# The token is kept as an annotation: label values cannot hold arbitrary text (e.g. timestamps).
BACKUP_TOKEN_ANNOTATION = "repairgpt.io/backup-token"


TRIGGER_LABEL = "repairgpt.io/backup-trigger"


# Finished on-demand Jobs go after a week; their outcome is already in the instance status.
MANUAL_JOB_TTL_SECONDS = 7 * 24 * 3600


def manual_job_name(instance: Instance, token: str) -> str:
    """`<instance>-backup-<10 hex digits of the token's sha256>`: one Job per token."""
    digest = hashlib.sha256(token.encode()).hexdigest()[:10]
    return f"{child_name(instance, 'backup')}-{digest}"


def build_manual_job(instance: Instance, cronjob: Mapping[str, Any], token: str) -> dict[str, Any]:
    """A Job from the CronJob's jobTemplate (the same pod), owned by the instance."""
    template = copy.deepcopy(dict(cronjob["spec"]["jobTemplate"]))
    labels = {**(template.get("metadata") or {}).get("labels", {}), TRIGGER_LABEL: "manual"}
    job_spec = template["spec"]
    job_spec["ttlSecondsAfterFinished"] = MANUAL_JOB_TTL_SECONDS
    return {
        "apiVersion": "batch/v1",
        "kind": "Job",
        "metadata": {
            "name": manual_job_name(instance, token),
            "namespace": instance.namespace,
            "labels": labels,
            "annotations": {
                **((template.get("metadata") or {}).get("annotations") or {}),
                BACKUP_TOKEN_ANNOTATION: token,
            },
            "ownerReferences": [owner_reference(instance)],
        },
        "spec": job_spec,
    }


UPGRADE_IMAGE_ANNOTATION = "repairgpt.io/upgrade-image"


def build_upgrade_job(
    instance: Instance, cronjob: Mapping[str, Any], record: Mapping[str, Any]
) -> dict[str, Any]:
    """The backup CronJob's Job, owned by the instance, named for the change, and run with the
    image that runs now (the new one is not trusted until it has rolled out)."""
    job = build_manual_job(instance, cronjob, str(record["image"]))
    metadata = job["metadata"]
    metadata["name"] = str(record["job"])
    metadata["annotations"].pop(BACKUP_TOKEN_ANNOTATION, None)
    metadata["annotations"][UPGRADE_IMAGE_ANNOTATION] = str(record["image"])
    metadata["labels"][TRIGGER_LABEL] = "upgrade"
    pod = job["spec"]["template"]["spec"]
    for container in pod.get("initContainers", []) + pod.get("containers", []):
        container["image"] = str(record["fromImage"])
    return {**job, "apiVersion": "batch/v1", "kind": "Job"}
