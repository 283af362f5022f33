"""Rejected entries: entries of a payload set aside (malformed) instead of failing their source.

Revision ID: 0003
Revises: 0002
Create Date: 2026-11-30
"""

import sqlalchemy as sa
from alembic import op

revision = "0003"
down_revision = "0002"
branch_labels = None
depends_on = None

UTC_DATETIME = sa.DateTime(timezone=True)


def upgrade() -> None:
    op.create_table(
        "rejected_entries",
        sa.Column("id", sa.Integer(), primary_key=True, autoincrement=True),
        sa.Column("source", sa.String(40), nullable=False),
        sa.Column("source_key", sa.String(400), comment="the entry's key or id, else #position"),
        sa.Column("reason", sa.Text(), nullable=False,
                  comment="why it was set aside, naming the field"),
        sa.Column("field", sa.String(200), comment="the field at fault, when one is"),
        sa.Column("excerpt", sa.Text(), comment="the start of the raw entry, as JSON"),
        sa.Column("run_id", sa.String(64), comment="the run whose sync rejected it"),
        sa.Column("rejected_at", UTC_DATETIME, nullable=False),
    )
    op.create_index("ix_rejected_entries_source", "rejected_entries", ["source", "rejected_at"])


def downgrade() -> None:
    op.drop_index("ix_rejected_entries_source", table_name="rejected_entries")
    op.drop_table("rejected_entries")
