"""Builds that read their rows one offering at a time: the database's order groups them as the
merge does, and the audit of what a build tallies finds what the audit of every row finds."""

from collections import Counter
from decimal import Decimal

import pytest
import sqlalchemy as sa

from model_sync.catalog.contract import CATALOG_COLUMNS
from model_sync.catalog.grouped import apart, by_offering, mappings
from model_sync.catalog.merge import catalog_key
from model_sync.catalog.rules import CatalogAudit, audit
from model_sync.catalog.schema import model_catalog
from model_sync.catalog.tally import Tally, may_be_named
from model_sync.catalog.upsert import upsert

# "maße" is lower case as the database lowers it, not as Python case-folds it ("masse").
SPELLINGS = [("acme", "x-1"), ("acme", "X-1"), ("acme", "a"), ("acme", "x-1"),
             ("beta", "Straße"), ("beta", "strasse"), ("beta", "z"), ("beta", "STRASSE"),
             (None, "z"), ("", "z"), ("beta", "maße"), ("beta", "masse"), ("beta", "é")]


@pytest.mark.parametrize("backend", ["sqlite", "postgresql"])
def test_rows_read_in_offering_order_come_grouped_as_the_merge_groups_them(backend, request):
    engine = sa.create_engine("sqlite://" if backend == "sqlite"
                              else request.getfixturevalue("pg_url"))
    table = sa.Table("t", sa.MetaData(), sa.Column("n", sa.Integer),
                     sa.Column("provider", sa.String), sa.Column("model_id", sa.String))
    table.drop(engine, checkfirst=True)
    table.create(engine)
    rows = [{"n": n, "provider": p, "model_id": m} for n, (p, m) in enumerate(SPELLINGS)]
    expected: dict[tuple[str, str], list[int]] = {}
    for row in rows:
        expected.setdefault(catalog_key(row["provider"] or "", row["model_id"]), []).append(
            row["n"])
    with engine.begin() as conn:
        conn.execute(table.insert(), rows)
        held = apart(conn, sa.select(table.c.provider, table.c.model_id))
        ordered = sa.select(table).order_by(table.c.provider, table.c.model_id)
        groups = list(by_offering(mappings(conn, ordered), held))
        # The case-folded spellings are what the database order alone would split.
        assert len(list(by_offering(mappings(conn, ordered), set()))) > len(expected)
    assert held == {("acme", "x-1"), ("beta", "strasse"), ("", "z"), ("beta", "masse")}
    assert len(groups) == len(expected)
    assert {key: sorted(r["n"] for r in group) for key, group in groups} == expected


def test_the_audit_of_a_tally_finds_what_the_audit_of_every_row_finds(replayed_db):
    store = replayed_db.store()
    rows = [r for r in store.catalog_rows() if r["state"] != "archived"]
    # Rows the rules flag: a negative, an implausible and a missing output price, a limit;
    # and two the database's first pass picks up that `may_be_named` lets go.
    rows[0] = dict(rows[0], input_price=-rows[0]["input_price"] if rows[0]["input_price"]
                   else -1)
    rows[1] = dict(rows[1], input_price=Decimal(5000))
    rows[4] = dict(rows[4], price_flags=["implausible_price"])
    rows[2] = dict(rows[2], output_price=None, input_price=1, kind="chat")
    rows[3] = dict(rows[3], context_window=10**9)
    rows[5] = dict(rows[5], output_price=Decimal("1000.0000000001"))
    rows[6] = dict(rows[6], output_price=Decimal("999.99"), input_price=Decimal(1))
    with store.engine.begin() as conn:
        upsert(conn, model_catalog, rows[:7], ("provider", "model_id"), CATALOG_COLUMNS)
        tally = Tally.counted(conn)
    active = [r for r in rows if r["state"] == "active"]
    served = [r for r in rows if r["state"] != "unlisted"]
    every = audit("catalog", CatalogAudit(rows, 100, served=served, active=active,
                                          active_rows=len(active)))
    assert len(tally.noted) < len(rows) / 2  # what is kept of the rows
    assert [(r["provider"], r["model_id"]) for r in tally.noted] == sorted(
        (r["provider"], r["model_id"]) for r in rows if may_be_named(r))
    assert {(r["provider"], r["model_id"]) for r in rows[:6]} <= {
        (r["provider"], r["model_id"]) for r in tally.noted}
    tallied = audit("catalog", CatalogAudit(
        tally.noted, 100, served=tally.noted_served, active=tally.noted_active,
        active_rows=tally.active))
    assert {f.rule for f in every if not f.passed} >= {
        "prices_non_negative", "prices_plausible", "output_price_present",
        "context_window_range"}
    assert [(f.rule, f.passed, f.description, f.metadata) for f in tallied] == [
        (f.rule, f.passed, f.description, f.metadata) for f in every]
    assert [(r["provider"], r["model_id"]) for r in tally.first] == sorted(
        (r["provider"], r["model_id"]) for r in served)[:10]
    assert (tally.rows, tally.served, tally.active) == (len(rows), len(served), len(active))
    assert tally.unpriced == sum(r["price_source"] is None for r in active)
    assert tally.providers == {r["provider"] for r in active}
    assert tally.by_price_source == Counter(r["price_source"] or "unpriced" for r in active)