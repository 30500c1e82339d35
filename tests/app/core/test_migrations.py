"""Schema migrations on SQLite and PostgreSQL: complete, repeatable, and matching the models."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

from alembic.autogenerate import compare_metadata
from alembic.runtime.migration import MigrationContext
from sqlalchemy import inspect

from repairgpt.core.config import normalize_database_url
from repairgpt.core.db import create_db_engine, current_revision, head_revision, migrate
from repairgpt.models import Base

TABLES = {"devices", "repair_guides", "guide_steps", "chat_sessions", "chat_messages", "uploads"}


def test_migrations_create_the_schema_and_its_indexes(database_url: str) -> None:
    engine = create_db_engine(normalize_database_url(database_url))
    try:
        assert migrate(engine) == head_revision()
        assert migrate(engine) == head_revision()  # a second run is a no-op
        inspector = inspect(engine)
        assert TABLES <= set(inspector.get_table_names())
        chat_indexes = {
            i["name"]: i["column_names"] for i in inspector.get_indexes("chat_messages")
        }
        assert chat_indexes["ix_chat_messages_session_created"][0] == "session_id"
        guide_indexes = {
            i["name"]: i["column_names"] for i in inspector.get_indexes("repair_guides")
        }
        assert guide_indexes["ix_repair_guides_device_difficulty_active"] == [
            "device_id",
            "difficulty",
            "is_active",
        ]
        with engine.connect() as connection:
            diff = compare_metadata(MigrationContext.configure(connection), Base.metadata)
        assert diff == [], f"models and migrations disagree: {diff}"
    finally:
        engine.dispose()


def test_the_descending_index_is_descending_on_postgresql(postgres_url: str) -> None:
    engine = create_db_engine(normalize_database_url(postgres_url))
    try:
        migrate(engine)
        with engine.connect() as connection:
            definition = connection.exec_driver_sql(
                "SELECT indexdef FROM pg_indexes "
                "WHERE indexname = 'ix_chat_messages_session_created'"
            ).scalar_one()
    finally:
        engine.dispose()
    assert "(session_id, created_at DESC)" in definition


def test_repairgpt_db_migrate_accepts_a_plain_postgresql_url(postgres_url: str) -> None:
    assert postgres_url.startswith("postgresql://")
    env = {**os.environ, "DATABASE_URL": postgres_url}
    result = subprocess.run(
        [str(Path(sys.executable).parent / "repairgpt"), "db", "migrate"],
        env=env,
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )
    assert result.returncode == 0, result.stderr
    assert f"at revision {head_revision()}" in result.stdout
    engine = create_db_engine(normalize_database_url(postgres_url))
    try:
        assert current_revision(engine) == head_revision()
    finally:
        engine.dispose()
