"""Initial schema: devices, guides and their steps, chat sessions and messages, uploads.

Revision ID: 0001
Revises:
Create Date: 2026-11-28
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision: str = "0001"
down_revision: str | None = None
branch_labels: str | None = None
depends_on: str | None = None


def _timestamp(name: str, *, nullable: bool = False) -> sa.Column[object]:
    return sa.Column(name, sa.DateTime(timezone=True), nullable=nullable)


def _create_devices() -> None:
    op.create_table(
        "devices",
        sa.Column("id", sa.Integer(), primary_key=True),
        sa.Column("slug", sa.String(200), nullable=False),
        sa.Column("name", sa.String(300), nullable=False),
        sa.Column("category", sa.String(100)),
        sa.Column("brand", sa.String(100)),
        sa.Column("model", sa.String(100)),
        sa.Column("aliases", sa.JSON(), nullable=False),
        _timestamp("created_at"),
        _timestamp("updated_at"),
        sa.UniqueConstraint("slug", name="uq_devices_slug"),
    )


def _create_guides() -> None:
    op.create_table(
        "repair_guides",
        sa.Column("id", sa.Integer(), primary_key=True),
        sa.Column(
            "device_id",
            sa.Integer(),
            sa.ForeignKey("devices.id", ondelete="CASCADE", name="fk_repair_guides_device"),
            nullable=False,
        ),
        sa.Column("title", sa.String(500), nullable=False),
        sa.Column("summary", sa.Text(), nullable=False),
        sa.Column("difficulty", sa.String(20)),
        sa.Column("time_minutes", sa.Integer()),
        sa.Column("tools", sa.JSON(), nullable=False),
        sa.Column("parts", sa.JSON(), nullable=False),
        sa.Column("safety_warnings", sa.JSON(), nullable=False),
        sa.Column("keywords", sa.JSON(), nullable=False),
        sa.Column("language", sa.String(8), nullable=False),
        sa.Column("source", sa.String(50), nullable=False),
        sa.Column("source_id", sa.String(200)),
        sa.Column("source_url", sa.String(1000)),
        sa.Column("license", sa.String(100)),
        sa.Column("is_active", sa.Boolean(), nullable=False),
        _timestamp("created_at"),
        _timestamp("updated_at"),
        sa.UniqueConstraint("source", "source_id", name="uq_repair_guides_source"),
    )
    op.create_index(
        "ix_repair_guides_device_difficulty_active",
        "repair_guides",
        ["device_id", "difficulty", "is_active"],
    )
    op.create_table(
        "guide_steps",
        sa.Column("id", sa.Integer(), primary_key=True),
        sa.Column(
            "guide_id",
            sa.Integer(),
            sa.ForeignKey("repair_guides.id", ondelete="CASCADE", name="fk_guide_steps_guide"),
            nullable=False,
        ),
        sa.Column("position", sa.Integer(), nullable=False),
        sa.Column("title", sa.String(500), nullable=False),
        sa.Column("text", sa.Text(), nullable=False),
        sa.UniqueConstraint("guide_id", "position", name="uq_guide_steps_position"),
    )


def _create_chat() -> None:
    op.create_table(
        "chat_sessions",
        sa.Column("id", sa.String(32), primary_key=True),
        sa.Column("token_hash", sa.String(64), nullable=False),
        sa.Column("title", sa.String(200)),
        _timestamp("created_at"),
        _timestamp("last_active_at"),
        sa.UniqueConstraint("token_hash", name="uq_chat_sessions_token_hash"),
    )
    op.create_table(
        "chat_messages",
        sa.Column("id", sa.Integer(), primary_key=True),
        sa.Column(
            "session_id",
            sa.String(32),
            sa.ForeignKey("chat_sessions.id", ondelete="CASCADE", name="fk_chat_messages_session"),
            nullable=False,
        ),
        sa.Column("role", sa.String(16), nullable=False),
        sa.Column("content", sa.Text(), nullable=False),
        sa.Column("citations", sa.JSON(), nullable=False),
        sa.Column("language", sa.String(8)),
        sa.Column("engine", sa.String(32)),
        _timestamp("created_at"),
    )
    # Chat history is read newest-first per session; retention scans by age.
    op.create_index(
        "ix_chat_messages_session_created",
        "chat_messages",
        ["session_id", sa.text("created_at DESC")],
    )
    op.create_index("ix_chat_messages_created_at", "chat_messages", ["created_at"])


def _create_uploads() -> None:
    op.create_table(
        "uploads",
        sa.Column("id", sa.String(32), primary_key=True),
        sa.Column(
            "session_id",
            sa.String(32),
            sa.ForeignKey("chat_sessions.id", ondelete="SET NULL", name="fk_uploads_session"),
        ),
        sa.Column("filename", sa.String(255)),
        sa.Column("content_type", sa.String(100), nullable=False),
        sa.Column("size_bytes", sa.Integer(), nullable=False),
        sa.Column("sha256", sa.String(64), nullable=False),
        sa.Column("storage", sa.String(16), nullable=False),
        sa.Column("location", sa.String(1000), nullable=False),
        _timestamp("created_at"),
    )
    op.create_index("ix_uploads_session_id", "uploads", ["session_id"])


def upgrade() -> None:
    _create_devices()
    _create_guides()
    _create_chat()
    _create_uploads()


def downgrade() -> None:
    op.drop_index("ix_uploads_session_id", table_name="uploads")
    op.drop_table("uploads")
    op.drop_index("ix_chat_messages_created_at", table_name="chat_messages")
    op.drop_index("ix_chat_messages_session_created", table_name="chat_messages")
    op.drop_table("chat_messages")
    op.drop_table("chat_sessions")
    op.drop_table("guide_steps")
    op.drop_index("ix_repair_guides_device_difficulty_active", table_name="repair_guides")
    op.drop_table("repair_guides")
    op.drop_table("devices")
