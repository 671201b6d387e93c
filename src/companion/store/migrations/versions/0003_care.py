"""Alerts delivered with proof, and reminders: the notification outbox, its attempts, acknowledgement
links, and reminder occurrences with their states.

Revision ID: 0003
Revises: 0002
Create Date: 2026-11-30
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0003"
down_revision: str | None = "0002"
branch_labels: str | None = None
depends_on: str | None = None


def _user_fk(table: str) -> sa.ForeignKeyConstraint:
    return sa.ForeignKeyConstraint(
        ["user_id"], ["users.user_id"], name=f"fk_{table}_user_id", ondelete="CASCADE"
    )


def upgrade() -> None:
    op.create_table(
        "notification_jobs",
        sa.Column("id", sa.String(200), nullable=False),
        sa.Column("user_id", sa.String(200), nullable=False),
        sa.Column("alert_id", sa.String(200), nullable=False),
        sa.Column("stage", sa.Integer(), nullable=False),
        sa.Column("channel", sa.String(20), nullable=False),
        sa.Column("address", sa.String(400), nullable=False),
        sa.Column("contact", sa.String(200), nullable=True),
        sa.Column("payload", sa.JSON(), nullable=False),
        sa.Column("status", sa.String(20), nullable=False),
        sa.Column("attempts", sa.Integer(), nullable=False),
        sa.Column("next_attempt_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("lease_until", sa.DateTime(timezone=True), nullable=True),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("sent_at", sa.DateTime(timezone=True), nullable=True),
        sa.Column("last_error", sa.String(200), nullable=True),
        sa.PrimaryKeyConstraint("id", name="pk_notification_jobs"),
        sa.UniqueConstraint("alert_id", "channel", "address", name="uq_notification_jobs_alert_id"),
        _user_fk("notification_jobs"),
    )
    op.create_index("ix_notification_jobs_user_id", "notification_jobs", ["user_id"])
    op.create_index("ix_notification_jobs_alert_id", "notification_jobs", ["alert_id"])
    op.create_index("ix_notification_jobs_status", "notification_jobs", ["status", "next_attempt_at"])
    op.create_table(
        "delivery_attempts",
        sa.Column("id", sa.Integer(), autoincrement=True, nullable=False),
        sa.Column("job_id", sa.String(200), nullable=False),
        sa.Column("at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("result", sa.String(20), nullable=False),
        sa.Column("detail", sa.String(200), nullable=False),
        sa.PrimaryKeyConstraint("id", name="pk_delivery_attempts"),
        sa.ForeignKeyConstraint(
            ["job_id"], ["notification_jobs.id"], name="fk_delivery_attempts_job_id", ondelete="CASCADE"
        ),
    )
    op.create_index("ix_delivery_attempts_job_id", "delivery_attempts", ["job_id"])
    op.create_table(
        "alert_acks",
        sa.Column("token_hash", sa.String(128), nullable=False),
        sa.Column("user_id", sa.String(200), nullable=False),
        sa.Column("alert_id", sa.String(200), nullable=False),
        sa.Column("contact", sa.String(200), nullable=True),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("expires_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("used_at", sa.DateTime(timezone=True), nullable=True),
        sa.PrimaryKeyConstraint("token_hash", name="pk_alert_acks"),
        _user_fk("alert_acks"),
    )
    op.create_index("ix_alert_acks_alert_id", "alert_acks", ["alert_id"])
    op.create_table(
        "reminders",
        sa.Column("id", sa.String(200), nullable=False),
        sa.Column("user_id", sa.String(200), nullable=False),
        sa.Column("kind", sa.String(20), nullable=False),
        sa.Column("label", sa.String(200), nullable=False),
        sa.Column("local_time", sa.String(5), nullable=False),
        sa.Column("due_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("state", sa.String(20), nullable=False),
        sa.Column("delivered_at", sa.DateTime(timezone=True), nullable=True),
        sa.Column("delivered_via", sa.String(20), nullable=True),
        sa.Column("acked_at", sa.DateTime(timezone=True), nullable=True),
        sa.Column("acked_via", sa.String(20), nullable=True),
        sa.Column("snoozed_until", sa.DateTime(timezone=True), nullable=True),
        sa.Column("missed_at", sa.DateTime(timezone=True), nullable=True),
        sa.Column("updated_at", sa.DateTime(timezone=True), nullable=False),
        sa.PrimaryKeyConstraint("id", name="pk_reminders"),
        _user_fk("reminders"),
    )
    op.create_index("ix_reminders_user_id", "reminders", ["user_id", "due_at"])
    op.create_index("ix_reminders_state", "reminders", ["state", "due_at"])


def downgrade() -> None:
    op.drop_index("ix_reminders_state", table_name="reminders")
    op.drop_index("ix_reminders_user_id", table_name="reminders")
    op.drop_table("reminders")
    op.drop_index("ix_alert_acks_alert_id", table_name="alert_acks")
    op.drop_table("alert_acks")
    op.drop_index("ix_delivery_attempts_job_id", table_name="delivery_attempts")
    op.drop_table("delivery_attempts")
    op.drop_index("ix_notification_jobs_status", table_name="notification_jobs")
    op.drop_index("ix_notification_jobs_alert_id", table_name="notification_jobs")
    op.drop_index("ix_notification_jobs_user_id", table_name="notification_jobs")
    op.drop_table("notification_jobs")
