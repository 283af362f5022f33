"""Artificial Analysis: independent intelligence/coding indexes, speed and median prices."""

from typing import Any

from model_sync.http.paging import PageNumber
from model_sync.sources.base import (
    Auth,
    Offering,
    ParseContext,
    PriceSheet,
    SourceSpec,
    components,
    day,
    obj,
    offering,
    parse_listing,
    required,
    text,
)

NAME = "artificial_analysis"
# The medians across the providers serving a model, USD per 1M tokens.
MEDIANS = {"price_1m_input_tokens": "input", "price_1m_output_tokens": "output",
           "price_1m_cache_hit_tokens": "cache_read", "price_1m_cache_write_tokens": "cache_write"}


def parse(payload: Any, ctx: ParseContext) -> list[Offering]:
    """One page `{pagination, data: [model]}` -> one benchmark row per model (keyed by its UUID).

    These rows describe models, not offerings: the catalog joins their scores to offerings and
    never lists them as a provider's own. Median prices across providers stay in `extra`.
    """
    return parse_listing(payload, ctx, NAME, _model)


def has_more(payload: Any) -> bool:
    """Whether another `?page=N` follows this one."""
    return bool(obj(obj(payload).get("pagination")).get("has_more"))


def _model(ctx: ParseContext, entry: Any, key: str, uuid: str) -> Offering:
    slug = required(entry, "slug", NAME, key)
    creator = obj(entry.get("model_creator"))
    evaluations = obj(entry.get("evaluations"))
    performance = obj(entry.get("performance"))
    pricing = obj(entry.get("pricing"))
    extra = {
        "intelligence_index": evaluations.get("artificial_analysis_intelligence_index"),
        "coding_index": evaluations.get("artificial_analysis_coding_index"),
        "agentic_index": evaluations.get("artificial_analysis_agentic_index"),
        "output_tokens_per_second": performance.get("median_output_tokens_per_second"),
        "time_to_first_token_seconds": performance.get("median_time_to_first_token_seconds"),
        "median_input_price": pricing.get("price_1m_input_tokens"),
        "median_output_price": pricing.get("price_1m_output_tokens"),
        "creator_id": creator.get("id"),
    }
    return offering(
        ctx,
        source_key=uuid,
        source_provider=NAME,
        model_id=slug,
        name=text(entry.get("name")),
        creator=text(creator.get("name")),
        release_date=day(entry.get("release_date")),
        extra=extra,
        prices=components(ctx, key, price_sheet(pricing)),
    )


def price_sheet(pricing: Any) -> PriceSheet:
    """The median prices of a model (a benchmark figure, never a provider's price: these rows
    stay out of the catalog). A blended price is a mix of two prices, not one of its own."""
    sheet = PriceSheet()
    for field, value in pricing.items():
        if field in MEDIANS:
            sheet.add(MEDIANS[field], value, 0, f"pricing.{field}")
        elif value is not None:
            sheet.reject(f"pricing.{field}", "a blend or figure the price model has no "
                         "component for", value)
    return sheet


SPEC = SourceSpec(
    name=NAME,
    title="Artificial Analysis",
    description=(
        "Benchmarks from the Artificial Analysis v2 language models API, paged with `?page=N` "
        "(key in `ARTIFICIAL_ANALYSIS_API_KEY`): intelligence/coding indexes and speed. "
        "Data by artificialanalysis.ai."
    ),
    url="https://artificialanalysis.ai/api/v2/language/models/free",
    parse=parse,
    role="benchmarks",
    paging=PageNumber(has_more=has_more),
    auth=Auth(env_var="ARTIFICIAL_ANALYSIS_API_KEY", header="x-api-key", scheme=""),
    min_rows=100,
    max_pages=20,
    probe_minutes=720,  # a probe spends a request of the free tier's quota
    docs_url="https://artificialanalysis.ai/documentation",
)
