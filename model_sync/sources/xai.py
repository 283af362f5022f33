"""xAI: its language models with prices in US cents per 100M tokens (integers)."""

from typing import Any

from model_sync.catalog.money import CENTS_PER_100M
from model_sync.sources.base import (
    Auth,
    Offering,
    ParseContext,
    PriceSheet,
    SourceSpec,
    components,
    model_offering,
    parse_listing,
    price,
    strings,
    text,
    unix_time,
)

NAME = "xai"
PRICES = (
    ("input_price", "prompt_text_token_price"),
    ("output_price", "completion_text_token_price"),
    ("cache_read_price", "cached_prompt_text_token_price"),
)


def parse(payload: Any, ctx: ParseContext) -> list[Offering]:
    """`{"models": [model]}` -> one offering per model; 30000 (cents per 100M) is 3 USD per 1M."""
    return parse_listing(payload, ctx, NAME, _model, field="models")


def _model(ctx: ParseContext, entry: Any, key: str, model_id: str) -> Offering:
    flags: set[str] = set()
    prices = {column: price(entry.get(field), CENTS_PER_100M, NAME, key, field, flags)
              for column, field in PRICES}
    inputs = strings(entry.get("input_modalities"))
    outputs = strings(entry.get("output_modalities"))
    image_price = price(entry.get("prompt_image_token_price"), CENTS_PER_100M, NAME, key,
                        "prompt_image_token_price", flags)
    extra = {
        "aliases": entry.get("aliases") or None,
        "version": text(entry.get("version")),
        "fingerprint": text(entry.get("fingerprint")),
        "image_input_price": image_price,  # USD per 1M image tokens
        "search_price": entry.get("search_price"),  # cents per 100M searches, as published
    }
    return model_offering(
        ctx, NAME, model_id,
        flags=flags,
        creator=text(entry.get("owned_by")),
        kind="chat" if outputs and "text" in outputs else None,
        **prices,
        input_modalities=inputs,
        output_modalities=outputs,
        supports_vision=None if inputs is None else "image" in inputs,
        created_at=unix_time(entry.get("created")),
        extra=extra,
        prices=components(ctx, key, price_sheet(entry)),
    )


def price_sheet(entry: Any) -> PriceSheet:
    """Token prices in US cents per 100M tokens; `search_price` in cents per 100M searches
    (250000000 is 25 USD per 1,000). An image price of 0 is a model without image input."""
    sheet = PriceSheet()
    for column, field in PRICES:
        sheet.add(column.removesuffix("_price"), entry.get(field), CENTS_PER_100M, field)
    sheet.add("input_image", entry.get("prompt_image_token_price"), CENTS_PER_100M,
              "prompt_image_token_price", skip_zero=True)
    sheet.add("web_search", entry.get("search_price"), CENTS_PER_100M - 3, "search_price")
    for field, value in entry.items():
        if field.endswith("_price") and field not in (*dict(PRICES).values(),
                                                      "prompt_image_token_price",
                                                      "search_price"):
            sheet.reject(field, "a price the price model has no component for", value)
    return sheet


SPEC = SourceSpec(
    name=NAME,
    title="xAI",
    description=(
        "xAI's language models, from `GET https://api.x.ai/v1/language-models` (key in "
        "`XAI_API_KEY`), with modalities, aliases and prices as integer US cents per 100M "
        "tokens, converted exactly to USD per 1M."
    ),
    url="https://api.x.ai/v1/language-models",
    parse=parse,
    auth=Auth(env_var="XAI_API_KEY"),
    min_rows=5,
    docs_url="https://docs.x.ai/docs/api-reference#list-language-models",
)
