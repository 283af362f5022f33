"""The tables derived from the catalog as assets: the models rollup, the price history (held to
the rows it describes) and the change feed (counted between builds)."""

from decimal import Decimal

import dagster as dg
import sqlalchemy as sa

from model_sync.catalog.rules.catalog import mass_removal
from model_sync.catalog.schema import price_history
from model_sync.definitions import defs
from model_sync.defs.resources import HttpClientResource

ASSETS = list(defs.assets)


def build(catalog_db, names, instance=None):
    return dg.materialize(ASSETS, selection=names, raise_on_error=False,
                          instance=instance or dg.DagsterInstance.ephemeral(),
                          resources={"http": HttpClientResource(), "catalog_db": catalog_db})


def evaluation(result, name):
    [found] = [e for e in result.get_asset_check_evaluations() if e.check_name == name]
    return found


def metadata(result, asset):
    [event] = result.asset_materializations_for_node(asset)
    return {k: getattr(v, "value", v) for k, v in event.metadata.items()}


def test_a_consistent_price_history_is_left_as_it_is(replayed_db):
    before = replayed_db.store().price_intervals()
    result = build(replayed_db, ["price_history"])
    assert result.success
    check = evaluation(result, "price_history_consistent")
    assert check.passed and check.metadata["repaired"].value == 0
    assert check.metadata["checked"].value > 9000
    assert replayed_db.store().price_intervals() == before
    meta = metadata(result, "price_history")
    assert meta["intervals"] == len(before) and meta["repaired"] == 0
    assert meta["in_force"] == sum(1 for i in before if i["valid_to"] is None)


def test_a_price_history_that_drifted_from_its_rows_is_repaired_and_reported(replayed_db):
    store = replayed_db.store()
    rows = {(r["source"], r["source_key"]): r for r in store.offerings()}
    open_intervals = [i for i in store.price_intervals() if i["valid_to"] is None]
    lost, wrong = open_intervals[0], open_intervals[1]
    with store.engine.begin() as conn:  # as a hand edit or a bad restore would leave it
        conn.execute(sa.delete(price_history).where(price_history.c.id == lost["id"]))
        conn.execute(sa.update(price_history).where(price_history.c.id == wrong["id"])
                     .values(input_price=Decimal("999")))
        conn.execute(sa.insert(price_history).values(
            source="openrouter", source_key="lab/never-listed", provider="openrouter",
            model_id="lab/never-listed", input_price=Decimal("1")))

    result = build(replayed_db, ["price_history"])

    assert result.success  # a warning: the history is repaired, not withheld
    check = evaluation(result, "price_history_consistent")
    assert not check.passed and check.severity == dg.AssetCheckSeverity.WARN
    assert check.metadata["repaired"].value == 3
    assert "openrouter/lab/never-listed" in check.description
    after = store.price_intervals()
    in_force = {(i["source"], i["source_key"]): i for i in after if i["valid_to"] is None}
    for interval in (lost, wrong):
        key = (interval["source"], interval["source_key"])
        assert in_force[key]["input_price"] == rows[key]["input_price"]
    assert ("openrouter", "lab/never-listed") not in in_force
    again = build(replayed_db, ["price_history"])
    assert evaluation(again, "price_history_consistent").passed  # nothing left to repair


def test_the_change_feed_counts_the_events_since_its_last_build(replayed_db):
    instance = dg.DagsterInstance.ephemeral()
    first = build(replayed_db, ["catalog_changes"], instance)
    assert first.success
    events = replayed_db.store().changes()
    assert metadata(first, "catalog_changes")["events"] == len(events) > 5000
    assert metadata(first, "catalog_changes")["events_added"] == sum(
        1 for e in events if e["change"] == "added")
    assert evaluation(first, "catalog_changes_mass_removal").passed
    second = build(replayed_db, ["catalog_changes"], instance)
    assert metadata(second, "catalog_changes")["events"] == 0
    assert "No change since the last build." in metadata(second, "catalog_changes")["latest"]


def test_a_mass_removal_is_flagged():
    assert mass_removal({"removed": 30, "added": 5}, served=70, max_share=0.3).passed
    flagged = mass_removal({"removed": 31}, served=69, max_share=0.3)
    assert not flagged.passed and flagged.severity == "WARN"
    assert flagged.description == ("31 offerings removed since the last build, 31.0% of 100 "
                                   "(allowed: 30%)")
