"""pydantic/genai-prices: curated prices per provider, with dated price histories."""

from datetime import date, time
from decimal import Decimal
from typing import Any

from model_sync.catalog.money import PER_MILLION, format_decimal
from model_sync.sources.base import (
    Offering,
    ParseContext,
    ParseError,
    SourceSpec,
    components,
    expect,
    integer,
    offering,
    price,
    required,
    text,
)
from model_sync.sources.genai_prices_components import price_sheet

NAME = "genai_prices"
_PRICE_KEYS = (
    ("input_price", "input_mtok"),
    ("output_price", "output_mtok"),
    ("cache_read_price", "cache_read_mtok"),
    ("cache_write_price", "cache_write_mtok"),
)


def parse(payload: Any, ctx: ParseContext) -> list[Offering]:
    """`[provider{id, models: [model{id, prices}]}]` -> one offering per provider x model.

    A model's `prices` may be a list of `{constraint: {start_date}, prices}`: the entry in force
    on the sync date is used, and the whole list is kept in `extra.price_history`.
    """
    providers = expect(payload, list, NAME, "the response")

    def provider_rows(provider: Any, index: int) -> list[Offering]:
        provider_id = str(required(provider, "id", NAME, f"#{index}"))
        models = expect(required(provider, "models", NAME, provider_id), list, NAME,
                        f"{provider_id}.models")
        return ctx.listed(models, lambda model, i: _model(provider_id, model, i, ctx),
                          prefix=f"{provider_id}/")

    return ctx.listed(providers, provider_rows)


def _model(provider_id: str, model: Any, index: int, ctx: ParseContext) -> Offering:
    model_id = str(required(model, "id", NAME, f"{provider_id}/#{index}"))
    key = f"{provider_id}/{model_id}"
    entries = _entries(required(model, "prices", NAME, key), key)
    current, alternates = _in_force(entries, ctx.today)
    flags: set[str] = set()
    prices = {}
    for column, field in _PRICE_KEYS:
        value = current["prices"].get(field)
        if isinstance(value, dict):  # tiered: {base, tiers: [{start, price}]}
            flags.add("tiered")
            value = value.get("base")
        prices[column] = price(value, PER_MILLION, NAME, key, f"prices.{field}", flags)
    if alternates:
        flags.add("time_of_day")
    extra: dict[str, Any] = {"match": model.get("match")}
    history = _periods(entries)
    if len(history) > 1:
        extra["price_history"] = [_history_entry(e, key) for e in history]
    if alternates:
        extra["time_of_day_prices"] = [_history_entry(e, key) for e in alternates]
    others = {k: v for k, v in current["prices"].items() if k not in dict(_PRICE_KEYS).values()}
    if others:
        extra["other_prices"] = others
    return offering(
        ctx,
        source_key=key,
        source_provider=provider_id,
        model_id=model_id,
        flags=flags,
        name=text(model.get("name")),
        context_window=integer(model.get("context_window")),
        **prices,
        status="deprecated" if model.get("deprecated") is True else None,
        extra=extra,
        prices=components(ctx, key, price_sheet(entries)),
    )


def _entries(prices: Any, key: str) -> list[dict[str, Any]]:
    if isinstance(prices, dict):
        return [{"constraint": {}, "prices": prices}]
    if isinstance(prices, list) and prices:
        entries = []
        for entry in prices:
            if not isinstance(entry, dict) or not isinstance(entry.get("prices"), dict):
                raise ParseError(NAME, "price list entries need a 'prices' object", key, "prices")
            constraint = entry.get("constraint") or {}
            entries.append({"constraint": constraint, "prices": entry["prices"]})
        return entries
    raise ParseError(NAME, "expected an object or a non-empty list", key, "prices")


def _start(entry: dict[str, Any]) -> date:
    start = entry["constraint"].get("start_date")
    return date.fromisoformat(start[:10]) if start else date.min


def _periods(entries: list[dict[str, Any]]) -> list[dict[str, Any]]:
    """One entry per start date, oldest first: the price history.

    Time-of-day windows (off-peak discounts) of one period are alternatives, not history: the
    rate in force for most of the day stands for the period.
    """
    by_start: dict[date, list[dict[str, Any]]] = {}
    for entry in entries:
        by_start.setdefault(_start(entry), []).append(entry)
    return [_day_rate(period) for _, period in sorted(by_start.items())]


def _day_rate(period: list[dict[str, Any]]) -> dict[str, Any]:
    if len(period) == 1:
        return period[0]
    windowed = [e for e in period if "start_time" in e["constraint"]]
    covered = sum(_window_hours(e) for e in windowed)
    coverage = {id(e): (_window_hours(e) if e in windowed else 24 - covered) for e in period}
    return max(period, key=lambda e: coverage[id(e)])


def _in_force(entries: list[dict[str, Any]], today: date):
    """The entry in force on `today` (else the earliest), and its time-of-day alternates."""
    periods = _periods(entries)
    in_force = [p for p in periods if _start(p) <= today][-1:] or periods[:1]
    current = in_force[0]
    alternates = [e for e in entries if _start(e) == _start(current) and e is not current]
    return current, alternates


def _window_hours(entry: dict[str, Any]) -> float:
    start = time.fromisoformat(entry["constraint"]["start_time"].rstrip("Z"))
    end = time.fromisoformat(entry["constraint"].get("end_time", "23:59:59Z").rstrip("Z"))
    hours = (end.hour + end.minute / 60) - (start.hour + start.minute / 60)
    return hours if hours > 0 else hours + 24


def _history_entry(entry: dict[str, Any], key: str) -> dict[str, Any]:
    out: dict[str, Any] = {k: v for k, v in entry["constraint"].items() if v is not None}
    for column, field in _PRICE_KEYS:
        value = entry["prices"].get(field)
        if isinstance(value, dict):
            value = value.get("base")
        amount = price(value, PER_MILLION, NAME, key, f"prices.{field}", set())
        out[column] = format_decimal(amount) if isinstance(amount, Decimal) else None
    return out


SPEC = SourceSpec(
    name=NAME,
    title="genai-prices",
    description=(
        "Curated prices from pydantic/genai-prices, the raw `prices/data.json` of its GitHub "
        "repository (no key). Prices are USD per 1M tokens, some with dated histories."
    ),
    url="https://raw.githubusercontent.com/pydantic/genai-prices/main/prices/data.json",
    parse=parse,
    role="registry",
    min_rows=700,
    docs_url="https://github.com/pydantic/genai-prices",
)
