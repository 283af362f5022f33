from decimal import Decimal

import pytest

from model_sync.catalog.money import (
    PER_MILLION,
    PER_TOKEN,
    PriceError,
    format_decimal,
    price_per_million,
    to_decimal,
)


@pytest.mark.parametrize(
    ("published", "unit", "expected"),
    [
        ("0.0000025", PER_TOKEN, "2.5"),
        ("0.0000000208333333333333", PER_TOKEN, "0.0208333333333333"),
        (Decimal("2.5e-06"), PER_TOKEN, "2.5"),  # a JSON number parsed with parse_float=Decimal
        (2.5e-06, PER_TOKEN, "2.5"),  # even a binary float goes through its shortest text
        ("0.000015", PER_TOKEN, "15"),
        (3, PER_MILLION, "3"),
        ("0", PER_TOKEN, "0"),
        (Decimal("0.49299999999999994"), PER_MILLION, "0.493"),  # publisher's float artifact
        (Decimal("0.020000000000000004"), PER_MILLION, "0.02"),
    ],
)
def test_prices_convert_exactly(published, unit, expected):
    value, variable = price_per_million(published, unit)
    assert not variable
    assert value == Decimal(expected)
    assert format_decimal(value) == expected


def test_negative_price_is_variable_and_null():
    assert price_per_million("-1", PER_TOKEN) == (None, True)
    assert price_per_million(Decimal("-0.5"), PER_MILLION) == (None, True)


def test_missing_price_is_null_not_zero():
    assert price_per_million(None, PER_TOKEN) == (None, False)
    assert price_per_million("", PER_TOKEN) == (None, False)


@pytest.mark.parametrize("bad", ["free", True, "NaN", "Infinity", [1]])
def test_non_numbers_are_rejected(bad):
    with pytest.raises(PriceError):
        to_decimal(bad)


def test_fifteen_significant_digits_are_kept_verbatim():
    assert to_decimal("123456789.012345") == Decimal("123456789.012345")
    assert format_decimal(Decimal("1E+2")) == "100"
