"""Stripe object shapes: ids, envelopes, the customer, currencies and fees (contract A2, A8; pure functions)."""

from __future__ import annotations

import random
import string
from collections.abc import Mapping, Sequence
from decimal import ROUND_HALF_UP, Decimal
from typing import Any, TypeVar, cast

__all__ = [
    "ADDRESS_FIELDS",
    "ID_PREFIXES",
    "THREE_DECIMAL_CURRENCIES",
    "ZERO_DECIMAL_CURRENCIES",
    "address_object",
    "clone",
    "clone_or_none",
    "currency_exponent",
    "customer_object",
    "decimal_string",
    "deleted_object",
    "format_amount",
    "list_envelope",
    "new_id",
    "round_half_up",
    "search_envelope",
    "stripe_fee",
]

_ID_ALPHABET = string.ascii_letters + string.digits
_ID_RANDOM = random.Random()  # seeded from os.urandom; ids need to be unique, not unguessable
_T = TypeVar("_T")

ID_PREFIXES: Mapping[str, str] = {
    "customer": "cus",
    "event": "evt",
    "request": "req",
    "invoice": "in",
    "invoiceitem": "ii",
    "line_item": "il",
    "payment_intent": "pi",
    "charge": "ch",
    "balance_transaction": "txn",
    "refund": "re",
    "subscription": "sub",
    "product": "prod",
    "price": "price",
    "invoice_payment": "inpay",
    "subscription_item": "si",
}
"""Id prefix of each object type (from the OpenAPI fixtures)."""

ADDRESS_FIELDS = ("city", "country", "line1", "line2", "postal_code", "state")


def new_id(prefix: str, length: int = 14) -> str:
    """A random Stripe-looking id, e.g. ``cus_QXg1o8vcGmoR32`` (62¹⁴ possibilities; not secret)."""
    return f"{prefix}_" + "".join(_ID_RANDOM.choices(_ID_ALPHABET, k=length))


def clone(value: _T) -> _T:
    """A deep copy of JSON-shaped data: dicts and lists are copied all the way down, every other
    value (strings, numbers, ``Decimal`` …) is immutable and shared.

    Stored Stripe objects are JSON-shaped, and this is several times faster than
    :func:`copy.deepcopy`, which the stand-in would otherwise spend most of its time in.
    """
    return cast("_T", _clone(value))


def clone_or_none(value: Mapping[str, Any] | None) -> dict[str, Any] | None:
    """:func:`clone` of a mapping (as a dict), or ``None``."""
    return None if value is None else clone(dict(value))


def _clone(value: Any) -> Any:
    if isinstance(value, dict):
        return {key: _clone(item) for key, item in value.items()}
    if isinstance(value, list):
        return [_clone(item) for item in value]
    return value


def address_object(value: Mapping[str, Any] | None) -> dict[str, Any] | None:
    """A full address hash (every field present, ``None`` when not given), or ``None``."""
    if value is None:
        return None
    return {field: value.get(field) for field in ADDRESS_FIELDS}


def _invoice_prefix() -> str:
    return "".join(_ID_RANDOM.choices("0123456789ABCDEF", k=8))


def customer_object(customer_id: str, created: int, fields: Mapping[str, Any]) -> dict[str, Any]:
    """A customer as the API returns it (16.1.0 field set), filled from create parameters.

    :param fields: coerced create parameters (``name``, ``email``, ``address`` ...).
    """
    invoice_settings = dict(fields.get("invoice_settings") or {})
    shipping = fields.get("shipping")
    customer: dict[str, Any] = {
        "id": customer_id,
        "object": "customer",
        "address": address_object(fields.get("address")),
        "balance": fields.get("balance") or 0,
        "business_name": fields.get("business_name"),
        "created": created,
        "currency": None,
        "customer_account": None,
        "default_source": None,
        "delinquent": False,
        "description": fields.get("description"),
        "discount": None,
        "email": fields.get("email"),
        "individual_name": fields.get("individual_name"),
        "invoice_prefix": fields.get("invoice_prefix") or _invoice_prefix(),
        "invoice_settings": {
            "custom_fields": invoice_settings.get("custom_fields"),
            "default_payment_method": invoice_settings.get("default_payment_method"),
            "footer": invoice_settings.get("footer"),
            "rendering_options": invoice_settings.get("rendering_options"),
        },
        "livemode": False,
        "metadata": dict(fields.get("metadata") or {}),
        "name": fields.get("name"),
        "next_invoice_sequence": 1,
        "phone": fields.get("phone"),
        "preferred_locales": list(fields.get("preferred_locales") or []),
        "shipping": None
        if shipping is None
        else {
            "address": address_object(shipping.get("address")),
            "name": shipping.get("name"),
            "phone": shipping.get("phone"),
        },
        "tax_exempt": fields.get("tax_exempt") or "none",
        "test_clock": None,
    }
    return customer


def deleted_object(object_id: str, object_type: str) -> dict[str, Any]:
    """What retrieving or deleting a deleted object returns."""
    return {"id": object_id, "object": object_type, "deleted": True}


def list_envelope(url: str, data: Sequence[Mapping[str, Any]], has_more: bool) -> dict[str, Any]:
    """``{"object": "list", "url", "has_more", "data"}`` (``url`` is required by SDK auto-paging)."""
    return {"object": "list", "data": [dict(item) for item in data], "has_more": has_more, "url": url}


def search_envelope(
    url: str, data: Sequence[Mapping[str, Any]], has_more: bool, next_page: str | None
) -> dict[str, Any]:
    """``{"object": "search_result", "url", "has_more", "next_page", "data"}``."""
    return {
        "object": "search_result",
        "data": [dict(item) for item in data],
        "has_more": has_more,
        "next_page": next_page,
        "url": url,
    }


# -- currencies and fees -----------------------------------------------------------------------------

ZERO_DECIMAL_CURRENCIES = frozenset(
    [
        "bif",
        "clp",
        "djf",
        "gnf",
        "jpy",
        "kmf",
        "krw",
        "mga",
        "pyg",
        "rwf",
        "ugx",
        "vnd",
        "vuv",
        "xaf",
        "xof",
        "xpf",
    ]
)
"""Currencies whose amounts have no minor unit (contract A2): ``1000`` JPY is ¥1,000."""
THREE_DECIMAL_CURRENCIES = frozenset(["bhd", "jod", "kwd", "omr", "tnd"])
"""Currencies with three decimal places (contract A2)."""

_SYMBOLS = {"usd": "$", "eur": "€", "gbp": "£", "jpy": "¥"}


def currency_exponent(currency: str) -> int:
    """Decimal places of ``currency``'s minor unit: 0, 2 or 3."""
    code = currency.lower()
    if code in ZERO_DECIMAL_CURRENCIES:
        return 0
    if code in THREE_DECIMAL_CURRENCIES:
        return 3
    return 2


def round_half_up(value: Decimal) -> int:
    """``value`` rounded to an integer, halves away from zero."""
    return int(value.quantize(Decimal(1), rounding=ROUND_HALF_UP))


def stripe_fee(amount: int, currency: str) -> int:
    """The processing fee the stand-in takes on a charge of ``amount`` minor units.

    A stand-in choice (Stripe's real pricing depends on the account, the card and the country):
    2.9 % + 30 minor units for two-decimal currencies (``usd``: 2.9 % + 30 ¢), 2.9 % + 300 minor
    units for three-decimal ones, and 3.6 % with no fixed part for zero-decimal currencies such as
    ``jpy``; rounded half up, and never more than the amount itself.
    """
    exponent = currency_exponent(currency)
    if exponent == 0:
        fee = round_half_up(Decimal(amount) * Decimal("0.036"))
    else:
        fixed = 30 if exponent == 2 else 300
        fee = round_half_up(Decimal(amount) * Decimal("0.029")) + fixed
    return max(0, min(fee, amount))


def format_amount(amount: int, currency: str) -> str:
    """``amount`` minor units for messages: ``$10.00``, ``¥1000``, ``12.500 bhd``."""
    exponent = currency_exponent(currency)
    value = Decimal(amount).scaleb(-exponent)
    text = f"{value:.{exponent}f}"
    symbol = _SYMBOLS.get(currency.lower())
    return f"{symbol}{text}" if symbol else f"{text} {currency.lower()}"


def decimal_string(value: Decimal) -> str:
    """A decimal as Stripe writes ``unit_amount_decimal``: no exponent, no trailing zeros."""
    text = format(value.normalize(), "f")
    return text if text != "-0" else "0"
