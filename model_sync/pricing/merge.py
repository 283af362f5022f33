"""The components of a catalog offering at an instant: of every source row describing it, the
price set of each mode and region is taken whole from one row, in the catalog's price order
(the provider's own API, then genai-prices, models.dev, LiteLLM), never mixing two sources
within a set. A set's long-context tiers and time-of-day prices belong to it.

Like the catalog's merge, a set with an implausible token price (over 1,000 USD per 1M tokens,
a unit slip upstream) gives way to the next source's; and a source's prices that contradict
each other (a batch or flex price above its standard one, a long-context tier below the tier
under it) are withheld, named by the `prices_consistent` check. Overrides (source
`override`) apply last: each replaces its component in the set chosen for its mode and region,
or makes that set when no source has one.
"""

from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import datetime
from decimal import Decimal
from itertools import pairwise
from typing import Any

from model_sync.catalog.merge import PLAUSIBLE_MAX_PRICE, price_ranking
from model_sync.catalog.overrides import OVERRIDE
from model_sync.pricing.history import in_force
from model_sync.pricing.vocabulary import COMPONENTS, STANDARD

Row = Mapping[str, Any]
DISCOUNTED = ("batch", "flex")  # modes that are never dearer than standard


@dataclass
class PriceSet:
    """The components one source row publishes for one mode and region."""

    mode: str
    region: str | None
    source: str
    source_key: str
    rows: list[Row] = field(default_factory=list)


@dataclass
class Merged:
    """An offering's sets at an instant: the one taken per (mode, region), every source row's
    sets (for a mode's fallback to the same row's standard prices), and what was withheld."""

    chosen: dict[tuple[str, str | None], PriceSet] = field(default_factory=dict)
    sets: dict[tuple[str, str | None, str, str], PriceSet] = field(default_factory=dict)
    withheld: list[tuple[Row, str]] = field(default_factory=list)

    def fallback(self, chosen: PriceSet) -> PriceSet | None:
        """The standard set of the row a mode's set came from."""
        return self.sets.get((STANDARD, chosen.region, chosen.source, chosen.source_key))


def ranking(provider_sources: Sequence[str],
            preferred: frozenset[str] = frozenset()) -> Callable[[PriceSet], tuple]:
    """The catalog's price order; among one source's rows, those in `preferred` (the model id
    asked for) first."""
    rank = price_ranking(provider_sources)
    return lambda s: (rank({"source": s.source, "source_key": ""})[:3],
                      s.source_key not in preferred, len(s.source_key), s.source_key)


def merge_prices(rows: Sequence[Row], *, at: datetime,
                 rank: Callable[[PriceSet], tuple]) -> Merged:
    """Choose each (mode, region) set from the intervals in force at `at`."""
    merged = Merged()
    by_row: dict[tuple[str, str], list[Row]] = {}
    corrections = []
    for row in rows:
        if in_force(row, at):
            if row["source"] == OVERRIDE:
                corrections.append(row)
                continue
            by_row.setdefault((row["source"], row["source_key"]), []).append(row)
    for (source, key), own in by_row.items():
        bad = contradictions(own)
        merged.withheld.extend(bad)
        dropped = {id(r) for r, _ in bad}
        for row in own:
            if id(row) not in dropped:
                slot = (row["mode"], row.get("region"), source, key)
                merged.sets.setdefault(slot, PriceSet(row["mode"], row.get("region"), source,
                                                      key)).rows.append(row)
    for price_set in sorted(merged.sets.values(), key=rank):
        if plausible(price_set.rows):
            merged.chosen.setdefault((price_set.mode, price_set.region), price_set)
    for row in corrections:
        _override(merged, row)
    return merged


def _override(merged: Merged, row: Row) -> None:
    """An override in its set: in place of the source's all-day price of that component and
    tier, in a copy of the chosen set (its source's own sets stay as published)."""
    slot = (row["mode"], row.get("region"))
    chosen = merged.chosen.get(slot)
    kept = [r for r in chosen.rows if r.get("window") or (r["component"], r.get(
        "min_prompt_tokens") or 0) != (row["component"], row.get("min_prompt_tokens") or 0)
            ] if chosen else []
    merged.chosen[slot] = PriceSet(*slot, chosen.source if chosen else OVERRIDE,
                                   chosen.source_key if chosen else row["source_key"],
                                   [*kept, row])


def plausible(rows: Sequence[Row]) -> bool:
    """No token price above PLAUSIBLE_MAX_PRICE USD per 1M tokens (other units are not
    comparable)."""
    return all(Decimal(str(r["price"])) <= PLAUSIBLE_MAX_PRICE for r in rows
               if COMPONENTS[r["component"]].dims)


def contradictions(rows: Sequence[Row]) -> list[tuple[Row, str]]:
    """The prices of one source row that contradict its others: a batch or flex price above
    the standard price of the same component, or a long-context tier below the tier under it."""
    if len(rows) < 2:
        return []
    if not any(row["mode"] in DISCOUNTED for row in rows) and len(rows) == len(
            {(row["component"], row["mode"], row.get("region") or None, row.get("window") or None)
             for row in rows}):
        return []  # nothing discounted, no two rows of one slot: nothing to compare
    # Each row's slot terms and price, read once: (component, mode, region, window, tier).
    read = [(row, tuple(row.get(k) or None for k in _TERMS), _price(row["price"]))
            for row in rows]
    standard = {(c, r, w, t): price for row, (c, _, r, w, t), price in read
                if row["mode"] == STANDARD}
    found: list[tuple[Row, str]] = []
    for row, (c, _, r, w, t), price in read:
        base = standard.get((c, r, w, t))
        if row["mode"] in DISCOUNTED and base is not None and price > base:
            found.append((row, f"{row['mode']} {row['component']} {price} is above its "
                               f"standard price {base}"))
    tiers: dict[tuple, list[tuple[Row, Decimal]]] = {}
    for row, (c, m, r, w, _), price in read:
        tiers.setdefault((c, m, r, w), []).append((row, price))
    for same in tiers.values():
        if len(same) < 2:
            continue
        same = sorted(same, key=lambda pair: pair[0].get("min_prompt_tokens") or 0)
        for (lower, low), (upper, high) in pairwise(same):
            if high < low:
                found.append((upper, f"{upper['component']} from {upper['min_prompt_tokens']:,} "
                                     f"prompt tokens, {upper['price']}, is below the "
                                     f"{lower['price']} under it"))
    return found


_TERMS = ("component", "mode", "region", "window", "min_prompt_tokens")


def _price(value: Any) -> Decimal:
    return value if type(value) is Decimal else Decimal(str(value))
