from __future__ import annotations

import copy
from decimal import Decimal
from typing import Any

import pytest
from hypothesis import given
from hypothesis import strategies as st

from ml_connector_provider.engine.types import DeadLetter, Skip, Write
from ml_connector_provider.integrations.fusion_stripe.journals import (
    PostingAccounts,
    fusion_reference,
    map_payment,
    map_subscription_invoice,
)

ACCOUNTS = PostingAccounts(
    cash_clearing="101-000-11250-000-000",
    ar_suspense="101-000-12990-000-000",
    fees="101-000-65110-000-000",
    subscription_revenue="101-000-40100-000-000",
    category="Receipts",
)
CREATED = 1_795_000_000  # 2026-11-18 11:06:40 UTC

PAYMENT: dict[str, Any] = {
    "kind": "payment",
    "payment_intent": {"id": "pi_1", "metadata": {}},
    "charge": {
        "id": "ch_1",
        "status": "succeeded",
        "payment_intent": "pi_1",
        "metadata": {},
        "balance_transaction": {
            "id": "txn_1",
            "amount": 10000,
            "fee": 320,
            "net": 9680,
            "currency": "usd",
            "created": CREATED,
        },
    },
    "invoice": {
        "id": "in_1",
        "number": "ACME-0001",
        "status": "paid",
        "metadata": {"fusion_transaction_id": "300100170996427", "fusion_transaction_number": "AR-1001"},
        "parent": None,
    },
}
FUSION_INVOICE = {"CustomerTransactionId": 300100170996427, "TransactionNumber": "AR-1001"}


def totals(lines: list[dict[str, Any]]) -> tuple[Decimal, Decimal]:
    debit = sum((Decimal(line["debit"]) for line in lines if line["debit"]), Decimal(0))
    credit = sum((Decimal(line["credit"]) for line in lines if line["credit"]), Decimal(0))
    return debit, credit


def test_payment_posts_net_fee_and_gross_with_both_sides_references() -> None:
    result = map_payment(
        PAYMENT, accounts=ACCOUNTS, prefix="fusion_", fusion_invoice=FUSION_INVOICE, linked=False
    )
    assert isinstance(result, Write)
    journal = result.payload
    assert journal["batch_name"] == "Stripe pi_1"
    assert journal["currency"] == "USD"
    assert journal["accounting_date"] == "2026-11-18"
    assert [(line["account"], line["debit"], line["credit"]) for line in journal["lines"]] == [
        ("101-000-11250-000-000", "96.80", None),
        ("101-000-65110-000-000", "3.20", None),
        ("101-000-12990-000-000", None, "100.00"),
    ]
    assert totals(journal["lines"]) == (Decimal("100.00"), Decimal("100.00"))
    assert journal["references"] == {
        "stripe_payment_intent": "pi_1",
        "stripe_charge": "ch_1",
        "stripe_invoice": "in_1",
        "stripe_balance_transaction": "txn_1",
        "fusion_invoice_number": "AR-1001",
        "fusion_transaction_id": "300100170996427",
    }
    assert "AR-1001" in journal["journal_description"]


def test_refund_reverses_the_payment() -> None:
    refund = {
        **PAYMENT,
        "kind": "refund",
        "refund": {
            "id": "re_1",
            "status": "succeeded",
            "balance_transaction": {
                "id": "txn_2",
                "amount": -2500,
                "fee": 0,
                "net": -2500,
                "currency": "usd",
                "created": CREATED,
            },
        },
    }
    result = map_payment(
        refund, accounts=ACCOUNTS, prefix="fusion_", fusion_invoice=FUSION_INVOICE, linked=False
    )
    assert isinstance(result, Write)
    assert result.payload["batch_name"] == "Stripe re_1"
    assert [(line["account"], line["debit"], line["credit"]) for line in result.payload["lines"]] == [
        ("101-000-11250-000-000", None, "25.00"),
        ("101-000-12990-000-000", "25.00", None),
    ]
    assert result.payload["references"]["stripe_refund"] == "re_1"


def test_zero_decimal_settlement_amounts() -> None:
    record = copy.deepcopy(PAYMENT)
    record["charge"]["balance_transaction"] = {
        "id": "txn_3",
        "amount": 150000,
        "fee": 5400,
        "net": 144600,
        "currency": "jpy",
        "created": CREATED,
    }
    result = map_payment(
        record, accounts=ACCOUNTS, prefix="fusion_", fusion_invoice=FUSION_INVOICE, linked=False
    )
    assert isinstance(result, Write)
    assert [line["debit"] or line["credit"] for line in result.payload["lines"]] == [
        "144600",
        "5400",
        "150000",
    ]


@pytest.mark.parametrize(
    ("currency", "amounts", "booked"),
    [
        # Stripe counts ISK in hundredths; the ledger books whole krónur (ISO 4217: 0 decimals).
        ("isk", (150000, 5400, 144600), ["1446", "54", "1500"]),
        # Stripe counts MGA in whole ariary; the ledger books two decimals (ISO 4217: 2).
        ("mga", (150000, 5400, 144600), ["144600.00", "5400.00", "150000.00"]),
        ("kwd", (12340, 370, 11970), ["11.970", "0.370", "12.340"]),
    ],
)
def test_stripe_amounts_are_booked_with_iso_4217_decimals(
    currency: str, amounts: tuple[int, int, int], booked: list[str]
) -> None:
    record = copy.deepcopy(PAYMENT)
    gross, fee, net = amounts
    record["charge"]["balance_transaction"].update(currency=currency, amount=gross, fee=fee, net=net)
    result = map_payment(
        record, accounts=ACCOUNTS, prefix="fusion_", fusion_invoice=FUSION_INVOICE, linked=False
    )
    assert isinstance(result, Write)
    assert [line["debit"] or line["credit"] for line in result.payload["lines"]] == [
        booked[0],
        booked[1],
        booked[2],
    ]


def test_a_stripe_amount_the_ledger_currency_cannot_hold_is_a_dead_letter() -> None:
    record = copy.deepcopy(PAYMENT)
    # 0.50 ISK of fee: Stripe's two ISK decimals can say it, an ISK ledger cannot book it.
    record["charge"]["balance_transaction"].update(currency="isk", amount=150000, fee=5450, net=144550)
    verdict = map_payment(
        record, accounts=ACCOUNTS, prefix="fusion_", fusion_invoice=FUSION_INVOICE, linked=False
    )
    assert isinstance(verdict, DeadLetter)
    assert verdict.field == "balance_transaction"
    assert "txn_1" in verdict.reason
    assert "more decimals than ISK allows (0)" in verdict.reason


def test_reference_is_searched_on_invoice_then_intent_then_charge() -> None:
    record = copy.deepcopy(PAYMENT)
    record["invoice"] = None
    record["charge"]["metadata"] = {"fusion_transaction_number": "AR-2002"}
    ref = fusion_reference(record, "fusion_")
    assert ref is not None
    assert (ref.attribute, ref.value, ref.field) == (
        "TransactionNumber",
        "AR-2002",
        "metadata.fusion_transaction_number",
    )
    assert "charge ch_1" in ref.where
    record["payment_intent"]["metadata"] = {"fusion_transaction_number": "AR-3003"}
    assert fusion_reference(record, "fusion_").value == "AR-3003"  # type: ignore[union-attr]


def test_no_reference_and_unknown_invoice_are_dead_letters_but_a_linked_payment_stays_stable() -> None:
    record = copy.deepcopy(PAYMENT)
    record["invoice"]["metadata"] = {}
    verdict = map_payment(record, accounts=ACCOUNTS, prefix="fusion_", fusion_invoice=None, linked=False)
    assert isinstance(verdict, DeadLetter)
    assert "no Fusion invoice reference" in verdict.reason

    verdict = map_payment(PAYMENT, accounts=ACCOUNTS, prefix="fusion_", fusion_invoice=None, linked=False)
    assert isinstance(verdict, DeadLetter)
    assert verdict.reason == (
        "Fusion invoice 300100170996427 named in Stripe invoice in_1 metadata fusion_transaction_id "
        "does not exist in Fusion"
    )
    assert verdict.field == "metadata.fusion_transaction_id"

    posted = map_payment(
        PAYMENT, accounts=ACCOUNTS, prefix="fusion_", fusion_invoice=FUSION_INVOICE, linked=False
    )
    again = map_payment(PAYMENT, accounts=ACCOUNTS, prefix="fusion_", fusion_invoice=None, linked=True)
    assert posted == again


@pytest.mark.parametrize(
    ("change", "text"),
    [
        ({"charge": {**PAYMENT["charge"], "status": "failed"}}, "only succeeded charges post"),
        (
            {
                "invoice": {
                    **PAYMENT["invoice"],
                    "parent": {
                        "type": "subscription_details",
                        "subscription_details": {"subscription": "sub_1"},
                    },
                }
            },
            "subscriptions stream",
        ),
    ],
)
def test_skips(change: dict[str, Any], text: str) -> None:
    verdict = map_payment(
        {**PAYMENT, **change},
        accounts=ACCOUNTS,
        prefix="fusion_",
        fusion_invoice=FUSION_INVOICE,
        linked=False,
    )
    assert isinstance(verdict, Skip)
    assert text in verdict.reason


def test_inconsistent_balance_transaction_is_a_dead_letter() -> None:
    record = copy.deepcopy(PAYMENT)
    record["charge"]["balance_transaction"]["net"] = 9000
    verdict = map_payment(
        record, accounts=ACCOUNTS, prefix="fusion_", fusion_invoice=FUSION_INVOICE, linked=False
    )
    assert isinstance(verdict, DeadLetter)
    assert "does not add up" in verdict.reason


def test_subscription_invoice_posts_to_subscription_revenue() -> None:
    record = {
        "kind": "subscription_invoice",
        "invoice": {
            "id": "in_9",
            "number": "SUB-0002",
            "status": "paid",
            "billing_reason": "subscription_cycle",
            "period_start": CREATED,
            "period_end": CREATED + 30 * 86400,
            "parent": {"type": "subscription_details", "subscription_details": {"subscription": "sub_1"}},
        },
        "payments": [
            {
                "id": "ch_9",
                "status": "succeeded",
                "balance_transaction": {
                    "id": "txn_9",
                    "amount": 4900,
                    "fee": 172,
                    "net": 4728,
                    "currency": "usd",
                    "created": CREATED,
                },
            }
        ],
    }
    result = map_subscription_invoice(record, accounts=ACCOUNTS)
    assert isinstance(result, Write)
    assert result.payload["batch_name"] == "Stripe in_9"
    assert [(line["account"], line["debit"], line["credit"]) for line in result.payload["lines"]] == [
        ("101-000-11250-000-000", "47.28", None),
        ("101-000-65110-000-000", "1.72", None),
        ("101-000-40100-000-000", None, "49.00"),
    ]
    assert result.payload["references"]["stripe_subscription"] == "sub_1"
    unpaid = {**record, "payments": []}
    assert isinstance(map_subscription_invoice(unpaid, accounts=ACCOUNTS), Skip)


@given(st.integers(min_value=1, max_value=10**10), st.integers(min_value=0, max_value=10**8), st.booleans())
def test_every_journal_balances(gross: int, fee: int, refund: bool) -> None:
    record = copy.deepcopy(PAYMENT)
    sign = -1 if refund else 1
    txn = {
        "id": "txn_x",
        "amount": sign * gross,
        "fee": fee,
        "net": sign * gross - fee,
        "currency": "usd",
        "created": CREATED,
    }
    if refund:
        record["kind"] = "refund"
        record["refund"] = {"id": "re_x", "status": "succeeded", "balance_transaction": txn}
    else:
        record["charge"]["balance_transaction"] = txn
    result = map_payment(
        record, accounts=ACCOUNTS, prefix="fusion_", fusion_invoice=FUSION_INVOICE, linked=False
    )
    assert isinstance(result, Write)
    debit, credit = totals(result.payload["lines"])
    assert debit == credit > 0
