"""The OpenAI-compatible `GET /models` list that several providers serve without prices."""

from collections.abc import Callable
from typing import Any

from model_sync.sources.base import (
    ParseContext,
    Row,
    entry_id,
    listed,
    offering,
    text,
    unix_time,
)


def parse_model_list(payload: Any, ctx: ParseContext, source: str, provider: str,
                     kind: Callable[[str], str | None] = lambda _id: None) -> list[Row]:
    """`{"object": "list", "data": [{id, created, owned_by}]}` -> one unpriced offering each.

    These lists carry no prices or limits: the catalog takes them from the curated sources.
    """
    def build(entry: Any, index: int) -> Row:
        _key, model_id = entry_id(entry, index, source)
        return offering(
            ctx,
            source_key=model_id,
            source_provider=provider,
            model_id=model_id,
            creator=text(entry.get("owned_by")),
            kind=kind(model_id),
            created_at=unix_time(entry.get("created")),
        )

    return ctx.listed(listed(payload, source), build)


def kind_from_id(model_id: str) -> str | None:
    """A model's kind guessed only from unmistakable words in its id; else unknown."""
    lowered = model_id.lower()
    if "embed" in lowered:
        return "embedding"
    if "rerank" in lowered:
        return "rerank"
    return None
