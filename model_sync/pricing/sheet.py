"""What a parser fills for one entry: its price components, converted exactly into the
vocabulary's units, and the published prices it could not map, each with its reason.

A component is a plain dict (it is stored as JSON with the offering, in `prices`):
`{"component", "unit", "mode", "price"}` and, when they apply, `region`, `min_prompt_tokens`
(a long-context tier: the price applies when the prompt has at least that many tokens),
`window` (`"HH:MM-HH:MM"` UTC, a time-of-day price), `valid_from` / `valid_to` (ISO dates
a source states for a dated price list).
"""

from collections.abc import Mapping
from datetime import date
from decimal import Decimal
from functools import lru_cache
from typing import Any

from model_sync.catalog.money import PriceError, to_decimal
from model_sync.memo import remembered
from model_sync.pricing.vocabulary import COMPONENTS, MODES, STANDARD

Price = dict[str, Any]
# What makes two components of one entry the same slot (the rest is the price itself).
SLOT = ("component", "mode", "region", "min_prompt_tokens", "window", "valid_from")


def slot(price: Mapping[str, Any]) -> tuple:
    get = price.get  # the SLOT keys, spelt out: a generator per price costs more than the lookups
    return (get("component"), get("mode"), get("region"), get("min_prompt_tokens"),
            get("window"), get("valid_from"))


class PriceSheet:
    """The components of one entry, and the published prices set aside (field, reason, value)."""

    def __init__(self) -> None:
        self.prices: list[Price] = []
        self.rejected: list[tuple[str, str, Any]] = []
        self.read: set[str] = set()  # every published field taken as a price or set aside

    def add(self, name: str, value: Any, scale: int, field: str, *, mode: str = STANDARD,
            region: str | None = None, min_prompt_tokens: int = 0, window: str | None = None,
            valid_from: date | None = None, valid_to: date | None = None,
            skip_zero: bool = False) -> None:
        """One published price: `value` times 10**`scale` is the price per the component's
        unit. Null and negative (variable) values are not prices; `skip_zero` says a 0 means
        "not priced apart" rather than free. A value that is not a number is set aside."""
        if name not in COMPONENTS or mode not in MODES:
            raise ValueError(f"not in the price vocabulary: {name!r} in mode {mode!r}")
        self.read.add(field)
        try:
            number = to_decimal(value)
        except PriceError as exc:
            self.reject(field, str(exc), value)
            return
        if number is None or number < 0 or (skip_zero and number == 0):
            return
        price: Price = {"component": name, "unit": COMPONENTS[name].unit, "mode": mode,
                        "price": _scaled(number, scale)}
        if region is not None:  # the optional terms, in this order (the stored JSON keeps it)
            price["region"] = region
        if min_prompt_tokens:
            price["min_prompt_tokens"] = min_prompt_tokens
        if window is not None:
            price["window"] = window
        if valid_from:
            price["valid_from"] = valid_from.isoformat()
        if valid_to:
            price["valid_to"] = valid_to.isoformat()
        self.prices.append(price)

    def reject(self, field: str, reason: str, value: Any) -> None:
        """A published price that has no place in the price model, with why."""
        self.read.add(field)
        self.rejected.append((field, reason, value))

    def rows(self) -> list[Price] | None:
        """The components, one per slot: a price given twice the same way is one component;
        given twice with different prices, neither is kept and both are set aside."""
        by_slot: dict[tuple, list[Price]] = {}
        for price in self.prices:
            by_slot.setdefault(slot(price), []).append(price)
        kept = []
        for same in by_slot.values():
            if len(same) == 1 or len({p["price"] for p in same}) == 1:
                kept.append(same[0])
            else:
                name = same[0]["component"]
                self.reject(name, f"{name} ({same[0]['mode']}) is published with different "
                            "prices: " + ", ".join(sorted({str(p["price"]) for p in same})),
                            [p["price"] for p in same])
        kept = _coalesced(kept)
        kept.sort(key=_order)
        return [_shared(price) for price in kept] or None


# Equal components are one dict, shared by every entry that publishes them (a catalog repeats a
# few hundred prices a million times); nothing changes a component once its sheet is read.
_shared = remembered(lambda price: price, key=lambda price: tuple(price.items()))


def _order(price: Price) -> tuple:
    if len(price) == 4:  # component, unit, mode and price (as `add` makes it): no other term
        return (price["component"], price["mode"], "None", "None", "None", "None")
    return tuple(map(str, slot(price)))


def _coalesced(prices: list[Price]) -> list[Price]:
    """One component over consecutive dated stretches at the same price is one component."""
    if not any("valid_from" in price for price in prices):  # one per slot: nothing to join
        return [dict(price) for price in prices]
    by_slot: dict[tuple, list[Price]] = {}
    for price in prices:
        by_slot.setdefault(slot(price)[:-1], []).append(price)
    out = []
    for same in by_slot.values():
        same.sort(key=lambda p: p.get("valid_from") or "")
        merged = [dict(same[0])]
        for price in same[1:]:
            last = merged[-1]
            if last["price"] == price["price"] and last.get("valid_to") == price.get("valid_from"):
                last.pop("valid_to", None)
                if price.get("valid_to"):
                    last["valid_to"] = price["valid_to"]
            else:
                merged.append(dict(price))
        out.extend(merged)
    return out


@lru_cache(maxsize=1 << 16)  # equal numbers give the same normalized price: each is done once
def _scaled(number: Decimal, scale: int) -> Decimal:
    return _clean(number.scaleb(scale))


def _clean(number: Decimal) -> Decimal:
    return Decimal(0) if number.is_zero() else number.normalize()
