"""Parsers of the sources without shared recordings, on fixtures in their documented shapes.

Each fixture's source of truth is named at its test and in `fixtures/README.md`. The fixtures sit
in the replay layout, so these tests read them through the replayed client, paging and all.
"""

import json
import logging
from decimal import Decimal

import pytest

from model_sync.defs.resources import HttpClientResource
from model_sync.http.paging import NoPaging
from model_sync.sources import SOURCES_BY_NAME
from model_sync.sources.base import FetchContext, ParseError, loads
from model_sync_tests.conftest import FIXTURE_SOURCES, FIXTURES, ctx, fetch

LOG = logging.getLogger("test.sources")


def synced(source: str, **options) -> tuple[dict[str, dict], dict]:
    """The rows and fetch metadata of one source, replayed from its fixtures."""
    http = HttpClientResource(replay_dir=str(FIXTURES))
    fetched = fetch(SOURCES_BY_NAME[source], http, {}, LOG, **options)
    return {r["source_key"]: r for r in fetched.rows}, fetched.meta


def fixture(source: str, name: str):
    return loads((FIXTURES / source / name).read_bytes(), source)


def test_every_source_has_a_fixture_and_every_fixture_a_source():
    new = {"huggingface", "together", "fireworks", "featherless", "nearai", "alibaba_cloud",
           "cerebras", "mistral", "deepseek", "xai", "novita"}
    assert set(FIXTURE_SOURCES) == new
    assert new <= set(SOURCES_BY_NAME)


@pytest.mark.parametrize("source", FIXTURE_SOURCES)
def test_every_fixture_row_is_a_valid_offering(source):
    rows, _ = synced(source)
    assert rows
    for row in rows.values():
        assert row["source"] == source and row["provider"] and row["model_id"]
        for column in ("input_price", "output_price", "cache_read_price", "cache_write_price"):
            value = row[column]
            assert value is None or (isinstance(value, Decimal) and value >= 0), (source, column)


# -- Hugging Face Hub: https://huggingface.co/docs/hub/api#get-apimodels (bare array, Link paging)


def test_huggingface_pages_through_the_link_header_to_the_end():
    rows, meta = synced("huggingface")
    assert meta["pages"] == 3 and len(rows) == 8
    assert meta["replayed_snapshots"].split(", ") == [
        "2026-08-20.page-1.json", "2026-08-20.page-2.json", "2026-08-20.page-3.json"]


def test_huggingface_keeps_hub_metadata_in_extra():
    rows, _ = synced("huggingface")
    llama = rows["meta-llama/Llama-3.1-8B-Instruct"]
    assert llama["extra"] == {
        "downloads": 9876543, "likes": 4821, "license": "llama3.1", "library": "transformers",
        "pipeline_tag": "text-generation", "gated": "manual",
        "created": "2024-07-18T08:56:00.000Z", "modified": "2024-09-25T17:00:57.000Z"}
    assert llama["hugging_face_id"] == llama["model_id"] and llama["provider"] == "huggingface"
    assert llama["created_at"].isoformat() == "2024-07-18T08:56:00+00:00"
    assert llama["input_price"] is None  # a repository, not an offering
    assert rows["Qwen/Qwen2.5-7B-Instruct"]["extra"]["gated"] is False
    gguf = rows["TheBloke/Mistral-7B-Instruct-v0.2-GGUF"]["extra"]
    assert "library" not in gguf and gguf["license"] == "apache-2.0"


def test_huggingface_stops_at_the_top_n_without_requesting_more_pages():
    rows, meta = synced("huggingface", max_rows=4)
    assert list(rows) == ["Qwen/Qwen2.5-7B-Instruct", "meta-llama/Llama-3.1-8B-Instruct",
                          "openai/gpt-oss-20b", "google/gemma-3-4b-it"]
    assert meta["pages"] == 2 and meta["requests"] == 2


def test_huggingface_plans_one_request_per_repository_other_sources_name():
    spec = SOURCES_BY_NAME["huggingface"]
    rows = [{"source_key": "Qwen/Qwen2.5-7B-Instruct"}]
    context = FetchContext(rows=rows, hugging_face_ids=[
        "qwen/qwen2.5-7b-instruct", "Qwen/Qwen3.8-27B", "not-a-repo-id"])
    [request] = spec.extra_requests(context)
    assert request.url == "https://huggingface.co/api/models/Qwen/Qwen3.8-27B"
    assert request.variant == "repo-Qwen--Qwen3.8-27B" and request.paging == NoPaging()


def test_huggingface_fetches_named_repositories_and_skips_unrecorded_ones(caplog):
    class Store:
        def hugging_face_ids(self, exclude_source=None):
            assert exclude_source == "huggingface"
            return ["Qwen/Qwen3.8-27B", "gone/repo", "openai/gpt-oss-20b"]

    with caplog.at_level(logging.WARNING):
        rows, meta = synced("huggingface", store=Store())
    assert len(rows) == 9 and (meta["extra_requests"], meta["extra_missing"]) == (2, 1)
    qwen = rows["Qwen/Qwen3.8-27B"]
    assert qwen["extra"]["pipeline_tag"] == "image-text-to-text"
    assert qwen["extra"]["license"] == "apache-2.0"
    assert "1 of 2 further requests found nothing" in caplog.text


def test_huggingface_further_requests_are_bounded():
    class Store:
        def hugging_face_ids(self, exclude_source=None):
            return [f"lab/model-{i}" for i in range(50)]

    _, meta = synced("huggingface", store=Store(), max_extra_requests=5)
    assert meta["extra_requests"] == 5


# -- Together: https://docs.together.ai/reference/models (bare array, pricing per 1M tokens)


def test_together_prices_are_usd_per_million_as_published():
    rows, _ = synced("together")
    assert len(rows) == 9
    llama = rows["meta-llama/Llama-3.3-70B-Instruct-Turbo"]
    assert (llama["input_price"], llama["output_price"]) == (Decimal("0.88"), Decimal("0.88"))
    assert llama["kind"] == "chat" and llama["context_window"] == 131072
    assert llama["creator"] == "Meta" and llama["extra"]["license"] == "llama3.3"
    v31 = rows["deepseek-ai/DeepSeek-V3.1"]
    assert (v31["input_price"], v31["output_price"]) == (Decimal("0.6"), Decimal("1.7"))


def test_together_zero_prices_are_unpublished_unless_the_model_is_free():
    rows, _ = synced("together")
    dedicated = rows["mistralai/Mixtral-8x22B-Instruct-v0.1"]
    assert dedicated["input_price"] is None and dedicated["output_price"] is None
    assert dedicated["extra"]["per_token_pricing"] is False
    assert dedicated["extra"]["hourly_price"] == Decimal("8.26")
    free = rows["meta-llama/Llama-3.3-70B-Instruct-Turbo-Free"]
    assert (free["input_price"], free["output_price"]) == (Decimal(0), Decimal(0))
    assert rows["togethercomputer/m2-bert-80M-32k-retrieval"]["input_price"] is None  # no pricing
    embedding = rows["BAAI/bge-large-en-v1.5"]
    assert embedding["kind"] == "embedding" and embedding["input_price"] == Decimal("0.016")
    assert rows["black-forest-labs/FLUX.1-schnell"]["kind"] == "image_generation"


def test_together_wants_a_bare_array():
    with pytest.raises(ParseError, match="^together: expected the response to be a JSON array"):
        SOURCES_BY_NAME["together"].parse({"data": []}, ctx("together"))


# -- Fireworks: https://docs.fireworks.ai/api-reference/list-models (pageToken paging)


def test_fireworks_pages_by_token_and_marks_deprecated_models():
    rows, meta = synced("fireworks")
    assert meta["pages"] == 2 and len(rows) == 5
    old = rows["accounts/fireworks/models/llama-v3p1-405b-instruct"]
    assert old["deprecation_date"] == "2026-03-01" and old["status"] == "deprecated"
    vl = rows["accounts/fireworks/models/qwen2p5-vl-32b-instruct"]
    assert vl["supports_vision"] is True and vl["supports_tools"] is False
    assert vl["hugging_face_id"] == "Qwen/Qwen2.5-VL-32B-Instruct" and vl["status"] == "active"
    assert vl["context_window"] == 128000 and vl["input_price"] is None
    assert {r["provider"] for r in rows.values()} == {"fireworks"}


def test_fireworks_reads_the_account_models_when_an_account_is_set(monkeypatch):
    monkeypatch.setenv("FIREWORKS_ACCOUNT_ID", "acme-ai")
    rows, meta = synced("fireworks")
    assert len(rows) == 6 and meta["extra_requests"] == 1 and meta["extra_missing"] == 0
    tuned = rows["accounts/acme-ai/models/support-bot-ft"]
    assert tuned["extra"]["account"] == "acme-ai" and tuned["extra"]["public"] is False


# -- Featherless: https://featherless.ai/docs/api-reference-models (page/per_page paging)


def test_featherless_stops_at_the_empty_page_and_reports_the_shortfall(caplog):
    with caplog.at_level(logging.WARNING):
        rows, meta = synced("featherless")
    assert len(rows) == 6 and meta["pages"] == 3
    assert (meta["advertised_rows"], meta["shortfall"]) == (11, 5)
    assert "advertises 11 models but its pages held 6: 5 missing" in caplog.text
    qwen = rows["Qwen/Qwen2.5-72B-Instruct"]
    assert (qwen["context_window"], qwen["max_output_tokens"]) == (32768, 4096)
    assert qwen["hugging_face_id"] == "Qwen/Qwen2.5-72B-Instruct" and qwen["input_price"] is None
    assert rows["meta-llama/Meta-Llama-3.1-8B-Instruct"]["extra"]["is_gated"] is True


def test_featherless_has_more_follows_the_advertised_pages():
    has_more = SOURCES_BY_NAME["featherless"].paging.has_more
    assert has_more(fixture("featherless", "2026-08-20.page-1.json"))
    assert not has_more(fixture("featherless", "2026-08-20.page-3.json"))  # empty: the bug
    last = {"data": [{"id": "a/b"}], "pagination": {"current_page": 4, "total_pages": 4}}
    assert not has_more(last)
    assert has_more({"data": [{"id": f"m{i}"} for i in range(1000)]})  # full page, no pagination
    assert not has_more({"data": [{"id": "m"}]})


# -- NEAR AI Cloud: its `/v1/model/list` catalog (amount * 10**-scale USD per token)


def test_nearai_scaled_costs_become_exact_usd_per_million():
    rows, _ = synced("nearai")
    glm = rows["zai-org/GLM-5.1-FP8"]
    assert (glm["input_price"], glm["output_price"]) == (Decimal("0.85"), Decimal("3.3"))
    assert glm["context_window"] == 202752 and glm["name"] == "GLM 5.1"
    oss = rows["openai/gpt-oss-120b"]  # the input cost has scale 8: 15e-8 per token
    assert (oss["input_price"], oss["output_price"]) == (Decimal("0.15"), Decimal("0.55"))
    embedding = rows["Qwen/Qwen3-Embedding-0.6B"]
    assert embedding["input_price"] is None and embedding["kind"] == "embedding"
    assert rows["black-forest-labs/FLUX.2-klein-4B"]["kind"] == "image_generation"


def test_nearai_other_currencies_are_not_taken_for_usd():
    payload = {"models": [{"modelId": "x/y", "inputCostPerToken":
                           {"amount": 5, "scale": 7, "currency": "NEAR"}}]}
    [row] = SOURCES_BY_NAME["nearai"].parse(payload, ctx("nearai"))
    assert row["input_price"] is None
    assert row["extra"]["costs_in_other_currency"]["inputCostPerToken"]["currency"] == "NEAR"


def test_nearai_a_bad_scale_rejects_the_entry_naming_the_field():
    payload = {"models": [{"modelId": "x/y", "inputCostPerToken": {"amount": 5, "scale": "9"}}]}
    context = ctx("nearai")
    assert SOURCES_BY_NAME["nearai"].parse(payload, context) == []
    [rejected] = context.rejected
    assert rejected.source_key == "x/y" and rejected.field == "inputCostPerToken.scale"


# -- Alibaba Cloud Model Studio: OpenAI-compatible `compatible-mode/v1/models`


def test_alibaba_cloud_lists_unpriced_offerings_of_its_region(monkeypatch):
    rows, meta = synced("alibaba_cloud")
    assert len(rows) == 6 and meta["region"] == "intl"
    assert {r["provider"] for r in rows.values()} == {"alibaba"}
    assert all(r["input_price"] is None for r in rows.values())
    assert rows["text-embedding-v3"]["kind"] == "embedding"
    monkeypatch.setenv("ALIBABA_CLOUD_REGION", "cn")
    rows, meta = synced("alibaba_cloud")
    assert meta["region"] == "cn" and {r["provider"] for r in rows.values()} == {"alibaba-cn"}


def test_alibaba_cloud_region_chooses_the_endpoint():
    spec = SOURCES_BY_NAME["alibaba_cloud"]
    assert spec.endpoint(None)[0].startswith("https://dashscope-intl.aliyuncs.com/")
    assert spec.endpoint("cn") == ("https://dashscope.aliyuncs.com/compatible-mode/v1/models",
                                   "cn")
    with pytest.raises(ValueError, match="unknown region 'eu'"):
        spec.endpoint("eu")


# -- Cerebras, DeepSeek: OpenAI-compatible model lists without prices


def test_cerebras_and_deepseek_list_models_without_prices():
    cerebras, _ = synced("cerebras")
    assert sorted(cerebras) == ["gpt-oss-120b", "llama3.1-8b", "qwen-3-235b-a22b-instruct-2507",
                                "zai-glm-4.7"]
    assert cerebras["gpt-oss-120b"]["creator"] == "OpenAI"
    deepseek, _ = synced("deepseek")
    assert sorted(deepseek) == ["deepseek-chat", "deepseek-reasoner"]
    assert all(r["input_price"] is None and r["provider"] == "deepseek" for r in deepseek.values())


# -- Mistral: https://docs.mistral.ai/api/#tag/models (model cards)


def test_mistral_capabilities_and_deprecations():
    rows, _ = synced("mistral")
    assert len(rows) == 7
    medium = rows["mistral-medium-2508"]
    assert medium["kind"] == "chat" and medium["supports_vision"] is True
    assert medium["supports_tools"] is True and medium["context_window"] == 131072
    assert medium["extra"]["aliases"] == ["mistral-medium-latest", "mistral-medium"]
    nemo = rows["open-mistral-nemo"]  # deprecated before the fixture's date
    assert (nemo["deprecation_date"], nemo["status"]) == ("2026-03-31", "deprecated")
    assert nemo["extra"]["replacement"] == "mistral-small-latest"
    assert rows["mistral-large-2411"]["status"] == "deprecating"  # announced, not yet past
    assert rows["mistral-embed"]["kind"] == "embedding"
    assert rows["mistral-moderation-2411"]["kind"] == "moderation"


# -- xAI: https://docs.x.ai/docs/api-reference#list-language-models (US cents per 100M tokens)


def test_xai_cents_per_hundred_million_tokens_divide_exactly():
    rows, _ = synced("xai")
    grok3 = rows["grok-3"]
    assert (grok3["input_price"], grok3["output_price"], grok3["cache_read_price"]) == (
        Decimal("3"), Decimal("15"), Decimal("0.75"))
    mini = rows["grok-3-mini"]
    assert (mini["input_price"], mini["output_price"], mini["cache_read_price"]) == (
        Decimal("0.3"), Decimal("0.5"), Decimal("0.075"))
    assert rows["grok-code-fast-1"]["cache_read_price"] == Decimal("0.02")
    vision = rows["grok-2-vision-1212"]
    assert vision["cache_read_price"] is None  # not published for this model
    assert vision["supports_vision"] is True
    assert vision["extra"]["image_input_price"] == Decimal("2")
    assert rows["grok-4-0709"]["extra"]["aliases"] == ["grok-4", "grok-4-latest"]


# -- Novita: https://novita.ai/docs/api-reference/model-apis-llm-list-models (1/10,000 USD per 1M)


def test_novita_ten_thousandths_of_a_dollar_divide_exactly():
    rows, _ = synced("novita")
    llama = rows["meta-llama/llama-3.3-70b-instruct"]
    assert (llama["input_price"], llama["output_price"]) == (Decimal("0.39"), Decimal("0.39"))
    assert llama["context_window"] == 131072
    assert rows["openai/gpt-oss-20b"]["input_price"] == Decimal("0.04")
    assert rows["deepseek/deepseek-v3.1"]["output_price"] == Decimal("1")
    bge = rows["baai/bge-m3"]
    assert bge["input_price"] == Decimal("0.01") and bge["output_price"] is None


# -- every fixture's raw entries become rows


@pytest.mark.parametrize(("source", "count"), [
    ("together", lambda raw: len(raw)), ("nearai", lambda raw: len(raw["models"])),
    ("xai", lambda raw: len(raw["models"])), ("novita", lambda raw: len(raw["data"])),
    ("mistral", lambda raw: len(raw["data"])), ("cerebras", lambda raw: len(raw["data"])),
    ("deepseek", lambda raw: len(raw["data"])), ("alibaba_cloud", lambda raw: len(raw["data"])),
])
def test_one_row_per_entry(source, count):
    raw = json.loads((FIXTURES / source / "2026-08-20.json").read_text())
    assert len(SOURCES_BY_NAME[source].parse(fixture(source, "2026-08-20.json"),
                                             ctx(source))) == count(raw)
