"""Exact money conversions between decimal amounts (ERP side) and Stripe's minor units.

Stripe takes every amount as an integer in the currency's smallest unit: cents for USD, yen for
JPY (a *zero-decimal* currency, 1 JPY is ``1``), and thousandths for the *three-decimal*
currencies, whose last digit Stripe requires to be ``0``. ERPs store decimals. Converting must
never round silently: an amount that does not fit the currency's minor unit is an error the
caller turns into a dead letter.

No floats anywhere: amounts are :class:`~decimal.Decimal` or strings of them.
"""

from __future__ import annotations

from decimal import Decimal, InvalidOperation
from typing import Any

# Stripe's list of zero-decimal currencies (docs.stripe.com/currencies#zero-decimal).
ZERO_DECIMAL = frozenset(
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
        "UGX",
        "VND",
        "VUV",
        "XAF",
        "XOF",
        "XPF",
    }
)
# Three-decimal currencies: amounts in thousandths, the last digit must be 0.
THREE_DECIMAL = frozenset({"BHD", "JOD", "KWD", "OMR", "TND"})


class MoneyError(ValueError):
    """An amount that cannot be represented exactly in the currency's minor unit."""


def currency_exponent(currency: str) -> int:
    """Number of decimals of ``currency`` in Stripe's minor unit (0, 2 or 3)."""
    code = currency.upper()
    if code in ZERO_DECIMAL:
        return 0
    if code in THREE_DECIMAL:
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


def to_minor_units(amount: Any, currency: str, *, what: str = "amount") -> int:
    """Convert a decimal amount to an integer in ``currency``'s minor unit, exactly.

    ``to_minor_units("12.34", "usd") == 1234``, ``to_minor_units("1500", "JPY") == 1500``.

    :raises MoneyError: when the amount has more decimals than the currency allows (``"12.345"``
        USD, ``"10.5"`` JPY), or, for a three-decimal currency, a non-zero last digit.
    """
    number = as_decimal(amount, what=what)
    exponent = currency_exponent(currency)
    scaled = number.scaleb(exponent)
    if scaled != scaled.to_integral_value():
        raise MoneyError(f"{what} {number} has more decimals than {currency.upper()} allows ({exponent})")
    minor = int(scaled)
    if exponent == 3 and minor % 10:
        raise MoneyError(
            f"{what} {number} {currency.upper()}: Stripe requires three-decimal amounts to end in 0"
        )
    return minor


def from_minor_units(amount: int, currency: str) -> Decimal:
    """Convert Stripe minor units to a decimal amount with the currency's exponent.

    ``from_minor_units(1234, "usd") == Decimal("12.34")``; ``from_minor_units(1500, "jpy") ==
    Decimal("1500")``.
    """
    exponent = currency_exponent(currency)
    return Decimal(int(amount)).scaleb(-exponent).quantize(Decimal(1).scaleb(-exponent))


def format_amount(amount: Decimal) -> str:
    """A plain decimal string, never in exponent notation (``Decimal("1E+3")`` → ``"1000"``)."""
    return f"{amount:f}"
