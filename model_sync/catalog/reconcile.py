"""Price history against the rows it describes: what an offering's open price interval must be,
and what to change where it is not (pure; the store executes it).

Every sync keeps it so: a listed (or removed, in its grace period) priced row has exactly one
open interval, with its current prices; an archived or unpriced row has none. A database edited
by hand, restored from a backup or written by an interrupted older version may not.
"""

from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

from model_sync.catalog.contract import ARCHIVED, PRICE_FIELDS
from model_sync.catalog.history import _interval, _priced

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
