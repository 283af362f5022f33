"""The initial catalog schema: source_offerings, model_catalog and sync_runs.

Revision ID: 0001
Revises:
Create Date: 2026-11-23
"""

from alembic import op

from model_sync.catalog.migrations.baseline import INDEXES, tables

revision = "0001"
down_revision = None
branch_labels = None
depends_on = None


def upgrade() -> None:
    for name, columns in tables().items():
        op.create_table(name, *columns)
    for index, (table, indexed) in INDEXES.items():
        op.create_index(index, table, indexed)


def downgrade() -> None:
    for index, (table, _) in INDEXES.items():
        op.drop_index(index, table_name=table)
    for name in reversed(list(tables())):
        op.drop_table(name)
