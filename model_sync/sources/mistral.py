"""Mistral AI: the models of La Plateforme with capabilities, context and deprecation dates."""

from typing import Any

from model_sync.sources.base import (
    Auth,
    Offering,
    ParseContext,
    SourceSpec,
    boolean,
    day,
    integer,
    model_offering,
    obj,
    parse_listing,
    text,
    unix_time,
)

NAME = "mistral"


def parse(payload: Any, ctx: ParseContext) -> list[Offering]:
    """`{"object": "list", "data": [model card]}` -> one offering per model id (no prices)."""
    return parse_listing(payload, ctx, NAME, _model)


def _model(ctx: ParseContext, entry: Any, _key: str, model_id: str) -> Offering:
    caps = obj(entry.get("capabilities"))
    deprecation = day(entry.get("deprecation"))
    if entry.get("archived") is True:
        status = "archived"
    elif deprecation is not None:
        status = "deprecated" if deprecation <= ctx.today.isoformat() else "deprecating"
    else:
        status = "active"
    extra = {
        "aliases": entry.get("aliases") or None,
        "type": text(entry.get("type")),
        "replacement": text(entry.get("deprecation_replacement_model")),
        "fine_tuning": boolean(caps.get("fine_tuning")),
        "completion_fim": boolean(caps.get("completion_fim")),
    }
    return model_offering(
        ctx, NAME, model_id,
        name=text(entry.get("name")),
        creator=text(entry.get("owned_by")),
        kind=_kind(model_id, caps),
        context_window=integer(entry.get("max_context_length")),
        supports_tools=boolean(caps.get("function_calling")),
        supports_vision=boolean(caps.get("vision")),
        deprecation_date=deprecation,
        status=status,
        created_at=unix_time(entry.get("created")),
        extra=extra,
    )


def _kind(model_id: str, caps) -> str | None:
    if caps.get("completion_chat") is True:
        return "chat"
    if "embed" in model_id:
        return "embedding"
    if caps.get("classification") is True or "moderation" in model_id:
        return "moderation"
    return None


SPEC = SourceSpec(
    name=NAME,
    title="Mistral AI",
    description=(
        "Models of Mistral AI's La Plateforme, from `GET https://api.mistral.ai/v1/models` (key "
        "in `MISTRAL_API_KEY`): capabilities, context length, aliases and deprecation dates. "
        "No prices in this API: they come from the curated sources."
    ),
    url="https://api.mistral.ai/v1/models",
    parse=parse,
    auth=Auth(env_var="MISTRAL_API_KEY"),
    min_rows=10,
    docs_url="https://docs.mistral.ai/api/#tag/models",
)
