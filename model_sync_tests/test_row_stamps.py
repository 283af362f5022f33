"""Row stamps (`stamps`, migration 0008): every write through a catalog engine renews the stamp of
the table it writes (of each source it writes, in a table stamped by source), in its own
transaction, on SQLite and on a real PostgreSQL server; the builds compare stamps instead of
reading every row."""

from datetime import UTC, datetime
from decimal import Decimal

import pytest
import sqlalchemy as sa

from model_sync.catalog import bulk
from model_sync.catalog.column_types import ExactDecimal, JsonList, JsonObject, UtcDateTime
from model_sync.catalog.digests import rows_digest, stamp
from model_sync.catalog.schema import model_catalog, models, price_history, prices, source_offerings
from model_sync.catalog.stamps import SOURCES
from model_sync.catalog.store import CatalogStore

NOW = datetime(2026, 11, 30, tzinfo=UTC)
TABLE_WIDE = (model_catalog, models)
BY_SOURCE = (source_offerings, price_history, prices)


@pytest.fixture(params=["sqlite", pytest.param("postgresql", marks=pytest.mark.integration)])
def store(request, tmp_path):
    url = (f"sqlite:///{tmp_path / 'catalog.db'}" if request.param == "sqlite"
           else request.getfixturevalue("pg_url"))
    store = CatalogStore.from_url(url)
    yield store
    store.dispose()


def filled(table: sa.Table, n: int, **values) -> dict:
    """A row of `table` with every required column filled (`n` makes its key unique)."""
    row = {}
    for column in table.columns:
        if column.name in values:
            row[column.name] = values[column.name]
        elif column.primary_key or not column.nullable:
            row[column.name] = _value(column.type, n)
    return row


def _value(kind: sa.types.TypeEngine, n: int):
    for custom, value in ((ExactDecimal, Decimal(n)), (UtcDateTime, NOW), (JsonList, []),
                          (JsonObject, {})):
        if isinstance(kind, custom):
            return value
    return {int: n, bool: False}.get(kind.python_type, f"v{n}")


def stamps(store) -> dict[str, str]:
    with store.engine.connect() as conn:
        return {name: stamp(conn, name) for name in (
            *(f"{t.name}/{s}" for t in BY_SOURCE for s in "ab"), *(t.name for t in TABLE_WIDE))}


def changed(before: dict, after: dict) -> set[str]:
    return {name for name in before if before[name] != after[name]}


def test_every_write_renews_its_tables_stamp_and_no_other(store):
    start = stamps(store)
    assert all(start[f"{t.name}/{s}"] == "-" for t in BY_SOURCE for s in "ab")  # never written
    for table in TABLE_WIDE:
        before = stamps(store)
        with store.engine.begin() as conn:
            conn.execute(sa.insert(table).values(filled(table, 1)))
        middle = stamps(store)
        assert changed(before, middle) == {table.name}
        with store.engine.begin() as conn:  # an update, even to the same value, is a write
            column = next(c for c in table.columns if not c.primary_key and c.nullable)
            conn.execute(sa.update(table).values({column.name: column}))
        updated = stamps(store)
        assert changed(middle, updated) == {table.name}
        with store.engine.begin() as conn:
            conn.execute(sa.delete(table))
        assert changed(updated, stamps(store)) == {table.name}

    for table in BY_SOURCE:  # one source's rows: the other source's stamp stays
        before = stamps(store)
        with store.engine.begin() as conn:
            conn.execute(sa.insert(table), [filled(table, 1, source="a"),
                                            filled(table, 2, source="b")])
        inserted = stamps(store)
        assert changed(before, inserted) == {f"{table.name}/a", f"{table.name}/b"}
        with store.engine.begin() as conn:  # the sources bound as the writers bind them
            conn.execute(sa.update(table).where(table.c.source == sa.bindparam("b_source"))
                         .values(source_key=table.c.source_key), [{"b_source": "b"}])
        updated = stamps(store)
        assert changed(inserted, updated) == {f"{table.name}/b"}
        with store.engine.begin() as conn:  # sources it does not bind: every one is renewed
            conn.execute(sa.delete(table).where(table.c.source == "a"))
        assert changed(updated, stamps(store)) == {f"{table.name}/a", f"{table.name}/b"}


def test_bulk_writes_renew_the_stamps_of_the_sources_they_write(store):
    rows = [filled(prices, n, source=source) for n, source in ((1, "a"), (2, "a"), (3, "b"))]
    before = stamps(store)
    with store.engine.begin() as conn:
        assert bulk.insert(conn, prices, rows[:2]) == 2
    assert changed(before, stamps(store)) == {"prices/a"}
    before = stamps(store)
    with store.engine.begin() as conn:
        bulk.upsert(conn, prices, rows[2:], ("id",))
    assert changed(before, stamps(store)) == {"prices/b"}
    before = stamps(store)
    with store.engine.begin() as conn:
        bulk.upsert(conn, model_catalog, [filled(model_catalog, 1)], ("provider", "model_id"))
    assert changed(before, stamps(store)) == {"model_catalog"}


def test_a_rolled_back_write_leaves_the_stamp_and_each_commit_gives_a_new_one(store):
    with store.engine.begin() as conn:
        conn.execute(sa.insert(model_catalog).values(filled(model_catalog, 1)))
    committed = stamps(store)["model_catalog"]
    with pytest.raises(RuntimeError), store.engine.begin() as conn:
        conn.execute(sa.insert(model_catalog).values(filled(model_catalog, 2)))
        raise RuntimeError("rolled back")
    assert stamps(store)["model_catalog"] == committed
    seen = {committed}
    for n in range(3, 8):  # many writes in one transaction, then the next transaction's
        with store.engine.begin() as conn:
            conn.execute(sa.insert(model_catalog), [filled(model_catalog, n * 100 + i)
                                                    for i in range(50)])
        seen.add(stamps(store)["model_catalog"])
    assert len(seen) == 6


def test_a_sources_rows_digest_is_its_stamp(store):
    with store.engine.begin() as conn:
        conn.execute(sa.insert(source_offerings).values(filled(source_offerings, 1, source="a")))
        assert rows_digest(conn, "a") == stamp(conn, "source_offerings/a") != "-"
        assert rows_digest(conn, "never-synced") == "-"


def test_a_statement_names_the_sources_it_writes_by_option(store):
    rows = [filled(prices, n, source=source) for n, source in ((1, "a"), (2, "b"))]
    with store.engine.begin() as conn:
        conn.execute(sa.insert(prices), rows)
    before = stamps(store)
    with store.engine.begin() as conn:  # by id: only the option says whose rows these are
        conn.execute(sa.delete(prices).where(prices.c.id.in_([1])),
                     execution_options={SOURCES: ("a",)})
    assert changed(before, stamps(store)) == {"prices/a"}
