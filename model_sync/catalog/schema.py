"""The data contract: the normalized offering, the combined catalog row, and their tables.

One list of `Field`s per table drives the SQLAlchemy table, the JSON printed by
`model-sync normalize`, the table schema shown in the Dagster UI and the README.
"""

import json
from dataclasses import dataclass
from datetime import UTC
from decimal import Decimal

import sqlalchemy as sa
from sqlalchemy.types import TypeDecorator

from model_sync.catalog.money import exact_json, format_decimal


class ExactDecimal(TypeDecorator):
    """A Decimal stored without loss: NUMERIC on PostgreSQL, decimal text on SQLite."""

    impl = sa.String(64)
    cache_ok = True

    def load_dialect_impl(self, dialect):
        if dialect.name == "postgresql":
            return dialect.type_descriptor(sa.Numeric(asdecimal=True))
        return dialect.type_descriptor(sa.String(64))

    def process_bind_param(self, value, dialect):
        if value is None:
            return None
        if dialect.name == "postgresql":
            return Decimal(value)
        return format_decimal(Decimal(value))

    def process_result_value(self, value, dialect):
        if value is None:
            return None
        return Decimal(value).normalize()


class UtcDateTime(TypeDecorator):
    """A timestamp always handed back as timezone-aware UTC, on every dialect."""

    impl = sa.DateTime(timezone=True)
    cache_ok = True

    def process_bind_param(self, value, dialect):
        if value is None:
            return None
        if value.tzinfo is None:
            value = value.replace(tzinfo=UTC)
        value = value.astimezone(UTC)
        return value if dialect.name == "postgresql" else value.replace(tzinfo=None)

    def process_result_value(self, value, dialect):
        if value is None:
            return None
        return value.replace(tzinfo=UTC) if value.tzinfo is None else value.astimezone(UTC)


class JsonList(TypeDecorator):
    """A list of strings (modalities, flags, sources), stored as compact sorted-key JSON text."""

    impl = sa.Text
    cache_ok = True

    def process_bind_param(self, value, dialect):
        return None if value is None else json.dumps(value, separators=(",", ":"))

    def process_result_value(self, value, dialect):
        return None if value is None else json.loads(value)


class JsonObject(JsonList):
    """A JSON object (source-specific extras, per-field lineage); decimals stay exact numbers."""

    cache_ok = True

    def process_bind_param(self, value, dialect):
        if value is None:
            return None
        return exact_json(value, separators=(",", ":"), sort_keys=True)

    def process_result_value(self, value, dialect):
        return None if value is None else json.loads(value, parse_float=Decimal)


@dataclass(frozen=True)
class Field:
    """One column of the contract: name, storage type, and what it means."""

    name: str
    type: object
    doc: str
    key: bool = False


def _price(name: str, what: str) -> Field:
    return Field(name, ExactDecimal(), f"{what}, USD per 1M tokens, exact; null when unpublished")


PRICE_FIELDS = ("input_price", "output_price", "cache_read_price", "cache_write_price")
CAPABILITY_FIELDS = (
    "supports_tools",
    "supports_vision",
    "supports_reasoning",
    "supports_structured_output",
)

# Fields an offering and a catalog row share: what is known about one model at one provider.
DESCRIPTIVE_FIELDS: list[Field] = [
    Field("name", sa.String(300), "display name as the source spells it"),
    Field("creator", sa.String(120), "who made the model (lab or organization), when known"),
    Field("kind", sa.String(40), "chat, completion, embedding, image_generation, ... when known"),
    Field("context_window", sa.BigInteger(), "published input context limit in tokens"),
    Field("max_output_tokens", sa.BigInteger(), "published output limit in tokens"),
    _price("input_price", "price of input (prompt) tokens"),
    _price("output_price", "price of output (completion) tokens"),
    _price("cache_read_price", "price of cached input tokens read"),
    _price("cache_write_price", "price of input tokens written to the cache"),
    Field(
        "price_flags",
        JsonList(),
        "notes on the prices: variable_price (published as -1 or negative: no fixed price), "
        "tiered (long-context tiers exist; the base tier is stored), time_of_day",
    ),
    Field("input_modalities", JsonList(), "input modalities (text, image, audio, video, file)"),
    Field("output_modalities", JsonList(), "output modalities"),
    Field("supports_tools", sa.Boolean(), "tool / function calling; null when unknown"),
    Field("supports_vision", sa.Boolean(), "image input; null when unknown"),
    Field("supports_reasoning", sa.Boolean(), "reasoning / thinking mode; null when unknown"),
    Field("supports_structured_output", sa.Boolean(), "JSON schema output; null when unknown"),
    Field("open_weights", sa.Boolean(), "weights are published; null when unknown"),
    Field("hugging_face_id", sa.String(300), "Hugging Face repository of the weights"),
    Field("family", sa.String(120), "model family as the source names it"),
    Field("release_date", sa.String(10), "release date, YYYY-MM-DD"),
    Field("deprecation_date", sa.String(10), "announced deprecation date, YYYY-MM-DD"),
    Field("status", sa.String(40), "active, deprecated, beta, ... when the source says"),
    Field("created_at", UtcDateTime(), "when the source says the entry was created"),
]

OFFERING_FIELDS: list[Field] = [
    Field("source", sa.String(40), "the source this row was read from", key=True),
    Field("source_key", sa.String(400), "the entry's key or id in the source payload", key=True),
    Field("source_provider", sa.String(120), "the provider id as the source spells it"),
    Field("provider", sa.String(120), "canonical provider id, one per real provider"),
    Field("model_id", sa.String(400), "the provider's own model id, as the source spells it"),
    *DESCRIPTIVE_FIELDS,
    Field("extra", JsonObject(), "source-specific values (benchmarks, speed, tiers, slugs)"),
    Field("fetched_at", UtcDateTime(), "when this row was fetched"),
]

# Where a stored row is in its life: kept by the store, not parsed from the payload.
LIFECYCLE_FIELDS: list[Field] = [
    Field("canonical_id", sa.String(300), "the model this offering serves, shared by every "
          "provider that serves it (see Identity)"),
    Field("state", sa.String(12), "active; removed (gone from its source, kept during the grace "
          "period); archived (left the active catalog, still queryable); in the catalog also "
          "unlisted (known only from curated sources while the provider's own API, synced, does "
          "not list it: kept and queryable, out of the active catalog; applies to openrouter, "
          "deepinfra, groq, together, fireworks, featherless, nearai, alibaba or alibaba-cn, "
          "cerebras, mistral, deepseek, xai, novita)"),
    Field("first_seen_at", UtcDateTime(), "first sync that saw it"),
    Field("last_seen_at", UtcDateTime(), "last sync that saw it changed or present (for a removed "
          "row: the last sync that still listed it)"),
    Field("removed_at", UtcDateTime(), "when it went missing from its source"),
    Field("archived_at", UtcDateTime(), "when the grace period ended"),
    Field("content_hash", sa.String(40), "hash of the content, so a sync writes only what changed"),
]

CATALOG_FIELDS: list[Field] = [
    Field("provider", sa.String(120), "canonical provider id", key=True),
    Field("model_id", sa.String(400), "the provider's own model id", key=True),
    *DESCRIPTIVE_FIELDS,
    Field("price_source", sa.String(40), "the source the four prices were taken from (as a set)"),
    Field("sources", JsonList(), "every source that describes this offering"),
    Field("field_sources", JsonObject(), "for each non-null field, the source it came from"),
    Field("updated_at", UtcDateTime(), "when the row last changed"),
]

MODEL_FIELDS: list[Field] = [
    Field("canonical_id", sa.String(300), "the model, as `canonical_id` names it", key=True),
    Field("name", sa.String(300), "display name (from the model's maker where known)"),
    Field("creator", sa.String(120), "who made the model"),
    Field("family", sa.String(120), "model family"),
    Field("release_date", sa.String(10), "earliest published release date"),
    Field("open_weights", sa.Boolean(), "weights are published"),
    Field("context_window", sa.BigInteger(), "the largest context window any provider offers"),
    _price("cheapest_input_price", "lowest input price among active offerings"),
    Field("cheapest_input_provider", sa.String(120), "who offers the cheapest input price"),
    _price("cheapest_output_price", "lowest output price among active offerings"),
    Field("cheapest_output_provider", sa.String(120), "who offers the cheapest output price"),
    Field("providers", sa.Integer(), "number of providers with an active offering"),
    Field("provider_ids", JsonList(), "those providers"),
    Field("hugging_face_id", sa.String(300), "Hugging Face repository of the weights"),
    Field("hf_downloads", sa.BigInteger(), "Hugging Face downloads (last 30 days)"),
    Field("hf_likes", sa.BigInteger(), "Hugging Face likes"),
    Field("intelligence_index", sa.Float(), "Artificial Analysis intelligence index"),
    Field("coding_index", sa.Float(), "Artificial Analysis coding index"),
    Field("agentic_index", sa.Float(), "Artificial Analysis agentic index"),
    Field("output_tokens_per_second", sa.Float(), "Artificial Analysis median output speed"),
    Field("content_hash", sa.String(40), "hash of the content, so a build writes only changes"),
    Field("updated_at", UtcDateTime(), "when the row last changed"),
]

OFFERING_COLUMNS = [f.name for f in OFFERING_FIELDS]
LIFECYCLE_COLUMNS = [f.name for f in LIFECYCLE_FIELDS]
STORED_OFFERING_COLUMNS = OFFERING_COLUMNS + LIFECYCLE_COLUMNS
CATALOG_COLUMNS = [f.name for f in CATALOG_FIELDS] + LIFECYCLE_COLUMNS
MODEL_COLUMNS = [f.name for f in MODEL_FIELDS]

metadata = sa.MetaData()


def _table(name: str, fields: list[Field], *extra: object) -> sa.Table:
    columns = [sa.Column(f.name, f.type, primary_key=f.key, comment=f.doc) for f in fields]
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
    sa.Index("ix_model_catalog_canonical", "canonical_id"),
)

models = _table("models", MODEL_FIELDS)

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
