"""models.dev: an open database of providers and their models; each provider's offering is a row."""

from typing import Any

from model_sync.catalog.money import PER_MILLION
from model_sync.sources.base import (
    Offering,
    ParseContext,
    SourceSpec,
    boolean,
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
    )


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
