"""Documents of one kind across every person (the escalation scan's open alerts), by index rather
than by asking each person in turn.

Revision ID: 0005
Revises: 0004
Create Date: 2026-11-30
"""

from __future__ import annotations

from alembic import op

revision = "0005"
down_revision: str | None = "0004"
branch_labels: str | None = None
depends_on: str | None = None


def upgrade() -> None:
    op.create_index("ix_documents_kind", "documents", ["kind", "user_id"])


def downgrade() -> None:
    op.drop_index("ix_documents_kind", table_name="documents")
