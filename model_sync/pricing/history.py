"""What a sync changes in the price components' history: validity intervals, planned (pure).

Each component of a source row has a slot (source row, component, mode, region, tier, window)
and a schedule: one undated price, or the dated prices a source states (genai-prices' lists,
scheduled changes included). A slot seen for the first time is seeded with its schedule: an
undated price from now on, or, in the source's first sync, since before the catalog knew it
(`valid_from` null). Afterwards the price in force now and the scheduled ones are held to what
the source says: a changed price closes the open interval and opens a new one (at the date the
source gives, else now), a withdrawn scheduled price is dropped, a component gone is closed.
Intervals that ended are history and never change.
"""

from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import UTC, date, datetime
from decimal import Decimal
from typing import Any

Row = dict[str, Any]
SLOT_COLUMNS = ("source_key", "component", "mode", "region", "min_prompt_tokens", "window")


@dataclass
class PricePlan:
    """What one publish of a source's components writes."""

    inserts: list[Row] = field(default_factory=list)
    ends: list[tuple[int, datetime]] = field(default_factory=list)  # (id, valid_to)
    deletes: list[int] = field(default_factory=list)  # scheduled intervals withdrawn

    @property
    def changed(self) -> bool:
        return bool(self.inserts or self.ends or self.deletes)


def slot_of(row: Mapping[str, Any]) -> tuple:
    get = row.get  # the SLOT_COLUMNS, spelt out: a generator per interval costs more
    return (get("source_key") or None, get("component") or None, get("mode") or None,
            get("region") or None, get("min_prompt_tokens") or 0, get("window") or None)


def at_midnight(value: Any) -> datetime | None:
    """A stated date as the instant it starts (UTC), as genai-prices reads a start date."""
    if value is None:
        return None
    if isinstance(value, datetime):
        return value if value.tzinfo else value.replace(tzinfo=UTC)
    day = value if isinstance(value, date) else date.fromisoformat(str(value)[:10])
    return datetime.combine(day, datetime.min.time(), tzinfo=UTC)


def in_force(interval: Mapping[str, Any], when: datetime) -> bool:
    start, end = interval.get("valid_from"), interval.get("valid_to")
    return (start is None or start <= when) and (end is None or end > when)


def plan_prices(rows: Iterable[Mapping[str, Any]], stored: Sequence[Mapping[str, Any]],
                seen: set[tuple], *, now: datetime, run_id: str | None) -> PricePlan:
    """Hold a source's intervals (`stored`: in force now or scheduled) to its rows' `prices`;
    `seen` holds every slot that ever had an interval (none: the source's first sync)."""
    plan = PricePlan()
    wanted: dict[tuple, list[Row]] = {}
    for row in rows:
        for price in row.get("prices") or ():
            amount, starts, ends = price["price"], price.get("valid_from"), price.get("valid_to")
            entry = {"source": row["source"], "source_key": row["source_key"],
                     "provider": row.get("provider"), "model_id": row.get("model_id"),
                     "component": price["component"], "unit": price["unit"],
                     "mode": price["mode"], "region": price.get("region"),
                     "min_prompt_tokens": price.get("min_prompt_tokens") or 0,
                     "window": price.get("window"),
                     "price": amount if type(amount) is Decimal else Decimal(str(amount)),
                     "valid_from": None if starts is None else at_midnight(starts),
                     "valid_to": None if ends is None else at_midnight(ends), "run_id": run_id}
            wanted.setdefault(slot_of(entry), []).append(entry)
    current: dict[tuple, list[Mapping[str, Any]]] = {}
    for interval in stored:
        current.setdefault(slot_of(interval), []).append(interval)
    for key, schedule in wanted.items():
        if len(schedule) > 1:
            schedule.sort(key=lambda e: (e["valid_from"] is not None, e["valid_from"] or now))
        if key not in seen:
            plan.inserts.extend(_seeded(schedule, None if not seen else now))
        else:
            _follow(plan, schedule, current.get(key, []), now)
    for key, intervals in current.items():
        if key not in wanted:
            _follow(plan, [], intervals, now)
    return plan


def _stated(schedule: Sequence[Row]) -> bool:
    return len(schedule) > 1 or any(e["valid_from"] or e["valid_to"] for e in schedule)


def _seeded(schedule: list[Row], since: datetime | None) -> list[Row]:
    """A new slot: its stated schedule as it is, or its one undated price since `since`."""
    if _stated(schedule):
        return [dict(e) for e in schedule]
    return [dict(schedule[0], valid_from=since)]


def _follow(plan: PricePlan, schedule: list[Row], stored: Sequence[Mapping[str, Any]],
            now: datetime) -> None:
    open_now = next((s for s in stored if in_force(s, now)), None)
    future = [s for s in stored if s.get("valid_from") is not None and s["valid_from"] > now]
    due = next((e for e in reversed(schedule) if in_force(e, now)), None)
    later = [e for e in schedule if e["valid_from"] is not None and e["valid_from"] > now]
    if open_now is not None:
        if due is not None and open_now["price"] == due["price"]:
            if open_now.get("valid_to") != due["valid_to"]:
                plan.ends.append((open_now["id"], due["valid_to"]))
            due = None  # already in force
        elif due is not None:
            plan.ends.append((open_now["id"], _since(due, open_now, now)))
        else:
            plan.ends.append((open_now["id"], _ended(schedule, open_now, now)))
    if due is not None:
        start = _since(due, open_now, now) if open_now is not None else (
            due["valid_from"] if _stated(schedule) else now)
        plan.inserts.append(dict(due, valid_from=start))
    kept = {(s["valid_from"], Decimal(str(s["price"]))) for s in future}
    plan.deletes.extend(s["id"] for s in future
                        if (s["valid_from"], Decimal(str(s["price"]))) not in
                        {(e["valid_from"], e["price"]) for e in later})
    plan.inserts.extend(dict(e) for e in later if (e["valid_from"], e["price"]) not in kept)


def _since(due: Row | None, open_now: Mapping[str, Any], now: datetime) -> datetime:
    """When a change took effect: the date the source states for it, if it falls inside the
    interval it ends; else now."""
    stated = due["valid_from"] if due is not None else None
    began = open_now.get("valid_from")
    if stated is not None and (began is None or stated > began):
        return stated
    return now


def _ended(schedule: Sequence[Row], open_now: Mapping[str, Any], now: datetime) -> datetime:
    """When a price no longer in force ended: the last end the source states, if it falls
    inside the interval; else now (the component is gone)."""
    ends = [e["valid_to"] for e in schedule if e["valid_to"] is not None and e["valid_to"] <= now]
    end, began = max(ends, default=None), open_now.get("valid_from")
    return end if end is not None and (began is None or end > began) else now
