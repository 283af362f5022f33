"""One canonical id per real provider, whatever each source calls it.

models.dev says `amazon-bedrock`, LiteLLM `bedrock` / `bedrock_converse`, genai-prices `aws`: all
are `bedrock`. Ids are lower case with `-`; anything not listed keeps its own normalized spelling.
"""

import re
from functools import lru_cache

# canonical id -> the spellings sources use (after lower-casing and `_` -> `-`)
ALIASES: dict[str, tuple[str, ...]] = {
    "bedrock": ("amazon-bedrock", "bedrock-converse", "bedrock-mantle", "aws", "aws-bedrock"),
    "vertex": ("google-vertex", "google-vertex-anthropic", "vertex-ai", "vertexai"),
    "google": ("gemini", "google-ai-studio", "palm"),
    "together": ("togetherai", "together-ai"),
    "fireworks": ("fireworks-ai",),
    "novita": ("novita-ai",),
    "xai": ("x-ai",),
    "moonshot": ("moonshotai",),
    "moonshot-cn": ("moonshotai-cn",),
    "alibaba": ("dashscope", "alibaba-cloud", "qwen"),
    "alibaba-cn": ("dashscope-cn",),
    "openai": ("text-completion-openai",),
    "cohere": ("cohere-chat",),
    "azure": ("azure-text", "azure-openai"),
    "featherless": ("featherless-ai",),
    "nvidia": ("nvidia-nim",),
    "friendli": ("friendliai",),
    "meta": ("meta-llama", "llama", "llama-api"),
    "vercel": ("vercel-ai-gateway",),
    "snowflake": ("snowflake-cortex",),
    "cloudflare": ("cloudflare-workers-ai",),
    "gmi": ("gmicloud",),
    "lambda": ("lambda-ai",),
    "voyage": ("voyageai",),
    "zhipu": ("zhipuai",),
    "nearai": ("near-ai", "near"),
    "huggingface": ("hf", "hugging-face"),
}

# Families of provider ids that share a prefix (LiteLLM's `vertex_ai-anthropic_models`, ...).
PREFIXES: tuple[tuple[str, str], ...] = (
    ("vertex-ai-", "vertex"),
    ("fireworks-ai-", "fireworks"),
)

_LOOKUP = {alias: canonical for canonical, aliases in ALIASES.items() for alias in aliases}
_CLEAN = re.compile(r"[^a-z0-9.\-]+")


def normalize_provider(raw: str) -> str:
    """Lower case, `_` and spaces to `-`: the spelling aliases are written in."""
    return _CLEAN.sub("-", raw.strip().lower().replace("_", "-")).strip("-")


@lru_cache(maxsize=1 << 12)  # a source names a few providers, on every row
def canonical_provider(raw: str | None) -> str | None:
    """The canonical id for a provider as a source spells it."""
    if raw is None:
        return None
    name = normalize_provider(raw)
    if name in _LOOKUP:
        return _LOOKUP[name]
    for prefix, canonical in PREFIXES:
        if name.startswith(prefix):
            return canonical
    return name
