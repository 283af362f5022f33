"""Every parser on every recorded payload: all entries become rows, prices are exact."""

import json
from decimal import Decimal
from pathlib import Path

import pytest

from model_sync.sources import SOURCES_BY_NAME
from model_sync.sources.base import ParseError, loads
from model_sync_tests.conftest import ctx, needs_shared, shared_files, unavailable

SHARED_FILES = shared_files()


def expected_entries(source: str, raw) -> int:
    """Count a payload's entries straight from its JSON, independently of the parsers."""
    if source == "models_dev":
        return sum(len(p["models"]) for p in raw.values())
    if source == "litellm":
        return sum(1 for k, v in raw.items() if isinstance(v, dict) and k != "sample_spec")
    if source == "genai_prices":
        return sum(len(p["models"]) for p in raw)
    return len(raw["data"])


def parse_file(path: Path):
    source = path.parent.name
    payload = loads(path.read_bytes(), source)
    return SOURCES_BY_NAME[source].parse(payload, ctx(source, path.name[:10]))


@needs_shared
@pytest.mark.parametrize("path", SHARED_FILES, ids=lambda p: f"{p.parent.name}/{p.name}")
def test_every_entry_becomes_one_row(path):
    raw = json.loads(path.read_text())
    rows = parse_file(path)
    assert len(rows) == expected_entries(path.parent.name, raw)
    assert len({r["source_key"] for r in rows}) == len(rows)
    for row in rows:
        assert row["provider"] and row["model_id"]
        for price in ("input_price", "output_price", "cache_read_price", "cache_write_price"):
            assert row[price] is None or (isinstance(row[price], Decimal) and row[price] >= 0)


def rows_of(source: str, name: str) -> dict[str, dict]:
    path = Path(SHARED_FILES[0]).parents[1] / source / name if SHARED_FILES else None
    if path is None or not path.is_file():
        unavailable(f"recorded payload {source}/{name} not available")
    return {r["source_key"]: r for r in parse_file(path)}


@needs_shared
def test_openrouter_prices_per_token_become_exact_per_million():
    rows = rows_of("openrouter", "2026-08-19.json")
    flash = rows["google/gemini-3.7-flash"]
    assert flash["input_price"] == Decimal("0.375")
    assert flash["output_price"] == Decimal("1.875")
    assert flash["cache_read_price"] == Decimal("0.0375")
    assert str(flash["cache_write_price"]) == "0.0208333333333333"
    qwen = rows["qwen/qwen3.8-27b"]
    assert (qwen["input_price"], qwen["output_price"]) == (Decimal("0.45"), Decimal("3.2"))
    assert qwen["hugging_face_id"] == "Qwen/Qwen3.8-27B"
    assert qwen["context_window"] == 262144 and qwen["max_output_tokens"] == 131072
    assert qwen["supports_tools"] is True and qwen["supports_vision"] is True


@needs_shared
def test_openrouter_variable_price_is_null_and_flagged():
    auto = rows_of("openrouter", "2026-08-19.json")["openrouter/auto"]
    assert auto["input_price"] is None and auto["output_price"] is None
    assert "variable_price" in auto["price_flags"]


@needs_shared
def test_every_shared_price_matches_its_payload_exactly():
    """Each OpenRouter price equals its decimal string times 10**6, digit for digit.

    Strings longer than the 15 significant digits a double holds (`0.00000020000000000000002`)
    are float artifacts of the publisher and are compared at 15 significant digits.
    """
    for path in shared_files("openrouter"):
        raw = {m["id"]: m for m in json.loads(path.read_text())["data"]}
        for key, row in rows_of("openrouter", path.name).items():
            published = raw[key]["pricing"]["prompt"]
            if Decimal(published) < 0:
                assert row["input_price"] is None
            else:
                expected = Decimal(published) * 1_000_000
                if len(expected.normalize().as_tuple().digits) > 15:
                    expected = Decimal(format(expected, ".15g"))
                assert row["input_price"] == expected, (path.name, key)


@needs_shared
def test_litellm_floats_are_read_through_their_text():
    rows = rows_of("litellm", "2025-02-06.json")
    gpt4o = rows["gpt-4o"]
    assert (gpt4o["input_price"], gpt4o["output_price"]) == (Decimal("2.5"), Decimal("10"))
    assert gpt4o["cache_read_price"] == Decimal("1.25")
    assert gpt4o["provider"] == "openai" and gpt4o["model_id"] == "gpt-4o"
    assert gpt4o["context_window"] == 128000


@needs_shared
def test_litellm_context_window_is_max_input_tokens_only():
    raw = json.loads((SHARED_FILES[0].parents[1] / "litellm" / "2026-04-02.json").read_text())
    rows = rows_of("litellm", "2026-04-02.json")
    for key, row in rows.items():
        published = raw[key].get("max_input_tokens")
        # 0 means "not published"; 2000000.0 is the integer 2,000,000.
        usable = isinstance(published, int | float) and published > 0
        expected = int(published) if usable else None
        assert row["context_window"] == expected, key


@needs_shared
def test_litellm_routing_prefix_is_stripped_to_the_providers_own_id():
    rows = rows_of("litellm", "2026-04-02.json")
    routed = [r for k, r in rows.items() if k.startswith("openrouter/")]
    assert routed and all(r["provider"] == "openrouter" for r in routed)
    assert all(r["model_id"] == k.removeprefix("openrouter/") for k, r in rows.items()
               if k.startswith("openrouter/"))
    assert rows["openrouter/openrouter/auto"]["model_id"] == "openrouter/auto"
    bedrock = [r for r in rows.values() if r["source_provider"] in ("bedrock", "bedrock_converse")]
    assert bedrock and {r["provider"] for r in bedrock} == {"bedrock"}


@needs_shared
def test_models_dev_rows_are_one_per_provider_offering():
    rows = rows_of("models_dev", "2026-06-01.json")
    haiku = rows["anthropic/claude-3-5-haiku-20241022"]
    assert haiku["input_price"] == Decimal("0.8") and haiku["output_price"] == Decimal("4")
    assert haiku["cache_write_price"] == Decimal("1")
    assert haiku["family"] == "claude-haiku" and haiku["open_weights"] is False
    bedrock = [r for k, r in rows.items() if k.startswith("amazon-bedrock/")]
    assert bedrock and {r["provider"] for r in bedrock} == {"bedrock"}


@needs_shared
def test_genai_prices_takes_the_price_in_force_and_keeps_the_history():
    rows = rows_of("genai_prices", "2026-07-25.json")
    opus = rows["anthropic/claude-opus-4-6"]
    # A list: base tiered prices, then from 2026-03-13 a flat 5 / 25.
    assert (opus["input_price"], opus["output_price"]) == (Decimal("5"), Decimal("25"))
    assert [h.get("start_date") for h in opus["extra"]["price_history"]] == [None, "2026-03-13"]
    before = {r["source_key"]: r for r in SOURCES_BY_NAME["genai_prices"].parse(
        json.loads((SHARED_FILES[0].parents[1] / "genai_prices" / "2026-07-25.json").read_text(),
                   parse_float=Decimal), ctx("genai_prices", "2026-03-01"))}
    assert before["anthropic/claude-opus-4-6"]["input_price"] == Decimal("5")  # tier base
    assert "tiered" in before["anthropic/claude-opus-4-6"]["price_flags"]


@needs_shared
def test_genai_prices_off_peak_rate_is_an_alternative_not_history():
    chat = rows_of("genai_prices", "2026-07-25.json")["deepseek/deepseek-chat"]
    assert chat["input_price"] == Decimal("0.27")  # the rate for 16 of 24 hours
    assert chat["price_flags"] == ["time_of_day"]
    assert "price_history" not in chat["extra"]
    assert [p["input_price"] for p in chat["extra"]["time_of_day_prices"]] == ["0.135"]


@needs_shared
def test_deepinfra_null_metadata_means_unpriced_not_free():
    rows = rows_of("deepinfra", "2026-03-01.json")
    assert rows["BAAI/bge-m3"]["input_price"] is None
    seed = rows["ByteDance/Seed-2.0-mini"]
    assert (seed["input_price"], seed["output_price"]) == (Decimal("0.1"), Decimal("0.4"))
    assert seed["cache_read_price"] == Decimal("0.02")  # published as 0.020000000000000004


@needs_shared
def test_groq_has_limits_and_no_prices():
    rows = rows_of("groq", "2026-02-22.json")
    assert all(r["input_price"] is None for r in rows.values())
    assert rows["openai/gpt-oss-120b"]["creator"] == "OpenAI"


@needs_shared
def test_artificial_analysis_rows_carry_indexes():
    rows = rows_of("artificial_analysis", "2026-06-27.page-1.json")
    glm = rows["0081ab31-d10a-44a0-a10d-eee5533fec65"]
    assert glm["model_id"] == "glm-4-5v" and glm["creator"] == "Z AI"
    assert glm["extra"]["intelligence_index"] == 7


# -- bad input ---------------------------------------------------------------------------------


@pytest.mark.parametrize("source", sorted(SOURCES_BY_NAME))
def test_empty_body_is_a_clear_error(source):
    with pytest.raises(ParseError, match=f"^{source}: the response body is empty"):
        loads(b"  ", source)


@pytest.mark.parametrize("source", sorted(SOURCES_BY_NAME))
def test_malformed_body_is_a_clear_error(source):
    with pytest.raises(ParseError, match=f"^{source}: the response is not valid JSON"):
        loads(b'{"data": [', source)


@pytest.mark.parametrize("source", sorted(SOURCES_BY_NAME))
def test_wrong_envelope_is_a_clear_error(source):
    with pytest.raises(ParseError, match=f"^{source}: expected"):
        SOURCES_BY_NAME[source].parse("surprise", ctx(source))


def test_missing_required_field_rejects_the_entry_naming_its_field():
    payload = {"data": [{"id": "a/b", "pricing": {"prompt": "0.000001", "completion": "0"}},
                        {"id": "c/d", "name": "no pricing"}]}
    context = ctx("openrouter")
    rows = SOURCES_BY_NAME["openrouter"].parse(payload, context)
    assert [r["source_key"] for r in rows] == ["a/b"]
    [rejected] = context.rejected
    assert (rejected.source_key, rejected.field) == ("c/d", "pricing")
    assert rejected.reason == "field 'pricing': required field is missing"
    assert rejected.excerpt == '{"id":"c/d","name":"no pricing"}'


def test_renamed_id_field_is_reported():
    payload = {"object": "list", "data": [{"model": "x", "metadata": None}]}
    context = ctx("deepinfra")
    assert SOURCES_BY_NAME["deepinfra"].parse(payload, context) == []
    [rejected] = context.rejected
    assert (rejected.source_key, rejected.reason) == ("#0", "field 'id': required field is "
                                                            "missing")


def test_a_price_that_is_not_a_number_names_the_field():
    payload = {"data": [{"id": "a/b", "pricing": {"prompt": "free", "completion": "0"}}]}
    context = ctx("openrouter")
    assert SOURCES_BY_NAME["openrouter"].parse(payload, context) == []
    [rejected] = context.rejected
    assert rejected.field == "pricing.prompt"
    assert rejected.reason == "field 'pricing.prompt': expected a number, got 'free'"


def test_an_entry_of_an_unexpected_type_is_rejected_not_fatal():
    payload = {"data": ["just a string", {"id": "a/b", "pricing": {"prompt": "0.000001"}},
                        {"id": "c/d", "pricing": {"prompt": "0.000001"}, "architecture": 7,
                         "supported_parameters": {"tools": True}, "created": [1]}]}
    context = ctx("openrouter")
    rows = SOURCES_BY_NAME["openrouter"].parse(payload, context)
    assert [r["source_key"] for r in rows] == ["a/b", "c/d"]
    [rejected] = context.rejected
    assert rejected.source_key == "#0"
    assert rejected.reason == "expected an object, got a JSON string"
    assert rejected.excerpt == '"just a string"'


SAMPLE_SPEC = {  # as LiteLLM's file documents its fields (abridged)
    "max_tokens": "LEGACY parameter. set to max_output_tokens if provider specifies it.",
    "max_input_tokens": "max input tokens, if the provider specifies it.",
    "max_output_tokens": "max output tokens, if the provider specifies it.",
    "input_cost_per_token": 0.0,
    "litellm_provider": "one of https://docs.litellm.ai/docs/providers",
    "mode": "one of: chat, embedding, completion, image_generation",
}


def test_litellm_tells_keys_that_are_not_models_apart_by_shape():
    payload = {"sample_spec": SAMPLE_SPEC, "last_updated": "2026-01-01",
               "routing_rules": {"fallbacks": [{"gpt-x": ["gpt-y"]}], "version": 2},
               "gpt-x": {"litellm_provider": "openai", "input_cost_per_token": 1e-06,
                         "mode": "chat"},
               "gpt-broken": {"mode": "chat", "input_cost_per_token": 2e-06}}
    context = ctx("litellm")
    rows = SOURCES_BY_NAME["litellm"].parse(json.loads(json.dumps(payload), parse_float=Decimal),
                                            context)
    assert [r["source_key"] for r in rows] == ["gpt-x"]
    assert rows[0]["input_price"] == Decimal("1") and rows[0]["output_price"] is None
    assert dict(context.not_models) == {
        "sample_spec": "a schema sample: its fields hold descriptions, not values",
        "last_updated": "a string, not an object (metadata)",
        "routing_rules": "an object without any model field (metadata or rules)",
    }
    [rejected] = context.rejected  # a model entry without its provider: rejected, not skipped
    assert (rejected.source_key, rejected.field) == ("gpt-broken", "litellm_provider")


@pytest.mark.parametrize("path", shared_files("litellm"), ids=lambda p: p.name)
def test_every_real_litellm_file_parses_with_nothing_rejected(path):
    context = ctx("litellm", path.name[:10])
    rows = SOURCES_BY_NAME["litellm"].parse(loads(path.read_bytes(), "litellm"), context)
    assert context.rejected == []
    assert "sample_spec" in dict(context.not_models)
    raw = json.loads(path.read_bytes())
    assert len(rows) == sum(1 for v in raw.values() if isinstance(v, dict)) - 1


def test_a_key_given_twice_with_different_values_is_rejected_not_overwritten():
    body = (b'{"gpt-x": {"litellm_provider": "openai", "input_cost_per_token": 1e-06},'
            b' "gpt-y": {"litellm_provider": "openai", "input_cost_per_token": 3e-06},'
            b' "gpt-x": {"litellm_provider": "openai", "input_cost_per_token": 9e-06},'
            b' "gpt-z": {"litellm_provider": "openai", "input_cost_per_token": 1e-06},'
            b' "gpt-z": {"litellm_provider": "openai", "input_cost_per_token": 1e-06}}')
    context = ctx("litellm")
    rows = SOURCES_BY_NAME["litellm"].parse(loads(body, "litellm"), context)
    assert [r["source_key"] for r in rows] == ["gpt-y", "gpt-z"]  # the same value twice is kept
    [rejected] = context.rejected
    assert rejected.source_key == "gpt-x"
    assert rejected.reason == ("the key appears 2 times in the payload with different values; "
                               "none is taken")
    assert "0.000001" in rejected.excerpt and "0.000009" in rejected.excerpt
