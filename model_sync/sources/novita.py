"""Novita AI: its LLM models with prices in units of 1/10,000 USD per 1M tokens."""

from typing import Any

from model_sync.catalog.money import TEN_THOUSANDTHS_PER_MILLION
from model_sync.sources.base import (
    Auth,
    Offering,
    ParseContext,
    PriceSheet,
    SourceSpec,
    components,
    integer,
    model_offering,
    org_of,
    parse_listing,
    price_set,
    text,
    unix_time,
)

NAME = "novita"
PRICES = (("input_price", "input_token_price_per_m"), ("output_price", "output_token_price_per_m"))


def parse(payload: Any, ctx: ParseContext) -> list[Offering]:
    """`{"data": [model]}` -> one offering per model; a price of 3900 is 0.39 USD per 1M."""
    return parse_listing(payload, ctx, NAME, _model)


def _model(ctx: ParseContext, entry: Any, key: str, model_id: str) -> Offering:
    flags: set[str] = set()
    prices = price_set(entry, PRICES, TEN_THOUSANDTHS_PER_MILLION, NAME, key, flags)
    return model_offering(
        ctx, NAME, model_id,
        flags=flags,
        name=text(entry.get("title")),
        creator=org_of(model_id),
        context_window=integer(entry.get("context_size")),
        **prices,
        created_at=unix_time(entry.get("created")),
        prices=components(ctx, key, price_sheet(entry)),
    )


def price_sheet(entry: Any) -> PriceSheet:
    """Input and output prices, in 1/10,000 USD per 1M tokens."""
    sheet = PriceSheet()
    for column, field in PRICES:
        sheet.add(column.removesuffix("_price"), entry.get(field), TEN_THOUSANDTHS_PER_MILLION,
                  field)
    return sheet


SPEC = SourceSpec(
    name=NAME,
    title="Novita AI",
    description=(
        "Models served by Novita AI, from the OpenAI-compatible "
        "`GET https://api.novita.ai/openai/v1/models` (key in `NOVITA_API_KEY`), with context "
        "sizes and prices in units of 1/10,000 USD per 1M tokens, converted exactly."
    ),
    url="https://api.novita.ai/openai/v1/models",
    parse=parse,
    auth=Auth(env_var="NOVITA_API_KEY"),
    min_rows=30,
    docs_url="https://novita.ai/docs/api-reference/model-apis-llm-list-models",
)
