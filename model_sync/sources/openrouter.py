"""OpenRouter: every model it routes, with prices in USD per token as decimal strings."""

from typing import Any

from model_sync.catalog.money import PER_TOKEN
from model_sync.http.paging import LinkNext
from model_sync.sources.base import (
    Offering,
    ParseContext,
    SourceSpec,
    day,
    expect,
    integer,
    model_offering,
    obj,
    org_of,
    parse_listing,
    price_set,
    required,
    strings,
    text,
    unix_time,
)

NAME = "openrouter"
# Prices outside the four contract prices are kept in `extra`, as published (their units vary).
REASONING_PARAMS = frozenset({"reasoning", "include_reasoning"})
_OTHER_PRICES = ("request", "image", "web_search", "internal_reasoning", "audio", "image_output")


def parse(payload: Any, ctx: ParseContext) -> list[Offering]:
    """`{"data": [model, ...]}` -> one offering per model, served by the provider `openrouter`."""
    return parse_listing(payload, ctx, NAME, _model)


def _model(ctx: ParseContext, entry: Any, key: str, model_id: str) -> Offering:
    pricing = expect(required(entry, "pricing", NAME, key), dict, NAME, f"{key}.pricing")
    flags: set[str] = set()
    prices = price_set(pricing, (
            ("input_price", "prompt"),
            ("output_price", "completion"),
            ("cache_read_price", "input_cache_read"),
            ("cache_write_price", "input_cache_write"),
        ), PER_TOKEN, NAME, key, flags, "pricing.")
    overrides = pricing.get("overrides")
    if overrides:
        flags.add("tiered")
    arch = obj(entry.get("architecture"))
    top = obj(entry.get("top_provider"))
    params = entry.get("supported_parameters")
    params = set(params) if isinstance(params, list) else None
    inputs = strings(arch.get("input_modalities"))
    outputs = strings(arch.get("output_modalities"))
    extra = {
        "canonical_slug": text(entry.get("canonical_slug")),
        "tokenizer": text(arch.get("tokenizer")),
        "knowledge_cutoff": text(entry.get("knowledge_cutoff")),
        "is_moderated": top.get("is_moderated"),
        "pricing_overrides": overrides or None,
        "other_prices": {k: pricing[k] for k in _OTHER_PRICES if k in pricing} or None,
        "artificial_analysis": obj(entry.get("benchmarks")).get("artificial_analysis"),
    }
    return model_offering(
        ctx, NAME, model_id,
        flags=flags,
        name=text(entry.get("name")),
        creator=org_of(model_id),
        kind=_kind(outputs),
        context_window=integer(entry.get("context_length")) or integer(top.get("context_length")),
        max_output_tokens=integer(top.get("max_completion_tokens")),
        **prices,
        input_modalities=inputs,
        output_modalities=outputs,
        supports_tools=None if params is None else "tools" in params,
        supports_vision=None if inputs is None else "image" in inputs,
        supports_reasoning=None if params is None else bool(REASONING_PARAMS & params),
        supports_structured_output=None if params is None else "structured_outputs" in params,
        hugging_face_id=text(entry.get("hugging_face_id")),
        deprecation_date=day(entry.get("expiration_date")),
        created_at=unix_time(entry.get("created")),
        extra=extra,
    )


def _kind(outputs: list[str] | None) -> str | None:
    if not outputs:
        return None
    if "text" in outputs:
        return "chat"
    return f"{outputs[0]}_generation"


SPEC = SourceSpec(
    name=NAME,
    title="OpenRouter",
    description=(
        "Every model OpenRouter routes, from its public `GET https://openrouter.ai/api/v1/models` "
        "API (no key). Prices are USD per token, as decimal strings; `-1` means variable."
    ),
    url="https://openrouter.ai/api/v1/models",
    parse=parse,
    paging=LinkNext(),
    cron="0 */6 * * *",
    freshness_hours=8,
    min_rows=250,
    docs_url="https://openrouter.ai/docs/api-reference/list-available-models",
)
