"""The pure NetSuite mappings of Stripe sales and refunds: amounts exact in both modes."""

from __future__ import annotations

import copy
from decimal import Decimal
from typing import Any

import pytest
from hypothesis import given
from hypothesis import strategies as st

from ml_connector_provider.engine.types import DeadLetter, Skip, Write
from ml_connector_provider.integrations.stripe_netsuite.mapping import (
    apply_to,
    customer_external_id,
    map_customer,
    map_refund,
    map_sale,
    sale_external_id,
    split_exact,
)
from ml_connector_provider.integrations.stripe_netsuite.settings import StripeNetSuiteSettings

CREATED = 1_795_000_000  # 2026-11-18 UTC
NET = StripeNetSuiteSettings.model_validate(
    {
        "subsidiary_id": "1",
        "currencies": {"USD": "1", "JPY": "4", "BHD": "7"},
        "items": {"prod_Basic": "86", "prod_Seat": "87"},
    }
)
GROSS = NET.model_copy(update={"amount_mode": "gross_with_fee_line", "fee_item": "90", "fee_account": "612"})
ITEMS = dict(NET.items)


def charge(amount: int = 10_000, fee: int = 320, currency: str = "usd", **extra: Any) -> dict[str, Any]:
    return {
        "kind": "payment",
        "payment_intent": {"id": "pi_1", "metadata": {"product": "prod_Basic"}, "customer": "cus_A"},
        "charge": {
            "id": "ch_1",
            "amount": amount,
            "currency": currency,
            "status": "succeeded",
            "created": CREATED,
            "customer": "cus_A",
            "payment_intent": "pi_1",
            "description": "Annual plan",
            "metadata": {},
            "balance_transaction": {
                "id": "txn_1",
                "amount": amount,
                "fee": fee,
                "net": amount - fee,
                "currency": currency,
            },
        },
        "invoice": None,
        "event_id": "evt_1",
        **extra,
    }


def subscription(lines: list[tuple[str, int, int]], fee: int = 100, currency: str = "usd") -> dict[str, Any]:
    total = sum(amount for _, _, amount in lines)
    return {
        "kind": "subscription_invoice",
        "invoice": {
            "id": "in_1",
            "number": "INV-0001",
            "status": "paid",
            "customer": "cus_A",
            "currency": currency,
            "amount_paid": total,
            "created": CREATED,
            "parent": {"type": "subscription_details", "subscription_details": {"subscription": "sub_1"}},
        },
        "payments": [
            {
                "id": "ch_9",
                "amount": total,
                "currency": currency,
                "balance_transaction": {"id": "txn_9", "amount": total, "fee": fee, "currency": currency},
            }
        ],
        "lines": [
            {
                "amount": amount,
                "quantity": quantity,
                "description": f"{product} × {quantity}",
                "pricing": {"price_details": {"product": product, "price": f"price_{product[5:]}"}},
            }
            for product, quantity, amount in lines
        ],
    }


def lines_of(result: Write, key: str = "invoice") -> list[dict[str, Any]]:
    return result.payload[key]["item"]["items"]


def total(lines: list[dict[str, Any]]) -> Decimal:
    return sum((Decimal(line["amount"]) for line in lines), Decimal(0))


def test_one_time_charge_net_mode_is_one_line_at_the_net() -> None:
    result = map_sale(charge(), NET, customer_id="614", item_ids=ITEMS)
    assert isinstance(result, Write)
    body = result.payload["invoice"]
    assert body["externalId"] == "stripe-ch_1" == result.payload["external_id"]
    assert body["entity"] == {"id": "614"}
    assert body["subsidiary"] == {"id": "1"}
    assert body["currency"] == {"id": "1"}
    assert body["tranDate"] == "2026-11-18"
    assert "ch_1" in body["memo"]
    assert "evt_1" in body["memo"]
    assert lines_of(result) == [
        {"item": {"id": "86"}, "quantity": 1, "amount": "96.80", "description": "Annual plan"}
    ]
    payment = result.payload["payment"]
    assert payment["payment"] == "96.80"
    assert payment["customer"] == {"id": "614"}
    assert payment["undepFunds"] is True
    assert result.payload["stripe"] == {"object": "charge", "id": "ch_1"}


def test_gross_mode_adds_a_negative_fee_line_and_the_total_is_the_net() -> None:
    result = map_sale(charge(), GROSS, customer_id="614", item_ids=ITEMS)
    assert isinstance(result, Write)
    lines = lines_of(result)
    assert lines[0]["amount"] == "100.00"
    assert lines[1] == {
        "item": {"id": "90"},
        "quantity": 1,
        "amount": "-3.20",
        "description": "Stripe fee",
        "account": {"id": "612"},
    }
    assert total(lines) == Decimal("96.80") == Decimal(result.payload["payment"]["payment"])


def test_jpy_charge_is_exact_in_whole_yen() -> None:
    result = map_sale(charge(amount=12_345, fee=444, currency="jpy"), NET, customer_id="614", item_ids=ITEMS)
    assert isinstance(result, Write)
    assert lines_of(result)[0]["amount"] == "11901"
    assert result.payload["invoice"]["currency"] == {"id": "4"}
    gross = map_sale(charge(amount=12_345, fee=444, currency="jpy"), GROSS, customer_id="614", item_ids=ITEMS)
    assert isinstance(gross, Write)
    assert [line["amount"] for line in lines_of(gross)] == ["12345", "-444"]


def test_three_decimal_currency_keeps_three_decimals() -> None:
    result = map_sale(charge(amount=10_250, fee=30, currency="bhd"), NET, customer_id="614", item_ids=ITEMS)
    assert isinstance(result, Write)
    assert lines_of(result)[0]["amount"] == "10.220"


def test_subscription_invoice_net_is_spread_over_lines_exactly() -> None:
    record = subscription([("prod_Basic", 1, 3333), ("prod_Seat", 3, 3333), ("prod_Seat", 1, 3334)], fee=100)
    result = map_sale(record, NET, customer_id="614", item_ids=ITEMS)
    assert isinstance(result, Write)
    lines = lines_of(result)
    assert [line["amount"] for line in lines] == ["33.00", "33.00", "33.00"]
    assert total(lines) == Decimal("99.00")
    assert [line["quantity"] for line in lines] == [1, 3, 1]
    body = result.payload["invoice"]
    assert body["externalId"] == "stripe-in_1"
    assert body["otherRefNum"] == "INV-0001"
    assert result.payload["stripe"] == {"object": "invoice", "id": "in_1"}


@given(
    st.lists(st.integers(min_value=-5_000, max_value=1_000_000), min_size=1, max_size=12).filter(
        lambda w: sum(w) != 0
    ),
    st.integers(min_value=-10_000_000, max_value=10_000_000),
)
def test_split_exact_sums_to_the_total(weights: list[int], amount: int) -> None:
    shares = split_exact(amount, weights)
    assert sum(shares) == amount
    whole = sum(weights)
    for weight, share in zip(weights, shares, strict=True):
        assert abs(share * whole - weight * amount) < abs(whole)  # within one unit of the exact share


def test_split_exact_refuses_lines_summing_to_zero() -> None:
    with pytest.raises(ValueError, match="sum to zero"):
        split_exact(100, [5, -5])


def test_discounts_are_taken_off_the_line() -> None:
    record = subscription([("prod_Basic", 1, 10_000)], fee=0)
    record["lines"][0]["discount_amounts"] = [{"amount": 2_000}]
    record["invoice"]["amount_paid"] = 8_000
    record["payments"][0]["amount"] = 8_000
    result = map_sale(record, NET, customer_id="614", item_ids=ITEMS)
    assert isinstance(result, Write)
    assert lines_of(result)[0]["amount"] == "80.00"


@pytest.mark.parametrize(
    ("change", "reason"),
    [
        pytest.param(lambda r: r["lines"][0].update(taxes=[{"amount": 5}]), "Stripe Tax", id="tax"),
        pytest.param(lambda r: r["invoice"].update(amount_paid=1), "customer balance", id="balance-applied"),
        pytest.param(
            lambda r: r["invoice"].update(currency="chf"), "currency not enabled: CHF", id="currency"
        ),
        pytest.param(
            lambda r: r["invoice"].update(currency="us$"), "not a currency code", id="hostile-currency"
        ),
        pytest.param(lambda r: r["invoice"].update(customer=None), "no Stripe customer", id="no-customer"),
        pytest.param(
            lambda r: r["invoice"].update(customer="cus_A'; --"), "not a Stripe id", id="hostile-customer"
        ),
        pytest.param(
            lambda r: r["invoice"].update(id="in_1/../x"), "not a Stripe id", id="hostile-invoice-id"
        ),
        pytest.param(lambda r: r["lines"][0].update(amount="10"), "not an integer", id="string-amount"),
        pytest.param(
            lambda r: r["payments"][0]["balance_transaction"].update(currency="eur"),
            "fee in another currency",
            id="fee-in-settlement-currency",
        ),
        pytest.param(
            lambda r: r["payments"][0].update(balance_transaction=None), "no balance transaction", id="no-fee"
        ),
    ],
)
def test_what_cannot_be_posted_is_dead_lettered_with_its_reason(change: Any, reason: str) -> None:
    record = subscription([("prod_Basic", 1, 5000)])
    change(record)
    result = map_sale(record, NET, customer_id="614", item_ids=ITEMS)
    assert isinstance(result, DeadLetter), result
    assert reason in result.reason


def test_unmapped_product_names_product_price_and_the_two_fixes() -> None:
    result = map_sale(subscription([("prod_Gold", 1, 5000)]), NET, customer_id="614", item_ids=ITEMS)
    assert isinstance(result, DeadLetter)
    assert result.reason == (
        "unmapped product prod_Gold (price price_Gold) — map it in settings.items or set "
        "custitem_stripe_product_id on the item"
    )
    mapped = map_sale(
        subscription([("prod_Gold", 1, 5000)]), NET, customer_id="614", item_ids={"prod_Gold": "99"}
    )
    assert isinstance(mapped, Write)


def test_a_charge_without_a_product_is_unmapped() -> None:
    record = charge()
    record["payment_intent"]["metadata"] = {}
    result = map_sale(record, NET, customer_id="614", item_ids=ITEMS)
    assert isinstance(result, DeadLetter)
    assert result.reason.startswith("unmapped product (none: metadata.product is empty)")


def test_customer_not_in_netsuite_is_dead_lettered() -> None:
    result = map_sale(charge(), NET, customer_id=None, item_ids=ITEMS)
    assert isinstance(result, DeadLetter)
    assert result.reason.startswith("customer not in NetSuite: no customer with externalId stripe-cus_A")


def test_payment_of_a_stripe_invoice_and_unpaid_objects_are_skipped() -> None:
    assert isinstance(map_sale(charge(invoice={"id": "in_5"}), NET, customer_id="614", item_ids=ITEMS), Skip)
    failed = charge()
    failed["charge"]["status"] = "failed"
    assert isinstance(map_sale(failed, NET, customer_id="614", item_ids=ITEMS), Skip)
    open_invoice = subscription([("prod_Basic", 1, 5000)])
    open_invoice["invoice"]["status"] = "open"
    assert isinstance(map_sale(open_invoice, NET, customer_id="614", item_ids=ITEMS), Skip)


def test_custom_body_fields_and_payment_account() -> None:
    settings = NET.model_copy(
        update={
            "event_id_field": "custbody_stripe_event_id",
            "object_id_field": "custbody_stripe_object_id",
            "payment_account": "120",
            "apply_payments": True,
        }
    )
    result = map_sale(charge(), settings, customer_id="614", item_ids=ITEMS)
    assert isinstance(result, Write)
    body = result.payload["invoice"]
    assert body["custbody_stripe_event_id"] == "evt_1"
    assert body["custbody_stripe_object_id"] == "ch_1"
    assert result.payload["payment"]["account"] == {"id": "120"}
    assert result.payload["payment"]["undepFunds"] is False
    assert apply_to(result.payload["payment"], "77", "96.80")["apply"] == {
        "items": [{"doc": {"id": "77"}, "apply": True, "amount": "96.80"}]
    }
    no_payment = map_sale(
        charge(), NET.model_copy(update={"apply_payments": False}), customer_id="614", item_ids=ITEMS
    )
    assert isinstance(no_payment, Write)
    assert no_payment.payload["payment"] is None


def test_external_ids() -> None:
    assert sale_external_id(charge()) == "stripe-ch_1"
    assert sale_external_id(subscription([("prod_Basic", 1, 1)])) == "stripe-in_1"
    assert customer_external_id("cus_A") == "stripe-cus_A"


# -- refunds --------------------------------------------------------------------------------------

NS_INVOICE: dict[str, Any] = {
    "id": "501",
    "entity": {"id": "614"},
    "currency": {"id": "1"},
    "item": {
        "items": [
            {"item": {"id": "86"}, "quantity": 1, "amount": 64.54},
            {"item": {"id": "87"}, "quantity": 2, "amount": "32.26"},
            {"item": {"id": "90"}, "quantity": 1, "amount": "-3.20"},
        ]
    },
}


def refund(amount: int, charged: int = 10_000, currency: str = "usd") -> dict[str, Any]:
    sale = charge(amount=charged, currency=currency)
    return {
        "kind": "refund",
        "refund": {
            "id": "re_1",
            "amount": amount,
            "currency": currency,
            "status": "succeeded",
            "created": CREATED + 86_400,
            "charge": "ch_1",
        },
        "charge": sale["charge"],
        "payment_intent": sale["payment_intent"],
        "invoice": None,
        "event_id": "evt_9",
    }


def test_full_refund_credits_every_revenue_line_and_applies_to_the_open_invoice() -> None:
    result = map_refund(refund(10_000), GROSS, invoice=NS_INVOICE, open_amount=96.8)
    assert isinstance(result, Write)
    memo = result.payload["credit_memo"]
    assert memo["externalId"] == "stripe-re_1"
    assert memo["createdFrom"] == {"id": "501"}
    assert memo["entity"] == {"id": "614"}
    assert memo["tranDate"] == "2026-11-19"
    assert [(line["item"]["id"], line["amount"]) for line in lines_of(result, "credit_memo")] == [
        ("86", "64.54"),
        ("87", "32.26"),
    ]
    assert memo["apply"]["items"] == [{"doc": {"id": "501"}, "apply": True, "amount": "96.80"}]
    assert "full refund" in memo["memo"]
    assert result.payload["refund"] is None


def test_partial_refund_credits_lines_in_proportion_exactly() -> None:
    settings = GROSS.model_copy(update={"refunds": "credit_memo_and_refund", "refund_account": "1"})
    result = map_refund(refund(3_333), settings, invoice=NS_INVOICE, open_amount="0")
    assert isinstance(result, Write)
    lines = lines_of(result, "credit_memo")
    # 3333/10000 of the 96.80 posted: 32.26 (rounded to the cent), spread over 64.54 and 32.26
    assert total(lines) == Decimal("32.26") == Decimal(result.payload["total"])
    assert [line["amount"] for line in lines] == ["21.51", "10.75"]
    assert "partial refund" in result.payload["credit_memo"]["memo"]
    # The payment closed the invoice: the credit stays unapplied and the customer refund pays it out.
    assert "apply" not in result.payload["credit_memo"]
    customer_refund = result.payload["refund"]
    assert customer_refund["externalId"] == "stripe-cr-re_1"
    assert customer_refund["account"] == {"id": "1"}
    assert result.payload["refund_amount"] == "32.26"


def test_credit_is_applied_up_to_what_is_open_and_the_rest_refunded() -> None:
    settings = NET.model_copy(update={"refunds": "credit_memo_and_refund", "refund_account": "1"})
    result = map_refund(refund(5_000), settings, invoice=NS_INVOICE, open_amount="20.00")
    assert isinstance(result, Write)
    assert result.payload["credit_memo"]["apply"]["items"] == [
        {"doc": {"id": "501"}, "apply": True, "amount": "20.00"}
    ]
    assert result.payload["total"] == "46.80"  # half of the 93.60 the lines hold (no fee item in net mode)
    assert result.payload["refund_amount"] == "26.80"
    settled = map_refund(refund(1_000), settings, invoice=NS_INVOICE, open_amount="50")
    assert isinstance(settled, Write)
    assert settled.payload["refund"] is None  # all of the credit went to the open invoice


def test_refund_of_an_invoice_not_posted_yet_waits_as_a_dead_letter() -> None:
    result = map_refund(refund(100), NET, invoice=None)
    assert isinstance(result, DeadLetter)
    assert "stripe-ch_1" in result.reason
    assert "not posted yet" in result.reason


def test_refund_larger_than_the_charge_or_not_succeeded() -> None:
    assert isinstance(map_refund(refund(20_000), NET, invoice=NS_INVOICE), DeadLetter)
    pending = refund(100)
    pending["refund"]["status"] = "pending"
    assert isinstance(map_refund(pending, NET, invoice=NS_INVOICE), Skip)


def test_jpy_partial_refund_is_whole_yen() -> None:
    invoice = copy.deepcopy(NS_INVOICE)
    invoice["item"]["items"] = [{"item": {"id": "86"}, "quantity": 1, "amount": "11901"}]
    result = map_refund(refund(1_000, charged=12_345, currency="jpy"), NET, invoice=invoice)
    assert isinstance(result, Write)
    assert lines_of(result, "credit_memo")[0]["amount"] == "964"  # 11901 × 1000/12345 = 964.03


# -- customers ------------------------------------------------------------------------------------


def test_customer_body_from_stripe() -> None:
    record = {
        "kind": "customer",
        "customer": {"id": "cus_A", "name": " Acme\n Corp ", "email": "ap@acme.example", "currency": "usd"},
    }
    result = map_customer(record, NET.model_copy(update={"create_customers": True}))
    assert isinstance(result, Write)
    assert result.payload["customer"] == {
        "externalId": "stripe-cus_A",
        "companyName": "Acme Corp",
        "subsidiary": {"id": "1"},
        "currency": {"id": "1"},
        "email": "ap@acme.example",
    }


def test_customers_are_skipped_unless_created_and_bad_ones_dead_lettered() -> None:
    record = {"kind": "customer", "customer": {"id": "cus_A", "currency": "chf"}}
    assert isinstance(map_customer(record, NET), Skip)
    creating = NET.model_copy(update={"create_customers": True})
    dead = map_customer(record, creating)
    assert isinstance(dead, DeadLetter)
    assert dead.reason.startswith("currency not enabled: CHF")
    hostile = map_customer({"kind": "customer", "customer": {"id": "cus_A/../1"}}, creating)
    assert isinstance(hostile, DeadLetter)
    assert "not a Stripe id" in hostile.reason
