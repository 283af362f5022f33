"""Overrides applied last to the merged catalog rows (`field_sources` says `override`), each
ending `applied`, `redundant` (applied; every source now agrees), `expired` (not applied) or
`unmatched` (no such offering). Pure: the catalog build and `model-sync overrides` share it."""

from collections import Counter
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

from model_sync.catalog.contract import ACTIVE, ARCHIVED, PRICE_FIELDS, UNLISTED, CatalogRow
from model_sync.catalog.history import EVENT_FIELDS, Plan, _event, _interval, _priced
from model_sync.catalog.merge import catalog_key
from model_sync.catalog.overrides import OVERRIDE, Override, Overrides, Slot
from model_sync.catalog.providers import canonical_provider
from model_sync.pricing.history import at_midnight, in_force
from model_sync.pricing.vocabulary import COMPONENTS, STANDARD

APPLIED, REDUNDANT, EXPIRED, UNMATCHED = "applied", "redundant", "expired", "unmatched"
STATES = (APPLIED, REDUNDANT, EXPIRED, UNMATCHED)
Key = tuple[str, str]


@dataclass
class Result:
    """What became of one override: its state, the catalog's value without it (the merge's),
    each source's value, and a hint when it matched nothing."""

    override: Override
    state: str
    merged: Any = None
    sources: dict[str, Any] = field(default_factory=dict)
    note: str = ""


@dataclass
class Outcome:
    """Every override's result, and what the build writes for the applied ones."""

    path: str | None = None
    results: list[Result] = field(default_factory=list)
    # Per overridden offering, the merge's values of the fields overridden (events' old values).
    merged: dict[Key, dict[str, Any]] = field(default_factory=dict)
    # Offering rows holding the price components overridden (source `override`).
    components: list[dict[str, Any]] = field(default_factory=list)

    @property
    def counts(self) -> Counter:
        return Counter(r.state for r in self.results)

    def lines(self, state: str) -> list[str]:
        """`file:line provider/model field` of the overrides in a state."""
        return [f"{self.path}:{r.override.line} {r.override.provider}/{r.override.model} "
                f"{r.override.target}{' (' + r.note + ')' if r.note else ''}"
                for r in self.results if r.state == state]


def apply_overrides(rows: Sequence[CatalogRow], sources: Mapping[Key, Sequence[Mapping]],
                    overrides: Overrides | None, *, now: datetime) -> Outcome:
    """Apply the overrides in force at `now` to the built rows (in place); `sources` holds the
    source rows of each overridden offering, by catalog key."""
    outcome = Outcome(overrides.path if overrides else None)
    if overrides is None:
        return outcome
    by_key = {catalog_key(r["provider"], r["model_id"]): r for r in rows}
    priced: dict[Key, list[dict[str, Any]]] = {}
    for item in overrides.entries:
        row = by_key.get(item.key)
        found = source_values(item, sources.get(item.key, ()), now)
        if item.expired(now):
            outcome.results.append(Result(item, EXPIRED, _value(row, item), found))
            continue
        if row is None:
            outcome.results.append(Result(item, UNMATCHED, note=_hint(item, by_key)))
            continue
        merged = _value(row, item)
        needed = (merged != _target_value(item) if item.column == "state"
                  else not found or any(v != item.value for v in found.values()))
        outcome.results.append(Result(item, APPLIED if needed else REDUNDANT, merged, found))
        if item.column is not None:
            outcome.merged.setdefault(item.key, {})[item.column] = merged
            _set(row, item)
        if item.slot is not None:
            priced.setdefault(item.key, []).append(_component(item))
    for key, components in priced.items():
        row = by_key[key]
        outcome.components.append({
            "source": OVERRIDE, "source_key": override_key(row), "provider": row["provider"],
            "model_id": row["model_id"], "state": row["state"], "prices": components})
    return outcome


def override_key(row: Mapping[str, Any]) -> str:
    """The `source_key` under which an offering's overrides are kept in the history tables."""
    return f"{row['provider']}/{row['model_id']}"


def overridden(row: Mapping[str, Any]) -> list[str]:
    """The fields of a catalog row that an override set."""
    return [name for name, source in (row.get("field_sources") or {}).items()
            if source == OVERRIDE]


def plan_overrides(stored: Iterable[Mapping[str, Any]], rows: Sequence[CatalogRow],
                   merged: Mapping[Key, Mapping[str, Any]], *, now: datetime,
                   run_id: str | None) -> Plan:
    """Events and price intervals (source `override`) of what overrides changed between the
    `stored` rows they had set and the build's `rows`: from the merge's value (`merged`) to the
    override's when one applies, and back when it ends (expired, deleted)."""
    plan = Plan()
    before = {catalog_key(r["provider"], r["model_id"]): r for r in stored}
    after: dict[Key, Mapping[str, Any]] = {}
    for row in rows:
        if (key := catalog_key(row["provider"], row["model_id"])) in before or overridden(row):
            after[key] = row
    for key in sorted(before.keys() | after.keys()):
        old, new = before.get(key), after.get(key)
        was = set(overridden(old)) if old is not None else set()
        opened = old if old is not None and _holds(old, was) else None
        if new is None:  # no source describes it any more: its interval ends
            if opened is not None:
                plan.close_prices.append((OVERRIDE, override_key(opened)))
            continue
        set_now = set(overridden(new))
        subject = dict(new, source=OVERRIDE, source_key=override_key(new))
        for name in EVENT_FIELDS:
            if name not in was | set_now:
                continue
            previous = old[name] if old is not None and name in was else merged.get(
                key, {}).get(name)
            if previous != new[name]:
                plan.events.append(_event(subject, EVENT_FIELDS[name], now, run_id, name,
                                          previous, new[name]))
        wants = _holds(new, set_now)
        same = (opened is not None and wants and override_key(opened) == override_key(new)
                and all(opened[p] == new[p] for p in PRICE_FIELDS))
        if opened is not None and not same:
            plan.close_prices.append((OVERRIDE, override_key(opened)))
        if wants and not same:
            plan.open_prices.append(_interval(subject, now, None, run_id))
    return plan


def _holds(row: Mapping[str, Any], fields: set[str]) -> bool:
    """Whether a row's overridden prices have an open interval: priced, not archived."""
    return bool(fields & set(PRICE_FIELDS)) and row["state"] != ARCHIVED and _priced(row)


def source_values(item: Override, rows: Iterable[Mapping[str, Any]],
                  now: datetime) -> dict[str, Any]:
    """What each source publishes for the field an override sets (its first row's value)."""
    found: dict[str, Any] = {}
    for row in rows:
        if item.column == "state":
            value = row.get("state")
        elif item.column is not None:
            value = row.get(item.column)
        else:
            value = _published(row, item.slot, now)
        if value is not None:
            found.setdefault(row["source"], value)
    return found


def _published(row: Mapping[str, Any], slot: Slot | None, now: datetime) -> Any:
    for price in row.get("prices") or ():
        if price.get("window") or slot != (price["component"], price.get("mode", STANDARD),
                                           price.get("region"),
                                           price.get("min_prompt_tokens") or 0):
            continue
        dates = {"valid_from": at_midnight(price.get("valid_from")),
                 "valid_to": at_midnight(price.get("valid_to"))}
        if in_force(dates, now):
            return price["price"]
    return None


def _value(row: Mapping[str, Any] | None, item: Override) -> Any:
    if row is None or item.column is None:
        return None
    return row.get(item.column)


def _target_value(item: Override) -> Any:
    return (ACTIVE if item.value else UNLISTED) if item.column == "state" else item.value


def _set(row: Any, item: Override) -> None:
    row[item.column] = _target_value(item)
    if item.column == "state" and item.value:
        row["removed_at"] = None  # served, whatever its sources say
    if item.column in PRICE_FIELDS and row.get("price_source") is None:
        row["price_source"] = OVERRIDE
    row["field_sources"] = {**(row.get("field_sources") or {}), item.column: OVERRIDE}


def _component(item: Override) -> dict[str, Any]:
    assert item.slot is not None
    name, mode, region, tier = item.slot
    return {"component": name, "unit": COMPONENTS[name].unit, "mode": mode, "region": region,
            "min_prompt_tokens": tier, "price": item.value}


def _hint(item: Override, by_key: Mapping[Key, Any]) -> str:
    """Why an override matched nothing, when the catalog spells its provider otherwise."""
    spelt = canonical_provider(item.provider)
    if spelt and spelt != item.provider and catalog_key(spelt, item.model) in by_key:
        return f"the catalog spells the provider {spelt!r}"
    return "no such offering in the catalog"
