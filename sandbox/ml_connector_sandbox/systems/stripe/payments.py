"""Payments: PaymentIntents, charges, balance transactions, invoice payments and refunds (contract A8).

Every payment — an invoice paid through the API or by the customer on the hosted page, a
subscription renewal, a PaymentIntent confirmed by a client — goes through
:func:`collect_payment`: it creates (or re-uses) the PaymentIntent, tries the test payment method
and leaves

* on success: a ``succeeded`` PaymentIntent (``latest_charge``, ``amount_received``), a
  ``succeeded`` Charge (``paid``, ``captured``, ``amount_captured``, ``balance_transaction``; no
  ``invoice`` field, as since basil), a ``charge`` BalanceTransaction (``fee`` from
  :func:`~.objects.stripe_fee`, ``fee_details``, ``net``, ``status: pending`` until
  ``available_on``) and, for an invoice, a ``paid`` InvoicePayment
  (``payment.type: payment_intent``); events ``payment_intent.created`` (new intents),
  ``charge.succeeded``, ``payment_intent.succeeded``, ``invoice_payment.paid``;
* on a decline: a ``failed`` Charge without balance transaction, the PaymentIntent back in
  ``requires_payment_method`` with ``last_payment_error``, for an invoice an ``open``
  InvoicePayment; events ``charge.failed``, ``payment_intent.payment_failed``; the API answers
  402 ``card_error`` (:func:`card_error`).

Test payment methods (:data:`TEST_PAYMENT_METHODS`): ``pm_card_visa``, ``pm_card_visa_debit``,
``pm_card_mastercard`` and ``pm_card_amex`` succeed; ``pm_card_chargeDeclined``
(``generic_decline``) and ``pm_card_chargeDeclinedInsufficientFunds`` (``insufficient_funds``)
are declined. The charge keeps the test id as its ``payment_method`` (Stripe would create a
``pm_…`` object from the test token).

Only automatic capture exists (``capture_method=manual`` is refused).
"""

from __future__ import annotations

import secrets
from collections.abc import Mapping
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from ml_connector_sandbox.systems.stripe.errors import (
    DOCS_ERROR_CODES_URL,
    StripeAPIError,
    invalid_request,
    missing_param,
    resource_missing,
)
from ml_connector_sandbox.systems.stripe.objects import format_amount, new_id, stripe_fee
from ml_connector_sandbox.systems.stripe.params import (
    EXPAND,
    PAGING,
    Arr,
    Bool,
    Currency,
    Enum,
    Int,
    Metadata,
    Obj,
    Spec,
    Str,
    exclusive,
    merge_metadata,
    require,
    validate,
)
from ml_connector_sandbox.systems.stripe.store import (
    Operation,
    apply_update,
    expand,
    find,
    find_param,
    list_response,
    list_route,
    operation,
    refresh_balance_transaction,
    refused,
    retrieve_route,
)

if TYPE_CHECKING:
    from ml_connector_sandbox.systems.stripe.api import StripeApi, StripeRequest

__all__ = [
    "TEST_PAYMENT_METHODS",
    "PaymentOutcome",
    "SandboxCard",
    "available_on",
    "card_error",
    "card_for",
    "collect_payment",
    "create_refund",
    "new_payment_intent",
    "register_payments",
]

DAY = 86400
SETTLEMENT_DAYS = 2
"""Days until a charge's funds become available (``available_on``: midnight UTC, two days on)."""


@dataclass(frozen=True)
class SandboxCard:
    """A test payment method: its card details and, for declining ones, the decline."""

    brand: str
    last4: str
    funding: str = "credit"
    decline_code: str | None = None
    message: str = "Your card was declined."

    def details(self) -> dict[str, Any]:
        """``payment_method_details.card`` of a charge."""
        return {
            "brand": self.brand,
            "checks": {"address_line1_check": None, "address_postal_code_check": None, "cvc_check": "pass"},
            "country": "US",
            "exp_month": 12,
            "exp_year": 2034,
            "fingerprint": f"sbx{self.brand}{self.last4}",
            "funding": self.funding,
            "last4": self.last4,
            "network": self.brand,
        }


TEST_PAYMENT_METHODS: Mapping[str, SandboxCard] = {
    "pm_card_visa": SandboxCard("visa", "4242"),
    "pm_card_visa_debit": SandboxCard("visa", "5556", funding="debit"),
    "pm_card_mastercard": SandboxCard("mastercard", "4444"),
    "pm_card_amex": SandboxCard("amex", "8431"),
    "pm_card_chargeDeclined": SandboxCard("visa", "0002", decline_code="generic_decline"),
    "pm_card_chargeDeclinedInsufficientFunds": SandboxCard(
        "visa", "9995", decline_code="insufficient_funds", message="Your card has insufficient funds."
    ),
}
"""The test payment methods the stand-in knows (Stripe's test tokens of the same names)."""


def card_for(payment_method: str, *, param: str = "payment_method") -> SandboxCard:
    """The test card behind ``payment_method``, or 400 ``No such PaymentMethod`` on ``param``."""
    card = TEST_PAYMENT_METHODS.get(payment_method)
    if card is None:
        raise resource_missing("PaymentMethod", payment_method, param=param, status=400)
    return card


def available_on(created: int) -> int:
    """When a charge made at ``created`` becomes available: midnight UTC ``SETTLEMENT_DAYS`` later."""
    return (created // DAY + SETTLEMENT_DAYS) * DAY


# -- objects -----------------------------------------------------------------------------------------


def payment_intent_object(pi_id: str, created: int, fields: Mapping[str, Any]) -> dict[str, Any]:
    """A PaymentIntent (16.1.0 field set) in ``requires_payment_method`` or ``requires_confirmation``."""
    payment_method = fields.get("payment_method")
    return {
        "id": pi_id,
        "object": "payment_intent",
        "amount": fields["amount"],
        "amount_capturable": 0,
        "amount_details": {"tip": {}},
        "amount_received": 0,
        "application": None,
        "application_fee_amount": None,
        "automatic_payment_methods": None,
        "canceled_at": None,
        "cancellation_reason": None,
        "capture_method": fields.get("capture_method") or "automatic",
        "client_secret": f"{pi_id}_secret_{secrets.token_hex(12)}",
        "confirmation_method": "automatic",
        "created": created,
        "currency": fields["currency"],
        "customer": fields.get("customer"),
        "description": fields.get("description"),
        "excluded_payment_method_types": None,
        "last_payment_error": None,
        "latest_charge": None,
        "livemode": False,
        "metadata": merge_metadata({}, fields.get("metadata") or {}),
        "next_action": None,
        "on_behalf_of": None,
        "payment_method": payment_method,
        "payment_method_configuration_details": None,
        "payment_method_options": {
            "card": {
                "installments": None,
                "mandate_options": None,
                "network": None,
                "request_three_d_secure": "automatic",
            }
        },
        "payment_method_types": ["card"],
        "processing": None,
        "receipt_email": fields.get("receipt_email"),
        "review": None,
        "setup_future_usage": fields.get("setup_future_usage"),
        "shipping": None,
        "source": None,
        "statement_descriptor": fields.get("statement_descriptor"),
        "statement_descriptor_suffix": fields.get("statement_descriptor_suffix"),
        "status": "requires_confirmation" if payment_method else "requires_payment_method",
        "transfer_data": None,
        "transfer_group": None,
    }


def charge_object(
    charge_id: str, created: int, intent: Mapping[str, Any], payment_method: str, card: SandboxCard
) -> dict[str, Any]:
    """A Charge for ``intent`` paid with ``card`` (``succeeded`` or ``failed``); never an ``invoice``."""
    declined = card.decline_code is not None
    amount = int(intent["amount"])
    return {
        "id": charge_id,
        "object": "charge",
        "amount": amount,
        "amount_captured": 0 if declined else amount,
        "amount_refunded": 0,
        "application": None,
        "application_fee": None,
        "application_fee_amount": None,
        "authorization_code": None if declined else f"{secrets.randbelow(10**6):06d}",
        "balance_transaction": None,
        "billing_details": {
            "address": dict.fromkeys(("city", "country", "line1", "line2", "postal_code", "state")),
            "email": None,
            "name": None,
            "phone": None,
            "tax_id": None,
        },
        "calculated_statement_descriptor": intent.get("statement_descriptor") or "MLC SANDBOX",
        "captured": not declined,
        "created": created,
        "currency": intent["currency"],
        "customer": intent.get("customer"),
        "description": intent.get("description"),
        "disputed": False,
        "failure_balance_transaction": None,
        "failure_code": "card_declined" if declined else None,
        "failure_message": card.message if declined else None,
        "fraud_details": {},
        "livemode": False,
        "metadata": dict(intent.get("metadata") or {}),
        "on_behalf_of": None,
        "outcome": {
            "advice_code": None,
            "network_advice_code": None,
            "network_decline_code": None,
            "network_status": "declined_by_network" if declined else "approved_by_network",
            "reason": card.decline_code,
            "risk_level": "normal",
            "risk_score": 20,
            "seller_message": "The bank did not return any further details with this decline."
            if declined
            else "Payment complete.",
            "type": "issuer_declined" if declined else "authorized",
        },
        "paid": not declined,
        "payment_intent": intent["id"],
        "payment_method": payment_method,
        "payment_method_details": {"card": card.details(), "type": "card"},
        "presentment_details": None,
        "radar_options": {},
        "receipt_email": intent.get("receipt_email"),
        "receipt_number": None,
        "receipt_url": f"https://pay.stripe.com/receipts/payment/sandbox_{charge_id}",
        "refunded": False,
        "review": None,
        "shipping": None,
        "source": None,
        "source_transfer": None,
        "statement_descriptor": intent.get("statement_descriptor"),
        "statement_descriptor_suffix": intent.get("statement_descriptor_suffix"),
        "status": "failed" if declined else "succeeded",
        "transfer_data": None,
        "transfer_group": None,
    }


def balance_transaction_object(
    txn_id: str,
    created: int,
    *,
    amount: int,
    currency: str,
    fee: int,
    source: str,
    type: str,
    description: str | None,
    available: int,
) -> dict[str, Any]:
    """A BalanceTransaction: ``net = amount - fee``; fees itemised as one ``stripe_fee``."""
    return {
        "id": txn_id,
        "object": "balance_transaction",
        "amount": amount,
        "available_on": available,
        "balance_type": "payments",
        "created": created,
        "currency": currency,
        "description": description,
        "exchange_rate": None,
        "fee": fee,
        "fee_details": [
            {
                "amount": fee,
                "application": None,
                "currency": currency,
                "description": "Stripe processing fees",
                "type": "stripe_fee",
            }
        ]
        if fee
        else [],
        "net": amount - fee,
        "reporting_category": type,
        "source": source,
        "status": "pending",
        "type": type,
    }


def invoice_payment_object(
    payment_id: str, created: int, invoice: Mapping[str, Any], intent: Mapping[str, Any]
) -> dict[str, Any]:
    """An ``open`` InvoicePayment linking ``invoice`` to ``intent``."""
    return {
        "id": payment_id,
        "object": "invoice_payment",
        "amount_paid": None,
        "amount_requested": int(intent["amount"]),
        "created": created,
        "currency": intent["currency"],
        "invoice": invoice["id"],
        "is_default": True,
        "livemode": False,
        "payment": {"type": "payment_intent", "payment_intent": intent["id"]},
        "status": "open",
        "status_transitions": {"canceled_at": None, "paid_at": None},
    }


# -- the payment flow --------------------------------------------------------------------------------


@dataclass
class PaymentOutcome:
    """What :func:`collect_payment` left behind (the stored objects, not copies)."""

    payment_intent: dict[str, Any]
    charge: dict[str, Any]
    balance_transaction: dict[str, Any] | None
    invoice_payment: dict[str, Any] | None
    card: SandboxCard

    @property
    def succeeded(self) -> bool:
        """Whether the charge succeeded."""
        return self.charge["status"] == "succeeded"


def new_payment_intent(op: Operation, fields: Mapping[str, Any]) -> dict[str, Any]:
    """Store a new PaymentIntent from coerced parameters and queue ``payment_intent.created``."""
    intent = op.store("payment_intent", payment_intent_object(new_id("pi"), op.now, fields))
    op.emit("payment_intent.created", intent)
    return intent


def collect_payment(
    op: Operation,
    *,
    payment_method: str,
    payment_intent: dict[str, Any] | None = None,
    intent_fields: Mapping[str, Any] | None = None,
    invoice: Mapping[str, Any] | None = None,
) -> PaymentOutcome:
    """Try to pay: the one payment path of the stand-in (see the module docstring).

    :param payment_method: a test payment method id (:data:`TEST_PAYMENT_METHODS`).
    :param payment_intent: confirm this stored intent; otherwise one is created from
        ``intent_fields`` (``amount``, ``currency``, ``customer``, ``description``, ``metadata``).
    :param invoice: the invoice being paid: its open InvoicePayment for this intent is created
        or re-used, and marked ``paid`` on success.
    :raises StripeAPIError: 400 for an unknown payment method (nothing is written then).
    """
    card = card_for(payment_method)
    if payment_intent is None:
        if intent_fields is None:
            raise ValueError("collect_payment needs payment_intent or intent_fields")
        payment_intent = new_payment_intent(op, {**intent_fields, "payment_method": payment_method})
    intent = payment_intent
    invoice_payment: dict[str, Any] | None = None
    if invoice is not None:
        for candidate in op.db["invoice_payments"].values():
            if (
                candidate["invoice"] == invoice["id"]
                and candidate["payment"]["payment_intent"] == intent["id"]
            ):
                invoice_payment = candidate
        if invoice_payment is None:
            invoice_payment = op.store(
                "invoice_payment", invoice_payment_object(new_id("inpay"), op.now, invoice, intent)
            )

    charge = op.store("charge", charge_object(new_id("ch"), op.now, intent, payment_method, card))
    intent["latest_charge"] = charge["id"]
    if card.decline_code is not None:
        intent["status"] = "requires_payment_method"
        intent["payment_method"] = None
        intent["last_payment_error"] = {
            "charge": charge["id"],
            "code": "card_declined",
            "decline_code": card.decline_code,
            "doc_url": DOCS_ERROR_CODES_URL + "card-declined",
            "message": card.message,
            "payment_method": {"id": payment_method, "object": "payment_method", "type": "card"},
            "type": "card_error",
        }
        op.emit("charge.failed", charge)
        op.emit("payment_intent.payment_failed", intent)
        return PaymentOutcome(intent, charge, None, invoice_payment, card)

    amount, currency = int(intent["amount"]), str(intent["currency"])
    txn = op.store(
        "balance_transaction",
        balance_transaction_object(
            new_id("txn"),
            op.now,
            amount=amount,
            currency=currency,
            fee=stripe_fee(amount, currency),
            source=charge["id"],
            type="charge",
            description=intent.get("description"),
            available=available_on(op.now),
        ),
    )
    charge["balance_transaction"] = txn["id"]
    intent.update(
        status="succeeded",
        amount_received=amount,
        payment_method=payment_method,
        last_payment_error=None,
    )
    op.emit("charge.succeeded", charge)
    op.emit("payment_intent.succeeded", intent)
    if invoice_payment is not None:
        invoice_payment.update(amount_paid=amount, status="paid")
        invoice_payment["status_transitions"]["paid_at"] = op.now
        op.emit("invoice_payment.paid", invoice_payment)
    return PaymentOutcome(intent, charge, txn, invoice_payment, card)


def card_error(outcome: PaymentOutcome) -> StripeAPIError:
    """The 402 ``card_error`` of a declined payment (``decline_code``, ``charge``, ``payment_intent``)."""
    card = outcome.card
    return StripeAPIError(
        402,
        card.message,
        type="card_error",
        code="card_declined",
        extra={
            "charge": outcome.charge["id"],
            "decline_code": card.decline_code,
            "payment_intent": dict(outcome.payment_intent),
            "payment_method": {
                "id": outcome.charge["payment_method"],
                "object": "payment_method",
                "type": "card",
            },
        },
    )


def create_refund(op: Operation, charge: dict[str, Any], fields: Mapping[str, Any]) -> dict[str, Any]:
    """Refund ``charge`` (all that remains, or ``fields["amount"]``): a ``succeeded`` Refund with a
    ``refund`` BalanceTransaction (negative amount, no fee); queues ``refund.created`` and
    ``charge.refunded``.

    :raises StripeAPIError: 400 when the charge did not succeed, is fully refunded, or the amount
        exceeds what remains.
    """
    currency = str(charge["currency"])
    if charge["status"] != "succeeded":
        raise refused(
            f"Charge {charge['id']} has not been captured, so it cannot be refunded.", param="charge"
        )
    remaining = int(charge["amount_captured"]) - int(charge["amount_refunded"])
    if remaining <= 0:
        raise StripeAPIError(
            400,
            f"Charge {charge['id']} has already been refunded.",
            code="charge_already_refunded",
            param="charge",
        )
    amount = int(fields.get("amount") or remaining)
    if amount > remaining:
        raise StripeAPIError(
            400,
            f"Refund amount ({format_amount(amount, currency)}) is greater than unrefunded amount on charge "
            f"({format_amount(remaining, currency)})",
            code="amount_too_large",
            param="amount",
        )
    refund_id = new_id("re")
    txn = op.store(
        "balance_transaction",
        balance_transaction_object(
            new_id("txn"),
            op.now,
            amount=-amount,
            currency=currency,
            fee=0,
            source=refund_id,
            type="refund",
            description=f"REFUND FOR CHARGE ({charge.get('description') or 'no description'})",
            available=op.now,
        ),
    )
    refresh_balance_transaction(txn, op.now)
    refund = op.store(
        "refund",
        {
            "id": refund_id,
            "object": "refund",
            "amount": amount,
            "balance_transaction": txn["id"],
            "charge": charge["id"],
            "created": op.now,
            "currency": currency,
            "description": None,
            "destination_details": {
                "card": {
                    "reference_status": "pending",
                    "reference_type": "acquirer_reference_number",
                    "type": "refund",
                },
                "type": "card",
            },
            "failure_balance_transaction": None,
            "failure_reason": None,
            "instructions_email": fields.get("instructions_email"),
            "metadata": merge_metadata({}, fields.get("metadata") or {}),
            "next_action": None,
            "payment_intent": charge.get("payment_intent"),
            "payment_method": charge.get("payment_method"),
            "pending_reason": None,
            "presentment_details": None,
            "reason": fields.get("reason"),
            "receipt_number": None,
            "source_transfer_reversal": None,
            "status": "succeeded",
            "transfer_reversal": None,
        },
    )
    charge["amount_refunded"] = int(charge["amount_refunded"]) + amount
    charge["refunded"] = charge["amount_refunded"] >= int(charge["amount_captured"])
    op.emit("refund.created", refund)
    op.emit("charge.refunded", charge)
    return refund


# -- parameters --------------------------------------------------------------------------------------

PI_CREATE: dict[str, Spec] = {
    "amount": Int(minimum=1),
    "automatic_payment_methods": Obj({"allow_redirects": Enum("always", "never"), "enabled": Bool()}),
    "capture_method": Enum("automatic", "automatic_async", "manual"),
    "confirm": Bool(),
    "currency": Currency(),
    "customer": Str(),
    "description": Str(max_length=1000),
    "expand": EXPAND,
    "metadata": Metadata(),
    "off_session": Bool(),
    "payment_method": Str(),
    "payment_method_types": Arr(Enum("card")),
    "receipt_email": Str(),
    "return_url": Str(),
    "setup_future_usage": Enum("off_session", "on_session"),
    "statement_descriptor": Str(max_length=22),
    "statement_descriptor_suffix": Str(max_length=22),
}
PI_CONFIRM: dict[str, Spec] = {
    "expand": EXPAND,
    "off_session": Bool(),
    "payment_method": Str(),
    "receipt_email": Str(),
    "return_url": Str(),
}
PI_UPDATE: dict[str, Spec] = {
    "description": Str(max_length=1000),
    "expand": EXPAND,
    "metadata": Metadata(),
    "receipt_email": Str(),
    "statement_descriptor": Str(max_length=22),
    "statement_descriptor_suffix": Str(max_length=22),
}
PI_LIST: dict[str, Spec] = {**PAGING, "customer": Str()}
CHARGE_LIST: dict[str, Spec] = {**PAGING, "customer": Str(), "payment_intent": Str(), "transfer_group": Str()}
TXN_LIST: dict[str, Spec] = {**PAGING, "currency": Currency(), "source": Str(), "type": Str()}
INVOICE_PAYMENT_LIST: dict[str, Spec] = {
    **PAGING,
    "invoice": Str(),
    "payment": Obj(
        {"payment_intent": Str(), "payment_record": Str(), "type": Enum("payment_intent", "payment_record")}
    ),
    "status": Enum("canceled", "open", "paid"),
}
REFUND_CREATE: dict[str, Spec] = {
    "amount": Int(minimum=1),
    "charge": Str(),
    "expand": EXPAND,
    "instructions_email": Str(),
    "metadata": Metadata(),
    "payment_intent": Str(),
    "reason": Enum("duplicate", "fraudulent", "requested_by_customer"),
}
REFUND_UPDATE: dict[str, Spec] = {"expand": EXPAND, "metadata": Metadata()}
REFUND_LIST: dict[str, Spec] = {**PAGING, "charge": Str(), "payment_intent": Str()}

_CONFIRMABLE = ("requires_confirmation", "requires_action", "requires_payment_method")


def _missing_payment_method() -> StripeAPIError:
    return StripeAPIError(
        400,
        "You cannot confirm this PaymentIntent because it's missing a payment method. You can either update "
        "the PaymentIntent with a payment method and then confirm it again, or confirm it again directly with "
        "a payment method.",
        code="payment_intent_unexpected_state",
    )


def _confirm(
    op: Operation,
    intent: dict[str, Any],
    payment_method: str | None,
    updates: Mapping[str, Any] | None = None,
) -> None:
    if intent["status"] not in _CONFIRMABLE:
        raise StripeAPIError(
            400,
            f"You cannot confirm this PaymentIntent because it has a status of {intent['status']}. Only a "
            f"PaymentIntent with one of the following statuses may be confirmed: {', '.join(_CONFIRMABLE)}.",
            code="payment_intent_unexpected_state",
        )
    method = payment_method or intent.get("payment_method")
    if not method:
        raise _missing_payment_method()
    intent.update(updates or {})
    invoice: dict[str, Any] | None = None
    for payment in op.db["invoice_payments"].values():
        if payment["payment"]["payment_intent"] == intent["id"] and payment["status"] == "open":
            invoice = op.db["invoices"].get(payment["invoice"])
    outcome = collect_payment(op, payment_method=method, payment_intent=intent, invoice=invoice)
    if invoice is not None:
        from ml_connector_sandbox.systems.stripe.billing import record_payment_attempt

        record_payment_attempt(op, invoice, outcome)
    if not outcome.succeeded:
        raise card_error(outcome)


# -- routes ------------------------------------------------------------------------------------------


def register_payments(api: StripeApi) -> None:
    """Mount payment intents, charges, balance transactions, invoice payments and refunds."""
    system = api.system

    # -- payment intents -------------------------------------------------------------------------

    @api.post("/v1/payment_intents")
    def create_intent(request: StripeRequest) -> dict[str, Any]:
        fields = validate(request.params, PI_CREATE)
        require(fields, "amount")
        require(fields, "currency")
        if fields.get("capture_method") == "manual":
            raise invalid_request(
                "The stand-in only captures automatically: capture_method must be automatic or automatic_async.",
                param="capture_method",
            )
        with operation(system) as op:
            if fields.get("customer"):
                find_param(op.db, "customer", fields["customer"], "customer")
            if fields.get("payment_method"):
                card_for(fields["payment_method"])
            if fields.get("confirm") and not fields.get("payment_method"):
                raise _missing_payment_method()
            intent = new_payment_intent(op, fields)
            if fields.get("confirm"):
                _confirm(op, intent, None)
            return expand(op.db, intent, request.expand, op.now)

    list_route(api, "/v1/payment_intents", "payment_intent", PI_LIST, match=("customer",))
    retrieve_route(api, "/v1/payment_intents/{id}", "payment_intent")

    @api.post("/v1/payment_intents/{id}")
    def update_intent(request: StripeRequest) -> dict[str, Any]:
        fields = validate(request.params, PI_UPDATE)
        with operation(system) as op:
            intent = find(op.db, "payment_intent", request.path_params["id"])
            apply_update(op, intent, fields, None)  # Stripe has no payment_intent.updated event
            return expand(op.db, intent, request.expand, op.now)

    @api.post("/v1/payment_intents/{id}/confirm")
    def confirm_intent(request: StripeRequest) -> dict[str, Any]:
        fields = validate(request.params, PI_CONFIRM)
        with operation(system) as op:
            intent = find(op.db, "payment_intent", request.path_params["id"])
            if fields.get("payment_method"):
                card_for(fields["payment_method"])
            updates = {"receipt_email": fields["receipt_email"]} if fields.get("receipt_email") else {}
            _confirm(op, intent, fields.get("payment_method"), updates)
            return expand(op.db, intent, request.expand, op.now)

    # -- charges ---------------------------------------------------------------------------------

    list_route(
        api, "/v1/charges", "charge", CHARGE_LIST, match=("customer", "payment_intent", "transfer_group")
    )
    retrieve_route(api, "/v1/charges/{id}", "charge")

    # -- balance transactions --------------------------------------------------------------------

    list_route(
        api, "/v1/balance_transactions", "balance_transaction", TXN_LIST, match=("currency", "source", "type")
    )
    retrieve_route(api, "/v1/balance_transactions/{id}", "balance_transaction")

    # -- invoice payments ------------------------------------------------------------------------

    @api.get("/v1/invoice_payments")
    def list_invoice_payments(request: StripeRequest) -> dict[str, Any]:
        params = validate(request.params, INVOICE_PAYMENT_LIST)
        payment = params.get("payment")
        if payment is not None and not payment.get("type"):
            raise missing_param("payment[type]")

        def wanted(item: Mapping[str, Any]) -> bool:
            if "invoice" in params and item["invoice"] != params["invoice"]:
                return False
            if "status" in params and item["status"] != params["status"]:
                return False
            if payment:
                if item["payment"]["type"] != payment["type"]:
                    return False
                for key in ("payment_intent", "payment_record"):
                    if payment.get(key) and item["payment"].get(key) != payment[key]:
                        return False
            return True

        with system.state as db:
            return list_response(
                db,
                "invoice_payment",
                "/v1/invoice_payments",
                params,
                system.clock.time(),
                wanted,
                order=system.creation_order("invoice_payment"),
            )

    retrieve_route(api, "/v1/invoice_payments/{id}", "invoice_payment")

    # -- refunds ---------------------------------------------------------------------------------

    @api.post("/v1/refunds")
    def create_refund_route(request: StripeRequest) -> dict[str, Any]:
        fields = validate(request.params, REFUND_CREATE)
        which = exclusive(fields, "charge", "payment_intent")
        if which is None:
            raise invalid_request(
                "One of the following params should be provided for this request: payment_intent or charge.",
                param="charge",
                code="parameter_missing",
            )
        with operation(system) as op:
            if which == "charge":
                charge = find_param(op.db, "charge", fields["charge"], "charge")
            else:
                intent = find_param(op.db, "payment_intent", fields["payment_intent"], "payment_intent")
                latest = intent.get("latest_charge")
                if intent["status"] != "succeeded" or not latest:
                    raise refused(
                        f"This PaymentIntent ({intent['id']}) does not have a successful charge to refund.",
                        param="payment_intent",
                    )
                charge = op.db["charges"][latest]
            refund = create_refund(op, charge, fields)
            return expand(op.db, refund, request.expand, op.now)

    list_route(api, "/v1/refunds", "refund", REFUND_LIST, match=("charge", "payment_intent"))
    retrieve_route(api, "/v1/refunds/{id}", "refund")

    @api.post("/v1/refunds/{id}")
    def update_refund(request: StripeRequest) -> dict[str, Any]:
        fields = validate(request.params, REFUND_UPDATE)
        with operation(system) as op:
            refund = find(op.db, "refund", request.path_params["id"])
            apply_update(op, refund, fields, "refund.updated")
            return expand(op.db, refund, request.expand, op.now)
