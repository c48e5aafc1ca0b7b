"""What ``ml-connector check`` probes on Stripe for ``fusion_stripe`` (``STRIPE_NEEDS``) is what the
streams really send: a whole ``fusion_stripe`` DAG run — customers, invoices, then payments, a
refund and a subscription's journals — against the stand-ins, on a key restricted to exactly the
declared permissions, sends only declared requests and is refused none of them."""

from __future__ import annotations

from typing import Any

import pytest
import stripe
from ml_connector_sandbox.runner import SandboxRunner

from ml_connector_provider.hooks.stripe import route_template
from ml_connector_provider.integrations.fusion_stripe.stripe_needs import STRIPE_NEEDS
from ml_connector_provider.ledger import Ledger
from tests.harness.airflow_dags import run_dag, stream_summary

pytestmark = pytest.mark.airflow_db

DAG_ID = "mlc__acme__fusion_stripe"
CONFIG = """\
version: 1
defaults:
  retries: 0
  sync: {overlap: 600, lag: 0, batch_size: 4}
tenants:
  - id: acme
    integrations:
      fusion_stripe:
        schedule: null
        connections: {fusion: acme_fusion, stripe: acme_stripe}
        settings:
          business_units: ["US1 Business Unit"]
          gl:
            ledger_id: "300000046975971"
            ledger_name: US Primary Ledger
            data_access_set_id: "300000046975980"
            journal_source: Stripe
            cash_clearing_account: 101-000-11250-000-000
            ar_suspense_account: 101-000-12990-000-000
            fee_account: 101-000-65110-000-000
            subscription_revenue_account: 101-000-40100-000-000
            poll_interval: 0.05
"""
GRANTS = {need.resource: need.access for need in STRIPE_NEEDS}
DECLARED = {route for need in STRIPE_NEEDS for route in need.routes}


def run_restricted(sandbox: SandboxRunner) -> list[str]:
    """Run the DAG with the connection's key restricted to :data:`GRANTS`; the routes it sent."""
    system: Any = sandbox.system("stripe")
    system.requests.clear()
    # the connection's key becomes a restricted key with exactly the declared permissions
    system.settings.restricted_keys = {system.secret_key: GRANTS}
    try:
        run_id = run_dag(DAG_ID)
    finally:
        system.settings.restricted_keys = {}
    sent = system.requests.entries()
    assert {entry.status for entry in sent} <= {200}, [
        (entry.method, entry.path, entry.status) for entry in sent if entry.status != 200
    ]
    run_ids.append(run_id)
    return [route_template(entry.method, entry.path) for entry in sent]


run_ids: list[str] = []


def test_the_streams_send_only_declared_requests_and_need_no_more_permissions(
    sandbox: SandboxRunner, ledger: Ledger
) -> None:
    routes = run_restricted(sandbox)
    for stream in ("customers", "invoices"):
        assert stream_summary(ledger, "acme", run_ids[-1], stream)["created"] > 0, stream

    system: Any = sandbox.system("stripe")
    client = stripe.StripeClient(
        system.secret_key, base_addresses={"api": sandbox.url("stripe")}, max_network_retries=0
    )
    for invoice in system.invoices():
        system.pay_invoice(invoice["id"])
    first = system.invoices()[0]
    [payment] = client.v1.invoice_payments.list(params={"invoice": first["id"]}).data
    client.v1.refunds.create(params={"payment_intent": str(payment.payment.payment_intent), "amount": 1000})
    price = client.v1.prices.create(
        params={
            "currency": "usd",
            "unit_amount": 4900,
            "recurring": {"interval": "month"},
            "product_data": {"name": "Platform"},
        }
    )
    subscription = client.v1.subscriptions.create(
        params={
            "customer": system.customers()[1]["id"],
            "items": [{"price": price.id}],
            "default_payment_method": "pm_card_visa",
        }
    )
    system.advance_subscription(subscription.id)

    routes += run_restricted(sandbox)
    for stream in ("payments", "subscriptions"):
        assert stream_summary(ledger, "acme", run_ids[-1], stream)["created"] > 0, stream

    assert set(routes) - DECLARED == set(), "requests the streams send that STRIPE_NEEDS does not declare"
    unused = {need.resource for need in STRIPE_NEEDS if need.routes and not set(need.routes) & set(routes)}
    assert unused == set(), "needs declared for resources no stream used"
