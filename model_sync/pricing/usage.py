"""A request's usage, as genai-prices' `Usage` names it (`input_tokens` with cached tokens
included, `cache_read_tokens`, `output_tokens` with reasoning included, ...): given as a
mapping, as an object with those attributes, or as the `usage` an API reported (OpenAI chat and
responses, Anthropic messages, Google `usageMetadata`), read the way genai-prices' extractors
read them."""

from collections.abc import Mapping
from decimal import Decimal, InvalidOperation
from typing import Any

from model_sync.pricing.vocabulary import USAGE_FIELDS

Usage = dict[str, Decimal]
COUNTS = USAGE_FIELDS | {"requests"}


class UsageError(ValueError):
    """A usage that cannot be read: unknown fields, a count that is not a number."""


def read_usage(usage: Any, provider: str | None = None) -> Usage:
    """The counts of a usage, by field; absent fields are absent (zero). `provider` (canonical)
    settles what an API's own usage means where providers differ (xAI's completion tokens
    leave its reasoning tokens out)."""
    if hasattr(usage, "model_dump"):  # pydantic models (API SDKs' usage objects)
        usage = usage.model_dump()
    if not isinstance(usage, Mapping):
        return _counts({k: v for k in COUNTS if (v := _attribute(usage, k)) is not None})
    for wrapper in ("usage", "usageMetadata"):  # a whole response body
        if isinstance(usage.get(wrapper), Mapping):
            usage = usage[wrapper]
    # Labels an API adds beside the counts (`service_tier`, `inference_geo`) are not counts.
    unknown = {k for k in set(usage) - COUNTS if not isinstance(usage[k], str | None)}
    if not unknown:
        return _counts({k: v for k, v in usage.items() if k in COUNTS})
    for looks_like, extract in _SHAPES:
        if looks_like(usage):
            counts = extract(usage)
            if provider == "xai" and extract is _openai_chat:
                _add(counts, "output_tokens", counts.get("output_reasoning_tokens"))
            return _counts(counts)
    raise UsageError(f"unknown usage fields: {', '.join(sorted(unknown))}; a usage names "
                     "genai-prices' fields (input_tokens, cache_read_tokens, output_tokens, "
                     "output_reasoning_tokens, web_searches, ...) or is the usage an API "
                     "reported (OpenAI, Anthropic, Google)")


def _attribute(obj: Any, name: str) -> Any:
    try:
        return getattr(obj, name, None)
    except (ValueError, TypeError):  # genai-prices' Usage refuses to infer some fields
        return None


def _counts(values: Mapping[str, Any]) -> Usage:
    out: Usage = {}
    for name, value in values.items():
        if value is None:
            continue
        if isinstance(value, bool) or not isinstance(value, int | float | Decimal | str):
            raise UsageError(f"usage {name}: expected a number, got {value!r}")
        try:
            number = Decimal(str(value))
        except InvalidOperation:
            raise UsageError(f"usage {name}: expected a number, got {value!r}") from None
        if not number.is_finite() or number < 0:
            raise UsageError(f"usage {name}: expected a count of 0 or more, got {value!r}")
        if number:
            out[name] = number
    return out


def _get(values: Any, *path: str) -> Any:
    for step in path:
        values = values.get(step) if isinstance(values, Mapping) else None
    return values


def _add(out: dict[str, Any], name: str, value: Any) -> None:
    if isinstance(value, int | float | Decimal) and not isinstance(value, bool):
        out[name] = out.get(name, 0) + value


def _anthropic(u: Mapping[str, Any]) -> dict[str, Any]:
    """Anthropic's `input_tokens` leaves out the cached ones."""
    out: dict[str, Any] = {}
    for name in ("input_tokens", "cache_creation_input_tokens", "cache_read_input_tokens"):
        _add(out, "input_tokens", u.get(name))
    _add(out, "cache_write_tokens", u.get("cache_creation_input_tokens"))
    _add(out, "cache_write_5m_tokens", _get(u, "cache_creation", "ephemeral_5m_input_tokens"))
    _add(out, "cache_write_1h_tokens", _get(u, "cache_creation", "ephemeral_1h_input_tokens"))
    _add(out, "cache_read_tokens", u.get("cache_read_input_tokens"))
    _add(out, "web_searches", _get(u, "server_tool_use", "web_search_requests"))
    _add(out, "output_reasoning_tokens", _get(u, "output_tokens_details", "thinking_tokens"))
    _add(out, "output_tokens", u.get("output_tokens"))
    return out


def _bedrock(u: Mapping[str, Any]) -> dict[str, Any]:
    """Bedrock's Converse API: `inputTokens` leave out the cached ones."""
    out: dict[str, Any] = {}
    for name in ("inputTokens", "cacheReadInputTokens", "cacheWriteInputTokens"):
        _add(out, "input_tokens", u.get(name))
    _add(out, "cache_read_tokens", u.get("cacheReadInputTokens"))
    _add(out, "cache_write_tokens", u.get("cacheWriteInputTokens"))
    _add(out, "output_tokens", u.get("outputTokens"))
    return out


def _openai_chat(u: Mapping[str, Any]) -> dict[str, Any]:
    """OpenAI's chat shape, and xAI's own, whose top-level `reasoning_tokens` are not part of
    its `completion_tokens`."""
    out: dict[str, Any] = {}
    _add(out, "input_tokens", u.get("prompt_tokens"))
    _add(out, "cache_read_tokens", _get(u, "prompt_tokens_details", "cached_tokens"))
    _add(out, "cache_read_tokens", u.get("cached_prompt_text_tokens"))
    _add(out, "cache_write_tokens", _get(u, "prompt_tokens_details", "cache_write_tokens"))
    _add(out, "input_audio_tokens", _get(u, "prompt_tokens_details", "audio_tokens"))
    _add(out, "output_audio_tokens", _get(u, "completion_tokens_details", "audio_tokens"))
    _add(out, "output_reasoning_tokens", _get(u, "completion_tokens_details", "reasoning_tokens"))
    _add(out, "output_reasoning_tokens", u.get("reasoning_tokens"))
    _add(out, "output_tokens", u.get("completion_tokens"))
    _add(out, "output_tokens", u.get("reasoning_tokens"))
    return out


def _openai_responses(u: Mapping[str, Any]) -> dict[str, Any]:
    out: dict[str, Any] = {}
    _add(out, "input_tokens", u.get("input_tokens"))
    _add(out, "cache_read_tokens", _get(u, "input_tokens_details", "cached_tokens"))
    _add(out, "cache_write_tokens", _get(u, "input_tokens_details", "cache_write_tokens"))
    _add(out, "output_reasoning_tokens", _get(u, "output_tokens_details", "reasoning_tokens"))
    _add(out, "output_tokens", u.get("output_tokens"))
    return out


_MODALITIES = {"AUDIO": "audio", "IMAGE": "image", "DOCUMENT": "image", "VIDEO": "video",
               "TEXT": "text"}


def _google(u: Mapping[str, Any]) -> dict[str, Any]:
    """Thoughts are output tokens Google counts apart; tool-use prompts are input tokens."""
    out: dict[str, Any] = {}
    for name in ("promptTokenCount", "toolUsePromptTokenCount"):
        _add(out, "input_tokens", u.get(name))
    _add(out, "cache_read_tokens", u.get("cachedContentTokenCount"))
    for name in ("candidatesTokenCount", "thoughtsTokenCount"):
        _add(out, "output_tokens", u.get(name))
    _add(out, "output_reasoning_tokens", u.get("thoughtsTokenCount"))
    for details, pattern in (("promptTokensDetails", "input_{}_tokens"),
                             ("toolUsePromptTokensDetails", "input_{}_tokens"),
                             ("cacheTokensDetails", "cache_{}_read_tokens"),
                             ("candidatesTokensDetails", "output_{}_tokens")):
        for item in u.get(details) or ():
            modality = _MODALITIES.get(str(_get(item, "modality")))
            if modality:
                _add(out, pattern.format(modality), _get(item, "tokenCount"))
    return out


_SHAPES = (
    (lambda u: "promptTokenCount" in u or "candidatesTokenCount" in u, _google),
    (lambda u: "inputTokens" in u or "outputTokens" in u, _bedrock),
    (lambda u: "prompt_tokens" in u, _openai_chat),
    (lambda u: any(k in u for k in ("cache_creation_input_tokens", "cache_read_input_tokens",
                                    "cache_creation", "server_tool_use")), _anthropic),
    (lambda u: "input_tokens_details" in u or "output_tokens_details" in u, _openai_responses),
)
