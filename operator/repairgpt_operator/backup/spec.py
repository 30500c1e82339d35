"""Pydantic models of spec.backup: the schedule, the S3 location and the verification of backups."""

from __future__ import annotations

from pydantic import (
    Field,
    model_validator,
)

from repairgpt_operator.instance.spec_fields import (
    CamelModel,
    CronSchedule,
    DatabaseSecretRef,
    S3Bucket,
    S3Endpoint,
    S3Region,
    SecretName,
    cel_rules,
    required_when,
    section,
)


class BackupS3(CamelModel):
    """The S3 location of database backups."""

    bucket: S3Bucket
    prefix: str = Field(
        default="database/", max_length=512, description="Key prefix of the backup objects."
    )
    endpoint: S3Endpoint = ""
    region: S3Region = "us-east-1"
    credentials_secret: SecretName | None = Field(
        default=None,
        description="Secret with keys AWS_ACCESS_KEY_ID and AWS_SECRET_ACCESS_KEY.",
    )


class BackupVerify(CamelModel):
    """Periodic restore of the newest backup into a throwaway database, to prove it restores."""

    enabled: bool = Field(
        default=False, description="Create the verification CronJob <name>-verify."
    )
    schedule: CronSchedule = Field(
        default="30 3 * * *",
        description="Five-field cron schedule of the verification Job.",
    )
    database: DatabaseSecretRef | None = Field(
        default=None,
        description="A database on the PostgreSQL server where the throwaway database is "
        "created (its role needs CREATEDB); empty means the primary's Secret, whose role then "
        "needs CREATEDB (the BackupVerified condition says so).",
    )


class Backup(CamelModel):
    """Scheduled pg_dump backups of the primary database to S3, with retention."""

    model_config = cel_rules(
        required_when(
            "enabled",
            "s3.bucket",
            "(has(self.s3) && size(self.s3.bucket) > 0)",
            section="spec.backup",
            field_path=".s3",
        ),
        required_when(
            "beforeUpgrade",
            "enabled",
            "self.enabled",
            section="spec.backup",
            field_path=".beforeUpgrade",
            reason="FieldValueInvalid",
        ),
    )

    enabled: bool = Field(default=False, description="Create the backup CronJob <name>-backup.")
    schedule: CronSchedule = Field(
        default="0 * * * *",
        description="Five-field cron schedule (minute hour day-of-month month day-of-week).",
    )
    retention_days: int = Field(
        default=30,
        ge=1,
        le=3650,
        description="Backups older than this are pruned; the newest successful one is always kept.",
    )
    suspend: bool = Field(default=False, description="Suspend the CronJob without deleting it.")
    s3: BackupS3 | None = Field(
        default=None, description="Where backups go; required when backups are enabled."
    )
    verify: BackupVerify = section(BackupVerify, "Automatic restore tests of the newest backup.")
    before_upgrade: bool = Field(
        default=False,
        description="Hold a change of spec.image (the API keeps its running image) until a "
        "backup Job for that change succeeds (condition BackupBeforeUpgrade); the annotation "
        "repairgpt.io/skip-backup-before-upgrade=<image> skips it once.",
    )

    @model_validator(mode="after")
    def _bucket_when_enabled(self) -> Backup:
        if self.enabled and self.s3 is None:
            raise ValueError("backup.s3.bucket is required when backup.enabled is true")
        if self.before_upgrade and not self.enabled:
            raise ValueError("backup.enabled is required when backup.beforeUpgrade is true")
        return self
