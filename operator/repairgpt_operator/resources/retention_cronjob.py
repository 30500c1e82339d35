"""Builds the CronJob `<instance>-retention`: delete chat history past its retention in short
transactions (`repairgpt db prune-chats`), then ANALYZE the chat tables."""

from __future__ import annotations

from typing import Any

from repairgpt_contract import argv
from repairgpt_operator.instance.model import Instance
from repairgpt_operator.resources.scheduled_job import (
    JobLimits,
    build_scheduled_job,
    job_container_frame,
    job_pod_spec,
)

RETENTION_CONTAINER = "retention"
# A late run waits for the next day's. A failed prune keeps what it deleted (each batch
# commits); the next run goes on from there. Batches are short, but a first run over years of
# history may take a while.
RETENTION_LIMITS = JobLimits(
    starting_deadline_seconds=600,
    backoff_limit=1,
    active_deadline_seconds=2 * 3600,
    history_limit=3,
)


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
    primary = instance.spec.database.primary
    return job_container_frame(
        RETENTION_CONTAINER,
        # The image the API runs, so the prune sees the schema the API uses.
        image=instance.state.api_image or instance.spec.image,
        instance=instance,
        command=retention_command(instance),
        env=[
            {
                "name": "DATABASE_URL",
                "valueFrom": {"secretKeyRef": {"name": primary.secret_name, "key": primary.key}},
            },
            {"name": "DATA_DIR", "value": "/tmp"},
            {"name": "LOG_LEVEL", "value": instance.spec.config.log_level},
        ],
        resources={"requests": {"cpu": "50m", "memory": "128Mi"}, "limits": {"memory": "256Mi"}},
    )


def build_retention_cronjob(instance: Instance) -> dict[str, Any]:
    """CronJob `<instance>-retention`: one run at a time, suspended while the instance is
    failed over (the replica it then uses is read-only)."""
    return build_scheduled_job(
        instance,
        "retention",
        schedule=instance.spec.retention.schedule,
        suspend=instance.state.database_active == "replica",
        limits=RETENTION_LIMITS,
        pod_spec=job_pod_spec([retention_container(instance)]),
    )
