"""Alembic environment: runs on the connection `repairgpt db migrate` passes, or DATABASE_URL."""

from __future__ import annotations

from alembic import context
from sqlalchemy import Connection

from repairgpt.models import Base


def _run(connection: Connection) -> None:
    context.configure(
        connection=connection,
        target_metadata=Base.metadata,
        # SQLite cannot ALTER most things in place; batch mode rebuilds the table instead.
        render_as_batch=connection.dialect.name == "sqlite",
        compare_type=True,
    )
    with context.begin_transaction():
        context.run_migrations()


def run_migrations_online() -> None:
    connection = context.config.attributes.get("connection")
    if connection is not None:
        _run(connection)
        return
    from repairgpt.core.config import Settings
    from repairgpt.core.db import create_db_engine

    engine = create_db_engine(Settings().sqlalchemy_url)
    try:
        with engine.begin() as own_connection:
            _run(own_connection)
    finally:
        engine.dispose()


run_migrations_online()
