"""History and identity: lifecycle columns, the models rollup, price history and change events.

Adds to `source_offerings` and `model_catalog` the columns of an offering's life (canonical_id,
state, first/last seen, removed/archived, content hash) and creates `models`, `price_history`
and `catalog_changes`. Rows of the previous schema are kept and backfilled as active, first and
last seen when they were fetched (catalog rows: when they were built).

Revision ID: 0002
Revises: 0001
Create Date: 2026-11-23
"""

import sqlalchemy as sa
from alembic import op

revision = "0002"
down_revision = "0001"
branch_labels = None
depends_on = None

# The storage of the custom column types, frozen like in the baseline.
EXACT_DECIMAL = sa.String(64).with_variant(sa.Numeric(), "postgresql")
UTC_DATETIME = sa.DateTime(timezone=True)
CATALOG_UPDATED_AT = ("updated_at", "when the catalog was built", "when the row last changed")


def lifecycle_columns() -> list[sa.Column]:
    """The lifecycle columns added to source_offerings and model_catalog."""
    return [
        sa.Column(
            "canonical_id",
            sa.String(300),
            comment="the model this offering serves, shared by every provider that serves it (see Identity)",
        ),
        sa.Column(
            "state",
            sa.String(12),
            comment="active; removed (gone from its source, kept during the grace period); archived (left the active catalog, still queryable)",
        ),
        sa.Column("first_seen_at", UTC_DATETIME, comment="first sync that saw it"),
        sa.Column(
            "last_seen_at",
            UTC_DATETIME,
            comment="last sync that saw it changed or present (for a removed row: the last sync that still listed it)",
        ),
        sa.Column("removed_at", UTC_DATETIME, comment="when it went missing from its source"),
        sa.Column("archived_at", UTC_DATETIME, comment="when the grace period ended"),
        sa.Column(
            "content_hash",
            sa.String(40),
            comment="hash of the content, so a sync writes only what changed",
        ),
    ]


def new_tables() -> dict[str, list[sa.Column]]:
    """The tables this revision creates."""
    return {
        "models": [
            sa.Column(
                "canonical_id",
                sa.String(300),
                primary_key=True,
                comment="the model, as `canonical_id` names it",
            ),
            sa.Column(
                "name", sa.String(300), comment="display name (from the model's maker where known)"
            ),
            sa.Column("creator", sa.String(120), comment="who made the model"),
            sa.Column("family", sa.String(120), comment="model family"),
            sa.Column("release_date", sa.String(10), comment="earliest published release date"),
            sa.Column("open_weights", sa.Boolean(), comment="weights are published"),
            sa.Column(
                "context_window",
                sa.BigInteger(),
                comment="the largest context window any provider offers",
            ),
            sa.Column(
                "cheapest_input_price",
                EXACT_DECIMAL,
                comment="lowest input price among active offerings, USD per 1M tokens, exact; null when unpublished",
            ),
            sa.Column(
                "cheapest_input_provider",
                sa.String(120),
                comment="who offers the cheapest input price",
            ),
            sa.Column(
                "cheapest_output_price",
                EXACT_DECIMAL,
                comment="lowest output price among active offerings, USD per 1M tokens, exact; null when unpublished",
            ),
            sa.Column(
                "cheapest_output_provider",
                sa.String(120),
                comment="who offers the cheapest output price",
            ),
            sa.Column(
                "providers", sa.Integer(), comment="number of providers with an active offering"
            ),
            sa.Column("provider_ids", sa.Text(), comment="those providers"),
            sa.Column(
                "hugging_face_id", sa.String(300), comment="Hugging Face repository of the weights"
            ),
            sa.Column(
                "hf_downloads", sa.BigInteger(), comment="Hugging Face downloads (last 30 days)"
            ),
            sa.Column("hf_likes", sa.BigInteger(), comment="Hugging Face likes"),
            sa.Column(
                "intelligence_index", sa.Float(), comment="Artificial Analysis intelligence index"
            ),
            sa.Column("coding_index", sa.Float(), comment="Artificial Analysis coding index"),
            sa.Column("agentic_index", sa.Float(), comment="Artificial Analysis agentic index"),
            sa.Column(
                "output_tokens_per_second",
                sa.Float(),
                comment="Artificial Analysis median output speed",
            ),
            sa.Column(
                "content_hash",
                sa.String(40),
                comment="hash of the content, so a build writes only changes",
            ),
            sa.Column("updated_at", UTC_DATETIME, comment="when the row last changed"),
        ],
        "price_history": [
            sa.Column("id", sa.Integer(), primary_key=True, autoincrement=True),
            sa.Column("source", sa.String(40), nullable=False),
            sa.Column("source_key", sa.String(400), nullable=False),
            sa.Column("provider", sa.String(120)),
            sa.Column("model_id", sa.String(400)),
            sa.Column("canonical_id", sa.String(300)),
            sa.Column("input_price", EXACT_DECIMAL, comment="USD per 1M tokens"),
            sa.Column("output_price", EXACT_DECIMAL, comment="USD per 1M tokens"),
            sa.Column("cache_read_price", EXACT_DECIMAL, comment="USD per 1M tokens"),
            sa.Column("cache_write_price", EXACT_DECIMAL, comment="USD per 1M tokens"),
            sa.Column(
                "valid_from",
                UTC_DATETIME,
                comment="start of the interval; null: before the earliest date the source gives",
            ),
            sa.Column(
                "valid_to", UTC_DATETIME, comment="end of the interval; null: still in force"
            ),
            sa.Column("run_id", sa.String(64), comment="the run that recorded it"),
        ],
        "catalog_changes": [
            sa.Column("id", sa.Integer(), primary_key=True, autoincrement=True),
            sa.Column("detected_at", UTC_DATETIME, nullable=False),
            sa.Column("provider", sa.String(120)),
            sa.Column("model_id", sa.String(400)),
            sa.Column("canonical_id", sa.String(300)),
            sa.Column(
                "change",
                sa.String(20),
                nullable=False,
                comment="added, removed, price_changed, context_changed, restored, archived",
            ),
            sa.Column(
                "field", sa.String(40), comment="the changed field, for price and context changes"
            ),
            sa.Column("old_value", sa.Text()),
            sa.Column("new_value", sa.Text()),
            sa.Column("source", sa.String(40), nullable=False),
            sa.Column("source_key", sa.String(400)),
            sa.Column("run_id", sa.String(64)),
        ],
    }


NEW_INDEXES = {
    "ix_source_offerings_canonical": ("source_offerings", ["canonical_id"]),
    "ix_model_catalog_canonical": ("model_catalog", ["canonical_id"]),
    "ix_price_history_canonical": ("price_history", ["canonical_id"]),
    "ix_price_history_key": ("price_history", ["source", "source_key", "valid_to"]),
    "ix_price_history_offering": ("price_history", ["provider", "model_id"]),
    "ix_catalog_changes_detected": ("catalog_changes", ["detected_at"]),
    "ix_catalog_changes_offering": ("catalog_changes", ["provider", "model_id"]),
}


def upgrade() -> None:
    for table in ("source_offerings", "model_catalog"):
        with op.batch_alter_table(table) as batch:
            for column in lifecycle_columns():
                batch.add_column(column)
    name, old, new = CATALOG_UPDATED_AT
    with op.batch_alter_table("model_catalog") as batch:
        batch.alter_column(name, existing_type=UTC_DATETIME, comment=new, existing_comment=old)
    for table, columns in new_tables().items():
        op.create_table(table, *columns)
    for index, (table, indexed) in NEW_INDEXES.items():
        op.create_index(index, table, indexed)
    op.execute(
        "UPDATE source_offerings SET state = 'active', first_seen_at = fetched_at, "
        "last_seen_at = fetched_at"
    )
    op.execute(
        "UPDATE model_catalog SET state = 'active', first_seen_at = updated_at, "
        "last_seen_at = updated_at"
    )


def downgrade() -> None:
    for index, (table, _) in NEW_INDEXES.items():
        op.drop_index(index, table_name=table)
    for table in reversed(list(new_tables())):
        op.drop_table(table)
    name, old, new = CATALOG_UPDATED_AT
    with op.batch_alter_table("model_catalog") as batch:
        batch.alter_column(name, existing_type=UTC_DATETIME, comment=old, existing_comment=new)
    for table in ("model_catalog", "source_offerings"):
        with op.batch_alter_table(table) as batch:
            for column in reversed(lifecycle_columns()):
                batch.drop_column(column.name)
