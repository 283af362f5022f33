"""Price history against the rows it describes: what an offering's open price interval must be,
and what to change where it is not (`plan_repair`, pure; the store executes it).

Every sync keeps it so: a listed (or removed, in its grace period) priced row has exactly one
open interval, with its current prices; an archived or unpriced row has none. A database edited
by hand, restored from a backup or written by an interrupted older version may not.

The database picks the rows that may not be so (`suspects`): every other row is as it must be,
and only the suspects and their intervals are read and judged.
"""

from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

import sqlalchemy as sa

from model_sync.catalog.contract import ARCHIVED, PRICE_FIELDS
from model_sync.catalog.grouped import mappings
from model_sync.catalog.history import _interval, _priced
from model_sync.catalog.previous import KEYS_PER_QUERY
from model_sync.catalog.schema import price_history, source_offerings

Key = tuple[str, str]  # (source, source_key)


@dataclass
class Repair:
    """The intervals to close and to open, and the offerings they concern."""

    close: list[Key] = field(default_factory=list)
    open: list[dict[str, Any]] = field(default_factory=list)
    offerings: list[str] = field(default_factory=list)  # provider/model_id, for people
    checked: int = 0


def plan_repair(rows: Iterable[Mapping[str, Any]], open_intervals: Iterable[Mapping[str, Any]],
                *, now: datetime, run_id: str | None) -> Repair:
    """Compare each source row with its open price intervals (`valid_to` null); the rows may
    come one at a time, the intervals are kept as a count and the first one's prices."""
    intervals: dict[Key, list[Any]] = {}  # count, provider, model id, prices of the first
    for interval in open_intervals:
        key = (interval["source"], interval["source_key"])
        if (seen := intervals.get(key)) is not None:
            seen[0] += 1
        else:
            intervals[key] = [1, interval["provider"], interval["model_id"],
                              *(interval[p] for p in PRICE_FIELDS)]
    repair = Repair()
    for row in rows:
        key = (row["source"], row["source_key"])
        found = intervals.pop(key, None)
        repair.checked += 1
        wanted = row["state"] != ARCHIVED and _priced(row)
        if wanted and found is not None and found[0] == 1 and all(
                found[3 + i] == row[p] for i, p in enumerate(PRICE_FIELDS)):
            continue
        if not wanted and found is None:
            continue
        if found is not None:
            repair.close.append(key)
        if wanted:
            repair.open.append(_interval(row, now, None, run_id))
        repair.offerings.append(f"{row['provider']}/{row['model_id']}")
    for key, (_, provider, model_id, *_) in intervals.items():  # rows that no longer exist
        repair.close.append(key)
        repair.offerings.append(f"{provider}/{model_id}")
    return repair


ROW_COLUMNS = ("source", "source_key", "provider", "model_id", "canonical_id", "state",
               *PRICE_FIELDS)


def suspects(conn: sa.Connection) -> tuple[list[dict[str, Any]], list[dict[str, Any]], int]:
    """The source rows whose open intervals may not be as they must (`plan_repair` judges
    them), the open intervals of those rows and of rows that no longer exist, and how many rows
    there are.

    A row is as it must be, and is not read, when it is priced, not archived, and has exactly
    one open interval with its prices as stored (the same text on SQLite, the same number on
    PostgreSQL); or is archived or unpriced and has none."""
    rows, history = source_offerings, price_history
    opened = sa.select(history.c.source, history.c.source_key, sa.func.count().label("n"),
                       *(sa.func.min(history.c[p]).label(p) for p in PRICE_FIELDS)).where(
        history.c.valid_to.is_(None)).group_by(history.c.source, history.c.source_key).subquery()
    wanted = sa.and_(sa.func.coalesce(rows.c.state, "") != ARCHIVED,
                     sa.or_(*(rows.c[p].is_not(None) for p in PRICE_FIELDS)))
    fine = sa.or_(  # never null: a null here would let a row go unjudged
        sa.and_(wanted, sa.func.coalesce(opened.c.n, 0) == 1,
                *(rows.c[p].is_not_distinct_from(opened.c[p]) for p in PRICE_FIELDS)),
        sa.and_(sa.not_(wanted), opened.c.n.is_(None)))
    picked = list(mappings(conn, sa.select(*(rows.c[c] for c in ROW_COLUMNS)).select_from(
        rows.outerjoin(opened, sa.and_(opened.c.source == rows.c.source,
                                       opened.c.source_key == rows.c.source_key)))
        .where(sa.not_(fine))))
    keys = {(row["source"], row["source_key"]) for row in picked}
    orphaned = sa.select(history.c.source, history.c.source_key).where(
        history.c.valid_to.is_(None),
        ~sa.exists().where(rows.c.source == history.c.source,
                           rows.c.source_key == history.c.source_key))
    keys.update((source, key) for source, key in conn.execute(orphaned))
    listed = sorted(keys)
    intervals: list[dict[str, Any]] = []
    for start in range(0, len(listed), KEYS_PER_QUERY):
        intervals += mappings(conn, sa.select(history).where(
            history.c.valid_to.is_(None), sa.tuple_(history.c.source, history.c.source_key)
            .in_(listed[start:start + KEYS_PER_QUERY])).order_by(history.c.id))
    total = conn.execute(sa.select(sa.func.count()).select_from(rows)).scalar_one()
    return picked, intervals, total
