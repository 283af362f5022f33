"""Build digests: what the last build of the catalog and of each derived table (a source's price
intervals too) read and found, so unchanged inputs are not rebuilt.

Revision ID: 0007
Revises: 0006
Create Date: 2026-11-30
"""

import sqlalchemy as sa
from alembic import op

revision = "0007"
down_revision = "0006"
branch_labels = None
depends_on = None

UTC_DATETIME = sa.DateTime(timezone=True)


def upgrade() -> None:
    op.create_table(
        "build_digests",
        sa.Column("name", sa.String(80), primary_key=True,
                  comment="what was built: model_catalog, models, price_history, prices, "
                  "prices/<source> (a source's intervals), source_disagreements"),
        sa.Column("inputs_digest", sa.String(64), nullable=False,
                  comment="SHA-256 of what the build read"),
        sa.Column("outcome", sa.Text(), comment="what the build found, JSON"),
        sa.Column("recorded_at", UTC_DATETIME, nullable=False),
    )


def downgrade() -> None:
    op.drop_table("build_digests")
