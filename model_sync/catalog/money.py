"""Exact prices: every price is a `Decimal` in USD per 1M tokens, never a binary float.

Sources publish numbers either as JSON numbers or as decimal strings. JSON is parsed with
`parse_float=Decimal`, so `2.5e-06` arrives as exactly `Decimal("0.0000025")`.
"""

import json
import re
from collections.abc import Callable
from decimal import ROUND_HALF_EVEN, Decimal, InvalidOperation
from functools import lru_cache
from json.encoder import (  # type: ignore[attr-defined]
    c_make_encoder,
    encode_basestring,
    encode_basestring_ascii,
)
from typing import Any

from model_sync.memo import remembered

# A binary double holds 15 significant decimal digits exactly; longer literals such as
# 0.49299999999999994 are float artifacts of the publisher's own arithmetic, so they are
# rounded back to 15 significant digits. Any value published with 15 digits or fewer is
# kept as it is, digit for digit.
SIGNIFICANT_DIGITS = 15

# Units the sources publish prices in, as powers of ten relative to USD per 1M tokens.
PER_TOKEN = 6  # USD per token: multiply by 10**6
PER_MILLION = 0  # USD per 1M tokens: as published
CENTS_PER_100M = -4  # US cents per 100M tokens (xAI): 1 cent / 100M = 10**-4 USD per 1M
TEN_THOUSANDTHS_PER_MILLION = -4  # 1/10,000 USD per 1M tokens (Novita): 3900 = 0.39 USD


def per_token_scaled(scale: int) -> int:
    """The unit of `amount * 10**-scale` USD per token (NEAR AI), relative to USD per 1M."""
    return PER_TOKEN - scale


class PriceError(ValueError):
    """A published price that is not a number."""


def to_decimal(value: object) -> Decimal | None:
    """Turn a published number (JSON number, decimal string or int) into an exact Decimal.

    Returns None for null or an empty string; raises PriceError for anything that is not a
    finite number (booleans, words, NaN).
    """
    if value is None:
        return None
    if isinstance(value, str):
        return _from_text(value)
    if isinstance(value, bool):
        raise PriceError(f"expected a number, got {value!r}")
    if isinstance(value, Decimal):
        number = value
    elif isinstance(value, int):
        number = Decimal(value)
    elif isinstance(value, float):
        number = Decimal(repr(value))  # shortest round-tripping text, not the binary expansion
    else:
        raise PriceError(f"expected a number, got {type(value).__name__} {value!r}")
    if not number.is_finite():
        raise PriceError(f"expected a finite number, got {value!r}")
    return _clean(number)


@lru_cache(maxsize=1 << 16)  # prices published as text repeat: each is read once
def _from_text(value: str) -> Decimal | None:
    text = value.strip()
    if not text:
        return None
    try:
        number = Decimal(text)
    except InvalidOperation:
        raise PriceError(f"expected a number, got {value!r}") from None
    if not number.is_finite():
        raise PriceError(f"expected a finite number, got {value!r}")
    return _clean(number)


@lru_cache(maxsize=1 << 16)  # prices repeat: equal values clean to the same digits
def _clean(number: Decimal) -> Decimal:
    if number.is_zero():
        return Decimal(0)
    digits = len(number.normalize().as_tuple().digits)
    if digits > SIGNIFICANT_DIGITS:
        exponent = number.adjusted() - SIGNIFICANT_DIGITS + 1
        number = number.quantize(Decimal(1).scaleb(exponent), rounding=ROUND_HALF_EVEN)
    return number.normalize()


def price_per_million(value: object, unit: int) -> tuple[Decimal | None, bool]:
    """Convert a published price to USD per 1M tokens.

    `unit` is the power of ten that takes the published unit to per-1M (PER_TOKEN, ...).
    Returns `(price, variable)`: a negative price (OpenRouter's "-1") means the source has
    no fixed price, so it becomes `(None, True)` and is never stored as a negative number.
    """
    if isinstance(value, str):  # published as text: the same few prices on many rows
        return _text_per_million(value, unit)
    return _per_million(to_decimal(value), unit)


@lru_cache(maxsize=1 << 16)
def _text_per_million(value: str, unit: int) -> tuple[Decimal | None, bool]:
    return _per_million(_from_text(value), unit)


def _per_million(number: Decimal | None, unit: int) -> tuple[Decimal | None, bool]:
    if number is None:
        return None, False
    if number < 0:
        return None, True
    return _clean(number.scaleb(unit)), False


def format_decimal(value: Decimal | None) -> str | None:
    """Render a Decimal as plain positional text (`2.5`, `0.0208333333333333`), or None."""
    if value is None:
        return None
    if type(value) is Decimal:  # equal decimals print alike: prices repeat, each is done once
        return _formatted(value)
    return _positional(value)


def _positional(value: Decimal) -> str:
    text = format(value.normalize(), "f")
    return "0" if text in ("-0", "0") else text


_formatted = remembered(_positional)


_MARKED = re.compile(r'"\\u0000dec:(-?[0-9.]+)"')


def exact_json(value: Any, **options: Any) -> str:
    """JSON text in which every Decimal is an exact number literal (`0.0208333333333333`, not
    a string and never a binary float). Read it back with `json.loads(..., parse_float=Decimal)`.
    """
    key = tuple(options.items())
    encode = _ENCODERS.get(key)
    if encode is None:  # as json.dumps builds it, once per set of options, not per call
        encode = _ENCODERS[key] = json_encoder(default=_mark, **options)
    text = encode(value)
    return _MARKED.sub(_number, text) if "\\u0000dec:" in text else text


_ENCODERS: dict[tuple, Callable[[Any], str]] = {}


def json_encoder(**options: Any) -> Callable[[Any], str]:
    """`json.JSONEncoder(**options).encode`, the same text; without the circular-reference
    check (`check_circular=False`) the C encoder is built once, not on every call (most of the
    cost of encoding a small value)."""
    encoder = json.JSONEncoder(**options)
    if encoder.check_circular or encoder.indent is not None or c_make_encoder is None:
        return encoder.encode
    run = c_make_encoder(None, encoder.default, encode_basestring_ascii if encoder.ensure_ascii
                         else encode_basestring, None, encoder.key_separator,
                         encoder.item_separator, encoder.sort_keys, encoder.skipkeys,
                         encoder.allow_nan)
    return lambda value: "".join(run(value, 0))


def _number(match: re.Match) -> str:
    return match.group(1)


def _mark(value: Any) -> Any:
    if isinstance(value, Decimal):
        return f"\u0000dec:{format_decimal(value)}"
    if hasattr(value, "isoformat"):
        return value.isoformat()
    raise TypeError(f"cannot encode {type(value).__name__}")
