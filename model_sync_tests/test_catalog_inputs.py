"""A catalog build merges again only the offerings whose inputs changed (`model_catalog.
inputs_hash`), the rollup rolls up again only the models whose inputs changed (`models.
inputs_hash`), and each leaves exactly what building everything leaves, on SQLite and on
PostgreSQL (where the prices build's report is checked too: `test_price_report`)."""

import logging
import sqlite3
from contextlib import closing
from datetime import UTC, datetime, timedelta

import pytest
import sqlalchemy as sa

from model_sync.catalog import CATALOG, publishing
from model_sync.catalog import rolled as rolled_module
from model_sync.catalog.build_digests import forget
from model_sync.catalog.engine import rows_of
from model_sync.catalog.history import content_hash
from model_sync.catalog.schema import model_catalog, models, source_offerings
from model_sync.catalog.store import CatalogStore
from model_sync.catalog.upsert import upsert
from model_sync.defs.resources import CatalogDatabase
from model_sync.ingest.catalog import build_catalog_tables
from model_sync.ingest.derived import build_models_table
from model_sync.pricing.report import report
from model_sync_tests.test_price_report import change_intervals, every_offering
from model_sync_tests.test_reconcile import drift, every_row, planned, suspected

LATER = datetime(2030, 1, 1, tzinfo=UTC)  # past every recorded sync: nothing archived by age
# What differs between two builds of one catalog at the same instant: only the bookkeeping.
BOOKKEEPING = {"inputs_hash"}


def _build(store: CatalogStore, at: datetime = LATER):
    return build_catalog_tables(store, run_id=None, started=at, min_rows=1,
                                log=logging.getLogger("test"), archive_after_days=10_000,
                                retention_days=10_000)


def _catalog(store: CatalogStore) -> dict:
    with store.engine.connect() as conn:
        return {(r["provider"], r["model_id"]): {k: v for k, v in r.items()
                                                 if k not in BOOKKEEPING}
                for r in rows_of(conn, sa.select(model_catalog))}


def _copy(db: CatalogDatabase, path) -> CatalogDatabase:
    with closing(sqlite3.connect(db.url.removeprefix("sqlite:///"))) as source, \
            closing(sqlite3.connect(path)) as target:
        source.backup(target)
    return CatalogDatabase(url=f"sqlite:///{path}")


def _unknown_inputs(store: CatalogStore) -> None:
    with store.engine.begin() as conn:
        conn.execute(sa.update(model_catalog).values(inputs_hash=None))


def _rewrite(store: CatalogStore, change) -> int:
    """Rewrite source rows as a sync would (a new content hash): `change(row)` returns the
    row to store, or None to leave it."""
    with store.engine.begin() as conn:
        changed = []
        for row in rows_of(conn, sa.select(source_offerings).where(
                source_offerings.c.state != "archived")):
            new = change(dict(row))
            if new is not None:
                new["content_hash"] = content_hash(new)
                changed.append(new)
        upsert(conn, source_offerings, changed, ("source", "source_key"))
    return len(changed)


@pytest.fixture
def merged(monkeypatch) -> list:
    """The catalog rows each build merges (its groups), build by build."""
    counts: list = []
    original = publishing.merge_groups

    def counting(groups, **kwargs):
        counts.append(0)
        for row in original(groups, **kwargs):
            counts[-1] += 1
            yield row

    monkeypatch.setattr(publishing, "merge_groups", counting)
    return counts


def test_a_build_merges_only_the_changed_offerings_and_leaves_what_merging_all_leaves(
        replayed_db, tmp_path, merged):
    store = replayed_db.store()
    _unknown_inputs(store)  # as a catalog from before the hashes: every offering is merged
    first = _build(store)
    assert merged == [first.tally.rows]
    # Groq's rows written again as they were: the build is not skipped whole, and each
    # offering is judged by its inputs hash.
    assert _rewrite(store, lambda row: row if row["source"] == "groq" else None) > 10
    again = _build(store, LATER + timedelta(seconds=1))
    assert merged[1] == 0 and again.stats.unchanged == first.stats.rows > 6000
    with store.engine.begin() as conn:
        forget(conn, CATALOG)  # the rebuild an out-of-band edit asks for (README)
    assert _build(store, LATER + timedelta(seconds=2)).stats.unchanged == first.stats.rows
    assert merged[2] == first.tally.rows
    merged.clear()
    repriced, gone, renamed, scored = set(), set(), set(), set()

    def change(row):
        key = (row["provider"], row["model_id"])
        if row["source"] == "artificial_analysis" and not scored and \
                (row["extra"] or {}).get("intelligence_index") is not None:
            scored.add(row["model_id"])  # a benchmark figure the rollup joins to a model
            return dict(row, extra={**row["extra"], "intelligence_index": 99.5})
        if row["source"] == "openrouter" and row["input_price"] and len(repriced) < 5:
            repriced.add(key)  # a new price
            return dict(row, input_price=row["input_price"] * 2)
        if row["source"] == "models_dev" and row["state"] == "active" and len(gone) < 3 \
                and key not in repriced:
            gone.add(key)  # gone from its source: removed, as a sync marks it
            return dict(row, state="removed", removed_at=LATER)
        if row["source"] == "litellm" and row["hugging_face_id"] is None and not renamed \
                and row["model_id"] and row["model_id"].startswith("gpt-4o"):
            renamed.add(key)  # an id the resolver indexes: other rows may resolve anew
            return dict(row, name="GPT-4o (renamed upstream)")
        if row["source"] == "groq":  # the provider's own API lists nothing any more
            return dict(row, state="removed", removed_at=LATER)
        return None

    rewritten = _rewrite(store, change)
    assert repriced and len(gone) == 3 and renamed and scored and rewritten > 15
    full = _copy(replayed_db, tmp_path / "full.db").store()
    _unknown_inputs(full)
    later = LATER + timedelta(days=1)
    every, some = _build(full, later), _build(store, later)
    assert merged[0] == every.tally.rows
    # The rows rewritten, those the listing of groq's own API decided: a small share.
    assert rewritten <= merged[1] < merged[0] / 10, merged
    assert _catalog(store) == _catalog(full)
    assert some.stats == every.stats and some.tally.summary() == every.tally.summary()
    assert some.stats.repriced >= 5 and some.stats.updated > some.stats.repriced
    catalog = _catalog(store)
    assert all(catalog[key]["input_price"] is not None for key in repriced)
    assert {catalog[key]["state"] for key in catalog if key[0] == "groq"} >= {"active"}
    # Every hash was kept, of the rows written and of those whose inputs alone changed (the
    # renamed row's name is not the one the merge picks): the next build merges nothing.
    assert _rewrite(store, lambda row: row if row["source"] == "groq" else None) > 10
    assert _build(store, later + timedelta(seconds=1)).stats.unchanged == some.stats.rows
    assert merged[2] == 0


def _models(store: CatalogStore) -> dict:
    with store.engine.connect() as conn:
        return {r["canonical_id"]: {k: v for k, v in r.items()
                                    if k not in (*BOOKKEEPING, "updated_at")}
                for r in rows_of(conn, sa.select(models))}


def test_a_rollup_rolls_up_only_the_changed_models_and_leaves_what_rolling_up_all_leaves(
        replayed_db, tmp_path, monkeypatch):
    store = replayed_db.store()
    rolled: list[str] = []
    original = rolled_module.model_row

    def counting(canonical_id, rows, figures, joined=None):
        rolled.append(canonical_id)
        return original(canonical_id, rows, figures, joined)

    monkeypatch.setattr(rolled_module, "model_row", counting)
    before = _models(store)
    assert len(before) > 2000 and all(before)

    def change(row):
        if row["source"] == "openrouter" and row["input_price"] and row["canonical_id"] \
                and row["model_id"].startswith("openai/gpt-4o"):
            return dict(row, input_price=row["input_price"] / 10)  # the cheapest now
        if row["source"] == "artificial_analysis" and row["model_id"] == scored:
            return dict(row, extra={**row["extra"], "intelligence_index": 99.5})
        return None

    with store.engine.connect() as conn:
        scored = next(r["model_id"] for r in rows_of(conn, sa.select(source_offerings).where(
            source_offerings.c.source == "artificial_analysis"))
                      if (r["extra"] or {}).get("intelligence_index") is not None)
    assert _rewrite(store, change) > 2
    _build(store)
    full = _copy(replayed_db, tmp_path / "full.db").store()
    with full.engine.begin() as conn:  # no model knows its inputs: every one is rolled up
        conn.execute(sa.update(models).values(inputs_hash=None))
    every = build_models_table(full, started=LATER, min_rows=1)
    assert len(rolled) == every.rows
    rolled.clear()
    some = build_models_table(store, started=LATER, min_rows=1)
    assert 0 < len(rolled) < every.rows / 20, len(rolled)
    assert _models(store) == _models(full)
    assert (some.rows, some.shared) == (every.rows, every.shared)
    assert some.written == every.written > 0
    after = _models(store)
    assert 99.5 in {m["intelligence_index"] for m in after.values()}
    assert any(after[c]["cheapest_input_price"] != before[c]["cheapest_input_price"]
               for c in after if c in before and c.startswith("gpt-4o"))


def test_a_new_alias_has_every_offering_merged_again(replayed_db, tmp_path, merged,
                                                     monkeypatch):
    store = replayed_db.store()
    aliases = tmp_path / "aliases.csv"
    aliases.write_text("alias,canonical_id\ngpt-4o,gpt-4o-renamed\n")
    monkeypatch.setenv("MODEL_SYNC_ALIASES_FILE", str(aliases))
    build = _build(store, LATER + timedelta(seconds=1))
    assert merged == [build.tally.rows]  # every offering again, from one read
    assert build.renamed > 0  # the source rows' canonical ids follow
    assert any(row["canonical_id"] == "gpt-4o-renamed" for row in _catalog(store).values())


def _content(rows: dict) -> dict:
    """Rows without the times of the syncs that wrote them and the hashes over them: two
    databases synced apart differ only there."""
    return {key: {k: v for k, v in row.items()
                  if k != "content_hash" and not k.endswith("_at")} for key, row in rows.items()}


@pytest.mark.integration
def test_on_postgresql_only_the_changed_offerings_and_models_are_built_again_alike(
        replay_http, replayed_db, pg_url, merged):
    from model_sync_tests.test_pipeline import materialize

    assert materialize(replay_http, CatalogDatabase(url=pg_url)).success
    postgres, sqlite = CatalogStore.from_url(pg_url), replayed_db.store()
    try:
        assert postgres.engine.dialect.name == "postgresql"
        merged.clear()

        def change(row):
            if row["source"] == "openrouter" and row["input_price"] and \
                    row["model_id"].startswith("openai/gpt-4o"):
                return dict(row, input_price=row["input_price"] * 3)
            if row["source"] == "groq":  # its own API lists nothing any more
                return dict(row, state="removed", removed_at=LATER)
            return None

        assert _rewrite(postgres, change) == _rewrite(sqlite, change) > 10
        built = [_build(store) for store in (postgres, sqlite)]
        rolled = [build_models_table(store, started=LATER, min_rows=1)
                  for store in (postgres, sqlite)]
        assert merged[0] == merged[1] and 10 < merged[0] < built[0].tally.rows / 10
        assert built[0].stats == built[1].stats and built[0].stats.repriced > 3
        assert built[0].tally.summary() == built[1].tally.summary()
        assert (rolled[0].rows, rolled[0].shared) == (rolled[1].rows, rolled[1].shared)
        assert _content(_catalog(postgres)) == _content(_catalog(sqlite))
        assert _content(_models(postgres)) == _content(_models(sqlite))
        # The prices build: the same offerings merged again, the same report (first of the
        # offerings the rebuilt catalog serves anew, then of those whose intervals changed).
        served = [report(store.engine, LATER) for store in (postgres, sqlite)]
        # (The sync's build hashed each offering from its rows, this one by the database's
        # lists of ids: alike, or every offering would be merged again.)
        assert served[0] == served[1] and 0 < served[0]["merged"] < served[0]["priced"] / 20
        changed = [change_intervals(store, LATER) for store in (postgres, sqlite)]
        at = LATER + timedelta(seconds=1)
        reports = [report(store.engine, at) for store in (postgres, sqlite)]
        assert changed[0] == changed[1] and reports[0] == reports[1]
        assert reports[0].pop("merged") == len(changed[0]) == 7
        assert reports[0] == every_offering(postgres, at)
        # The price history's repair: the suspects the database picks are judged alike.
        plans = []
        for store in (postgres, sqlite):
            with store.engine.begin() as conn:
                drift(conn)
                repair, _ = suspected(conn)
                assert planned(repair) == planned(every_row(conn))
                plans.append(planned(repair))
        assert plans[0] == plans[1] and plans[0][1]
    finally:
        postgres.dispose()
