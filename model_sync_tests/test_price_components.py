"""Every price every source publishes becomes a component of the closed vocabulary, or is set
aside with its reason; none is dropped. Read from the shared recordings."""

import json
import re
from decimal import Decimal
from pathlib import Path

import pytest

from model_sync.pricing.sheet import PriceSheet
from model_sync.pricing.vocabulary import COMPONENTS, MODES, UNITS
from model_sync.sources import SOURCES_BY_NAME
from model_sync.sources.base import ParseContext, loads
from model_sync.sources.litellm_prices import price_sheet as litellm_sheet
from model_sync_tests.conftest import ctx, needs_shared, shared_files, unavailable

SHARED_FILES = shared_files()
PRICED = ("openrouter", "models_dev", "litellm", "genai_prices", "deepinfra",
          "artificial_analysis")


def parsed(source: str, name: str) -> tuple[dict[str, dict], ParseContext]:
    path = Path(SHARED_FILES[0]).parents[1] / source / name if SHARED_FILES else None
    if path is None or not path.is_file():
        unavailable(f"recorded payload {source}/{name} not available")
    context = ctx(source, name[:10])
    rows = SOURCES_BY_NAME[source].parse(loads(path.read_bytes(), source), context)
    return {r["source_key"]: r for r in rows}, context


def prices(row: dict, **where) -> dict[tuple, Decimal]:
    """A row's components as {(component, mode, min_prompt_tokens, window, region): price}."""
    return {(p["component"], p["mode"], p.get("min_prompt_tokens", 0), p.get("window"),
             p.get("region")): p["price"] for p in row["prices"] or ()
            if all(p.get(k) == v for k, v in where.items())}


@needs_shared
@pytest.mark.parametrize("path", [p for p in SHARED_FILES if p.parent.name in PRICED],
                         ids=lambda p: f"{p.parent.name}/{p.name}")
def test_every_component_is_in_the_vocabulary_with_its_unit_and_an_exact_price(path):
    source = path.parent.name
    rows = SOURCES_BY_NAME[source].parse(loads(path.read_bytes(), source),
                                         ctx(source, path.name[:10]))
    components = [p for r in rows for p in r["prices"] or ()]
    assert len(components) > len(rows) / 2
    for price in components:
        assert price["unit"] == COMPONENTS[price["component"]].unit and price["unit"] in UNITS
        assert price["mode"] in MODES
        assert isinstance(price["price"], Decimal) and price["price"] >= 0


@needs_shared
@pytest.mark.parametrize("name", ["2025-02-06.json", "2025-10-01.json", "2026-04-02.json"])
def test_every_litellm_cost_field_is_a_component_or_set_aside_with_its_reason(name):
    """LiteLLM's file has 82 distinct cost fields (2026-04-02): none is dropped silently."""
    raw = json.loads((Path(SHARED_FILES[0]).parents[1] / "litellm" / name).read_text(),
                     parse_float=Decimal)
    fields = {f for k, v in raw.items() if isinstance(v, dict) and k != "sample_spec"
              for f in v if "cost" in f or f == "tiered_pricing"}
    if name.startswith("2026"):
        everything = {f for v in raw.values() if isinstance(v, dict) for f in v if "cost" in f}
        assert len(everything) == 82
    for key, entry in raw.items():
        if not isinstance(entry, dict) or key == "sample_spec":
            continue
        sheet = litellm_sheet(entry, key, str(entry.get("litellm_provider")))
        sheet.rows()
        read = {f.split(".")[0].split("[")[0] for f in sheet.read}
        # Each published cost field was taken as a price or set aside, with a reason.
        assert {f for f in entry if f in fields and entry[f] is not None} <= read, key
        for field, reason, _ in sheet.rejected:
            assert field and len(reason) > 20
    _, context = parsed("litellm", name)
    assert context.rejected == []  # entries with an odd price field are kept
    reasons = {r.reason.split(": ", 1)[1] for r in context.rejected_prices}
    assert all(re.search(r"DBU|video|image size|search results|storage|component", why)
               for why in reasons)


@needs_shared
def test_litellm_modes_tiers_regions_and_search_sizes():
    rows, context = parsed("litellm", "2026-04-02.json")
    gpt4o = prices(rows["gpt-4o"])
    assert gpt4o[("input", "batch", 0, None, None)] == Decimal("1.25")  # 1.25e-06 per token
    assert gpt4o[("output", "priority", 0, None, None)] == Decimal("17")
    sonnet = prices(rows["claude-sonnet-4-5"])
    # `_above_200k_tokens` bills the whole request above 200,000 prompt tokens (exclusive).
    assert sonnet[("input", "standard", 200_001, None, None)] == Decimal("6")
    assert sonnet[("web_search", "standard", 0, None, None)] == Decimal("10")  # 0.01 per query
    # xAI's thresholds apply from the threshold on (LiteLLM's _INCLUSIVE_THRESHOLD_PROVIDERS).
    assert prices(rows["xai/grok-4-0709"])[("input", "standard", 128_000, None, None)] == 6
    # `tiered_pricing` ranges: a tier applies above its range's start.
    flash = prices(rows["dashscope/qwen-flash"])
    assert flash[("input", "standard", 0, None, None)] == Decimal("0.05")
    assert flash[("input", "standard", 256_001, None, None)] == Decimal("0.25")
    eu = prices(rows["azure/eu/gpt-4o-2024-08-06"])
    assert eu == {("input", "standard", 0, None, "eu"): Decimal("2.75"),
                  ("output", "standard", 0, None, "eu"): Decimal("11"),
                  ("cache_read", "standard", 0, None, "eu"): Decimal("1.375")}
    assert prices(rows["eu.anthropic.claude-opus-4-6-v1"], region="eu")
    opus = prices(rows["anthropic.claude-3-5-sonnet-20240620-v1:0"])
    assert opus[("cache_write_1h", "standard", 0, None, None)] == Decimal("7.5")
    databricks = [r for r in context.rejected_prices if r.field == "input_dbu_cost_per_token"]
    assert databricks and "not USD" in databricks[0].reason
    assert databricks[0].source_key in rows  # the entry itself is kept, priced in USD
    assert prices(rows[databricks[0].source_key], component="input")


@needs_shared
def test_openrouter_tiers_are_inclusive_and_its_time_windows_are_windows():
    rows, context = parsed("openrouter", "2026-08-19.json")
    assert context.rejected_prices == []
    seed = prices(rows["bytedance-seed/seed-2.0-code"])
    assert seed[("input", "standard", 128_000, None, None)] == Decimal("1")
    v4 = prices(rows["deepseek/deepseek-v4-pro"], component="input")
    assert v4[("input", "standard", 0, "01:00-04:00", None)] == Decimal("1.32")
    assert v4[("input", "standard", 0, "10:00-01:00", None)] == Decimal("0.66")
    flash = prices(rows["google/gemini-3.7-flash"])
    assert flash[("web_search", "standard", 0, None, None)] == Decimal("14")  # 0.014 per search
    assert flash[("reasoning", "standard", 0, None, None)] == Decimal("1.875")
    assert flash[("cache_audio_read", "standard", 0, None, None)] == Decimal("0.0375")
    gpt_image = prices(rows["openai/gpt-image-1"]) if "openai/gpt-image-1" in rows else None
    opus_fast = prices(rows["anthropic/claude-opus-5-fast"])
    assert opus_fast[("cache_write_1h", "standard", 0, None, None)] == Decimal("20")
    assert gpt_image is None or ("output_image", "standard", 0, None, None) in gpt_image
    # A "0" beside the token prices is "not priced apart", not free: no reasoning at $0.
    old, _ = parsed("openrouter", "2025-05-22.json")
    assert not prices(old["mistralai/devstral-small"], component="reasoning")


@needs_shared
def test_genai_prices_dated_lists_windows_and_tiers_as_genai_prices_reads_them():
    rows, _ = parsed("genai_prices", "2026-07-25.json")
    o3 = {(p["component"], p.get("valid_from"), p.get("valid_to")): p["price"]
          for p in rows["openai/o3"]["prices"]}
    # OpenAI cut o3's price by 80% on 2025-06-10: 10 / 40 before, 2 / 8 after.
    assert o3[("input", None, "2025-06-10")] == 10 and o3[("input", "2025-06-10", None)] == 2
    assert o3[("output", None, "2025-06-10")] == 40 and o3[("output", "2025-06-10", None)] == 8
    assert o3[("cache_read", None, None)] == Decimal("0.5")  # unchanged: one component
    chat = prices(rows["deepseek/deepseek-chat"], component="input")
    assert chat == {("input", "standard", 0, "00:30-16:30", None): Decimal("0.27"),
                    ("input", "standard", 0, None, None): Decimal("0.135")}
    sonnet = prices(rows["anthropic/claude-sonnet-4-5"], component="input")
    # `{base, tiers: [{start: 200000}]}`: the tier bills requests above 200,000 input tokens.
    assert sonnet == {("input", "standard", 0, None, None): 3,
                      ("input", "standard", 200_001, None, None): 6}


@needs_shared
def test_genai_prices_v2_keys_are_components():
    rows, context = parsed("genai_prices", "2026-08-21.v2.json")
    assert context.rejected_prices == []
    haiku = prices(rows["anthropic/claude-3-5-haiku-latest"])
    assert haiku[("cache_write_1h", "standard", 0, None, None)] == Decimal("1.6")
    assert haiku[("web_search", "standard", 0, None, None)] == 10


@needs_shared
def test_models_dev_tiers_legacy_projection_and_modes():
    rows, context = parsed("models_dev", "2026-06-01.json")
    assert context.rejected_prices == []
    opus = prices(rows["302ai/claude-opus-4-7"])
    assert opus[("input", "standard", 200_000, None, None)] == 10  # `tier.size`, inclusive
    gpt = prices(rows["aihubmix/gpt-5.4"])
    # `context_over_200k` repeats the 272,000 tier under an older name: not a second tier.
    assert ("input", "standard", 272_000, None, None) in gpt
    assert ("input", "standard", 200_001, None, None) not in gpt
    assert gpt[("input", "priority", 0, None, None)] == 5  # fast mode is service_tier priority
    assert prices(rows["anthropic/claude-opus-4-6"])[("input", "fast", 0, None, None)] == 30
    older, _ = parsed("models_dev", "2026-04-01.json")
    over = [r for r in older.values() if ("input", "standard", 200_001, None, None)
            in prices(r)]
    assert over  # `context_over_200k` alone: above 200,000 prompt tokens


def test_a_price_given_twice_differently_is_set_aside_not_guessed():
    sheet = PriceSheet()
    sheet.add("cache_read", Decimal("2.8e-08"), 6, "input_cost_per_token_cache_hit")
    sheet.add("cache_read", Decimal("2.9e-08"), 6, "cache_read_input_token_cost")
    sheet.add("input", "free", 6, "input_cost_per_token")
    assert sheet.rows() is None
    assert [(f, r.split(" is ")[0]) for f, r, _ in sheet.rejected] == [
        ("input_cost_per_token", "expected a number, got 'free'"),
        ("cache_read", "cache_read (standard)")]


def test_an_unmapped_price_field_is_set_aside_and_the_entry_kept():
    payload = {"gpt-x": {"litellm_provider": "openai", "mode": "chat",
                         "input_cost_per_token": Decimal("1e-06"),
                         "output_cost_per_token": Decimal("2e-06"),
                         "input_cost_per_teleport": Decimal("5")}}
    context = ctx("litellm")
    [row] = SOURCES_BY_NAME["litellm"].parse(payload, context)
    assert context.rejected == []
    [aside] = context.rejected_prices
    assert (aside.source_key, aside.field, aside.excerpt) == ("gpt-x", "input_cost_per_teleport",
                                                              "5")
    assert "no component" in aside.reason
    assert prices(row) == {("input", "standard", 0, None, None): 1,
                           ("output", "standard", 0, None, None): 2}


def test_equal_components_are_one_dict_and_unequal_ones_stay_apart():
    def components(*adds):
        sheet = PriceSheet()
        for name, value, field, terms in adds:
            sheet.add(name, value, 6, field, **terms)
        return sheet.rows()

    first = components(("input", "0.000002", "prompt", {}), ("output", "0.000008", "out", {}))
    again = components(("input", Decimal("2E-6"), "prompt", {}),
                       ("output", "0.0000080", "out", {}))
    assert first == again and all(a is b for a, b in zip(first, again, strict=True))
    # The same price in another slot, or another price in the same slot, is its own component.
    tiered = components(("input", "0.000002", "prompt", {"min_prompt_tokens": 200_000}))
    dearer = components(("input", "0.000003", "prompt", {}))
    assert tiered[0] is not first[0] and tiered[0]["min_prompt_tokens"] == 200_000
    assert dearer[0] is not first[0] and dearer[0]["price"] == Decimal("3")
    assert json.dumps(first, default=str) == json.dumps(again, default=str)
