"""The OpenAI-compatible `GET /models` list that several providers serve without prices."""

from collections.abc import Callable
from typing import Any

from model_sync.sources.base import (
    Offering,
    ParseContext,
    model_offering,
    parse_listing,
    text,
    unix_time,
)


def parse_model_list(payload: Any, ctx: ParseContext, source: str, provider: str,
                     kind: Callable[[str], str | None] = lambda _id: None) -> list[Offering]:
    """`{"object": "list", "data": [{id, created, owned_by}]}` -> one unpriced offering each.

    These lists carry no prices or limits: the catalog takes them from the curated sources.
    """
    def build(ctx: ParseContext, entry: Any, _key: str, model_id: str) -> Offering:
        return model_offering(ctx, provider, model_id, creator=text(entry.get("owned_by")),
                              kind=kind(model_id), created_at=unix_time(entry.get("created")))

    return parse_listing(payload, ctx, source, build)


def kind_from_id(model_id: str) -> str | None:
    """A model's kind guessed only from unmistakable words in its id; else unknown."""
    lowered = model_id.lower()
    if "embed" in lowered:
        return "embedding"
    if "rerank" in lowered:
        return "rerank"
    return None
