"""The merge, on small hand-made rows: precedence, prices as one set, implausible values, and
the provider's own listing deciding what it serves."""

from datetime import UTC, datetime, timedelta
from decimal import Decimal

from model_sync.catalog import rules
from model_sync.catalog.merge import build_catalog
from model_sync.catalog.rollup import build_models
from model_sync.catalog.schema import OFFERING_COLUMNS

BUILT = datetime(2026, 11, 1, tzinfo=UTC)


def row(source, provider="wandb", model_id="deepseek-ai/DeepSeek-R1", **values):
    out = dict.fromkeys(OFFERING_COLUMNS)
    out.update(source=source, source_key=f"{source}:{model_id}", source_provider=provider,
               provider=provider, model_id=model_id, state="active")
    out.update(values)
    return out


def merge(*rows):
    return build_catalog(rows, provider_sources=["openrouter"], built_at=BUILT)


def test_prices_come_as_one_set_from_the_first_source_that_has_any():
    [merged] = merge(row("litellm", input_price=Decimal(1), output_price=Decimal(2)),
                     row("models_dev", input_price=Decimal(3)),  # input only, but first
                     row("openrouter", name="R1 at W&B", context_window=8192))
    assert (merged["input_price"], merged["output_price"]) == (Decimal(3), None)
    assert merged["price_source"] == "models_dev"
    assert merged["name"] == "R1 at W&B" and merged["field_sources"]["name"] == "openrouter"


def test_an_implausible_price_gives_way_to_another_sources_plausible_one():
    [merged] = merge(row("genai_prices", input_price=Decimal(135000), output_price=Decimal(5)),
                     row("litellm", input_price=Decimal("0.135"), output_price=Decimal("0.54")))
    assert (merged["input_price"], merged["output_price"]) == (Decimal("0.135"), Decimal("0.54"))
    assert merged["price_source"] == "litellm"


def test_an_implausible_price_with_no_alternative_is_withheld_and_flagged():
    rows = merge(row("litellm", input_price=Decimal(135000), output_price=Decimal(540000)),
                 row("litellm", model_id="o1-pro", input_price=Decimal(150),
                     output_price=Decimal(600)))
    by_id = {r["model_id"]: r for r in rows}
    withheld = by_id["deepseek-ai/DeepSeek-R1"]
    assert withheld["input_price"] is None and withheld["output_price"] is None
    assert withheld["price_flags"] == ["implausible_price"]
    assert withheld["price_source"] == "litellm"
    assert by_id["o1-pro"]["output_price"] == Decimal(600)  # dear, but real: kept
    finding = rules.prices_plausible(rows)
    assert finding.passed and finding.metadata["withheld"] == 1
    assert "wandb/deepseek-ai/DeepSeek-R1 (litellm)" in finding.description


def test_the_plausibility_check_fails_on_a_published_implausible_price():
    rows = merge(row("litellm", input_price=Decimal(1)))
    rows[0]["input_price"] = Decimal(2000)  # as if the merge had let it through
    finding = rules.prices_plausible(rows)
    assert not finding.passed and finding.blocks


OWN_APIS = ["openrouter", "groq", "alibaba_cloud"]


def states(*rows, provider_sources=OWN_APIS):
    built = build_catalog(rows, provider_sources=provider_sources, built_at=BUILT)
    return {(r["provider"], r["model_id"]): r for r in built}


def test_curated_offerings_the_providers_own_api_does_not_list_are_unlisted():
    rows = states(
        row("openrouter", "openrouter", "lab/listed", input_price=Decimal(1)),
        row("models_dev", "openrouter", "LAB/Listed", input_price=Decimal(9)),  # same, by case
        row("models_dev", "openrouter", "lab/gone", input_price=Decimal("0.5"),
            output_price=Decimal("1.5"), context_window=8192),
        row("litellm", "openrouter", "lab/gone", input_price=Decimal(7)))
    assert rows["openrouter", "lab/listed"]["state"] == "active"
    unlisted = rows["openrouter", "lab/gone"]
    assert unlisted["state"] == "unlisted" and unlisted["removed_at"] is None
    # Kept whole: curated prices as one set, lineage, sources.
    assert (unlisted["input_price"], unlisted["output_price"]) == (Decimal("0.5"),
                                                                   Decimal("1.5"))
    assert unlisted["price_source"] == "models_dev"
    assert unlisted["field_sources"]["context_window"] == "models_dev"
    assert unlisted["sources"] == ["litellm", "models_dev"]


def test_providers_without_a_synced_own_api_keep_their_curated_offerings_active():
    rows = states(
        row("openrouter", "openrouter", "lab/listed"),
        row("models_dev", "anthropic", "claude-x"),  # no own API among the sources
        row("litellm", "openai", "gpt-x"),
        row("models_dev", "groq", "llama-x"))  # an own API that never synced: no groq rows
    assert {k: r["state"] for k, r in rows.items()} == {
        ("openrouter", "lab/listed"): "active", ("anthropic", "claude-x"): "active",
        ("openai", "gpt-x"): "active", ("groq", "llama-x"): "active"}


def test_a_row_its_own_source_removed_does_not_count_as_listed():
    gone = {"state": "removed", "removed_at": BUILT - timedelta(days=1)}
    rows = states(
        row("groq", "groq", "kept"),
        row("groq", "groq", "dropped", **gone),
        row("models_dev", "groq", "dropped"),  # only a curated source still lists it
        row("groq", "groq", "forgotten", **gone),
        row("models_dev", "groq", "forgotten", **gone))  # nobody lists it any more
    assert rows["groq", "kept"]["state"] == "active"
    assert rows["groq", "dropped"]["state"] == "unlisted"
    forgotten = rows["groq", "forgotten"]
    assert forgotten["state"] == "removed" and forgotten["removed_at"] == gone["removed_at"]


def test_the_listing_provider_is_the_rows_canonical_provider_not_the_source_name():
    rows = states(
        row("alibaba_cloud", "alibaba", "qwen-max"),
        row("models_dev", "alibaba", "qwen-max"),
        row("models_dev", "alibaba", "qwen-old"),
        row("models_dev", "alibaba-cn", "qwen-old"),  # the other region's API is not a source
        row("models_dev", "alibaba_cloud", "qwen-old"))  # not a provider any source lists
    assert {k: r["state"] for k, r in rows.items()} == {
        ("alibaba", "qwen-max"): "active", ("alibaba", "qwen-old"): "unlisted",
        ("alibaba-cn", "qwen-old"): "active", ("alibaba_cloud", "qwen-old"): "active"}


def test_an_own_api_that_lists_nothing_of_a_provider_any_more_does_not_decide_for_it():
    """After a region switch the source lists `alibaba-cn` and its `alibaba` rows are removed:
    the curated `alibaba` offerings stay active instead of vanishing for the grace period."""
    gone = {"state": "removed", "removed_at": BUILT}
    rows = states(
        row("alibaba_cloud", "alibaba", "qwen-max", **gone),
        row("models_dev", "alibaba", "qwen-max"),
        row("alibaba_cloud", "alibaba-cn", "qwen-plus"),
        row("models_dev", "alibaba-cn", "qwen-turbo"))
    assert {k: r["state"] for k, r in rows.items()} == {
        ("alibaba", "qwen-max"): "active", ("alibaba-cn", "qwen-plus"): "active",
        ("alibaba-cn", "qwen-turbo"): "unlisted"}


def test_an_implausible_context_window_gives_way_to_the_next_sources_plausible_one():
    [merged] = merge(row("openrouter", kind="chat", context_window=10**12,
                         max_output_tokens=8192),
                     row("models_dev", context_window=131072, max_output_tokens=10**9))
    assert merged["context_window"] == 131072 and merged["max_output_tokens"] == 8192
    assert merged["field_sources"]["context_window"] == "models_dev"
    assert merged["field_sources"]["withheld"] == {"context_window": {"openrouter": 10**12}}
    assert build_models([dict(merged, canonical_id="deepseek-r1")])[0]["context_window"] == 131072


def test_a_context_window_over_the_limit_is_withheld_whatever_the_models_kind():
    """DeepInfra publishes no kind: a 10^12 context window is still implausible; only the
    lower bound needs to know the model generates text."""
    rows = merge(row("deepinfra", model_id="seed-mini", context_window=10**12),
                 row("deepinfra", model_id="clip", context_window=77))  # an image model's prompt
    by_id = {r["model_id"]: r for r in rows}
    assert by_id["seed-mini"]["context_window"] is None
    assert by_id["seed-mini"]["field_sources"]["withheld"] == {
        "context_window": {"deepinfra": 10**12}}
    assert by_id["clip"]["context_window"] == 77
    assert rules.context_window_range(rows).passed  # withheld, so nothing published is off
    unmerged = rules.context_window_range([row("deepinfra", context_window=10**12)])
    assert not unmerged.passed and unmerged.metadata["out_of_range"] == 1


def test_implausible_limits_with_no_alternative_are_withheld_and_reported():
    rows = merge(row("litellm", kind="chat", context_window=10**12, max_output_tokens=2 * 10**8),
                 row("litellm", model_id="tiny", kind="chat", context_window=100))
    by_id = {r["model_id"]: r for r in rows}
    r1 = by_id["deepseek-ai/DeepSeek-R1"]
    assert r1["context_window"] is None and r1["max_output_tokens"] is None
    assert r1["field_sources"]["withheld"] == {"context_window": {"litellm": 10**12},
                                               "max_output_tokens": {"litellm": 2 * 10**8}}
    assert by_id["tiny"]["context_window"] is None
    finding = rules.context_window_range(rows)
    assert finding.passed and finding.metadata["withheld"] == 3
    assert ("3 implausible source limits withheld (the next source's value is used, or none): "
            "wandb/deepseek-ai/DeepSeek-R1 context_window litellm=1,000,000,000,000, "
            "wandb/deepseek-ai/DeepSeek-R1 max_output_tokens litellm=200,000,000, "
            "wandb/tiny context_window litellm=100") in finding.description
    models = build_models([dict(r, canonical_id="r1") for r in rows])
    assert models[0]["context_window"] is None


def test_an_image_models_short_prompt_limit_is_kept():
    [merged] = merge(row("openrouter", kind="image_generation", context_window=77,
                         output_modalities=["image"]),
                     row("models_dev", context_window=4096))
    assert merged["context_window"] == 77 and "withheld" not in merged["field_sources"]
    # Judged on the kind the merged row takes (here from models.dev, the provider API has none).
    [merged] = merge(row("openrouter", context_window=77),
                     row("models_dev", kind="chat", context_window=4096))
    assert merged["context_window"] == 4096


def test_the_context_check_warns_on_a_published_out_of_range_limit():
    rows = merge(row("litellm", kind="chat", context_window=8192))
    rows[0]["context_window"] = 10**12  # as if the merge had let it through
    finding = rules.context_window_range(rows)
    assert not finding.passed and finding.severity == "WARN"
    assert "wandb/deepseek-ai/DeepSeek-R1=1,000,000,000,000" in finding.description
