"""The price history's repair reads only the rows the database picks as suspects, and plans
exactly what judging every row and every open interval plans: after an interval lost, one with
another price, two open at once, an archived and an unpriced row that kept theirs, and one no
row has; a price written as other text for the same number is picked but not repaired."""

from datetime import UTC, datetime
from decimal import Decimal

import sqlalchemy as sa

from model_sync.catalog.engine import rows_of
from model_sync.catalog.grouped import mappings
from model_sync.catalog.reconcile import ROW_COLUMNS, plan_repair, suspects
from model_sync.catalog.schema import price_history, source_offerings

NOW = datetime(2030, 1, 1, tzinfo=UTC)


def every_row(conn: sa.Connection):
    """The repair planned from every row and every open interval."""
    return plan_repair(
        mappings(conn, sa.select(*(source_offerings.c[c] for c in ROW_COLUMNS))),
        mappings(conn, sa.select(price_history).where(price_history.c.valid_to.is_(None))),
        now=NOW, run_id=None)


def suspected(conn: sa.Connection):
    """The repair planned from the suspects the database picks."""
    rows, intervals, total = suspects(conn)
    repair = plan_repair(rows, intervals, now=NOW, run_id=None)
    repair.checked = total
    return repair, len(rows)


def planned(repair) -> tuple:
    return (repair.checked, sorted(repair.close), sorted(repair.offerings),
            sorted((r["source"], r["source_key"], *(str(r[p]) for p in (
                "input_price", "output_price", "cache_read_price", "cache_write_price")))
                   for r in repair.open))


def drift(conn: sa.Connection) -> set:
    """Leave the history as hand edits and bad restores would; the (source, key) to repair."""
    history, rows = price_history, source_offerings
    opened = {(r["source"], r["source_key"]): r for r in rows_of(conn, sa.select(history).where(
        history.c.valid_to.is_(None), history.c.source == "openrouter"))}
    keys = sorted(opened)
    lost, wrong, doubled, archived, unpriced, other_text = keys[:6]
    conn.execute(sa.delete(history).where(history.c.id == opened[lost]["id"]))
    conn.execute(sa.update(history).where(history.c.id == opened[wrong]["id"])
                 .values(input_price=Decimal("999")))
    conn.execute(sa.insert(history).values({**{k: v for k, v in opened[doubled].items()
                                                if k != "id"}, "valid_from": NOW}))
    for key, values in ((archived, {"state": "archived"}),
                        (unpriced, {p: None for p in ("input_price", "output_price",
                                                      "cache_read_price", "cache_write_price")})):
        conn.execute(sa.update(rows).where(rows.c.source == key[0],
                                           rows.c.source_key == key[1]).values(values))
    conn.execute(sa.insert(history).values(source="openrouter", source_key="lab/never-listed",
                                           provider="openrouter", model_id="lab/never-listed",
                                           input_price=Decimal("1")))
    if conn.dialect.name == "sqlite":  # the same number as other text: "2.50" for "2.5"
        conn.exec_driver_sql("UPDATE price_history SET input_price = input_price || '0' "
                             "WHERE id = ? AND input_price LIKE '%.%'",
                             (opened[other_text]["id"],))
    return {lost, wrong, doubled, archived, unpriced, ("openrouter", "lab/never-listed")}


def test_the_repair_judges_the_suspects_as_it_would_judge_every_row(replayed_db):
    engine = replayed_db.store().engine
    with engine.begin() as conn:
        clean, picked = suspected(conn)
        assert picked == 0 and not clean.close and not clean.open
        assert planned(clean) == planned(every_row(conn)) and clean.checked > 9000
        broken = drift(conn)
        repair, picked = suspected(conn)
        assert planned(repair) == planned(every_row(conn))
        assert {*repair.close, *((r["source"], r["source_key"]) for r in repair.open)} == broken
        # The rows picked: the five to repair (not the interval no row has) and, on SQLite,
        # the one whose price reads "2.50".
        assert picked == 5 + (conn.dialect.name == "sqlite")
