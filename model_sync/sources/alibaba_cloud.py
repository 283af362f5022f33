"""Alibaba Cloud Model Studio (DashScope): its OpenAI-compatible model list, per region."""

from typing import Any

from model_sync.sources.base import Auth, Offering, ParseContext, SourceSpec
from model_sync.sources.openai_list import kind_from_id, parse_model_list

NAME = "alibaba_cloud"
# International (Singapore) and China (Beijing) endpoints are separate services with their own
# keys and catalogs; the canonical providers are `alibaba` and `alibaba-cn`, as models.dev has.
REGIONS = {
    "intl": "https://dashscope-intl.aliyuncs.com/compatible-mode/v1/models",
    "cn": "https://dashscope.aliyuncs.com/compatible-mode/v1/models",
}
PROVIDERS = {"intl": "alibaba", "cn": "alibaba-cn"}


def parse(payload: Any, ctx: ParseContext) -> list[Offering]:
    """`{"object": "list", "data": [{id, created, owned_by}]}` -> one unpriced offering each."""
    provider = PROVIDERS[ctx.region or "intl"]
    return parse_model_list(payload, ctx, NAME, provider, kind=kind_from_id)


SPEC = SourceSpec(
    name=NAME,
    title="Alibaba Cloud Model Studio",
    description=(
        "Models of Alibaba Cloud Model Studio (DashScope), from the OpenAI-compatible "
        "`GET https://dashscope-intl.aliyuncs.com/compatible-mode/v1/models` (key in "
        "`DASHSCOPE_API_KEY`; `ALIBABA_CLOUD_REGION=cn` reads the China endpoint "
        "`dashscope.aliyuncs.com` instead). The list has no prices: they come from the curated "
        "sources."
    ),
    url=REGIONS["intl"],
    parse=parse,
    auth=Auth(env_var="DASHSCOPE_API_KEY"),
    regions=REGIONS,
    region_env="ALIBABA_CLOUD_REGION",
    min_rows=20,
    docs_url="https://www.alibabacloud.com/help/en/model-studio/compatibility-of-openai-with-dashscope",
)
