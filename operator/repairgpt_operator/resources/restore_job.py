"""Builds the Job that runs one RepairGPTRestore: `repairgpt backup restore` in the app image."""

from __future__ import annotations

import hashlib
from dataclasses import dataclass
from typing import Any

from repairgpt_operator.ownership import (
    APP_NAME,
    COMPONENT_LABEL,
    FIELD_MANAGER,
    INSTANCE_LABEL,
    MANAGED_BY_LABEL,
    NAME_LABEL,
)
from repairgpt_operator.resources.backup_cronjob import job_container, location_args
from repairgpt_operator.resources.deployment import restricted_pod_security_context
from repairgpt_operator.restore_spec import RESTORE_KIND, RepairGPTRestoreSpec
from repairgpt_operator.spec import API_VERSION, BackupS3, DatabaseSecretRef, Instance

RESTORE_LABEL = "repairgpt.io/restore"
RESTORE_CONTAINER = "restore"
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


def restore_job_name(restore: RestoreRequest) -> str:
    """`<restore>-restore`, shortened with a digest when the restore's name is long (a Job name
    becomes a label value: at most 63 characters)."""
    name = f"{restore.name}-restore"
    if len(name) <= MAX_NAME:
        return name
    digest = hashlib.sha256(restore.name.encode()).hexdigest()[:6]
    return f"{restore.name[: MAX_NAME - 15].rstrip('-.')}-{digest}-restore"


def restore_labels(restore: RestoreRequest) -> dict[str, str]:
    """Labels of the Job and its pod: the instance's, component `restore`, and the restore."""
    return {
        NAME_LABEL: APP_NAME,
        INSTANCE_LABEL: restore.spec.instance_name,
        COMPONENT_LABEL: "restore",
        MANAGED_BY_LABEL: FIELD_MANAGER,
        RESTORE_LABEL: restore.name,
    }


def restore_command(restore: RestoreRequest, s3: BackupS3) -> list[str]:
    """`repairgpt backup restore` into the database of DATABASE_URL (expanded by the kubelet
    from the Secret reference, so the URL never appears in the Job's spec)."""
    command = [
        "repairgpt",
        "backup",
        "restore",
        restore.spec.backup,
        *location_args(s3),
        "--target-url",
        "$(DATABASE_URL)",
        "--progress-interval",
        "30",
        "--result-file",
        "/dev/termination-log",
    ]
    if restore.spec.clean:
        command.append("--clean")
    return command


def build_restore_job(
    restore: RestoreRequest, instance: Instance, *, s3: BackupS3, target: DatabaseSecretRef
) -> dict[str, Any]:
    """The restore Job, owned by the RepairGPTRestore (deleting the restore deletes it)."""
    labels = restore_labels(restore)
    container = job_container(
        instance, RESTORE_CONTAINER, restore_command(restore, s3), database=target, s3=s3
    )
    return {
        "apiVersion": "batch/v1",
        "kind": "Job",
        "metadata": {
            "name": restore_job_name(restore),
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
                "spec": {
                    "restartPolicy": "Never",
                    "automountServiceAccountToken": False,
                    "securityContext": restricted_pod_security_context(),
                    "containers": [container],
                    "volumes": [{"name": "tmp", "emptyDir": {}}],
                },
            },
        },
    }
