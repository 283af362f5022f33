"""The exact cost of a request from an offering's merged price sets (pure: no storage).

Token usage is split as genai-prices splits it: each priced component bills its own tokens less
those of the more specific priced components under it (input bills the prompt tokens that are
not cache reads, cache writes, audio, ... when those are priced), and a token field no component
prices apart is billed at its nearest priced ancestor. A usage that needs a component the
offering has no price for is an error, never a silent $0. A long-context tier applies when the
prompt (`input_tokens`) reaches its `min_prompt_tokens`; a time-of-day price when the request's
time (UTC) falls in its window.
"""

from collections.abc import Mapping, Sequence
from dataclasses import asdict, dataclass
from datetime import datetime, time
from decimal import Decimal, localcontext
from typing import Any

from model_sync.catalog.money import format_decimal
from model_sync.pricing.merge import Merged, PriceSet
from model_sync.pricing.usage import Usage
from model_sync.pricing.vocabulary import COMPONENTS, PROMPT_FIELD, STANDARD, TOKEN_USAGE, extends

Row = Mapping[str, Any]


class PricingError(ValueError):
    """A cost that cannot be computed exactly: no such offering, no price in force, a usage
    that needs a component the offering does not price."""


@dataclass(frozen=True)
class Line:
    """What one component of a request costs, and the price row it was computed from."""

    component: str
    quantity: Decimal
    unit: str
    price: Decimal
    amount: Decimal
    mode: str
    region: str | None
    min_prompt_tokens: int
    window: str | None
    source: str
    source_key: str
    valid_from: datetime | None
    valid_to: datetime | None


def price_usage(merged: Merged, usage: Usage, *, mode: str, region: str | None, at: datetime,
                offering: str) -> list[Line]:
    """The cost lines of `usage` under the set chosen for `mode` and `region` at `at`."""
    chosen = merged.chosen.get((mode, region))
    if chosen is None:
        priced = sorted({m if r is None else f"{m} in {r}" for m, r in merged.chosen})
        when = f" at {at.isoformat()}" if priced else ""
        raise PricingError(f"{offering}: no {mode} price{f' in region {region}' if region else ''}"
                           f"{when}; priced: {', '.join(priced) or 'nothing in force then'}")
    prompt = usage.get(PROMPT_FIELD, Decimal(0))
    rows = effective(chosen.rows, at.timetz(), prompt)
    if mode != STANDARD and (standard := merged.fallback(chosen)) is not None:
        for name, row in effective(standard.rows, at.timetz(), prompt).items():
            rows.setdefault(name, row)  # a mode's set restates only what differs
    lines = _token_lines(rows, usage, offering, chosen) + _count_lines(rows, usage, offering)
    return sorted(lines, key=lambda line: list(COMPONENTS).index(line.component))


def effective(rows: Sequence[Row], at: time, prompt: Decimal) -> dict[str, Row]:
    """Per component, the row that applies: a window covering `at` wins over the all-day
    price, and of the tiers the prompt reaches, the highest."""
    by_component: dict[str, list[Row]] = {}
    for row in rows:
        by_component.setdefault(row["component"], []).append(row)
    out = {}
    for name, same in by_component.items():
        windowed = [r for r in same if r.get("window") and covers(r["window"], at)]
        pool = windowed or [r for r in same if not r.get("window")]
        reached = [r for r in pool if (r.get("min_prompt_tokens") or 0) <= prompt]
        if reached:
            out[name] = max(reached, key=lambda r: r.get("min_prompt_tokens") or 0)
    return out


def covers(window: str, at: time) -> bool:
    """Whether `HH:MM-HH:MM` (UTC, end excluded, possibly over midnight) contains `at`."""
    start, end = (time.fromisoformat(part) for part in window.split("-"))
    now = at.replace(tzinfo=None)
    return start <= now < end if start < end else (now >= start or now < end)


def _token_lines(rows: Mapping[str, Row], usage: Usage, offering: str,
                 chosen: PriceSet) -> list[Line]:
    priced = {name: COMPONENTS[name] for name in rows if COMPONENTS[name].dims}
    for field, count in usage.items():
        dims = TOKEN_USAGE.get(field)
        if dims is not None and count and not any(
                c.dims.items() <= dims.items() for c in priced.values()):
            raise PricingError(f"{offering}: the usage has {count} {field} but {chosen.source} "
                               f"prices no component for them ({_ancestors(dims)})")
    leaves: dict[str, Decimal] = {}
    for name in sorted(priced, key=lambda n: (-len(priced[n].dims), n)):
        part_of = [d for d in priced if extends(priced[d].dims, priced[name].dims)]
        total = usage.get(priced[name].usage, Decimal(0))
        leaves[name] = total - sum((leaves[d] for d in part_of), Decimal(0))
        if leaves[name] < 0:
            parts = ", ".join(f"{priced[d].usage} ({usage.get(priced[d].usage, 0)})"
                              for d in part_of if usage.get(priced[d].usage))
            raise PricingError(f"{offering}: {parts} cannot exceed {priced[name].usage} "
                               f"({total}); give {priced[name].usage} in full (it includes "
                               "them)")
    return [_line(rows[name], quantity) for name, quantity in leaves.items() if quantity]


def _count_lines(rows: Mapping[str, Row], usage: Usage, offering: str) -> list[Line]:
    lines = []
    for field, count in usage.items():
        if field in TOKEN_USAGE or field == "requests" or not count:
            continue
        name = next((c.name for c in COMPONENTS.values() if c.usage == field), None)
        if name is None or name not in rows:
            raise PricingError(f"{offering}: the usage has {count} {field} but no {name or field} "
                               "price is published for it")
        lines.append(_line(rows[name], count))
    if "request" in rows:  # every request is one, unless the usage counts several
        lines.append(_line(rows["request"], usage.get("requests", Decimal(1))))
    return lines


def _ancestors(dims: Mapping[str, str]) -> str:
    names = [c.name for c in COMPONENTS.values() if c.dims and c.dims.items() <= dims.items()]
    return "no " + " or ".join(names) + " price" if names else "no price"


def _line(row: Row, quantity: Decimal) -> Line:
    component = COMPONENTS[row["component"]]
    price = Decimal(str(row["price"]))
    with localcontext() as exact:
        exact.prec = 60  # a product of two exact decimals, never rounded
        amount = (quantity * price).scaleb(-component.exponent)
    return Line(component.name, quantity, component.unit, price, amount, row["mode"],
                row.get("region"), row.get("min_prompt_tokens") or 0, row.get("window"),
                row["source"], row["source_key"], row.get("valid_from"), row.get("valid_to"))


def total(lines: Sequence[Line]) -> Decimal:
    with localcontext() as exact:
        exact.prec = 60
        return sum((line.amount for line in lines), Decimal(0))


def line_json(line: Line) -> dict[str, Any]:
    """A line as JSON values: decimals as exact text, instants as ISO 8601."""
    out = {}
    for key, value in asdict(line).items():
        if isinstance(value, Decimal):
            value = format_decimal(value)
        elif isinstance(value, datetime):
            value = value.isoformat()
        out[key] = value
    return out
