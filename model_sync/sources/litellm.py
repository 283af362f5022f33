"""LiteLLM's community price file: one entry per model name LiteLLM can route, USD per token."""

from typing import Any

from model_sync.catalog.money import PER_TOKEN
from model_sync.catalog.providers import canonical_provider
from model_sync.sources.base import (
    Offering,
    ParseContext,
    SourceSpec,
    boolean,
    components,
    day,
    expect,
    integer,
    offering,
    price_set,
    required,
    strings,
    text,
)
from model_sync.sources.litellm_prices import price_sheet

NAME = "litellm"
MODEL_FIELDS = frozenset({"litellm_provider", "mode"})


def parse(payload: Any, ctx: ParseContext) -> list[Offering]:
    """`{model_name: entry}` -> one offering per entry; keys that are not models (the
    `sample_spec` schema sample, a `last_updated` stamp, metadata) are told apart by shape."""
    entries = expect(payload, dict, NAME, "the response")
    return ctx.keyed(entries, lambda key, entry: _entry(str(key), entry, ctx),
                     describes_a_model=describes_a_model)


def describes_a_model(name: str) -> bool:
    """Fields only a model entry has: its provider, mode, prices and token limits."""
    return name in MODEL_FIELDS or "cost" in name or name.startswith("max_")


def model_id_for(key: str, source_provider: str) -> str:
    """Strip LiteLLM's routing prefix: `openrouter/openai/gpt-4o` is OpenRouter `openai/gpt-4o`."""
    head, sep, rest = key.partition("/")
    if sep and rest and canonical_provider(head) == canonical_provider(source_provider):
        return rest
    return key


def output_limit(entry: dict[str, Any]) -> int | None:
    """The published output limit. LiteLLM's file fills `max_output_tokens` with `max_tokens`
    where the provider states none, and `max_tokens` with the input limit (its `sample_spec`):
    an output limit equal to the input limit is that filler, not a published limit."""
    limit = integer(entry.get("max_output_tokens"))
    return None if limit is not None and limit == integer(entry.get("max_input_tokens")) else limit


def _entry(key: str, entry: dict[str, Any], ctx: ParseContext) -> Offering:
    source_provider = str(required(entry, "litellm_provider", NAME, key))
    flags: set[str] = set()
    prices = price_set(entry, (
            ("input_price", "input_cost_per_token"),
            ("output_price", "output_cost_per_token"),
            ("cache_read_price", "cache_read_input_token_cost"),
            ("cache_write_price", "cache_creation_input_token_cost"),
        ), PER_TOKEN, NAME, key, flags)
    tiers = {k: v for k, v in entry.items() if "_above_" in k and "cost" in k}
    if tiers:
        flags.add("tiered")
    model_id = model_id_for(key, source_provider)
    return offering(
        ctx,
        source_key=key,
        source_provider=source_provider,
        model_id=model_id,
        flags=flags,
        kind=text(entry.get("mode")),
        context_window=integer(entry.get("max_input_tokens")),
        max_output_tokens=output_limit(entry),
        **prices,
        input_modalities=strings(entry.get("supported_modalities")),
        output_modalities=strings(entry.get("supported_output_modalities")),
        supports_tools=boolean(entry.get("supports_function_calling")),
        supports_vision=boolean(entry.get("supports_vision")),
        supports_reasoning=boolean(entry.get("supports_reasoning")),
        supports_structured_output=boolean(entry.get("supports_response_schema")),
        deprecation_date=day(entry.get("deprecation_date")),
        extra={"tiers": tiers} if tiers else None,
        prices=components(ctx, key, price_sheet(entry, model_id, source_provider)),
    )


SPEC = SourceSpec(
    name=NAME,
    title="LiteLLM price file",
    description=(
        "LiteLLM's `model_prices_and_context_window.json`, the raw file of the BerriAI/litellm "
        "repository on GitHub (no key). Prices are USD per token."
    ),
    url="https://raw.githubusercontent.com/BerriAI/litellm/main/model_prices_and_context_window.json",
    parse=parse,
    role="registry",
    min_rows=500,
    docs_url="https://docs.litellm.ai/docs/completion/token_usage",
)
