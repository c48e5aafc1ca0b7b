"""Billing and payments through StripeHook and the real SDK against the Stripe stand-in.

Invoices (items in minor units, finalize, send, pay, declines, void), InvoicePayment linkage,
refunds, payment intents, subscriptions over two cycles, and idempotent replays of every write.
"""

from __future__ import annotations

from collections.abc import Callable
from decimal import Decimal
from typing import Any

import pytest
import requests
import stripe
from ml_connector_sandbox import SandboxClient
from ml_connector_sandbox.systems.stripe import StripeAPIError, StripeSandbox
from ml_connector_sandbox.systems.stripe.objects import stripe_fee

from ml_connector_provider.hooks.stripe import StripeHook, StripeRecordError
from tests.integration.stripe.conftest import post_form

DAY = 86400


@pytest.fixture
def customer(hook: StripeHook) -> dict[str, Any]:
    return hook.create_customer(
        {"name": "Acme Ltd", "email": "ap@acme.test", "invoice_prefix": "ACME"}, idempotency_key="k-cus"
    )


def types_of(system: StripeSandbox, since: int = 0) -> list[str]:
    return [event["type"] for event in system.events()[since:]]


def draft_invoice(
    hook: StripeHook, customer: dict[str, Any], key: str, *, currency: str = "usd", **extra: Any
) -> dict[str, Any]:
    params = {
        "customer": customer["id"],
        "collection_method": "send_invoice",
        "days_until_due": 30,
        "currency": currency,
        **extra,
    }
    return hook.create_invoice(params, idempotency_key=key)


def one_line_invoice(
    hook: StripeHook, customer: dict[str, Any], key: str, amount: int = 5000, **extra: Any
) -> dict[str, Any]:
    invoice = draft_invoice(hook, customer, f"{key}-inv", **extra)
    hook.create_invoice_item(
        {"customer": customer["id"], "invoice": invoice["id"], "amount": amount, "description": "Consulting"},
        idempotency_key=f"{key}-item",
    )
    return hook.finalize_invoice(invoice["id"], idempotency_key=f"{key}-fin")


def one_time_price(client: stripe.StripeClient, amount: int, currency: str = "usd") -> Any:
    product = client.v1.products.create(params={"name": "Widget", "metadata": {"sku": "W-1"}})
    return client.v1.prices.create(
        params={"product": product.id, "currency": currency, "unit_amount": amount, "lookup_key": "widget"}
    )


# -- invoices ----------------------------------------------------------------------------------------


def test_send_invoice_lifecycle_through_the_hook(
    hook: StripeHook, client: stripe.StripeClient, stripe_system: StripeSandbox, customer: dict[str, Any]
) -> None:
    price = one_time_price(client, 500)
    invoice = draft_invoice(
        hook, customer, "k-inv", description="AR-1001", metadata={"fusion_trx_id": "1001"}, footer="Thanks"
    )
    assert invoice["status"] == "draft"
    assert invoice["number"] is None
    assert invoice["hosted_invoice_url"] is None
    assert invoice["parent"] is None
    assert invoice["billing_reason"] == "manual"
    assert invoice["due_date"] == invoice["created"] + 30 * DAY
    for removed in ("charge", "payment_intent", "paid", "subscription", "paid_out_of_band"):
        assert removed not in invoice

    fixed = hook.create_invoice_item(
        {"customer": customer["id"], "invoice": invoice["id"], "amount": 1000, "description": "Set-up"},
        idempotency_key="k-ii-1",
    )
    decimal = hook.create_invoice_item(
        {
            "customer": customer["id"],
            "invoice": invoice["id"],
            "unit_amount_decimal": "1234.5",
            "quantity_decimal": "2.25",
            "description": "Hours",
            "metadata": {"erp_line": "2"},
        },
        idempotency_key="k-ii-2",
    )
    priced = hook.create_invoice_item(
        {"customer": customer["id"], "invoice": invoice["id"], "pricing": {"price": price.id}, "quantity": 3},
        idempotency_key="k-ii-3",
    )
    assert fixed["amount"] == 1000
    assert decimal["amount"] == 2778  # 1234.5 × 2.25 = 2777.625, half up
    assert decimal["quantity_decimal"] == Decimal("2.25")
    assert priced["amount"] == 1500
    assert priced["pricing"]["price_details"] == {"price": price.id, "product": price.product}
    assert fixed["pricing"]["price_details"] is None

    lines = list(hook.iter_invoice_lines(invoice["id"]))
    assert [line["parent"]["invoice_item_details"]["invoice_item"] for line in lines] == [
        fixed["id"],
        decimal["id"],
        priced["id"],
    ]
    assert {line["parent"]["type"] for line in lines} == {"invoice_item_details"}
    assert [line["amount"] for line in lines] == [1000, 2778, 1500]
    assert lines[1]["metadata"] == {"erp_line": "2"}

    draft = hook.retrieve_invoice(invoice["id"])
    assert draft is not None
    assert (draft["subtotal"], draft["total"], draft["amount_due"]) == (5278, 5278, 5278)

    finalized = hook.finalize_invoice(invoice["id"], idempotency_key="k-fin")
    assert finalized["status"] == "open"
    assert finalized["number"] == "ACME-0001"
    assert finalized["auto_advance"] is False
    assert finalized["hosted_invoice_url"].startswith("https://invoice.stripe.com/i/")
    finalized_at = finalized["status_transitions"]["finalized_at"]
    assert finalized_at >= invoice["created"]
    assert finalized["due_date"] == finalized_at + 30 * DAY
    assert (finalized["amount_due"], finalized["amount_paid"], finalized["amount_remaining"]) == (
        5278,
        0,
        5278,
    )

    sent = hook.send_invoice(invoice["id"], idempotency_key="k-send")
    assert sent["status"] == "open"
    [sent_event] = stripe_system.events("invoice.sent")
    assert sent_event["data"]["object"]["id"] == invoice["id"]

    paid = stripe_system.pay_invoice(invoice["id"])
    assert paid["status"] == "paid"
    assert (paid["amount_paid"], paid["amount_remaining"]) == (5278, 0)
    assert paid["status_transitions"]["paid_at"] is not None

    second = one_line_invoice(hook, customer, "k-second")
    assert second["number"] == "ACME-0002"


def test_invoice_payment_links_payment_intent_charge_and_fees(
    hook: StripeHook, stripe_system: StripeSandbox, customer: dict[str, Any]
) -> None:
    invoice = one_line_invoice(hook, customer, "k-link", amount=5278)
    before = len(stripe_system.events())
    stripe_system.pay_invoice(invoice["id"])
    assert types_of(stripe_system, before) == [
        "payment_intent.created",
        "charge.succeeded",
        "payment_intent.succeeded",
        "invoice_payment.paid",
        "invoice.paid",
        "invoice.payment_succeeded",
    ]
    # events the stand-in makes on its own carry no request
    assert {e["request"]["id"] for e in stripe_system.events()[before:]} == {None}

    [payment] = hook.iter_invoice_payments(invoice=invoice["id"])
    assert payment["object"] == "invoice_payment"
    assert payment["status"] == "paid"
    assert payment["amount_paid"] == 5278
    assert payment["payment"]["type"] == "payment_intent"
    pi_id = payment["payment"]["payment_intent"]
    assert [p["invoice"] for p in hook.iter_invoice_payments(payment_intent=pi_id)] == [invoice["id"]]
    assert list(hook.iter_invoice_payments(payment_intent="pi_other00000000")) == []
    assert [p["id"] for p in hook.iter_invoice_payments(status="paid")] == [payment["id"]]

    intent = hook.retrieve_payment_intent(pi_id, expand=("latest_charge",))
    assert intent is not None
    assert intent["status"] == "succeeded"
    assert intent["amount_received"] == 5278
    assert "invoice" not in intent
    charge = intent["latest_charge"]
    assert charge["object"] == "charge"
    assert "invoice" not in charge

    with_fees = hook.retrieve_charge(charge["id"])
    assert with_fees is not None
    assert (with_fees["paid"], with_fees["status"], with_fees["captured"]) == (True, "succeeded", True)
    assert with_fees["amount_captured"] == 5278
    assert (with_fees["amount_refunded"], with_fees["refunded"]) == (0, False)
    assert with_fees["payment_intent"] == pi_id
    assert with_fees["customer"] == customer["id"]
    txn = with_fees["balance_transaction"]
    assert txn["type"] == txn["reporting_category"] == "charge"
    assert txn["source"] == charge["id"]
    assert txn["fee"] == 183  # 2.9 % of 5278 = 153.06 → 153, + 30
    assert txn["net"] == 5278 - 183
    assert txn["fee_details"] == [
        {
            "amount": 183,
            "application": None,
            "currency": "usd",
            "description": "Stripe processing fees",
            "type": "stripe_fee",
        }
    ]
    assert txn["status"] == "pending"
    assert txn["available_on"] > txn["created"]
    assert hook.retrieve_balance_transaction(txn["id"]) == txn
    assert [c["id"] for c in hook.iter_charges(customer=customer["id"])] == [charge["id"]]
    assert [c["id"] for c in hook.iter_charges(payment_intent=pi_id)] == [charge["id"]]

    expanded = hook.retrieve_invoice(invoice["id"], expand=("payments", "customer"))
    assert expanded is not None
    assert [p["id"] for p in expanded["payments"]["data"]] == [payment["id"]]
    assert expanded["customer"]["name"] == "Acme Ltd"
    assert "payments" not in (hook.retrieve_invoice(invoice["id"]) or {})

    stripe_system.clock.advance(3 * DAY)
    later = hook.retrieve_balance_transaction(txn["id"])
    assert later is not None
    assert later["status"] == "available"


def test_zero_decimal_currency_amounts_and_fee(
    hook: StripeHook, stripe_system: StripeSandbox, customer: dict[str, Any]
) -> None:
    invoice = draft_invoice(hook, customer, "k-jpy", currency="jpy")
    hook.create_invoice_item(
        {"customer": customer["id"], "invoice": invoice["id"], "amount": 1500}, idempotency_key="k-jpy-1"
    )
    item = hook.create_invoice_item(
        {"customer": customer["id"], "invoice": invoice["id"], "unit_amount_decimal": "333.5", "quantity": 3},
        idempotency_key="k-jpy-2",
    )
    assert item["currency"] == "jpy"
    assert item["amount"] == 1001  # 1000.5 yen rounds half up to 1001
    hook.finalize_invoice(invoice["id"], idempotency_key="k-jpy-fin")
    paid = stripe_system.pay_invoice(invoice["id"])
    assert paid["amount_paid"] == 2501
    [charge] = stripe_system.charges()
    assert charge["currency"] == "jpy"
    assert charge["amount"] == 2501
    txn = hook.retrieve_balance_transaction(charge["balance_transaction"])
    assert txn is not None
    assert txn["fee"] == 90  # 3.6 % of 2501 = 90.04, no fixed part
    assert txn["net"] == 2411
    assert stripe_fee(2501, "jpy") == 90
    assert stripe_fee(1000, "usd") == 59
    assert stripe_fee(10, "usd") == 10  # never more than the amount


@pytest.mark.parametrize(
    ("params", "param", "message"),
    [
        ({"amount": 100, "unit_amount_decimal": "5"}, "unit_amount_decimal", "You may only specify one of"),
        ({"description": "no amount"}, "amount", "You must specify one of"),
        ({"amount": 100, "currency": "eur"}, "currency", "must match the currency of invoice"),
        ({"amount": 100, "quantity": 2}, "quantity", "`quantity` cannot be combined with `amount`"),
        ({"unit_amount_decimal": "1.0000000000001"}, "unit_amount_decimal", "at most 12 decimal places"),
        ({"amount": 100, "period": {"start": 20, "end": 10}}, "period[start]", "must be before"),
    ],
)
def test_invoice_item_refusals(
    hook: StripeHook,
    customer: dict[str, Any],
    stripe_system: StripeSandbox,
    params: dict[str, Any],
    param: str,
    message: str,
) -> None:
    invoice = draft_invoice(hook, customer, "k-refuse")
    with pytest.raises(StripeRecordError) as refused:
        hook.create_invoice_item(
            {"customer": customer["id"], "invoice": invoice["id"], **params}, idempotency_key="k-refused"
        )
    assert refused.value.http_status == 400
    assert refused.value.param == param
    assert message in refused.value.message
    assert stripe_system.invoice_items() == []
    assert stripe_system.events("invoiceitem.created") == []


def test_invoice_items_need_a_draft_invoice_and_stop_at_250(
    hook: StripeHook, client: stripe.StripeClient, customer: dict[str, Any], stripe_system: StripeSandbox
) -> None:
    finalized = one_line_invoice(hook, customer, "k-open")
    with pytest.raises(StripeRecordError) as not_draft:
        hook.create_invoice_item(
            {"customer": customer["id"], "invoice": finalized["id"], "amount": 1}, idempotency_key="k-late"
        )
    assert not_draft.value.param == "invoice"
    assert "only be added to draft invoices" in not_draft.value.message

    recurring = client.v1.prices.create(
        params={
            "product_data": {"name": "Plan"},
            "currency": "usd",
            "unit_amount": 100,
            "recurring": {"interval": "month"},
        }
    )
    draft = draft_invoice(hook, customer, "k-many")
    with pytest.raises(StripeRecordError, match="only accepts prices with `type=one_time`"):
        hook.create_invoice_item(
            {"customer": customer["id"], "invoice": draft["id"], "pricing": {"price": recurring.id}},
            idempotency_key="k-recurring",
        )
    for n in range(250):
        client.v1.invoice_items.create(
            params={"customer": customer["id"], "invoice": draft["id"], "amount": n}
        )
    with pytest.raises(stripe.InvalidRequestError, match="already has 250 invoice items") as full:
        client.v1.invoice_items.create(
            params={"customer": customer["id"], "invoice": draft["id"], "amount": 1}
        )
    assert full.value.param == "invoice"
    retrieved = hook.retrieve_invoice(draft["id"])
    assert retrieved is not None
    assert retrieved["subtotal"] == sum(range(250))
    assert len(retrieved["lines"]["data"]) == 10
    assert retrieved["lines"]["has_more"] is True
    assert len(list(hook.iter_invoice_lines(draft["id"]))) == 250


def test_finalize_and_send_refusals(
    hook: StripeHook, customer: dict[str, Any], stripe_system: StripeSandbox
) -> None:
    empty = draft_invoice(hook, customer, "k-empty")
    with pytest.raises(StripeRecordError) as no_lines:
        hook.finalize_invoice(empty["id"], idempotency_key="k-empty-fin")
    assert no_lines.value.http_status == 400
    assert "no line items" in no_lines.value.message
    # a refusal decided while executing is stored: the same key repeats it even once lines exist
    hook.create_invoice_item(
        {"customer": customer["id"], "invoice": empty["id"], "amount": 5}, idempotency_key="k-empty-item"
    )
    with pytest.raises(StripeRecordError) as replayed:
        hook.finalize_invoice(empty["id"], idempotency_key="k-empty-fin")
    assert replayed.value.message == no_lines.value.message
    with pytest.raises(StripeRecordError, match="You can only send open invoices; this invoice is draft"):
        hook.send_invoice(empty["id"], idempotency_key="k-empty-send")
    assert hook.finalize_invoice(empty["id"], idempotency_key="k-empty-fin-2")["status"] == "open"

    opened = one_line_invoice(hook, customer, "k-twice")
    with pytest.raises(StripeRecordError) as twice:
        hook.finalize_invoice(opened["id"], idempotency_key="k-twice-again")
    assert (
        twice.value.message == "This invoice is already finalized, you can't re-finalize a non-draft invoice."
    )

    automatic = hook.create_invoice(
        {"customer": customer["id"], "collection_method": "charge_automatically"}, idempotency_key="k-auto"
    )
    assert automatic["due_date"] is None
    with pytest.raises(StripeRecordError, match="collection method is 'send_invoice'"):
        hook.send_invoice(automatic["id"], idempotency_key="k-auto-send")
    with pytest.raises(StripeRecordError) as needs_due:
        hook.create_invoice(
            {"customer": customer["id"], "collection_method": "send_invoice"}, idempotency_key="k-no-due"
        )
    assert needs_due.value.param == "days_until_due"
    with pytest.raises(StripeRecordError) as unknown:
        hook.create_invoice({"customer": "cus_missing0000000"}, idempotency_key="k-no-cus")
    assert (unknown.value.http_status, unknown.value.param, unknown.value.code) == (
        400,
        "customer",
        "resource_missing",
    )
    assert len(stripe_system.events("invoice.finalized")) == 2


def test_update_invoice_draft_fields_and_metadata_after_finalization(
    hook: StripeHook, stripe_system: StripeSandbox, customer: dict[str, Any]
) -> None:
    invoice = draft_invoice(hook, customer, "k-upd", description="Old", metadata={"a": "1"})
    updated = hook.update_invoice(
        invoice["id"], {"description": "New", "days_until_due": 10}, idempotency_key="k-upd-1"
    )
    assert updated["description"] == "New"
    assert updated["due_date"] == invoice["created"] + 10 * DAY
    [event] = stripe_system.events("invoice.updated")
    assert event["data"]["previous_attributes"] == {"description": "Old", "due_date": invoice["due_date"]}

    hook.create_invoice_item(
        {"customer": customer["id"], "invoice": invoice["id"], "amount": 700}, idempotency_key="k-upd-item"
    )
    hook.finalize_invoice(invoice["id"], idempotency_key="k-upd-fin")
    with pytest.raises(StripeRecordError) as locked:
        hook.update_invoice(invoice["id"], {"description": "Too late"}, idempotency_key="k-upd-2")
    assert locked.value.param == "description"
    tagged = hook.update_invoice(invoice["id"], {"metadata": {"a": "", "b": "2"}}, idempotency_key="k-upd-3")
    assert tagged["metadata"] == {"b": "2"}
    assert tagged["description"] == "New"


def test_declined_payment_then_retry_on_the_same_payment_intent(
    hook: StripeHook, client: stripe.StripeClient, stripe_system: StripeSandbox, customer: dict[str, Any]
) -> None:
    invoice = one_line_invoice(hook, customer, "k-decline", amount=2500)
    before = len(stripe_system.events())
    with pytest.raises(stripe.CardError) as declined:
        client.v1.invoices.pay(invoice["id"], params={"payment_method": "pm_card_chargeDeclined"})
    assert declined.value.http_status == 402
    assert declined.value.code == "card_declined"
    error = declined.value.error
    assert error is not None
    assert error.decline_code == "generic_decline"
    assert types_of(stripe_system, before) == [
        "payment_intent.created",
        "charge.failed",
        "payment_intent.payment_failed",
        "invoice.payment_failed",
    ]
    [failed] = stripe_system.charges()
    assert (failed["status"], failed["paid"], failed["balance_transaction"]) == ("failed", False, None)
    assert failed["failure_code"] == "card_declined"
    assert error.charge == failed["id"]
    assert stripe_system.balance_transactions() == []
    still_open = hook.retrieve_invoice(invoice["id"])
    assert still_open is not None
    assert (still_open["status"], still_open["attempt_count"], still_open["attempted"]) == ("open", 1, True)
    [open_payment] = hook.iter_invoice_payments(invoice=invoice["id"])
    assert open_payment["status"] == "open"
    intent = hook.retrieve_payment_intent(open_payment["payment"]["payment_intent"])
    assert intent is not None
    assert intent["status"] == "requires_payment_method"
    assert intent["last_payment_error"]["decline_code"] == "generic_decline"

    retried = client.v1.invoices.pay(invoice["id"], params={"payment_method": "pm_card_visa"})
    assert retried.status == "paid"
    assert retried.attempt_count == 2
    [paid_payment] = hook.iter_invoice_payments(invoice=invoice["id"])
    assert paid_payment["id"] == open_payment["id"]
    assert paid_payment["status"] == "paid"
    assert [c["status"] for c in hook.iter_charges(payment_intent=intent["id"])] == ["succeeded", "failed"]


def test_sandbox_pay_invoice_raises_the_card_error(
    hook: StripeHook, stripe_system: StripeSandbox, customer: dict[str, Any]
) -> None:
    invoice = one_line_invoice(hook, customer, "k-helper", amount=900)
    with pytest.raises(StripeAPIError) as declined:
        stripe_system.pay_invoice(invoice["id"], payment_method="pm_card_chargeDeclinedInsufficientFunds")
    assert declined.value.status == 402
    assert declined.value.extra["decline_code"] == "insufficient_funds"
    paid = stripe_system.pay_invoice(invoice["id"], payment_method="pm_card_mastercard")
    assert paid["status"] == "paid"
    charges = stripe_system.charges()
    assert [c["status"] for c in charges] == ["failed", "succeeded"]
    assert len({c["payment_intent"] for c in charges}) == 1  # the retry confirmed the same intent
    [payment] = stripe_system.invoice_payments()
    assert payment["status"] == "paid"
    assert payment["payment"]["payment_intent"] == charges[0]["payment_intent"]
    assert paid["attempt_count"] == 2


def test_pay_over_http_admin_route(base_url: str, hook: StripeHook, customer: dict[str, Any]) -> None:
    invoice = one_line_invoice(hook, customer, "k-admin-pay", amount=1200)
    declined = requests.post(
        f"{base_url}/__sandbox__/stripe/invoices/{invoice['id']}/pay",
        json={"payment_method": "pm_card_chargeDeclined"},
        timeout=10,
    )
    assert declined.status_code == 402
    assert declined.json()["error"]["decline_code"] == "generic_decline"
    paid = requests.post(f"{base_url}/__sandbox__/stripe/invoices/{invoice['id']}/pay", timeout=10)
    assert paid.status_code == 200
    assert paid.json()["status"] == "paid"
    missing = requests.post(f"{base_url}/__sandbox__/stripe/invoices/in_missing/pay", timeout=10)
    assert missing.status_code == 404
    assert missing.json()["error"]["code"] == "resource_missing"


def test_paid_out_of_band_void_uncollectible_and_delete(
    hook: StripeHook, client: stripe.StripeClient, stripe_system: StripeSandbox, customer: dict[str, Any]
) -> None:
    outside = one_line_invoice(hook, customer, "k-oob", amount=4000)
    before = len(stripe_system.events())
    paid = client.v1.invoices.pay(outside["id"], params={"paid_out_of_band": True})
    assert paid.status == "paid"
    assert (paid.amount_paid, paid.amount_remaining, paid.amount_paid_off_stripe) == (4000, 0, 4000)
    assert types_of(stripe_system, before) == ["invoice.paid"]
    assert stripe_system.invoice_payments() == []
    assert stripe_system.charges() == []
    with pytest.raises(stripe.InvalidRequestError, match="already paid"):
        client.v1.invoices.pay(outside["id"], params={"payment_method": "pm_card_visa"})

    voided = one_line_invoice(hook, customer, "k-void")
    assert client.v1.invoices.void_invoice(voided["id"]).status == "void"
    assert stripe_system.events("invoice.voided")[0]["data"]["object"]["status"] == "void"
    with pytest.raises(stripe.InvalidRequestError, match="voided"):
        client.v1.invoices.pay(voided["id"], params={"payment_method": "pm_card_visa"})

    doubtful = one_line_invoice(hook, customer, "k-uncollectible", amount=300)
    marked = client.v1.invoices.mark_uncollectible(doubtful["id"])
    assert marked.status == "uncollectible"
    assert marked.status_transitions.marked_uncollectible_at is not None
    assert stripe_system.pay_invoice(doubtful["id"])["status"] == "paid"  # still payable

    draft = draft_invoice(hook, customer, "k-delete")
    item = hook.create_invoice_item(
        {"customer": customer["id"], "invoice": draft["id"], "amount": 10}, idempotency_key="k-delete-item"
    )
    deleted = client.v1.invoices.delete(draft["id"])
    assert deleted.deleted is True
    assert hook.retrieve_invoice(draft["id"]) is None
    assert item["id"] not in {i["id"] for i in stripe_system.invoice_items()}
    with pytest.raises(stripe.InvalidRequestError, match="only delete draft invoices"):
        client.v1.invoices.delete(outside["id"])
    assert stripe_system.events("invoice.deleted")[0]["data"]["object"]["id"] == draft["id"]


def test_zero_total_invoice_is_paid_on_finalization(
    hook: StripeHook, stripe_system: StripeSandbox, customer: dict[str, Any]
) -> None:
    invoice = draft_invoice(hook, customer, "k-zero")
    hook.create_invoice_item(
        {"customer": customer["id"], "invoice": invoice["id"], "amount": 500}, idempotency_key="k-zero-1"
    )
    hook.create_invoice_item(
        {"customer": customer["id"], "invoice": invoice["id"], "amount": -500, "description": "Credit"},
        idempotency_key="k-zero-2",
    )
    finalized = hook.finalize_invoice(invoice["id"], idempotency_key="k-zero-fin")
    assert finalized["status"] == "paid"
    assert finalized["amount_due"] == 0
    assert stripe_system.charges() == []
    assert [e["type"] for e in stripe_system.events()][-2:] == ["invoice.finalized", "invoice.paid"]


# -- refunds -----------------------------------------------------------------------------------------


def test_partial_then_full_refund(
    hook: StripeHook, client: stripe.StripeClient, stripe_system: StripeSandbox, customer: dict[str, Any]
) -> None:
    invoice = one_line_invoice(hook, customer, "k-refund", amount=10000)
    stripe_system.pay_invoice(invoice["id"])
    [charge] = stripe_system.charges()

    partial = client.v1.refunds.create(
        params={
            "charge": charge["id"],
            "amount": 2500,
            "reason": "requested_by_customer",
            "metadata": {"rma": "7"},
        },
        options={"idempotency_key": "k-refund-1"},
    )
    assert (partial.status, partial.amount, partial.currency) == ("succeeded", 2500, "usd")
    assert partial.payment_intent == charge["payment_intent"]
    refund = hook.retrieve_refund(partial.id)
    assert refund is not None
    txn = refund["balance_transaction"]
    assert (txn["type"], txn["reporting_category"]) == ("refund", "refund")
    assert (txn["amount"], txn["fee"], txn["net"]) == (-2500, 0, -2500)
    assert txn["source"] == partial.id
    after_partial = hook.retrieve_charge(charge["id"], expand=())
    assert after_partial is not None
    assert (after_partial["amount_refunded"], after_partial["refunded"]) == (2500, False)
    assert after_partial["balance_transaction"] == charge["balance_transaction"]  # unchanged by refunds

    with pytest.raises(stripe.InvalidRequestError) as too_much:
        client.v1.refunds.create(params={"charge": charge["id"], "amount": 7501})
    assert too_much.value.param == "amount"
    assert "Refund amount ($75.01) is greater than unrefunded amount on charge ($75.00)" in str(
        too_much.value
    )

    rest = client.v1.refunds.create(params={"payment_intent": charge["payment_intent"]})
    assert rest.amount == 7500
    full = hook.retrieve_charge(charge["id"], expand=("refunds",))
    assert full is not None
    assert (full["amount_refunded"], full["refunded"]) == (10000, True)
    assert [r["id"] for r in full["refunds"]["data"]] == [rest.id, partial.id]
    assert [r["id"] for r in hook.iter_refunds(charge=charge["id"])] == [rest.id, partial.id]
    assert [r["id"] for r in hook.iter_refunds(payment_intent=charge["payment_intent"])] == [
        rest.id,
        partial.id,
    ]
    with pytest.raises(stripe.InvalidRequestError, match="has already been refunded"):
        client.v1.refunds.create(params={"charge": charge["id"]})

    refunded_events = stripe_system.events("charge.refunded")
    assert [e["data"]["object"]["object"] for e in refunded_events] == ["charge", "charge"]
    assert [e["data"]["object"]["amount_refunded"] for e in refunded_events] == [2500, 10000]
    assert [e["data"]["object"]["id"] for e in stripe_system.events("refund.created")] == [
        partial.id,
        rest.id,
    ]
    # the invoice stays paid (refunds do not reopen it)
    assert (hook.retrieve_invoice(invoice["id"]) or {})["status"] == "paid"


# -- payment intents ---------------------------------------------------------------------------------


def test_payment_intents_create_confirm_update_and_list(
    hook: StripeHook, client: stripe.StripeClient, stripe_system: StripeSandbox, customer: dict[str, Any]
) -> None:
    intent = client.v1.payment_intents.create(
        params={"amount": 1999, "currency": "eur", "customer": customer["id"], "description": "Deposit"}
    )
    assert intent.status == "requires_payment_method"
    assert intent.latest_charge is None
    confirmed = client.v1.payment_intents.confirm(intent.id, params={"payment_method": "pm_card_visa"})
    assert confirmed.status == "succeeded"
    assert confirmed.amount_received == 1999
    with pytest.raises(stripe.InvalidRequestError) as again:
        client.v1.payment_intents.confirm(intent.id)
    assert again.value.code == "payment_intent_unexpected_state"

    expanded = hook.retrieve_payment_intent(intent.id, expand=("latest_charge.balance_transaction",))
    assert expanded is not None
    assert expanded["latest_charge"]["balance_transaction"]["fee"] == stripe_fee(1999, "eur")

    updated = hook.update_payment_intent(
        intent.id, {"metadata": {"order": "SO-1"}, "description": "Deposit SO-1"}, idempotency_key="k-pi-upd"
    )
    assert updated["metadata"] == {"order": "SO-1"}
    assert updated["description"] == "Deposit SO-1"

    one_shot = client.v1.payment_intents.create(
        params={"amount": 500, "currency": "usd", "payment_method": "pm_card_amex", "confirm": True}
    )
    assert one_shot.status == "succeeded"
    with pytest.raises(stripe.CardError) as declined:
        client.v1.payment_intents.create(
            params={
                "amount": 500,
                "currency": "usd",
                "payment_method": "pm_card_chargeDeclined",
                "confirm": True,
            }
        )
    assert declined.value.error is not None
    assert declined.value.error.payment_intent is not None
    assert declined.value.error.payment_intent.status == "requires_payment_method"
    with pytest.raises(stripe.InvalidRequestError) as manual:
        client.v1.payment_intents.create(
            params={"amount": 500, "currency": "usd", "capture_method": "manual"}
        )
    assert manual.value.param == "capture_method"
    with pytest.raises(stripe.InvalidRequestError) as unknown_method:
        client.v1.payment_intents.create(
            params={"amount": 500, "currency": "usd", "payment_method": "pm_card_unknown", "confirm": True}
        )
    assert unknown_method.value.param == "payment_method"

    listed = client.v1.payment_intents.list(params={"customer": customer["id"]})
    assert [pi.id for pi in listed.data] == [intent.id]
    assert len(stripe_system.payment_intents()) == 3
    assert [e["type"] for e in stripe_system.events() if e["type"].startswith("payment_intent.")] == [
        "payment_intent.created",
        "payment_intent.succeeded",
        "payment_intent.created",
        "payment_intent.succeeded",
        "payment_intent.created",
        "payment_intent.payment_failed",
    ]


def test_retrieves_answer_none_for_missing_objects(hook: StripeHook, customer: dict[str, Any]) -> None:
    assert hook.retrieve_invoice("in_missing000000") is None
    assert hook.retrieve_invoice("in_missing000000", expand=("no_such_field",)) is None  # the id comes first
    assert hook.retrieve_payment_intent("pi_missing000000") is None
    assert hook.retrieve_charge("ch_missing000000") is None
    assert hook.retrieve_refund("re_missing000000") is None
    assert hook.retrieve_balance_transaction("txn_missing00000") is None
    assert hook.retrieve_subscription("sub_missing00000") is None

    invoice = draft_invoice(hook, customer, "k-expand")
    with pytest.raises(StripeRecordError) as bad_expand:
        hook.retrieve_invoice(invoice["id"], expand=("no_such_field",))
    assert (bad_expand.value.http_status, bad_expand.value.param) == (400, "expand")
    assert bad_expand.value.message == "This property cannot be expanded (no_such_field)."
    with pytest.raises(StripeRecordError, match="cannot be expanded"):
        hook.retrieve_invoice(invoice["id"], expand=("status_transitions",))  # a plain hash


# -- products and prices -----------------------------------------------------------------------------


def test_products_and_prices(client: stripe.StripeClient, stripe_system: StripeSandbox) -> None:
    product = client.v1.products.create(
        params={
            "id": "prod_custom_1",
            "name": "Support",
            "default_price_data": {"currency": "usd", "unit_amount_decimal": "12.5"},
        }
    )
    assert product.id == "prod_custom_1"
    [price] = stripe_system.prices()
    assert product.default_price == price["id"]
    assert (price["unit_amount"], price["unit_amount_decimal"], price["type"]) == (None, "12.5", "one_time")
    with pytest.raises(stripe.InvalidRequestError) as duplicate:
        client.v1.products.create(params={"id": "prod_custom_1", "name": "Again"})
    assert duplicate.value.code == "resource_already_exists"

    monthly = client.v1.prices.create(
        params={
            "product": product.id,
            "currency": "usd",
            "unit_amount": 2000,
            "recurring": {"interval": "month", "interval_count": 3},
            "lookup_key": "support-quarterly",
        }
    )
    assert monthly.type == "recurring"
    assert monthly.recurring is not None
    assert (monthly.recurring.interval, monthly.recurring.interval_count) == ("month", 3)
    with pytest.raises(stripe.InvalidRequestError, match="already uses that lookup key"):
        client.v1.prices.create(
            params={
                "product": product.id,
                "currency": "usd",
                "unit_amount": 1,
                "lookup_key": "support-quarterly",
            }
        )
    with pytest.raises(stripe.InvalidRequestError, match="maximum interval is 1 year"):
        client.v1.prices.create(
            params={
                "product": product.id,
                "currency": "usd",
                "unit_amount": 1,
                "recurring": {"interval": "month", "interval_count": 13},
            }
        )
    listed = client.v1.prices.list(params={"lookup_keys": ["support-quarterly"], "expand": ["data.product"]})
    assert [p.id for p in listed.data] == [monthly.id]
    assert listed.data[0].product.name == "Support"
    assert [e["type"] for e in stripe_system.events()] == [
        "product.created",
        "price.created",
        "price.created",
    ]


def test_list_filters_and_metadata_updates(
    hook: StripeHook, client: stripe.StripeClient, stripe_system: StripeSandbox, customer: dict[str, Any]
) -> None:
    shippable = client.v1.products.create(params={"name": "Box", "shippable": True})
    retired = client.v1.products.create(params={"name": "Old", "active": False})
    assert [p.id for p in client.v1.products.list(params={"active": False}).data] == [retired.id]
    assert [p.id for p in client.v1.products.list(params={"shippable": True}).data] == [shippable.id]
    assert [p.id for p in client.v1.products.list(params={"ids": [shippable.id, "prod_x"]}).data] == [
        shippable.id
    ]
    eur = client.v1.prices.create(params={"product": retired.id, "currency": "eur", "unit_amount": 7})
    client.v1.prices.create(params={"product": shippable.id, "currency": "usd", "unit_amount": 9})
    assert [p.id for p in client.v1.prices.list(params={"currency": "eur"}).data] == [eur.id]
    assert [p.id for p in client.v1.prices.list(params={"product": retired.id}).data] == [eur.id]

    pending = hook.create_invoice_item(
        {"customer": customer["id"], "amount": 100, "currency": "usd"}, idempotency_key="k-pending"
    )
    invoice = one_line_invoice(hook, customer, "k-filters", amount=2000)
    on_invoice = client.v1.invoice_items.list(params={"invoice": invoice["id"]}).data
    assert [i.id for i in client.v1.invoice_items.list(params={"pending": True}).data] == [pending["id"]]
    assert [i.id for i in client.v1.invoice_items.list(params={"pending": False}).data] == [
        i.id for i in on_invoice
    ]
    assert len(on_invoice) == 1
    deleted = client.v1.invoice_items.delete(pending["id"])
    assert deleted.deleted is True
    with pytest.raises(stripe.InvalidRequestError) as gone:
        client.v1.invoice_items.retrieve(pending["id"])
    assert gone.value.http_status == 404

    stripe_system.pay_invoice(invoice["id"])
    [charge] = stripe_system.charges()
    refund = client.v1.refunds.create(params={"charge": charge["id"], "amount": 500})
    txns = client.v1.balance_transactions.list(params={"type": "refund"}).data
    assert [(t.source, t.amount) for t in txns] == [(refund.id, -500)]
    by_source = client.v1.balance_transactions.list(params={"source": charge["id"]}).data
    assert [t.id for t in by_source] == [charge["balance_transaction"]]
    assert client.v1.balance_transactions.list(params={"currency": "eur"}).data == []
    with pytest.raises(stripe.InvalidRequestError) as no_type:
        client.v1.invoice_payments.list(params={"payment": {"payment_intent": charge["payment_intent"]}})
    assert no_type.value.param == "payment[type]"

    tagged = client.v1.refunds.update(refund.id, params={"metadata": {"rma": "9"}})
    assert tagged.metadata.to_dict() == {"rma": "9"}
    [refund_updated] = stripe_system.events("refund.updated")
    assert refund_updated["data"]["previous_attributes"] == {"metadata": {"rma": None}}
    client.v1.refunds.update(refund.id, params={"metadata": {"rma": "9"}})  # no change, no event
    assert len(stripe_system.events("refund.updated")) == 1

    plan = client.v1.prices.create(
        params={
            "product": shippable.id,
            "currency": "usd",
            "unit_amount": 300,
            "recurring": {"interval": "month"},
        }
    )
    sub = client.v1.subscriptions.create(
        params={
            "customer": customer["id"],
            "items": [{"price": plan.id}],
            "default_payment_method": "pm_card_visa",
            "metadata": {"a": "1"},
        }
    )
    assert [s.id for s in client.v1.subscriptions.list(params={"price": plan.id}).data] == [sub.id]
    assert client.v1.subscriptions.list(params={"price": eur.id}).data == []
    assert client.v1.subscriptions.list(params={"status": "past_due"}).data == []
    assert [s.id for s in client.v1.subscriptions.list(params={"status": "all"}).data] == [sub.id]
    changed = client.v1.subscriptions.update(sub.id, params={"description": "Gold", "metadata": {"b": "2"}})
    assert (changed.description, changed.metadata.to_dict()) == ("Gold", {"a": "1", "b": "2"})
    [sub_updated] = stripe_system.events("customer.subscription.updated")
    assert sub_updated["data"]["previous_attributes"] == {"description": None, "metadata": {"b": None}}
    too_many = {f"k{n}": "v" for n in range(50)}
    with pytest.raises(stripe.InvalidRequestError) as refused:
        client.v1.subscriptions.update(sub.id, params={"description": "Platinum", "metadata": too_many})
    assert refused.value.param == "metadata"
    [kept] = stripe_system.subscriptions()
    assert (kept["description"], kept["metadata"]) == ("Gold", {"a": "1", "b": "2"})  # nothing written


# -- subscriptions -----------------------------------------------------------------------------------


def _monthly_price(client: stripe.StripeClient, amount: int = 1500) -> Any:
    return client.v1.prices.create(
        params={
            "product_data": {"name": "Pro plan"},
            "currency": "usd",
            "unit_amount": amount,
            "recurring": {"interval": "month"},
        }
    )


def test_subscription_bills_and_renews_two_cycles(
    hook: StripeHook,
    client: stripe.StripeClient,
    stripe_system: StripeSandbox,
    customer: dict[str, Any],
    base_url: str,
) -> None:
    price = _monthly_price(client)
    before = len(stripe_system.events())
    sub = client.v1.subscriptions.create(
        params={
            "customer": customer["id"],
            "items": [{"price": price.id, "quantity": 2}],
            "default_payment_method": "pm_card_visa",
            "metadata": {"contract": "C-9"},
        },
        options={"idempotency_key": "k-sub"},
    )
    assert sub.status == "active"
    assert types_of(stripe_system, before)[:3] == [
        "customer.subscription.created",
        "invoice.created",
        "invoice.finalized",
    ]
    assert types_of(stripe_system, before)[-2:] == ["invoice.paid", "invoice.payment_succeeded"]
    [item] = sub["items"].data
    start, end = item.current_period_start, item.current_period_end
    assert 28 * DAY <= end - start <= 31 * DAY
    assert "current_period_start" not in sub  # since basil the period lives on the items

    first = hook.retrieve_invoice(str(sub.latest_invoice))
    assert first is not None
    assert first["billing_reason"] == "subscription_create"
    assert first["parent"]["type"] == "subscription_details"
    assert first["parent"]["subscription_details"]["subscription"] == sub.id
    assert first["parent"]["subscription_details"]["metadata"] == {"contract": "C-9"}
    assert (first["status"], first["amount_paid"]) == ("paid", 3000)
    [line] = hook.iter_invoice_lines(first["id"])
    assert line["period"] == {"start": start, "end": end}
    assert line["subscription"] == sub.id
    assert line["parent"]["subscription_item_details"]["subscription_item"] == item.id

    second = stripe_system.advance_subscription(sub.id)
    third_response = requests.post(f"{base_url}/__sandbox__/stripe/subscriptions/{sub.id}/cycle", timeout=10)
    assert third_response.status_code == 200
    third = third_response.json()
    for invoice in (second, third):
        assert invoice["billing_reason"] == "subscription_cycle"
        assert invoice["status"] == "paid"
        assert invoice["parent"]["subscription_details"]["subscription"] == sub.id
    second_period = second["lines"]["data"][0]["period"]
    third_period = third["lines"]["data"][0]["period"]
    assert second_period["start"] == end
    assert third_period["start"] == second_period["end"]
    assert (second["period_start"], second["period_end"]) == (start, end)

    renewed = hook.retrieve_subscription(sub.id)
    assert renewed is not None
    assert renewed["latest_invoice"] == third["id"]
    assert renewed["items"]["data"][0]["current_period_start"] == third_period["start"]
    updates = stripe_system.events("customer.subscription.updated")
    assert len(updates) == 2
    assert updates[0]["data"]["previous_attributes"]["latest_invoice"] == first["id"]
    assert [i["id"] for i in hook.iter_invoices(subscription=sub.id)] == [
        third["id"],
        second["id"],
        first["id"],
    ]
    assert len(stripe_system.charges()) == 3
    assert [p["status"] for p in stripe_system.invoice_payments()] == ["paid", "paid", "paid"]

    canceled = client.v1.subscriptions.cancel(sub.id)
    assert canceled.status == "canceled"
    assert stripe_system.events("customer.subscription.deleted")[0]["data"]["object"]["id"] == sub.id
    refused = requests.post(f"{base_url}/__sandbox__/stripe/subscriptions/{sub.id}/cycle", timeout=10)
    assert refused.status_code == 400
    assert client.v1.subscriptions.list().data == []
    assert [s.id for s in client.v1.subscriptions.list(params={"status": "canceled"}).data] == [sub.id]


def test_subscription_declines_and_send_invoice_collection(
    hook: StripeHook, client: stripe.StripeClient, stripe_system: StripeSandbox, customer: dict[str, Any]
) -> None:
    price = _monthly_price(client, 900)
    declined = client.v1.subscriptions.create(
        params={
            "customer": customer["id"],
            "items": [{"price": price.id}],
            "default_payment_method": "pm_card_chargeDeclined",
        }
    )
    assert declined.status == "incomplete"
    assert (hook.retrieve_invoice(str(declined.latest_invoice)) or {})["status"] == "open"

    invoiced = client.v1.subscriptions.create(
        params={
            "customer": customer["id"],
            "items": [{"price": price.id, "quantity": 3}],
            "collection_method": "send_invoice",
            "days_until_due": 14,
        }
    )
    assert invoiced.status == "active"
    open_invoice = hook.retrieve_invoice(str(invoiced.latest_invoice))
    assert open_invoice is not None
    assert (open_invoice["status"], open_invoice["collection_method"]) == ("open", "send_invoice")
    assert open_invoice["amount_due"] == 2700
    assert open_invoice["due_date"] == open_invoice["status_transitions"]["finalized_at"] + 14 * DAY
    paid = stripe_system.pay_invoice(open_invoice["id"])
    assert paid["status"] == "paid"

    with pytest.raises(stripe.InvalidRequestError, match="no attached payment source") as no_method:
        client.v1.subscriptions.create(params={"customer": customer["id"], "items": [{"price": price.id}]})
    assert no_method.value.param == "default_payment_method"
    one_time = one_time_price(client, 100)
    with pytest.raises(stripe.InvalidRequestError, match="only accepts prices with `type=recurring`"):
        client.v1.subscriptions.create(
            params={
                "customer": customer["id"],
                "items": [{"price": one_time.id}],
                "default_payment_method": "pm_card_visa",
            }
        )


# -- idempotency and the pipeline -------------------------------------------------------------------

WriteCall = Callable[[str], dict[str, Any]]


def test_every_hook_write_replays_with_its_key_and_refuses_other_parameters(
    hook: StripeHook, client: stripe.StripeClient, stripe_system: StripeSandbox, customer: dict[str, Any]
) -> None:
    invoice_params = {"customer": customer["id"], "collection_method": "send_invoice", "days_until_due": 30}
    invoice = hook.create_invoice(invoice_params, idempotency_key="k-i")
    intent = client.v1.payment_intents.create(params={"amount": 100, "currency": "usd"})
    other = hook.create_invoice({**invoice_params, "days_until_due": 5}, idempotency_key="k-other")

    writes: list[tuple[str, WriteCall, WriteCall]] = [
        (
            "create_invoice",
            lambda key: hook.create_invoice(invoice_params, idempotency_key=key),
            lambda key: hook.create_invoice({**invoice_params, "description": "x"}, idempotency_key=key),
        ),
        (
            "create_invoice_item",
            lambda key: hook.create_invoice_item(
                {"customer": customer["id"], "invoice": invoice["id"], "amount": 100}, idempotency_key=key
            ),
            lambda key: hook.create_invoice_item(
                {"customer": customer["id"], "invoice": invoice["id"], "amount": 101}, idempotency_key=key
            ),
        ),
        (
            "update_invoice",
            lambda key: hook.update_invoice(invoice["id"], {"metadata": {"v": "1"}}, idempotency_key=key),
            lambda key: hook.update_invoice(invoice["id"], {"metadata": {"v": "2"}}, idempotency_key=key),
        ),
        (
            "finalize_invoice",
            lambda key: hook.finalize_invoice(invoice["id"], idempotency_key=key),
            lambda key: hook.finalize_invoice(invoice["id"], idempotency_key=key, auto_advance=True),
        ),
        (
            "send_invoice",
            lambda key: hook.send_invoice(invoice["id"], idempotency_key=key),
            lambda key: hook.send_invoice(other["id"], idempotency_key=key),
        ),
        (
            "update_payment_intent",
            lambda key: hook.update_payment_intent(intent.id, {"metadata": {"o": "1"}}, idempotency_key=key),
            lambda key: hook.update_payment_intent(intent.id, {"metadata": {"o": "2"}}, idempotency_key=key),
        ),
    ]
    for name, write, changed in writes:
        key = f"k-replay-{name}"
        events_before = len(stripe_system.events())
        first = write(key)
        events_after = len(stripe_system.events())
        assert write(key) == first, name
        assert len(stripe_system.events()) == events_after, f"{name} replay emitted events"
        assert events_after > events_before or name == "update_payment_intent", name
        with pytest.raises(StripeRecordError) as mismatch:
            changed(key)
        assert mismatch.value.code == "idempotency_error", name
    assert len(stripe_system.invoices()) == 3
    assert len(stripe_system.invoice_items()) == 1
    assert len(stripe_system.events("invoice.finalized")) == 1
    assert len(stripe_system.events("invoice.sent")) == 1


def test_payment_writes_replay_without_paying_twice(
    hook: StripeHook, client: stripe.StripeClient, stripe_system: StripeSandbox, customer: dict[str, Any]
) -> None:
    invoice = one_line_invoice(hook, customer, "k-pay-replay", amount=800)
    options: Any = {"idempotency_key": "k-pay"}
    with pytest.raises(stripe.CardError) as first:
        client.v1.invoices.pay(
            invoice["id"], params={"payment_method": "pm_card_chargeDeclined"}, options=options
        )
    with pytest.raises(stripe.CardError) as replayed:
        client.v1.invoices.pay(
            invoice["id"], params={"payment_method": "pm_card_chargeDeclined"}, options=options
        )
    assert replayed.value.http_body == first.value.http_body
    assert replayed.value.headers is not None
    assert replayed.value.headers.get("idempotent-replayed") == "true"
    assert len(stripe_system.charges()) == 1
    with pytest.raises(stripe.IdempotencyError):
        client.v1.invoices.pay(invoice["id"], params={"payment_method": "pm_card_visa"}, options=options)

    paid = client.v1.invoices.pay(
        invoice["id"], params={"payment_method": "pm_card_visa"}, options={"idempotency_key": "k-pay-2"}
    )
    again = client.v1.invoices.pay(
        invoice["id"], params={"payment_method": "pm_card_visa"}, options={"idempotency_key": "k-pay-2"}
    )
    assert again.to_dict() == paid.to_dict()
    [charge] = [c for c in stripe_system.charges() if c["status"] == "succeeded"]
    refund_options: Any = {"idempotency_key": "k-refund-replay"}
    refund = client.v1.refunds.create(params={"charge": charge["id"], "amount": 100}, options=refund_options)
    assert (
        client.v1.refunds.create(params={"charge": charge["id"], "amount": 100}, options=refund_options).id
        == refund.id
    )
    assert len(stripe_system.refunds()) == 1
    assert len(stripe_system.events("invoice.paid")) == 1


def test_new_posts_go_through_rate_limiter_and_validation(
    http: requests.Session, base_url: str, stripe_system: StripeSandbox, customer: dict[str, Any]
) -> None:
    refused = post_form(http, f"{base_url}/v1/invoices", f"customer={customer['id']}&colour=red")
    assert refused.status_code == 400
    assert refused.json()["error"]["message"] == "Received unknown parameter: colour"
    stripe_system.settings.rate_limit = 2
    statuses = [
        post_form(
            http, f"{base_url}/v1/invoiceitems", f"customer={customer['id']}&amount=1&currency=usd"
        ).status_code
        for _ in range(4)
    ]
    assert statuses == [200, 200, 429, 429]
    limited = post_form(http, f"{base_url}/v1/refunds", "charge=ch_x")
    assert limited.status_code == 429
    assert limited.headers["Stripe-Should-Retry"] == "true"
    stripe_system.settings.rate_limit = None
    assert len(stripe_system.invoice_items()) == 2


def test_admin_sandbox_client_still_sees_requests(
    admin: SandboxClient, hook: StripeHook, customer: dict[str, Any]
) -> None:
    admin.clear_request_log()
    invoice = one_line_invoice(hook, customer, "k-log")
    posts = admin.request_log(method="POST")
    assert [p["path"] for p in posts] == [
        "/v1/invoices",
        "/v1/invoiceitems",
        f"/v1/invoices/{invoice['id']}/finalize",
    ]
    assert [p["headers"]["idempotency-key"] for p in posts] == ["k-log-inv", "k-log-item", "k-log-fin"]


def test_billing_periods_follow_calendar_months() -> None:
    from datetime import UTC, datetime

    from ml_connector_sandbox.systems.stripe.subscriptions import period_boundary

    anchor = int(datetime(2026, 1, 31, 12, 0, tzinfo=UTC).timestamp())
    starts = [datetime.fromtimestamp(period_boundary(anchor, "month", 1, n), UTC) for n in range(4)]
    assert [(d.month, d.day) for d in starts] == [(1, 31), (2, 28), (3, 31), (4, 30)]
    leap = int(datetime(2028, 2, 29, tzinfo=UTC).timestamp())
    assert datetime.fromtimestamp(period_boundary(leap, "year", 1, 1), UTC).date().isoformat() == "2029-02-28"
    assert period_boundary(anchor, "week", 2, 3) == anchor + 6 * 7 * DAY
    assert period_boundary(anchor, "day", 10, 2) == anchor + 20 * DAY
    quarter = datetime.fromtimestamp(period_boundary(anchor, "month", 3, 1), UTC)
    assert (quarter.year, quarter.month, quarter.day) == (2026, 4, 30)
