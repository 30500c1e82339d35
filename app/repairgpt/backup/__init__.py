"""PostgreSQL backups to S3: create, list, restore and prune, as a Python API and CLI commands.

The names below load on first use, so that registering the CLI commands does not import boto3
and psycopg into every `repairgpt` command.
"""

from __future__ import annotations

import importlib
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from repairgpt.backup.catalog import find_backup, list_backups, prune_backups
    from repairgpt.backup.create import create_backup
    from repairgpt.backup.errors import BackupError, ExitCode
    from repairgpt.backup.manifest import Manifest
    from repairgpt.backup.pg_tools import PgTools
    from repairgpt.backup.restore import RestoreReport, TableCheck, restore_backup
    from repairgpt.backup.retention import PrunePlan, plan_prune
    from repairgpt.backup.s3 import S3Location
    from repairgpt.backup.stored_backups import BackupEntry

_HOMES = {
    "find_backup": "catalog",
    "list_backups": "catalog",
    "prune_backups": "catalog",
    "create_backup": "create",
    "PgTools": "pg_tools",
    "BackupError": "errors",
    "ExitCode": "errors",
    "BackupEntry": "stored_backups",
    "Manifest": "manifest",
    "RestoreReport": "restore",
    "TableCheck": "restore",
    "restore_backup": "restore",
    "PrunePlan": "retention",
    "plan_prune": "retention",
    "S3Location": "s3",
}

__all__ = [
    "BackupEntry",
    "BackupError",
    "ExitCode",
    "Manifest",
    "PgTools",
    "PrunePlan",
    "RestoreReport",
    "S3Location",
    "TableCheck",
    "create_backup",
    "find_backup",
    "list_backups",
    "plan_prune",
    "prune_backups",
    "restore_backup",
]


def __getattr__(name: str) -> Any:
    home = _HOMES.get(name)
    if home is None:
        raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
    return getattr(importlib.import_module(f"{__name__}.{home}"), name)
