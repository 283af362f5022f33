"""What a sync changes: events, price-history intervals and the rows to write, as a plan.

Pure functions over the previous state of a source (or of the catalog) and its new rows; the
store executes the plan in one transaction. Only rows whose content hash changed are written.
"""

import hashlib
from collections import ChainMap
from collections.abc import Iterable, Mapping, MutableMapping, Sequence
from dataclasses import dataclass, field
from datetime import UTC, date, datetime
from decimal import Decimal
from itertools import chain
from typing import Any

from model_sync.catalog.contract import (
    ACTIVE,
    ARCHIVED,
    PRICE_FIELDS,
    REMOVED,
    Offering,
    StoredOffering,
)
from model_sync.catalog.money import format_decimal, json_encoder

# Not content: they change on every sync or are kept by the store.
_NOT_CONTENT = frozenset({"fetched_at", "updated_at", "state", "first_seen_at", "last_seen_at",
                          "removed_at", "archived_at", "content_hash"})
# A catalog row's lifecycle is derived from its sources, so a change of it is a change to write.
CATALOG_LIFECYCLE = ("state", "first_seen_at", "last_seen_at", "removed_at")
EVENT_FIELDS: dict[str, str] = {**{p: "price_changed" for p in PRICE_FIELDS},
                                 "context_window": "context_changed"}

Row = dict[str, Any]
Stored = MutableMapping[str, Any]  # a row as written: its own columns, or the stored ones over it


def content_hash(row: Mapping[str, Any], keep: Iterable[str] = ()) -> str:
    """A stable hash of a row's content: everything but sync timestamps and lifecycle columns
    (except those in `keep`)."""
    skip = _NOT_CONTENT.difference(keep) if keep else _NOT_CONTENT
    payload = {k: v if type(v) in _AS_IS else _plain(v) for k, v in row.items() if k not in skip}
    return hashlib.sha1(_ENCODE(payload).encode()).hexdigest()


# json.dumps(payload, sort_keys=True, default=str), with the encoder built once.
_ENCODE = json_encoder(sort_keys=True, default=str, check_circular=False)
_AS_IS = frozenset({str, int, bool, float, type(None), list, dict})


def _plain(value: Any) -> Any:
    if isinstance(value, datetime):
        return value.astimezone(UTC).isoformat()
    if isinstance(value, Decimal):
        return format_decimal(value)
    return value


def text_value(value: Any) -> str | None:
    """How a changed value is written into `catalog_changes`."""
    if value is None:
        return None
    if isinstance(value, Decimal):
        return format_decimal(value)
    return str(value)


@dataclass
class SyncStats:
    """What a sync changed, against the previous rows."""

    rows: int = 0
    added: int = 0
    removed: int = 0
    updated: int = 0
    repriced: int = 0
    restored: int = 0
    unchanged: int = 0
    previous_rows: int = 0
    price_changes: list[dict[str, Any]] = field(default_factory=list)
    hashes: list[str] = field(default_factory=list, repr=False)  # of each row, as published
    # The keys of the rows a publish wrote (None past half its rows: every row's intervals are
    # planned then), and the stamps of the source's rows before and after it (`stamps`).
    written: set[str] | None = field(default_factory=set, repr=False)
    stamps: tuple[str, str] | None = field(default=None, repr=False, compare=False)

    def wrote(self, plan: "Plan", rows: int) -> None:
        """Note the keys a slice's `plan` wrote; none past half the sync's `rows` (a first
        sync, say: a million keys held for nothing)."""
        if self.written is not None:
            self.written.update(r["source_key"] for r in chain(plan.upserts, plan.removals))
            if len(self.written) > rows // 2:
                self.written = None

    def add(self, part: "SyncStats") -> None:
        """Count in what a slice of the same sync changed (`rows`: the slice's)."""
        self.rows += part.rows
        self.added += part.added
        self.removed += part.removed
        self.updated += part.updated
        self.repriced += part.repriced
        self.restored += part.restored
        self.unchanged += part.unchanged
        self.previous_rows = part.previous_rows
        self.price_changes.extend(part.price_changes)


@dataclass
class Plan:
    """Everything one publish writes."""

    upserts: list[Stored] = field(default_factory=list)
    removals: list[Row] = field(default_factory=list)  # rows to mark removed (their keys)
    renamed: list[tuple[str, str]] = field(default_factory=list)  # catalog keys spelt anew
    events: list[Row] = field(default_factory=list)
    close_prices: list[tuple[str, str]] = field(default_factory=list)  # (source, source_key)
    open_prices: list[Row] = field(default_factory=list)
    stats: SyncStats = field(default_factory=SyncStats)


def plan_source(source: str, previous: Mapping[str, Row], rows: Sequence[Offering], *,
                now: datetime, run_id: str | None, last_sync: datetime | None,
                hashes: Sequence[str] | None = None, seen: set[str] | None = None,
                removals: bool = True) -> Plan:
    """Compare a source's stored rows (by source_key) with a sync's rows (`hashes`: their
    content hashes, when already computed).

    New rows are `added`; rows gone from the payload are `removed` (kept, with `last_seen_at`
    the last sync that listed them); removed or archived rows that come back are `restored`;
    price and context-window changes are events of their own, one per field. A sync planned a
    slice of its rows at a time passes the keys it has `seen` so far, and asks for the
    `removals` with its last slice.
    """
    plan = Plan()
    stats = plan.stats
    stats.rows = len(rows)
    stats.previous_rows = sum(1 for r in previous.values() if r["state"] == ACTIVE)
    seen = set() if seen is None else seen
    for index, offered in enumerate(rows):
        key = offered["source_key"]
        seen.add(key)
        digest = content_hash(offered) if hashes is None else hashes[index]
        old = previous.get(key)
        if old is not None and old["state"] == ACTIVE and old["content_hash"] == digest:
            stats.unchanged += 1
            continue
        # The stored columns over the offered row, not a copy of it: a million rows are a lot.
        # The offered row is what the events and intervals read.
        stored = {"content_hash": digest, "state": ACTIVE,
                  "first_seen_at": now if old is None else old["first_seen_at"],
                  "last_seen_at": now, "removed_at": None, "archived_at": None}
        row: Stored = ChainMap(stored, offered)  # type: ignore[arg-type]
        if old is None:
            plan.upserts.append(row)
            plan.events.append(_event(offered, "added", now, run_id))
            plan.open_prices.extend(_seed_intervals(offered, now, run_id))
            stats.added += 1
            continue
        came_back = old["state"] != ACTIVE
        plan.upserts.append(row)
        if came_back:
            plan.events.append(_event(offered, "restored", now, run_id))
            stats.restored += 1
        else:
            stats.updated += 1
        changed = [f for f in EVENT_FIELDS if old.get(f) != offered.get(f)]
        for name in changed:
            plan.events.append(_event(offered, EVENT_FIELDS[name], now, run_id, name, old.get(name),
                                      offered.get(name)))
        if any(f in PRICE_FIELDS for f in changed):
            stats.repriced += 1
            stats.price_changes.append({"key": f"{offered['provider']}/{offered['model_id']}",
                                        **{p: (old.get(p), offered.get(p)) for p in PRICE_FIELDS}})
            plan.close_prices.append((source, key))
            if _priced(offered):
                plan.open_prices.append(_interval(offered, now, None, run_id))
        elif came_back and old["state"] == ARCHIVED and _priced(offered):
            plan.open_prices.append(_interval(offered, now, None, run_id))  # archiving closed it
    for key, old in previous.items() if removals else ():
        if key not in seen and old["state"] == ACTIVE:
            gone = dict(old, state=REMOVED, removed_at=now,
                        last_seen_at=max(filter(None, (last_sync, old["last_seen_at"])),
                                         default=old["last_seen_at"]))
            plan.removals.append(gone)
            plan.events.append(_event(gone, "removed", now, run_id))
            stats.removed += 1
    return plan


def plan_archive(removed: Iterable[StoredOffering], *, now: datetime, grace_days: float,
                 run_id: str | None) -> Plan:
    """Archive removed rows whose grace period is over; their price intervals end."""
    plan = Plan()
    for row in removed:
        if row["removed_at"] is not None and (now - row["removed_at"]).total_seconds() >= (
                grace_days * 86400):
            plan.removals.append(dict(row, state=ARCHIVED, archived_at=now))
            plan.events.append(_event(row, "archived", now, run_id))
            plan.close_prices.append((row["source"], row["source_key"]))
    plan.stats.removed = len(plan.removals)
    return plan


def _event(row: Mapping[str, Any], change: str, now: datetime, run_id: str | None,
           name: str | None = None, old: Any = None, new: Any = None) -> Row:
    return {
        "detected_at": now,
        "provider": row.get("provider"),
        "model_id": row.get("model_id"),
        "canonical_id": row.get("canonical_id"),
        "change": change,
        "field": name,
        "old_value": text_value(old),
        "new_value": text_value(new),
        "source": row["source"],
        "source_key": row["source_key"],
        "run_id": run_id,
    }


def _priced(row: Mapping[str, Any]) -> bool:
    return any(row.get(p) is not None for p in PRICE_FIELDS)


def _interval(row: Mapping[str, Any], start: datetime | None, end: datetime | None,
              run_id: str | None, prices: Mapping[str, Any] | None = None) -> Row:
    prices = row if prices is None else prices
    return {
        "source": row["source"],
        "source_key": row["source_key"],
        "provider": row.get("provider"),
        "model_id": row.get("model_id"),
        "canonical_id": row.get("canonical_id"),
        **{p: prices.get(p) for p in PRICE_FIELDS},
        "valid_from": start,
        "valid_to": end,
        "run_id": run_id,
    }


def _seed_intervals(row: Mapping[str, Any], now: datetime, run_id: str | None) -> list[Row]:
    """A new row's first interval; a dated price list (genai-prices) seeds the earlier ones,
    up to the date the row was fetched for (a price scheduled later is not history yet)."""
    history = (row.get("extra") or {}).get("price_history") or []
    as_of = row.get("fetched_at") or now
    dated = []
    for entry in history:
        start = entry.get("start_date")
        start_at = (datetime.combine(date.fromisoformat(start[:10]), datetime.min.time(),
                                     tzinfo=UTC) if start else None)
        if start_at is None or start_at <= as_of:
            dated.append((start_at, entry))
    if len(dated) < 2:
        return [_interval(row, now, None, run_id)] if _priced(row) else []
    dated.sort(key=lambda pair: (pair[0] is not None, pair[0] or now))
    intervals = []
    for (start, entry), following in zip(dated, [*dated[1:], None], strict=True):
        end = following[0] if following else None
        prices: Mapping[str, Any] = ({p: Decimal(entry[p]) if entry.get(p) is not None else None
                   for p in PRICE_FIELDS} if following else row)
        intervals.append(_interval(row, start, end, run_id, prices))
    return intervals
