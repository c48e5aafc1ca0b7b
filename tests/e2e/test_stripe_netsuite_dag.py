"""Stripe money to NetSuite through the whole ``stripe_netsuite`` DAG, run with ``dag.test()``
against the Stripe and NetSuite stand-ins over HTTP.

One story, test after test: one-time charges (USD and JPY) and a subscription are paid; the run
posts one paid NetSuite invoice per charge and per subscription invoice; a full and a partial
refund become credit memos; runs with every event listed twice, a cleared run, tokens that expire
mid-run and NetSuite's concurrency refusals change nothing.
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from decimal import ROUND_HALF_UP, Decimal
from typing import Any

import pytest
import stripe
from ml_connector_sandbox import FaultRule
from ml_connector_sandbox.runner import SandboxRunner

from ml_connector_provider.ledger import Ledger
from tests.harness.airflow_dags import airflow_dag_env, open_ledger, run_dag, stream_summary

pytestmark = pytest.mark.airflow_db

DAG_ID = "mlc__acme__stripe_netsuite"
CONN_IDS = {"stripe": "acme_stripe", "netsuite": "acme_netsuite"}
PRO_ANNUAL, PRO_MONTHLY = "202", "201"
CONFIG = """\
version: 1
defaults:
  retries: 0
  sync: {overlap: 600, lag: 0, batch_size: 4}
tenants:
  - id: acme
    integrations:
      stripe_netsuite:
        schedule: null
        connections: {stripe: acme_stripe, netsuite: acme_netsuite}
        settings:
          subsidiary_id: "1"
          currencies: {USD: "1", JPY: "3"}
          create_customers: true
          item_lookup: custom_field
          refunds: credit_memo_and_refund
          refund_account: "1"
"""


@pytest.fixture(scope="module")
def sandbox() -> Iterator[SandboxRunner]:
    with SandboxRunner(["stripe", "netsuite"]) as runner:
        yield runner


@pytest.fixture(scope="module")
def ledger(
    request: pytest.FixtureRequest, tmp_path_factory: pytest.TempPathFactory, sandbox: SandboxRunner
) -> Iterator[Ledger]:
    root = tmp_path_factory.mktemp("stripe_netsuite_dag")
    with airflow_dag_env(root, sandbox, CONFIG, CONN_IDS) as path, open_ledger(path) as led:
        yield led


@pytest.fixture(scope="module")
def client(sandbox: SandboxRunner) -> stripe.StripeClient:
    key = sandbox.system("stripe").secret_key  # type: ignore[attr-defined]
    return stripe.StripeClient(key, base_addresses={"api": sandbox.url("stripe")}, max_network_retries=0)


@pytest.fixture(scope="module")
def story(sandbox: SandboxRunner, client: stripe.StripeClient) -> dict[str, Any]:
    """Products whose NetSuite items carry their id, a customer, two one-time charges and a paid
    subscription invoice."""
    netsuite: Any = sandbox.system("netsuite")
    annual = client.v1.products.create(params={"name": "Pro annual"})
    netsuite.write("serviceSaleItem", {"custitem_stripe_product_id": annual.id}, record_id=PRO_ANNUAL)
    customer = client.v1.customers.create(params={"name": "Initrode", "email": "ap@initrode.example"})
    intents = {
        currency: client.v1.payment_intents.create(
            params={
                "amount": amount,
                "currency": currency,
                "customer": customer.id,
                "payment_method": "pm_card_visa",
                "confirm": True,
                "metadata": {"product": annual.id},
            }
        )
        for currency, amount in (("usd", 120_000), ("jpy", 12_345))
    }
    price = client.v1.prices.create(
        params={
            "currency": "usd",
            "unit_amount": 4_900,
            "recurring": {"interval": "month"},
            "product_data": {"name": "Pro monthly"},
        }
    )
    netsuite.write(
        "serviceSaleItem", {"custitem_stripe_product_id": str(price.product)}, record_id=PRO_MONTHLY
    )
    subscription = client.v1.subscriptions.create(
        params={
            "customer": customer.id,
            "items": [{"price": price.id}],
            "default_payment_method": "pm_card_visa",
        }
    )
    sandbox.system("stripe").advance_subscription(subscription.id)  # type: ignore[attr-defined]
    return {"customer": customer.id, "intents": intents}


def posted(sandbox: SandboxRunner, type_name: str) -> dict[str, dict[str, Any]]:
    """NetSuite records by externalId; fails when an external id is on two records."""
    records = sandbox.system("netsuite").records(type_name)  # type: ignore[attr-defined]
    counted = Counter(r.get("externalId") for r in records)
    assert all(n == 1 for n in counted.values()), counted
    return {str(r.get("externalId")): r for r in records}


def state(sandbox: SandboxRunner) -> tuple[int, ...]:
    return tuple(
        len(posted(sandbox, name)) for name in ("invoice", "customerpayment", "creditmemo", "customerrefund")
    )


def charge_of(client: stripe.StripeClient, intent_id: str) -> Any:
    intent = client.v1.payment_intents.retrieve(intent_id)
    return client.v1.charges.retrieve(str(intent.latest_charge), params={"expand": ["balance_transaction"]})


def test_charges_and_subscription_invoices_post_as_paid_invoices(
    sandbox: SandboxRunner, ledger: Ledger, client: stripe.StripeClient, story: dict[str, Any]
) -> None:
    run_id = run_dag(DAG_ID)
    summary = stream_summary(ledger, "acme", run_id, "invoices")
    assert summary["dead_lettered"] == 0, summary

    invoices = posted(sandbox, "invoice")
    for currency, intent in story["intents"].items():
        charge = charge_of(client, intent.id)
        invoice = invoices[f"stripe-{charge.id}"]
        net = Decimal(charge.amount - charge.balance_transaction.fee)
        expected = net if currency == "jpy" else net / 100
        assert [Decimal(str(line["amount"])) for line in invoice["item"]["items"]] == [expected]
        assert str(invoice["item"]["items"][0]["item"]["id"]) == PRO_ANNUAL
        assert float(invoice["amountRemaining"]) == 0
    subscription_invoices = [eid for eid in invoices if eid.startswith("stripe-in_")]
    assert subscription_invoices
    payments = posted(sandbox, "customerpayment")
    assert len(payments) == len(invoices)
    customers = posted(sandbox, "customer")
    assert f"stripe-{story['customer']}" in customers


def test_full_and_partial_refunds_become_credit_memos(
    sandbox: SandboxRunner, ledger: Ledger, client: stripe.StripeClient, story: dict[str, Any]
) -> None:
    client.v1.refunds.create(params={"payment_intent": story["intents"]["usd"].id, "amount": 30_000})
    client.v1.refunds.create(params={"payment_intent": story["intents"]["jpy"].id})
    run_id = run_dag(DAG_ID)
    summary = stream_summary(ledger, "acme", run_id, "refunds")
    assert (summary["created"], summary["dead_lettered"]) == (2, 0), summary

    memos = posted(sandbox, "creditmemo")
    invoices = posted(sandbox, "invoice")
    usd = invoices[f"stripe-{charge_of(client, story['intents']['usd'].id).id}"]
    jpy = invoices[f"stripe-{charge_of(client, story['intents']['jpy'].id).id}"]
    by_invoice = {str(m["createdFrom"]["id"]): m for m in memos.values()}
    usd_posted = Decimal(str(usd["item"]["items"][0]["amount"]))
    assert Decimal(str(by_invoice[str(usd["id"])]["item"]["items"][0]["amount"])) == (
        usd_posted / 4
    ).quantize(Decimal("0.01"), rounding=ROUND_HALF_UP)  # a tie of the largest remainder goes to the refund
    assert [line["amount"] for line in by_invoice[str(jpy["id"])]["item"]["items"]] == [
        line["amount"] for line in jpy["item"]["items"]
    ]
    assert len(posted(sandbox, "customerrefund")) == 2


def test_repeated_events_cleared_runs_expiring_tokens_and_concurrency_refusals_change_nothing(
    sandbox: SandboxRunner, ledger: Ledger, story: dict[str, Any]
) -> None:
    before = state(sandbox)
    stripe_sb: Any = sandbox.system("stripe")
    stripe_sb.settings.event_list_repeats = 2  # every event listed twice
    netsuite: Any = sandbox.system("netsuite")
    netsuite.settings.token_ttl = 1.0  # every token expires within the run
    netsuite.tokens.ttl = 1.0
    refusal = {
        "type": "https://www.rfc-editor.org/rfc/rfc6585.html#section-4",
        "title": "Too Many Requests",
        "status": 429,
        "o:errorDetails": [
            {
                "detail": "Concurrent request limit exceeded. Request blocked.",
                "o:errorCode": "CONCURRENCY_LIMIT_EXCEEDED",
            }
        ],
    }
    netsuite.faults.add(FaultRule.error(429, path="/services/rest/record/", body=refusal, times=3))
    try:
        now = datetime.now(UTC)
        window = {
            "replay_from": (now - timedelta(days=1)).isoformat(),
            "replay_to": (now + timedelta(minutes=5)).isoformat(),
        }
        first = run_dag(DAG_ID, window)
        for stream in ("invoices", "refunds"):
            summary = stream_summary(ledger, "acme", first, stream)
            dead = ledger.list_dead_letters(tenant="acme", integration="stripe_netsuite")
            assert summary["dead_lettered"] == 0, [d.reason for d in dead][:3]
        # A run, then the same run cleared and run again (what clearing its tasks in the UI does).
        cleared = now.replace(microsecond=0) + timedelta(seconds=1)
        run_dag(DAG_ID, logical_date=cleared)
        run_dag(DAG_ID, logical_date=cleared)
    finally:
        stripe_sb.settings.event_list_repeats = 1
        netsuite.faults.clear()
        netsuite.settings.token_ttl = netsuite.tokens.ttl = 3600.0
    assert state(sandbox) == before
