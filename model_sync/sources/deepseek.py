"""DeepSeek: the models of its API (OpenAI-compatible list, no prices)."""

from typing import Any

from model_sync.sources.base import Auth, Offering, ParseContext, SourceSpec
from model_sync.sources.openai_list import parse_model_list

NAME = "deepseek"


def parse(payload: Any, ctx: ParseContext) -> list[Offering]:
    """`{"object": "list", "data": [{id, object, owned_by}]}` -> one offering per model."""
    return parse_model_list(payload, ctx, NAME, NAME)


SPEC = SourceSpec(
    name=NAME,
    title="DeepSeek",
    description=(
        "Models of the DeepSeek API, from `GET https://api.deepseek.com/models` (key in "
        "`DEEPSEEK_API_KEY`). The list names models only: prices and limits come from the "
        "curated sources."
    ),
    url="https://api.deepseek.com/models",
    parse=parse,
    auth=Auth(env_var="DEEPSEEK_API_KEY"),
    min_rows=2,
    docs_url="https://api-docs.deepseek.com/api/list-models",
)
