from __future__ import annotations

import re
from decimal import Decimal

import pytest

from ml_connector_provider.formats.money import (
    ISO_4217,
    ISO_4217_WITHDRAWN,
    ISO_CURRENCY_CODES,
    ISO_MINOR_UNITS,
    STRIPE_THREE_DECIMAL,
    STRIPE_ZERO_DECIMAL,
    MoneyError,
    as_decimal,
    format_amount,
    from_stripe_minor_units,
    iso_currency,
    iso_minor_units,
    quantize_for_erp,
    stripe_exponent,
    to_stripe_minor_units,
)

# -- Stripe -----------------------------------------------------------------------------------------


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
        ("5", "isk", 500),
        ("1200", "ugx", 120000),
        ("10.55", "huf", 1055),
        ("10.55", "twd", 1055),
        ("1500", "mga", 1500),
        ("1.25", "iqd", 125),
    ],
)
def test_to_stripe_minor_units_is_exact(amount: object, currency: str, minor: int) -> None:
    assert to_stripe_minor_units(amount, currency) == minor


@pytest.mark.parametrize(
    ("amount", "currency", "message"),
    [
        ("12.345", "usd", "more decimals than USD allows (2)"),
        ("10.5", "jpy", "more decimals than JPY allows (0)"),
        ("1.234", "kwd", "end in 0"),
        ("10.50", "isk", "Stripe only accepts whole ISK amounts"),
        ("0.01", "ugx", "Stripe only accepts whole UGX amounts"),
        ("1500.5", "mga", "more decimals than MGA allows (0)"),
        ("1.255", "iqd", "more decimals than IQD allows (2)"),
        ("abc", "usd", "is not a number"),
        (None, "usd", "is missing"),
        ("NaN", "usd", "not a finite number"),
    ],
)
def test_to_stripe_minor_units_refuses_what_does_not_fit(amount: object, currency: str, message: str) -> None:
    with pytest.raises(MoneyError, match=re.escape(message)):
        to_stripe_minor_units(amount, currency, what="line 1 amount")


def test_from_stripe_minor_units_round_trips_with_stripes_exponent() -> None:
    assert from_stripe_minor_units(1234, "usd") == Decimal("12.34")
    assert str(from_stripe_minor_units(1500, "jpy")) == "1500"
    assert str(from_stripe_minor_units(1230, "kwd")) == "1.230"
    assert str(from_stripe_minor_units(500, "isk")) == "5.00"
    assert str(from_stripe_minor_units(1500, "mga")) == "1500"
    assert format_amount(from_stripe_minor_units(100000, "usd")) == "1000.00"
    for minor in (-101, 0, 1, 99, 123456789):
        assert to_stripe_minor_units(from_stripe_minor_units(minor, "usd"), "usd") == minor


def test_stripe_exponents_including_the_special_cases() -> None:
    codes = ("usd", "JPY", "krw", "bhd", "gbp", "isk", "ugx", "huf", "twd", "mga", "iqd", "lyd")
    assert [stripe_exponent(c) for c in codes] == [2, 0, 0, 3, 2, 2, 2, 2, 2, 0, 2, 2]


# -- ERPs (ISO 4217) ------------------------------------------------------------------------------


def test_iso_minor_units_cover_every_current_code_without_two_decimals() -> None:
    no_decimals = "BIF CLP DJF GNF ISK JPY KMF KRW PYG RWF UGX UYI VND VUV XAF XOF XPF"
    assert {code for code, places in ISO_MINOR_UNITS.items() if places == 0} == set(no_decimals.split(" "))
    three_decimals = "BHD IQD JOD KWD LYD OMR TND"
    assert {code for code, places in ISO_MINOR_UNITS.items() if places == 3} == set(three_decimals.split(" "))
    assert {code for code, places in ISO_MINOR_UNITS.items() if places == 4} == {"CLF", "UYW"}
    assert [iso_minor_units(c) for c in ("usd", "isk", "iqd", "clf", "huf", "mga", "XYZ")] == [
        2,
        0,
        3,
        4,
        2,
        2,
        2,
    ]


def test_the_two_tables_differ_where_stripe_says_they_do() -> None:
    differ = {
        code
        for code in {*ISO_MINOR_UNITS, *STRIPE_ZERO_DECIMAL, *STRIPE_THREE_DECIMAL}
        if iso_minor_units(code) != stripe_exponent(code)
    }
    assert differ == {"ISK", "UGX", "UYI", "MGA", "IQD", "LYD", "CLF", "UYW"}


@pytest.mark.parametrize(
    ("amount", "currency", "booked"),
    [
        ("10.5", "USD", "10.50"),
        (Decimal("1000.00"), "ISK", "1000"),
        ("-75", "ISK", "-75"),
        ("1.25", "IQD", "1.250"),
        ("1.250", "IQD", "1.250"),
        ("2.5", "CLF", "2.5000"),
        ("1500", "MGA", "1500.00"),
    ],
)
def test_quantize_for_erp_writes_the_iso_decimals(amount: object, currency: str, booked: str) -> None:
    assert format_amount(quantize_for_erp(amount, currency)) == booked


@pytest.mark.parametrize(
    ("amount", "currency", "message"),
    [
        ("10.50", "ISK", "fee 10.50 has more decimals than ISK allows (0)"),
        ("1.2345", "IQD", "fee 1.2345 has more decimals than IQD allows (3)"),
        ("12.345", "usd", "fee 12.345 has more decimals than USD allows (2)"),
        ("x", "USD", "fee 'x' is not a number"),
    ],
)
def test_quantize_for_erp_never_rounds(amount: object, currency: str, message: str) -> None:
    with pytest.raises(MoneyError, match=re.escape(message)):
        quantize_for_erp(amount, currency, what="fee")


def test_decimal_parsing_and_formatting() -> None:
    assert as_decimal(" 7.50 ") == Decimal("7.50")
    assert format_amount(Decimal("1E+3")) == "1000"
    with pytest.raises(MoneyError):
        as_decimal(True)


# -- ISO 4217 codes ---------------------------------------------------------------------------------


def test_the_iso_table_is_the_one_source_of_the_minor_units() -> None:
    assert {code for code, units in ISO_4217.items() if units not in (None, 2)} == set(ISO_MINOR_UNITS)
    assert all(ISO_4217[code] == units for code, units in ISO_MINOR_UNITS.items())
    assert {code for code, units in ISO_4217.items() if units is not None} == ISO_CURRENCY_CODES
    assert not set(ISO_4217) & set(ISO_4217_WITHDRAWN)
    assert all(
        len(code) == 3 and code.isascii() and code.isupper() for code in (*ISO_4217, *ISO_4217_WITHDRAWN)
    )
    # Table A.1 as in force from January 2026: 178 codes, of which 13 have no minor unit.
    assert (len(ISO_4217), len(ISO_4217) - len(ISO_CURRENCY_CODES)) == (178, 13)
    assert {"XCG", "ZWG", "SLE", "VED", "XAD"} <= ISO_CURRENCY_CODES


@pytest.mark.parametrize("code", ["USD", "usd", "Eur", "JPY", "KWD", "CLF", "XCG", "ZWG", "SLE", "CHE"])
def test_iso_currency_accepts_current_codes_in_any_case(code: str) -> None:
    assert iso_currency(code) == code.upper()


@pytest.mark.parametrize(
    ("code", "message"),
    [
        ("XXQ", "'XXQ' is not an ISO 4217 currency code (e.g. USD, EUR, GBP)"),
        ("abc", "'abc' is not an ISO 4217 currency code (e.g. USD, EUR, GBP)"),
        ("BGN", "'BGN' is no longer an ISO 4217 currency (withdrawn 2026-01, replaced by EUR)"),
        ("ang", "'ang' is no longer an ISO 4217 currency (withdrawn 2025-03, replaced by XCG)"),
        ("HRK", "'HRK' is no longer an ISO 4217 currency (withdrawn 2023-01, replaced by EUR)"),
        ("XAU", "'XAU' is an ISO 4217 code without a minor unit"),
        ("XTS", "'XTS' is an ISO 4217 code without a minor unit"),
        ("XXX", "'XXX' is an ISO 4217 code without a minor unit"),
        ("US", "'US' is not a currency code (expected three letters, e.g. USD)"),
        ("US1", "'US1' is not a currency code"),
        ("ＵＳＤ", "'ＵＳＤ' is not a currency code"),
        ("USD ", "'USD ' is not a currency code"),
    ],
)
def test_iso_currency_refuses_what_is_not_a_current_currency(code: str, message: str) -> None:
    with pytest.raises(MoneyError) as refused:
        iso_currency(code)
    assert str(refused.value).startswith(message)


def test_stripe_keeps_its_own_list() -> None:
    # Stripe's exponents do not depend on ISO's list: a code Stripe knows that ISO no longer has
    # (or never had) still converts as before.
    assert to_stripe_minor_units("12.34", "hrk") == 1234
    assert stripe_exponent("MGA") == 0


@pytest.mark.parametrize(
    ("value", "message"),
    [
        ("١٢٣.٤٥", "amount '١٢٣.٤٥' is not a number: only the digits 0-9 are accepted "
         "(found U+0661 ARABIC-INDIC DIGIT ONE at position 1)"),
        ("12.５0", "amount '12.５0' is not a number: only the digits 0-9 are accepted "
         "(found U+FF15 FULLWIDTH DIGIT FIVE at position 4)"),
        ("1_000", "amount '1_000' is not a number"),
    ],
)  # fmt: skip
def test_as_decimal_reads_the_digits_0_to_9_only(value: str, message: str) -> None:
    with pytest.raises(MoneyError) as refused:
        as_decimal(value)
    assert str(refused.value) == message
    with pytest.raises(MoneyError):
        quantize_for_erp(value, "USD")
