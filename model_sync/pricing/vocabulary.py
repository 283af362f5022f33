"""The price model's closed vocabulary: every component a price may have, the unit it is quoted
in, the usage field it prices, and the modes a provider serves requests in.

Token components form a hierarchy, as in genai-prices' unit registry: a component's usage is
part of every component whose dimensions it extends (cache reads are input tokens, reasoning
tokens are output tokens), so an unpriced part is billed at its nearest priced ancestor.
"""

from collections.abc import Mapping
from dataclasses import dataclass, field
from itertools import product

MODES = ("standard", "batch", "flex", "priority", "fast")
STANDARD = "standard"

# Each unit is a power of ten of its quantity, so converting a published price is exact.
UNITS: dict[str, int] = {
    "1M tokens": 6, "1M characters": 6, "1M pixels": 6, "1k searches": 3, "1k queries": 3,
    "request": 0, "image": 0, "second": 0, "page": 0, "session": 0, "hour": 0,
}


@dataclass(frozen=True)
class Component:
    """One kind of charge: its name, the unit its price is quoted in, the usage field it
    prices, and for tokens the dimensions that place it in the hierarchy."""

    name: str
    unit: str
    usage: str
    doc: str
    dims: Mapping[str, str] = field(default_factory=dict)

    @property
    def exponent(self) -> int:
        """The quantity its price is quoted per, as a power of ten (6: per 1M)."""
        return UNITS[self.unit]


def _dims(direction: str, modality: str | None = None, token_type: str | None = None,
          ttl: str | None = None) -> dict[str, str]:
    dims = {"direction": direction}
    for name, value in (("modality", modality), ("token_type", token_type), ("cache_ttl", ttl)):
        if value:
            dims[name] = value
    return dims


def _token_usage() -> dict[str, dict[str, str]]:
    """Every token field of genai-prices' `Usage`, with its dimensions."""
    usage: dict[str, dict[str, str]] = {}
    kinds: tuple[str | None, ...] = ("read", "write", "write_5m", "write_1h", "tool", None)
    for modality, kind in product((None, "text", "audio", "image", "video"), kinds):
        prefix = f"cache_{modality}" if modality else "cache"
        if kind is None:
            name = f"input_{modality}_tokens" if modality else "input_tokens"
            usage[name] = _dims("input", modality)
        elif kind == "tool":
            name = f"input_{modality}_tool_tokens" if modality else "input_tool_tokens"
            usage[name] = _dims("input", modality, "tool")
        else:
            ttl = kind.partition("_")[2] or None
            token_type = "cache_read" if kind == "read" else "cache_write"
            usage[f"{prefix}_{kind}_tokens"] = _dims("input", modality, token_type, ttl)
    for modality, output_type in product((None, "text", "audio", "image", "video"),
                                         (None, "reasoning", "citation")):
        parts = ["output", modality, output_type, "tokens"]
        usage["_".join(p for p in parts if p)] = _dims("output", modality, output_type)
    return usage


TOKEN_USAGE = _token_usage()

_TOKENS = (
    ("input", "input_tokens", "input (prompt) tokens, cached ones included"),
    ("output", "output_tokens", "output (completion) tokens, reasoning included"),
    ("cache_read", "cache_read_tokens", "input tokens read from the cache"),
    ("cache_write", "cache_write_tokens", "input tokens written to the cache (the default, "
     "5-minute lifetime where a provider has several)"),
    ("cache_write_5m", "cache_write_5m_tokens", "input tokens written to a 5-minute cache"),
    ("cache_write_1h", "cache_write_1h_tokens", "input tokens written to a 1-hour cache"),
    ("reasoning", "output_reasoning_tokens", "reasoning (thinking) output tokens"),
    ("citation", "output_citation_tokens", "citation output tokens"),
    ("input_audio", "input_audio_tokens", "audio input tokens"),
    ("output_audio", "output_audio_tokens", "audio output tokens"),
    ("cache_audio_read", "cache_audio_read_tokens", "audio input tokens read from the cache"),
    ("cache_audio_write", "cache_audio_write_tokens", "audio input tokens written to the cache"),
    ("input_image", "input_image_tokens", "image input tokens"),
    ("output_image", "output_image_tokens", "image output tokens"),
    ("cache_image_read", "cache_image_read_tokens", "image input tokens read from the cache"),
    ("input_video", "input_video_tokens", "video input tokens"),
    ("output_video", "output_video_tokens", "video output tokens"),
)
_OTHERS = (
    ("request", "request", "requests", "a fee per request"),
    ("web_search", "1k searches", "web_searches", "web searches (a provider's default search "
     "context size)"),
    ("web_search_low_context", "1k searches", "web_searches_low_context",
     "web searches with a low search context size"),
    ("web_search_high_context", "1k searches", "web_searches_high_context",
     "web searches with a high search context size"),
    ("file_search", "1k searches", "storage_searches", "file (vector store) searches"),
    ("query", "1k queries", "queries", "search or rerank queries"),
    ("code_interpreter_session", "session", "code_interpreter_sessions",
     "code interpreter sessions"),
    ("input_images", "image", "input_images", "input images, per image"),
    ("output_images", "image", "output_images", "generated images, per image"),
    ("input_character", "1M characters", "input_characters", "input characters"),
    ("output_character", "1M characters", "output_characters", "output characters"),
    ("input_pixel", "1M pixels", "input_pixels", "input pixels"),
    ("output_pixel", "1M pixels", "output_pixels", "output pixels"),
    ("input_second", "second", "input_seconds", "seconds of input (audio or video)"),
    ("output_second", "second", "output_seconds", "seconds of output (audio or video)"),
    ("input_audio_second", "second", "input_audio_seconds", "seconds of audio input"),
    ("input_video_second", "second", "input_video_seconds", "seconds of video input"),
    ("output_video_second", "second", "output_video_seconds", "seconds of video output"),
    ("document_page", "page", "input_document_pages", "document pages read (OCR)"),
    ("annotated_page", "page", "input_annotated_document_pages", "document pages annotated"),
    ("dedicated_hour", "hour", "dedicated_hours", "hours of a dedicated deployment"),
)

COMPONENTS: dict[str, Component] = {
    **{name: Component(name, "1M tokens", usage, doc, TOKEN_USAGE[usage])
       for name, usage, doc in _TOKENS},
    **{name: Component(name, unit, usage, doc) for name, unit, usage, doc in _OTHERS},
}
# Every usage field a cost takes: genai-prices' token fields and the counts priced above.
USAGE_FIELDS = frozenset(TOKEN_USAGE) | {c.usage for c in COMPONENTS.values()}
PROMPT_FIELD = "input_tokens"  # what a long-context tier's threshold is compared with


def component(name: str) -> Component:
    """The component of that name; a KeyError names the vocabulary."""
    try:
        return COMPONENTS[name]
    except KeyError:
        raise KeyError(f"unknown price component {name!r}; known: "
                       f"{', '.join(COMPONENTS)}") from None


def extends(child: Mapping[str, str], parent: Mapping[str, str]) -> bool:
    """Whether a token usage is part of another: its dimensions include the other's."""
    return child is not parent and parent.items() <= child.items()
