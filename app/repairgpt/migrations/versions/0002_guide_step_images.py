"""Guide steps carry images: a JSON list of URLs, empty for the steps that exist.

Revision ID: 0002
Revises: 0001
Create Date: 2026-11-30
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision: str = "0002"
down_revision: str | None = "0001"
branch_labels: str | None = None
depends_on: str | None = None


def upgrade() -> None:
    # batch mode: SQLite cannot alter a table in place.
    with op.batch_alter_table("guide_steps") as batch:
        batch.add_column(
            sa.Column("images", sa.JSON(), nullable=False, server_default=sa.text("'[]'"))
        )


def downgrade() -> None:
    with op.batch_alter_table("guide_steps") as batch:
        batch.drop_column("images")
