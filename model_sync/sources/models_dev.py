"""models.dev: an open database of providers and their models; each provider's offering is a row."""

from typing import Any

from model_sync.catalog.money import PER_MILLION
from model_sync.sources.base import (
    Offering,
    ParseContext,
    PriceSheet,
    SourceSpec,
    boolean,
    components,
    day,
    expect,
    integer,
    obj,
    offering,
    price_set,
    required,
    strings,
    text,
)

NAME = "models_dev"
# cost field -> component; USD per 1M tokens.
COSTS = {"input": "input", "output": "output", "cache_read": "cache_read",
         "cache_write": "cache_write", "reasoning": "reasoning", "input_audio": "input_audio",
         "output_audio": "output_audio"}
# An experimental mode's request options that make it a mode of the vocabulary.
_PRIORITY = {"service_tier": "priority"}


def parse(payload: Any, ctx: ParseContext) -> list[Offering]:
    """`{provider_id: {..., models: {model_id: model}}}` -> one offering per provider x model."""
    providers = expect(payload, dict, NAME, "the response")

    def provider_rows(provider_id: str, provider: Any) -> list[Offering]:
        models = expect(required(provider, "models", NAME, provider_id), dict, NAME,
                        f"{provider_id}.models")
        return ctx.keyed(models, lambda key, model: _model(provider_id, str(key), model, ctx),
                         prefix=f"{provider_id}/")

    return ctx.keyed(providers, lambda key, provider: provider_rows(str(key), provider),
                     describes_a_model=lambda name: name in ("models", "id", "name"))


def _model(provider_id: str, model_key: str, model: Any, ctx: ParseContext) -> Offering:
    key = f"{provider_id}/{model_key}"
    model = expect(model, dict, NAME, key)
    model_id = text(model.get("id")) or model_key
    cost = obj(model.get("cost"))
    flags: set[str] = set()
    prices = price_set(cost, (
            ("input_price", "input"),
            ("output_price", "output"),
            ("cache_read_price", "cache_read"),
            ("cache_write_price", "cache_write"),
        ), PER_MILLION, NAME, key, flags, "cost.")
    if "context_over_200k" in cost or "tiers" in cost:
        flags.add("tiered")
    limit = obj(model.get("limit"))
    modalities = obj(model.get("modalities"))
    inputs = strings(modalities.get("input"))
    extra = {
        "knowledge": text(model.get("knowledge")),
        "last_updated": day(model.get("last_updated")),
        "context_limit": integer(limit.get("context")),
        "tiers": cost.get("tiers") or cost.get("context_over_200k"),
        "other_prices": {k: v for k, v in cost.items()
                         if k in ("reasoning", "input_audio", "output_audio")} or None,
    }
    return offering(
        ctx,
        source_key=key,
        source_provider=provider_id,
        model_id=model_id,
        flags=flags,
        name=text(model.get("name")),
        context_window=integer(limit.get("input")) or integer(limit.get("context")),
        max_output_tokens=integer(limit.get("output")),
        **prices,
        input_modalities=inputs,
        output_modalities=strings(modalities.get("output")),
        supports_tools=boolean(model.get("tool_call")),
        supports_vision=None if inputs is None else "image" in inputs,
        supports_reasoning=boolean(model.get("reasoning")),
        supports_structured_output=boolean(model.get("structured_output")),
        open_weights=boolean(model.get("open_weights")),
        family=text(model.get("family")),
        release_date=day(model.get("release_date")),
        status=text(model.get("status")),
        extra=extra,
        prices=components(ctx, key, price_sheet(model)),
    )


def price_sheet(model: Any) -> PriceSheet:
    """`cost`, its `tiers` (from `tier.size` prompt tokens on), `context_over_200k` where no
    tier restates it (above 200,000 tokens), and `experimental.modes` (`fast` with
    `service_tier: priority` is priority)."""
    sheet = PriceSheet()
    cost = obj(model.get("cost"))
    _costs(sheet, cost, "cost.", "standard", 0)
    tiers = cost.get("tiers")
    for i, tier in enumerate(tiers if isinstance(tiers, list) else []):
        size = obj(obj(tier).get("tier"))
        if size.get("type", "context") != "context" or integer(size.get("size")) is None:
            sheet.reject(f"cost.tiers[{i}]", "a tier that is not a context size", tier)
            continue
        _costs(sheet, {k: v for k, v in tier.items() if k != "tier"}, f"cost.tiers[{i}].",
               "standard", integer(size["size"]) or 0)
    over = cost.get("context_over_200k")
    if isinstance(over, dict) and not tiers:
        _costs(sheet, over, "cost.context_over_200k.", "standard", 200_001)
    elif over is not None and not any(
            {k: v for k, v in obj(t).items() if k != "tier"} == over for t in tiers or []):
        sheet.reject("cost.context_over_200k", "differs from every tier in `tiers`", over)
    for name, mode in obj(obj(model.get("experimental")).get("modes")).items():
        options = obj(obj(obj(mode).get("provider")).get("body"))
        named = "priority" if _PRIORITY.items() <= options.items() else str(name)
        if named not in ("priority", "fast", "batch", "flex"):
            sheet.reject(f"experimental.modes.{name}", "a mode the price model does not know",
                         mode)
            continue
        _costs(sheet, obj(obj(mode).get("cost")), f"experimental.modes.{name}.cost.", named, 0)
    return sheet


def _costs(sheet: PriceSheet, cost: Any, prefix: str, mode: str, start: int) -> None:
    for field, value in obj(cost).items():
        if field in ("tiers", "context_over_200k"):
            continue
        if field in COSTS:
            sheet.add(COSTS[field], value, PER_MILLION, prefix + field, mode=mode,
                      min_prompt_tokens=start)
        else:
            sheet.reject(prefix + field, "a cost the price model has no component for", value)


SPEC = SourceSpec(
    name=NAME,
    title="models.dev",
    description=(
        "Every provider's models from the open models.dev database, "
        "`GET https://models.dev/api.json` (no key). Prices are USD per 1M tokens."
    ),
    url="https://models.dev/api.json",
    parse=parse,
    role="registry",
    min_rows=1500,
    docs_url="https://github.com/sst/models.dev",
)
