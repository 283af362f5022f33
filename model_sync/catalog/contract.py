"""The data contract: the normalized offering, the combined catalog row and the models rollup.

One list of `Field`s per table, each with a plain type tag, drives the SQLAlchemy tables
(`schema.py`), the JSON printed by `model-sync normalize`, the table schema shown in the Dagster
UI and the README; the `TypedDict`s give the same rows to the type checker. No storage here.
"""

from dataclasses import dataclass
from datetime import datetime
from decimal import Decimal
from typing import Any, Literal, NotRequired, TypedDict

TypeTag = Literal["text", "decimal", "bigint", "int", "bool", "float", "timestamp", "json_list",
                  "json_object"]
# What a value of each tag is in Python (null aside); timestamps are timezone-aware UTC.
VALUE_TYPES: dict[str, type] = {
    "text": str, "decimal": Decimal, "bigint": int, "int": int, "bool": bool, "float": float,
    "timestamp": datetime, "json_list": list, "json_object": dict,
}

# The `state` of a stored offering or catalog row; `unlisted` is for catalog rows only.
ACTIVE, REMOVED, ARCHIVED, UNLISTED = "active", "removed", "archived", "unlisted"


@dataclass(frozen=True)
class Field:
    """One column of the contract: name, type tag, what it means; `length` bounds a text."""

    name: str
    type: TypeTag
    doc: str
    key: bool = False
    length: int | None = None


def _text(name: str, length: int, doc: str, key: bool = False) -> Field:
    return Field(name, "text", doc, key=key, length=length)


def _price(name: str, what: str) -> Field:
    return Field(name, "decimal", f"{what}, USD per 1M tokens, exact; null when unpublished")


PriceField = Literal["input_price", "output_price", "cache_read_price", "cache_write_price"]
PRICE_FIELDS: tuple[PriceField, ...] = (
    "input_price", "output_price", "cache_read_price", "cache_write_price")
CAPABILITY_FIELDS = (
    "supports_tools",
    "supports_vision",
    "supports_reasoning",
    "supports_structured_output",
)

# Fields an offering and a catalog row share: what is known about one model at one provider.
DESCRIPTIVE_FIELDS: list[Field] = [
    _text("name", 300, "display name as the source spells it"),
    _text("creator", 120, "who made the model (lab or organization), when known"),
    _text("kind", 40, "chat, completion, embedding, image_generation, ... when known"),
    Field("context_window", "bigint", "published input context limit in tokens"),
    Field("max_output_tokens", "bigint", "published output limit in tokens"),
    _price("input_price", "price of input (prompt) tokens"),
    _price("output_price", "price of output (completion) tokens"),
    _price("cache_read_price", "price of cached input tokens read"),
    _price("cache_write_price", "price of input tokens written to the cache"),
    Field(
        "price_flags",
        "json_list",
        "notes on the prices: variable_price (published as -1 or negative: no fixed price), "
        "tiered (long-context tiers exist; the base tier is stored), time_of_day",
    ),
    Field("input_modalities", "json_list", "input modalities (text, image, audio, video, file)"),
    Field("output_modalities", "json_list", "output modalities"),
    Field("supports_tools", "bool", "tool / function calling; null when unknown"),
    Field("supports_vision", "bool", "image input; null when unknown"),
    Field("supports_reasoning", "bool", "reasoning / thinking mode; null when unknown"),
    Field("supports_structured_output", "bool", "JSON schema output; null when unknown"),
    Field("open_weights", "bool", "weights are published; null when unknown"),
    _text("hugging_face_id", 300, "Hugging Face repository of the weights"),
    _text("family", 120, "model family as the source names it"),
    _text("release_date", 10, "release date, YYYY-MM-DD"),
    _text("deprecation_date", 10, "announced deprecation date, YYYY-MM-DD"),
    _text("status", 40, "active, deprecated, beta, ... when the source says"),
    Field("created_at", "timestamp", "when the source says the entry was created"),
]

OFFERING_FIELDS: list[Field] = [
    _text("source", 40, "the source this row was read from", key=True),
    _text("source_key", 400, "the entry's key or id in the source payload", key=True),
    _text("source_provider", 120, "the provider id as the source spells it"),
    _text("provider", 120, "canonical provider id, one per real provider"),
    _text("model_id", 400, "the provider's own model id, as the source spells it"),
    *DESCRIPTIVE_FIELDS,
    Field("prices", "json_list", "every price component the source publishes for it (see the "
          "price model): component, unit, mode, region, tier, time of day, dates, exact price"),
    Field("extra", "json_object", "source-specific values (benchmarks, speed, tiers, slugs)"),
    Field("fetched_at", "timestamp", "when this row was fetched"),
]

# Where a stored row is in its life: kept by the store, not parsed from the payload.
LIFECYCLE_FIELDS: list[Field] = [
    _text("canonical_id", 300, "the model this offering serves, shared by every "
          "provider that serves it (see Identity)"),
    _text("state", 12, "active; removed (gone from its source, kept during the grace "
          "period); archived (left the active catalog, still queryable); in the catalog also "
          "unlisted (known only from curated sources while the provider's own API, synced, does "
          "not list it: kept and queryable, out of the active catalog; applies to openrouter, "
          "deepinfra, groq, together, fireworks, featherless, nearai, alibaba or alibaba-cn, "
          "cerebras, mistral, deepseek, xai, novita)"),
    Field("first_seen_at", "timestamp", "first sync that saw it"),
    Field("last_seen_at", "timestamp", "last sync that saw it changed or present (for a removed "
          "row: the last sync that still listed it)"),
    Field("removed_at", "timestamp", "when it went missing from its source"),
    Field("archived_at", "timestamp", "when the grace period ended"),
    _text("content_hash", 40, "hash of the content, so a sync writes only what changed"),
]

CATALOG_FIELDS: list[Field] = [
    _text("provider", 120, "canonical provider id", key=True),
    _text("model_id", 400, "the provider's own model id", key=True),
    *DESCRIPTIVE_FIELDS,
    _text("price_source", 40, "the source the four prices were taken from (as a set)"),
    Field("sources", "json_list", "every source that describes this offering"),
    Field("field_sources", "json_object", "for each non-null field, the source it came from"),
    Field("updated_at", "timestamp", "when the row last changed"),
]

MODEL_FIELDS: list[Field] = [
    _text("canonical_id", 300, "the model, as `canonical_id` names it", key=True),
    _text("name", 300, "display name (from the model's maker where known)"),
    _text("creator", 120, "who made the model"),
    _text("family", 120, "model family"),
    _text("release_date", 10, "earliest published release date"),
    Field("open_weights", "bool", "weights are published"),
    Field("context_window", "bigint", "the largest context window any provider offers"),
    _price("cheapest_input_price", "lowest input price among active offerings"),
    _text("cheapest_input_provider", 120, "who offers the cheapest input price"),
    _price("cheapest_output_price", "lowest output price among active offerings"),
    _text("cheapest_output_provider", 120, "who offers the cheapest output price"),
    Field("providers", "int", "number of providers with an active offering"),
    Field("provider_ids", "json_list", "those providers"),
    _text("hugging_face_id", 300, "Hugging Face repository of the weights"),
    Field("hf_downloads", "bigint", "Hugging Face downloads (last 30 days)"),
    Field("hf_likes", "bigint", "Hugging Face likes"),
    Field("intelligence_index", "float", "Artificial Analysis intelligence index"),
    Field("coding_index", "float", "Artificial Analysis coding index"),
    Field("agentic_index", "float", "Artificial Analysis agentic index"),
    Field("output_tokens_per_second", "float", "Artificial Analysis median output speed"),
    _text("content_hash", 40, "hash of the content, so a build writes only changes"),
    Field("updated_at", "timestamp", "when the row last changed"),
]

# Where independent sources disagree on an offering's price or token limit (`disagreements.py`).
DISAGREEMENT_FIELDS: list[Field] = [
    Field("id", "int", "row id", key=True),
    _text("provider", 120, "the offering's provider"),
    _text("model_id", 400, "as the catalog spells it"),
    _text("slot", 200, "the field with its terms, e.g. input (batch), output (from 200000 "
          "tokens), context_window"),
    _text("field", 40, "a price component, context_window or max_output_tokens"),
    _text("mode", 12, "a price's mode; null for token limits"),
    _text("region", 40, "a price's region; null: none named"),
    Field("min_prompt_tokens", "int", "a price's long-context tier (0: base)"),
    _text("window", 11, "a price's time of day, HH:MM-HH:MM UTC"),
    _text("unit", 20, "what a value is per (1M tokens, request, ...), or tokens"),
    Field("values", "json_object", "each independent source's value, exact"),
    Field("copies", "json_object", "the values of entries copied from another source (not "
          "counted)"),
    Field("relative_difference", "decimal", "(max - min) / min of the values; null when min "
          "is 0"),
    Field("chosen_value", "decimal", "the value the catalog publishes"),
    _text("chosen_source", 40, "the source it was taken from"),
    _text("chosen_by", 12, "precedence or override"),
    _text("state", 12, "open, acknowledged or resolved"),
    Field("first_seen_at", "timestamp", "the first build that found the sources disagreeing"),
    Field("last_seen_at", "timestamp", "the last build that found the sources disagreeing"),
    Field("opened_at", "timestamp", "when it was found, or found again after it was resolved"),
    Field("resolved_at", "timestamp", "when the sources agreed again"),
    Field("acknowledged_at", "timestamp", "when a person acknowledged it"),
    Field("note", "text", "why it was acknowledged"),
]

OFFERING_COLUMNS = [f.name for f in OFFERING_FIELDS]
LIFECYCLE_COLUMNS = [f.name for f in LIFECYCLE_FIELDS]
STORED_OFFERING_COLUMNS = OFFERING_COLUMNS + LIFECYCLE_COLUMNS
CATALOG_COLUMNS = [f.name for f in CATALOG_FIELDS] + LIFECYCLE_COLUMNS
MODEL_COLUMNS = [f.name for f in MODEL_FIELDS]


# The rows themselves, for the type checker: plain dicts at run time, keyed by the columns above
# (a test holds the keys and value types to the field lists).


class Descriptive(TypedDict):
    """The DESCRIPTIVE_FIELDS an offering and a catalog row share."""

    name: str | None
    creator: str | None
    kind: str | None
    context_window: int | None
    max_output_tokens: int | None
    input_price: Decimal | None
    output_price: Decimal | None
    cache_read_price: Decimal | None
    cache_write_price: Decimal | None
    price_flags: list[str] | None
    input_modalities: list[str] | None
    output_modalities: list[str] | None
    supports_tools: bool | None
    supports_vision: bool | None
    supports_reasoning: bool | None
    supports_structured_output: bool | None
    open_weights: bool | None
    hugging_face_id: str | None
    family: str | None
    release_date: str | None
    deprecation_date: str | None
    status: str | None
    created_at: datetime | None


class Offering(Descriptive):
    """One model as one provider serves it, as a parser normalizes it (OFFERING_COLUMNS)."""

    source: str
    source_key: str
    source_provider: str
    provider: str
    model_id: str
    prices: list[dict[str, Any]] | None
    extra: dict[str, Any] | None
    fetched_at: datetime | None


class Lifecycle(TypedDict):
    """LIFECYCLE_FIELDS: kept by the store on stored offerings and catalog rows."""

    canonical_id: str | None
    state: str
    first_seen_at: datetime | None
    last_seen_at: datetime | None
    removed_at: datetime | None
    archived_at: datetime | None
    content_hash: str | None


class StoredOffering(Offering, Lifecycle):
    """An offering as `source_offerings` holds it (STORED_OFFERING_COLUMNS)."""


class CatalogRow(Descriptive, Lifecycle):
    """One row of `model_catalog`: one provider x model id, merged (CATALOG_COLUMNS)."""

    provider: str
    model_id: str
    price_source: str | None
    sources: list[str] | None
    field_sources: dict[str, Any] | None
    updated_at: datetime | None


class ModelRow(TypedDict):
    """One row of `models` (MODEL_COLUMNS); the store adds the hash and time it writes it."""

    canonical_id: str
    name: str | None
    creator: str | None
    family: str | None
    release_date: str | None
    open_weights: bool | None
    context_window: int | None
    cheapest_input_price: Decimal | None
    cheapest_input_provider: str | None
    cheapest_output_price: Decimal | None
    cheapest_output_provider: str | None
    providers: int | None
    provider_ids: list[str] | None
    hugging_face_id: str | None
    hf_downloads: int | None
    hf_likes: int | None
    intelligence_index: float | None
    coding_index: float | None
    agentic_index: float | None
    output_tokens_per_second: float | None
    content_hash: NotRequired[str | None]
    updated_at: NotRequired[datetime | None]
