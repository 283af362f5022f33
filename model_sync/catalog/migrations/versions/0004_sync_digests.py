"""Sync digests: what the last clean sync of each source read (a digest of its payload) and left
(a digest of its stored rows), so an unchanged payload is neither parsed nor diffed again.

Revision ID: 0004
Revises: 0003
Create Date: 2026-11-30
"""

import sqlalchemy as sa
from alembic import op

revision = "0004"
down_revision = "0003"
branch_labels = None
depends_on = None

UTC_DATETIME = sa.DateTime(timezone=True)


def upgrade() -> None:
    op.create_table(
        "sync_digests",
        sa.Column("source", sa.String(40), primary_key=True),
        sa.Column("payload_digest", sa.String(64), nullable=False,
                  comment="SHA-256 of what the sync read: its pages, query, region and day"),
        sa.Column("rows_digest", sa.String(64), nullable=False,
                  comment="SHA-256 of the keys, states and content hashes it left stored"),
        sa.Column("rows", sa.Integer(), nullable=False, comment="the rows it listed"),
        sa.Column("not_models", sa.Text(), comment="the entries it skipped as not models, JSON"),
        sa.Column("recorded_at", UTC_DATETIME, nullable=False),
    )


def downgrade() -> None:
    op.drop_table("sync_digests")
