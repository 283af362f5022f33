"""The catalog schema as revision 0001 created it, frozen: never edit it, add a revision instead.

Plain column types, not the live ones of `schema.py`, so the first revision keeps creating the
same tables whatever later code does: prices are NUMERIC on PostgreSQL and decimal text
elsewhere (`ExactDecimal`), timestamps carry a time zone (`UtcDateTime`), JSON is text
(`JsonList`, `JsonObject`).
"""

import sqlalchemy as sa

EXACT_DECIMAL = sa.String(64).with_variant(sa.Numeric(), "postgresql")
UTC_DATETIME = sa.DateTime(timezone=True)


def _price(name: str, what: str) -> sa.Column:
    return sa.Column(name, EXACT_DECIMAL,
                     comment=f"{what}, USD per 1M tokens, exact; null when unpublished")


def _descriptive() -> list[sa.Column]:
    return [
        sa.Column("name", sa.String(300), comment="display name as the source spells it"),
        sa.Column("creator", sa.String(120),
                  comment="who made the model (lab or organization), when known"),
        sa.Column("kind", sa.String(40),
                  comment="chat, completion, embedding, image_generation, ... when known"),
        sa.Column("context_window", sa.BigInteger(),
                  comment="published input context limit in tokens"),
        sa.Column("max_output_tokens", sa.BigInteger(), comment="published output limit in tokens"),
        _price("input_price", "price of input (prompt) tokens"),
        _price("output_price", "price of output (completion) tokens"),
        _price("cache_read_price", "price of cached input tokens read"),
        _price("cache_write_price", "price of input tokens written to the cache"),
        sa.Column("price_flags", sa.Text(),
                  comment="notes on the prices: variable_price (published as -1 or negative: no "
                          "fixed price), tiered (long-context tiers exist; the base tier is "
                          "stored), time_of_day"),
        sa.Column("input_modalities", sa.Text(),
                  comment="input modalities (text, image, audio, video, file)"),
        sa.Column("output_modalities", sa.Text(), comment="output modalities"),
        sa.Column("supports_tools", sa.Boolean(),
                  comment="tool / function calling; null when unknown"),
        sa.Column("supports_vision", sa.Boolean(), comment="image input; null when unknown"),
        sa.Column("supports_reasoning", sa.Boolean(),
                  comment="reasoning / thinking mode; null when unknown"),
        sa.Column("supports_structured_output", sa.Boolean(),
                  comment="JSON schema output; null when unknown"),
        sa.Column("open_weights", sa.Boolean(), comment="weights are published; null when unknown"),
        sa.Column("hugging_face_id", sa.String(300),
                  comment="Hugging Face repository of the weights"),
        sa.Column("family", sa.String(120), comment="model family as the source names it"),
        sa.Column("release_date", sa.String(10), comment="release date, YYYY-MM-DD"),
        sa.Column("deprecation_date", sa.String(10),
                  comment="announced deprecation date, YYYY-MM-DD"),
        sa.Column("status", sa.String(40),
                  comment="active, deprecated, beta, ... when the source says"),
        sa.Column("created_at", UTC_DATETIME,
                  comment="when the source says the entry was created"),
    ]


def tables() -> dict[str, list[sa.Column]]:
    """The columns of each baseline table (new objects on every call)."""
    return {
        "source_offerings": [
            sa.Column("source", sa.String(40), primary_key=True,
                      comment="the source this row was read from"),
            sa.Column("source_key", sa.String(400), primary_key=True,
                      comment="the entry's key or id in the source payload"),
            sa.Column("source_provider", sa.String(120),
                      comment="the provider id as the source spells it"),
            sa.Column("provider", sa.String(120),
                      comment="canonical provider id, one per real provider"),
            sa.Column("model_id", sa.String(400),
                      comment="the provider's own model id, as the source spells it"),
            *_descriptive(),
            sa.Column("extra", sa.Text(),
                      comment="source-specific values (benchmarks, speed, tiers, slugs)"),
            sa.Column("fetched_at", UTC_DATETIME, comment="when this row was fetched"),
        ],
        "model_catalog": [
            sa.Column("provider", sa.String(120), primary_key=True,
                      comment="canonical provider id"),
            sa.Column("model_id", sa.String(400), primary_key=True,
                      comment="the provider's own model id"),
            *_descriptive(),
            sa.Column("price_source", sa.String(40),
                      comment="the source the four prices were taken from (as a set)"),
            sa.Column("sources", sa.Text(), comment="every source that describes this offering"),
            sa.Column("field_sources", sa.Text(),
                      comment="for each non-null field, the source it came from"),
            sa.Column("updated_at", UTC_DATETIME, comment="when the catalog was built"),
        ],
        "sync_runs": [
            sa.Column("id", sa.Integer(), primary_key=True, autoincrement=True),
            sa.Column("run_id", sa.String(64), comment="Dagster run id"),
            sa.Column("source", sa.String(40), nullable=False,
                      comment="source name, or model_catalog"),
            sa.Column("started_at", UTC_DATETIME, nullable=False),
            sa.Column("finished_at", UTC_DATETIME),
            sa.Column("status", sa.String(16), nullable=False,
                      comment="success, failed or blocked"),
            sa.Column("rows_fetched", sa.Integer(), comment="rows parsed from the payload"),
            sa.Column("rows_inserted", sa.Integer(), comment="rows new since the last good sync"),
            sa.Column("rows_updated", sa.Integer(), comment="rows whose content changed"),
            sa.Column("rows_removed", sa.Integer(), comment="rows gone since the last good sync"),
            sa.Column("rows_repriced", sa.Integer(), comment="rows whose prices changed"),
            sa.Column("error", sa.Text(),
                      comment="what went wrong, for failed and blocked syncs"),
        ],
    }


INDEXES = {
    "ix_source_offerings_provider_model": ("source_offerings", ["provider", "model_id"]),
    "ix_sync_runs_source_started": ("sync_runs", ["source", "started_at"]),
}

BASELINE_COLUMNS = {name: {c.name for c in columns} for name, columns in tables().items()}
