"""Stripe object shapes: ids, envelopes and the customer (contract A2, A8; pure functions)."""

from __future__ import annotations

import secrets
import string
from collections.abc import Mapping, Sequence
from typing import Any

__all__ = [
    "ADDRESS_FIELDS",
    "ID_PREFIXES",
    "address_object",
    "customer_object",
    "deleted_object",
    "list_envelope",
    "new_id",
    "search_envelope",
]

_ID_ALPHABET = string.ascii_letters + string.digits

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
}
"""Id prefix of each object type (from the OpenAPI fixtures)."""

ADDRESS_FIELDS = ("city", "country", "line1", "line2", "postal_code", "state")


def new_id(prefix: str, length: int = 14) -> str:
    """A random Stripe-looking id, e.g. ``cus_QXg1o8vcGmoR32``."""
    return f"{prefix}_" + "".join(secrets.choice(_ID_ALPHABET) for _ in range(length))


def address_object(value: Mapping[str, Any] | None) -> dict[str, Any] | None:
    """A full address hash (every field present, ``None`` when not given), or ``None``."""
    if value is None:
        return None
    return {field: value.get(field) for field in ADDRESS_FIELDS}


def _invoice_prefix() -> str:
    return "".join(secrets.choice("0123456789ABCDEF") for _ in range(8))


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
