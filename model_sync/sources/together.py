"""Together AI: every model it serves, with prices in USD per 1M tokens."""

from typing import Any

from model_sync.catalog.money import PER_MILLION
from model_sync.sources.base import (
    Auth,
    Offering,
    ParseContext,
    PriceSheet,
    SourceSpec,
    components,
    expect,
    integer,
    model_offering,
    obj,
    parse_entries,
    price,
    text,
    unix_time,
)

NAME = "together"
KINDS = {"chat": "chat", "language": "completion", "code": "completion", "image":
         "image_generation", "embedding": "embedding", "moderation": "moderation",
         "rerank": "rerank", "audio": "audio_speech", "transcribe": "audio_transcription"}


def parse(payload: Any, ctx: ParseContext) -> list[Offering]:
    """A bare array of models -> one offering per model.

    A `pricing` of all zeros is what the API shows for a model it does not price per token
    (dedicated endpoints only): those prices are unpublished, not free. Together's free
    endpoints say so in their id (`...-Free`) and keep their zero prices.
    """
    return parse_entries(expect(payload, list, NAME, "the response"), ctx, NAME, _model)


def _model(ctx: ParseContext, entry: Any, key: str, model_id: str) -> Offering:
    pricing = obj(entry.get("pricing"))
    flags: set[str] = set()
    input_price = price(pricing.get("input"), PER_MILLION, NAME, key, "pricing.input", flags)
    output_price = price(pricing.get("output"), PER_MILLION, NAME, key, "pricing.output", flags)
    free = model_id.lower().endswith("-free")
    unpriced = not free and not input_price and not output_price
    extra = {
        "type": text(entry.get("type")),
        "license": text(entry.get("license")),
        "link": text(entry.get("link")),
        "hourly_price": pricing.get("hourly") or None,
        "per_token_pricing": False if unpriced and pricing else None,
    }
    return model_offering(
        ctx, NAME, model_id,
        flags=flags,
        name=text(entry.get("display_name")),
        creator=text(entry.get("organization")),
        kind=KINDS.get(str(entry.get("type"))),
        context_window=integer(entry.get("context_length")),
        input_price=None if unpriced else input_price,
        output_price=None if unpriced else output_price,
        created_at=unix_time(entry.get("created")),
        extra=extra,
        prices=components(ctx, key, price_sheet(pricing, unpriced)),
    )


def price_sheet(pricing: Any, unpriced: bool) -> PriceSheet:
    """USD per 1M tokens (none when the token prices are the all-zero placeholder), and the
    hourly price of a dedicated deployment; a 0 is no price. `base` and `finetune` are
    fine-tuning prices, not prices of use."""
    sheet = PriceSheet()
    for field, value in pricing.items():
        name = f"pricing.{field}"
        if field in ("input", "output"):
            if not unpriced:
                sheet.add(field, value, PER_MILLION, name)
        elif field == "hourly":
            sheet.add("dedicated_hour", value, 0, name, skip_zero=True)
        elif field in ("base", "finetune"):
            if value:
                sheet.reject(name, "a base or fine-tuning price whose unit the API does not "
                             "state (an image model's price per image or megapixel)", value)
        else:
            sheet.reject(name, "a price the price model has no component for", value)
    return sheet


SPEC = SourceSpec(
    name=NAME,
    title="Together AI",
    description=(
        "Models served by Together AI, from `GET https://api.together.xyz/v1/models` (key in "
        "`TOGETHER_API_KEY`): a bare array with type, context length, organization, license and "
        "prices in USD per 1M tokens."
    ),
    url="https://api.together.xyz/v1/models",
    parse=parse,
    auth=Auth(env_var="TOGETHER_API_KEY"),
    min_rows=50,
    docs_url="https://docs.together.ai/reference/models",
)
