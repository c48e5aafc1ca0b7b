"""Invoice items and invoices (contract A8 "Invoice", "Invoice items"; basil+ shapes).

Lifecycle: ``draft`` → (``finalize``) ``open`` → ``paid`` | ``uncollectible`` | ``void``; drafts
can be deleted. The stand-in keeps each invoice's line items apart (``state["invoice_lines"]``)
and re-renders the invoice's totals and its embedded ``lines`` (the first 10, as Stripe embeds
them) on every change.

Stand-in choices where the contract is silent:

* ``auto_advance`` is recorded but nothing happens on its own: no automatic finalization an hour
  later, no automatic payment attempts, no retries, no dunning; finalize and pay explicitly (or
  use :meth:`~.system.StripeSandbox.pay_invoice`, which is what a customer paying the hosted page
  does);
* ``pay`` on a draft finalizes it first; a total of zero (or less) is ``paid`` on finalization,
  with ``invoice.paid`` and no payment;
* ``paid_out_of_band=true`` creates no InvoicePayment and no Stripe payment: ``amount_paid``
  becomes ``amount_due``, ``amount_paid_off_stripe`` the amount that was remaining; events
  ``invoice.paid`` only (not ``invoice.payment_succeeded``);
* a payment attempt creates an ``open`` InvoicePayment for its PaymentIntent, which becomes
  ``paid`` when a charge succeeds; a retry after a decline confirms the same PaymentIntent again;
* ``due_date`` of a ``days_until_due`` invoice counts from creation on the draft and from
  finalization once finalized;
* adding an invoice item with ``POST /v1/invoiceitems`` emits ``invoiceitem.created`` only (no
  ``invoice.updated``); ``POST /v1/invoices/{id}/add_lines`` emits ``invoiceitem.created`` per new
  line and one ``invoice.updated``; deleting a draft also deletes its invoice items, silently;
* lines of an amount-only item have ``pricing.price_details: null``;
* error messages for mixing ``amount`` with ``unit_amount_decimal``, currency mismatches,
  non-draft invoices and the 250-item limit are the stand-in's own wording (UNCONFIRMED).

Rules from the contract's Appendix S ("Stripe behaviours a faithful stand-in must enforce"):

* a ``due_date`` that is not in the future (sandbox clock) is refused on invoice create and update
  with 400 ``invalid_request_error``, ``param: due_date``, "Invalid timestamp: must be an integer
  Unix timestamp in the future." — a validation error, not stored for idempotent replay (A4);
  ``settings.refuse_past_due_date`` turns the rule off;
* finalizing a ``send_invoice`` draft whose explicit ``due_date`` has passed meanwhile is refused
  the same way (UNCONFIRMED: ``settings.refuse_past_due_date_on_finalize``).
"""

from __future__ import annotations

import secrets
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from decimal import Decimal
from typing import TYPE_CHECKING, Any

from ml_connector_sandbox.systems.stripe.catalog import PRICE_DATA, inline_price, price_unit_amount
from ml_connector_sandbox.systems.stripe.errors import StripeAPIError, invalid_request, missing_param
from ml_connector_sandbox.systems.stripe.listing import created_matches, paginate
from ml_connector_sandbox.systems.stripe.objects import (
    clone,
    decimal_string,
    deleted_object,
    list_envelope,
    new_id,
    round_half_up,
)
from ml_connector_sandbox.systems.stripe.params import (
    EXPAND,
    PAGING,
    RETRIEVE,
    Arr,
    Bool,
    Currency,
    Dec,
    Enum,
    Int,
    Metadata,
    Obj,
    Range,
    Spec,
    Str,
    exclusive,
    merge_metadata,
    validate,
)
from ml_connector_sandbox.systems.stripe.payments import (
    PaymentOutcome,
    card_error,
    card_for,
    collect_payment,
)
from ml_connector_sandbox.systems.stripe.store import (
    Operation,
    changed_attributes,
    expand,
    expand_list,
    find,
    find_param,
    list_route,
    operation,
    refused,
    retrieve_route,
)

if TYPE_CHECKING:
    from ml_connector_sandbox.systems.stripe.api import StripeApi, StripeRequest

__all__ = [
    "MAX_INVOICE_ITEMS",
    "PAST_DUE_DATE_MESSAGE",
    "add_invoice_item",
    "add_lines",
    "add_subscription_line",
    "create_invoice",
    "finalize_invoice",
    "pay_invoice",
    "record_payment_attempt",
    "register_billing",
]

MAX_INVOICE_ITEMS = 250
"""Invoice items one invoice may hold."""
EMBEDDED_LINES = 10
"""Lines embedded in an invoice (the rest through ``GET /v1/invoices/{id}/lines``)."""
DAY = 86400
PAST_DUE_DATE_MESSAGE = "Invalid timestamp: must be an integer Unix timestamp in the future."
"""Stripe's answer to a ``due_date`` that is not in the future (contract Appendix S)."""

CUSTOM_FIELDS = Arr(Obj({"name": Str(max_length=40), "value": Str(max_length=140)}), max_items=4)

_DRAFT_FIELDS: dict[str, Spec] = {
    "collection_method": Enum("charge_automatically", "send_invoice"),
    "custom_fields": CUSTOM_FIELDS,
    "days_until_due": Int(minimum=0),
    "default_payment_method": Str(),
    "description": Str(max_length=1500),
    "due_date": Int(),
    "footer": Str(max_length=5000),
    "number": Str(max_length=26),
    "statement_descriptor": Str(max_length=22),
}
INVOICE_CREATE: dict[str, Spec] = {
    **_DRAFT_FIELDS,
    "auto_advance": Bool(),
    "currency": Currency(),
    "customer": Str(),
    "expand": EXPAND,
    "metadata": Metadata(),
    "pending_invoice_items_behavior": Enum("exclude", "include"),
}
INVOICE_UPDATE: dict[str, Spec] = {
    **_DRAFT_FIELDS,
    "auto_advance": Bool(),
    "expand": EXPAND,
    "metadata": Metadata(),
}
ANY_TIME_FIELDS = frozenset({"metadata", "auto_advance", "expand"})
"""Invoice fields the stand-in lets you update after finalization."""
INVOICE_LIST: dict[str, Spec] = {
    **PAGING,
    "collection_method": Enum("charge_automatically", "send_invoice"),
    "customer": Str(),
    "due_date": Range(),
    "status": Enum("draft", "open", "paid", "uncollectible", "void"),
    "subscription": Str(),
}
LINES_LIST: dict[str, Spec] = {
    "ending_before": Str(),
    "expand": EXPAND,
    "limit": Int(),
    "starting_after": Str(),
}
FINALIZE: dict[str, Spec] = {"auto_advance": Bool(), "expand": EXPAND}
PAY: dict[str, Spec] = {
    "expand": EXPAND,
    "forgive": Bool(),
    "off_session": Bool(),
    "paid_out_of_band": Bool(),
    "payment_method": Str(),
}
ITEM_CREATE: dict[str, Spec] = {
    "amount": Int(),
    "currency": Currency(),
    "customer": Str(),
    "description": Str(max_length=5000),
    "discountable": Bool(),
    "expand": EXPAND,
    "invoice": Str(),
    "metadata": Metadata(),
    "period": Obj({"end": Int(), "start": Int()}),
    "price_data": PRICE_DATA,
    "pricing": Obj({"price": Str()}),
    "quantity": Int(minimum=0),
    "quantity_decimal": Dec(minimum=Decimal(0)),
    "tax_behavior": Enum("exclusive", "inclusive", "unspecified"),
    "tax_code": Str(),
    "unit_amount_decimal": Dec(),
}
ITEM_LIST: dict[str, Spec] = {**PAGING, "customer": Str(), "invoice": Str(), "pending": Bool()}
ADD_LINE: dict[str, Spec] = {
    "amount": Int(),
    "description": Str(max_length=5000),
    "discountable": Bool(),
    "invoice_item": Str(),
    "metadata": Metadata(),
    "period": Obj({"end": Int(), "start": Int()}),
    "price_data": PRICE_DATA,
    "pricing": Obj({"price": Str()}),
    "quantity": Int(minimum=0),
    "quantity_decimal": Dec(minimum=Decimal(0)),
}
"""One entry of ``lines`` of ``add_lines`` (stripe-python ``InvoiceAddLinesParamsLine``; the
stand-in does not support ``discounts``, ``tax_amounts`` or ``tax_rates``)."""
ADD_LINES: dict[str, Spec] = {
    "expand": EXPAND,
    "invoice_metadata": Metadata(),
    "lines": Arr(Obj(ADD_LINE, empty_unsets=False), empty_unsets=False),
}
"""``POST /v1/invoices/{id}/add_lines`` (stripe-python ``InvoiceAddLinesParams``)."""
ASSIGNED_ITEM_FIELDS = frozenset({"invoice_item", "description", "discountable", "metadata", "period"})
"""What a ``lines[]`` entry naming an existing ``invoice_item`` may also set (a stand-in choice)."""


# -- objects -----------------------------------------------------------------------------------------


def _customer_snapshot(customer: Mapping[str, Any]) -> dict[str, Any]:
    return {
        "customer_address": clone(customer.get("address")),
        "customer_email": customer.get("email"),
        "customer_name": customer.get("name"),
        "customer_phone": customer.get("phone"),
        "customer_shipping": clone(customer.get("shipping")),
        "customer_tax_exempt": customer.get("tax_exempt") or "none",
        "customer_tax_ids": [],
    }


def invoice_object(
    invoice_id: str,
    created: int,
    customer: Mapping[str, Any],
    fields: Mapping[str, Any],
    *,
    currency: str,
    billing_reason: str = "manual",
    parent: dict[str, Any] | None = None,
) -> dict[str, Any]:
    """A draft invoice (16.1.0 field set, no ``charge``/``payment_intent``/``paid``/``subscription``)."""
    collection_method = fields.get("collection_method") or "charge_automatically"
    due_date = fields.get("due_date")
    if fields.get("days_until_due") is not None:
        due_date = created + int(fields["days_until_due"]) * DAY
    return {
        "id": invoice_id,
        "object": "invoice",
        "account_country": "US",
        "account_name": "ml-connector sandbox",
        "account_tax_ids": None,
        "amount_due": 0,
        "amount_overpaid": 0,
        "amount_paid": 0,
        "amount_paid_off_stripe": 0,
        "amount_remaining": 0,
        "amount_shipping": 0,
        "application": None,
        "attempt_count": 0,
        "attempted": False,
        "auto_advance": bool(fields.get("auto_advance") or False),
        "automatic_tax": {
            "disabled_reason": None,
            "enabled": False,
            "liability": None,
            "provider": None,
            "status": None,
        },
        "automatically_finalizes_at": None,
        "billing_reason": billing_reason,
        "collection_method": collection_method,
        "confirmation_secret": None,
        "created": created,
        "currency": currency,
        "custom_fields": fields.get("custom_fields"),
        "customer": customer["id"],
        **_customer_snapshot(customer),
        "default_payment_method": fields.get("default_payment_method"),
        "default_source": None,
        "default_tax_rates": [],
        "description": fields.get("description"),
        "discounts": [],
        "due_date": due_date if collection_method == "send_invoice" else None,
        "effective_at": None,
        "ending_balance": None,
        "footer": fields.get("footer"),
        "from_invoice": None,
        "hosted_invoice_url": None,
        "invoice_pdf": None,
        "issuer": {"type": "self"},
        "last_finalization_error": None,
        "latest_revision": None,
        "lines": list_envelope(f"/v1/invoices/{invoice_id}/lines", [], False),
        "livemode": False,
        "metadata": merge_metadata({}, fields.get("metadata") or {}),
        "next_payment_attempt": None,
        "number": None,
        "on_behalf_of": None,
        "parent": parent,
        "payment_settings": {
            "default_mandate": None,
            "payment_method_options": None,
            "payment_method_types": None,
        },
        "period_end": created,
        "period_start": created,
        "post_payment_credit_notes_amount": 0,
        "pre_payment_credit_notes_amount": 0,
        "receipt_number": None,
        "rendering": None,
        "shipping_cost": None,
        "shipping_details": None,
        "starting_balance": 0,
        "statement_descriptor": fields.get("statement_descriptor"),
        "status": "draft",
        "status_details": None,
        "status_transitions": {
            "finalized_at": None,
            "marked_uncollectible_at": None,
            "paid_at": None,
            "voided_at": None,
        },
        "subtotal": 0,
        "subtotal_excluding_tax": 0,
        "test_clock": None,
        "threshold_reason": None,
        "total": 0,
        "total_discount_amounts": [],
        "total_excluding_tax": 0,
        "total_pretax_credit_amounts": [],
        "total_taxes": [],
        "webhooks_delivered_at": None,
    }


def _private(op_db: Mapping[str, Any], invoice_id: str) -> dict[str, Any]:
    """What the stand-in remembers about an invoice outside the object: the custom ``number`` and
    ``days_until_due`` (create parameters that are not invoice fields)."""
    private: dict[str, Any] = op_db["invoice_private"].setdefault(invoice_id, {})
    return private


def _pricing(price: Mapping[str, Any] | None, unit_amount_decimal: str) -> dict[str, Any]:
    return {
        "price_details": None if price is None else {"price": price["id"], "product": price["product"]},
        "type": "price_details",
        "unit_amount_decimal": unit_amount_decimal,
    }


def _line_from_item(item: Mapping[str, Any]) -> dict[str, Any]:
    return {
        "id": new_id("il"),
        "object": "line_item",
        "amount": item["amount"],
        "currency": item["currency"],
        "description": item["description"],
        "discount_amounts": [],
        "discountable": item["discountable"],
        "discounts": [],
        "invoice": item["invoice"],
        "livemode": False,
        "metadata": dict(item["metadata"]),
        "parent": {
            "invoice_item_details": {
                "invoice_item": item["id"],
                "proration": False,
                "proration_details": {"credited_items": None},
                "subscription": None,
            },
            "subscription_item_details": None,
            "type": "invoice_item_details",
        },
        "period": dict(item["period"]),
        "pretax_credit_amounts": [],
        "pricing": clone(item["pricing"]),
        "quantity": item["quantity"],
        "quantity_decimal": item["quantity_decimal"],
        "subscription": None,
        "subtotal": item["amount"],
        "taxes": [],
    }


# -- operations on invoices --------------------------------------------------------------------------


def _lines(op: Operation, invoice_id: str) -> list[dict[str, Any]]:
    lines: list[dict[str, Any]] = op.db["invoice_lines"].setdefault(invoice_id, [])
    return lines


def _recompute(op: Operation, invoice: dict[str, Any]) -> None:
    """Totals and the embedded ``lines`` from the stored line items (drafts only change)."""
    lines = _lines(op, invoice["id"])
    subtotal = sum(int(line["amount"]) for line in lines)
    invoice.update(
        subtotal=subtotal,
        subtotal_excluding_tax=subtotal,
        total=subtotal,
        total_excluding_tax=subtotal,
        amount_due=max(subtotal, 0),
        amount_remaining=max(subtotal, 0) - int(invoice["amount_paid"]),
    )
    invoice["lines"] = list_envelope(
        f"/v1/invoices/{invoice['id']}/lines",
        [clone(line) for line in lines[:EMBEDDED_LINES]],
        len(lines) > EMBEDDED_LINES,
    )


def check_due_date(op: Operation, due_date: int | None, *, finalizing: bool = False) -> None:
    """Refuse a ``due_date`` that is not in the future (sandbox clock), as Stripe does.

    Contract Appendix S: "``due_date`` must be in the future on invoice create/update" — 400
    ``invalid_request_error``, ``param: due_date``, :data:`PAST_DUE_DATE_MESSAGE`
    (stripe-python#925). A validation error: never stored for idempotent replay (contract A4).

    :param finalizing: the check runs while finalizing a draft whose due date was set earlier;
        only with ``settings.refuse_past_due_date_on_finalize`` (UNCONFIRMED: Stripe documents the
        rule for create/update only).
    """
    settings = op.system.settings
    if due_date is None or not settings.refuse_past_due_date:
        return
    if finalizing and not settings.refuse_past_due_date_on_finalize:
        return
    if int(due_date) <= op.now:
        raise invalid_request(PAST_DUE_DATE_MESSAGE, param="due_date")


def create_invoice(
    op: Operation,
    fields: Mapping[str, Any],
    *,
    billing_reason: str = "manual",
    parent: dict[str, Any] | None = None,
) -> dict[str, Any]:
    """Store a draft invoice from coerced create parameters; queues ``invoice.created``.

    :raises StripeAPIError: unknown customer, or due-date parameters that do not fit the
        collection method.
    """
    customer_id = fields.get("customer")
    if not customer_id:
        raise missing_param("customer")
    customer = find_param(op.db, "customer", customer_id, "customer")
    collection_method = fields.get("collection_method") or "charge_automatically"
    which_due = exclusive(fields, "days_until_due", "due_date")
    check_due_date(op, fields.get("due_date"))
    if collection_method == "charge_automatically" and which_due is not None:
        raise invalid_request(
            f"Invoices with collection_method=charge_automatically cannot have `{which_due}` set.",
            param=which_due,
        )
    if collection_method == "send_invoice" and which_due is None:
        raise invalid_request(
            "Invoices with collection_method=send_invoice need `days_until_due` or `due_date`.",
            param="days_until_due",
        )
    if fields.get("default_payment_method"):
        card_for(fields["default_payment_method"], param="default_payment_method")
    currency = fields.get("currency") or customer.get("currency") or "usd"
    invoice = invoice_object(
        new_id("in"),
        op.now,
        customer,
        fields,
        currency=currency,
        billing_reason=billing_reason,
        parent=parent,
    )
    op.store("invoice", invoice)
    _private(op.db, invoice["id"]).update(
        number=fields.get("number"), days_until_due=fields.get("days_until_due")
    )
    _lines(op, invoice["id"])
    if fields.get("pending_invoice_items_behavior") == "include":
        for item in op.db["invoiceitems"].values():
            if (
                not item.get("deleted")
                and item["invoice"] is None
                and item["customer"] == customer_id
                and item["currency"] == currency
            ):
                item["invoice"] = invoice["id"]
                _lines(op, invoice["id"]).append(_line_from_item(item))
        _recompute(op, invoice)
    op.emit("invoice.created", invoice)
    return invoice


def _item_pricing(
    op: Operation, fields: Mapping[str, Any]
) -> tuple[int, dict[str, Any] | None, str, int | None, str | None, str | None]:
    """(amount, price, unit_amount_decimal, quantity, quantity_decimal, price currency)."""
    which = exclusive(fields, "amount", "unit_amount_decimal", "pricing", "price_data")
    if which is None:
        raise invalid_request(
            "You must specify one of `amount`, `unit_amount_decimal`, `pricing[price]` or `price_data`.",
            param="amount",
        )
    exclusive(fields, "quantity", "quantity_decimal")
    if fields.get("quantity_decimal") is not None:
        quantity_value: Decimal = fields["quantity_decimal"]
        quantity: int | None = None
        quantity_decimal: str | None = decimal_string(quantity_value)
    else:
        quantity = int(fields["quantity"]) if fields.get("quantity") is not None else 1
        quantity_value = Decimal(quantity)
        quantity_decimal = str(quantity)
    if which == "amount":
        if quantity_value != 1:
            raise invalid_request(
                "`quantity` cannot be combined with `amount`; use `unit_amount_decimal` for a unit price.",
                param="quantity",
            )
        amount = int(fields["amount"])
        return amount, None, str(amount), 1, "1", None
    if which == "unit_amount_decimal":
        unit: Decimal = fields["unit_amount_decimal"]
        return (
            round_half_up(unit * quantity_value),
            None,
            decimal_string(unit),
            quantity,
            quantity_decimal,
            None,
        )
    if which == "pricing":
        price_id = (fields["pricing"] or {}).get("price")
        if not price_id:
            raise missing_param("pricing[price]")
        price = find_param(op.db, "price", price_id, "pricing[price]")
        if price["type"] != "one_time":
            raise refused(
                "The price specified is set to `type=recurring` but this field only accepts prices with "
                "`type=one_time`.",
                param="pricing[price]",
            )
    else:
        price = inline_price(op, fields["price_data"], param="price_data", recurring=False)
    unit = price_unit_amount(price)
    return (
        round_half_up(unit * quantity_value),
        price,
        str(price["unit_amount_decimal"]),
        quantity,
        quantity_decimal,
        str(price["currency"]),
    )


@dataclass
class _NewItem:
    """An invoice item checked and built but not stored yet."""

    item: dict[str, Any]
    invoice: dict[str, Any] | None
    price: dict[str, Any] | None
    """An inline ``price_data`` price to store with the item."""


def _draft_invoice_for_item(op: Operation, invoice_id: str, customer_id: str) -> dict[str, Any]:
    invoice = find_param(op.db, "invoice", invoice_id, "invoice")
    if invoice["customer"] != customer_id:
        raise refused(
            f"The invoice {invoice['id']} belongs to customer {invoice['customer']}, not {customer_id}.",
            param="invoice",
        )
    if invoice["status"] != "draft":
        raise refused(
            f"Invoice {invoice['id']} is {invoice['status']}: invoice items can only be added to draft invoices.",
            param="invoice",
        )
    return invoice


def _room_for(op: Operation, invoice: Mapping[str, Any], adding: int) -> None:
    """Refuse when ``adding`` more items would take the invoice past :data:`MAX_INVOICE_ITEMS` (A8)."""
    held = len(_lines(op, invoice["id"]))
    if held + adding > MAX_INVOICE_ITEMS:
        if adding == 1:
            message = (
                f"Invoice {invoice['id']} already has {MAX_INVOICE_ITEMS} invoice items, the most one invoice "
                "can hold."
            )
        else:
            message = (
                f"Invoice {invoice['id']} has {held} invoice items; adding {adding} would exceed "
                f"{MAX_INVOICE_ITEMS}, the most one invoice can hold."
            )
        raise refused(message, param="invoice" if adding == 1 else "lines")


def _new_item(op: Operation, fields: Mapping[str, Any], invoice: dict[str, Any] | None) -> _NewItem:
    """Check coerced invoice-item parameters and build the item (nothing is stored)."""
    customer_id = str(fields["customer"])
    period = fields.get("period")
    if period is not None:
        for edge in ("start", "end"):
            if period.get(edge) is None:
                raise missing_param(f"period[{edge}]")
        if int(period["start"]) > int(period["end"]):
            raise invalid_request("period[start] must be before period[end].", param="period[start]")
    amount, price, unit_amount_decimal, quantity, quantity_decimal, price_currency = _item_pricing(op, fields)
    currency = fields.get("currency") or price_currency or (invoice["currency"] if invoice else None)
    if currency is None:
        raise missing_param("currency")
    if price_currency is not None and currency != price_currency:
        raise refused(
            f"The price's currency ({price_currency}) does not match the currency given ({currency}).",
            param="currency",
        )
    if invoice is not None and currency != invoice["currency"]:
        raise refused(
            f"The invoice item's currency ({currency}) must match the currency of invoice {invoice['id']} "
            f"({invoice['currency']}).",
            param="currency",
        )
    item: dict[str, Any] = {
        "id": new_id("ii"),
        "object": "invoiceitem",
        "amount": amount,
        "currency": currency,
        "customer": customer_id,
        "date": op.now,
        "description": fields.get("description"),
        "discountable": fields.get("discountable", amount >= 0) is not False,
        "discounts": [],
        "invoice": invoice["id"] if invoice else None,
        "livemode": False,
        "metadata": merge_metadata({}, fields.get("metadata") or {}),
        "net_amount": amount,
        "parent": None,
        "period": {
            "end": int(period["end"]) if period else op.now,
            "start": int(period["start"]) if period else op.now,
        },
        "pricing": _pricing(price, unit_amount_decimal),
        "proration": False,
        "proration_details": {"credited_items": None},
        "quantity": quantity,
        "quantity_decimal": quantity_decimal,
        "tax_rates": [],
        "test_clock": None,
    }
    return _NewItem(
        item, invoice, price if price is not None and price["id"] not in op.db["prices"] else None
    )


def _store_item(op: Operation, new: _NewItem, *, recompute: bool = True) -> dict[str, Any]:
    """Store a checked item (and its inline price), put it on its invoice; queues
    ``invoiceitem.created``."""
    if new.price is not None:
        op.store("price", new.price)  # the inline price of price_data, once nothing can refuse the item
    item = op.store("invoiceitem", new.item)
    if new.invoice is not None:
        _lines(op, new.invoice["id"]).append(_line_from_item(item))
        if recompute:
            _recompute(op, new.invoice)
    op.emit("invoiceitem.created", item)
    return item


def add_invoice_item(op: Operation, fields: Mapping[str, Any]) -> dict[str, Any]:
    """Store an invoice item (pending, or on a draft invoice); queues ``invoiceitem.created``."""
    customer_id = fields.get("customer")
    if not customer_id:
        raise missing_param("customer")
    find_param(op.db, "customer", customer_id, "customer")
    invoice: dict[str, Any] | None = None
    if fields.get("invoice"):
        invoice = _draft_invoice_for_item(op, fields["invoice"], customer_id)
        _room_for(op, invoice, 1)
    return _store_item(op, _new_item(op, fields, invoice))


def _in_line(index: int, error: StripeAPIError) -> StripeAPIError:
    """``error`` with its ``param`` moved under ``lines[index]`` (``period[start]`` →
    ``lines[0][period][start]``)."""
    if error.param is not None:
        head, bracket, rest = error.param.partition("[")
        error.param = f"lines[{index}][{head}]" + (bracket + rest if bracket else "")
    return error


def _assign_item(
    op: Operation, invoice: dict[str, Any], line: Mapping[str, Any], index: int
) -> tuple[dict[str, Any], dict[str, Any]]:
    """Check a ``lines[]`` entry that names an existing pending invoice item; returns the stored
    item and its changed copy (applied once every line passed its checks)."""
    extra = sorted(set(line) - ASSIGNED_ITEM_FIELDS)
    if extra:
        raise invalid_request(
            f"`lines[{index}][invoice_item]` cannot be combined with `lines[{index}][{extra[0]}]`.",
            param=f"lines[{index}][{extra[0]}]",
        )
    param = f"lines[{index}][invoice_item]"
    item = find_param(op.db, "invoiceitem", line["invoice_item"], param)
    if item["invoice"] is not None:
        raise refused(f"Invoice item {item['id']} is already on invoice {item['invoice']}.", param=param)
    if item["customer"] != invoice["customer"]:
        raise refused(
            f"Invoice item {item['id']} belongs to customer {item['customer']}, not {invoice['customer']}.",
            param=param,
        )
    if item["currency"] != invoice["currency"]:
        raise refused(
            f"The invoice item's currency ({item['currency']}) must match the currency of invoice "
            f"{invoice['id']} ({invoice['currency']}).",
            param=param,
        )
    changed = clone(item)
    changed["invoice"] = invoice["id"]
    for key in ("description", "discountable"):
        if key in line:
            changed[key] = line[key]
    if "metadata" in line:
        changed["metadata"] = merge_metadata(
            changed["metadata"], line["metadata"], param=f"lines[{index}][metadata]"
        )
    period = line.get("period")
    if period is not None:
        if period.get("start") is None or period.get("end") is None:
            raise missing_param(
                f"lines[{index}][period][{'start' if period.get('start') is None else 'end'}]"
            )
        if int(period["start"]) > int(period["end"]):
            raise invalid_request(
                "period[start] must be before period[end].", param=f"lines[{index}][period][start]"
            )
        changed["period"] = {"end": int(period["end"]), "start": int(period["start"])}
    return item, changed


def add_lines(
    op: Operation,
    invoice: dict[str, Any],
    lines: list[Mapping[str, Any]],
    invoice_metadata: Mapping[str, str | None] | None = None,
    *,
    metadata_given: bool = False,
) -> None:
    """``POST /v1/invoices/{id}/add_lines`` (contract A8 lifecycle endpoints): each entry of
    ``lines`` becomes an invoice item on the draft (or assigns an existing pending one with
    ``invoice_item``), all or nothing; ``invoice_metadata`` merges into the invoice's metadata.

    Queues ``invoiceitem.created`` for every new item, then one ``invoice.updated``.

    :raises StripeAPIError: not a draft (message UNCONFIRMED), more than :data:`MAX_INVOICE_ITEMS`
        items in total (A8), or a line the invoice-item rules refuse (``param`` under
        ``lines[i]``).
    """
    if invoice["status"] != "draft":
        raise refused(
            f"You can only add lines to a draft invoice; this invoice is {invoice['status']}.",
            code="invoice_not_editable",
        )
    if not lines:
        raise invalid_request("`lines` must contain at least one line.", param="lines")
    _room_for(op, invoice, len(lines))
    before = clone(invoice)
    new_metadata = (
        merge_metadata(invoice.get("metadata"), invoice_metadata, param="invoice_metadata")
        if metadata_given
        else None
    )
    prepared: list[_NewItem | tuple[dict[str, Any], dict[str, Any]]] = []
    for index, line in enumerate(lines):
        try:
            if line.get("invoice_item"):
                prepared.append(_assign_item(op, invoice, line, index))
            else:
                fields = {**line, "customer": invoice["customer"], "invoice": invoice["id"]}
                prepared.append(_new_item(op, fields, invoice))
        except StripeAPIError as error:
            if error.param is not None and error.param.startswith("lines["):
                raise
            raise _in_line(index, error) from None
    for entry in prepared:
        if isinstance(entry, _NewItem):
            _store_item(op, entry, recompute=False)
        else:
            item, changed = entry
            item.clear()
            item.update(changed)
            _lines(op, invoice["id"]).append(_line_from_item(item))
    if new_metadata is not None:
        invoice["metadata"] = new_metadata
    _recompute(op, invoice)
    previous = changed_attributes(before, invoice)
    if previous:
        op.emit("invoice.updated", invoice, previous)


def add_subscription_line(
    op: Operation,
    invoice: dict[str, Any],
    subscription: Mapping[str, Any],
    item: Mapping[str, Any],
    period: Mapping[str, int],
) -> dict[str, Any]:
    """Bill one subscription item for ``period`` on a draft subscription invoice."""
    price = item["price"]
    quantity = int(item["quantity"])
    amount = round_half_up(price_unit_amount(price) * quantity)
    product = op.db["products"].get(price["product"]) or {}
    line = {
        "id": new_id("il"),
        "object": "line_item",
        "amount": amount,
        "currency": price["currency"],
        "description": f"{quantity} × {product.get('name') or price['product']}",
        "discount_amounts": [],
        "discountable": True,
        "discounts": [],
        "invoice": invoice["id"],
        "livemode": False,
        "metadata": dict(subscription.get("metadata") or {}),
        "parent": {
            "invoice_item_details": None,
            "subscription_item_details": {
                "invoice_item": None,
                "proration": False,
                "proration_details": {"credited_items": None},
                "subscription": subscription["id"],
                "subscription_item": item["id"],
            },
            "type": "subscription_item_details",
        },
        "period": {"end": int(period["end"]), "start": int(period["start"])},
        "pretax_credit_amounts": [],
        "pricing": _pricing(price, str(price["unit_amount_decimal"])),
        "quantity": quantity,
        "quantity_decimal": str(quantity),
        "subscription": subscription["id"],
        "subtotal": amount,
        "taxes": [],
    }
    _lines(op, invoice["id"]).append(line)
    _recompute(op, invoice)
    return line


def finalize_invoice(op: Operation, invoice: dict[str, Any], *, auto_advance: bool | None = None) -> None:
    """``draft`` → ``open``: number, hosted URLs, ``finalized_at``; queues ``invoice.finalized``.

    An invoice whose total is zero or less is ``paid`` at once (``invoice.paid``).
    """
    if invoice["status"] != "draft":
        raise refused("This invoice is already finalized, you can't re-finalize a non-draft invoice.")
    if not _lines(op, invoice["id"]):
        raise refused(
            "This invoice has no line items, so it cannot be finalized. Add invoice items first.",
            code="invoice_no_line_items",
        )
    private = _private(op.db, invoice["id"])
    if invoice["collection_method"] == "send_invoice" and private.get("days_until_due") is None:
        check_due_date(op, invoice.get("due_date"), finalizing=True)
    customer = op.db["customers"][invoice["customer"]]
    if private.get("number"):
        number = str(private["number"])
    else:
        sequence = int(customer.get("next_invoice_sequence") or 1)
        customer["next_invoice_sequence"] = sequence + 1  # the stand-in emits no customer.updated for it
        number = f"{customer['invoice_prefix']}-{sequence:04d}"
    token = secrets.token_urlsafe(18)
    invoice.update(_customer_snapshot(customer))
    invoice.update(
        number=number,
        status="open",
        effective_at=op.now,
        ending_balance=0,
        hosted_invoice_url=f"https://invoice.stripe.com/i/acct_sandbox/test_{token}",
        invoice_pdf=f"https://pay.stripe.com/invoice/acct_sandbox/test_{token}/pdf",
    )
    if auto_advance is not None:
        invoice["auto_advance"] = auto_advance
    if invoice["collection_method"] == "send_invoice" and private.get("days_until_due") is not None:
        invoice["due_date"] = op.now + int(private["days_until_due"]) * DAY
    invoice["status_transitions"]["finalized_at"] = op.now
    _recompute(op, invoice)
    op.emit("invoice.finalized", invoice)
    if invoice["amount_remaining"] <= 0:
        invoice["status"] = "paid"
        invoice["status_transitions"]["paid_at"] = op.now
        op.emit("invoice.paid", invoice)


def record_payment_attempt(op: Operation, invoice: dict[str, Any], outcome: PaymentOutcome) -> None:
    """Apply a payment attempt to ``invoice``: paid (``invoice.paid``, ``invoice.payment_succeeded``)
    or still open (``invoice.payment_failed``)."""
    invoice["attempted"] = True
    invoice["attempt_count"] = int(invoice["attempt_count"]) + 1
    if not outcome.succeeded:
        op.emit("invoice.payment_failed", invoice)
        return
    paid = int(outcome.payment_intent["amount_received"])
    invoice["amount_paid"] = int(invoice["amount_paid"]) + paid
    invoice["amount_remaining"] = max(int(invoice["amount_due"]) - int(invoice["amount_paid"]), 0)
    if invoice["amount_remaining"] == 0:
        invoice["status"] = "paid"
        invoice["status_transitions"]["paid_at"] = op.now
        invoice["next_payment_attempt"] = None
        op.emit("invoice.paid", invoice)
    op.emit("invoice.payment_succeeded", invoice)


def default_payment_method(op: Operation, invoice: Mapping[str, Any]) -> str | None:
    """The invoice's, its subscription's or its customer's default payment method."""
    if invoice.get("default_payment_method"):
        return str(invoice["default_payment_method"])
    parent = invoice.get("parent") or {}
    subscription_id = (parent.get("subscription_details") or {}).get("subscription")
    subscription = op.db["subscriptions"].get(subscription_id) if subscription_id else None
    if subscription and subscription.get("default_payment_method"):
        return str(subscription["default_payment_method"])
    customer = op.db["customers"].get(invoice["customer"]) or {}
    method = (customer.get("invoice_settings") or {}).get("default_payment_method")
    return str(method) if method else None


def pay_invoice(
    op: Operation,
    invoice: dict[str, Any],
    *,
    payment_method: str | None = None,
    paid_out_of_band: bool = False,
) -> PaymentOutcome | None:
    """Pay ``invoice`` with a test payment method, or mark it paid out of band.

    :return: the payment attempt (``None`` out of band or when nothing remained to pay); a
        declined attempt is returned, not raised — the caller decides (the API answers 402).
    :raises StripeAPIError: the invoice cannot be paid (void, already paid), no payment method.
    """
    if paid_out_of_band and payment_method:
        raise invalid_request(
            "You may only specify one of these parameters: paid_out_of_band, payment_method.",
            param="payment_method",
        )
    if invoice["status"] == "paid":
        raise refused("Invoice is already paid.", code="invoice_already_paid")
    if invoice["status"] == "void":
        raise refused(
            "This invoice has been voided, so it can no longer be paid.", code="invoice_not_editable"
        )
    method = None if paid_out_of_band else (payment_method or default_payment_method(op, invoice))
    if not paid_out_of_band:
        if not method:
            raise refused(
                "This customer has no attached payment source or default payment method. Please consider "
                "adding a default payment method.",
                param="payment_method",
            )
        card_for(method)  # an unknown method refuses the request before anything changes
    if invoice["status"] == "draft":
        finalize_invoice(op, invoice)
        if invoice["status"] == "paid":
            return None
    if paid_out_of_band:
        remaining = int(invoice["amount_remaining"])
        invoice.update(
            amount_paid=int(invoice["amount_due"]),
            amount_paid_off_stripe=int(invoice["amount_paid_off_stripe"] or 0) + remaining,
            amount_remaining=0,
            status="paid",
        )
        invoice["status_transitions"]["paid_at"] = op.now
        op.emit("invoice.paid", invoice)
        return None
    assert method is not None
    intent: dict[str, Any] | None = None
    for payment in op.db["invoice_payments"].values():
        if payment["invoice"] == invoice["id"] and payment["status"] == "open":
            intent = op.db["payment_intents"][payment["payment"]["payment_intent"]]
    outcome = collect_payment(
        op,
        payment_method=method,
        payment_intent=intent,
        intent_fields={
            "amount": int(invoice["amount_remaining"]),
            "currency": invoice["currency"],
            "customer": invoice["customer"],
            "description": "Payment for Invoice",
            "metadata": {},
            "statement_descriptor": invoice.get("statement_descriptor"),
        },
        invoice=invoice,
    )
    record_payment_attempt(op, invoice, outcome)
    return outcome


def send_invoice(op: Operation, invoice: dict[str, Any]) -> None:
    """Queue ``invoice.sent`` for an open ``send_invoice`` invoice (the stand-in mails nothing)."""
    if invoice["collection_method"] != "send_invoice":
        raise refused("You can only manually send an invoice if its collection method is 'send_invoice'.")
    if invoice["status"] != "open":
        raise refused(
            f"You can only send open invoices; this invoice is {invoice['status']}.",
            code="invoice_not_editable",
        )
    op.emit("invoice.sent", invoice)


def mark_uncollectible(op: Operation, invoice: dict[str, Any]) -> None:
    """``open`` → ``uncollectible``; queues ``invoice.marked_uncollectible``."""
    if invoice["status"] != "open":
        raise refused(
            f"You can only mark open invoices as uncollectible; this invoice is {invoice['status']}.",
            code="invoice_not_editable",
        )
    invoice["status"] = "uncollectible"
    invoice["status_transitions"]["marked_uncollectible_at"] = op.now
    op.emit("invoice.marked_uncollectible", invoice)


def _pay(op: Operation, invoice: dict[str, Any], fields: Mapping[str, Any]) -> None:
    """``POST /v1/invoices/{id}/pay``: a declined payment answers 402 (its objects stay)."""
    outcome = pay_invoice(
        op,
        invoice,
        payment_method=fields.get("payment_method"),
        paid_out_of_band=bool(fields.get("paid_out_of_band")),
    )
    if outcome is not None and not outcome.succeeded:
        raise card_error(outcome)


InvoiceAction = Callable[[Operation, dict[str, Any], Mapping[str, Any]], None]
"""What an invoice action route does to the invoice, given the coerced parameters."""


def void_invoice(op: Operation, invoice: dict[str, Any]) -> None:
    """``open``/``uncollectible`` → ``void``; open payment intents are canceled."""
    if invoice["status"] not in ("open", "uncollectible"):
        raise refused(
            f"You can only void open or uncollectible invoices; this invoice is {invoice['status']}.",
            code="invoice_not_editable",
        )
    for payment in op.db["invoice_payments"].values():
        if payment["invoice"] == invoice["id"] and payment["status"] == "open":
            payment["status"] = "canceled"
            payment["status_transitions"]["canceled_at"] = op.now
            intent = op.db["payment_intents"][payment["payment"]["payment_intent"]]
            intent.update(status="canceled", canceled_at=op.now, cancellation_reason="void_invoice")
            op.emit("payment_intent.canceled", intent)
    invoice["status"] = "void"
    invoice["status_transitions"]["voided_at"] = op.now
    op.emit("invoice.voided", invoice)


def _delete_item(op: Operation, item: Mapping[str, Any]) -> None:
    """Replace a stored invoice item by its tombstone."""
    op.db["invoiceitems"][item["id"]] = {**deleted_object(item["id"], "invoiceitem"), "created": item["date"]}


# -- routes ------------------------------------------------------------------------------------------


def register_billing(api: StripeApi) -> None:
    """Mount ``/v1/invoiceitems`` and ``/v1/invoices`` with their lifecycle actions."""
    system = api.system

    # -- invoice items ---------------------------------------------------------------------------

    @api.post("/v1/invoiceitems")
    def create_item(request: StripeRequest) -> dict[str, Any]:
        fields = validate(request.params, ITEM_CREATE)
        with operation(system) as op:
            item = add_invoice_item(op, fields)
            return expand(op.db, item, request.expand, op.now)

    list_route(
        api,
        "/v1/invoiceitems",
        "invoiceitem",
        ITEM_LIST,
        match=("customer", "invoice"),
        where=lambda item, params: "pending" not in params or (item["invoice"] is None) == params["pending"],
    )
    retrieve_route(api, "/v1/invoiceitems/{id}", "invoiceitem")

    @api.delete("/v1/invoiceitems/{id}")
    def delete_item(request: StripeRequest) -> dict[str, Any]:
        validate(request.params, {})
        with operation(system) as op:
            item = find(op.db, "invoiceitem", request.path_params["id"])
            invoice = op.db["invoices"].get(item["invoice"]) if item["invoice"] else None
            if invoice is not None and invoice["status"] != "draft":
                raise refused(
                    f"Invoice item {item['id']} is on a finalized invoice ({invoice['id']}) and cannot be deleted."
                )
            snapshot = clone(item)
            _delete_item(op, item)
            if invoice is not None:
                lines = _lines(op, invoice["id"])
                lines[:] = [
                    line
                    for line in lines
                    if ((line["parent"] or {}).get("invoice_item_details") or {}).get("invoice_item")
                    != item["id"]
                ]
                _recompute(op, invoice)
            op.emit("invoiceitem.deleted", snapshot)
            return deleted_object(item["id"], "invoiceitem")

    # -- invoices --------------------------------------------------------------------------------

    @api.post("/v1/invoices")
    def create(request: StripeRequest) -> dict[str, Any]:
        fields = validate(request.params, INVOICE_CREATE)
        with operation(system) as op:
            invoice = create_invoice(op, fields)
            return expand(op.db, invoice, request.expand, op.now)

    def invoice_wanted(invoice: Mapping[str, Any], params: Mapping[str, Any]) -> bool:
        subscription = ((invoice.get("parent") or {}).get("subscription_details") or {}).get("subscription")
        due = params.get("due_date")
        return ("subscription" not in params or subscription == params["subscription"]) and (
            "due_date" not in params
            or (invoice["due_date"] is not None and created_matches(invoice["due_date"], due))
        )

    list_route(
        api,
        "/v1/invoices",
        "invoice",
        INVOICE_LIST,
        match=("customer", "status", "collection_method"),
        where=invoice_wanted,
    )
    retrieve_route(api, "/v1/invoices/{id}", "invoice")

    @api.post("/v1/invoices/{id}")
    def update(request: StripeRequest) -> dict[str, Any]:
        fields = validate(request.params, INVOICE_UPDATE)
        with operation(system) as op:
            check_due_date(op, fields.get("due_date"))
            invoice = find(op.db, "invoice", request.path_params["id"])
            if invoice["status"] != "draft":
                for key in fields:
                    if key not in ANY_TIME_FIELDS:
                        raise refused(
                            f"You can only update `{key}` on a draft invoice; this invoice is {invoice['status']}.",
                            param=key,
                        )
            private = _private(op.db, invoice["id"])
            before = clone(invoice)
            changed = clone(invoice)
            new_private = dict(private)
            for key, value in fields.items():
                if key == "metadata":
                    changed["metadata"] = merge_metadata(changed.get("metadata"), value)
                elif key in ("number", "days_until_due"):
                    new_private[key] = value
                elif key == "auto_advance":
                    changed["auto_advance"] = bool(value)
                elif key != "expand":
                    changed[key] = value
            which_due = exclusive(fields, "days_until_due", "due_date")
            if changed["collection_method"] == "charge_automatically":
                if which_due is not None:
                    raise refused(
                        f"Invoices with collection_method=charge_automatically cannot have `{which_due}` set.",
                        param=which_due,
                    )
                changed["due_date"] = None
                new_private["days_until_due"] = None
            else:
                if which_due == "days_until_due":
                    changed["due_date"] = int(changed["created"]) + int(fields["days_until_due"]) * DAY
                elif which_due == "due_date":
                    new_private["days_until_due"] = None
                if changed.get("due_date") is None:
                    raise refused(
                        "Invoices with collection_method=send_invoice need `days_until_due` or `due_date`.",
                        param="days_until_due",
                    )
            if changed.get("default_payment_method"):
                card_for(changed["default_payment_method"], param="default_payment_method")
            invoice.clear()
            invoice.update(changed)
            private.update(new_private)
            previous = changed_attributes(before, invoice)
            if previous:
                op.emit("invoice.updated", invoice, previous)
            return expand(op.db, invoice, request.expand, op.now)

    @api.delete("/v1/invoices/{id}")
    def delete(request: StripeRequest) -> dict[str, Any]:
        validate(request.params, {})
        with operation(system) as op:
            invoice = find(op.db, "invoice", request.path_params["id"])
            if invoice["status"] != "draft":
                raise refused(
                    f"You can only delete draft invoices; this invoice is {invoice['status']}.",
                    code="invoice_not_editable",
                )
            snapshot = invoice
            for item in list(op.db["invoiceitems"].values()):
                if item.get("invoice") == invoice["id"]:
                    _delete_item(op, item)
            op.db["invoices"][invoice["id"]] = {
                **deleted_object(invoice["id"], "invoice"),
                "created": invoice["created"],
            }
            op.emit("invoice.deleted", snapshot)
            return deleted_object(snapshot["id"], "invoice")

    @api.post("/v1/invoices/{id}/add_lines")
    def add_lines_route(request: StripeRequest) -> dict[str, Any]:
        fields = validate(request.params, ADD_LINES)
        if "lines" not in fields:
            raise missing_param("lines")
        with operation(system) as op:
            invoice = find(op.db, "invoice", request.path_params["id"])
            add_lines(
                op,
                invoice,
                fields["lines"],
                fields.get("invoice_metadata"),
                metadata_given="invoice_metadata" in fields,
            )
            return expand(op.db, invoice, request.expand, op.now)

    @api.get("/v1/invoices/{id}/lines")
    def list_lines(request: StripeRequest) -> dict[str, Any]:
        params = validate(request.params, LINES_LIST)
        with system.state as db:
            invoice = find(db, "invoice", request.path_params["id"])
            lines = [clone(line) for line in db["invoice_lines"].get(invoice["id"], [])]
            envelope = paginate(f"/v1/invoices/{invoice['id']}/lines", lines, params, kind="line_item")
            paths = params.get("expand") or []
            if paths:
                envelope = expand_list(db, envelope, paths, system.clock.time())
            return envelope

    def action(name: str, spec: Mapping[str, Spec], act: InvoiceAction) -> None:
        """``POST /v1/invoices/{id}/<name>``: ``act(op, invoice, fields)``, then the invoice."""

        def handler(request: StripeRequest) -> dict[str, Any]:
            fields = validate(request.params, spec)
            with operation(system) as op:
                invoice = find(op.db, "invoice", request.path_params["id"])
                act(op, invoice, fields)
                return expand(op.db, invoice, request.expand, op.now)

        api.route("POST", f"/v1/invoices/{{id}}/{name}", handler)

    action(
        "finalize",
        FINALIZE,
        lambda op, invoice, fields: finalize_invoice(op, invoice, auto_advance=fields.get("auto_advance")),
    )
    action("send", RETRIEVE, lambda op, invoice, _fields: send_invoice(op, invoice))
    action("pay", PAY, _pay)
    action("void", RETRIEVE, lambda op, invoice, _fields: void_invoice(op, invoice))
    action("mark_uncollectible", RETRIEVE, lambda op, invoice, _fields: mark_uncollectible(op, invoice))
