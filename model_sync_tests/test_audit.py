"""The source audit rules: called directly on small rows, then through the source asset on real
payloads (a reversed OpenRouter pair, a models.dev payload with a partly renamed price field)."""

import json
from decimal import Decimal

import dagster as dg
import pytest

from model_sync.catalog.schema import OFFERING_COLUMNS
from model_sync.definitions import defs
from model_sync.defs.resources import HttpClientResource

ASSETS = list(defs.assets)


def row(key, input_price=Decimal(1), **values):
    out = dict.fromkeys(OFFERING_COLUMNS)
    out.update(source="openrouter", source_key=key, provider="openrouter", model_id=key,
               input_price=input_price, output_price=Decimal(2), **values)
    return out


def rows(*keys, **values):
    return [row(k, **values) for k in keys]


LAB = [f"lab/m{i}" for i in range(10)]
HUNDRED = [f"lab/m{i:03}" for i in range(100)]


# -- through the source asset, on real payloads ---------------------------------------------------


def materialize(root, catalog_db, selection, day=None, config=None):
    http = HttpClientResource(replay_dir=str(root), replay_date=day)
    return dg.materialize(ASSETS, selection=selection, instance=dg.DagsterInstance.ephemeral(),
                          resources={"http": http, "catalog_db": catalog_db},
                          raise_on_error=False, run_config=config)


def checks(result):
    return {e.check_name: e for e in result.get_asset_check_evaluations()}


@pytest.mark.parametrize("field", ["context_length", "max_completion_tokens"])
def test_an_implausible_limit_never_reaches_the_catalog_or_the_models_rollup(
        tmp_path, catalog_db, payloads, field):
    root = tmp_path / "replay"
    payload = json.loads((payloads / "openrouter" / "2026-08-19.json").read_text())
    model = next(m for m in payload["data"] if m["id"] == "anthropic/claude-sonnet-4.5")
    if field == "context_length":
        model["context_length"] = 10**12
    else:
        model["top_provider"]["max_completion_tokens"] = 10**12
    (root / "openrouter").mkdir(parents=True)
    (root / "openrouter" / "2026-08-19.json").write_text(json.dumps(payload))
    config = {"ops": {"model_catalog": {"config": {"min_rows": 100}}}}
    result = materialize(root, catalog_db, ["openrouter", "model_catalog"], config=config)
    assert result.success

    store = catalog_db.store()
    stored = {r["model_id"]: r for r in store.source_rows("openrouter")}
    name = "context_window" if field == "context_length" else "max_output_tokens"
    assert stored["anthropic/claude-sonnet-4.5"][name] == 10**12  # the source row as published
    row = {r["model_id"]: r for r in store.catalog_rows()}["anthropic/claude-sonnet-4.5"]
    assert row[name] is None and name not in row["field_sources"]
    assert row["field_sources"]["withheld"] == {name: {"openrouter": 10**12}}
    assert all(m["context_window"] is None or m["context_window"] <= 10**8
               for m in store.model_rows())
    check = checks(result)["model_catalog_context_window_range"]
    assert check.passed and check.metadata["withheld"].value == 1
    assert (f"1 implausible source limits withheld (the next source's value is used, or none): "
            f"openrouter/anthropic/claude-sonnet-4.5 {name} openrouter=1,000,000,000,000"
            in check.description)
