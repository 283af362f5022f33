import json
from decimal import Decimal

import pytest

from model_sync.catalog.money import (
    PER_MILLION,
    PER_TOKEN,
    PriceError,
    exact_json,
    format_decimal,
    json_encoder,
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


def test_a_price_read_again_reads_the_same_and_a_bad_one_stays_bad():
    for _ in range(2):  # the second time from what the first one remembered
        assert price_per_million(" 0.0000025 ", PER_TOKEN) == (Decimal("2.5"), False)
        assert price_per_million("-1", PER_TOKEN) == (None, True)
        with pytest.raises(PriceError, match="expected a number, got 'free'"):
            price_per_million("free", PER_TOKEN)
        with pytest.raises(PriceError, match="finite"):
            to_decimal("NaN")


def test_equal_decimals_print_alike_whatever_their_exponent():
    assert [format_decimal(Decimal(t)) for t in ("10", "1E+1", "10.00", "0", "-0.00")] == [
        "10", "10", "10", "0", "0"]


@pytest.mark.parametrize("options", [
    {"sort_keys": True, "default": str, "check_circular": False},
    {"separators": (",", ":"), "check_circular": False},
    {"ensure_ascii": False, "check_circular": False},
    {"indent": 1},
])
def test_a_built_encoder_writes_what_json_dumps_writes(options):
    value = {"b": [1, 2.5, None, True, {"z": "é", "a": Decimal("1E+1")}], "a": "日本",
             "c": {"y": [], "x": {}}}
    options = {**options, "default": options.get("default", str)}
    encode = json_encoder(**options)
    assert encode(value) == encode(value) == json.dumps(value, **options)


def test_exact_json_keeps_decimals_exact_numbers():
    value = [{"price": Decimal("1E+1"), "unit": "1M tokens"}, {"price": Decimal("0.0000001")}]
    assert exact_json(value, separators=(",", ":"), check_circular=False) == (
        '[{"price":10,"unit":"1M tokens"},{"price":0.0000001}]')
    assert exact_json({"b": 1, "a": Decimal("2.50")}, sort_keys=True) == '{"a": 2.5, "b": 1}'
