"""Source disagreements: each offering's field (a price component, a token limit) on which two
or more independent sources publish different values, with the catalog's choice, when it was
first and last seen, and its triage state. New and empty: the next catalog build fills it.

Revision ID: 0006
Revises: 0005
Create Date: 2026-12-01
"""

import sqlalchemy as sa
from alembic import op

revision = "0006"
down_revision = "0005"
branch_labels = None
depends_on = None

EXACT_DECIMAL = sa.String(64).with_variant(sa.Numeric(), "postgresql")
UTC_DATETIME = sa.DateTime(timezone=True)


def upgrade() -> None:
    op.create_table(
        "source_disagreements",
        sa.Column("id", sa.Integer(), primary_key=True, comment="row id"),
        sa.Column("provider", sa.String(120), comment="the offering's provider"),
        sa.Column("model_id", sa.String(400), comment="as the catalog spells it"),
        sa.Column("slot", sa.String(200),
                  comment="the field with its terms, e.g. input (batch), output (from 200000 "
                          "tokens), context_window"),
        sa.Column("field", sa.String(40),
                  comment="a price component, context_window or max_output_tokens"),
        sa.Column("mode", sa.String(12), comment="a price's mode; null for token limits"),
        sa.Column("region", sa.String(40), comment="a price's region; null: none named"),
        sa.Column("min_prompt_tokens", sa.Integer(),
                  comment="a price's long-context tier (0: base)"),
        sa.Column("window", sa.String(11), comment="a price's time of day, HH:MM-HH:MM UTC"),
        sa.Column("unit", sa.String(20),
                  comment="what a value is per (1M tokens, request, ...), or tokens"),
        sa.Column("values", sa.Text(), comment="each independent source's value, exact"),
        sa.Column("copies", sa.Text(),
                  comment="the values of entries copied from another source (not counted)"),
        sa.Column("relative_difference", EXACT_DECIMAL,
                  comment="(max - min) / min of the values; null when min is 0"),
        sa.Column("chosen_value", EXACT_DECIMAL, comment="the value the catalog publishes"),
        sa.Column("chosen_source", sa.String(40), comment="the source it was taken from"),
        sa.Column("chosen_by", sa.String(12), comment="precedence or override"),
        sa.Column("state", sa.String(12), comment="open, acknowledged or resolved"),
        sa.Column("first_seen_at", UTC_DATETIME,
                  comment="the first build that found the sources disagreeing"),
        sa.Column("last_seen_at", UTC_DATETIME,
                  comment="the last build that found the sources disagreeing"),
        sa.Column("opened_at", UTC_DATETIME,
                  comment="when it was found, or found again after it was resolved"),
        sa.Column("resolved_at", UTC_DATETIME, comment="when the sources agreed again"),
        sa.Column("acknowledged_at", UTC_DATETIME, comment="when a person acknowledged it"),
        sa.Column("note", sa.Text(), comment="why it was acknowledged"),
        sa.UniqueConstraint("provider", "model_id", "slot",
                            name="uq_source_disagreements_slot"),
    )
    op.create_index("ix_source_disagreements_state", "source_disagreements", ["state"])


def downgrade() -> None:
    op.drop_index("ix_source_disagreements_state", table_name="source_disagreements")
    op.drop_table("source_disagreements")
