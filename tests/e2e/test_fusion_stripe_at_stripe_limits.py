"""Fusion → Stripe where real Stripe is strict: the fewest calls, and recovery that works.

The ``fusion_stripe`` DAG runs with ``dag.test()`` against the Fusion and Stripe stand-ins over
HTTP. The Stripe stand-in enforces what the contract's Appendix S says real Stripe does: due dates
must be in the future, search lags behind writes and shows deleted customers as live ones for a
while, metadata merges on update, and idempotency keys are forgotten after 24 hours.

A "crash between Stripe's answer and the ledger commit" is a fault that lets the stand-in perform
the write and then answers 500 with ``Stripe-Should-Retry: false``: the task fails exactly as if
the worker had died after the call, leaving the write intent open in the ledger.
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest
import sqlalchemy as sa
import stripe as stripe_sdk
from ml_connector_sandbox.faults import FaultRule
from ml_connector_sandbox.runner import SandboxRunner

from ml_connector_provider.engine.types import StreamKey
from ml_connector_provider.ledger import Ledger
from ml_connector_provider.ledger.schema import pending
from tests.harness.airflow_dags import run_dag as harness_run_dag
from tests.harness.airflow_dags import stream_summary

pytestmark = pytest.mark.airflow_db

DAG_ID = "mlc__acme__fusion_stripe"
SITE_KEY = "fusion_bill_to_site_use_id"
CUSTOMERS = StreamKey("acme", "fusion_stripe", "customers")
INVOICES = StreamKey("acme", "fusion_stripe", "invoices")
CONFIG = """\
version: 1
defaults:
  retries: 0
  sync: {overlap: 600, lag: 0, batch_size: 50}
tenants:
  - id: acme
    name: ACME Corp
    integrations:
      fusion_stripe:
        schedule: null
        connections: {fusion: acme_fusion, stripe: acme_stripe}
        streams: {payments: false, subscriptions: false}
        settings:
          business_units: [US1 Business Unit]
"""
DAY = 86400.0


@pytest.fixture(autouse=True)
def stripe_on_wall_time(sandbox: SandboxRunner) -> Iterator[None]:
    """Tests that move the Stripe stand-in's clock put it back: real Stripe runs on real time, and
    the connector's due dates are computed from it."""
    stripe = sandbox.system("stripe")
    lag = stripe.settings.search_delete_lag  # type: ignore[attr-defined]
    yield
    stripe.clock.reset()
    stripe.settings.search_delete_lag = lag  # type: ignore[attr-defined]


def run_dag(conf: dict[str, Any] | None = None, *, expect: str = "success") -> str:
    return harness_run_dag(DAG_ID, conf, expect=expect)


def summary(ledger: Ledger, run_id: str, stream: str) -> dict[str, Any]:
    return stream_summary(ledger, "acme", run_id, stream)


def stripe_calls(sandbox: SandboxRunner, since: int) -> list[tuple[str, str]]:
    """(method, path) of every Stripe request after log entry ``since``."""
    log = sandbox.system("stripe").requests.entries(since=since)
    return [(e.method, e.path) for e in log]


def last_seq(sandbox: SandboxRunner) -> int:
    entries = sandbox.system("stripe").requests.entries()
    return entries[-1].seq if entries else 0


def client(sandbox: SandboxRunner) -> stripe_sdk.StripeClient:
    system = sandbox.system("stripe")
    return stripe_sdk.StripeClient(
        system.secret_key,  # type: ignore[attr-defined]
        base_addresses={"api": sandbox.url("stripe")},
    )


def crash_after(sandbox: SandboxRunner, path: str, *, process: bool = True, **match: Any) -> None:
    """The next matching Stripe write happens (unless ``process`` is false), but its answer is a
    500 the client must not retry: the task fails there."""
    sandbox.system("stripe").faults.add(
        FaultRule.error(
            500,
            path=path,
            method="POST",
            process=process,
            headers={"Stripe-Should-Retry": "false"},
            **match,
        )
    )


def age_intents(ledger: Ledger, key: StreamKey, by: timedelta) -> None:
    """Move the open write intents of a stream back in time (as if the crash was ``by`` ago)."""
    with ledger.engine.begin() as conn:
        rows = conn.execute(
            sa.select(pending.c.source_id, pending.c.created_at).where(
                pending.c.tenant == key.tenant,
                pending.c.integration == key.integration,
                pending.c.stream == key.stream,
            )
        ).all()
        for row in rows:
            conn.execute(
                sa.update(pending)
                .where(
                    pending.c.tenant == key.tenant,
                    pending.c.integration == key.integration,
                    pending.c.stream == key.stream,
                    pending.c.source_id == row.source_id,
                )
                .values(created_at=row.created_at - by)
            )


def customers_of_site(sandbox: SandboxRunner, site_id: str) -> list[dict[str, Any]]:
    return [
        c
        for c in sandbox.system("stripe").customers()  # type: ignore[attr-defined]
        if (c.get("metadata") or {}).get(SITE_KEY) == site_id
    ]


def new_site(sandbox: SandboxRunner, name: str, account: str, **values: Any) -> str:
    row = sandbox.system("fusion").upsert_customer(  # type: ignore[attr-defined]
        CustomerName=name, AccountNumber=account, Country="US", BusinessUnit="US1 Business Unit", **values
    )
    return str(row["BillToSiteUseId"])


# -- the minimum number of calls --------------------------------------------------------------


def test_first_sync_costs_one_call_per_customer_and_four_per_invoice(
    sandbox: SandboxRunner, ledger: Ledger
) -> None:
    seq = last_seq(sandbox)
    run_id = run_dag()
    customers, invoices = summary(ledger, run_id, "customers"), summary(ledger, run_id, "invoices")
    assert customers["created"] > 0
    assert invoices["created"] > 0
    calls = stripe_calls(sandbox, seq)
    # No search before a create the ledger proves cannot have happened.
    assert not [c for c in calls if c[1].endswith("/search")]
    assert calls.count(("POST", "/v1/customers")) == customers["created"]
    invoice_calls = Counter(
        "create" if path == "/v1/invoices" else path.rsplit("/", 1)[-1]
        for method, path in calls
        if path.startswith("/v1/invoice") and method == "POST"
    )
    n = invoices["created"]
    assert invoice_calls == {"create": n, "add_lines": n, "finalize": n, "send": n}
    assert not [c for c in calls if c[0] == "GET" and c[1].startswith("/v1/invoice")]


def test_an_idle_run_makes_no_stripe_call(sandbox: SandboxRunner, ledger: Ledger) -> None:
    seq = last_seq(sandbox)
    run_id = run_dag()
    assert summary(ledger, run_id, "customers")["created"] == 0
    assert stripe_calls(sandbox, seq) == []


# -- metadata and optional fields cleared in Fusion --------------------------------------------


def test_values_cleared_in_fusion_are_unset_in_stripe(sandbox: SandboxRunner, ledger: Ledger) -> None:
    fusion = sandbox.system("fusion")
    site_id = new_site(
        sandbox, "Cleared Fields Ltd", "7101", AccountId=300000099000001, EmailAddress="ap@cleared.example"
    )
    run_dag()
    [customer] = customers_of_site(sandbox, site_id)
    assert customer["metadata"]["fusion_account_id"] == "300000099000001"
    assert customer["email"] == "ap@cleared.example"

    fusion.upsert_customer(BillToSiteUseId=int(site_id), AccountId=None, EmailAddress=None)  # type: ignore[attr-defined]
    counts = summary(ledger, run_dag(), "customers")
    assert counts["updated"] == 1
    [customer] = customers_of_site(sandbox, site_id)
    assert "fusion_account_id" not in customer["metadata"]
    assert customer["metadata"][SITE_KEY] == site_id
    assert customer.get("email") is None


# -- a crash after Stripe created a customer --------------------------------------------------


def test_a_customer_changed_after_a_crash_is_found_despite_the_search_lag(
    sandbox: SandboxRunner, ledger: Ledger
) -> None:
    stripe = sandbox.system("stripe")
    assert stripe.settings.search_lag >= 60  # type: ignore[attr-defined]
    fusion = sandbox.system("fusion")
    site_id = new_site(sandbox, "Lagging Search GmbH", "7201", EmailAddress="first@lag.example")
    crash_after(sandbox, "^/v1/customers$")
    run_dag(expect="failed")
    assert len(customers_of_site(sandbox, site_id)) == 1
    # The site changes before the next run: a new payload, a new key; search does not see the
    # customer yet. The open intent makes the writer list what was created since, and update it.
    fusion.upsert_customer(BillToSiteUseId=int(site_id), EmailAddress="second@lag.example")  # type: ignore[attr-defined]
    counts = summary(ledger, run_dag(), "customers")
    assert (counts["created"], counts["updated"]) == (0, 1)
    [customer] = customers_of_site(sandbox, site_id)
    assert customer["email"] == "second@lag.example"
    assert ledger.get_links(CUSTOMERS, [site_id])[site_id].target_id == customer["id"]


def test_a_deleted_customer_returned_by_search_is_never_reused(
    sandbox: SandboxRunner, ledger: Ledger
) -> None:
    stripe = sandbox.system("stripe")
    stripe.settings.search_delete_lag = 60 * DAY  # type: ignore[attr-defined]
    site_id = new_site(sandbox, "Deleted Meanwhile Inc", "7301")
    crash_after(sandbox, "^/v1/customers$")
    run_dag(expect="failed")
    [first] = customers_of_site(sandbox, site_id)
    client(sandbox).v1.customers.delete(first["id"])
    # Ten days later: the key is forgotten and the intent is too old to list what was created
    # since; search still shows the deleted customer as a live one.
    stripe.clock.advance(10 * DAY)
    age_intents(ledger, CUSTOMERS, timedelta(days=10))
    found = client(sandbox).v1.customers.search(params={"query": f"metadata['{SITE_KEY}']:'{site_id}'"})
    assert [c.id for c in found.data] == [first["id"]]
    assert not found.data[0].to_dict().get("deleted")

    counts = summary(ledger, run_dag(), "customers")
    assert counts["created"] == 1
    [live] = customers_of_site(sandbox, site_id)
    assert live["id"] != first["id"]
    assert ledger.get_links(CUSTOMERS, [site_id])[site_id].target_id == live["id"]


# -- invoices -----------------------------------------------------------------------------------


def _site_with_link(
    sandbox: SandboxRunner, ledger: Ledger, name: str, account: str
) -> tuple[str, dict[str, Any]]:
    site_id = new_site(sandbox, name, account)
    run_dag()
    link = ledger.get_links(CUSTOMERS, [site_id])[site_id]
    with sandbox.system("fusion").state as db:
        row = next(
            dict(r)
            for r in db["receivablesCustomerAccountSiteActivities"]
            if str(r["BillToSiteUseId"]) == site_id
        )
    assert link.target_id.startswith("cus_")
    return site_id, row


def _fusion_invoice(sandbox: SandboxRunner, site: dict[str, Any], number: str, **values: Any) -> str:
    row = sandbox.system("fusion").upsert_invoice(  # type: ignore[attr-defined]
        {
            "TransactionNumber": number,
            "BillToCustomerNumber": site["AccountNumber"],
            "BillToSite": site["BillToSiteNumber"],
            "BusinessUnit": "US1 Business Unit",
            "InvoiceCurrencyCode": "USD",
            **values,
        },
        [{"Description": "Consulting", "Quantity": 2, "UnitSellingPrice": 150}],
    )
    return str(row["CustomerTransactionId"])


def _stripe_invoices(sandbox: SandboxRunner, transaction_id: str) -> list[dict[str, Any]]:
    return [
        i
        for i in sandbox.system("stripe").invoices()  # type: ignore[attr-defined]
        if (i.get("metadata") or {}).get("fusion_transaction_id") == transaction_id
    ]


def test_an_invoice_past_its_due_date_is_sent_with_a_new_one(sandbox: SandboxRunner, ledger: Ledger) -> None:
    _, site = _site_with_link(sandbox, ledger, "Late Payer Co", "7401")
    due = (datetime.now(UTC) - timedelta(days=10)).date()
    transaction_id = _fusion_invoice(sandbox, site, "LATE-1", DueDate=due.isoformat())
    counts = summary(ledger, run_dag(), "invoices")
    assert (counts["created"], counts["dead_lettered"]) == (1, 0), ledger.list_dead_letters(tenant="acme")
    [invoice] = _stripe_invoices(sandbox, transaction_id)
    assert invoice["status"] == "open"
    new_due = datetime.fromtimestamp(invoice["due_date"], UTC).date()
    assert new_due == (datetime.now(UTC) + timedelta(days=7)).date()
    assert invoice["metadata"]["fusion_original_due_date"] == due.isoformat()
    assert {"name": "Original due date", "value": due.isoformat()} in invoice["custom_fields"]


def test_a_deleted_draft_then_a_retry_sends_the_invoice(sandbox: SandboxRunner, ledger: Ledger) -> None:
    _, site = _site_with_link(sandbox, ledger, "Draft Trouble LLC", "7501")
    transaction_id = _fusion_invoice(sandbox, site, "DRAFT-1")
    crash_after(sandbox, r"^/v1/invoices/in_[^/]+/finalize$", process=False)
    run_dag(expect="failed")
    [draft] = _stripe_invoices(sandbox, transaction_id)
    assert draft["status"] == "draft"
    # Someone adds a line to the draft in Stripe: the totals no longer agree.
    client(sandbox).v1.invoice_items.create(
        params={"customer": draft["customer"], "invoice": draft["id"], "amount": 999, "currency": "usd"}
    )
    counts = summary(ledger, run_dag(), "invoices")
    assert counts["dead_lettered"] == 1
    [letter] = [d for d in ledger.list_dead_letters(tenant="acme") if d.source_id == transaction_id]
    assert "fix or delete the draft in Stripe, then retry" in letter.reason

    # The operator does what the message says: deletes the draft, then retries the dead letter.
    client(sandbox).v1.invoices.delete(draft["id"])
    ledger.retry_dead_letters_now([letter.id])
    counts = summary(ledger, run_dag(), "invoices")
    assert (counts["created"], counts["dead_lettered"]) == (1, 0)
    [invoice] = _stripe_invoices(sandbox, transaction_id)
    assert invoice["id"] != draft["id"]
    assert (invoice["status"], invoice["total"]) == ("open", 30000)
    assert not [d for d in ledger.list_dead_letters(tenant="acme") if d.source_id == transaction_id]


def test_an_invoice_is_not_emailed_again_after_the_key_expired(
    sandbox: SandboxRunner, ledger: Ledger
) -> None:
    stripe = sandbox.system("stripe")
    _, site = _site_with_link(sandbox, ledger, "Mailed Once SA", "7601")
    transaction_id = _fusion_invoice(sandbox, site, "MAIL-1")
    crash_after(sandbox, r"^/v1/invoices/in_[^/]+/send$")
    run_dag(expect="failed")
    [invoice] = _stripe_invoices(sandbox, transaction_id)

    def sent() -> int:
        return sum(1 for e in stripe.events("invoice.sent") if e["data"]["object"]["id"] == invoice["id"])  # type: ignore[attr-defined]

    assert sent() == 1
    # A day and more later, Stripe has forgotten the send's idempotency key.
    stripe.clock.advance(DAY + 3600)
    age_intents(ledger, INVOICES, timedelta(days=1, hours=1))
    counts = summary(ledger, run_dag(), "invoices")
    assert counts["dead_lettered"] == 0
    assert ledger.get_links(INVOICES, [transaction_id])[transaction_id].target_id == invoice["id"]
    assert sent() == 1
