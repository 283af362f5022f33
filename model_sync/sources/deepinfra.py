"""DeepInfra: the models it serves through its OpenAI-compatible API, with USD per 1M tokens."""

from typing import Any

from model_sync.catalog.money import PER_MILLION
from model_sync.sources.base import (
    Offering,
    ParseContext,
    PriceSheet,
    SourceSpec,
    components,
    integer,
    model_offering,
    obj,
    org_of,
    parse_listing,
    price_set,
    text,
    unix_time,
)

NAME = "deepinfra"
COMPONENTS = {"input_tokens": "input", "output_tokens": "output", "cache_read_tokens": "cache_read"}


def parse(payload: Any, ctx: ParseContext) -> list[Offering]:
    """`{"data": [model]}` -> one offering per model; `metadata: null` means no published price."""
    return parse_listing(payload, ctx, NAME, _model)


def _model(ctx: ParseContext, entry: Any, key: str, model_id: str) -> Offering:
    meta = obj(entry.get("metadata"))
    pricing = obj(meta.get("pricing"))
    flags: set[str] = set()
    prices = price_set(pricing, (
            ("input_price", "input_tokens"),
            ("output_price", "output_tokens"),
            ("cache_read_price", "cache_read_tokens"),
        ), PER_MILLION, NAME, key, flags, "metadata.pricing.")
    tags = meta.get("tags") if isinstance(meta.get("tags"), list) else None
    return model_offering(
        ctx, NAME, model_id,
        flags=flags,
        creator=org_of(model_id, text(entry.get("owned_by"))),
        context_window=integer(meta.get("context_length")),
        **prices,
        supports_vision=None if tags is None else "vision" in tags,
        supports_reasoning=True if tags and "reasoning_effort" in tags else None,
        created_at=unix_time(entry.get("created")),
        extra={"tags": tags, "max_tokens": integer(meta.get("max_tokens"))} if meta else None,
        prices=components(ctx, key, price_sheet(pricing)),
    )


def price_sheet(pricing: Any) -> PriceSheet:
    """`metadata.pricing`: USD per 1M tokens."""
    sheet = PriceSheet()
    for field, value in pricing.items():
        if field in COMPONENTS:
            sheet.add(COMPONENTS[field], value, PER_MILLION, f"metadata.pricing.{field}")
        else:
            sheet.reject(f"metadata.pricing.{field}", "a price the price model has no "
                         "component for", value)
    return sheet


SPEC = SourceSpec(
    name=NAME,
    title="DeepInfra",
    description=(
        "Models served by DeepInfra, from its OpenAI-compatible "
        "`GET https://api.deepinfra.com/v1/openai/models` (no key). Prices are USD per 1M tokens."
    ),
    url="https://api.deepinfra.com/v1/openai/models",
    parse=parse,
    min_rows=50,
    docs_url="https://deepinfra.com/docs/openai_api",
)
