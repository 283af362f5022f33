"""Build inputs: each catalog row keeps a hash of what it was merged from, and each model of
the rollup a hash of what it was rolled up from, so a build merges (rolls up) again only the rows
whose inputs changed (`catalog.inputs`, `catalog.rolled`). Rows already stored have none: the
first builds after the upgrade merge and roll up every row once and give each its hash.

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


# What each table's hash covers.
COMMENTS = {
    "model_catalog": "hash of what the row was merged from (its source rows, their lifecycle "
                     "and canonical ids, the code and aliases): a build merges again only the "
                     "rows whose inputs changed",
    "models": "hash of what the model was rolled up from (its served catalog rows' content "
              "hashes, the benchmark and Hub figures joined to it, the code): a rollup rolls up "
              "again only the models whose inputs changed",
}


def upgrade() -> None:
    for table, comment in COMMENTS.items():
        with op.batch_alter_table(table) as batch:
            batch.add_column(sa.Column("inputs_hash", sa.String(40), comment=comment))


def downgrade() -> None:
    for table in reversed(COMMENTS):
        with op.batch_alter_table(table) as batch:
            batch.drop_column("inputs_hash")
