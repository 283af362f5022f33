"""Cerebras: the models its inference API serves (OpenAI-compatible list, no prices)."""

from typing import Any

from model_sync.sources.base import Auth, Offering, ParseContext, SourceSpec
from model_sync.sources.openai_list import parse_model_list

NAME = "cerebras"


def parse(payload: Any, ctx: ParseContext) -> list[Offering]:
    """`{"object": "list", "data": [{id, created, owned_by}]}` -> one offering per model."""
    return parse_model_list(payload, ctx, NAME, NAME)


SPEC = SourceSpec(
    name=NAME,
    title="Cerebras",
    description=(
        "Models served by Cerebras Inference, from the OpenAI-compatible "
        "`GET https://api.cerebras.ai/v1/models` (key in `CEREBRAS_API_KEY`). The list has no "
        "prices or limits: they come from the curated sources."
    ),
    url="https://api.cerebras.ai/v1/models",
    parse=parse,
    auth=Auth(env_var="CEREBRAS_API_KEY"),
    min_rows=3,
    docs_url="https://inference-docs.cerebras.ai/api-reference/models",
)
