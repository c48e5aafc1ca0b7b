"""Exact money handling, with the decimal places of the system an amount is written to.

Two tables, kept apart on purpose because they disagree:

* **ISO 4217 minor units** (:func:`iso_minor_units`): the decimals an ERP books. Oracle Fusion (GL
  journals through FBDI, AP invoices) and NetSuite follow ISO 4217, so an ISK or a JPY amount has no
  decimals, and a KWD or an IQD amount three. :func:`quantize_for_erp` checks and scales an amount
  for them.
* **Stripe's exponents** (:func:`stripe_exponent`): Stripe takes every amount as an integer in the
  currency's smallest unit, and its own list differs from ISO 4217: ISK and UGX are zero-decimal in
  ISO but two-decimal in Stripe's API (whole amounts only: 5 ISK is ``500``); MGA has two ISO
  decimals but none in Stripe; IQD and LYD have three ISO decimals but are not three-decimal in
  Stripe. :func:`to_stripe_minor_units` and :func:`from_stripe_minor_units` convert with it.

Converting never rounds silently: an amount that does not fit the target's unit is a
:class:`MoneyError`, which callers turn into a dead letter. No floats anywhere: amounts are
:class:`~decimal.Decimal` or strings of them.
"""

from __future__ import annotations

from collections.abc import Mapping
from decimal import Decimal, InvalidOperation
from types import MappingProxyType
from typing import Any

from ml_connector_provider.formats.text import char_name, foreign_digit

__all__ = [
    "ISO_4217",
    "ISO_4217_WITHDRAWN",
    "ISO_CURRENCY_CODES",
    "ISO_MINOR_UNITS",
    "STRIPE_THREE_DECIMAL",
    "STRIPE_WHOLE_UNITS_ONLY",
    "STRIPE_ZERO_DECIMAL",
    "MoneyError",
    "as_decimal",
    "format_amount",
    "from_stripe_minor_units",
    "iso_currency",
    "iso_minor_units",
    "quantize_for_erp",
    "stripe_exponent",
    "to_stripe_minor_units",
]

# ISO 4217 Table A.1, the current currency and funds code list published by the SIX Group as ISO's
# maintenance agency (https://www.six-group.com/en/products-services/financial-information/
# data-standards.html, list-one.xml), as in force from January 2026 (BGN withdrawn as Bulgaria
# adopted the euro; XCG replaced ANG in March 2025; ZWG replaced ZWL in September 2024). Contract
# oracle_fusion_netsuite.md A7: Fusion currency codes are ISO 4217. This is the one list of ISO
# codes in the provider: ISO_MINOR_UNITS and ISO_CURRENCY_CODES are derived from it.
_ISO_4217_TABLE: dict[int | None, tuple[str, ...]] = {
    2: (
        "AED", "AFN", "ALL", "AMD", "AOA", "ARS", "AUD", "AWG", "AZN", "BAM", "BBD", "BDT", "BMD",
        "BND", "BOB", "BOV", "BRL", "BSD", "BTN", "BWP", "BYN", "BZD", "CAD", "CDF", "CHE", "CHF",
        "CHW", "CNY", "COP", "COU", "CRC", "CUP", "CVE", "CZK", "DKK", "DOP", "DZD", "EGP", "ERN",
        "ETB", "EUR", "FJD", "FKP", "GBP", "GEL", "GHS", "GIP", "GMD", "GTQ", "GYD", "HKD", "HNL",
        "HTG", "HUF", "IDR", "ILS", "INR", "IRR", "JMD", "KES", "KGS", "KHR", "KPW", "KYD", "KZT",
        "LAK", "LBP", "LKR", "LRD", "LSL", "MAD", "MDL", "MGA", "MKD", "MMK", "MNT", "MOP", "MRU",
        "MUR", "MVR", "MWK", "MXN", "MXV", "MYR", "MZN", "NAD", "NGN", "NIO", "NOK", "NPR", "NZD",
        "PAB", "PEN", "PGK", "PHP", "PKR", "PLN", "QAR", "RON", "RSD", "RUB", "SAR", "SBD", "SCR",
        "SDG", "SEK", "SGD", "SHP", "SLE", "SOS", "SRD", "SSP", "STN", "SVC", "SYP", "SZL", "THB",
        "TJS", "TMT", "TOP", "TRY", "TTD", "TWD", "TZS", "UAH", "USD", "USN", "UYU", "UZS", "VED",
        "VES", "WST", "XAD", "XCD", "XCG", "YER", "ZAR", "ZMW", "ZWG",
    ),
    # no minor unit
    0: (
        "BIF", "CLP", "DJF", "GNF", "ISK", "JPY", "KMF", "KRW", "PYG", "RWF", "UGX", "UYI", "VND",
        "VUV", "XAF", "XOF", "XPF",
    ),
    # thousandths
    3: ("BHD", "IQD", "JOD", "KWD", "LYD", "OMR", "TND"),
    # ten-thousandths (units of account)
    4: ("CLF", "UYW"),
    # "N.A.": precious metals, bond market units, SDR, Sucre, ADB unit, and the codes reserved
    # for testing (XTS) and for "no currency" (XXX). Current codes, but no invoice is in them.
    None: (
        "XAG", "XAU", "XBA", "XBB", "XBC", "XBD", "XDR", "XPD", "XPT", "XSU", "XTS", "XUA", "XXX",
    ),
}  # fmt: skip

ISO_4217: Mapping[str, int | None] = MappingProxyType(
    {code: units for units, codes in _ISO_4217_TABLE.items() for code in codes}
)
"""Every current ISO 4217 code (Table A.1) → its minor unit; ``None`` for codes without one."""

ISO_CURRENCY_CODES = frozenset(code for code, units in ISO_4217.items() if units is not None)
"""The current ISO 4217 codes an amount can be in (the codes with a minor unit)."""

ISO_MINOR_UNITS: Mapping[str, int] = MappingProxyType(
    {code: units for code, units in ISO_4217.items() if units is not None and units != 2}
)
"""Every current code whose minor unit is not 2 (Fusion and NetSuite book these decimals)."""

# ISO 4217 Table A.3 (historic denominations): codes withdrawn in the last two decades that an
# export may still carry, with the month of withdrawal and the code that replaced them.
ISO_4217_WITHDRAWN: Mapping[str, str] = MappingProxyType(
    {
        "BGN": "2026-01, replaced by EUR",
        "ANG": "2025-03, replaced by XCG",
        "ZWL": "2024-09, replaced by ZWG",
        "SLL": "2023-12, replaced by SLE",
        "HRK": "2023-01, replaced by EUR",
        "CUC": "2021-06",
        "VEF": "2018-08, replaced by VES",
        "STD": "2017-12, replaced by STN",
        "MRO": "2017-12, replaced by MRU",
        "BYR": "2017-01, replaced by BYN",
        "LTL": "2014-12, replaced by EUR",
        "LVL": "2014-01, replaced by EUR",
        "ZMK": "2012-12, replaced by ZMW",
        "EEK": "2011-01, replaced by EUR",
        "SKK": "2009-01, replaced by EUR",
        "CYP": "2008-01, replaced by EUR",
        "MTL": "2008-01, replaced by EUR",
        "GHC": "2008-01, replaced by GHS",
    }
)
"""Recently withdrawn ISO 4217 codes → when, and what replaced them (for error messages)."""

# Stripe's currencies page (https://docs.stripe.com/currencies#zero-decimal; the list is also in
# contract stripe_salesforce.md A2): amounts are whole units, "1000" JPY is ¥1,000. UGX is on that
# list but is a special case (below), so it is left out here.
STRIPE_ZERO_DECIMAL = frozenset(
    {
        "BIF",
        "CLP",
        "DJF",
        "GNF",
        "JPY",
        "KMF",
        "KRW",
        "MGA",
        "PYG",
        "RWF",
        "VND",
        "VUV",
        "XAF",
        "XOF",
        "XPF",
    }
)
# https://docs.stripe.com/currencies#three-decimal (contract A2): amounts in thousandths whose last
# digit must be 0.
STRIPE_THREE_DECIMAL = frozenset({"BHD", "JOD", "KWD", "OMR", "TND"})
# https://docs.stripe.com/currencies#special-cases: ISK and UGX became zero-decimal, but for
# backwards compatibility Stripe's API keeps them two-decimal with the decimals always 00 ("to
# charge 5 UGX, provide an amount value of 500"); Stripe refuses other amounts ("Currency UGX has
# become effectively zero-decimal and charged amounts must be evenly divisible by 100"). The
# contract marks these rules UNCONFIRMED; the wording is Stripe's, as quoted by several payment
# libraries that fixed their UGX/ISK handling. HUF and TWD, the other special cases, are charged
# with two decimals (only their payouts must be whole units, and this provider creates no payouts).
STRIPE_WHOLE_UNITS_ONLY = frozenset({"ISK", "UGX"})


class MoneyError(ValueError):
    """An amount that cannot be represented exactly in the target's unit for its currency."""


def iso_minor_units(currency: str) -> int:
    """Decimal places of ``currency`` in ISO 4217 (0, 2, 3 or 4): what an ERP books.

    :param currency: a three-letter code, any case.
    """
    return ISO_MINOR_UNITS.get(currency.upper(), 2)


def iso_currency(code: str) -> str:
    """``code`` upper-cased when it is a current ISO 4217 currency an amount can be in.

    Only for currency codes read from an ERP's side (files, ERP records): Stripe's currencies are
    checked by Stripe against its own list, which this one does not replace.

    :param code: a code as read, any case (``"usd"``); not stripped.
    :raises MoneyError: when the code is not three ASCII letters, is not in ISO 4217's current list
        (the message says when a withdrawn code was withdrawn and what replaced it), or is a code
        without a minor unit (gold ``XAU``, the SDR ``XDR``, the testing code ``XTS``, ``XXX``…).
    """
    upper = code.upper()
    if len(code) != 3 or not code.isascii() or not code.isalpha():
        raise MoneyError(f"{code!r} is not a currency code (expected three letters, e.g. USD)")
    if upper in ISO_CURRENCY_CODES:
        return upper
    if upper in ISO_4217:
        raise MoneyError(
            f"'{code}' is an ISO 4217 code without a minor unit (a precious metal, a fund or a "
            "reserved code), not a currency an amount can be in"
        )
    if upper in ISO_4217_WITHDRAWN:
        raise MoneyError(
            f"'{code}' is no longer an ISO 4217 currency (withdrawn {ISO_4217_WITHDRAWN[upper]})"
        )
    raise MoneyError(f"'{code}' is not an ISO 4217 currency code (e.g. USD, EUR, GBP)")


def stripe_exponent(currency: str) -> int:
    """Decimal places of ``currency`` in Stripe's minor unit (0, 2 or 3): how Stripe amounts count.

    :param currency: a three-letter code, any case.
    """
    code = currency.upper()
    if code in STRIPE_ZERO_DECIMAL:
        return 0
    if code in STRIPE_THREE_DECIMAL:
        return 3
    return 2


def as_decimal(value: Any, *, what: str = "amount") -> Decimal:
    """Read an ERP amount (number or string) as an exact :class:`Decimal`.

    Floats go through their shortest ``repr`` (``0.1`` → ``Decimal("0.1")``), which is what the
    JSON the ERP sent said.

    :raises MoneyError: when the value is missing, not a number, infinite or NaN, or written with
        digits other than 0-9.
    """
    if value is None or isinstance(value, bool):
        raise MoneyError(f"{what} is missing")
    text = repr(value) if isinstance(value, float) else str(value).strip()
    # Decimal() reads any Unicode digit ("١٢٣", "１２") and "1_000": no ERP writes those.
    foreign = foreign_digit(text)
    if foreign is not None:
        raise MoneyError(
            f"{what} {value!r} is not a number: only the digits 0-9 are accepted "
            f"(found {char_name(foreign[1])} at position {foreign[0] + 1})"
        )
    if "_" in text:
        raise MoneyError(f"{what} {value!r} is not a number")
    try:
        number = Decimal(text)
    except InvalidOperation:
        raise MoneyError(f"{what} {value!r} is not a number") from None
    if not number.is_finite():
        raise MoneyError(f"{what} {value!r} is not a finite number")
    return number


def quantize_for_erp(amount: Any, currency: str, *, what: str = "amount") -> Decimal:
    """``amount`` with exactly the ISO 4217 decimals of ``currency``, for an ERP to book.

    ``quantize_for_erp("10.5", "USD") == Decimal("10.50")``, ``quantize_for_erp("1000.00", "ISK")
    == Decimal("1000")``, ``quantize_for_erp("1.25", "IQD") == Decimal("1.250")``.

    :param amount: a decimal amount (number or string, read with :func:`as_decimal`).
    :param currency: the amount's currency.
    :param what: names the amount in error messages.
    :raises MoneyError: the amount has more (non-zero) decimals than ISO 4217 gives the currency
        (``"10.50"`` ISK, ``"1.2345"`` IQD), or is not a finite number.
    """
    number = as_decimal(amount, what=what)
    places = iso_minor_units(currency)
    quantized = number.quantize(Decimal(1).scaleb(-places))
    if quantized != number:
        raise MoneyError(f"{what} {number} has more decimals than {currency.upper()} allows ({places})")
    return quantized


def to_stripe_minor_units(amount: Any, currency: str, *, what: str = "amount") -> int:
    """Convert a decimal amount to an integer in Stripe's minor unit for ``currency``, exactly.

    ``to_stripe_minor_units("12.34", "usd") == 1234``, ``to_stripe_minor_units("1500", "JPY") ==
    1500``, ``to_stripe_minor_units("5", "isk") == 500``.

    :raises MoneyError: when the amount has more decimals than Stripe allows (``"12.345"`` USD,
        ``"10.5"`` JPY), a fraction of a whole-unit currency (``"10.50"`` ISK), or, for a
        three-decimal currency, a non-zero last digit.
    """
    number = as_decimal(amount, what=what)
    code = currency.upper()
    exponent = stripe_exponent(code)
    scaled = number.scaleb(exponent)
    if scaled != scaled.to_integral_value():
        raise MoneyError(f"{what} {number} has more decimals than {code} allows ({exponent})")
    minor = int(scaled)
    if exponent == 3 and minor % 10:
        raise MoneyError(f"{what} {number} {code}: Stripe requires three-decimal amounts to end in 0")
    if code in STRIPE_WHOLE_UNITS_ONLY and minor % 100:
        raise MoneyError(f"{what} {number} {code}: Stripe only accepts whole {code} amounts")
    return minor


def from_stripe_minor_units(amount: int, currency: str) -> Decimal:
    """Convert a Stripe amount (minor units) to a decimal amount with Stripe's exponent.

    ``from_stripe_minor_units(1234, "usd") == Decimal("12.34")``; ``from_stripe_minor_units(1500,
    "jpy") == Decimal("1500")``; ``from_stripe_minor_units(500, "isk") == Decimal("5.00")`` (pass it
    through :func:`quantize_for_erp` before an ERP books it).
    """
    exponent = stripe_exponent(currency)
    return Decimal(int(amount)).scaleb(-exponent).quantize(Decimal(1).scaleb(-exponent))


def format_amount(amount: Decimal) -> str:
    """A plain decimal string, never in exponent notation (``Decimal("1E+3")`` → ``"1000"``)."""
    return f"{amount:f}"
