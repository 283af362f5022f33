"""A large source in little memory: its rows are held packed (`model_sync.ingest.rows`), read
back in order, the same rows, and a sync of packed rows writes exactly what a sync of the same
rows as dicts writes; its pages' bodies are let go page by page."""

import copy
import gc
import json
import sys
from datetime import UTC, datetime, timedelta
from decimal import Decimal

import httpx
import pytest
import sqlalchemy as sa

from model_sync.defs.resources import CatalogDatabase
from model_sync.ingest import rows as held
from model_sync.ingest.rows import Rows
from model_sync.sources import SOURCES_BY_NAME
from model_sync_tests.conftest import needs_shared
from model_sync_tests.test_unchanged import paged_sync, write_pages

WHEN = datetime(2026, 3, 10, 6, tzinfo=UTC)


def offering(n: int) -> dict:
    return {"source_key": f"m-{n}", "input_price": Decimal("0.0000025") * n, "fetched_at": WHEN,
            "prices": [{"component": "input", "price": Decimal(n)}], "extra": None}


def test_rows_past_the_threshold_are_packed_and_read_back_in_order():
    rows = Rows(pack_above=10, chunk=4)
    rows.extend(offering(n) for n in range(10))
    assert not rows.packed  # up to the threshold: dicts
    rows.extend(offering(n) for n in range(10, 23))
    assert rows.packed and len(rows) == 23
    assert len(rows._packed) == 5 and len(rows._tail) == 3  # whole chunks only
    expected = [offering(n) for n in range(23)]
    assert list(rows) == expected and rows == expected
    assert rows[0] == expected[0] and rows[13] == expected[13] and rows[-1] == expected[-1]
    with pytest.raises(IndexError):
        rows[23]
    # Slices read only the chunks that hold them, across chunk and tail boundaries.
    for start, stop in ((0, 4), (3, 9), (5, 21), (19, 23), (20, 40), (7, 7), (-5, None)):
        assert rows[start:stop] == expected[start:stop], (start, stop)
    assert rows[::5] == expected[::5]
    # Exact values come back: a packed price is the same Decimal, not a float.
    assert rows[7]["input_price"] == Decimal("0.0000175")
    assert type(rows[7]["input_price"]) is Decimal


def test_a_row_read_back_is_a_copy_and_assign_sets_a_column_of_every_row():
    rows = Rows((offering(n) for n in range(11)), pack_above=0, chunk=4)
    rows[2]["source_key"] = "changed"  # a copy: nothing held changes
    assert rows[2]["source_key"] == "m-2"
    rows.assign("canonical_id", lambda row: row["source_key"].upper())
    assert [r["canonical_id"] for r in rows] == [f"M-{n}" for n in range(11)]
    assert rows == [dict(offering(n), canonical_id=f"M-{n}") for n in range(11)]


def test_truncate_and_clear_keep_the_first_rows_or_none():
    rows = Rows((offering(n) for n in range(30)), pack_above=5, chunk=4)
    rows.truncate(13)
    assert rows == [offering(n) for n in range(13)] and rows.packed
    rows.truncate(50)
    assert len(rows) == 13
    rows.clear()
    assert len(rows) == 0 and list(rows) == []


@needs_shared
def test_packed_rows_take_a_fraction_of_their_memory_as_dicts(payloads):
    from model_sync.sources.base import ParseContext

    spec = SOURCES_BY_NAME["openrouter"]
    payload = json.loads((payloads / "openrouter" / "2026-03-10.json").read_bytes())
    parsed = spec.parse(payload, ParseContext(source="openrouter", fetched_at=WHEN))
    rows = Rows(copy.deepcopy(parsed), pack_above=0, chunk=50)
    count = len(rows._packed) * rows.chunk  # the rows packed (the rest is a tail of dicts)
    assert count >= 300 and rows == parsed
    packed = sum(len(blob) for blob in rows._packed)
    as_dicts = sum(_size(r) for r in parsed[:count])
    assert packed < as_dicts / 3, (packed, as_dicts)


def _size(row, seen=None) -> int:
    """Bytes of a row and what only it holds (shared objects counted once)."""
    seen = set() if seen is None else seen
    if id(row) in seen:
        return 0
    seen.add(id(row))
    size = sys.getsizeof(row)
    if isinstance(row, dict):
        size += sum(_size(v, seen) for v in row.values())
    elif isinstance(row, list | tuple):
        size += sum(_size(v, seen) for v in row)
    return size


TABLES = ("source_offerings", "catalog_changes", "price_history", "prices", "rejected_entries")


def tables(store) -> dict[str, list]:
    with store.engine.connect() as conn:
        return {name: sorted(map(repr, conn.execute(sa.text(f"SELECT * FROM {name}"))))
                for name in TABLES}


def two_syncs(root, store) -> list:
    spec = SOURCES_BY_NAME["openrouter"]
    first = paged_sync(spec, root / "first", store, WHEN)
    again = paged_sync(spec, root / "again", store, WHEN + timedelta(days=1))
    return [first, again]


@needs_shared
def test_a_sync_of_packed_rows_writes_what_a_sync_of_dicts_writes(payloads, tmp_path,
                                                                  monkeypatch):
    openrouter = json.loads((payloads / "openrouter" / "2026-03-10.json").read_bytes())
    write_pages(tmp_path / "first", openrouter, pages=3)
    # The next day: one model gone, one repriced, one priced no more, one listed twice alike
    # and one twice with different values (both rejected), and a new one.
    data = openrouter["data"]
    gone, repriced, unpriced, twice, clash = data[3], data[10], data[20], data[30], data[40]
    data.remove(gone)
    repriced["pricing"] = {**repriced["pricing"], "prompt": "0.0000123"}
    unpriced["pricing"] = {k: v for k, v in unpriced["pricing"].items() if k != "prompt"}
    data.append(copy.deepcopy(twice))
    data.append({**copy.deepcopy(clash), "name": "Another name"})
    data.append({**copy.deepcopy(data[50]), "id": "acme/new-model-1", "canonical_slug": None})
    write_pages(tmp_path / "again", openrouter, pages=3, day="2026-03-11")

    def store(name):
        return CatalogDatabase(url=f"sqlite:///{tmp_path / name}.db").store()

    as_dicts = store("dicts")
    plain = two_syncs(tmp_path, as_dicts)
    assert not plain[1].fetched.rows.packed
    monkeypatch.setattr(held, "PACK_ABOVE", 0)
    monkeypatch.setattr(held, "CHUNK", 7)
    packed_store = store("packed")
    packed = two_syncs(tmp_path, packed_store)
    assert packed[1].fetched.rows.packed and len(packed[1].fetched.rows) > 300

    again = packed[1]
    # Removed: the one gone, and the one whose copies clash (rejected, so not listed).
    assert (again.stats.added, again.stats.removed, again.stats.repriced) == (1, 2, 2)
    assert len(again.fetched.rejected) == 1  # the clash; the identical copy is dropped
    assert tables(packed_store) == tables(as_dicts)
    for mine, theirs in zip(packed, plain, strict=True):
        assert mine.fetched.rows == theirs.fetched.rows
        assert [(f.rule, f.passed, f.description, f.metadata) for f in mine.findings] == [
            (f.rule, f.passed, f.description, f.metadata) for f in theirs.findings]
        assert mine.stats == theirs.stats


@needs_shared
def test_a_paged_fetch_holds_no_page_body_once_parsed(payloads, tmp_path):
    """A sync runs with the cyclic collector paused (`without_gc`); each HTTP exchange leaves a
    cycle that holds the page's body, collected page by page."""
    from model_sync.defs.resources import HttpClientResource
    from model_sync.ingest.batch import without_gc
    from model_sync.ingest.fetch import fetch_rows
    from model_sync_tests.test_unchanged import LOG

    openrouter = json.loads((payloads / "openrouter" / "2026-03-10.json").read_bytes())
    write_pages(tmp_path, openrouter, pages=5)
    spec = SOURCES_BY_NAME["openrouter"]
    access = HttpClientResource(replay_dir=str(tmp_path)).access(spec, log=LOG)
    gc.collect()
    # Responses other tests of this process still hold: not this fetch's.
    held_before = [o for o in gc.get_objects() if isinstance(o, httpx.Response)]

    @without_gc
    def fetch():
        fetched = fetch_rows(spec, access, {}, LOG, unchanged=lambda _digest: None)
        return fetched, [o for o in gc.get_objects() if isinstance(o, httpx.Response)
                         and not any(o is old for old in held_before)]

    fetched, responses = fetch()
    assert fetched.meta["pages"] == 5 and len(fetched.rows) == len(openrouter["data"])
    assert responses == []
