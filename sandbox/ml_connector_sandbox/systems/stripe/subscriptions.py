"""Subscriptions: create, retrieve, update, list, cancel, and billing cycles (contract A8 "Subscription").

A subscription bills ``recurring`` prices (all of one currency and one interval) per period. Since
basil the current period lives on each subscription item (``current_period_start/end``), and the
subscription's invoices name it in ``invoice.parent.subscription_details.subscription``.

* Creation makes the first invoice (``billing_reason: subscription_create``; lines of type
  ``subscription_item_details`` with the period) and finalizes it at once. With
  ``charge_automatically`` it is paid with the subscription's ``default_payment_method`` (or the
  customer's ``invoice_settings.default_payment_method``): the subscription is ``active`` when the
  payment succeeds and ``incomplete`` when it is declined (``payment_behavior=allow_incomplete``,
  the only behaviour the stand-in has). With ``send_invoice`` (``days_until_due`` required) the
  invoice stays open for the customer and the subscription is ``active``.
* :func:`advance_subscription` (``StripeSandbox.advance_subscription``, admin
  ``POST /__sandbox__/stripe/subscriptions/{id}/cycle``) moves every item one interval forward —
  whatever the sandbox clock says — and bills the new period the same way
  (``billing_reason: subscription_cycle``); a declined renewal leaves the subscription
  ``past_due``, a paid one makes it ``active`` again. The invoice's ``period_start/end`` is the
  period that just ended, as Stripe reports it; ``created`` is the sandbox clock.
* Events: ``customer.subscription.created`` (before the first invoice's events, with the
  subscription as it ends up), ``customer.subscription.updated`` (each cycle, with
  ``previous_attributes``), ``customer.subscription.deleted`` on cancel.

Not modelled: trials, proration, quantity changes, pausing, schedules, discounts, taxes.
"""

from __future__ import annotations

import calendar
from collections.abc import Mapping
from datetime import UTC, datetime
from typing import TYPE_CHECKING, Any

from ml_connector_sandbox.systems.stripe.billing import (
    add_subscription_line,
    create_invoice,
    finalize_invoice,
    pay_invoice,
)
from ml_connector_sandbox.systems.stripe.catalog import PRICE_DATA, inline_price
from ml_connector_sandbox.systems.stripe.errors import invalid_request, missing_param
from ml_connector_sandbox.systems.stripe.objects import clone, list_envelope, new_id
from ml_connector_sandbox.systems.stripe.params import (
    EXPAND,
    PAGING,
    Arr,
    Enum,
    Int,
    Metadata,
    Obj,
    Spec,
    Str,
    exclusive,
    merge_metadata,
    validate,
)
from ml_connector_sandbox.systems.stripe.payments import card_for
from ml_connector_sandbox.systems.stripe.store import (
    Operation,
    apply_update,
    changed_attributes,
    expand,
    find,
    find_param,
    list_route,
    operation,
    refused,
    retrieve_route,
)

if TYPE_CHECKING:
    from ml_connector_sandbox.systems.stripe.api import StripeApi, StripeRequest
    from ml_connector_sandbox.systems.stripe.system import StripeSandbox

__all__ = ["advance_subscription", "period_boundary", "register_subscriptions"]

DAY = 86400
MAX_ITEMS = 20

ITEM = Obj({"metadata": Metadata(), "price": Str(), "price_data": PRICE_DATA, "quantity": Int(minimum=1)})
CREATE: dict[str, Spec] = {
    "collection_method": Enum("charge_automatically", "send_invoice"),
    "currency": Str(),
    "customer": Str(),
    "days_until_due": Int(minimum=0),
    "default_payment_method": Str(),
    "description": Str(max_length=500),
    "expand": EXPAND,
    "items": Arr(ITEM, max_items=MAX_ITEMS),
    "metadata": Metadata(),
    "payment_behavior": Enum("allow_incomplete"),
}
UPDATE: dict[str, Spec] = {
    "default_payment_method": Str(),
    "description": Str(max_length=500),
    "expand": EXPAND,
    "metadata": Metadata(),
}
CANCEL: dict[str, Spec] = {
    "cancellation_details": Obj(
        {
            "comment": Str(),
            "feedback": Enum(
                "customer_service",
                "low_quality",
                "missing_features",
                "other",
                "switched_service",
                "too_complex",
                "too_expensive",
                "unused",
            ),
        }
    ),
    "expand": EXPAND,
}
LIST: dict[str, Spec] = {
    **PAGING,
    "collection_method": Enum("charge_automatically", "send_invoice"),
    "customer": Str(),
    "price": Str(),
    "status": Enum(
        "active",
        "all",
        "canceled",
        "ended",
        "incomplete",
        "incomplete_expired",
        "past_due",
        "paused",
        "trialing",
        "unpaid",
    ),
}


def period_boundary(anchor: int, interval: str, interval_count: int, n: int) -> int:
    """The start of period ``n`` (0 = the first) of a cycle anchored at ``anchor``.

    Months and years are calendar months from the anchor's day, clamped to the month's length
    (anchored on 31 January: 28/29 February, 31 March, ...).
    """
    if interval == "day":
        return anchor + n * interval_count * DAY
    if interval == "week":
        return anchor + n * interval_count * 7 * DAY
    months = n * interval_count * (12 if interval == "year" else 1)
    start = datetime.fromtimestamp(anchor, UTC)
    total = start.month - 1 + months
    year, month = start.year + total // 12, total % 12 + 1
    day = min(start.day, calendar.monthrange(year, month)[1])
    return int(start.replace(year=year, month=month, day=day).timestamp())


def _plan(price: Mapping[str, Any]) -> dict[str, Any]:
    recurring = price["recurring"] or {}
    return {
        "id": price["id"],
        "object": "plan",
        "active": price["active"],
        "amount": price["unit_amount"],
        "amount_decimal": price["unit_amount_decimal"],
        "billing_scheme": "per_unit",
        "created": price["created"],
        "currency": price["currency"],
        "interval": recurring.get("interval"),
        "interval_count": recurring.get("interval_count"),
        "livemode": False,
        "metadata": dict(price.get("metadata") or {}),
        "meter": None,
        "nickname": price.get("nickname"),
        "product": price["product"],
        "tiers_mode": None,
        "transform_usage": None,
        "trial_period_days": None,
        "usage_type": recurring.get("usage_type") or "licensed",
    }


def _private(db: Mapping[str, Any], sub_id: str) -> dict[str, Any]:
    """Cycle bookkeeping kept outside the object: anchor, interval, count and period number."""
    private: dict[str, Any] = db["subscription_private"].setdefault(sub_id, {})
    return private


def _parent(subscription: Mapping[str, Any]) -> dict[str, Any]:
    return {
        "quote_details": None,
        "subscription_details": {
            "metadata": dict(subscription.get("metadata") or {}),
            "subscription": subscription["id"],
            "subscription_proration_date": None,
        },
        "type": "subscription_details",
    }


def _bill_period(
    op: Operation, subscription: dict[str, Any], billing_reason: str, period: tuple[int, int] | None
) -> dict[str, Any]:
    """Create, finalize and (for ``charge_automatically``) pay the invoice of the current period.

    :param period: the invoice's ``period_start/end`` (``None``: the creation instant).
    :return: the invoice; the subscription's ``status`` and ``latest_invoice`` are updated.
    """
    invoice = create_invoice(
        op,
        {
            "customer": subscription["customer"],
            "collection_method": subscription["collection_method"],
            "days_until_due": subscription["days_until_due"],
            "currency": subscription["currency"],
            "description": subscription.get("description"),
        },
        billing_reason=billing_reason,
        parent=_parent(subscription),
    )
    if period is not None:
        invoice["period_start"], invoice["period_end"] = period
    for item in subscription["items"]["data"]:
        add_subscription_line(
            op,
            invoice,
            subscription,
            item,
            {"start": int(item["current_period_start"]), "end": int(item["current_period_end"])},
        )
    subscription["latest_invoice"] = invoice["id"]
    if subscription["collection_method"] == "send_invoice":
        finalize_invoice(op, invoice)
        if subscription["status"] == "incomplete":
            subscription["status"] = "active"  # the customer pays the open invoice later
        return invoice
    outcome = pay_invoice(op, invoice)
    if outcome is not None and not outcome.succeeded:
        subscription["status"] = "incomplete" if billing_reason == "subscription_create" else "past_due"
    else:
        subscription["status"] = "active"
    return invoice


def _payment_method(op: Operation, fields: Mapping[str, Any], customer: Mapping[str, Any]) -> str | None:
    method = fields.get("default_payment_method") or (customer.get("invoice_settings") or {}).get(
        "default_payment_method"
    )
    if method:
        card_for(str(method), param="default_payment_method")
    return str(method) if method else None


def create_subscription(op: Operation, fields: Mapping[str, Any]) -> dict[str, Any]:
    """Store a subscription and bill its first period (see the module docstring)."""
    customer_id = fields.get("customer")
    if not customer_id:
        raise missing_param("customer")
    customer = find_param(op.db, "customer", customer_id, "customer")
    entries = fields.get("items") or []
    if not entries:
        raise missing_param("items")
    collection_method = fields.get("collection_method") or "charge_automatically"
    if collection_method == "send_invoice" and fields.get("days_until_due") is None:
        raise invalid_request(
            "days_until_due is required when collection_method is send_invoice.", param="days_until_due"
        )
    if collection_method == "charge_automatically" and fields.get("days_until_due") is not None:
        raise invalid_request(
            "days_until_due can only be set when collection_method is send_invoice.", param="days_until_due"
        )
    method = _payment_method(op, fields, customer)
    if collection_method == "charge_automatically" and method is None:
        raise refused(
            "This customer has no attached payment source or default payment method. Please consider adding a "
            "default payment method.",
            param="default_payment_method",
        )
    prices: list[dict[str, Any]] = []
    for index, entry in enumerate(entries):
        which = exclusive(entry, "price", "price_data")
        if which is None:
            raise missing_param(f"items[{index}][price]")
        if which == "price":
            price = find_param(op.db, "price", entry["price"], f"items[{index}][price]")
            if price["type"] != "recurring":
                raise refused(
                    "The price specified is set to `type=one_time` but this field only accepts prices with "
                    "`type=recurring`.",
                    param=f"items[{index}][price]",
                )
        else:
            price = inline_price(op, entry["price_data"], param=f"items[{index}][price_data]", recurring=True)
        prices.append(price)
    first = prices[0]
    for index, price in enumerate(prices[1:], start=1):
        same_interval = (price["recurring"]["interval"], price["recurring"]["interval_count"]) == (
            first["recurring"]["interval"],
            first["recurring"]["interval_count"],
        )
        if price["currency"] != first["currency"] or not same_interval:
            raise refused(
                "Currency and interval fields must match across all plans on this subscription.",
                param=f"items[{index}][price]",
            )
    currency = str(first["currency"])
    if fields.get("currency") and str(fields["currency"]).lower() != currency:
        raise refused(
            f"The subscription's currency ({fields['currency']}) does not match its prices' ({currency}).",
            param="currency",
        )
    for price in prices:
        if price["id"] not in op.db["prices"]:
            op.store("price", price)  # inline prices of price_data, once every item was accepted

    interval, count = first["recurring"]["interval"], int(first["recurring"]["interval_count"])
    sub_id = new_id("sub")
    start, end = op.now, period_boundary(op.now, interval, count, 1)
    items: list[dict[str, Any]] = [
        {
            "id": new_id("si"),
            "object": "subscription_item",
            "billing_thresholds": None,
            "created": op.now,
            "current_period_end": end,
            "current_period_start": start,
            "discounts": [],
            "metadata": merge_metadata({}, entry.get("metadata") or {}),
            "plan": _plan(price),
            "price": clone(price),
            "quantity": int(entry.get("quantity") or 1),
            "subscription": sub_id,
            "tax_rates": [],
        }
        for entry, price in zip(entries, prices, strict=True)
    ]
    subscription = op.store(
        "subscription",
        {
            "id": sub_id,
            "object": "subscription",
            "application": None,
            "application_fee_percent": None,
            "automatic_tax": {"disabled_reason": None, "enabled": False, "liability": None},
            "billing_cycle_anchor": op.now,
            "billing_cycle_anchor_config": None,
            "billing_mode": {"flexible": None, "type": "classic", "updated_at": None},
            "billing_thresholds": None,
            "cancel_at": None,
            "cancel_at_period_end": False,
            "canceled_at": None,
            "cancellation_details": {"comment": None, "feedback": None, "reason": None},
            "collection_method": collection_method,
            "created": op.now,
            "currency": currency,
            "customer": customer_id,
            "days_until_due": fields.get("days_until_due"),
            "default_payment_method": fields.get("default_payment_method"),
            "default_source": None,
            "default_tax_rates": [],
            "description": fields.get("description"),
            "discounts": [],
            "ended_at": None,
            "invoice_settings": {"account_tax_ids": None, "issuer": {"type": "self"}},
            "items": list_envelope(f"/v1/subscription_items?subscription={sub_id}", items, False),
            "latest_invoice": None,
            "livemode": False,
            "metadata": merge_metadata({}, fields.get("metadata") or {}),
            "next_pending_invoice_item_invoice": None,
            "on_behalf_of": None,
            "pause_collection": None,
            "payment_settings": {
                "payment_method_options": None,
                "payment_method_types": None,
                "save_default_payment_method": "off",
            },
            "pending_invoice_item_interval": None,
            "pending_setup_intent": None,
            "pending_update": None,
            "schedule": None,
            "start_date": op.now,
            "status": "incomplete",
            "test_clock": None,
            "transfer_data": None,
            "trial_end": None,
            "trial_settings": {"end_behavior": {"missing_payment_method": "create_invoice"}},
            "trial_start": None,
        },
    )
    _private(op.db, sub_id).update(anchor=op.now, interval=interval, interval_count=count, period=0)
    position = len(op.events)
    _bill_period(op, subscription, "subscription_create", None)
    op.events.insert(position, ("customer.subscription.created", clone(subscription), None))
    return subscription


def advance_subscription(system: StripeSandbox, subscription_id: str) -> dict[str, Any]:
    """Move a subscription one billing interval forward and bill the new period.

    :return: the new period's invoice.
    :raises StripeAPIError: unknown (404) or canceled (400) subscription.
    """
    with operation(system) as op:
        subscription = find(op.db, "subscription", subscription_id)
        if subscription["status"] in ("canceled", "incomplete_expired"):
            raise refused(
                f"Subscription {subscription_id} is {subscription['status']} and has no further billing cycles."
            )
        private = _private(op.db, subscription_id)
        before = clone(subscription)
        period = int(private["period"]) + 1
        private["period"] = period
        bounds = [
            period_boundary(int(private["anchor"]), private["interval"], int(private["interval_count"]), n)
            for n in (period - 1, period, period + 1)
        ]
        for item in subscription["items"]["data"]:
            item["current_period_start"], item["current_period_end"] = bounds[1], bounds[2]
        position = len(op.events)
        invoice = _bill_period(op, subscription, "subscription_cycle", (bounds[0], bounds[1]))
        op.events.insert(
            position,
            (
                "customer.subscription.updated",
                clone(subscription),
                changed_attributes(before, subscription),
            ),
        )
        return clone(invoice)


def register_subscriptions(api: StripeApi) -> None:
    """Mount ``/v1/subscriptions`` (create, retrieve, update, list, cancel)."""
    system = api.system

    @api.post("/v1/subscriptions")
    def create(request: StripeRequest) -> dict[str, Any]:
        fields = validate(request.params, CREATE)
        with operation(system) as op:
            subscription = create_subscription(op, fields)
            return expand(op.db, subscription, request.expand, op.now)

    def wanted(sub: Mapping[str, Any], params: Mapping[str, Any]) -> bool:
        status = params.get("status")
        ended = sub["status"] in ("canceled", "incomplete_expired")
        if status is None:
            status_ok = not ended
        elif status == "ended":
            status_ok = ended
        else:
            status_ok = status == "all" or sub["status"] == status
        prices = {item["price"]["id"] for item in sub["items"]["data"]}
        return status_ok and ("price" not in params or params["price"] in prices)

    list_route(
        api,
        "/v1/subscriptions",
        "subscription",
        LIST,
        match=("customer", "collection_method"),
        where=wanted,
    )
    retrieve_route(api, "/v1/subscriptions/{id}", "subscription")

    @api.post("/v1/subscriptions/{id}")
    def update(request: StripeRequest) -> dict[str, Any]:
        fields = validate(request.params, UPDATE)
        with operation(system) as op:
            subscription = find(op.db, "subscription", request.path_params["id"])
            if subscription["status"] == "canceled" and set(fields) - {"metadata", "expand"}:
                raise refused(
                    "A canceled subscription can only update its cancellation_details and metadata."
                )
            if fields.get("default_payment_method"):
                card_for(fields["default_payment_method"], param="default_payment_method")
            apply_update(op, subscription, fields, "customer.subscription.updated")
            return expand(op.db, subscription, request.expand, op.now)

    @api.delete("/v1/subscriptions/{id}")
    def cancel(request: StripeRequest) -> dict[str, Any]:
        fields = validate(request.params, CANCEL)
        with operation(system) as op:
            subscription = find(op.db, "subscription", request.path_params["id"])
            if subscription["status"] == "canceled":
                raise refused(f"Subscription {subscription['id']} is already canceled.")
            details = fields.get("cancellation_details") or {}
            subscription.update(status="canceled", canceled_at=op.now, ended_at=op.now)
            subscription["cancellation_details"] = {
                "comment": details.get("comment"),
                "feedback": details.get("feedback"),
                "reason": "cancellation_requested",
            }
            op.emit("customer.subscription.deleted", subscription)
            return expand(op.db, subscription, request.expand, op.now)
