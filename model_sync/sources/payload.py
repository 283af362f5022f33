"""Reading a payload: JSON decoded with exact decimals, its shape checked, its values turned into
contract values, and the normalized offering built from them. Pure functions, shared by parsers.
"""

from collections.abc import Callable, Iterable, Mapping, Sequence
from datetime import UTC, datetime
from decimal import Decimal
from typing import Any, cast

from model_sync.catalog.contract import OFFERING_COLUMNS, Offering
from model_sync.catalog.money import PriceError, price_per_million
from model_sync.catalog.providers import canonical_provider
from model_sync.http.body import BodyError, decode
from model_sync.memo import remembered
from model_sync.pricing.sheet import Price, PriceSheet
from model_sync.sources.parsing import (
    ParseContext,
    ParseError,
    Rejection,
    excerpt,
    json_name,
    json_type,
    obj,
)


def loads(body: bytes | str, source: str) -> Any:
    """Decode a JSON body as the HTTP client does (`model_sync.http.body.decode`: exact
    decimals, keys given twice remembered); a malformed or empty body is a ParseError."""
    try:
        return decode(body, source)
    except BodyError as exc:
        raise ParseError(source, exc.message) from None


def expect(value: Any, kind: type | tuple[type, ...], source: str, what: str) -> Any:
    """Require a payload's envelope to have the expected JSON type."""
    if not isinstance(value, kind):
        names = kind.__name__ if isinstance(kind, type) else " or ".join(k.__name__ for k in kind)
        shown = "nothing (it is missing)" if value is None else f"a JSON {json_type(value)}"
        raise ParseError(source, f"expected {what} to be a JSON {json_name(names)}, got {shown}")
    return value


def listed(payload: Any, source: str, field: str = "data") -> list[Any]:
    """The entries of a `{field: [...]}` response; anything else is a ParseError."""
    return expect(obj(payload).get(field), list, source, f"the '{field}' field of the response")


def entry_id(entry: Any, index: int, source: str, field: str = "id") -> tuple[str, str]:
    """An entry's key for messages (its id, else its position) and its required id."""
    key = str(obj(entry).get(field) or f"#{index}")
    return key, required(entry, field, source, key)


# Builds one entry's offering(s) from the entry, its key for messages and its required id.
EntryBuilder = Callable[[ParseContext, Any, str, Any], Offering | list[Offering] | None]


def parse_entries(entries: Sequence[Any], ctx: ParseContext, source: str, build: EntryBuilder,
                  *, id_field: str = "id") -> list[Offering]:
    """The offerings of a JSON array of entries, each with an id (`id_field`): `build(ctx,
    entry, key, model_id)` each, an entry without its id or that `build` cannot normalize
    rejected with its reason."""
    def attempt(entry: Any, index: int) -> Offering | list[Offering] | None:
        key, model_id = entry_id(entry, index, source, id_field)
        return build(ctx, entry, key, model_id)

    return ctx.listed(entries, attempt, id_field=id_field)


def parse_listing(payload: Any, ctx: ParseContext, source: str, build: EntryBuilder, *,
                  field: str = "data", id_field: str = "id") -> list[Offering]:
    """The offerings of a `{field: [entry]}` response (`parse_entries` of its array)."""
    return parse_entries(listed(payload, source, field), ctx, source, build, id_field=id_field)


def required(entry: Mapping[str, Any], name: str, source: str, key: str) -> Any:
    """A field every entry must carry; a missing or null one fails the sync with its name."""
    if not isinstance(entry, Mapping):
        raise ParseError(source, f"expected an object, got a JSON {json_type(entry)}", entry=key)
    value = entry.get(name)
    if value is None or value == "":
        raise ParseError(source, "required field is missing", entry=key, field=name)
    return value


def price(value: Any, unit: int, source: str, key: str, name: str, flags: set[str]):
    """A price in USD per 1M tokens; a negative one is recorded as `variable_price`."""
    try:
        amount, variable = price_per_million(value, unit)
    except PriceError as exc:
        raise ParseError(source, str(exc), entry=key, field=name) from None
    if variable:
        flags.add("variable_price")
    return amount


def price_set(values: Mapping[str, Any], fields: Iterable[tuple[str, str]], unit: int,
           source: str, key: str, flags: set[str], prefix: str = "") -> dict[str, Any]:
    """Contract prices from `(column, published field)` pairs, named `prefix + field` in errors."""
    return {column: price(values.get(field), unit, source, key, f"{prefix}{field}", flags)
            for column, field in fields}


def components(ctx: ParseContext, key: str, sheet: PriceSheet) -> list[Price] | None:
    """An entry's price components; the prices it could not map are set aside in
    `ctx.rejected_prices` with their reasons (the entry itself is kept)."""
    rows = sheet.rows()
    ctx.rejected_prices.extend(Rejection(key, f"field {name!r}: {reason}", name, excerpt(value))
                               for name, reason, value in sheet.rejected)
    return rows


def integer(value: Any) -> int | None:
    """A token count; tolerates numbers published as text or with a trailing `.0`."""
    if value is None or isinstance(value, bool):
        return None
    if type(value) is int:  # the common case, without a Decimal
        return value if value > 0 else None
    try:
        number = Decimal(str(value).strip())
    except ArithmeticError:
        return None
    if not number.is_finite() or number <= 0 or number != number.to_integral_value():
        return None
    return int(number)


def boolean(value: Any) -> bool | None:
    return value if isinstance(value, bool) else None


def text(value: Any) -> str | None:
    if value is None:
        return None
    value = str(value).strip()
    return value or None


def day(value: Any) -> str | None:
    """A date as YYYY-MM-DD from a date or datetime string; other text is dropped."""
    value = text(value)
    if value and len(value) >= 10 and value[4] == "-" and value[7] == "-":
        return value[:10]
    return None


def unix_time(value: Any) -> datetime | None:
    number = integer(value)
    return datetime.fromtimestamp(number, tz=UTC) if number else None


def strings(value: Any) -> list[str] | None:
    if not isinstance(value, list | tuple):
        return None
    return _shared_list(sorted({str(v).strip().lower() for v in value
                                if v is not None and str(v).strip()}))


# Equal lists (modalities, parameters) are one list, shared by every entry that gives them; nothing
# changes a parsed list.
_shared_list = remembered(lambda words: words, key=tuple)


def org_of(model_id: str, default: str | None = None) -> str | None:
    """The organization an `org/model` id starts with (who made the model); else `default`."""
    return model_id.split("/", 1)[0] if "/" in model_id else default


def model_offering(ctx: ParseContext, source_provider: str, model_id: str,
                   **values: Any) -> Offering:
    """The offering of a provider's own listing, one entry per model: keyed by its model id."""
    return offering(ctx, source_key=model_id, source_provider=source_provider, model_id=model_id,
                    **values)


_COLUMNS = frozenset(OFFERING_COLUMNS)


def offering(ctx: ParseContext, *, source_key: str, source_provider: str, model_id: str,
             flags: Iterable[str] = (), **values: Any) -> Offering:
    """Build one normalized offering with every contract column present (no null `extra` keys)."""
    row: dict[str, Any] = dict.fromkeys(OFFERING_COLUMNS)
    row.update(values)
    unknown = values.keys() - _COLUMNS
    if unknown:
        raise TypeError(f"not contract fields: {sorted(unknown)}")
    row["source"] = ctx.source
    row["source_key"] = source_key
    row["source_provider"] = source_provider
    row["provider"] = canonical_provider(source_provider)
    row["model_id"] = model_id
    row["price_flags"] = sorted(set(flags)) or None
    row["fetched_at"] = ctx.fetched_at
    extra = row.get("extra") or {}
    row["extra"] = {k: v for k, v in extra.items() if v is not None} or None  # no null keys
    return cast(Offering, row)  # every OFFERING_COLUMNS key, and no other
