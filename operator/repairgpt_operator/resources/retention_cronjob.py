"""Builds the CronJob `<instance>-retention`: delete chat history past its retention in short
transactions (`repairgpt db prune-chats`), then ANALYZE the chat tables."""

from __future__ import annotations

from typing import Any

from repairgpt_contract import argv
from repairgpt_operator.instance.model import Instance
from repairgpt_operator.ownership import child_metadata, common_labels
from repairgpt_operator.resources.deployment import (
    job_scratch_volume,
    restricted_container_security_context,
    restricted_pod_security_context,
)

RETENTION_CONTAINER = "retention"
# A run that has not started within this long after its slot waits for the next day's.
STARTING_DEADLINE_SECONDS = 600
# A failed prune keeps what it deleted (each batch commits); the next run goes on from there.
BACKOFF_LIMIT = 1
# Batches are short, but a first run over years of history may take a while.
ACTIVE_DEADLINE_SECONDS = 2 * 3600
HISTORY_LIMIT = 3


def retention_wanted(instance: Instance) -> bool:
    """Whether the instance wants the CronJob (chatHistoryDays 0 turns retention off)."""
    return instance.spec.retention.chat_history_days > 0


def retention_command(instance: Instance) -> list[str]:
    """`repairgpt db prune-chats`, its JSON result also in the termination message (read back
    for status.retention, as the backup Jobs' results are)."""
    retention = instance.spec.retention
    return argv.prune_chats_argv(
        older_than_days=retention.chat_history_days, batch_size=retention.batch_size
    )


def retention_container(instance: Instance) -> dict[str, Any]:
    """The app image with DATABASE_URL of the primary by Secret reference, restricted."""
    spec = instance.spec
    primary = spec.database.primary
    return {
        "name": RETENTION_CONTAINER,
        # The image the API runs, so the prune sees the schema the API uses.
        "image": instance.state.api_image or spec.image,
        "imagePullPolicy": spec.image_pull_policy,
        "command": retention_command(instance),
        "env": [
            {
                "name": "DATABASE_URL",
                "valueFrom": {"secretKeyRef": {"name": primary.secret_name, "key": primary.key}},
            },
            {"name": "DATA_DIR", "value": "/tmp"},
            {"name": "LOG_LEVEL", "value": spec.config.log_level},
        ],
        "resources": {
            "requests": {"cpu": "50m", "memory": "128Mi"},
            "limits": {"memory": "256Mi"},
        },
        "securityContext": restricted_container_security_context(),
        # On failure the tail of the log (the error) becomes the termination message.
        "terminationMessagePolicy": "FallbackToLogsOnError",
        "volumeMounts": [{"name": "tmp", "mountPath": "/tmp"}],
    }


def build_retention_cronjob(instance: Instance) -> dict[str, Any]:
    """CronJob `<instance>-retention`: one run at a time, suspended while the instance is
    failed over (the replica it then uses is read-only)."""
    labels = common_labels(instance, "retention")
    pod_spec = {
        "restartPolicy": "Never",
        "automountServiceAccountToken": False,
        "securityContext": restricted_pod_security_context(),
        "containers": [retention_container(instance)],
        "volumes": [job_scratch_volume()],
    }
    return {
        "apiVersion": "batch/v1",
        "kind": "CronJob",
        "metadata": child_metadata(instance, "retention"),
        "spec": {
            "schedule": instance.spec.retention.schedule,
            "suspend": instance.state.database_active == "replica",
            "concurrencyPolicy": "Forbid",
            "startingDeadlineSeconds": STARTING_DEADLINE_SECONDS,
            "successfulJobsHistoryLimit": HISTORY_LIMIT,
            "failedJobsHistoryLimit": HISTORY_LIMIT,
            "jobTemplate": {
                "metadata": {"labels": labels},
                "spec": {
                    "backoffLimit": BACKOFF_LIMIT,
                    "activeDeadlineSeconds": ACTIVE_DEADLINE_SECONDS,
                    "template": {"metadata": {"labels": labels}, "spec": pod_spec},
                },
            },
        },
    }
