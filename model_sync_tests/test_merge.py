"""The merge, on small hand-made rows: precedence, prices as one set, implausible prices."""

from datetime import UTC, datetime
from decimal import Decimal

from model_sync.catalog import validate
from model_sync.catalog.merge import build_catalog
from model_sync.catalog.schema import OFFERING_COLUMNS

BUILT = datetime(2026, 11, 1, tzinfo=UTC)


def row(source, provider="wandb", model_id="deepseek-ai/DeepSeek-R1", **values):
    out = dict.fromkeys(OFFERING_COLUMNS)
    out.update(source=source, source_key=f"{source}:{model_id}", source_provider=provider,
               provider=provider, model_id=model_id, state="active", **values)
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
    finding = validate.prices_plausible(rows)
    assert finding.passed and finding.metadata["withheld"] == 1
    assert "wandb/deepseek-ai/DeepSeek-R1 (litellm)" in finding.description


def test_the_plausibility_check_fails_on_a_published_implausible_price():
    rows = merge(row("litellm", input_price=Decimal(1)))
    rows[0]["input_price"] = Decimal(2000)  # as if the merge had let it through
    finding = validate.prices_plausible(rows)
    assert not finding.passed and finding.blocks
