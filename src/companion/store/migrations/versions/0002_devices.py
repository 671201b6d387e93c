"""Devices: paired tablets, their pairing codes and single-use client secrets.

Revision ID: 0002
Revises: 0001
Create Date: 2025-06-01
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0002"
down_revision: str | None = "0001"
branch_labels: str | None = None
depends_on: str | None = None


def upgrade() -> None:
    op.create_table(
        "devices",
        sa.Column("id", sa.String(200), nullable=False),
        sa.Column("user_id", sa.String(200), nullable=False),
        sa.Column("label", sa.String(200), nullable=False),
        sa.Column("secret_hash", sa.String(128), nullable=False),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("last_seen_at", sa.DateTime(timezone=True), nullable=False),
        sa.PrimaryKeyConstraint("id", name="pk_devices"),
        sa.UniqueConstraint("secret_hash", name="uq_devices_secret_hash"),
        sa.ForeignKeyConstraint(
            ["user_id"], ["users.user_id"], name="fk_devices_user_id", ondelete="CASCADE"
        ),
    )
    op.create_index("ix_devices_user_id", "devices", ["user_id"])
    op.create_table(
        "pairing_codes",
        sa.Column("code_hash", sa.String(128), nullable=False),
        sa.Column("user_id", sa.String(200), nullable=False),
        sa.Column("created_by", sa.String(200), nullable=True),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("expires_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("used_at", sa.DateTime(timezone=True), nullable=True),
        sa.PrimaryKeyConstraint("code_hash", name="pk_pairing_codes"),
        sa.ForeignKeyConstraint(
            ["user_id"], ["users.user_id"], name="fk_pairing_codes_user_id", ondelete="CASCADE"
        ),
    )
    op.create_table(
        "client_secrets",
        sa.Column("secret_hash", sa.String(128), nullable=False),
        sa.Column("device_id", sa.String(200), nullable=False),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("expires_at", sa.DateTime(timezone=True), nullable=False),
        sa.PrimaryKeyConstraint("secret_hash", name="pk_client_secrets"),
        sa.ForeignKeyConstraint(
            ["device_id"], ["devices.id"], name="fk_client_secrets_device_id", ondelete="CASCADE"
        ),
    )
    op.create_index("ix_client_secrets_device_id", "client_secrets", ["device_id"])


def downgrade() -> None:
    op.drop_index("ix_client_secrets_device_id", table_name="client_secrets")
    op.drop_table("client_secrets")
    op.drop_table("pairing_codes")
    op.drop_index("ix_devices_user_id", table_name="devices")
    op.drop_table("devices")
