"""NEAR AI Cloud: the models it serves in TEEs, with prices as `amount * 10**-scale` per token."""

from typing import Any

from model_sync.catalog.money import per_token_scaled
from model_sync.sources.base import (
    Auth,
    Offering,
    ParseContext,
    ParseError,
    PriceSheet,
    SourceSpec,
    boolean,
    components,
    integer,
    model_offering,
    obj,
    org_of,
    parse_listing,
    price,
    strings,
    text,
)

NAME = "nearai"


def parse(payload: Any, ctx: ParseContext) -> list[Offering]:
    """`{"models": [model]}` -> one offering per model.

    A cost `{"amount": 850, "scale": 9, "currency": "USD"}` is 850e-9 USD per token, 0.85 USD
    per 1M; a missing cost is unpublished, and a cost in another currency is kept in `extra`.
    """
    return parse_listing(payload, ctx, NAME, _model, field="models", id_field="modelId")


def _model(ctx: ParseContext, entry: Any, key: str, model_id: str) -> Offering:
    meta = obj(entry.get("metadata"))
    arch = obj(meta.get("architecture"))
    flags: set[str] = set()
    other_currency: dict[str, Any] = {}
    prices: dict[str, Any] = {}
    sheet = PriceSheet()
    for column, field in (("input_price", "inputCostPerToken"),
                          ("output_price", "outputCostPerToken")):
        cost = obj(entry.get(field))
        if cost and str(cost.get("currency", "USD")).upper() != "USD":
            other_currency[field] = cost
            prices[column] = None
            sheet.reject(field, f"priced in {cost.get('currency')}, not USD", cost)
            continue
        prices[column] = _cost(cost, key, field, flags)
        if prices[column] is not None:
            sheet.add(column.removesuffix("_price"), prices[column], 0, field)
    inputs = strings(arch.get("inputModalities"))
    outputs = strings(arch.get("outputModalities"))
    extra = {
        "aliases": meta.get("aliases") or None,
        "verifiable": boolean(meta.get("verifiable")),
        "costs_in_other_currency": other_currency or None,
    }
    return model_offering(
        ctx, NAME, model_id,
        flags=flags,
        name=text(meta.get("modelDisplayName")),
        creator=org_of(model_id, text(meta.get("ownedBy"))),
        kind=_kind(outputs),
        context_window=integer(meta.get("contextLength")),
        **prices,
        input_modalities=inputs,
        output_modalities=outputs,
        supports_vision=None if inputs is None else "image" in inputs,
        extra=extra,
        prices=components(ctx, key, sheet),
    )


def _cost(cost, key: str, field: str, flags: set[str]):
    if not cost or cost.get("amount") is None:
        return None
    scale = cost.get("scale", 0)
    if isinstance(scale, bool) or not isinstance(scale, int):
        raise ParseError(NAME, f"expected an integer scale, got {scale!r}", entry=key,
                         field=f"{field}.scale")
    return price(cost["amount"], per_token_scaled(scale), NAME, key, f"{field}.amount", flags)


def _kind(outputs: list[str] | None) -> str | None:
    if not outputs:
        return None
    if "text" in outputs:
        return "chat"
    return "embedding" if outputs == ["embedding"] else f"{outputs[0]}_generation"


SPEC = SourceSpec(
    name=NAME,
    title="NEAR AI Cloud",
    description=(
        "Models served by NEAR AI Cloud (private inference in TEEs), from "
        "`GET https://cloud-api.near.ai/v1/model/list` (key in `NEARAI_API_KEY`), the catalog "
        "behind its OpenAI-compatible API, with context lengths and per-token prices."
    ),
    url="https://cloud-api.near.ai/v1/model/list",
    parse=parse,
    auth=Auth(env_var="NEARAI_API_KEY"),
    min_rows=10,
    docs_url="https://docs.near.ai/",
)
