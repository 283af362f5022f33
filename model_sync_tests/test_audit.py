"""The source audit rules: called directly on small rows, then through the source asset on real
payloads (a reversed OpenRouter pair, a models.dev payload with a partly renamed price field)."""

import json
from decimal import Decimal

import dagster as dg
import pytest

from model_sync.catalog import rules
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


# -- drop_guard: net drop and removed share ------------------------------------------------------


def test_drop_guard_blocks_a_sync_whose_models_were_replaced_though_the_count_held():
    previous = rows(*LAB)
    now = rows(*LAB[:6], "new/a", "new/b", "new/c", "new/d")  # 4 gone, 4 new: net 0
    finding = rules.drop_guard(previous, now, 0.2, "openrouter")
    assert finding.blocks
    assert finding.description == (
        "openrouter: 4 of the 10 rows of its last good sync are gone (40.0%, allowed: 30.0%) "
        "while 4 new ones arrived (10 rows, +0.0% net): a different set of models, not an "
        "update, e.g. gone: lab/m6, lab/m7, lab/m8, lab/m9; the last good rows are kept")
    assert (finding.metadata["removed"], finding.metadata["added"]) == (4, 4)
    assert finding.metadata["removed_sample"] == ["lab/m6", "lab/m7", "lab/m8", "lab/m9"]


def test_drop_guard_allows_removals_up_to_the_configured_share():
    previous = rows(*LAB)
    now = rows(*LAB[:7], "new/a", "new/b", "new/c")  # 3 of 10 gone: not more than 30%
    assert rules.drop_guard(previous, now, 0.2, "openrouter").passed
    now = rows(*LAB[:5], "new/a", "new/b", "new/c", "new/d", "new/e")
    assert rules.drop_guard(previous, now, 0.2, "openrouter").blocks
    finding = rules.drop_guard(previous, now, 0.2, "openrouter", max_removed_share=0.5)
    assert finding.passed and "5 removed (50.0%, allowed: 50.0%) and 5 added" in (
        finding.description)


def test_drop_guard_still_blocks_a_plain_drop_and_accepting_it_accepts_its_removals():
    previous, now = rows(*LAB), rows(*LAB[:4])
    finding = rules.drop_guard(previous, now, 0.2, "openrouter")
    assert finding.blocks and finding.description.startswith(
        "openrouter has 4 rows, 60.0% fewer than the 10 of its last good sync (allowed: 20.0%); "
        "6 removed (60.0%, allowed: 30.0%) and 0 added, e.g. gone: lab/m4")
    # An operator who accepts a 60% drop accepts that those models are gone.
    assert rules.drop_guard(previous, now, 0.9, "openrouter").passed


def test_drop_guard_passes_a_first_sync():
    assert rules.drop_guard([], rows(*LAB), 0.2, "openrouter").passed


# -- price_coverage: the priced share of the rows present in both syncs ---------------------------


def test_price_coverage_blocks_prices_lost_from_rows_that_had_them():
    previous = rows(*HUNDRED)
    now = rows(*HUNDRED)
    for r in now[:3]:
        r["input_price"] = None  # 3 of 100: 3 points, over the 2 allowed
    finding = rules.price_coverage(previous, now, 0.02, "openrouter")
    assert finding.blocks
    assert ("of the 100 also in the last good sync, 97.0% are priced (last good sync: 100.0%, "
            "allowed fall: 2.0 points); 3 previously priced rows lost their input price, e.g. "
            "openrouter/lab/m000, openrouter/lab/m001, openrouter/lab/m002; a price field may "
            "have been renamed") in finding.description
    assert finding.metadata["lost_price"] == 3 and finding.metadata["share_drop"] == 0.03
    now[2]["input_price"] = Decimal(1)  # 2 points: not more than allowed
    assert rules.price_coverage(previous, now, 0.02, "openrouter").passed
    assert rules.price_coverage(previous, now, 0.01, "openrouter").blocks


def test_price_coverage_ignores_added_and_removed_rows():
    previous = rows(*HUNDRED[:50]) + rows(*HUNDRED[50:], input_price=None)
    # Half the models gone, and 400 new unpriced ones: the share of the whole sync fell from
    # 50% to 10%, but no model that was priced lost its price.
    now = rows(*HUNDRED[:50]) + rows(*[f"new/{i}" for i in range(400)], input_price=None)
    finding = rules.price_coverage(previous, now, 0.02, "openrouter")
    assert finding.passed and finding.metadata["compared_rows"] == 50
    assert finding.metadata["priced_share"] == finding.metadata["previous_priced_share"] == 1


def test_price_coverage_passes_when_nothing_can_be_compared():
    finding = rules.price_coverage([], rows(*LAB, input_price=None), 0.02, "openrouter")
    assert finding.passed and "no row in common" in finding.description


# -- price_jumps: tenfold moves, moves to and from free, prices no longer published ---------------


def test_price_jumps_flags_moves_to_and_from_free_and_lost_prices():
    previous = [*rows("lab/jump", "lab/free", "lab/lost", "lab/same"),
                row("lab/paid", input_price=Decimal(0))]
    now = [row("lab/jump", input_price=Decimal(20)), row("lab/free", input_price=Decimal(0)),
           row("lab/lost", input_price=None), row("lab/same"),
           row("lab/paid", input_price=Decimal("0.5")), row("lab/new", input_price=None)]
    finding = rules.price_jumps(previous, now, 10, "openrouter")
    assert not finding.passed and finding.severity == "WARN"
    assert {k: finding.metadata[k] for k in ("jumps", "turned_free", "turned_paid",
                                             "price_lost")} == dict.fromkeys(
        ("jumps", "turned_free", "turned_paid", "price_lost"), 1)
    assert finding.metadata["sample"] == [
        "openrouter/lab/jump input_price 1 → 20",
        "openrouter/lab/free input_price 1 → 0",
        "openrouter/lab/paid input_price 0 → 0.5",
        "openrouter/lab/lost input_price 1 → null",
    ]
    assert finding.description.startswith(
        "openrouter: 1 prices moved by more than 10x, 1 prices turned free (0), 1 free prices "
        "turned paid, 1 prices are no longer published (now null), e.g. ")


def test_price_jumps_passes_ordinary_repricing_and_newly_published_prices():
    previous = rows("lab/a", "lab/b", input_price=None) + rows("lab/c")
    now = [row("lab/a", input_price=Decimal(3)), row("lab/b", input_price=None),
           row("lab/c", input_price=Decimal(9))]
    finding = rules.price_jumps(previous, now, 10, "openrouter")
    assert finding.passed and finding.metadata["sample"] == []


def test_price_jumps_sample_takes_every_kind_in_turn():
    previous = rows(*HUNDRED)
    now = rows(*HUNDRED[:90], input_price=None) + rows(*HUNDRED[90:], input_price=Decimal(50))
    sample = rules.price_jumps(previous, now, 10, "openrouter").metadata["sample"]
    assert sum("→ 50" in s for s in sample) == 5 and sum("→ null" in s for s in sample) == 5


# -- through the source asset, on real payloads ---------------------------------------------------


def materialize(root, catalog_db, selection, day=None, config=None):
    http = HttpClientResource(replay_dir=str(root), replay_date=day)
    return dg.materialize(ASSETS, selection=selection, instance=dg.DagsterInstance.ephemeral(),
                          resources={"http": http, "catalog_db": catalog_db},
                          raise_on_error=False, run_config=config)


def checks(result):
    return {e.check_name: e for e in result.get_asset_check_evaluations()}


def link(root, source, day, target):
    """Serve a recorded payload (linked, never copied) as the snapshot of `day`."""
    (root / source).mkdir(parents=True, exist_ok=True)
    (root / source / f"{day}.json").symlink_to(target)


def assert_blocked_and_kept(result, catalog_db, source, good, rows_fetched):
    assert not result.success
    failure = result.get_step_failure_events()[0]
    assert failure.step_key == source
    assert "blocked" in failure.step_failure_data.user_failure_data.description
    store = catalog_db.store()
    kept = store.source_rows(source)
    assert len(kept) == len(good) and kept == good  # same rows, same content
    last = store.sync_history(source, limit=1)[0]
    assert last["status"] == "blocked" and last["rows_fetched"] == rows_fetched


def test_an_older_openrouter_snapshot_after_a_newer_one_is_blocked(tmp_path, catalog_db,
                                                                   payloads):
    """2026-08-19 then 2026-03-10: 193 of 414 models gone, 125 new, a net drop of only 16%."""
    root = tmp_path / "replay"
    link(root, "openrouter", "2026-08-19", payloads / "openrouter" / "2026-08-19.json")
    assert materialize(root, catalog_db, ["openrouter"], day="2026-08-19").success
    good = catalog_db.store().source_rows("openrouter")
    link(root, "openrouter", "2026-08-20", payloads / "openrouter" / "2026-03-10.json")
    newer = {m["id"] for m in json.loads((payloads / "openrouter" / "2026-08-19.json")
                                         .read_text())["data"]}
    older = {m["id"] for m in json.loads((payloads / "openrouter" / "2026-03-10.json")
                                         .read_text())["data"]}
    assert (len(newer - older), len(older - newer)) == (193, 125)

    result = materialize(root, catalog_db, ["openrouter"], day="2026-08-20")
    evaluations = checks(result)
    guard = evaluations["openrouter_drop_guard"]
    assert not guard.passed and guard.severity == dg.AssetCheckSeverity.ERROR
    assert guard.description.startswith(
        "openrouter: 193 of the 414 rows of its last good sync are gone (46.6%, allowed: 30.0%) "
        "while 125 new ones arrived (346 rows, -16.4% net)")
    gone = sorted(newer - older)[:5]
    assert f"e.g. gone: {', '.join(gone)}; the last good rows are kept" in guard.description
    assert guard.metadata["removed_sample"].value == sorted(newer - older)[:10]
    assert evaluations["openrouter_min_rows"].passed
    assert evaluations["openrouter_price_coverage"].passed
    assert_blocked_and_kept(result, catalog_db, "openrouter", good, 346)

    # Accepted on purpose: the operator raises the share for this run.
    config = {"ops": {"openrouter": {"config": {"max_removed_share": 0.5}}}}
    assert materialize(root, catalog_db, ["openrouter"], day="2026-08-20", config=config).success
    assert catalog_db.store().source_count("openrouter") == 346


def rename_cost(models_dev, every=20):
    """models.dev with `cost` renamed to `costs` in every `every`-th entry; the renamed keys."""
    renamed = set()
    for i, (provider_id, model_key, model) in enumerate(
            (p, k, m) for p, provider in models_dev.items()
            for k, m in provider["models"].items()):
        if i % every == 0 and "cost" in model:
            model["costs"] = model.pop("cost")
            renamed.add(f"{provider_id}/{model_key}")
    return renamed


def test_a_price_field_renamed_in_models_dev_is_flagged_and_blocked_past_the_margin(
        tmp_path, catalog_db, payloads):
    root = tmp_path / "replay"
    link(root, "models_dev", "2026-04-01", payloads / "models_dev" / "2026-04-01.json")
    assert materialize(root, catalog_db, ["models_dev"], day="2026-04-01").success
    good = catalog_db.store().source_rows("models_dev")
    was_priced = {r["source_key"] for r in good if r["input_price"] is not None}
    real = payloads / "models_dev" / "2026-06-01.json"
    entries = sum(len(p["models"]) for p in json.loads(real.read_text()).values())

    def renamed_in(every):
        payload = json.loads(real.read_text())
        renamed = rename_cost(payload, every)
        (root / "models_dev" / "2026-06-01.json").unlink(missing_ok=True)
        (root / "models_dev" / "2026-06-01.json").write_text(json.dumps(payload))
        return renamed & was_priced

    # 10% of the entries: the priced share falls by about 9 points, over the default 5.
    lost = renamed_in(10)
    result = materialize(root, catalog_db, ["models_dev"], day="2026-06-01")
    coverage = checks(result)["models_dev_price_coverage"]
    assert not coverage.passed and coverage.severity == dg.AssetCheckSeverity.ERROR
    assert coverage.metadata["lost_price"].value == len(lost) > 300
    assert (f"{len(lost)} previously priced rows lost their input price, e.g. "
            in coverage.description)
    assert "a price field may have been renamed" in coverage.description
    keys = {f"{r['provider']}/{r['model_id']}": r["source_key"] for r in good}
    assert {keys[example] for example in coverage.metadata["sample"].value} <= lost
    assert checks(result)["models_dev_drop_guard"].passed
    assert_blocked_and_kept(result, catalog_db, "models_dev", good, entries)

    # 5%: a fall of about 4.5 points. A stricter margin blocks it ...
    lost = renamed_in(20)
    strict = {"ops": {"models_dev": {"config": {"max_priced_share_drop": 0.02}}}}
    result = materialize(root, catalog_db, ["models_dev"], day="2026-06-01", config=strict)
    assert 0.04 < checks(result)["models_dev_price_coverage"].metadata["share_drop"].value < 0.05
    assert_blocked_and_kept(result, catalog_db, "models_dev", good, entries)

    # ... the default lets it through, never silently: every lost price is a warning and a
    # change event.
    result = materialize(root, catalog_db, ["models_dev"], day="2026-06-01")
    assert result.success
    evaluations = checks(result)
    assert evaluations["models_dev_price_coverage"].passed
    jumps = evaluations["models_dev_price_jumps"]
    assert not jumps.passed and jumps.severity == dg.AssetCheckSeverity.WARN
    assert jumps.metadata["price_lost"].value >= len(lost) > 150
    events = [e for e in catalog_db.store().changes(source="models_dev")
              if e["change"] == "price_changed" and e["field"] == "input_price"
              and e["new_value"] is None]
    assert {e["source_key"] for e in events} == lost


def test_the_real_models_dev_update_loses_no_price_and_passes(tmp_path, catalog_db, payloads):
    root = tmp_path / "replay"
    link(root, "models_dev", "2026-04-01", payloads / "models_dev" / "2026-04-01.json")
    link(root, "models_dev", "2026-06-01", payloads / "models_dev" / "2026-06-01.json")
    assert materialize(root, catalog_db, ["models_dev"], day="2026-04-01").success
    result = materialize(root, catalog_db, ["models_dev"], day="2026-06-01")
    assert result.success
    evaluations = checks(result)
    assert all(evaluations[f"models_dev_{rule}"].passed
               for rule in ("min_rows", "drop_guard", "price_coverage"))
    assert evaluations["models_dev_price_coverage"].metadata["lost_price"].value == 0


def openrouter_day(root, day, prices):
    """A recorded OpenRouter body of 100 models, with the given prompt prices by model."""
    data = [{"id": f"lab/m{i:03}", "name": f"M{i}", "context_length": 8192,
             "pricing": {"completion": "0.000002",
                         **({} if prices.get(i, "0.000001") is None
                            else {"prompt": prices.get(i, "0.000001")})}}
            for i in range(100)]
    (root / "openrouter").mkdir(parents=True, exist_ok=True)
    (root / "openrouter" / f"{day}.json").write_text(json.dumps({"data": data}))


def test_a_price_turning_free_or_unpublished_is_an_event_and_a_warning(tmp_path, catalog_db):
    root = tmp_path / "replay"
    config = {"ops": {"openrouter": {"config": {"min_rows": 1}}}}
    openrouter_day(root, "2026-01-01", {2: "0"})
    assert materialize(root, catalog_db, ["openrouter"], "2026-01-01", config).success
    openrouter_day(root, "2026-01-02", {0: None, 1: "0", 2: "0.0000005"})
    result = materialize(root, catalog_db, ["openrouter"], "2026-01-02", config)
    assert result.success  # 1 of 100 lost its price: within the coverage allowance

    jumps = checks(result)["openrouter_price_jumps"]
    assert not jumps.passed and jumps.severity == dg.AssetCheckSeverity.WARN
    assert jumps.metadata["sample"].value == [
        "openrouter/lab/m001 input_price 1 → 0",
        "openrouter/lab/m002 input_price 0 → 0.5",
        "openrouter/lab/m000 input_price 1 → null",
    ]
    events = {(e["model_id"], e["change"], e["field"], e["old_value"], e["new_value"])
              for e in catalog_db.store().changes(source="openrouter")
              if e["run_id"] == result.run_id}
    assert events == {
        ("lab/m000", "price_changed", "input_price", "1", None),
        ("lab/m001", "price_changed", "input_price", "1", "0"),
        ("lab/m002", "price_changed", "input_price", "0", "0.5"),
    }
    lost = {r["model_id"]: r for r in catalog_db.store().source_rows("openrouter")}["lab/m000"]
    assert lost["input_price"] is None and lost["output_price"] == Decimal(2)


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
    config = {"ops": {name: {"config": {"min_rows": 100}} for name in ("model_catalog", "models")}}
    result = materialize(root, catalog_db, ["openrouter", "model_catalog", "models"],
                         config=config)
    assert result.success

    store = catalog_db.store()
    stored = {r["model_id"]: r for r in store.source_rows("openrouter")}
    name = "context_window" if field == "context_length" else "max_output_tokens"
    assert stored["anthropic/claude-sonnet-4.5"][name] == 10**12  # the source row as published
    row = {r["model_id"]: r for r in store.catalog_rows()}["anthropic/claude-sonnet-4.5"]
    assert row[name] is None and name not in row["field_sources"]
    assert row["field_sources"]["withheld"] == {name: {"openrouter": 10**12}}
    assert store.model_rows() and all(m["context_window"] is None
                                      or m["context_window"] <= 10**8 for m in store.model_rows())
    check = checks(result)["model_catalog_context_window_range"]
    assert check.passed and check.metadata["withheld"].value == 1
    assert (f"1 implausible source limits withheld (the next source's value is used, or none): "
            f"openrouter/anthropic/claude-sonnet-4.5 {name} openrouter=1,000,000,000,000"
            in check.description)
