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
from typing import Any

__all__ = [
    "ISO_MINOR_UNITS",
    "STRIPE_THREE_DECIMAL",
    "STRIPE_WHOLE_UNITS_ONLY",
    "STRIPE_ZERO_DECIMAL",
    "MoneyError",
    "as_decimal",
    "format_amount",
    "from_stripe_minor_units",
    "iso_minor_units",
    "quantize_for_erp",
    "stripe_exponent",
    "to_stripe_minor_units",
]

# ISO 4217 Table A.1 (current currency and funds code list, published by the SIX Group as ISO's
# maintenance agency, https://www.six-group.com/en/products-services/financial-information/
# data-standards.html): every current code whose minor unit is not 2. Codes not listed here have
# two decimals (funds and metals without a minor unit, such as XAU or XDR, are not ERP invoice
# currencies and fall back to two as well). Contract oracle_fusion_netsuite.md A7: Fusion currency
# codes are ISO 4217.
ISO_MINOR_UNITS: Mapping[str, int] = {
    # no minor unit
    "BIF": 0,
    "CLP": 0,
    "DJF": 0,
    "GNF": 0,
    "ISK": 0,
    "JPY": 0,
    "KMF": 0,
    "KRW": 0,
    "PYG": 0,
    "RWF": 0,
    "UGX": 0,
    "UYI": 0,
    "VND": 0,
    "VUV": 0,
    "XAF": 0,
    "XOF": 0,
    "XPF": 0,
    # thousandths
    "BHD": 3,
    "IQD": 3,
    "JOD": 3,
    "KWD": 3,
    "LYD": 3,
    "OMR": 3,
    "TND": 3,
    # ten-thousandths (units of account)
    "CLF": 4,
    "UYW": 4,
}

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

    :raises MoneyError: when the value is missing, not a number, infinite or NaN.
    """
    if value is None or isinstance(value, bool):
        raise MoneyError(f"{what} is missing")
    try:
        number = Decimal(repr(value)) if isinstance(value, float) else Decimal(str(value).strip())
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
