"""History over time: change events between real snapshots, price intervals, soft removal."""

import json
from datetime import UTC, datetime, timedelta
from decimal import Decimal

import dagster as dg
import pytest

from model_sync.definitions import defs
from model_sync.defs.resources import HttpClientResource
from model_sync_tests.conftest import Clock

ASSETS = list(defs.assets)
PRICES = (("input_price", "prompt"), ("output_price", "completion"),
          ("cache_read_price", "input_cache_read"), ("cache_write_price", "input_cache_write"))


def sync(root, catalog_db, selection, day=None, config=None):
    """Materialize the selection from a replay dir (run config for unselected assets dropped)."""
    if config:
        config = {"ops": {k: v for k, v in config["ops"].items() if k in selection}}
    http = HttpClientResource(replay_dir=str(root), replay_date=day)
    return dg.materialize(ASSETS, selection=selection, instance=dg.DagsterInstance.ephemeral(),
                          resources={"http": http, "catalog_db": catalog_db},
                          raise_on_error=False, run_config=config)


def run_events(store, result):
    return {(e["source_key"], e["change"], e["field"]) for e in store.changes()
            if e["run_id"] == result.run_id}


# -- Expected differences, computed from the payloads alone --------------------------------------


def per_million(text):
    """A per-token price (string or JSON number) as USD per 1M tokens; -1/absent: no price."""
    if text in (None, ""):
        return None
    value = Decimal(repr(text) if isinstance(text, float) else str(text))
    if value < 0:
        return None
    return Decimal(format(value * 1_000_000, ".15g"))


def openrouter_context(model):
    for value in (model.get("context_length"), (model.get("top_provider") or {}).get(
            "context_length")):
        if value and int(value) > 0:
            return int(value)
    return None


def openrouter_prices(model):
    return {field: per_million(model["pricing"].get(name)) for field, name in PRICES}


def litellm_prices(entry):
    names = {"input_price": "input_cost_per_token", "output_price": "output_cost_per_token",
             "cache_read_price": "cache_read_input_token_cost",
             "cache_write_price": "cache_creation_input_token_cost"}
    return {field: per_million(entry.get(name)) for field, name in names.items()}


def litellm_context(entry):
    value = entry.get("max_input_tokens")
    return int(value) if isinstance(value, int | float) and value > 0 else None


def litellm_entries(payload):
    return {k: v for k, v in payload.items() if isinstance(v, dict) and k != "sample_spec"}


def expected_events(snapshots, entries, prices, context):
    """For each snapshot: the (key, change, field) events it must cause, from the payloads.

    `entries(payload)` maps keys to entries, `prices(entry)` gives the four prices in USD per
    1M tokens, `context(entry)` the context window.
    """
    known: dict[str, dict] = {}  # last seen version of every key
    listed: set[str] = set()
    out = []
    for path in snapshots:
        models = entries(json.loads(path.read_text()))
        events = set()
        for key, model in models.items():
            before = known.get(key)
            if before is None:
                events.add((key, "added", None))
                continue
            if key not in listed:
                events.add((key, "restored", None))
            old, new = prices(before), prices(model)
            events |= {(key, "price_changed", f) for f in old if old[f] != new[f]}
            if context(before) != context(model):
                events.add((key, "context_changed", "context_window"))
        events |= {(key, "removed", None) for key in listed - set(models)}
        known.update(models)
        listed = set(models)
        out.append(events)
    return out


@pytest.mark.parametrize(
    ("source", "entries", "prices", "context"),
    [
        ("openrouter", lambda p: {m["id"]: m for m in p["data"]}, openrouter_prices,
         openrouter_context),
        ("litellm", litellm_entries, litellm_prices, litellm_context),
    ],
)
@pytest.mark.parametrize("plan_rows", [None, 7], ids=["one slice", "slices of 7 rows"])
def test_replaying_snapshots_in_date_order_writes_exactly_the_differences(
        source, entries, prices, context, plan_rows, catalog_db, payloads, monkeypatch):
    if plan_rows is not None:  # a large source is planned and written a slice at a time
        monkeypatch.setattr("model_sync.catalog.writes.PLAN_ROWS", plan_rows)
    history = sorted(p for p in (payloads / source).glob("*.json") if p.name.count(".") == 1)
    expected = expected_events(history, entries, prices, context)
    store = catalog_db.store()
    # Snapshots months apart: up to half of OpenRouter's models were replaced in between.
    months_apart = {"ops": {source: {"config": {"max_removed_share": 0.5}}}}
    for path, events in zip(history, expected, strict=True):
        result = sync(payloads, catalog_db, [source], day=path.name[:10], config=months_apart)
        assert result.success, path.name
        assert run_events(store, result) == events, path.name
    assert len(history) >= 3 and sum(len(e) for e in expected[1:]) > 0


def test_the_same_payload_twice_writes_no_event(catalog_db, payloads):
    store = catalog_db.store()
    first = sync(payloads, catalog_db, ["openrouter"], day="2025-05-22")
    assert len(run_events(store, first)) == 319
    second = sync(payloads, catalog_db, ["openrouter"], day="2025-05-22")
    assert second.success and run_events(store, second) == set()
    meta = second.asset_materializations_for_node("openrouter")[0].metadata
    assert meta["unchanged"].value == 319 and meta["updated"].value == 0


def test_may_22_to_23_changes_and_price_history(catalog_db, payloads):
    store = catalog_db.store()
    sync(payloads, catalog_db, ["openrouter"], day="2025-05-22")
    result = sync(payloads, catalog_db, ["openrouter"], day="2025-05-23")
    assert run_events(store, result) == {
        ("anthropic/claude-sonnet-4", "added", None),
        ("anthropic/claude-opus-4", "added", None),
        ("mistralai/mistral-small-24b-instruct-2501", "price_changed", "input_price"),
        ("mistralai/mistral-small-24b-instruct-2501", "context_changed", "context_window"),
        ("mistralai/devstral-small", "price_changed", "input_price"),
        ("mistralai/devstral-small", "price_changed", "output_price"),
    }
    change = next(e for e in store.changes(source="openrouter") if e["field"] == "output_price")
    assert (change["old_value"], change["new_value"]) == ("0.3", "0.1")
    intervals = store.price_intervals(model_id="mistralai/devstral-small")
    assert [(i["input_price"], i["output_price"]) for i in intervals] == [
        (Decimal("0.09"), Decimal("0.3")), (Decimal("0.07"), Decimal("0.1"))]
    assert intervals[0]["valid_to"] == intervals[1]["valid_from"]
    assert intervals[1]["valid_to"] is None
    # A model whose price did not change has one open interval.
    assert len(store.price_intervals(model_id="openai/gpt-4o")) == 1


def test_genai_prices_dated_list_seeds_the_history(catalog_db, payloads):
    assert sync(payloads, catalog_db, ["genai_prices"], day="2026-07-25").success
    o3 = catalog_db.store().price_intervals(source="genai_prices", model_id="o3")
    assert [(i["input_price"], i["output_price"], i["valid_from"], i["valid_to"]) for i in o3] == [
        (Decimal("10"), Decimal("40"), None, datetime(2025, 6, 10, tzinfo=UTC)),
        (Decimal("2"), Decimal("8"), datetime(2025, 6, 10, tzinfo=UTC), None),
    ]
    # An off-peak rate is an alternative of the same period, not history: one price in force.
    chat = catalog_db.store().price_intervals(source="genai_prices", model_id="deepseek-chat")
    assert [(i["input_price"], i["valid_from"], i["valid_to"]) for i in chat] == [
        (Decimal("0.27"), chat[0]["valid_from"], None)]
    # A price scheduled after the sync date is not history yet.
    sonnet5 = catalog_db.store().price_intervals(source="genai_prices",
                                                 model_id="claude-sonnet-5")
    assert [(i["input_price"], i["valid_to"]) for i in sonnet5] == [(Decimal("2"), None)]


# -- Removal, restore, archive, cleanup with the clock under the test's control ------------------


@pytest.fixture
def clock(monkeypatch):
    clock = Clock(datetime(2026, 1, 1, 12, tzinfo=UTC))
    monkeypatch.setattr("model_sync.defs.source_assets.utcnow", clock)
    monkeypatch.setattr("model_sync.defs.catalog_assets.utcnow", clock)
    return clock


def write_day(root, day, ids, price="0.000001"):
    folder = root / "openrouter"
    folder.mkdir(parents=True, exist_ok=True)
    data = [{"id": i, "name": i, "context_length": 8192,
             "pricing": {"prompt": price, "completion": "0.000002"}} for i in ids]
    (folder / f"{day}.json").write_text(json.dumps({"data": data}))


SMALL = {"ops": {"openrouter": {"config": {"min_rows": 1, "max_drop_share": 0.9}},
                 "model_catalog": {"config": {"min_rows": 1}}}}


def test_removed_then_restored_then_archived_after_the_grace_period(tmp_path, catalog_db, clock):
    root = tmp_path / "replay"
    store = catalog_db.store()
    both = ["openrouter", "model_catalog"]
    write_day(root, "2026-01-01", ["lab/a", "lab/b", "lab/c"])
    assert sync(root, catalog_db, both, "2026-01-01", SMALL).success
    first_sync = clock.now

    clock.now += timedelta(days=1)
    write_day(root, "2026-01-02", ["lab/a", "lab/b"])
    assert sync(root, catalog_db, both, "2026-01-02", SMALL).success
    gone = {r["source_key"]: r for r in store.source_rows("openrouter")}["lab/c"]
    assert gone["state"] == "removed" and gone["removed_at"] == clock.now
    assert gone["last_seen_at"] == first_sync
    catalog = {r["model_id"]: r for r in store.catalog_rows(active_only=True)}
    assert catalog["lab/c"]["state"] == "removed"  # still in the catalog, flagged

    clock.now += timedelta(days=1)
    write_day(root, "2026-01-03", ["lab/a", "lab/b", "lab/c"], price="0.000003")
    result = sync(root, catalog_db, both, "2026-01-03", SMALL)
    events = run_events(store, result)
    assert {e[:2] for e in events} == {("lab/c", "restored"), ("lab/a", "price_changed"),
                                       ("lab/b", "price_changed"), ("lab/c", "price_changed")}
    assert {r["model_id"]: r["state"] for r in store.catalog_rows()}["lab/c"] == "active"

    clock.now += timedelta(days=1)
    write_day(root, "2026-01-04", ["lab/a", "lab/b"], price="0.000003")
    assert sync(root, catalog_db, both, "2026-01-04", SMALL).success
    removed_at = clock.now

    clock.now = removed_at + timedelta(days=6, hours=23)  # inside the 7-day grace period
    assert sync(root, catalog_db, ["model_catalog"], config=SMALL).success
    assert {r["source_key"]: r["state"] for r in store.source_rows("openrouter")}["lab/c"] == (
        "removed")

    clock.now = removed_at + timedelta(days=7, minutes=1)
    result = sync(root, catalog_db, ["model_catalog"], config=SMALL)
    assert result.success
    assert ("lab/c", "archived", None) in run_events(store, result)
    rows = {r["source_key"]: r for r in store.source_rows("openrouter")}
    assert rows["lab/c"]["state"] == "archived" and rows["lab/c"]["archived_at"] == clock.now
    assert "lab/c" not in {r["model_id"] for r in store.catalog_rows(active_only=True)}
    archived = {r["model_id"]: r for r in store.catalog_rows()}["lab/c"]
    assert archived["state"] == "archived"  # still queryable
    history = store.price_intervals(model_id="lab/c")
    assert history[-1]["valid_to"] == clock.now  # its price is no longer in force
    meta = result.asset_materializations_for_node("model_catalog")[0].metadata
    assert meta["source_rows_archived"].value == 1

    clock.now += timedelta(days=1)
    write_day(root, "2026-01-20", ["lab/a", "lab/b", "lab/c"], price="0.000003")
    result = sync(root, catalog_db, both, "2026-01-20", SMALL)
    assert run_events(store, result) == {("lab/c", "restored", None)}
    assert store.price_intervals(model_id="lab/c")[-1]["valid_to"] is None


def test_a_new_spelling_of_the_model_id_renames_the_catalog_row(tmp_path, catalog_db, clock):
    root = tmp_path / "replay"
    both = ["openrouter", "model_catalog"]
    write_day(root, "2026-01-01", ["lab/Model-A", "lab/b"])
    assert sync(root, catalog_db, both, "2026-01-01", SMALL).success
    clock.now += timedelta(days=1)
    write_day(root, "2026-01-02", ["lab/model-a", "lab/b"])  # the source now spells it so
    result = sync(root, catalog_db, both, "2026-01-02", SMALL)
    assert result.success
    catalog = catalog_db.store().catalog_rows()
    assert [(r["model_id"], r["state"]) for r in catalog] == [("lab/b", "active"),
                                                              ("lab/model-a", "active")]
    meta = result.asset_materializations_for_node("model_catalog")[0].metadata
    assert (meta["added"].value, meta["removed"].value, meta["updated"].value) == (0, 0, 1)


def test_the_grace_period_is_configurable(tmp_path, catalog_db, clock):
    root = tmp_path / "replay"
    write_day(root, "2026-01-01", ["lab/a", "lab/b"])
    sync(root, catalog_db, ["openrouter"], "2026-01-01", SMALL)
    write_day(root, "2026-01-02", ["lab/a"])
    sync(root, catalog_db, ["openrouter"], "2026-01-02", SMALL)
    clock.now += timedelta(days=2)
    config = {"ops": {"model_catalog": {"config": {"min_rows": 1, "archive_after_days": 1}}}}
    assert sync(root, catalog_db, ["model_catalog"], config=config).success
    states = {r["source_key"]: r["state"] for r in catalog_db.store().source_rows("openrouter")}
    assert states == {"lab/a": "active", "lab/b": "archived"}


def test_unchanged_rows_are_not_rewritten(tmp_path, catalog_db, clock):
    root = tmp_path / "replay"
    write_day(root, "2026-01-01", ["lab/a", "lab/b"])
    sync(root, catalog_db, ["openrouter"], "2026-01-01", SMALL)
    first = clock.now
    clock.now += timedelta(hours=6)
    write_day(root, "2026-01-02", ["lab/a", "lab/b"], price="0.000005")
    write_day(root, "2026-01-02", ["lab/a", "lab/b"])  # same content, new snapshot
    assert sync(root, catalog_db, ["openrouter"], "2026-01-02", SMALL).success
    rows = catalog_db.store().source_rows("openrouter")
    assert {r["last_seen_at"] for r in rows} == {first}  # written once, not again


def test_cleanup_deletes_old_records_but_never_price_history(tmp_path, catalog_db, clock):
    root = tmp_path / "replay"
    write_day(root, "2026-01-01", ["lab/a"])
    sync(root, catalog_db, ["openrouter", "model_catalog"], "2026-01-01", SMALL)
    store = catalog_db.store()
    assert store.changes() and store.sync_history() and store.price_intervals()
    clock.now += timedelta(days=91)
    assert sync(root, catalog_db, ["model_catalog"], config=SMALL).success
    assert store.changes() == []
    assert [r["started_at"] for r in store.sync_history()] == [clock.now]  # only this build
    assert len(store.price_intervals()) == 1


def test_a_tenfold_price_jump_is_flagged_but_published(tmp_path, catalog_db, clock):
    root = tmp_path / "replay"
    write_day(root, "2026-01-01", ["lab/a", "lab/b"])
    sync(root, catalog_db, ["openrouter"], "2026-01-01", SMALL)
    write_day(root, "2026-01-02", ["lab/a", "lab/b"], price="0.00002")  # 1 -> 20 per 1M
    result = sync(root, catalog_db, ["openrouter"], "2026-01-02", SMALL)
    assert result.success
    check = {e.check_name: e for e in result.get_asset_check_evaluations()}[
        "openrouter_price_jumps"]
    assert not check.passed and check.severity == dg.AssetCheckSeverity.WARN
    assert "2 prices moved by more than 10x" in check.description
    assert catalog_db.store().source_rows("openrouter")[0]["input_price"] == Decimal("20")
    meta = result.asset_materializations_for_node("openrouter")[0].metadata
    assert "lab/a" in meta["largest_price_changes"].value
