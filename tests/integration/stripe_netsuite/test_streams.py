"""The ``stripe_netsuite`` streams through the engine against the Stripe and NetSuite stand-ins.

One-time charges and subscription invoices post as NetSuite invoices, paid, exactly once: events
listed twice, a window run again, a write repeated after the ledger lost it all end with one
invoice, one payment and one credit memo per Stripe object. An unmapped product is dead-lettered
and posts on the automatic retry once its item is mapped.
"""

from __future__ import annotations

from collections import Counter
from datetime import timedelta
from decimal import Decimal
from pathlib import Path
from typing import Any

import pytest
import stripe
from ml_connector_sandbox import SandboxRunner

from ml_connector_provider.engine.core import RunRequest, Summary, SyncEngine, SyncOptions
from ml_connector_provider.engine.types import RunRef, StreamKey, utcnow
from ml_connector_provider.hooks.netsuite import NetSuiteHook
from ml_connector_provider.hooks.stripe import StripeHook
from ml_connector_provider.integrations.stripe_netsuite.settings import StripeNetSuiteSettings
from ml_connector_provider.integrations.stripe_netsuite.streams import (
    METADATA_KEY,
    StripeCustomersToNetSuiteCustomers,
    StripeRefundsToNetSuiteCreditMemos,
    StripeSalesToNetSuiteInvoices,
)
from ml_connector_provider.ledger import Ledger
from tests.integration.stripe_netsuite.conftest import CONN_IDS, netsuite

INVOICES = StreamKey("acme", "stripe_netsuite", "invoices")
REFUNDS = StreamKey("acme", "stripe_netsuite", "refunds")
CUSTOMERS = StreamKey("acme", "stripe_netsuite", "customers")
PRO_MONTHLY, PRO_ANNUAL, FEE_ITEM = "201", "202", "204"


def settings(**changes: Any) -> StripeNetSuiteSettings:
    base: dict[str, Any] = {
        "subsidiary_id": "1",
        "currencies": {"USD": "1", "JPY": "3"},
        "create_customers": True,
        "items": {},
        "unmapped_retry_after": 60,
    }
    base.update(changes)
    return StripeNetSuiteSettings.model_validate(base)


def run(
    stream_class: type[StripeSalesToNetSuiteInvoices]
    | type[StripeRefundsToNetSuiteCreditMemos]
    | type[StripeCustomersToNetSuiteCustomers],
    ledger: Ledger,
    config: StripeNetSuiteSettings,
    run_id: str,
    *,
    request: RunRequest | None = None,
    clock: Any = utcnow,
) -> Summary:
    key = {
        StripeSalesToNetSuiteInvoices: INVOICES,
        StripeRefundsToNetSuiteCreditMemos: REFUNDS,
        StripeCustomersToNetSuiteCustomers: CUSTOMERS,
    }[stream_class]
    stream = stream_class(
        StripeHook(CONN_IDS["stripe"]), NetSuiteHook(CONN_IDS["netsuite"]), config, ledger, key, clock=clock
    )
    options = SyncOptions(
        lag=timedelta(0), overlap=timedelta(minutes=10), initial_lookback=timedelta(hours=1)
    )
    try:
        return SyncEngine(ledger, options, clock=clock).run(key, stream, RunRef(run_id), request)
    finally:
        stream.close()


def one_time_charge(
    client: stripe.StripeClient, customer: str, amount: int, product: str, currency: str = "usd"
) -> stripe.PaymentIntent:
    return client.v1.payment_intents.create(
        params={
            "amount": amount,
            "currency": currency,
            "customer": customer,
            "payment_method": "pm_card_visa",
            "confirm": True,
            "metadata": {"product": product},
        }
    )


def by_external_id(sandbox: SandboxRunner, type_name: str) -> dict[str, dict[str, Any]]:
    """NetSuite records of a type by externalId; fails when one external id is on two records."""
    records = netsuite(sandbox).records(type_name)
    counted = Counter(r.get("externalId") for r in records)
    assert all(n == 1 for n in counted.values()), counted
    return {str(r.get("externalId")): r for r in records}


def amounts(record: dict[str, Any]) -> list[Decimal]:
    return [Decimal(str(line["amount"])) for line in record["item"]["items"]]


def fee_of(client: stripe.StripeClient, intent_id: str) -> int:
    intent = client.v1.payment_intents.retrieve(intent_id)
    charge = client.v1.charges.retrieve(str(intent.latest_charge), params={"expand": ["balance_transaction"]})
    return int(charge.balance_transaction.fee)  # type: ignore[union-attr]


def test_charges_post_once_as_paid_invoices_in_net_mode(
    stand_ins: SandboxRunner, client: stripe.StripeClient, ledger: Ledger, tmp_path: Path
) -> None:
    customer = client.v1.customers.create(params={"name": "Initrode", "email": "ap@initrode.example"})
    product = client.v1.products.create(params={"name": "Pro annual"})
    usd = one_time_charge(client, customer.id, 120_000, product.id)
    jpy = one_time_charge(client, customer.id, 12_345, product.id, currency="jpy")
    config = settings(items={product.id: PRO_ANNUAL})

    first = run(StripeSalesToNetSuiteInvoices, ledger, config, "run-1")
    assert (first.created, first.dead_lettered) == (2, 0), first

    invoices = by_external_id(stand_ins, "invoice")
    usd_charge = str(client.v1.payment_intents.retrieve(usd.id).latest_charge)
    jpy_charge = str(client.v1.payment_intents.retrieve(jpy.id).latest_charge)
    posted = invoices[f"stripe-{usd_charge}"]
    assert amounts(posted) == [(Decimal(120_000 - fee_of(client, usd.id)) / 100).quantize(Decimal("0.01"))]
    assert str(posted["currency"]["id"]) == "1"
    assert usd_charge in posted["memo"]
    yen = invoices[f"stripe-{jpy_charge}"]
    assert amounts(yen) == [Decimal(12_345 - fee_of(client, jpy.id))]
    assert str(yen["currency"]["id"]) == "3"
    # The customer was created by external id, the payments close the invoices.
    customers = by_external_id(stand_ins, "customer")
    assert str(posted["entity"]["id"]) == str(customers[f"stripe-{customer.id}"]["id"])
    payments = by_external_id(stand_ins, "customerpayment")
    assert set(payments) == {f"stripe-pay-{usd_charge}", f"stripe-pay-{jpy_charge}"}
    assert Decimal(str(payments[f"stripe-pay-{usd_charge}"]["payment"])) == amounts(posted)[0]
    assert float(posted["amountRemaining"]) == 0
    # The NetSuite id went back into the payment intent's metadata.
    assert client.v1.payment_intents.retrieve(usd.id).metadata[METADATA_KEY] == str(posted["id"])

    # The same window again, with every event listed twice: nothing new anywhere.
    stripe_sb: Any = stand_ins.system("stripe")
    stripe_sb.settings.event_list_repeats = 2  # every event listed twice
    since = utcnow() - timedelta(hours=1)
    again = run(
        StripeSalesToNetSuiteInvoices,
        ledger,
        config,
        "run-2",
        request=RunRequest(mode="replay_range", replay_from=since, replay_to=utcnow() + timedelta(minutes=1)),
    )
    assert (again.created, again.dead_lettered) == (0, 0), again
    assert len(by_external_id(stand_ins, "invoice")) == 2
    assert len(by_external_id(stand_ins, "customerpayment")) == 2

    # The ledger lost (a worker killed after the NetSuite writes, before the commit): the run
    # writes again, by external id, onto the same invoices and payments.
    lost = Ledger(f"sqlite:///{tmp_path / 'lost.db'}")
    lost.migrate()
    stripe_sb.settings.event_list_repeats = 1
    rerun = run(StripeSalesToNetSuiteInvoices, lost, config, "run-3")
    assert rerun.dead_lettered == 0, rerun
    assert by_external_id(stand_ins, "invoice").keys() == invoices.keys()
    assert by_external_id(stand_ins, "customerpayment").keys() == payments.keys()


def test_subscription_invoice_in_gross_mode_has_a_fee_line(
    stand_ins: SandboxRunner, client: stripe.StripeClient, ledger: Ledger
) -> None:
    customer = client.v1.customers.create(params={"name": "Globex"})
    price = client.v1.prices.create(
        params={
            "currency": "usd",
            "unit_amount": 4_900,
            "recurring": {"interval": "month"},
            "product_data": {"name": "Pro monthly"},
        }
    )
    subscription = client.v1.subscriptions.create(
        params={
            "customer": customer.id,
            "items": [{"price": price.id, "quantity": 3}],
            "default_payment_method": "pm_card_visa",
        }
    )
    stand_ins.system("stripe").advance_subscription(subscription.id)  # type: ignore[attr-defined]
    config = settings(
        amount_mode="gross_with_fee_line", fee_item=FEE_ITEM, items={str(price.product): PRO_MONTHLY}
    )

    summary = run(StripeSalesToNetSuiteInvoices, ledger, config, "run-1")
    assert summary.dead_lettered == 0, summary

    invoices = {k: v for k, v in by_external_id(stand_ins, "invoice").items() if k.startswith("stripe-in_")}
    assert invoices, by_external_id(stand_ins, "invoice")
    for eid, invoice in invoices.items():
        stripe_invoice = client.v1.invoices.retrieve(eid.removeprefix("stripe-"))
        lines = invoice["item"]["items"]
        assert [str(line["item"]["id"]) for line in lines] == [PRO_MONTHLY, FEE_ITEM]
        assert Decimal(str(lines[0]["amount"])) == Decimal(stripe_invoice.amount_paid) / 100
        assert Decimal(str(lines[1]["amount"])) < 0
        assert stripe_invoice.metadata[METADATA_KEY] == str(invoice["id"])
        assert float(invoice["amountRemaining"]) == 0


def test_unmapped_product_is_dead_lettered_then_posts_on_the_automatic_retry(
    stand_ins: SandboxRunner, client: stripe.StripeClient, ledger: Ledger
) -> None:
    customer = client.v1.customers.create(params={"name": "Umbrella"})
    product = client.v1.products.create(params={"name": "Not yet in NetSuite"})
    one_time_charge(client, customer.id, 5_000, product.id)

    unmapped = settings()
    first = run(StripeSalesToNetSuiteInvoices, ledger, unmapped, "run-1")
    assert first.dead_lettered == 1, first
    [dead] = ledger.list_dead_letters(tenant="acme", integration="stripe_netsuite", stream="invoices")
    assert dead.reason.startswith(f"unmapped product {product.id} — map it in settings.items")
    assert not by_external_id(stand_ins, "invoice")

    # The item gets the product id in its custom field; item_lookup finds it.
    netsuite(stand_ins).write(
        "serviceSaleItem", {"custitem_stripe_product_id": product.id}, record_id=PRO_MONTHLY
    )
    mapped = settings(item_lookup="custom_field")
    later = utcnow() + timedelta(seconds=mapped.unmapped_retry_after + 1)
    second = run(StripeSalesToNetSuiteInvoices, ledger, mapped, "run-2", clock=lambda: later)
    assert second.dead_lettered == 0, second
    assert [
        str(i["item"]["items"][0]["item"]["id"]) for i in by_external_id(stand_ins, "invoice").values()
    ] == [PRO_MONTHLY]
    assert not ledger.list_dead_letters(tenant="acme", integration="stripe_netsuite", stream="invoices")


def test_customer_not_in_netsuite_is_dead_lettered_when_creating_is_off(
    stand_ins: SandboxRunner, client: stripe.StripeClient, ledger: Ledger
) -> None:
    customer = client.v1.customers.create(params={"name": "Hooli"})
    product = client.v1.products.create(params={"name": "Onboarding"})
    one_time_charge(client, customer.id, 9_900, product.id)
    summary = run(
        StripeSalesToNetSuiteInvoices,
        ledger,
        settings(create_customers=False, items={product.id: "203"}),
        "run-1",
    )
    assert summary.dead_lettered == 1
    [dead] = ledger.list_dead_letters(tenant="acme", integration="stripe_netsuite", stream="invoices")
    assert dead.reason.startswith(
        f"customer not in NetSuite: no customer with externalId stripe-{customer.id}"
    )


@pytest.mark.parametrize("mode", ["credit_memo", "credit_memo_and_refund"])
def test_full_and_partial_refunds_become_credit_memos_once(
    stand_ins: SandboxRunner, client: stripe.StripeClient, ledger: Ledger, mode: str, tmp_path: Path
) -> None:
    customer = client.v1.customers.create(params={"name": "Stark"})
    product = client.v1.products.create(params={"name": "Pro annual"})
    full = one_time_charge(client, customer.id, 20_000, product.id)
    partial = one_time_charge(client, customer.id, 30_000, product.id)
    config = settings(items={product.id: PRO_ANNUAL}, refunds=mode, refund_account="1")
    assert run(StripeSalesToNetSuiteInvoices, ledger, config, "sales-1").created == 2
    client.v1.refunds.create(params={"payment_intent": full.id})
    client.v1.refunds.create(params={"payment_intent": partial.id, "amount": 10_000})

    first = run(StripeRefundsToNetSuiteCreditMemos, ledger, config, "refunds-1")
    assert (first.created, first.dead_lettered) == (2, 0), first
    memos = by_external_id(stand_ins, "creditmemo")
    invoices = by_external_id(stand_ins, "invoice")
    assert len(memos) == 2
    full_charge = str(client.v1.payment_intents.retrieve(full.id).latest_charge)
    partial_charge = str(client.v1.payment_intents.retrieve(partial.id).latest_charge)
    by_invoice = {str(m["createdFrom"]["id"]): m for m in memos.values()}
    full_memo = by_invoice[str(invoices[f"stripe-{full_charge}"]["id"])]
    partial_memo = by_invoice[str(invoices[f"stripe-{partial_charge}"]["id"])]
    assert amounts(full_memo) == amounts(invoices[f"stripe-{full_charge}"])
    posted = amounts(invoices[f"stripe-{partial_charge}"])[0]
    assert amounts(partial_memo) == [(posted / 3).quantize(Decimal("0.01"))]
    refunds = by_external_id(stand_ins, "customerrefund") if mode == "credit_memo_and_refund" else {}
    assert len(refunds) == (2 if mode == "credit_memo_and_refund" else 0)

    # The same window again: the ledger's links make it a no-op.
    again = run(StripeRefundsToNetSuiteCreditMemos, ledger, config, "refunds-2")
    assert (again.created, again.updated) == (0, 0), again
    # The ledger lost (a worker killed after the NetSuite writes, before the commit): the
    # upserts land on the same credit memos and customer refunds.
    lost = Ledger(f"sqlite:///{tmp_path / 'lost.db'}")
    lost.migrate()
    run(StripeRefundsToNetSuiteCreditMemos, lost, config, "refunds-3")
    assert by_external_id(stand_ins, "creditmemo").keys() == memos.keys()
    assert len(by_external_id(stand_ins, "customerrefund")) == len(refunds)


@pytest.mark.parametrize("hostile", ["prod_X' OR '1'='1", "prod_\u0000x", "'; DROP TABLE item; --"])
def test_a_product_value_that_would_break_a_query_is_unmapped_and_the_batch_goes_on(
    stand_ins: SandboxRunner, client: stripe.StripeClient, ledger: Ledger, hostile: str
) -> None:
    customer = client.v1.customers.create(params={"name": "Tyrell"})
    product = client.v1.products.create(params={"name": "Pro annual"})
    one_time_charge(client, customer.id, 5_000, hostile)
    one_time_charge(client, customer.id, 7_000, product.id)

    summary = run(
        StripeSalesToNetSuiteInvoices,
        ledger,
        settings(items={product.id: PRO_ANNUAL}, item_lookup="custom_field"),
        "r",
    )
    assert (summary.created, summary.dead_lettered) == (1, 1), summary
    [dead] = ledger.list_dead_letters(tenant="acme", integration="stripe_netsuite", stream="invoices")
    assert dead.reason.startswith("unmapped product ")
    assert "not a Stripe product id" in dead.reason


def test_customers_follow_stripe_by_external_id_only_when_creating_is_on(
    stand_ins: SandboxRunner, client: stripe.StripeClient, ledger: Ledger
) -> None:
    customer = client.v1.customers.create(params={"name": "Cyberdyne", "email": "ap@cyberdyne.example"})
    off = run(StripeCustomersToNetSuiteCustomers, ledger, settings(create_customers=False), "off")
    assert (off.created, off.skipped) == (0, 1), off
    assert f"stripe-{customer.id}" not in by_external_id(stand_ins, "customer")

    seeded = by_external_id(stand_ins, "customer")
    on = run(
        StripeCustomersToNetSuiteCustomers,
        ledger,
        settings(),
        "on",
        request=RunRequest(mode="replay_ids", record_ids=(customer.id,)),
    )
    assert on.created == 1, on
    created = by_external_id(stand_ins, "customer")[f"stripe-{customer.id}"]
    assert created["companyName"] == "Cyberdyne"
    assert created["email"] == "ap@cyberdyne.example"
    client.v1.customers.update(customer.id, params={"name": "Cyberdyne Systems"})
    again = run(
        StripeCustomersToNetSuiteCustomers,
        ledger,
        settings(),
        "again",
        request=RunRequest(mode="replay_ids", record_ids=(customer.id,)),
    )
    assert again.updated == 1, again
    after = by_external_id(stand_ins, "customer")
    assert after[f"stripe-{customer.id}"]["companyName"] == "Cyberdyne Systems"
    # The customers NetSuite had before are untouched.
    assert {k: v for k, v in after.items() if k in seeded} == seeded
