"""Row stamps: a token per table (per source, for the tables a source sync writes), renewed with
every write to its rows (`model_sync.catalog.stamps`). A build compares stamps, not a digest of
every row, to know whether what it reads is as the last one read it.

Revision ID: 0008
Revises: 0007
Create Date: 2026-11-30
"""

import uuid

import sqlalchemy as sa
from alembic import op

revision = "0008"
down_revision = "0007"
branch_labels = None
depends_on = None

# The stamped tables; those whose stamps are per source (`<table>/<source>`). Rows already
# stored get a stamp each, so a build after the upgrade has one to record.
TABLES = ("source_offerings", "model_catalog", "models", "price_history", "prices")
PER_SOURCE = ("source_offerings", "price_history", "prices")


def upgrade() -> None:
    op.create_table(
        "row_stamps",
        sa.Column("name", sa.String(80), primary_key=True,
                  comment="a stamped table, or <table>/<source> for one stamped by source"),
        sa.Column("stamp", sa.String(32), nullable=False,
                  comment="renewed with every write to its rows"),
    )
    conn = op.get_bind()
    names = [*(t for t in TABLES if t not in PER_SOURCE),
             *(f"{table}/{source}" for table in PER_SOURCE
               for source in conn.execute(sa.text(f"SELECT DISTINCT source FROM {table}"))
               .scalars() if source is not None)]
    stamps = sa.table("row_stamps", sa.column("name"), sa.column("stamp"))
    if names:
        op.bulk_insert(stamps, [{"name": name, "stamp": uuid.uuid4().hex} for name in names])


def downgrade() -> None:
    op.drop_table("row_stamps")
