"""The sources' entries that copy another source: where two sources agree or disagree, a copy
is not a second opinion. Declared here, and only here: (source, provider) -> the source copied.

- models.dev's and genai-prices' `openrouter` providers are generated from OpenRouter's own
  API: on the recordings, 284 of the 335 priced models of models.dev's (2026-06-01) and 325
  of the 399 of genai-prices' (2026-07-25) that OpenRouter lists carry exactly a price its API
  published at one of the recorded dates (long decimals such as 0.2288 included); the others
  look like its prices at dates not recorded.
- LiteLLM's `openrouter/...` entries are not copies: they are written by hand, and 34 of its
  89 (2026-04-02) match no recorded OpenRouter price from 2025-05 to 2026-08; many carry the
  model maker's own price (DeepSeek's 0.14 / 0.28) or an old one never refreshed. They count
  as LiteLLM's own statement of what OpenRouter charges.
"""

COPIES: dict[tuple[str, str], str] = {
    ("models_dev", "openrouter"): "openrouter",
    ("genai_prices", "openrouter"): "openrouter",
}


def copied_from(source: str, provider: str) -> str | None:
    """The source a source's entries of `provider` copy, or None when they are its own."""
    return COPIES.get((source, provider))
