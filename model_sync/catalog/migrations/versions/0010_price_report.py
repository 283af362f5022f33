"""The price report by offering: each served offering's part of the `prices` build's report
(what its prices include, how many components from which source, what was withheld), with a
hash of the intervals it was merged from, so a build merges again only the offerings whose
intervals in force changed (`model_sync.pricing.report`). The table starts empty: the first
build after the upgrade merges every offering once.

Revision ID: 0010
Revises: 0009
Create Date: 2026-12-01
"""

import sqlalchemy as sa
from alembic import op

revision = "0010"
down_revision = "0009"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "price_report",
        sa.Column("provider", sa.String(120), primary_key=True),
        sa.Column("model_id", sa.String(400), primary_key=True, comment="case-folded"),
        sa.Column("inputs_hash", sa.String(40), nullable=False,
                  comment="hash of the intervals in force it was merged from, and the code"),
        sa.Column("kinds", sa.Text, nullable=False,
                  comment="what its prices include (tiered, batch, ...), comma-separated"),
        sa.Column("components", sa.Integer, nullable=False, comment="components published"),
        sa.Column("by_source", sa.Text, nullable=False,
                  comment="components published by source, JSON"),
        sa.Column("withheld", sa.Text, comment="prices withheld and why, JSON; null: none"),
        sa.Column("contradicting", sa.Text,
                  comment="components that contradict each other, JSON; null: none"),
    )


def downgrade() -> None:
    op.drop_table("price_report")
