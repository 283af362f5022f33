"""Novita AI: its LLM models with prices in units of 1/10,000 USD per 1M tokens."""

from typing import Any

from model_sync.catalog.money import TEN_THOUSANDTHS_PER_MILLION
from model_sync.sources.base import (
    Auth,
    ParseContext,
    Row,
    SourceSpec,
    expect,
    integer,
    obj,
    offering,
    price,
    required,
    text,
    unix_time,
)

NAME = "novita"


def parse(payload: Any, ctx: ParseContext) -> list[Row]:
    """`{"data": [model]}` -> one offering per model; a price of 3900 is 0.39 USD per 1M."""
    data = expect(obj(payload).get("data"), list, NAME, "the 'data' field of the response")
    return [_model(entry, ctx, i) for i, entry in enumerate(data)]


def _model(entry: Any, ctx: ParseContext, index: int) -> Row:
    key = str(obj(entry).get("id") or f"#{index}")
    model_id = required(entry, "id", NAME, key)
    flags: set[str] = set()
    prices = {
        column: price(entry.get(field), TEN_THOUSANDTHS_PER_MILLION, NAME, key, field, flags)
        for column, field in (("input_price", "input_token_price_per_m"),
                              ("output_price", "output_token_price_per_m"))
    }
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
