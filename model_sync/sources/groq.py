"""Groq: the models its API serves, with context windows and output limits but no prices."""

from typing import Any

from model_sync.sources.base import (
    Auth,
    Offering,
    ParseContext,
    SourceSpec,
    integer,
    model_offering,
    parse_listing,
    text,
    unix_time,
)

NAME = "groq"


def parse(payload: Any, ctx: ParseContext) -> list[Offering]:
    """`{"data": [model]}` -> one offering per model; prices come from the curated sources."""
    return parse_listing(payload, ctx, NAME, _model)


def _model(ctx: ParseContext, entry: Any, _key: str, model_id: str) -> Offering:
    active = entry.get("active")
    return model_offering(
        ctx, NAME, model_id,
        creator=text(entry.get("owned_by")),
        context_window=integer(entry.get("context_window")),
        max_output_tokens=integer(entry.get("max_completion_tokens")),
        status="inactive" if active is False else ("active" if active is True else None),
        created_at=unix_time(entry.get("created")),
    )


SPEC = SourceSpec(
    name=NAME,
    title="Groq",
    description=(
        "Models served by Groq, from `GET https://api.groq.com/openai/v1/models` (key in "
        "`GROQ_API_KEY`). The API publishes no prices: they come from the curated sources."
    ),
    url="https://api.groq.com/openai/v1/models",
    parse=parse,
    auth=Auth(env_var="GROQ_API_KEY"),
    min_rows=5,
    docs_url="https://console.groq.com/docs/models",
)
