"""Price components: every price a source publishes for an offering (`source_offerings.prices`),
their validity intervals (`prices`), and the published prices that have no place in the price
model (`rejected_prices`). Rows of the previous schema are kept; their components arrive with
their source's next sync.

Revision ID: 0005
Revises: 0004
Create Date: 2026-11-30
"""

import sqlalchemy as sa
from alembic import op

revision = "0005"
down_revision = "0004"
branch_labels = None
depends_on = None

EXACT_DECIMAL = sa.String(64).with_variant(sa.Numeric(), "postgresql")
UTC_DATETIME = sa.DateTime(timezone=True)
PRICES_COMMENT = ("every price component the source publishes for it (see the price model): "
                  "component, unit, mode, region, tier, time of day, dates, exact price")


def upgrade() -> None:
    with op.batch_alter_table("source_offerings") as batch:
        batch.add_column(sa.Column("prices", sa.Text(), comment=PRICES_COMMENT))
    op.create_table(
        "prices",
        sa.Column("id", sa.Integer(), primary_key=True, autoincrement=True),
        sa.Column("source", sa.String(40), nullable=False),
        sa.Column("source_key", sa.String(400), nullable=False),
        sa.Column("provider", sa.String(120)),
        sa.Column("model_id", sa.String(400)),
        sa.Column("component", sa.String(40), nullable=False,
                  comment="what is charged: input, output, cache_read, ... (the price model's "
                          "vocabulary)"),
        sa.Column("unit", sa.String(20), nullable=False,
                  comment="what the price is per: 1M tokens, request, 1k searches, image, "
                          "second, ..."),
        sa.Column("mode", sa.String(12), nullable=False,
                  comment="standard, batch, flex, priority or fast"),
        sa.Column("region", sa.String(40), comment="null: no region named (the default price)"),
        sa.Column("min_prompt_tokens", sa.Integer(), nullable=False,
                  comment="a long-context tier: the price applies when the prompt has at least "
                          "this many tokens (0: base)"),
        sa.Column("window", sa.String(11),
                  comment="time of day it applies, HH:MM-HH:MM UTC; null: all day"),
        sa.Column("price", EXACT_DECIMAL, nullable=False, comment="USD per unit, exact"),
        sa.Column("valid_from", UTC_DATETIME,
                  comment="start of the interval; null: before the earliest date the source "
                          "gives"),
        sa.Column("valid_to", UTC_DATETIME, comment="end of the interval; null: still in force"),
        sa.Column("run_id", sa.String(64), comment="the run that recorded it"),
    )
    op.create_index("ix_prices_key", "prices", ["source", "source_key", "valid_to"])
    op.create_index("ix_prices_offering", "prices", ["provider", "model_id"])
    op.create_table(
        "rejected_prices",
        sa.Column("id", sa.Integer(), primary_key=True, autoincrement=True),
        sa.Column("source", sa.String(40), nullable=False),
        sa.Column("source_key", sa.String(400), comment="the entry whose price it is"),
        sa.Column("field", sa.String(200), comment="the published price field"),
        sa.Column("reason", sa.Text(), nullable=False,
                  comment="why the price model has no place for it"),
        sa.Column("excerpt", sa.Text(), comment="the published value, as JSON"),
        sa.Column("run_id", sa.String(64), comment="the run whose sync set it aside"),
        sa.Column("rejected_at", UTC_DATETIME, nullable=False),
    )
    op.create_index("ix_rejected_prices_source", "rejected_prices", ["source"])


def downgrade() -> None:
    op.drop_index("ix_rejected_prices_source", table_name="rejected_prices")
    op.drop_table("rejected_prices")
    op.drop_index("ix_prices_offering", table_name="prices")
    op.drop_index("ix_prices_key", table_name="prices")
    op.drop_table("prices")
    with op.batch_alter_table("source_offerings") as batch:
        batch.drop_column("prices")
