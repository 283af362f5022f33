"""OpenRouter: every model it routes, with prices in USD per token as decimal strings."""

from typing import Any

from model_sync.catalog.money import PER_TOKEN
from model_sync.http.paging import LinkNext
from model_sync.sources.base import (
    Offering,
    ParseContext,
    PriceSheet,
    SourceSpec,
    components,
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
# pricing field -> (component, power of ten from the published unit): USD per token, except a
# request, an input image (per image, as OpenRouter documents it) and a search (per search).
# `image_output` and `image_token` carry per-token rates (gpt-image-1's 0.00004 is OpenAI's
# 40 USD per 1M image output tokens), so both are output image tokens.
COMPONENTS = {
    "prompt": ("input", PER_TOKEN), "completion": ("output", PER_TOKEN),
    "input_cache_read": ("cache_read", PER_TOKEN), "input_cache_write": ("cache_write", PER_TOKEN),
    "input_cache_write_1h": ("cache_write_1h", PER_TOKEN),
    "internal_reasoning": ("reasoning", PER_TOKEN), "audio": ("input_audio", PER_TOKEN),
    "audio_output": ("output_audio", PER_TOKEN),
    "input_audio_cache": ("cache_audio_read", PER_TOKEN),
    "image_output": ("output_image", PER_TOKEN), "image_token": ("output_image", PER_TOKEN),
    "image": ("input_images", 0), "request": ("request", 0), "web_search": ("web_search", 3),
}


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
        prices=components(ctx, key, price_sheet(pricing)),
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


def price_sheet(pricing: Any) -> PriceSheet:
    """Every price of a `pricing` object; an override is a tier from `min_prompt_tokens` on or
    a rate between `utc_start` and `utc_end` (HHMM, UTC). A 0 beside the prompt and completion
    prices means "not priced apart"."""
    sheet = PriceSheet()
    _prices(sheet, pricing, "pricing.", 0, None)
    overrides = pricing.get("overrides")
    for i, tier in enumerate(overrides if isinstance(overrides, list) else []):
        tier = obj(tier)
        start = integer(tier.get("min_prompt_tokens"))
        window = _window(tier.get("utc_start"), tier.get("utc_end"))
        if start is None and window is None:
            sheet.reject(f"pricing.overrides[{i}]", "an override with neither "
                         "min_prompt_tokens nor a utc_start-utc_end window", tier)
            continue
        _prices(sheet, {k: v for k, v in tier.items() if k not in _CONDITIONS},
                f"pricing.overrides[{i}].", start or 0, window)
    if overrides is not None and not isinstance(overrides, list):
        sheet.reject("pricing.overrides", "expected a list of overrides", overrides)
    return sheet


_CONDITIONS = ("min_prompt_tokens", "utc_start", "utc_end")


def _window(start: Any, end: Any) -> str | None:
    """`"HH:MM-HH:MM"` from HHMM integers (`1000`, `100`: 10:00 to 01:00, over midnight)."""
    times = []
    for value in (start, end):
        if isinstance(value, bool) or not isinstance(value, int) or not 0 <= value <= 2400 \
                or value % 100 >= 60:
            return None
        times.append(f"{value // 100:02d}:{value % 100:02d}")
    return "-".join(times)


def _prices(sheet: PriceSheet, values: Any, prefix: str, min_prompt_tokens: int,
            window: str | None) -> None:
    for field, value in obj(values).items():
        if field == "overrides":
            continue
        if field not in COMPONENTS:
            sheet.reject(prefix + field, "not a price the price model has", value)
            continue
        name, scale = COMPONENTS[field]
        sheet.add(name, value, scale, prefix + field, min_prompt_tokens=min_prompt_tokens,
                  window=window, skip_zero=field not in ("prompt", "completion"))


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
