"""Invoices to Stripe and Stripe money back to the Fusion general ledger, through the whole
``fusion_stripe`` DAG run with ``dag.test()`` against the stand-ins over HTTP.

The module is one story, test after test: Fusion invoices go to Stripe; customers pay, one payment
is partly refunded, a subscription renews; the next run posts one balanced journal per payment,
refund and billing cycle; replays with every event listed twice change nothing; faults mid-run
change nothing either; a payment naming no Fusion invoice is dead-lettered and posts once its
reference is fixed.
"""

from __future__ import annotations

import re
from collections import Counter
from datetime import UTC, datetime, timedelta
from decimal import Decimal
from typing import Any

import pytest
import stripe
from ml_connector_sandbox.faults import FaultRule
from ml_connector_sandbox.runner import SandboxRunner

from ml_connector_provider.engine.types import StreamKey
from ml_connector_provider.formats.money import to_stripe_minor_units
from ml_connector_provider.ledger import Ledger
from tests.harness.airflow_dags import run_dag, stream_summary

pytestmark = pytest.mark.airflow_db

DAG_ID = "mlc__acme__fusion_stripe"
CASH, AR, FEES, SUBS = (
    "101-000-11250-000-000",
    "101-000-12990-000-000",
    "101-000-65110-000-000",
    "101-000-40100-000-000",
)
CONFIG = f"""\
version: 1
defaults:
  retries: 0
  sync: {{overlap: 600, lag: 0, batch_size: 4}}
tenants:
  - id: acme
    integrations:
      fusion_stripe:
        schedule: null
        connections: {{fusion: acme_fusion, stripe: acme_stripe}}
        settings:
          business_units: ["US1 Business Unit"]
          gl:
            ledger_id: "300000046975971"
            ledger_name: US Primary Ledger
            data_access_set_id: "300000046975980"
            journal_source: Stripe
            cash_clearing_account: {CASH}
            ar_suspense_account: {AR}
            fee_account: {FEES}
            subscription_revenue_account: {SUBS}
            poll_interval: 0.05
"""


@pytest.fixture(scope="module")
def client(sandbox: SandboxRunner) -> stripe.StripeClient:
    key = sandbox.system("stripe").secret_key  # type: ignore[attr-defined]
    return stripe.StripeClient(key, base_addresses={"api": sandbox.url("stripe")}, max_network_retries=0)


def counts(ledger: Ledger, run_id: str, stream: str) -> tuple[int, int, int, int]:
    row = stream_summary(ledger, "acme", run_id, stream)
    return row["created"], row["updated"], row["skipped"], row["dead_lettered"]


def fusion_state(sandbox: SandboxRunner) -> Any:
    return sandbox.system("fusion")


def stripe_state(sandbox: SandboxRunner) -> Any:
    return sandbox.system("stripe")


def journals(sandbox: SandboxRunner) -> dict[str, dict[str, Any]]:
    """Fusion journal batches by journal-stable name (``Stripe <id>``, without the import
    attempt's `` G<group>;`` and what Journal Import appends); fails on a journal posted twice."""
    batches = fusion_state(sandbox).journal_batches()
    names = Counter(stable_name(b["BatchName"]) for b in batches)
    assert all(n == 1 for n in names.values()), {k: n for k, n in names.items() if n > 1}
    return {stable_name(b["BatchName"]): b for b in batches}


def stable_name(batch_name: str) -> str:
    return re.sub(r" G\d+;.*$", "", batch_name)


def lines_of(batch: dict[str, Any]) -> list[tuple[str, Decimal, Decimal]]:
    lines = []
    for header in batch["journalHeaders"]:
        for line in header["journalLines"]:
            lines.append(
                (
                    line["AccountCombination"],
                    Decimal(str(line.get("EnteredDr") or 0)),
                    Decimal(str(line.get("EnteredCr") or 0)),
                )
            )
    return lines


def assert_stripe_invoices_unique(sandbox: SandboxRunner) -> None:
    ids = Counter(i["metadata"].get("fusion_transaction_id") for i in stripe_state(sandbox).invoices())
    ids.pop(None, None)  # subscription invoices
    assert ids
    assert all(n == 1 for n in ids.values()), ids


def test_invoices_become_finalized_stripe_invoices_with_exact_amounts(
    sandbox: SandboxRunner, ledger: Ledger
) -> None:
    run_id = run_dag(DAG_ID)
    assert counts(ledger, run_id, "customers") == (8, 0, 4, 0)
    # 7 complete US1 invoices; one incomplete and two in other business units are skipped.
    assert counts(ledger, run_id, "invoices") == (7, 0, 3, 0)
    invoices = {i["metadata"]["fusion_transaction_number"]: i for i in stripe_state(sandbox).invoices()}
    assert len(invoices) == 7
    links = ledger.get_links(
        StreamKey("acme", "fusion_stripe", "invoices"),
        [str(r["CustomerTransactionId"]) for r in fusion_state(sandbox).invoices()],
    )
    for row in fusion_state(sandbox).invoices():
        number = row["TransactionNumber"]
        if number not in invoices:
            continue
        invoice = invoices[number]
        assert invoice["status"] == "open"
        assert invoice["collection_method"] == "send_invoice"
        assert invoice["currency"] == row["InvoiceCurrencyCode"].lower()
        assert invoice["amount_due"] == to_stripe_minor_units(
            row["EnteredAmount"], row["InvoiceCurrencyCode"]
        )
        assert links[str(row["CustomerTransactionId"])].target_id == invoice["id"]
    assert invoices["INV-10067"]["currency"] == "jpy"
    assert invoices["INV-10067"]["amount_due"] == 399690
    assert_stripe_invoices_unique(sandbox)


def test_payments_refund_and_subscription_post_balanced_journals(
    sandbox: SandboxRunner, ledger: Ledger, client: stripe.StripeClient
) -> None:
    stripe_sb = stripe_state(sandbox)
    for invoice in stripe_sb.invoices():
        stripe_sb.pay_invoice(invoice["id"])
    first = stripe_sb.invoices()[0]
    [payment] = client.v1.invoice_payments.list(params={"invoice": first["id"]}).data
    intent_id = str(payment.payment.payment_intent)
    refund = client.v1.refunds.create(params={"payment_intent": intent_id, "amount": 10000})
    price = client.v1.prices.create(
        params={
            "currency": "usd",
            "unit_amount": 4900,
            "recurring": {"interval": "month"},
            "product_data": {"name": "Platform"},
        }
    )
    customer = stripe_sb.customers()[1]["id"]
    subscription = client.v1.subscriptions.create(
        params={
            "customer": customer,
            "items": [{"price": price.id}],
            "default_payment_method": "pm_card_visa",
        }
    )
    stripe_sb.advance_subscription(subscription.id)

    run_id = run_dag(DAG_ID)
    assert counts(ledger, run_id, "payments") == (
        8,
        0,
        2,
        0,
    )  # 7 payments + 1 refund; 2 subscription payments
    assert counts(ledger, run_id, "subscriptions") == (2, 0, 0, 0)

    posted = journals(sandbox)
    assert len(posted) == 10
    for batch in posted.values():
        lines = lines_of(batch)
        assert sum(d for _, d, _ in lines) == sum(c for _, _, c in lines) > 0, batch["BatchName"]

    # The first payment in detail: net to cash clearing, fee to fees, gross off AR suspense.
    charge = next(c for c in stripe_sb.charges() if c["payment_intent"] == intent_id)
    txn = next(t for t in stripe_sb.balance_transactions() if t["id"] == charge["balance_transaction"])
    cents = Decimal("0.01")
    assert sorted(lines_of(posted[f"Stripe {intent_id}"])) == sorted(
        [
            (CASH, Decimal(txn["net"]) * cents, Decimal(0)),
            (FEES, Decimal(txn["fee"]) * cents, Decimal(0)),
            (AR, Decimal(0), Decimal(txn["amount"]) * cents),
        ]
    )
    assert sorted(lines_of(posted[f"Stripe {refund.id}"])) == [
        (CASH, Decimal(0), Decimal("100.00")),
        (AR, Decimal("100.00"), Decimal(0)),
    ]
    subs = [b for name, b in posted.items() if any(a == SUBS for a, _, _ in lines_of(b))]
    assert len(subs) == 2
    assert all(sum(c for a, _, c in lines_of(b) if a == SUBS) == Decimal("49.00") for b in subs)

    # Both sides' ids in the audit trail: Stripe payment → Fusion JeBatchId.
    batch_ids = {str(b["JeBatchId"]): name for name, b in posted.items()}
    audit = ledger.query_audit(tenant="acme", run_id=run_id, action="created")
    money = [a for a in audit if a.key.stream in ("payments", "subscriptions")]
    assert len(money) == 10
    for row in money:
        assert (row.source_system, row.target_system) == ("stripe", "fusion")
        assert batch_ids[str(row.target_id)] == f"Stripe {row.source_id}"


def test_replays_with_every_event_listed_twice_post_nothing_new(
    sandbox: SandboxRunner, ledger: Ledger
) -> None:
    before_journals = set(journals(sandbox))
    before_invoices = {i["id"] for i in stripe_state(sandbox).invoices()}
    before_customers = {c["id"] for c in stripe_state(sandbox).customers()}
    stripe_state(sandbox).settings.event_list_repeats = 2
    try:
        now = datetime.now(UTC)
        everything = {
            "replay_from": (now - timedelta(days=29)).isoformat(),
            "replay_to": (now + timedelta(minutes=5)).isoformat(),
        }
        for conf in (everything, everything, None):
            run_id = run_dag(DAG_ID, conf)
            for stream in ("customers", "invoices", "payments", "subscriptions"):
                created, _, _, dead = counts(ledger, run_id, stream)
                assert (created, dead) == (0, 0), stream
    finally:
        stripe_state(sandbox).settings.event_list_repeats = 1
    assert ledger.list_dead_letters(tenant="acme") == []
    assert set(journals(sandbox)) == before_journals
    assert {i["id"] for i in stripe_state(sandbox).invoices()} == before_invoices
    assert {c["id"] for c in stripe_state(sandbox).customers()} == before_customers


def test_token_expiry_429_and_503_mid_run_end_in_the_same_state(
    sandbox: SandboxRunner, ledger: Ledger
) -> None:
    fusion, stripe_sb = fusion_state(sandbox), stripe_state(sandbox)
    customer = fusion.invoices()[0]
    fusion.upsert_invoice(
        {
            "TransactionNumber": "INV-20001",
            "TransactionSource": "Manual",
            "TransactionType": "Invoice",
            "BusinessUnit": customer["BusinessUnit"],
            "BillToCustomerNumber": customer["BillToCustomerNumber"],
            "BillToCustomerName": customer["BillToCustomerName"],
            "BillToSite": customer["BillToSite"],
            "InvoiceCurrencyCode": "USD",
            "TransactionDate": "2026-11-20",
            "DueDate": "2027-01-15",
        },
        lines=[
            {"LineNumber": 1, "Description": "Support renewal", "Quantity": 3, "UnitSellingPrice": 333.33}
        ],
    )
    [subscription] = stripe_sb.subscriptions()
    stripe_sb.advance_subscription(subscription["id"])

    fusion.tokens.expire_all()
    fusion.faults.add(FaultRule.rate_limit(path="receivablesInvoices", retry_after=0))
    fusion.faults.add(FaultRule.unavailable(path="journalBatches"))
    fusion.faults.add(FaultRule.unavailable(path="erpintegrations", method="GET"))
    stripe_sb.faults.add(FaultRule.rate_limit(path="^/v1/events$", headers={"Stripe-Should-Retry": "true"}))
    stripe_sb.faults.add(FaultRule.unavailable(path="/add_lines$", method="POST"))
    stripe_sb.faults.add(FaultRule.unavailable(path="/finalize$", method="POST"))

    run_id = run_dag(DAG_ID)
    assert counts(ledger, run_id, "invoices")[0] == 1
    assert counts(ledger, run_id, "subscriptions") == (1, 0, 0, 0)
    applied = [s for s in fusion.faults.status() + stripe_sb.faults.status() if s["applied"]]
    assert len(applied) == 6, "every injected fault was hit"
    fusion.faults.clear()
    stripe_sb.faults.clear()

    [new] = [i for i in stripe_sb.invoices() if i["metadata"].get("fusion_transaction_number") == "INV-20001"]
    assert (new["status"], new["amount_due"]) == ("open", 99999)
    stripe_sb.pay_invoice(new["id"])
    run_id = run_dag(DAG_ID)
    assert counts(ledger, run_id, "payments")[0] == 1
    assert len(journals(sandbox)) == 12
    assert_stripe_invoices_unique(sandbox)


def test_unmatched_payment_is_dead_lettered_and_posts_once_its_reference_is_fixed(
    sandbox: SandboxRunner, ledger: Ledger, client: stripe.StripeClient
) -> None:
    customer = stripe_state(sandbox).customers()[0]["id"]
    intent = client.v1.payment_intents.create(
        params={
            "amount": 25000,
            "currency": "usd",
            "customer": customer,
            "payment_method": "pm_card_visa",
            "confirm": True,
            "metadata": {"fusion_transaction_number": "AR-99999"},
        }
    )
    run_id = run_dag(DAG_ID)
    assert counts(ledger, run_id, "payments")[3] == 1
    letters = ledger.list_dead_letters(tenant="acme")
    assert len(letters) == 1, [(d.key.stream, d.source_id, d.reason) for d in letters]
    [letter] = letters
    assert letter.source_id == intent.id
    assert letter.reason == (
        f"Fusion invoice AR-99999 named in Stripe payment intent {intent.id} metadata "
        "fusion_transaction_number does not exist in Fusion (field metadata.fusion_transaction_number)"
    )
    assert f"Stripe {intent.id}" not in journals(sandbox)

    client.v1.payment_intents.update(
        intent.id, params={"metadata": {"fusion_transaction_number": "INV-10064"}}
    )
    run_id = run_dag(DAG_ID, {"stream": "payments", "record_ids": [intent.id]})
    assert counts(ledger, run_id, "payments")[0] == 1
    assert ledger.list_dead_letters(tenant="acme") == []
    batch = journals(sandbox)[f"Stripe {intent.id}"]
    assert any(a == AR and c == Decimal("250.00") for a, _, c in lines_of(batch))
