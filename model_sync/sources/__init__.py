"""The sources model_sync reads. Adding one is adding a module with a `SPEC` and a line here."""

from model_sync.sources import (
    alibaba_cloud,
    artificial_analysis,
    cerebras,
    deepinfra,
    deepseek,
    featherless,
    fireworks,
    genai_prices,
    groq,
    huggingface,
    litellm,
    mistral,
    models_dev,
    nearai,
    novita,
    openrouter,
    together,
    xai,
)
from model_sync.sources.base import ParseContext, ParseError, SourceSpec

SOURCES: tuple[SourceSpec, ...] = (
    openrouter.SPEC,
    models_dev.SPEC,
    litellm.SPEC,
    genai_prices.SPEC,
    deepinfra.SPEC,
    groq.SPEC,
    artificial_analysis.SPEC,
    huggingface.SPEC,
    together.SPEC,
    fireworks.SPEC,
    featherless.SPEC,
    nearai.SPEC,
    alibaba_cloud.SPEC,
    cerebras.SPEC,
    mistral.SPEC,
    deepseek.SPEC,
    xai.SPEC,
    novita.SPEC,
)

SOURCES_BY_NAME: dict[str, SourceSpec] = {spec.name: spec for spec in SOURCES}

__all__ = ["SOURCES", "SOURCES_BY_NAME", "ParseContext", "ParseError", "SourceSpec", "get_source"]


def get_source(name: str) -> SourceSpec:
    """The spec of a source by name, with the known names in the error."""
    try:
        return SOURCES_BY_NAME[name]
    except KeyError:
        known = ", ".join(sorted(SOURCES_BY_NAME))
        raise KeyError(f"unknown source {name!r}; known sources: {known}") from None
