"""The catalog's tables in SQLAlchemy: built from the contract's field lists (`contract.py`),
plus the history, run and rejection tables and the column types that keep values exact.
"""

import sqlalchemy as sa

from model_sync.catalog.column_types import ExactDecimal, JsonList, JsonObject, UtcDateTime
from model_sync.catalog.contract import (
    CAPABILITY_FIELDS,
    CATALOG_COLUMNS,
    CATALOG_FIELDS,
    DESCRIPTIVE_FIELDS,
    DISAGREEMENT_FIELDS,
    LIFECYCLE_COLUMNS,
    LIFECYCLE_FIELDS,
    MODEL_COLUMNS,
    MODEL_FIELDS,
    OFFERING_COLUMNS,
    OFFERING_FIELDS,
    PRICE_FIELDS,
    STORED_OFFERING_COLUMNS,
    Field,
)

# The contract's names stay importable from here, as before the contract had its own module.
__all__ = [
    "CAPABILITY_FIELDS", "CATALOG_COLUMNS", "CATALOG_FIELDS", "DESCRIPTIVE_FIELDS",
    "LIFECYCLE_COLUMNS", "LIFECYCLE_FIELDS", "MODEL_COLUMNS", "MODEL_FIELDS", "OFFERING_COLUMNS",
    "OFFERING_FIELDS", "PRICE_FIELDS", "STORED_OFFERING_COLUMNS", "ExactDecimal", "Field",
    "JsonList", "JsonObject", "UtcDateTime", "build_digests", "catalog_changes", "column_type",
    "metadata", "model_catalog", "models", "price_history", "price_report", "prices",
    "rejected_entries", "rejected_prices", "row_stamps", "source_disagreements",
    "source_offerings", "sync_digests", "sync_runs",
]


_TYPES = {
    "decimal": ExactDecimal,
    "bigint": sa.BigInteger,
    "int": sa.Integer,
    "bool": sa.Boolean,
    "float": sa.Float,
    "timestamp": UtcDateTime,
    "json_list": JsonList,
    "json_object": JsonObject,
}


def column_type(field: Field) -> sa.types.TypeEngine:
    """The storage type of a contract field: text of its length (else unbounded), or its tag's."""
    if field.type == "text":
        return sa.String(field.length) if field.length else sa.Text()
    return _TYPES[field.type]()


metadata = sa.MetaData()


def _table(name: str, fields: list[Field],
           *extra: sa.Column | sa.Index | sa.UniqueConstraint) -> sa.Table:
    columns = [sa.Column(f.name, column_type(f), primary_key=f.key, comment=f.doc)
               for f in fields]
    return sa.Table(name, metadata, *columns, *extra)


source_offerings = _table(
    "source_offerings",
    OFFERING_FIELDS + LIFECYCLE_FIELDS,
    sa.Index("ix_source_offerings_provider_model", "provider", "model_id"),
    sa.Index("ix_source_offerings_canonical", "canonical_id"),
)

model_catalog = _table(
    "model_catalog",
    CATALOG_FIELDS + LIFECYCLE_FIELDS,
    # The build's own bookkeeping, not part of a row's content: nothing downstream reads it.
    sa.Column("inputs_hash", sa.String(40), comment="hash of what the row was merged from (its "
              "source rows, their lifecycle and canonical ids, the code and aliases): a build "
              "merges again only the rows whose inputs changed"),
    sa.Index("ix_model_catalog_canonical", "canonical_id"),
)

models = _table(
    "models",
    MODEL_FIELDS,
    sa.Column("inputs_hash", sa.String(40), comment="hash of what the model was rolled up from "
              "(its served catalog rows' content hashes, the benchmark and Hub figures joined "
              "to it, the code): a rollup rolls up again only the models whose inputs changed"),
)

sync_runs = sa.Table(
    "sync_runs",
    metadata,
    sa.Column("id", sa.Integer, primary_key=True, autoincrement=True),
    sa.Column("run_id", sa.String(64), comment="Dagster run id"),
    sa.Column("source", sa.String(40), nullable=False, comment="source name, or model_catalog"),
    sa.Column("started_at", UtcDateTime(), nullable=False),
    sa.Column("finished_at", UtcDateTime()),
    sa.Column("status", sa.String(16), nullable=False, comment="success, failed or blocked"),
    sa.Column("rows_fetched", sa.Integer, comment="rows parsed from the payload"),
    sa.Column("rows_inserted", sa.Integer, comment="rows new since the last good sync"),
    sa.Column("rows_updated", sa.Integer, comment="rows whose content changed"),
    sa.Column("rows_removed", sa.Integer, comment="rows gone since the last good sync"),
    sa.Column("rows_repriced", sa.Integer, comment="rows whose prices changed"),
    sa.Column("error", sa.Text, comment="what went wrong, for failed and blocked syncs"),
    sa.Index("ix_sync_runs_source_started", "source", "started_at"),
)

price_history = sa.Table(
    "price_history",
    metadata,
    sa.Column("id", sa.Integer, primary_key=True, autoincrement=True),
    sa.Column("source", sa.String(40), nullable=False),
    sa.Column("source_key", sa.String(400), nullable=False),
    sa.Column("provider", sa.String(120)),
    sa.Column("model_id", sa.String(400)),
    sa.Column("canonical_id", sa.String(300)),
    *(sa.Column(name, ExactDecimal(), comment="USD per 1M tokens") for name in PRICE_FIELDS),
    sa.Column("valid_from", UtcDateTime(), comment="start of the interval; null: before the "
              "earliest date the source gives"),
    sa.Column("valid_to", UtcDateTime(), comment="end of the interval; null: still in force"),
    sa.Column("run_id", sa.String(64), comment="the run that recorded it"),
    sa.Index("ix_price_history_key", "source", "source_key", "valid_to"),
    sa.Index("ix_price_history_offering", "provider", "model_id"),
    sa.Index("ix_price_history_canonical", "canonical_id"),
)

catalog_changes = sa.Table(
    "catalog_changes",
    metadata,
    sa.Column("id", sa.Integer, primary_key=True, autoincrement=True),
    sa.Column("detected_at", UtcDateTime(), nullable=False),
    sa.Column("provider", sa.String(120)),
    sa.Column("model_id", sa.String(400)),
    sa.Column("canonical_id", sa.String(300)),
    sa.Column("change", sa.String(20), nullable=False, comment="added, removed, price_changed, "
              "context_changed, restored, archived"),
    sa.Column("field", sa.String(40), comment="the changed field, for price and context changes"),
    sa.Column("old_value", sa.Text),
    sa.Column("new_value", sa.Text),
    sa.Column("source", sa.String(40), nullable=False),
    sa.Column("source_key", sa.String(400)),
    sa.Column("run_id", sa.String(64)),
    sa.Index("ix_catalog_changes_detected", "detected_at"),
    sa.Index("ix_catalog_changes_offering", "provider", "model_id"),
)

rejected_entries = sa.Table(
    "rejected_entries",
    metadata,
    sa.Column("id", sa.Integer, primary_key=True, autoincrement=True),
    sa.Column("source", sa.String(40), nullable=False),
    sa.Column("source_key", sa.String(400), comment="the entry's key or id, else #position"),
    sa.Column("reason", sa.Text, nullable=False, comment="why it was set aside, naming the field"),
    sa.Column("field", sa.String(200), comment="the field at fault, when one is"),
    sa.Column("excerpt", sa.Text, comment="the start of the raw entry, as JSON"),
    sa.Column("run_id", sa.String(64), comment="the run whose sync rejected it"),
    sa.Column("rejected_at", UtcDateTime(), nullable=False),
    sa.Index("ix_rejected_entries_source", "source", "rejected_at"),
)

sync_digests = sa.Table(
    "sync_digests",
    metadata,
    sa.Column("source", sa.String(40), primary_key=True),
    sa.Column("payload_digest", sa.String(64), nullable=False,
              comment="SHA-256 of what the sync read: its pages, query, region and day"),
    sa.Column("rows_digest", sa.String(64), nullable=False,
              comment="SHA-256 of the keys, states and content hashes it left stored"),
    sa.Column("rows", sa.Integer, nullable=False, comment="the rows it listed"),
    sa.Column("not_models", sa.Text, comment="the entries it skipped as not models, JSON"),
    sa.Column("recorded_at", UtcDateTime(), nullable=False),
)

build_digests = sa.Table(
    "build_digests",
    metadata,
    sa.Column("name", sa.String(80), primary_key=True,
              comment="what was built: model_catalog, models, price_history, prices, "
              "prices/<source> (a source's intervals), source_disagreements"),
    sa.Column("inputs_digest", sa.String(64), nullable=False,
              comment="SHA-256 of what the build read"),
    sa.Column("outcome", sa.Text, comment="what the build found, JSON"),
    sa.Column("recorded_at", UtcDateTime(), nullable=False),
)

# Each served offering's part of the `prices` build's report, with the hash of the intervals it
# was merged from: a build merges again only the offerings whose intervals in force changed.
price_report = sa.Table(
    "price_report",
    metadata,
    sa.Column("provider", sa.String(120), primary_key=True),
    sa.Column("model_id", sa.String(400), primary_key=True, comment="case-folded"),
    sa.Column("inputs_hash", sa.String(40), nullable=False,
              comment="hash of the intervals in force it was merged from, and the code"),
    sa.Column("kinds", sa.Text, nullable=False,
              comment="what its prices include (tiered, batch, ...), comma-separated"),
    sa.Column("components", sa.Integer, nullable=False, comment="components published"),
    sa.Column("by_source", sa.Text, nullable=False,
              comment="components published by source, JSON"),
    sa.Column("withheld", sa.Text, comment="prices withheld and why, JSON; null: none"),
    sa.Column("contradicting", sa.Text,
              comment="components that contradict each other, JSON; null: none"),
)

# A token per table (per source, for the tables a source sync writes) renewed with every write
# to its rows (`stamps`): a build compares stamps, not a digest of every row.
row_stamps = sa.Table(
    "row_stamps",
    metadata,
    sa.Column("name", sa.String(80), primary_key=True,
              comment="a stamped table, or <table>/<source> for one stamped by source"),
    sa.Column("stamp", sa.String(32), nullable=False,
              comment="renewed with every write to its rows"),
)

prices = sa.Table(
    "prices",
    metadata,
    sa.Column("id", sa.Integer, primary_key=True, autoincrement=True),
    sa.Column("source", sa.String(40), nullable=False),
    sa.Column("source_key", sa.String(400), nullable=False),
    sa.Column("provider", sa.String(120)),
    sa.Column("model_id", sa.String(400)),
    sa.Column("component", sa.String(40), nullable=False, comment="what is charged: input, "
              "output, cache_read, ... (the price model's vocabulary)"),
    sa.Column("unit", sa.String(20), nullable=False, comment="what the price is per: 1M "
              "tokens, request, 1k searches, image, second, ..."),
    sa.Column("mode", sa.String(12), nullable=False, comment="standard, batch, flex, priority "
              "or fast"),
    sa.Column("region", sa.String(40), comment="null: no region named (the default price)"),
    sa.Column("min_prompt_tokens", sa.Integer, nullable=False, comment="a long-context tier: "
              "the price applies when the prompt has at least this many tokens (0: base)"),
    sa.Column("window", sa.String(11), comment="time of day it applies, HH:MM-HH:MM UTC; "
              "null: all day"),
    sa.Column("price", ExactDecimal(), nullable=False, comment="USD per unit, exact"),
    sa.Column("valid_from", UtcDateTime(), comment="start of the interval; null: before the "
              "earliest date the source gives"),
    sa.Column("valid_to", UtcDateTime(), comment="end of the interval; null: still in force"),
    sa.Column("run_id", sa.String(64), comment="the run that recorded it"),
    sa.Index("ix_prices_key", "source", "source_key", "valid_to"),
    sa.Index("ix_prices_offering", "provider", "model_id"),
)

rejected_prices = sa.Table(
    "rejected_prices",
    metadata,
    sa.Column("id", sa.Integer, primary_key=True, autoincrement=True),
    sa.Column("source", sa.String(40), nullable=False),
    sa.Column("source_key", sa.String(400), comment="the entry whose price it is"),
    sa.Column("field", sa.String(200), comment="the published price field"),
    sa.Column("reason", sa.Text, nullable=False, comment="why the price model has no place "
              "for it"),
    sa.Column("excerpt", sa.Text, comment="the published value, as JSON"),
    sa.Column("run_id", sa.String(64), comment="the run whose sync set it aside"),
    sa.Column("rejected_at", UtcDateTime(), nullable=False),
    sa.Index("ix_rejected_prices_source", "source"),
)

source_disagreements = _table(
    "source_disagreements",
    DISAGREEMENT_FIELDS,
    sa.UniqueConstraint("provider", "model_id", "slot", name="uq_source_disagreements_slot"),
    sa.Index("ix_source_disagreements_state", "state"),
)
