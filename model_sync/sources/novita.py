"""Novita AI: its LLM models with prices in units of 1/10,000 USD per 1M tokens."""

from typing import Any

from model_sync.catalog.money import TEN_THOUSANDTHS_PER_MILLION
from model_sync.sources.base import (
    Auth,
    ParseContext,
    Row,
    SourceSpec,
    entry_id,
    integer,
    listed,
    offering,
    price_set,
    text,
    unix_time,
)

NAME = "novita"


def parse(payload: Any, ctx: ParseContext) -> list[Row]:
    """`{"data": [model]}` -> one offering per model; a price of 3900 is 0.39 USD per 1M."""
    data = listed(payload, NAME)
    return ctx.listed(data, lambda entry, i: _model(entry, ctx, i))


def _model(entry: Any, ctx: ParseContext, index: int) -> Row:
    key, model_id = entry_id(entry, index, NAME)
    flags: set[str] = set()
    fields = (("input_price", "input_token_price_per_m"),
              ("output_price", "output_token_price_per_m"))
    prices = price_set(entry, fields, TEN_THOUSANDTHS_PER_MILLION, NAME, key, flags)
    return offering(
        ctx,
        source_key=model_id,
        source_provider=NAME,
        model_id=model_id,
        flags=flags,
        name=text(entry.get("title")),
        creator=model_id.split("/", 1)[0] if "/" in model_id else None,
        context_window=integer(entry.get("context_size")),
        **prices,
        created_at=unix_time(entry.get("created")),
    )


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
