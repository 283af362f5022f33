"""A payload the last clean sync read, with the source's rows as that sync left them, is neither
parsed nor diffed again: the sync audits the stored rows and records itself, writing nothing."""

import dataclasses
import json
import logging
from datetime import UTC, datetime, timedelta

import pytest
import sqlalchemy as sa

from model_sync.catalog.rules import SourceLimits
from model_sync.catalog.schema import source_offerings
from model_sync.defs.resources import CatalogDatabase, HttpClientResource
from model_sync.ingest import sync_source
from model_sync.sources import SOURCES_BY_NAME
from model_sync_tests.conftest import needs_shared

pytestmark = needs_shared

DAY = "2026-03-01"
LOG = logging.getLogger("model_sync.tests")


@pytest.fixture
def deepinfra(payloads) -> dict:
    return json.loads((payloads / "deepinfra" / f"{DAY}.json").read_bytes())


def write(root, payload: dict, day: str = DAY) -> None:
    (root / "deepinfra").mkdir(parents=True, exist_ok=True)
    (root / "deepinfra" / f"{day}.json").write_text(json.dumps(payload))


class Counted:
    """A source's spec (deepinfra's unless named) with a parser that counts its calls."""

    def __init__(self, name: str = "deepinfra"):
        self.calls = 0
        real = SOURCES_BY_NAME[name]

        def parse(payload, ctx):
            self.calls += 1
            return real.parse(payload, ctx)

        self.spec = dataclasses.replace(real, parse=parse)


def sync(spec, root, store, when, *, dry_run=False):
    http = HttpClientResource(replay_dir=str(root))
    return sync_source(spec, http.access(spec, log=LOG), store, SourceLimits(min_rows=1),
                       run_id=f"run-{when:%H%M}", started=when, log=LOG, dry_run=dry_run)


def tables(store) -> dict[str, list]:
    with store.engine.connect() as conn:
        return {name: sorted(map(tuple, conn.execute(sa.text(f"SELECT * FROM {name}"))))
                for name in ("source_offerings", "catalog_changes", "price_history",
                             "rejected_entries")}


def test_an_unchanged_payload_is_not_parsed_again_and_nothing_is_written(
        deepinfra, tmp_path, catalog_db, monkeypatch):
    write(tmp_path / "replay", deepinfra)
    store, counted = catalog_db.store(), Counted()
    start = datetime(2026, 3, 1, 6, tzinfo=UTC)
    first = sync(counted.spec, tmp_path / "replay", store, start)
    assert first.stats.added == len(first.fetched.rows) > 100 and counted.calls == 1
    before = tables(store)

    with monkeypatch.context() as patched:
        def decode(*_):
            raise AssertionError("an unchanged single-page payload was decoded")

        patched.setattr("model_sync.http.listing.decode", decode)
        again = sync(counted.spec, tmp_path / "replay", store, start + timedelta(hours=6))
    assert counted.calls == 1  # not decoded, not parsed
    assert again.fetched.unchanged is not None
    stats = again.stats
    assert (stats.added, stats.removed, stats.updated, stats.repriced, stats.restored) == (
        0, 0, 0, 0, 0)
    assert stats.unchanged == stats.rows == first.stats.added
    assert tables(store) == before
    last = store.sync_history("deepinfra", limit=1)[0]
    assert (last["status"], last["rows_fetched"], last["rows_updated"]) == (
        "success", first.stats.added, 0)
    # Its checks say what a full parse of the same payload says (a dry run always parses).
    full = sync(counted.spec, tmp_path / "replay", store, start + timedelta(hours=7),
                dry_run=True)
    assert counted.calls == 2
    assert [(f.rule, f.passed, f.description, f.metadata) for f in again.findings] == [
        (f.rule, f.passed, f.description, f.metadata) for f in full.findings]
    assert len(again.fetched.rows) == len(full.fetched.rows)


def test_rows_changed_since_the_last_sync_are_synced_again(deepinfra, tmp_path, catalog_db):
    write(tmp_path / "replay", deepinfra)
    store, counted = catalog_db.store(), Counted()
    start = datetime(2026, 3, 1, 6, tzinfo=UTC)
    sync(counted.spec, tmp_path / "replay", store, start)
    key = deepinfra["data"][0]["id"]
    with store.engine.begin() as conn:
        conn.execute(sa.delete(source_offerings).where(source_offerings.c.source_key == key))

    again = sync(counted.spec, tmp_path / "replay", store, start + timedelta(hours=6))
    assert counted.calls == 2 and again.fetched.unchanged is None
    assert again.stats.added == 1
    assert key in {r["source_key"] for r in store.source_rows("deepinfra")}


def test_a_changed_payload_is_parsed_and_its_changes_written(deepinfra, tmp_path, catalog_db):
    write(tmp_path / "replay", deepinfra)
    store, counted = catalog_db.store(), Counted()
    start = datetime(2026, 3, 1, 6, tzinfo=UTC)
    sync(counted.spec, tmp_path / "replay", store, start)
    del deepinfra["data"][0]
    write(tmp_path / "replay", deepinfra, "2026-03-02")

    again = sync(counted.spec, tmp_path / "replay", store, start + timedelta(days=1))
    assert counted.calls == 2 and again.stats.removed == 1
    third = sync(counted.spec, tmp_path / "replay", store, start + timedelta(days=2))
    assert counted.calls == 2 and third.fetched.unchanged is not None  # the new one, remembered


def test_a_payload_with_rejected_entries_is_parsed_every_time(deepinfra, tmp_path, catalog_db):
    deepinfra["data"][1] = {"id": deepinfra["data"][1]["id"],
                            "metadata": {"pricing": {"input_tokens": "a lot"}}}
    write(tmp_path / "replay", deepinfra)
    store, counted = catalog_db.store(), Counted()
    start = datetime(2026, 3, 1, 6, tzinfo=UTC)
    first = sync(counted.spec, tmp_path / "replay", store, start)
    again = sync(counted.spec, tmp_path / "replay", store, start + timedelta(hours=6))
    assert counted.calls == 2 and again.fetched.unchanged is None
    assert len(first.fetched.rejected) == len(again.fetched.rejected) == 1
    assert len(store.rejections("deepinfra")) == 2  # recorded by each sync, as before


def test_new_canonical_ids_from_the_catalog_build_keep_the_payload_standing(tmp_path,
                                                                             catalog_db):
    """The catalog build re-resolves identity with every source known and stores the ids that
    moved: the source's payload still stands for its rows, so the next sync is not parsed."""
    from model_sync.sources.base import offering
    from model_sync_tests.conftest import ctx

    store = catalog_db.store()
    rows = [{**offering(ctx("deepinfra"), source_key=f"k{i}", source_provider="deepinfra",
                        model_id=f"m{i}"), "canonical_id": f"m{i}"} for i in range(3)]
    store.publish_source("deepinfra", rows, run_id="1", started_at=datetime.now(UTC),
                         digest="payload")
    assert store.unchanged_payload("deepinfra", "payload")["rows"] == 3
    assert store.unchanged_payload("deepinfra", "another payload") is None

    assert store.update_canonical_ids({("deepinfra", "k1"): "m0"}) == 1
    assert store.unchanged_payload("deepinfra", "payload")["rows"] == 3
    with store.engine.begin() as conn:  # rows changed by anything else: parsed again (a
        # writer that changes content changes its hash: what every diff compares)
        conn.execute(sa.update(source_offerings).where(source_offerings.c.source_key == "k2")
                     .values(name="edited", content_hash="edited"))
    assert store.unchanged_payload("deepinfra", "payload") is None
    store.publish_source("deepinfra", rows, run_id="2", started_at=datetime.now(UTC))
    assert store.unchanged_payload("deepinfra", "payload") is None  # a publish without a digest


def write_pages(root, payload: dict, pages: int, day: str = DAY) -> None:
    """An OpenRouter listing in `pages` pages, each linking to the next (`links.next`)."""
    folder = root / "openrouter"
    folder.mkdir(parents=True, exist_ok=True)
    models, size = payload["data"], -(-len(payload["data"]) // pages)
    for number in range(pages):
        following = (f"https://openrouter.ai/api/v1/models?offset={(number + 1) * size}"
                     if number + 1 < pages else None)
        body = {"data": models[number * size:(number + 1) * size], "links": {"next": following}}
        (folder / f"{day}.page-{number + 1}.json").write_text(json.dumps(body))


class Decodes:
    """Counts the page bodies the HTTP layer decodes."""

    def __init__(self, monkeypatch):
        from model_sync.http import listing

        self.calls, real = 0, listing.decode

        def decode(*args):
            self.calls += 1
            return real(*args)

        monkeypatch.setattr(listing, "decode", decode)


def paged_sync(spec, root, store, when):
    http = HttpClientResource(replay_dir=str(root))
    return sync_source(spec, http.access(spec, log=LOG), store, SourceLimits(min_rows=1),
                       run_id=f"run-{when:%H%M}", started=when, log=LOG)


def test_an_unchanged_paged_listing_is_not_parsed_again(payloads, tmp_path, catalog_db,
                                                         monkeypatch, caplog):
    openrouter = json.loads((payloads / "openrouter" / "2026-03-10.json").read_bytes())
    write_pages(tmp_path / "replay", openrouter, pages=3)
    store, counted, decodes = catalog_db.store(), Counted("openrouter"), Decodes(monkeypatch)
    start = datetime(2026, 3, 1, 6, tzinfo=UTC)
    first = paged_sync(counted.spec, tmp_path / "replay", store, start)
    assert counted.calls == 3 and decodes.calls == 3  # a first sync streams: each page once
    before = tables(store)

    with caplog.at_level(logging.INFO, logger=LOG.name):
        again = paged_sync(counted.spec, tmp_path / "replay", store, start + timedelta(hours=6))
    assert counted.calls == 3 and again.fetched.unchanged is not None  # no page parsed
    assert decodes.calls == 6  # each page once, for its link to the next
    assert "openrouter: pages 1-3: as the last sync read them; not parsed again" in caplog.text
    assert again.fetched.meta["pages"] == 3 and again.stats.unchanged == first.stats.added
    assert tables(store) == before


def test_a_changed_paged_listing_is_parsed_whole_and_in_order(payloads, tmp_path, catalog_db,
                                                              monkeypatch):
    openrouter = json.loads((payloads / "openrouter" / "2026-03-10.json").read_bytes())
    write_pages(tmp_path / "replay", openrouter, pages=3)
    store, counted, decodes = catalog_db.store(), Counted("openrouter"), Decodes(monkeypatch)
    start = datetime(2026, 3, 1, 6, tzinfo=UTC)
    paged_sync(counted.spec, tmp_path / "replay", store, start)
    middle = openrouter["data"][len(openrouter["data"]) // 2]
    middle["pricing"] = {**middle["pricing"], "prompt": "0.0000123"}
    write_pages(tmp_path / "replay", openrouter, pages=3, day="2026-03-02")
    calls = decodes.calls

    again = paged_sync(counted.spec, tmp_path / "replay", store, start + timedelta(days=1))
    assert counted.calls == 6 and again.fetched.unchanged is None
    assert again.stats.repriced == 1
    # The pages were held as bodies, their JSON let go: each decoded again to parse (a single
    # page is not: its JSON is parsed as paging decoded it).
    assert decodes.calls - calls == 6
    # The same rows, in the same order, as a first sync of these pages, which streams them.
    alone = paged_sync(SOURCES_BY_NAME["openrouter"], tmp_path / "replay", CatalogDatabase(
        url=f"sqlite:///{tmp_path / 'alone.db'}").store(), start + timedelta(days=1))
    assert again.fetched.rows == alone.fetched.rows and len(alone.fetched.rows) > 300
