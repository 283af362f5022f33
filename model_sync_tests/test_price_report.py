"""The `prices` build merges again only the served offerings whose intervals in force changed
(`price_report`), and reports exactly what merging every served offering reports: after a
repricing, a contradicting price, an override, a served offering archived, an interval ended and
one scheduled to begin later; on SQLite and on PostgreSQL."""

import sqlite3
from collections import Counter
from contextlib import closing
from datetime import UTC, datetime, timedelta
from decimal import Decimal

import sqlalchemy as sa

from model_sync.catalog.build_digests import forget
from model_sync.catalog.engine import rows_of
from model_sync.catalog.merge import catalog_key
from model_sync.catalog.schema import model_catalog, price_report, prices
from model_sync.catalog.store import CatalogStore
from model_sync.defs.resources import CatalogDatabase
from model_sync.pricing import report as report_module
from model_sync.pricing.catalog import catalog_prices
from model_sync.pricing.merge import contradictions
from model_sync.pricing.report import PRICES, kinds, report, served_offerings

LATER = datetime(2030, 1, 1, tzinfo=UTC)  # past every recorded sync


def every_offering(store: CatalogStore, at: datetime) -> dict:
    """The report as merging every served offering gives it, the merge's own way."""
    with store.engine.connect() as conn:
        served = {catalog_key(p, m) for p, m in conn.execute(served_offerings())}
    counts, by_source, priced, components, noted = Counter(), Counter(), 0, 0, []
    for key, one in sorted(catalog_prices(store, at=at).items()):
        if key not in served:
            continue
        priced += 1
        counts.update(kinds(one))
        together = [row for chosen in one.chosen.values() for row in chosen.rows]
        components += len(together)
        for chosen in one.chosen.values():
            by_source[chosen.source] += len(chosen.rows)
        noted.append(([f"{key[0]}/{key[1]} ({row['source']}): {why}" for row, why in
                       one.withheld],
                      [f"{key[0]}/{key[1]}: {why}" for _, why in contradictions(together)]))
    return {"priced": priced, "components": components, "counts": dict(counts),
            "by_source": dict(by_source),
            "withheld": [line for lines, _ in noted for line in lines],
            "contradicting": [line for _, lines in noted for line in lines]}


def change_intervals(store: CatalogStore, at: datetime) -> set:
    """Write what syncs and people write, at `at`: five input prices doubled (ended, and a new
    interval opened), a batch price above its standard one, an override, an output price
    scheduled to begin an hour later, and one served offering archived. The offerings whose
    intervals in force changed, by catalog key."""
    with store.engine.begin() as conn:
        standard = sorted((row for row in rows_of(conn, sa.select(prices).where(
            prices.c.source == "openrouter", prices.c.component == "input",
            prices.c.mode == "standard", prices.c.region.is_(None),
            prices.c.valid_to.is_(None)))
            if row["provider"] and row["model_id"] == row["model_id"].casefold()),
            key=lambda row: row["source_key"])  # the same rows on every database
        doubled, batch, override, scheduled, archived = (
            standard[:5], standard[5], standard[6], standard[7], standard[8])
        for row in doubled:
            conn.execute(sa.update(prices).where(prices.c.id == row["id"]).values(valid_to=at))
        new = [dict(row, price=row["price"] * 2, valid_from=at) for row in doubled]
        new += [dict(batch, mode="batch", price=batch["price"] + 1, valid_from=at),
                dict(override, source="override", price=Decimal("0.5"), valid_from=at),
                dict(scheduled, component="output", price=Decimal("7.25"),
                     valid_from=at + timedelta(hours=1))]
        conn.execute(sa.insert(prices), [{k: v for k, v in row.items() if k != "id"}
                                         for row in new])
        conn.execute(sa.update(model_catalog).where(
            model_catalog.c.provider == archived["provider"],
            model_catalog.c.model_id == archived["model_id"]).values(state="archived"))
    return {catalog_key(r["provider"], r["model_id"]) for r in (*doubled, batch, override)}


def _copy(db: CatalogDatabase, path) -> CatalogStore:
    with closing(sqlite3.connect(db.url.removeprefix("sqlite:///"))) as source, \
            closing(sqlite3.connect(path)) as target:
        source.backup(target)
    return CatalogDatabase(url=f"sqlite:///{path}").store()


def _stored(store: CatalogStore) -> dict:
    with store.engine.connect() as conn:
        return {(r["provider"], r["model_id"]): r for r in rows_of(conn, sa.select(price_report))}


def test_a_build_merges_only_the_offerings_whose_intervals_changed(replayed_db, tmp_path,
                                                                   monkeypatch):
    store = replayed_db.store()
    # The sync's own build left each served offering's part: nothing to merge again.
    first = report(store.engine, LATER)
    assert first.pop("merged") == 0 and first["priced"] > 5000
    assert first == every_offering(store, LATER)

    changed = change_intervals(store, LATER)
    full = _copy(replayed_db, tmp_path / "full.db")
    with full.engine.begin() as conn:
        forget(conn, PRICES)  # the rebuild an out-of-band edit asks for: every offering
    capped = _copy(replayed_db, tmp_path / "capped.db")
    at = LATER + timedelta(seconds=1)
    every, some = report(full.engine, at), report(store.engine, at)
    assert every.pop("merged") == every["priced"]
    assert some.pop("merged") == len(changed) == 7
    assert some == every == every_offering(store, at)
    # Past the share that may change, the changed offerings are merged from one read.
    monkeypatch.setattr(report_module, "most_changed", lambda *args, **kwargs: 3)
    reads, groups = [], report_module._groups
    monkeypatch.setattr(report_module, "_groups", lambda conn, at, held, spellings: (
        reads.append(spellings), groups(conn, at, held, spellings))[1])
    read_once = report(capped.engine, at)
    assert reads == [None] and read_once.pop("merged") == 7 and read_once == some
    monkeypatch.undo()
    assert some["priced"] == first["priced"] - 1  # the archived offering
    assert len(some["withheld"]) == len(first["withheld"]) + 1  # the batch price
    assert _stored(store) == _stored(full)

    # The scheduled price begins: its offering alone is merged again.
    later = LATER + timedelta(hours=2)
    begun = report(store.engine, later)
    assert begun.pop("merged") == 1
    assert begun == every_offering(store, later)
    assert begun["components"] == some["components"] + 1
    unchanged = report(store.engine, later)
    assert unchanged.pop("merged") == 0 and unchanged == begun
