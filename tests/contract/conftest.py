"""Fixtures of the contract tests: the backup commands' own, so that what the commands really
write is what the contract reads."""

from __future__ import annotations

from tests.app.backup.conftest import backup_cli, empty_database, small_database

__all__ = ["backup_cli", "empty_database", "small_database"]
