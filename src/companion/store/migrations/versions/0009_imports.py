"""What was brought over from the seed system: one row per person and source, holding for every item
imported (a section, a memory, an alert, a reminder, a conversation) a digest of each field it owns
and the version it was written as. A later import compares the source and what is stored here against
it, so that it changes only what changed at the source and never overwrites what the family edited
here since.

Revision ID: 0009
Revises: 0008
Create Date: 2026-12-20
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0009"
down_revision: str | None = "0008"
branch_labels: str | None = None
depends_on: str | None = None


def upgrade() -> None:
    op.create_table(
        "imports",
        sa.Column("user_id", sa.String(200), nullable=False),
        sa.Column("source", sa.String(64), nullable=False),
        sa.Column("items", sa.JSON(), nullable=False),
        sa.Column("imported_at", sa.DateTime(timezone=True), nullable=False),
        sa.PrimaryKeyConstraint("user_id", "source", name="pk_imports"),
    )


def downgrade() -> None:
    op.drop_table("imports")
