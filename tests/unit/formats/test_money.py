from __future__ import annotations

import re
from decimal import Decimal

import pytest

from ml_connector_provider.formats.money import (
    MoneyError,
    as_decimal,
    currency_exponent,
    format_amount,
    from_minor_units,
    to_minor_units,
)


@pytest.mark.parametrize(
    ("amount", "currency", "minor"),
    [
        ("12.34", "usd", 1234),
        (12.34, "USD", 1234),
        ("0.1", "eur", 10),
        (0.1, "eur", 10),
        ("1500", "jpy", 1500),
        (1500, "JPY", 1500),
        ("-5.00", "usd", -500),
        ("1.230", "kwd", 1230),
        ("99999999.99", "usd", 9999999999),
    ],
)
def test_to_minor_units_is_exact(amount: object, currency: str, minor: int) -> None:
    assert to_minor_units(amount, currency) == minor


@pytest.mark.parametrize(
    ("amount", "currency", "message"),
    [
        ("12.345", "usd", "more decimals than USD allows (2)"),
        ("10.5", "jpy", "more decimals than JPY allows (0)"),
        ("1.234", "kwd", "end in 0"),
        ("abc", "usd", "is not a number"),
        (None, "usd", "is missing"),
        ("NaN", "usd", "not a finite number"),
    ],
)
def test_to_minor_units_refuses_what_does_not_fit(amount: object, currency: str, message: str) -> None:
    with pytest.raises(MoneyError, match=re.escape(message)):
        to_minor_units(amount, currency, what="line 1 amount")


def test_from_minor_units_round_trips_with_the_currency_exponent() -> None:
    assert from_minor_units(1234, "usd") == Decimal("12.34")
    assert str(from_minor_units(1500, "jpy")) == "1500"
    assert str(from_minor_units(1230, "kwd")) == "1.230"
    assert format_amount(from_minor_units(100000, "usd")) == "1000.00"
    for minor in (-101, 0, 1, 99, 123456789):
        assert to_minor_units(from_minor_units(minor, "usd"), "usd") == minor


def test_exponents_and_decimal_parsing() -> None:
    assert [currency_exponent(c) for c in ("usd", "JPY", "krw", "bhd", "gbp")] == [2, 0, 0, 3, 2]
    assert as_decimal(" 7.50 ") == Decimal("7.50")
    assert format_amount(Decimal("1E+3")) == "1000"
    with pytest.raises(MoneyError):
        as_decimal(True)
