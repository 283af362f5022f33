"""The price model on the full replayed sync: the prices table, the `prices` asset, the cost of
requests as APIs report them (model_sync.cost, model-sync cost), model-sync compare, exports.
Expected prices are the providers' published ones, as the recordings carry them."""

import csv
import io
import json
from datetime import UTC, datetime
from decimal import Decimal

import pyarrow.parquet as pq
import pytest
import sqlalchemy as sa

import model_sync
from model_sync.catalog.schema import prices
from model_sync.cli import main
from model_sync.pricing.compare import compare
from model_sync.pricing.lookup import Pricer
from model_sync.pricing.storage import price_rejections

AT = datetime(2026, 8, 20, 12, tzinfo=UTC)
MILLION = {"input_tokens": 1_000_000, "output_tokens": 1_000_000}


@pytest.fixture
def pricer(replayed_db):
    store = replayed_db.store()
    yield Pricer(store)
    store.dispose()


def cost(pricer, provider, model, usage, **options):
    return pricer.cost(provider, model, usage, at=options.pop("at", AT), **options)


def test_the_prices_table_holds_every_sources_components(replayed, pricer):
    with pricer.store.engine.connect() as conn:
        counts = dict(conn.execute(sa.select(prices.c.source, sa.func.count())
                                   .group_by(prices.c.source)).all())
    assert counts["litellm"] == 6777 and counts["models_dev"] == 12752
    assert counts["openrouter"] == 1693 and counts["deepinfra"] == 178
    assert counts["genai_prices"] > 3100  # with the dated intervals of its lists
    assert {"xai", "novita", "nearai", "together", "artificial_analysis"} <= set(counts)
    aside = price_rejections(pricer.store.engine, "litellm")
    assert len(aside) == 81 and all(r["reason"] and r["field"] for r in aside)
    [materialization] = replayed.result.asset_materializations_for_node("prices")
    meta = materialization.metadata
    assert meta["offerings_tiered"].value > 200 and meta["offerings_batch"].value > 50
    assert meta["offerings_regional"].value > 100 and meta["offerings_modality"].value > 100
    assert meta["offerings_time_of_day"].value >= 2 and meta["offerings_priority"].value > 50
    # The first build merges every priced offering (and keeps what each found: `price_report`).
    assert meta["offerings_merged"].value == meta["priced_offerings"].value > 5000
    [check] = [e for e in replayed.result.get_asset_check_evaluations()
               if e.check_name == "prices_consistent"]
    assert check.passed and "requesty/google/gemini-2.5-pro (models_dev)" in check.description


def test_model_strings_and_providers_as_apis_and_sources_spell_them(pricer):
    usage = {"input_tokens": 797, "output_tokens": 91}
    # genai-prices' dataset: claude-sonnet-4-5-20250929 at anthropic, 797 in / 91 out:
    # input 0.002391, output 0.001365 ($3 / $15 per MTok).
    for provider, model in (("anthropic", "claude-sonnet-4-5-20250929"),
                            ("anthropic", "claude-sonnet-4.5"), ("Anthropic", "CLAUDE-SONNET-4-5")):
        assert cost(pricer, provider, model, usage).total == Decimal("0.003756")
    flash = cost(pricer, "google", "models/gemini-2.5-flash", {"promptTokenCount": 1000,
                                                               "candidatesTokenCount": 10,
                                                               "thoughtsTokenCount": 5})
    assert flash.model_id == "gemini-2.5-flash" and flash.total == Decimal("0.0003375")
    for provider in ("aws", "amazon-bedrock", "bedrock_converse"):
        eu = cost(pricer, provider, "eu.anthropic.claude-opus-4-6-v1", {"input_tokens": 10**6})
        # Bedrock's regional (eu.) endpoints cost 10% more than global: $5.50 per MTok.
        assert (eu.provider, eu.region, eu.total) == ("bedrock", "eu", Decimal("5.5"))
    assert cost(pricer, "openai", "openai/gpt-4o", usage).model_id == "gpt-4o"


def test_modes_regions_and_time_of_day_on_published_prices(pricer):
    # OpenAI's Batch API halves gpt-4o's $2.50 / $10 (LiteLLM's *_batches fields).
    assert cost(pricer, "openai", "gpt-4o", MILLION, mode="batch").total == Decimal("6.25")
    # OpenAI's flex processing: gpt-5 at $0.625 / $5; priority gpt-4o at $4.25 / $17.
    assert cost(pricer, "openai", "gpt-5", MILLION, mode="flex").total == Decimal("5.625")
    assert cost(pricer, "openai", "gpt-4o", MILLION, mode="priority").total == Decimal("21.25")
    # Azure's EU data zone: 10% above the global $2.50 / $10 of gpt-4o-2024-08-06.
    eu = cost(pricer, "azure", "gpt-4o-2024-08-06", MILLION, region="eu")
    assert eu.total == Decimal("13.75")
    assert cost(pricer, "azure", "gpt-4o-2024-08-06", MILLION).total == Decimal("12.5")
    with pytest.raises(model_sync.PricingError, match="no standard price in region mars"):
        cost(pricer, "azure", "gpt-4o-2024-08-06", MILLION, region="mars")
    # Anthropic's fast mode for Claude Opus 4.6 (models.dev): 6x, $30 / $150.
    assert cost(pricer, "anthropic", "claude-opus-4-6", MILLION, mode="fast").total == Decimal(180)
    # DeepSeek's off-peak hours, 16:30-00:30 UTC, halve deepseek-chat's $0.27 input price.
    peak = cost(pricer, "deepseek", "deepseek-chat", {"input_tokens": 10**6},
                at=AT.replace(hour=9))
    night = cost(pricer, "deepseek", "deepseek-chat", {"input_tokens": 10**6},
                 at=AT.replace(hour=20))
    assert (peak.total, night.total) == (Decimal("0.27"), Decimal("0.135"))
    assert peak.components[0].window == "00:30-16:30" and night.components[0].window is None


def test_cache_lifetimes_searches_and_units_of_use(pricer):
    # OpenRouter's Claude Sonnet 4.5: 5-minute cache writes $3.75, 1-hour writes $6 per MTok;
    # from 200,000 prompt tokens on, $7.50 and $12.
    usage = {"input_tokens": 100_000, "cache_write_tokens": 100_000,
             "cache_write_1h_tokens": 40_000}
    sonnet = cost(pricer, "openrouter", "anthropic/claude-sonnet-4.5", usage)
    assert {c.component: c.amount for c in sonnet.components} == {
        "cache_write": Decimal("0.225"), "cache_write_1h": Decimal("0.24")}
    usage = {k: v * 3 for k, v in usage.items()}
    long = cost(pricer, "openrouter", "anthropic/claude-sonnet-4.5", usage)
    assert long.total == Decimal("1.35") + Decimal("1.44")
    # Gemini's Google Search grounding, as OpenRouter lists it: $14 per 1,000 queries.
    grounded = cost(pricer, "openrouter", "google/gemini-3.7-flash",
                    {"input_tokens": 0, "web_searches": 10})
    assert grounded.total == Decimal("0.14")
    # OpenAI: whisper-1 $0.006 per minute; tts-1 $15 per 1M characters. Cohere Rerank 3.5 $2
    # per 1,000 searches. Mistral OCR $1 per 1,000 pages. (LiteLLM's price file.)
    whisper = cost(pricer, "openai", "whisper-1", {"input_seconds": 60})
    assert whisper.total == Decimal("0.006")
    assert cost(pricer, "openai", "tts-1", {"input_characters": 1000}).total == Decimal("0.015")
    assert cost(pricer, "cohere", "rerank-v3.5", {"queries": 1000}).total == Decimal(2)
    assert cost(pricer, "mistral", "mistral-ocr-latest",
                {"input_document_pages": 1000}).total == Decimal(1)


def test_what_cannot_be_priced_says_why(pricer):
    with pytest.raises(model_sync.PricingError, match="no provider 'nowhere'"):
        cost(pricer, "nowhere", "gpt-4o", MILLION)
    with pytest.raises(model_sync.PricingError, match="no offering matches the model 'gpt-9z'"):
        cost(pricer, "openai", "gpt-9z", MILLION)
    # genai-prices' list for Claude Opus 4.1 publishes no web search price this day.
    with pytest.raises(model_sync.PricingError, match="2 web_searches but no web_search"):
        cost(pricer, "anthropic", "claude-opus-4-1-20250805",
             {"input_tokens": 10, "web_searches": 2})


def test_model_sync_cost_reads_the_configured_catalog(replayed_db, monkeypatch):
    monkeypatch.setenv("MODEL_SYNC_DATABASE_URL", replayed_db.url)
    result = model_sync.cost("openai", "o3", {"input_tokens": 1000, "output_tokens": 100},
                             at=datetime(2025, 7, 1, tzinfo=UTC))
    # genai-prices' test_sync_success_with_model_regex: o3, 1000 in / 100 out: 0.0028.
    assert result.total == Decimal("0.0028") and result.as_json()["total"] == "0.0028"


def test_compare_ranks_the_providers_of_the_most_served_models(pricer):
    with pricer.store.engine.connect() as conn:
        top = conn.execute(sa.text("SELECT canonical_id FROM models ORDER BY providers DESC "
                                   "LIMIT 3")).scalars().all()
    for canonical in top:
        result = compare(pricer, canonical, {"input_tokens": 10_000, "output_tokens": 1_000},
                         at=AT)
        totals = [o.total for o in result.options if o.total is not None]
        assert len(totals) >= 5 and totals == sorted(totals), canonical
    tools = compare(pricer, "gpt-4o-2024-08-06", MILLION, at=AT, tools=True,
                    min_context=128_000)
    assert all(o.supports_tools and o.context_window >= 128_000 for o in tools.options)


def run(monkeypatch, capsys, url, *args):
    monkeypatch.setenv("MODEL_SYNC_DATABASE_URL", url)
    code = main(list(args))
    return code, capsys.readouterr()


def test_the_cost_and_compare_commands(replayed_db, monkeypatch, capsys):
    url = replayed_db.url
    haiku = "anthropic.claude-3-5-haiku-20241022-v1:0"  # $0.80 / $4 per MTok on Bedrock
    code, out = run(monkeypatch, capsys, url, "cost", "aws", haiku, "--input-tokens", "1000",
                    "--output-tokens", "100", "--at", "2026-08-20T12:00Z")
    assert code == 0 and out.out.splitlines()[-1].split() == ["total", "0.0012"]
    code, out = run(monkeypatch, capsys, url, "cost", "openai", "o3", "--input-tokens", "1000",
                    "--at", "2025-05-01T00:00Z", "--json")
    document = json.loads(out.out)
    assert code == 0 and document["total"] == "0.01" and document["components"][0]["price"] == "10"
    code, out = run(monkeypatch, capsys, url, "cost", "openai", "o3", "--web-searches", "1",
                    "--input-tokens", "5")
    assert code == 1 and out.err.count("\n") == 1 and "web_search" in out.err
    code, out = run(monkeypatch, capsys, url, "cost", "openai", "o3", "--at", "yesterday")
    assert code == 2 and "--at must be an ISO 8601 instant" in out.err
    code, out = run(monkeypatch, capsys, url, "compare", "gpt-4o-2024-08-06", "--input-tokens",
                    "1000", "--output-tokens", "1000", "--json")
    offers = json.loads(out.out)["offerings"]
    assert code == 0 and len(offers) >= 5 and offers[0]["total"] is not None


def test_exports_carry_the_components(replayed_db, monkeypatch, capsys, tmp_path):
    url = replayed_db.url
    code, out = run(monkeypatch, capsys, url, "export", "--format", "json")
    assert code == 0
    doc = json.loads(out.out, parse_float=Decimal)
    sonnet = doc["anthropic"]["models"]["claude-sonnet-4-5"]["prices"]
    assert {"component": "input", "unit": "1M tokens", "mode": "standard", "price": 6,
            "min_prompt_tokens": 200001, "source": "genai_prices"} in sonnet
    target = tmp_path / "prices.csv"
    assert run(monkeypatch, capsys, url, "export", "--format", "csv", "--table", "prices",
               "--out", str(target))[0] == 0
    rows = list(csv.DictReader(io.StringIO(target.read_text())))
    flash = [r for r in rows if r["model_id"] == "google/gemini-3.7-flash"
             and r["component"] == "cache_write"]
    assert flash and flash[0]["price"] == "0.0208333333333333"  # exact text
    parquet = tmp_path / "prices.parquet"
    assert run(monkeypatch, capsys, url, "export", "--format", "parquet", "--table", "prices",
               "--out", str(parquet))[0] == 0
    assert str(pq.read_table(parquet).schema.field("price").type).startswith("decimal128")
