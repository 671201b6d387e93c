"""Conversations the family can look back on: one record per conversation (counts, how it ended, what
the companion did, a summary where the family allows it), its turns where the family keeps transcripts,
and the single-use links that stop a contact's digest e-mail.

Revision ID: 0007
Revises: 0006
Create Date: 2026-12-12
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0007"
down_revision: str | None = "0006"
branch_labels: str | None = None
depends_on: str | None = None


def _count(name: str) -> sa.Column[int]:
    return sa.Column(name, sa.Integer(), nullable=False)


def upgrade() -> None:
    op.create_table(
        "conversations",
        sa.Column("id", sa.String(200), nullable=False),
        sa.Column("user_id", sa.String(200), nullable=False),
        sa.Column("device_id", sa.String(200), nullable=True),
        sa.Column("records", sa.String(20), nullable=False),
        sa.Column("started_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("ended_at", sa.DateTime(timezone=True), nullable=True),
        sa.Column("updated_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("ended_how", sa.String(20), nullable=True),
        _count("connections"),
        _count("rotations"),
        _count("reconnects"),
        _count("person_turns"),
        _count("companion_turns"),
        _count("person_talk_ms"),
        _count("companion_talk_ms"),
        _count("songs"),
        _count("memories"),
        _count("alerts"),
        _count("reminders_said"),
        _count("reminders_confirmed"),
        sa.Column("summary", sa.Text(), nullable=True),
        sa.Column("summary_kind", sa.String(20), nullable=True),
        sa.Column("timeline", sa.JSON(), nullable=False),
        sa.PrimaryKeyConstraint("id", name="pk_conversations"),
        sa.CheckConstraint("records IN ('none', 'summary', 'transcript')", name="ck_conversations_records"),
    )
    op.create_index("ix_conversations_user_id", "conversations", ["user_id", "started_at"])
    op.create_table(
        "conversation_turns",
        sa.Column("conversation_id", sa.String(200), nullable=False),
        sa.Column("seq", sa.Integer(), nullable=False),
        sa.Column("user_id", sa.String(200), nullable=False),
        sa.Column("role", sa.String(20), nullable=False),
        sa.Column("at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("text", sa.Text(), nullable=False),
        sa.Column("cut", sa.Integer(), nullable=False),
        sa.PrimaryKeyConstraint("conversation_id", "seq", name="pk_conversation_turns"),
        sa.ForeignKeyConstraint(
            ["conversation_id"],
            ["conversations.id"],
            name="fk_conversation_turns_conversation_id",
            ondelete="CASCADE",
        ),
    )
    op.create_index("ix_conversation_turns_user_id", "conversation_turns", ["user_id"])
    op.create_table(
        "digest_unsubscribes",
        sa.Column("token_hash", sa.String(128), nullable=False),
        sa.Column("user_id", sa.String(200), nullable=False),
        sa.Column("contact", sa.String(200), nullable=False),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("expires_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("used_at", sa.DateTime(timezone=True), nullable=True),
        sa.PrimaryKeyConstraint("token_hash", name="pk_digest_unsubscribes"),
    )
    op.create_index("ix_digest_unsubscribes_user_id", "digest_unsubscribes", ["user_id"])


def downgrade() -> None:
    op.drop_index("ix_digest_unsubscribes_user_id", table_name="digest_unsubscribes")
    op.drop_table("digest_unsubscribes")
    op.drop_index("ix_conversation_turns_user_id", table_name="conversation_turns")
    op.drop_table("conversation_turns")
    op.drop_index("ix_conversations_user_id", table_name="conversations")
    op.drop_table("conversations")
