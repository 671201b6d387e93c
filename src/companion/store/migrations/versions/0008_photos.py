"""The family's photos: each photo's pixels (a display copy, a thumbnail, optionally the full-size
image; all without metadata), how many bytes it holds, and when it was last shown. What the family
says about a photo is a ``photo`` document (same id), so it needs no table of its own.

Revision ID: 0008
Revises: 0007
Create Date: 2026-12-14
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0008"
down_revision: str | None = "0007"
branch_labels: str | None = None
depends_on: str | None = None


def upgrade() -> None:
    op.create_table(
        "photos",
        sa.Column("id", sa.String(200), nullable=False),
        sa.Column("user_id", sa.String(200), nullable=False),
        sa.Column("media_type", sa.String(32), nullable=False),
        sa.Column("width", sa.Integer(), nullable=False),
        sa.Column("height", sa.Integer(), nullable=False),
        sa.Column("display", sa.LargeBinary(), nullable=False),
        sa.Column("thumb", sa.LargeBinary(), nullable=False),
        sa.Column("original", sa.LargeBinary(), nullable=True),
        sa.Column("stored_bytes", sa.Integer(), nullable=False),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("last_shown_at", sa.DateTime(timezone=True), nullable=True),
        sa.Column("shown_count", sa.Integer(), nullable=False),
        sa.PrimaryKeyConstraint("id", name="pk_photos"),
        sa.CheckConstraint("stored_bytes >= 0", name="ck_photos_stored_bytes_positive"),
    )
    op.create_index("ix_photos_user_id", "photos", ["user_id"])


def downgrade() -> None:
    op.drop_index("ix_photos_user_id", table_name="photos")
    op.drop_table("photos")
