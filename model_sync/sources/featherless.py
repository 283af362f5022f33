"""Featherless AI: tens of thousands of Hugging Face models served by subscription, paged."""

from typing import Any

from model_sync.http.paging import PageNumber
from model_sync.sources.base import (
    Auth,
    Offering,
    ParseContext,
    SourceSpec,
    boolean,
    integer,
    model_offering,
    obj,
    org_of,
    parse_listing,
    text,
)

NAME = "featherless"
PER_PAGE = 1000


def parse(payload: Any, ctx: ParseContext) -> list[Offering]:
    """One page `{data: [model], pagination?, total?}` -> one offering per model.

    Featherless bills by subscription plan, not per token: its rows carry no prices.
    """
    return parse_listing(payload, ctx, NAME, _model)


def has_more(payload: Any) -> bool:
    """Another `?page=N` follows a non-empty page that is not the advertised last one.

    Past about 22,000 models the API answers empty pages although it advertises more: an empty
    page ends the listing (the shortfall is reported against `advertised_total`).
    """
    data = obj(payload).get("data")
    if not isinstance(data, list) or not data:
        return False
    pagination = obj(obj(payload).get("pagination"))
    current, last = integer(pagination.get("current_page")), integer(pagination.get("total_pages"))
    if current and last:
        return current < last
    return len(data) >= PER_PAGE


def advertised_total(payload: Any) -> int | None:
    """The catalog size the API advertises on a page."""
    body = obj(payload)
    return integer(obj(body.get("pagination")).get("total_items")) or integer(body.get("total"))


def _model(ctx: ParseContext, entry: Any, _key: str, model_id: str) -> Offering:
    extra = {
        "model_class": text(entry.get("model_class")),
        "is_gated": boolean(entry.get("is_gated")),
        "available_on_current_plan": boolean(entry.get("available_on_current_plan")),
    }
    return model_offering(
        ctx, NAME, model_id,
        name=text(entry.get("name")),
        creator=org_of(model_id),
        context_window=integer(entry.get("context_length")),
        max_output_tokens=integer(entry.get("max_completion_tokens")),
        open_weights=True,  # every model is a public Hugging Face repository
        hugging_face_id=model_id if "/" in model_id else None,
        extra=extra,
    )


SPEC = SourceSpec(
    name=NAME,
    title="Featherless AI",
    description=(
        "Models served by Featherless AI, from "
        "`GET https://api.featherless.ai/v1/models?page=N&per_page=1000` (optional key in "
        "`FEATHERLESS_API_KEY`): model class, context and output limits, gating. Subscription "
        "plans, no per-token prices. Pages past about 22,000 models come back empty: the listing "
        "stops there and the shortfall is reported."
    ),
    url="https://api.featherless.ai/v1/models",
    parse=parse,
    paging=PageNumber(has_more=has_more),
    params={"per_page": str(PER_PAGE)},
    advertised_total=advertised_total,
    auth=Auth(env_var="FEATHERLESS_API_KEY", required=False),
    cron="0 4 * * *",
    min_rows=10_000,
    max_pages=60,
    docs_url="https://featherless.ai/docs/api-reference-models",
)
