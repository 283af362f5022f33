"""The exact cost of a request, measured against published numbers: genai-prices' and LiteLLM's
worked examples, providers' price pages as the sources quote them. Each expected number says
where it comes from."""

from datetime import UTC, datetime
from decimal import Decimal
from pathlib import Path

import pytest

from model_sync.pricing.calculator import PricingError, covers, price_usage, total
from model_sync.pricing.history import at_midnight
from model_sync.pricing.merge import merge_prices, ranking
from model_sync.pricing.usage import UsageError, read_usage
from model_sync.sources import SOURCES_BY_NAME
from model_sync.sources.base import loads
from model_sync.sources.genai_prices_components import price_sheet as genai_sheet
from model_sync_tests.conftest import ctx, shared_files, unavailable

AT = datetime(2026, 8, 20, 12, tzinfo=UTC)


def intervals(key: str, prices: list[dict], source: str = "test") -> list[dict]:
    """A row's components as the `prices` table holds them."""
    return [{"source": source, "source_key": key, "provider": "p", "model_id": key,
             "component": p["component"], "unit": p["unit"], "mode": p["mode"],
             "region": p.get("region"), "min_prompt_tokens": p.get("min_prompt_tokens", 0),
             "window": p.get("window"), "price": p["price"],
             "valid_from": at_midnight(p.get("valid_from")),
             "valid_to": at_midnight(p.get("valid_to"))} for p in prices]


def priced(rows: list[dict], usage, *, at=AT, mode="standard", region=None):
    merged = merge_prices(rows, at=at, rank=ranking([]))
    lines = price_usage(merged, read_usage(usage), mode=mode, region=region, at=at,
                        offering="test")
    return total(lines), lines


def genai_model(prices) -> list[dict]:
    """A model's `prices` as genai-prices' data.json writes them."""
    entries = prices if isinstance(prices, list) else [{"prices": prices}]
    entries = [{"constraint": e.get("constraint") or {}, "prices": e["prices"]} for e in entries]
    return intervals("m", genai_sheet(entries).rows() or [])


# genai-prices' tests/test_tiered_pricing.py, "mock-multi-tier": input $1/MTok, above 100K
# input tokens $2, above 500K $3, above 1M $5; output $3, above 200K $5, above 1M $8 -- every
# tier chosen by the request's input tokens and applied to all of its tokens.
MULTI_TIER = {"input_mtok": {"base": 1, "tiers": [{"start": 100_000, "price": 2},
                                                  {"start": 500_000, "price": 3},
                                                  {"start": 1_000_000, "price": 5}]},
              "output_mtok": {"base": 3, "tiers": [{"start": 200_000, "price": 5},
                                                   {"start": 1_000_000, "price": 8}]}}


@pytest.mark.parametrize(("usage", "expected"), [
    ({"input_tokens": 100_000}, "0.1"), ({"input_tokens": 200_000}, "0.4"),
    ({"input_tokens": 500_000}, "1"), ({"input_tokens": 750_000}, "2.25"),
    ({"input_tokens": 1_000_000}, "3"), ({"input_tokens": 2_000_000}, "10"),
    ({"input_tokens": 50_000, "output_tokens": 10_000}, "0.08"),
    ({"input_tokens": 600_000, "output_tokens": 250_000}, "3.05"),
])
def test_genai_prices_multi_tier_worked_examples(usage, expected):
    assert priced(genai_model(MULTI_TIER), usage)[0] == Decimal(expected)


def test_cache_reads_and_writes_are_carved_out_of_the_input_tokens():
    """genai-prices' test_sync_success_with_url: Claude 3.5 Sonnet ($3 input, $15 output, $0.30
    cache read, $3.75 cache write per MTok), Usage(input_tokens=1000, output_tokens=100,
    cache_write_tokens=20, cache_read_tokens=30): input 0.002934, output 0.0015."""
    rows = genai_model({"input_mtok": 3, "output_mtok": 15, "cache_read_mtok": "0.3",
                        "cache_write_mtok": "3.75"})
    cost, lines = priced(rows, {"input_tokens": 1000, "output_tokens": 100,
                                "cache_write_tokens": 20, "cache_read_tokens": 30})
    assert cost == Decimal("0.004434")
    assert {line.component: line.quantity for line in lines} == {
        "input": 950, "output": 100, "cache_read": 30, "cache_write": 20}


def test_cache_writes_with_five_minute_and_one_hour_lifetimes():
    """Anthropic's prompt caching prices (Claude Sonnet 4.5): writes to the 5-minute cache at
    1.25x the $3 input price ($3.75), to the 1-hour cache at 2x ($6); reads at $0.30."""
    rows = genai_model({"input_mtok": 3, "output_mtok": 15, "cache_read_mtok": "0.3",
                        "cache_write_mtok": "3.75", "cache_write_1h_mtok": 6})
    usage = {"input_tokens": 10_000, "cache_write_tokens": 6_000,
             "cache_write_1h_tokens": 2_000, "cache_read_tokens": 1_000, "output_tokens": 0}
    cost, lines = priced(rows, usage)
    assert {line.component: (line.quantity, line.amount) for line in lines} == {
        "input": (3_000, Decimal("0.009")), "cache_read": (1_000, Decimal("0.0003")),
        "cache_write": (4_000, Decimal("0.015")), "cache_write_1h": (2_000, Decimal("0.012"))}
    assert cost == Decimal("0.0363")
    # Without a 1-hour price, 1-hour writes are cache writes: billed at the 5-minute price.
    plain = genai_model({"input_mtok": 3, "cache_write_mtok": "3.75"})
    assert priced(plain, usage)[0] == Decimal("0.0345")  # 4,000 x 3 + 6,000 x 3.75


def test_a_time_of_day_window_prices_the_requests_made_in_it():
    """DeepSeek's off-peak discount as genai-prices writes it: $0.27 input 00:30-16:30 UTC,
    $0.135 outside (end excluded)."""
    rows = genai_model([{"prices": {"input_mtok": "0.135"}},
                        {"constraint": {"start_time": "00:30:00Z", "end_time": "16:30:00Z"},
                         "prices": {"input_mtok": "0.27"}}])
    usage = {"input_tokens": 1_000_000}
    assert priced(rows, usage, at=AT.replace(hour=0, minute=30))[0] == Decimal("0.27")
    assert priced(rows, usage, at=AT.replace(hour=16, minute=29))[0] == Decimal("0.27")
    assert priced(rows, usage, at=AT.replace(hour=16, minute=30))[0] == Decimal("0.135")
    assert priced(rows, usage, at=AT.replace(hour=0, minute=29))[0] == Decimal("0.135")
    assert covers("22:00-02:00", AT.replace(hour=1).timetz())  # a window over midnight
    assert not covers("22:00-02:00", AT.replace(hour=2).timetz())


def test_every_unit_is_priced_per_its_quantity():
    """Units as the sources publish them: per 1M tokens, per request, per 1,000 searches, per
    image, per second, per 1M characters, per 1M pixels, per page, per 1,000 queries, per
    session, per hour."""
    published = [("input", "1M tokens", "2.5", "input_tokens", 2_000_000, "5"),
                 ("request", "request", "0.005", "requests", 3, "0.015"),
                 ("web_search", "1k searches", "10", "web_searches", 7, "0.07"),
                 ("output_images", "image", "0.04", "output_images", 2, "0.08"),
                 ("input_second", "second", "0.0001", "input_seconds", 60, "0.006"),
                 ("input_character", "1M characters", "15", "input_characters", 1000, "0.015"),
                 ("input_pixel", "1M pixels", "0.019", "input_pixels", 1_048_576, "0.019922944"),
                 ("document_page", "page", "0.001", "input_document_pages", 1000, "1"),
                 ("query", "1k queries", "2", "queries", 1, "0.002"),
                 ("code_interpreter_session", "session", "0.03", "code_interpreter_sessions", 2,
                  "0.06"),
                 ("dedicated_hour", "hour", "3.2", "dedicated_hours", "1.5", "4.8")]
    for name, unit, price, field, count, expected in published:
        rows = intervals("m", [{"component": name, "unit": unit, "mode": "standard",
                                "price": Decimal(price)}])
        cost, [line] = priced(rows, {field: count})
        assert (cost, line.unit) == (Decimal(expected), unit), name


def test_a_request_fee_is_charged_once_per_request_unless_counted():
    rows = intervals("m", [{"component": "input", "unit": "1M tokens", "mode": "standard",
                            "price": Decimal(1)},
                           {"component": "request", "unit": "request", "mode": "standard",
                            "price": Decimal("0.005")}])
    assert priced(rows, {"input_tokens": 1000})[0] == Decimal("0.006")


def test_a_needed_component_without_a_price_is_an_error_never_zero():
    rows = genai_model({"input_mtok": 3, "output_mtok": 15})
    with pytest.raises(PricingError, match="3 web_searches but no web_search price"):
        priced(rows, {"input_tokens": 10, "web_searches": 3})
    with pytest.raises(PricingError, match="5 output_tokens but test prices no component"):
        priced(genai_model({"input_mtok": 3}), {"input_tokens": 10, "output_tokens": 5})
    with pytest.raises(PricingError, match=r"cache_read_tokens \(20\) cannot exceed"):
        priced(genai_model({"input_mtok": 3, "cache_read_mtok": "0.3"}),
               {"input_tokens": 10, "cache_read_tokens": 20})
    with pytest.raises(PricingError, match="no batch price"):
        priced(rows, {"input_tokens": 1}, mode="batch")
    with pytest.raises(PricingError, match="no standard price in region eu"):
        priced(rows, {"input_tokens": 1}, region="eu")
    with pytest.raises(UsageError, match="unknown usage fields: input_tokenz"):
        read_usage({"input_tokenz": 1})
    with pytest.raises(UsageError, match="expected a count of 0 or more"):
        read_usage({"input_tokens": -1})
    # Unpriced parts of a priced whole are billed at the whole's price, as genai-prices does.
    assert priced(rows, {"input_tokens": 10, "input_audio_tokens": 4})[0] == Decimal("0.00003")


def test_a_mode_restates_what_differs_and_takes_the_rest_from_its_row():
    """LiteLLM's gpt-4o: batch input and output at half price ($1.25 / $5 per MTok, OpenAI's
    Batch API), no batch cache price: a batch cache read is its standard $1.25."""
    entry = {"litellm_provider": "openai", "mode": "chat", "input_cost_per_token": "2.5e-06",
             "output_cost_per_token": "1e-05", "cache_read_input_token_cost": "1.25e-06",
             "input_cost_per_token_batches": "1.25e-06", "output_cost_per_token_batches": "5e-06"}
    [row] = SOURCES_BY_NAME["litellm"].parse({"gpt-4o": entry}, ctx("litellm"))
    cost, lines = priced(intervals("gpt-4o", row["prices"], "litellm"),
                         {"input_tokens": 2_000_000, "cache_read_tokens": 1_000_000,
                          "output_tokens": 1_000_000}, mode="batch")
    assert [(line.component, line.mode, line.price) for line in lines] == [
        ("input", "batch", Decimal("1.25")), ("output", "batch", Decimal("5")),
        ("cache_read", "standard", Decimal("1.25"))]
    assert cost == Decimal("7.5")


def entry_rows(source: str, name: str, key: str) -> list[dict]:
    path = Path(shared_files(source)[0]).parent / name if shared_files(source) else None
    if path is None or not path.is_file():
        unavailable(f"recorded payload {source}/{name} not available")
    rows = SOURCES_BY_NAME[source].parse(loads(path.read_bytes(), source), ctx(source, name[:10]))
    [row] = [r for r in rows if r["source_key"] == key]
    return intervals(key, row["prices"], source)


# Each source's tier convention, on its own recorded entry: (source, file, entry, prompt tokens
# at which the tier starts, price per MTok below, price from there on, where the rule is stated).
CONVENTIONS = [
    ("genai_prices", "2026-07-25.json", "anthropic/claude-sonnet-4-5", 200_001, "3", "6"),
    # genai-prices' TieredPrices: "total_input_tokens > tier.start"; its test at 200,000: $0.60.
    ("litellm", "2026-04-02.json", "gemini-2.5-pro", 200_001, "1.25", "2.5"),
    # LiteLLM's _get_token_base_cost: "usage.prompt_tokens > threshold".
    ("litellm", "2026-04-02.json", "xai/grok-4-0709", 128_000, "3", "6"),
    # ... except xAI (_INCLUSIVE_THRESHOLD_PROVIDERS): xAI bills from 128K tokens on.
    ("litellm", "2026-04-02.json", "dashscope/qwen-flash", 256_001, "0.05", "0.25"),
    # LiteLLM's select_tier_for_input: "range_start < input_tokens <= range_end".
    ("openrouter", "2026-08-19.json", "bytedance-seed/seed-2.0-code", 128_000, "0.5", "1"),
    # OpenRouter: a tier "applies when input tokens meet or exceed" min_prompt_tokens.
    ("models_dev", "2026-06-01.json", "302ai/claude-opus-4-7", 200_000, "5", "10"),
    # models.dev's schema: tier.size is "the context size at which this tier starts to apply".
]


@pytest.mark.parametrize(("source", "name", "key", "start", "below", "above"), CONVENTIONS,
                         ids=[c[0] + "/" + c[2] for c in CONVENTIONS])
def test_each_sources_tier_convention_bills_the_whole_request(source, name, key, start, below,
                                                              above):
    rows = entry_rows(source, name, key)
    for tokens, rate in ((start - 1, below), (start, above)):
        cost, lines = priced(rows, {"input_tokens": tokens, "output_tokens": 0})
        assert cost == Decimal(rate) * tokens / 1_000_000, (tokens, lines)


def test_models_dev_context_over_200k_alone_starts_above_200000_tokens():
    payload = {"p": {"id": "p", "models": {"m": {
        "id": "m", "cost": {"input": 1, "output": 2, "context_over_200k": {"input": 2,
                                                                           "output": 4}}}}}}
    [row] = SOURCES_BY_NAME["models_dev"].parse(payload, ctx("models_dev"))
    rows = intervals("m", row["prices"])
    assert priced(rows, {"input_tokens": 200_000})[0] == Decimal("0.2")
    assert priced(rows, {"input_tokens": 200_001})[0] == Decimal("0.400002")


def test_usage_as_apis_report_it():
    """The extractors of genai-prices' data: Anthropic's input_tokens leave the cached ones
    out, OpenAI's prompt_tokens include them, Google counts thoughts apart from candidates."""
    assert read_usage({"input_tokens": 100, "cache_creation_input_tokens": 50,
                       "cache_read_input_tokens": 25, "output_tokens": 10,
                       "cache_creation": {"ephemeral_5m_input_tokens": 30,
                                          "ephemeral_1h_input_tokens": 20},
                       "server_tool_use": {"web_search_requests": 2},
                       "service_tier": "standard"}) == {
        "input_tokens": 175, "cache_write_tokens": 50, "cache_write_5m_tokens": 30,
        "cache_write_1h_tokens": 20, "cache_read_tokens": 25, "web_searches": 2,
        "output_tokens": 10}
    assert read_usage({"prompt_tokens": 100, "completion_tokens": 40, "total_tokens": 140,
                       "prompt_tokens_details": {"cached_tokens": 60, "audio_tokens": 0},
                       "completion_tokens_details": {"reasoning_tokens": 30}}) == {
        "input_tokens": 100, "cache_read_tokens": 60, "output_tokens": 40,
        "output_reasoning_tokens": 30}
    assert read_usage({"usageMetadata": {
        "promptTokenCount": 12, "candidatesTokenCount": 5, "thoughtsTokenCount": 7,
        "promptTokensDetails": [{"modality": "IMAGE", "tokenCount": 4}]}}) == {
        "input_tokens": 12, "output_tokens": 12, "output_reasoning_tokens": 7,
        "input_image_tokens": 4}

    assert read_usage({"inputTokens": 22, "cacheReadInputTokens": 2492, "outputTokens": 13,
                       "totalTokens": 2527, "serverToolUsage": {}}) == {
        "input_tokens": 2514, "cache_read_tokens": 2492, "output_tokens": 13}  # Bedrock
    xai = {"prompt_tokens": 10, "completion_tokens": 5,
           "completion_tokens_details": {"reasoning_tokens": 20}}
    assert read_usage(xai, "xai")["output_tokens"] == 25  # xAI counts reasoning apart
    assert read_usage(xai, "openai")["output_tokens"] == 5

    class Usage:  # an object with genai-prices' attribute names
        input_tokens, output_tokens, cache_read_tokens = 1000, 100, None

    assert read_usage(Usage()) == {"input_tokens": 1000, "output_tokens": 100}


def test_prices_that_contradict_their_source_are_withheld_and_named():
    """A batch price above the standard one, a long-context tier below its base: the merge
    withholds them (the set's other prices stand) and `prices_consistent` names them; a
    contradiction between two sources' sets that are published fails the check (WARN)."""
    from model_sync.catalog.rules import PricesAudit, audit
    from model_sync.pricing.merge import contradictions

    def one(component, price, mode="standard", tier=0, source="litellm"):
        return {"source": source, "source_key": "m", "provider": "p", "model_id": "m",
                "component": component, "unit": "1M tokens", "mode": mode, "region": None,
                "min_prompt_tokens": tier, "window": None, "price": Decimal(price),
                "valid_from": None, "valid_to": None}

    rows = [one("input", "2"), one("input", "3", "batch"), one("output", "8"),
            one("output", "4", tier=200_001)]
    merged = merge_prices(rows, at=AT, rank=ranking([]))
    assert {(r["component"], r["mode"], r["min_prompt_tokens"]) for r, _ in merged.withheld} == {
        ("input", "batch", 0), ("output", "standard", 200_001)}
    assert priced(rows, {"input_tokens": 300_000, "output_tokens": 1_000_000})[0] == Decimal("8.6")
    [finding] = audit("prices", PricesAudit(1, [f"p/m (litellm): {why}"
                                                 for _, why in merged.withheld]))
    assert finding.passed and "batch input 3 is above its standard price 2" in finding.description
    mixed = [one("input", "2", source="genai_prices"), one("input", "3", "batch")]
    chosen = merge_prices(mixed, at=AT, rank=ranking([])).chosen
    published = [why for _, why in contradictions([r for s in chosen.values() for r in s.rows])]
    [finding] = audit("prices", PricesAudit(1, [], [f"p/m: {why}" for why in published]))
    assert not finding.passed and finding.severity == "WARN"
