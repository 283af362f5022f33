"""The history of every price component as validity intervals: seeded by a source's first sync
and by genai-prices' dated lists, followed by each later sync, and priced on both sides of a
change."""

from datetime import UTC, datetime, timedelta
from decimal import Decimal
from pathlib import Path

import pytest

from model_sync.catalog.identity import base_id
from model_sync.catalog.store import CatalogStore
from model_sync.pricing.history import plan_prices, slot_of
from model_sync.pricing.lookup import Pricer
from model_sync.pricing.storage import price_rows, publish_prices
from model_sync.sources import SOURCES_BY_NAME
from model_sync.sources.base import loads
from model_sync_tests.conftest import ctx, needs_shared, shared_files, unavailable

NOW = datetime(2026, 8, 20, 12, tzinfo=UTC)
LATER = NOW + timedelta(days=1)


def row(prices, key="m", source="s"):
    return {"source": source, "source_key": key, "provider": "p", "model_id": key,
            "state": "active", "prices": prices}


def price(value, **extra):
    return {"component": "input", "unit": "1M tokens", "mode": "standard",
            "price": Decimal(value), **extra}


def stored(plan, start_id=1):
    """The intervals a plan inserts, as the table would hand them back."""
    return [dict(r, id=i) for i, r in enumerate(plan.inserts, start_id)]


def test_a_first_sync_knows_undated_prices_from_before_and_states_dated_ones_as_given():
    plan = plan_prices([row([price("2")]),
                        row([price("10", valid_to="2025-06-10"),
                             price("2", valid_from="2025-06-10"),
                             price("3", valid_from="2026-09-01")], key="dated")],
                       [], set(), now=NOW, run_id="r")
    by_key = {(r["source_key"], r["valid_from"], r["valid_to"]): r["price"]
              for r in plan.inserts}
    assert by_key == {("m", None, None): 2,
                      ("dated", None, datetime(2025, 6, 10, tzinfo=UTC)): 10,
                      ("dated", datetime(2025, 6, 10, tzinfo=UTC), None): 2,
                      ("dated", datetime(2026, 9, 1, tzinfo=UTC), None): 3}
    assert {r["run_id"] for r in plan.inserts} == {"r"}


def test_a_later_sync_writes_nothing_for_unchanged_prices_and_dates_new_ones_now():
    first = plan_prices([row([price("2")])], [], set(), now=NOW, run_id=None)
    intervals = stored(first)
    seen = {slot_of(r) for r in intervals}
    assert not plan_prices([row([price("2")])], intervals, seen, now=LATER,
                           run_id=None).changed
    added = plan_prices([row([price("2")]), row([price("5")], key="new")], intervals, seen,
                        now=LATER, run_id=None)
    assert [(r["source_key"], r["valid_from"]) for r in added.inserts] == [("new", LATER)]


def test_a_changed_price_ends_its_interval_and_opens_the_next_at_the_sync():
    intervals = stored(plan_prices([row([price("2")])], [], set(), now=NOW, run_id=None))
    plan = plan_prices([row([price("1.5")])], intervals, {slot_of(intervals[0])}, now=LATER,
                       run_id=None)
    assert plan.ends == [(1, LATER)]
    assert [(r["price"], r["valid_from"], r["valid_to"]) for r in plan.inserts] == [
        (Decimal("1.5"), LATER, None)]


def test_a_component_gone_ends_and_a_withdrawn_scheduled_price_is_dropped():
    first = plan_prices([row([price("2"), price("3", valid_from="2026-09-01")]),
                         row([dict(price("1"), component="output")], key="other")],
                        [], set(), now=NOW, run_id=None)
    intervals = stored(first)
    seen = {slot_of(r) for r in intervals}
    scheduled = next(r for r in intervals if r["valid_from"])
    plan = plan_prices([row([price("2")])], intervals, seen, now=LATER, run_id=None)
    assert plan.deletes == [scheduled["id"]]  # never in force: not history
    other = next(r for r in intervals if r["source_key"] == "other")
    assert (other["id"], LATER) in plan.ends
    assert not plan.inserts


def test_a_scheduled_change_comes_into_force_without_a_write():
    intervals = stored(plan_prices([row([price("2", valid_to="2026-09-01"),
                                         price("3", valid_from="2026-09-01")])],
                                   [], set(), now=NOW, run_id=None))
    seen = {slot_of(r) for r in intervals}
    after = datetime(2026, 9, 2, tzinfo=UTC)
    current = [r for r in intervals if r["valid_to"] is None]
    assert not plan_prices([row([price("2", valid_to="2026-09-01"),
                                 price("3", valid_from="2026-09-01")])],
                           current, seen, now=after, run_id=None).changed


def recorded_rows(source: str, name: str) -> list[dict]:
    """A source's recording `name`, parsed, each row given the canonical id of its model id."""
    path = Path(shared_files(source)[0]).parent / name if shared_files(source) else None
    if path is None or not path.is_file():
        unavailable(f"recorded payload {source}/{name} not available")
    rows = SOURCES_BY_NAME[source].parse(loads(path.read_bytes(), source), ctx(source, name[:10]))
    for r in rows:
        r["canonical_id"] = base_id(r["model_id"])
    return rows


def publish(store: CatalogStore, source: str, name: str, when: datetime) -> None:
    """A sync of one recording at `when`, the way `ingest.source` publishes it."""
    rows = recorded_rows(source, name)
    store.publish_source(source, rows, run_id=name, started_at=when, now=when)
    publish_prices(store.engine, source, now=when, run_id=name)


@needs_shared
def test_two_real_syncs_price_a_request_on_both_sides_of_a_price_change(db_url):
    """OpenRouter repriced mistralai/devstral-small between its recordings of 2025-05-22 (0.09 /
    0.3 USD per 1M tokens) and 2025-05-23 (0.07 / 0.1)."""
    store = CatalogStore.from_url(db_url)
    first, second = (datetime(2025, 5, 22, 12, tzinfo=UTC), datetime(2025, 5, 23, 12, tzinfo=UTC))
    publish(store, "openrouter", "2025-05-22.json", first)
    publish(store, "openrouter", "2025-05-23.json", second)
    publish(store, "openrouter", "2025-05-23.json", second + timedelta(hours=6))  # no change
    intervals = [r for r in price_rows(store.engine, provider="openrouter")
                 if r["source_key"] == "mistralai/devstral-small" and r["component"] == "input"]
    assert [(r["price"], r["valid_from"], r["valid_to"]) for r in intervals] == [
        (Decimal("0.09"), None, second), (Decimal("0.07"), second, None)]
    usage = {"input_tokens": 1_000_000, "output_tokens": 1_000_000}
    pricer = Pricer(store)
    before = pricer.cost("openrouter", "mistralai/devstral-small", usage, at=second - timedelta(1))
    after = pricer.cost("openrouter", "mistralai/devstral-small", usage, at=second)
    assert (before.total, after.total) == (Decimal("0.39"), Decimal("0.17"))
    assert before.components[0].valid_to == second and after.components[0].valid_from == second
    store.dispose()


@needs_shared
def test_components_a_sync_hands_over_stand_only_for_rows_stored_as_it_wrote_them(tmp_path):
    """A sync hands its rows' components to the price publish instead of reading them back,
    each under the content hash the row was stored with: the intervals are the ones read back
    from the table would give. Under another hash (a sync in between rewrote the row), the
    stored row is read."""
    rows = recorded_rows("openrouter", "2025-05-22.json")
    stale = "mistralai/devstral-small"
    written = []
    for name, handed in (("read", False), ("handed", True)):
        store = CatalogStore.from_url(f"sqlite:///{tmp_path / name}.db")
        stats = store.publish_source("openrouter", rows, run_id=name, started_at=NOW, now=NOW)
        published = {r["source_key"]: (digest, r["prices"])
                     for r, digest in zip(rows, stats.hashes, strict=True)}
        published[stale] = ("another sync's hash", [price("123")])
        publish_prices(store.engine, "openrouter", now=NOW, run_id="r",
                       published=published if handed else None)
        written.append(sorted((r["source_key"], r["component"], r["mode"], r["price"],
                               r["min_prompt_tokens"], r["valid_from"], r["valid_to"])
                              for r in price_rows(store.engine, source="openrouter")))
        store.dispose()
    assert written[0] == written[1]
    assert len(written[1]) > len(rows)
    assert {p for k, _, _, p, *_ in written[1] if k == stale} == {Decimal("0.09"),
                                                                 Decimal("0.3")}


@needs_shared
@pytest.mark.parametrize("at", ["2025-06-09T23:59:59Z", "2025-06-10T00:00:00Z"])
def test_a_dated_list_prices_each_side_of_its_date(db_url, at):
    """genai-prices dates o3's 80% cut on 2025-06-10: 10 / 40 USD per 1M tokens before, 2 / 8
    from that day (UTC) on."""
    store = CatalogStore.from_url(db_url)
    publish(store, "genai_prices", "2026-07-25.json", NOW)
    cost = Pricer(store).cost("openai", "o3", {"input_tokens": 1_000_000,
                                               "output_tokens": 1_000_000}, at=at)
    assert cost.total == (Decimal(50) if at.startswith("2025-06-09") else Decimal(10))
    store.dispose()


def test_prices_not_written_by_a_sync_are_a_warning_repaired_by_the_prices_build(
        fixtures_http, catalog_db, monkeypatch):
    import dagster as dg

    import model_sync.ingest.source as ingest
    from model_sync.definitions import defs
    from model_sync.pricing.catalog import build_prices

    def unavailable_table(*_args, **_kwargs):
        raise RuntimeError("the prices table is locked")

    monkeypatch.setattr(ingest, "publish_prices", unavailable_table)
    instance = dg.DagsterInstance.ephemeral()
    result = dg.materialize(list(defs.assets), selection=["together"], instance=instance,
                            resources={"http": fixtures_http, "catalog_db": catalog_db},
                            run_config={"ops": {"together": {"config": {"min_rows": 1}}}})
    assert result.success
    store = catalog_db.store()
    assert store.source_count("together") == 9
    assert not price_rows(store.engine, keys=[("together", "meta-llama/Llama-3.3-70B-Instruct-"
                                                          "Turbo")])
    logged = [record.user_message for record in instance.all_logs(result.run_id)]
    assert ("together: price components not written (RuntimeError: the prices table is "
            "locked); the next build of prices repairs them") in logged
    build_prices(store, started=NOW, run_id="repair")
    repaired = price_rows(store.engine, keys=[("together",
                                               "meta-llama/Llama-3.3-70B-Instruct-Turbo")])
    assert {(r["component"], r["price"]) for r in repaired} == {("input", Decimal("0.88")),
                                                                ("output", Decimal("0.88"))}
    store.dispose()


@needs_shared
def test_a_resync_plans_only_the_rows_it_wrote_and_writes_what_planning_every_row_would(
        tmp_path, monkeypatch):
    """After a publish, the intervals of the rows it wrote are planned, not every row's, when
    the others are as the last plan left them and no interval began or ended since. Four syncs
    of OpenRouter: its recording of 2025-05-22; that of 2025-05-23 (repriced models); the same
    with two models gone and one given a price scheduled a day later; and, two days on, with
    one more model repriced (the scheduled price began meanwhile: every row is planned again).
    Each leaves the intervals a plan of every row leaves."""
    import model_sync.pricing.storage as storage

    first, second = (recorded_rows("openrouter", f"2025-05-{day}.json") for day in (22, 23))
    third = [dict(r) for r in second[2:]]
    dated = third[0]
    dated["prices"] = [*dated["prices"], price("9", valid_from=(NOW + timedelta(days=1))
                                               .date().isoformat())]
    fourth = [dict(r) for r in third]
    fourth[5]["prices"] = [dict(p, price=p["price"] * 2) for p in fourth[5]["prices"]]
    fourth[5]["input_price"] = fourth[5]["input_price"] * 2
    syncs = [(first, NOW - timedelta(days=1)), (second, NOW), (third, NOW + timedelta(hours=1)),
             (fourth, NOW + timedelta(days=3))]

    planned: list[set[str]] = []
    original = storage.plan_prices

    def spy(rows, *args, **kwargs):
        rows = list(rows)
        planned[-1].update(r["source_key"] for r in rows)
        return original(rows, *args, **kwargs)

    monkeypatch.setattr(storage, "plan_prices", spy)
    found, plans = {}, {}
    for mode in ("every row", "rows written"):
        store = CatalogStore.from_url(f"sqlite:///{tmp_path / mode.replace(' ', '_')}.db")
        found[mode], plans[mode] = [], []
        for rows, when in syncs:
            stats = store.publish_source("openrouter", rows, run_id="r", started_at=when,
                                         now=when)
            planned.append(set())
            publish_prices(store.engine, "openrouter", now=when, run_id="r",
                           **({"written": stats.written, "stamps": stats.stamps}
                              if mode == "rows written" else {}))
            plans[mode].append((planned[-1], stats.written))
            found[mode].append(sorted(
                (r["source_key"], r["component"], r["mode"], r["price"], r["min_prompt_tokens"],
                 r["valid_from"], r["valid_to"])
                for r in price_rows(store.engine, source="openrouter")))
        store.dispose()
    assert found["rows written"] == found["every row"]
    every, written = plans["every row"], plans["rows written"]
    listed = {r["source_key"] for r in first}
    assert every[1][0] == listed | {r["source_key"] for r in second}
    # The second and third syncs plan only what they wrote: repriced, gone, newly dated.
    for step in (1, 2):
        assert written[step][0] == written[step][1] and 0 < len(written[step][0]) < 30
    assert {second[0]["source_key"], second[1]["source_key"], dated["source_key"]} <= \
        written[2][0]
    # The scheduled price began between the third and fourth syncs: every row again.
    assert written[3][0] == every[3][0] == {r["source_key"] for r in second}
    changed = [k for k, c, m, p, t, start, end in found["every row"][3]
               if start == NOW + timedelta(days=3)]
    assert fourth[5]["source_key"] in changed


@needs_shared
def test_rows_written_between_a_publish_and_its_intervals_have_every_row_planned(db_url):
    """An offering removed by one sync is archived (its grace period over) between the next
    sync's publish and its intervals: that sync did not write the archived row, yet its
    intervals end, since every row is planned when something else wrote the rows meanwhile."""
    store = CatalogStore.from_url(db_url)
    rows = recorded_rows("openrouter", "2025-05-22.json")
    gone, kept = rows[0], rows[1:]
    for step, listed in enumerate((rows, kept)):
        when = NOW + timedelta(hours=step)
        stats = store.publish_source("openrouter", listed, run_id="r", started_at=when, now=when)
        publish_prices(store.engine, "openrouter", now=when, run_id="r",
                       written=stats.written, stamps=stats.stamps)
    assert all(r["valid_to"] is None for r in price_rows(store.engine, keys=[
        ("openrouter", gone["source_key"])]))  # removed, not archived: still priced
    repriced = [dict(r) for r in kept]
    repriced[0]["prices"] = [dict(p, price=p["price"] * 2) for p in repriced[0]["prices"]]
    repriced[0]["input_price"] = repriced[0]["input_price"] * 2
    when = NOW + timedelta(hours=2)
    stats = store.publish_source("openrouter", repriced, run_id="r", started_at=when, now=when)
    assert gone["source_key"] not in stats.written
    store.archive_removed(now=when, grace_days=0, run_id="r")
    publish_prices(store.engine, "openrouter", now=when, run_id="r", written=stats.written,
                   stamps=stats.stamps)
    ended = price_rows(store.engine, keys=[("openrouter", gone["source_key"])])
    assert ended and {r["valid_to"] for r in ended} == {when}
    assert {r["price"] for r in price_rows(store.engine, at=when, keys=[
        ("openrouter", repriced[0]["source_key"])])} == {p["price"] for p in repriced[0]["prices"]}
    store.dispose()
