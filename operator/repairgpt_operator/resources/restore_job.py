"""Builds the Jobs of one RepairGPTRestore, each a `repairgpt backup` command in the app image."""

from __future__ import annotations

import hashlib
from dataclasses import dataclass
from typing import Any, Literal

from repairgpt_contract import argv
from repairgpt_operator.backup.spec import BackupS3
from repairgpt_operator.instance.model import Instance
from repairgpt_operator.instance.spec import API_VERSION
from repairgpt_operator.instance.spec_fields import DatabaseSecretRef
from repairgpt_operator.ownership import (
    APP_NAME,
    COMPONENT_LABEL,
    FIELD_MANAGER,
    INSTANCE_LABEL,
    MANAGED_BY_LABEL,
    NAME_LABEL,
)
from repairgpt_operator.resources.backup_cronjob import (
    BACKUP_CONTAINER,
    backup_command_for,
    job_container,
)
from repairgpt_operator.resources.scheduled_job import job_pod_spec
from repairgpt_operator.restore.spec import RESTORE_KIND, RepairGPTRestoreSpec

RESTORE_LABEL = "repairgpt.io/restore"
RESTORE_CONTAINER = "restore"
FIND_CONTAINER = "find"
# What a restore runs, in this order: find the backup (for `latest`), back up the target (for a
# clean restore into the instance's own database), restore.
RestoreStep = Literal["find", "backup", "restore"]
# A restore is applied in one transaction and is safe to repeat, but a failure (a non-empty
# target, a corrupted dump) repeats the same way: report it instead of retrying.
BACKOFF_LIMIT = 0
ACTIVE_DEADLINE_SECONDS = 6 * 3600
MAX_NAME = 63


@dataclass(frozen=True)
class RestoreRequest:
    """A RepairGPTRestore as the builder needs it."""

    name: str
    namespace: str
    uid: str
    spec: RepairGPTRestoreSpec


def restore_job_name(restore: RestoreRequest, step: RestoreStep = "restore") -> str:
    """`<restore>-<step>`, shortened with a digest when the restore's name is long (a Job name
    becomes a label value: at most 63 characters)."""
    name = f"{restore.name}-{step}"
    if len(name) <= MAX_NAME:
        return name
    digest = hashlib.sha256(restore.name.encode()).hexdigest()[:6]
    keep = MAX_NAME - len(step) - 8
    return f"{restore.name[:keep].rstrip('-.')}-{digest}-{step}"


def restore_labels(restore: RestoreRequest) -> dict[str, str]:
    """Labels of the Jobs and their pods: the instance's, component `restore`, and the restore."""
    return {
        NAME_LABEL: APP_NAME,
        INSTANCE_LABEL: restore.spec.instance_name,
        COMPONENT_LABEL: "restore",
        MANAGED_BY_LABEL: FIELD_MANAGER,
        RESTORE_LABEL: restore.name,
    }


def restore_command(restore: RestoreRequest, s3: BackupS3, key: str) -> list[str]:
    """`repairgpt backup restore KEY` into the database of RESTORE_TARGET_URL: the command reads
    the URL from its environment (set from the Secret by the kubelet), so it is neither in the
    Job's spec nor in the container's argv."""
    return argv.backup_restore_argv(
        key, bucket=s3.bucket, prefix=s3.prefix, clean=restore.spec.clean
    )


def find_command(restore: RestoreRequest, s3: BackupS3) -> list[str]:
    """`repairgpt backup find` of the restore's backup (`latest` becomes a key)."""
    return argv.backup_find_argv(restore.spec.backup, bucket=s3.bucket, prefix=s3.prefix)


def _job(restore: RestoreRequest, step: RestoreStep, container: dict[str, Any]) -> dict[str, Any]:
    labels = restore_labels(restore)
    return {
        "apiVersion": "batch/v1",
        "kind": "Job",
        "metadata": {
            "name": restore_job_name(restore, step),
            "namespace": restore.namespace,
            "labels": labels,
            "ownerReferences": [
                {
                    "apiVersion": API_VERSION,
                    "kind": RESTORE_KIND,
                    "name": restore.name,
                    "uid": restore.uid,
                    "controller": True,
                    "blockOwnerDeletion": True,
                }
            ],
        },
        "spec": {
            "backoffLimit": BACKOFF_LIMIT,
            "activeDeadlineSeconds": ACTIVE_DEADLINE_SECONDS,
            "template": {
                "metadata": {"labels": labels},
                "spec": job_pod_spec([container]),
            },
        },
    }


def build_restore_job(
    restore: RestoreRequest,
    instance: Instance,
    *,
    s3: BackupS3,
    target: DatabaseSecretRef,
    key: str,
) -> dict[str, Any]:
    """The restore Job of `key`, owned by the RepairGPTRestore (deleting the restore deletes
    it); the target's URL by Secret reference in RESTORE_TARGET_URL only."""
    container = job_container(
        instance, RESTORE_CONTAINER, restore_command(restore, s3, key), database=None, s3=s3
    )
    container["env"].insert(
        0,
        {
            "name": argv.RESTORE_TARGET_ENV,
            "valueFrom": {"secretKeyRef": {"name": target.secret_name, "key": target.key}},
        },
    )
    return _job(restore, "restore", container)


def build_find_job(restore: RestoreRequest, instance: Instance, *, s3: BackupS3) -> dict[str, Any]:
    """The Job that names the backup a restore of `latest` uses, when the restore is accepted
    (so that a backup taken later, during the hold for instance, is never the one restored)."""
    container = job_container(
        instance, FIND_CONTAINER, find_command(restore, s3), database=None, s3=s3
    )
    return _job(restore, "find", container)


def build_safety_backup_job(
    restore: RestoreRequest, instance: Instance, *, s3: BackupS3, database: DatabaseSecretRef
) -> dict[str, Any]:
    """The backup of the instance's database taken right before a clean restore replaces its
    tables: the backup CronJob's dump, once, while the API is stopped."""
    container = job_container(
        instance, BACKUP_CONTAINER, backup_command_for(s3), database=database, s3=s3
    )
    return _job(restore, "backup", container)
