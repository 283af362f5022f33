"""Catalog inputs: each catalog row keeps a hash of what it was merged from, so a build merges
again only the rows whose source rows changed (`catalog.inputs`). Rows already stored have none:
the first build after the upgrade merges every row once and gives each its hash.

Revision ID: 0009
Revises: 0008
Create Date: 2026-11-30
"""

import sqlalchemy as sa
from alembic import op

revision = "0009"
down_revision = "0008"
branch_labels = None
depends_on = None


def upgrade() -> None:
    with op.batch_alter_table("model_catalog") as batch:
        batch.add_column(sa.Column(
            "inputs_hash", sa.String(40),
            comment="hash of what the row was merged from (its source rows, their lifecycle "
            "and canonical ids, the code and aliases): a build merges again only the rows "
            "whose inputs changed"))


def downgrade() -> None:
    with op.batch_alter_table("model_catalog") as batch:
        batch.drop_column("inputs_hash")
