"""Builds the CronJobs `<instance>-backup` (dump the database to S3, then prune) and
`<instance>-verify` (restore the newest backup into a throwaway database and count rows)."""

from __future__ import annotations

from dataclasses import replace
from typing import Any, Literal

from repairgpt_contract import argv
from repairgpt_operator.backup.spec import BackupS3
from repairgpt_operator.instance.model import Instance
from repairgpt_operator.instance.spec_fields import DatabaseSecretRef
from repairgpt_operator.resources.scheduled_job import (
    JobLimits,
    build_scheduled_job,
    job_container_frame,
    job_pod_spec,
)

# A late run is skipped rather than overlapping the next one; a dump that is still running
# after three hours is stuck, its pod is killed and retried.
BACKUP_LIMITS = JobLimits(
    starting_deadline_seconds=300,
    backoff_limit=2,
    active_deadline_seconds=3 * 3600,
    history_limit=3,
)
# A verification restores a whole backup: allow it as long as a backup itself. A failed one is
# a finding to report, not a flake to retry.
VERIFY_LIMITS = replace(BACKUP_LIMITS, backoff_limit=0)
BACKUP_CONTAINER = "backup"
PRUNE_CONTAINER = "prune"
VERIFY_CONTAINER = "verify"
# On each backup Job: `primary` or `replica`, the database it dumped.
BACKUP_SOURCE_ANNOTATION = "repairgpt.io/backup-source"
BackupSource = Literal["primary", "replica"]


def _secret_env(name: str, secret: str, key: str) -> dict[str, Any]:
    return {"name": name, "valueFrom": {"secretKeyRef": {"name": secret, "key": key}}}


def _s3_environment(s3: BackupS3) -> list[dict[str, Any]]:
    """Credentials by Secret reference; endpoint and region as plain values (not secret)."""
    env: list[dict[str, Any]] = []
    if s3.credentials_secret:
        for variable in ("AWS_ACCESS_KEY_ID", "AWS_SECRET_ACCESS_KEY"):
            env.append(_secret_env(variable, s3.credentials_secret, variable))
    if s3.endpoint:
        env.append({"name": "AWS_ENDPOINT_URL", "value": s3.endpoint})
    env.append({"name": "AWS_DEFAULT_REGION", "value": s3.region})
    return env


def backup_command(instance: Instance) -> list[str]:
    """The command line of the dump: `repairgpt backup create` into the configured bucket."""
    return backup_command_for(_backup_s3(instance))


def backup_command_for(s3: BackupS3) -> list[str]:
    """`repairgpt backup create` into one S3 location."""
    return argv.backup_create_argv(bucket=s3.bucket, prefix=s3.prefix)


def prune_command(instance: Instance) -> list[str]:
    """The command line of the retention pass that follows a successful dump."""
    s3 = _backup_s3(instance)
    return argv.backup_prune_argv(
        bucket=s3.bucket, prefix=s3.prefix, retention_days=instance.spec.backup.retention_days
    )


def verify_command(instance: Instance) -> list[str]:
    """The command line of the verification: restore the newest backup into a throwaway
    database on the server of DATABASE_URL, compare row counts with the manifest, drop it."""
    s3 = _backup_s3(instance)
    return argv.backup_verify_argv(bucket=s3.bucket, prefix=s3.prefix)


def _backup_s3(instance: Instance) -> BackupS3:
    s3 = instance.spec.backup.s3
    if s3 is None:
        # The spec validators refuse backup.enabled without s3; nothing builds this CronJob then.
        raise ValueError("spec.backup.s3 is required to build the backup CronJob")
    return s3


def _container(
    instance: Instance, name: str, command: list[str], database: DatabaseSecretRef | None
) -> dict[str, Any]:
    return job_container(instance, name, command, database=database, s3=_backup_s3(instance))


def job_container(
    instance: Instance,
    name: str,
    command: list[str],
    *,
    database: DatabaseSecretRef | None,
    s3: BackupS3,
) -> dict[str, Any]:
    """A container of the app image running one `repairgpt backup` command: DATABASE_URL and
    the S3 credentials by Secret reference, restricted, with a scratch /tmp."""
    env = []
    if database is not None:
        env.append(_secret_env("DATABASE_URL", database.secret_name, database.key))
    env.extend(_s3_environment(s3))
    return job_container_frame(
        name,
        image=instance.spec.image,
        instance=instance,
        command=command,
        env=env,
        # Memory stays flat whatever the database size (streamed multipart upload).
        resources={"requests": {"cpu": "100m", "memory": "128Mi"}, "limits": {"memory": "512Mi"}},
    )


def backup_source(instance: Instance) -> BackupSource:
    """The database the backups dump from: the replica while the instance is failed over (the
    primary is down then, and the replica has its data), else the primary."""
    if instance.state.database_active == "replica" and instance.spec.database.replica is not None:
        return "replica"
    return "primary"


def backup_database(instance: Instance) -> DatabaseSecretRef:
    """The Secret reference of the database that `backup_source` names."""
    replica = instance.spec.database.replica
    if backup_source(instance) == "replica" and replica is not None:
        return replica
    return instance.spec.database.primary


def backup_pod_spec(instance: Instance) -> dict[str, Any]:
    """The backup pod: the dump as an init container, so the prune runs only after it
    succeeded (containers of one pod cannot run one after another otherwise)."""
    database = backup_database(instance)
    return job_pod_spec(
        [_container(instance, PRUNE_CONTAINER, prune_command(instance), database=None)],
        init_containers=[
            _container(instance, BACKUP_CONTAINER, backup_command(instance), database=database)
        ],
    )


def build_backup_cronjob(instance: Instance) -> dict[str, Any]:
    """CronJob `<instance>-backup`: scheduled dump + prune, one run at a time."""
    return build_scheduled_job(
        instance,
        "backup",
        schedule=instance.spec.backup.schedule,
        suspend=instance.spec.backup.suspend,
        limits=BACKUP_LIMITS,
        pod_spec=backup_pod_spec(instance),
        annotations={BACKUP_SOURCE_ANNOTATION: backup_source(instance)},
    )


def verify_pod_spec(instance: Instance) -> dict[str, Any]:
    """The verification pod: one container, DATABASE_URL naming the server to restore on."""
    database = instance.spec.backup.verify.database or instance.spec.database.primary
    return job_pod_spec(
        [_container(instance, VERIFY_CONTAINER, verify_command(instance), database=database)]
    )


def build_verify_cronjob(instance: Instance) -> dict[str, Any]:
    """CronJob `<instance>-verify`: a scheduled restore test of the newest backup."""
    return build_scheduled_job(
        instance,
        "verify",
        schedule=instance.spec.backup.verify.schedule,
        # Suspending backups suspends their verification too: nothing new to verify.
        suspend=instance.spec.backup.suspend,
        limits=VERIFY_LIMITS,
        pod_spec=verify_pod_spec(instance),
    )
