"""Rejected entries: entries of a payload set aside (malformed) instead of failing their source;
the `unlisted` state of catalog offerings, in the `state` column's description.

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
STATE = (
    "active; removed (gone from its source, kept during the grace period); archived (left the active catalog, still queryable)",
    "active; removed (gone from its source, kept during the grace period); archived (left the active catalog, still queryable); in the catalog also unlisted (known only from curated sources while the provider's own API, synced, does not list it: kept and queryable, out of the active catalog; applies to openrouter, deepinfra, groq, together, fireworks, featherless, nearai, alibaba or alibaba-cn, cerebras, mistral, deepseek, xai, novita)",
)


def _state_comment(old: str, new: str) -> None:
    for table in ("source_offerings", "model_catalog"):
        with op.batch_alter_table(table) as batch:
            batch.alter_column("state", existing_type=sa.String(12), comment=new,
                               existing_comment=old)


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
    _state_comment(*STATE)


def downgrade() -> None:
    _state_comment(*reversed(STATE))
    op.drop_index("ix_rejected_entries_source", table_name="rejected_entries")
    op.drop_table("rejected_entries")
