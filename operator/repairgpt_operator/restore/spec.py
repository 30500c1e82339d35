"""The RepairGPTRestore custom resource: its pydantic models and the CRD generated from them.

A restore is a one-off request (restore this backup into that instance's database), so its spec
is immutable; the status reports progress and the result. Regenerate the CRD with:

    python -m repairgpt_operator.restore.spec --output crds/repairgptrestore.yaml
"""

from __future__ import annotations

import sys
from typing import Any, Literal

from pydantic import Field, model_validator

from repairgpt_operator.backup.spec import BackupS3
from repairgpt_operator.crd import custom_resource_definition, generate, render, root_schema
from repairgpt_operator.instance.spec_fields import (
    CamelModel,
    DatabaseSecretRef,
    cel_rule,
    cel_rules,
    reported,
    timestamp,
)
from repairgpt_operator.instance.status import Condition

RESTORE_KIND = "RepairGPTRestore"
RESTORE_PLURAL = "repairgptrestores"
RESTORE_SINGULAR = "repairgptrestore"
RESTORE_SHORT_NAMES = ["rgr"]

OWN_DATABASE_NEEDS_MAINTENANCE = (
    "maintenance: false needs spec.target: a restore into the instance's own database must hold "
    "the API in maintenance mode"
)
HEADER = (
    "# Generated from operator/repairgpt_operator/restore/spec.py by\n"
    "#   python -m repairgpt_operator.restore.spec --output crds/repairgptrestore.yaml\n"
    "# Edit the models, not this file (tests/operator/restore/test_spec.py checks they agree).\n"
)


class RepairGPTRestoreSpec(CamelModel):
    """What to restore, from where, into which instance."""

    model_config = cel_rules(
        cel_rule(
            "self == oldSelf",
            "spec of a RepairGPTRestore is immutable; create a new restore",
            reason="FieldValueForbidden",
        ),
        # Restoring under a live API would interleave its writes with the restore.
        cel_rule(
            "has(self.target) || self.maintenance",
            OWN_DATABASE_NEEDS_MAINTENANCE,
            field_path=".maintenance",
            reason="FieldValueInvalid",
        ),
    )

    instance_name: str = Field(
        min_length=1,
        max_length=45,
        pattern=r"^[a-z]([-a-z0-9]*[a-z0-9])?$",
        description="The RepairGPTInstance (same namespace) whose database is restored.",
    )
    backup: str = Field(
        default="latest",
        min_length=1,
        max_length=1024,
        # It becomes an argument of `repairgpt backup restore`: nothing option-like.
        pattern=r"^[^-\s][^\s]*$",
        description="`latest` or the key of a dump (as `repairgpt backup list` shows it).",
    )
    s3: BackupS3 | None = Field(
        default=None,
        description="Where the backup is; empty means the instance's spec.backup.s3.",
    )
    target: DatabaseSecretRef | None = Field(
        default=None,
        description="Database to restore into; empty means the instance's primary database.",
    )
    clean: bool = Field(
        default=False,
        description="Allow a non-empty target: the backup's objects are dropped and recreated. "
        "Into the instance's own database, that database is backed up first.",
    )
    maintenance: bool = Field(
        default=True,
        description="Hold the instance in maintenance mode while the restore runs; false only "
        "with spec.target (another database).",
    )

    @model_validator(mode="after")
    def _own_database_needs_maintenance(self) -> RepairGPTRestoreSpec:
        if self.target is None and not self.maintenance:
            raise ValueError(OWN_DATABASE_NEEDS_MAINTENANCE)
        return self


class RepairGPTRestoreStatus(CamelModel):
    """Progress and result of a restore, written by the operator."""

    observed_generation: int | None = reported(
        "metadata.generation that the operator last acted on."
    )
    phase: Literal["Pending", "Running", "Succeeded", "Failed"] | None = reported(
        "Pending (naming the backup, waiting for a failed-over instance's failback, for "
        "maintenance mode or another restore, or backing up the database before a clean restore), "
        "Running (the restore Job runs), Succeeded or Failed."
    )
    conditions: list[Condition] = Field(
        default_factory=list, description="Complete and Failed conditions."
    )
    job_name: str | None = reported("The restore Job.")
    backup_key: str | None = reported(
        "The dump that is restored: spec.backup, with `latest` resolved to a key when the restore "
        "was accepted (a backup taken later is never the one restored)."
    )
    pre_restore_backup_key: str | None = reported(
        "For a clean restore into the instance's own database: the backup of that database taken "
        "right before the restore (the restore does not start without it)."
    )
    pre_restore_backup_location: str | None = reported("s3:// URL of that backup.")
    location: str | None = reported("s3:// URL of the restored dump.")
    restored_tables: int | None = reported("Tables restored.")
    restored_rows: int | None = reported(
        "Rows restored (equal to the backup's manifest on success)."
    )
    start_time: str | None = timestamp("When the restore Job started (RFC 3339).")
    completion_time: str | None = timestamp("When the restore finished (RFC 3339).")
    message: str | None = reported("Progress or the error, for people.")


PRINTER_COLUMNS: list[dict[str, Any]] = [
    {"name": "Instance", "type": "string", "jsonPath": ".spec.instanceName"},
    {"name": "Backup", "type": "string", "jsonPath": ".spec.backup"},
    {"name": "Phase", "type": "string", "jsonPath": ".status.phase"},
    {"name": "Message", "type": "string", "jsonPath": ".status.message", "priority": 1},
    {"name": "Age", "type": "date", "jsonPath": ".metadata.creationTimestamp"},
]


def build_restore_crd() -> dict[str, Any]:
    """The RepairGPTRestore CustomResourceDefinition."""
    root = root_schema(
        "A one-off restore of a RepairGPT database backup into an instance's database, run by "
        "the RepairGPT operator as a Job.",
        RepairGPTRestoreSpec,
        RepairGPTRestoreStatus,
    )
    return custom_resource_definition(
        kind=RESTORE_KIND,
        plural=RESTORE_PLURAL,
        singular=RESTORE_SINGULAR,
        short_names=RESTORE_SHORT_NAMES,
        root=root,
        subresources={"status": {}},
        printer_columns=PRINTER_COLUMNS,
    )


def render_restore_crd() -> str:
    """The RepairGPTRestore CRD as the YAML text committed in crds/."""
    return render(build_restore_crd(), HEADER)


def main(argv: list[str] | None = None) -> int:
    return generate(argv, render_restore_crd, "Generate crds/repairgptrestore.yaml.")


if __name__ == "__main__":
    sys.exit(main())
