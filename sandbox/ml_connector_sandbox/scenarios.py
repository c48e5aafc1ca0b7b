"""What the other side does between two runs of an integration, played on the stand-ins.

Before the first runs, :data:`BEFORE_FIRST_RUN` sets up what the other side already holds (a
Stripe account with customers of its own). The demo then runs each DAG, lets the "outside world"
act (customers pay invoices, a refund is issued, a subscription renews), then runs the DAG again,
so that both directions of an integration move something. Each scenario talks to the stand-ins the way the real actors would: through the
system's public API (the real ``stripe`` SDK) or the stand-in's own helpers for what only a
customer's browser does (paying a hosted invoice page).
"""

from __future__ import annotations

import logging
import time
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime
from decimal import Decimal
from pathlib import Path
from typing import TYPE_CHECKING, Any

from ml_connector_sandbox.systems.stripe.objects import currency_exponent

if TYPE_CHECKING:
    from ml_connector_sandbox.runner import SandboxRunner


@dataclass(frozen=True)
class ScenarioContext:
    """The stand-ins of one tenant a scenario acts on.

    :param runner: the HTTP stand-ins (Fusion, Stripe…).
    :param sftp_root: the directory the tenant's SFTP stand-in serves as ``/``, when it has one.
    :param retry_dead_letters: makes the integration's open dead letters due now (what an operator
        does with ``ml-connector dead-letters retry``) and returns how many.
    :param tenant: the tenant's id, as it appears in the names of its Stampli export files.
    :param last_run_ended: when the integration's latest run ended (``time.monotonic()``), for a
        scenario that must let a delay of the tenant config pass before the next run.
    """

    runner: SandboxRunner
    sftp_root: Path | None = None
    retry_dead_letters: Callable[[], int] | None = None
    tenant: str = "acme"
    last_run_ended: float | None = None


Scenario = Callable[[ScenarioContext], list[str]]

# The invoice the fusion_stripe scenario pays with a reference that matches no Fusion invoice.
UNKNOWN_FUSION_INVOICE = "AR-99999"
# The Stripe metadata key naming the Fusion bill-to site of a customer the connector synced (the
# example tenants keep the default metadata prefix, fusion_).
FUSION_SITE_KEY = "fusion_bill_to_site_use_id"
# The business unit both example tenants sync (acme syncs only this one).
SYNCED_BUSINESS_UNIT = "US1 Business Unit"


def _money(amount: int, currency: str) -> str:
    """``amount`` Stripe minor units as the demo prints them: ``1234, "usd"`` → ``12.34 USD``.

    The exponents are the Stripe stand-in's own (zero- and three-decimal currencies from
    ``contracts/stripe_salesforce.md`` A2), so the demo's lines and Stripe's amounts agree.
    """
    exponent = currency_exponent(currency)
    return f"{Decimal(amount).scaleb(-exponent):.{exponent}f} {currency.upper()}"


def fusion_stripe_activity(ctx: ScenarioContext) -> list[str]:
    """Customers pay most open Stripe invoices (one partly refunded), a payment arrives with a wrong
    Fusion reference, and a monthly subscription starts and renews once."""
    import stripe

    runner = ctx.runner
    # The SDK logs every request at INFO; the demo prints what happened instead.
    logging.getLogger("stripe").setLevel(logging.WARNING)
    sandbox: Any = runner.system("stripe")
    client = stripe.StripeClient(
        sandbox.secret_key, base_addresses={"api": runner.url("stripe")}, max_network_retries=2
    )
    done: list[str] = []
    open_invoices = [i for i in sandbox.invoices() if i["status"] == "open"]
    paid: list[dict[str, Any]] = []
    for invoice in open_invoices[:-1]:  # one invoice stays open: not every customer pays at once
        paid.append(sandbox.pay_invoice(invoice["id"]))
        reference = (invoice.get("metadata") or {}).get("fusion_transaction_number", "?")
        done.append(
            f"customer paid Stripe invoice {invoice['number']} (Fusion {reference}), "
            f"{_money(invoice['amount_due'], invoice['currency'])}"
        )
    if paid:
        first = paid[0]
        payment = next(iter(client.v1.invoice_payments.list(params={"invoice": first["id"]}).data))
        intent = payment.payment.payment_intent
        intent_id = intent if isinstance(intent, str) else getattr(intent, "id", None)
        amount = max(1, first["amount_paid"] // 10)
        client.v1.refunds.create(
            params={"payment_intent": str(intent_id), "amount": amount, "reason": "requested_by_customer"}
        )
        done.append(f"refunded {_money(amount, first['currency'])} of Stripe invoice {first['number']}")

    # The customers the connector synced from Fusion (the account also has customers of its own).
    customers = [c for c in sandbox.customers() if (c.get("metadata") or {}).get(FUSION_SITE_KEY)]
    if customers:
        customer = customers[0]["id"]
        client.v1.payment_intents.create(
            params={
                "amount": 25000,
                "currency": "usd",
                "customer": customer,
                "payment_method": "pm_card_visa",
                "confirm": True,
                "description": "Wire-in-advance paid by card",
                "metadata": {"fusion_transaction_number": UNKNOWN_FUSION_INVOICE},
            }
        )
        done.append(
            f"a card payment of 250.00 USD arrived naming Fusion invoice {UNKNOWN_FUSION_INVOICE}, "
            "which does not exist"
        )
    if len(customers) > 1:
        price = client.v1.prices.create(
            params={
                "currency": "usd",
                "unit_amount": 4900,
                "recurring": {"interval": "month"},
                "product_data": {"name": "Platform subscription"},
            }
        )
        subscription = client.v1.subscriptions.create(
            params={
                "customer": customers[1]["id"],
                "items": [{"price": price.id}],
                "default_payment_method": "pm_card_visa",
                "collection_method": "charge_automatically",
            }
        )
        sandbox.advance_subscription(subscription.id)
        done.append(f"subscription {subscription.id} (49.00 USD a month) started and renewed once")
    return done


def fusion_stripe_existing_customers(ctx: ScenarioContext) -> list[str]:
    """The tenant's Stripe account has customers before the connector's first run: one with the
    e-mail address of a Fusion site (in other letter case), one with the name and country of a
    site that has no e-mail, two sharing the e-mail of another site, and one unrelated to Fusion.

    The sites are chosen from the Fusion stand-in's own customers (active, in the business unit
    the example tenants sync), so the Stripe side stays consistent with whatever Fusion holds.
    Customers are created through Stripe's API, as the tenant (or an older tool) created them.
    """
    import stripe

    runner = ctx.runner
    logging.getLogger("stripe").setLevel(logging.WARNING)
    sandbox: Any = runner.system("stripe")
    fusion: Any = runner.system("fusion")
    client = stripe.StripeClient(
        sandbox.secret_key, base_addresses={"api": runner.url("stripe")}, max_network_retries=2
    )
    sites = sorted(
        (
            row
            for row in fusion.customers()
            if (row.get("Status") or "A") == "A" and row.get("BusinessUnit") == SYNCED_BUSINESS_UNIT
        ),
        key=lambda row: int(row["BillToSiteUseId"]),
    )
    with_email = [row for row in sites if row.get("EmailAddress")]
    without_email = [row for row in sites if not row.get("EmailAddress") and row.get("Country")]

    def create(params: Any) -> str:
        return str(client.v1.customers.create(params=params).id)

    def site_name(row: Mapping[str, Any]) -> str:
        return f"Fusion site {row['BillToSiteNumber']} ({row['CustomerName']})"

    done: list[str] = []
    if with_email:
        row = with_email[0]
        email = str(row["EmailAddress"]).upper()
        customer = create({"name": f"{row['CustomerName']} (imported)", "email": email})
        done.append(f"Stripe already had customer {customer}, e-mail {email}: the e-mail of {site_name(row)}")
    if without_email:
        row = without_email[0]
        name = str(row["CustomerName"]).rstrip(".").upper()
        customer = create({"name": name, "address": {"country": row["Country"]}})
        done.append(
            f"Stripe already had customer {customer}, {name} in {row['Country']}: the name and "
            f"country of {site_name(row)}, which has no e-mail"
        )
    if len(with_email) > 1:
        # The last one (in the seed, its only invoice is incomplete: no invoice waits on the site
        # while it stays ambiguous).
        row = with_email[-1]
        email = str(row["EmailAddress"])
        twins = [create({"name": f"{row['CustomerName']} {n}", "email": email}) for n in ("(AP)", "(AR)")]
        done.append(
            f"Stripe already had two customers, {' and '.join(twins)}, with the e-mail of {site_name(row)}"
        )
    walk_in = create({"name": "Walk-in customer", "email": "walk-in@example.com"})
    done.append(f"Stripe already had customer {walk_in}, Walk-in customer, unrelated to Fusion")
    return done


def stampli_fusion_activity(ctx: ScenarioContext) -> list[str]:
    """The AP team sets up the supplier the first run could not find, Stampli exports a new file,
    and someone uploads the morning's first export a second time."""
    from ml_connector_sandbox.stampli import NEW_VENDOR_ID, later_exports, new_supplier, put_files

    if ctx.sftp_root is None:
        raise ValueError("the stampli_fusion scenario needs the tenant's SFTP stand-in")
    fusion: Any = ctx.runner.system("fusion")
    fusion.upsert_supplier(new_supplier())
    done = [f"supplier {NEW_VENDOR_ID} set up in Fusion (its invoice was dead-lettered by the first run)"]
    if ctx.retry_dead_letters is not None:
        count = ctx.retry_dead_letters()
        done.append(
            f"operator ran `ml-connector dead-letters retry` for stampli_fusion: {count} dead letter(s) due now"
        )
    files = later_exports(datetime.now(UTC).date(), ctx.tenant)
    put_files(ctx.sftp_root / "outbound", files)
    done.extend(f"{name} uploaded to /outbound" for name in files)
    return done


# -- stripe_netsuite ------------------------------------------------------------------------------

# Stripe products whose ids the NetSuite stand-in's seeded items carry (externalId and
# custitem_stripe_product_id): 201 Pro Plan - Monthly (also in acme's `items` map), 202 Pro Plan -
# Annual, 203 Onboarding Package.
NETSUITE_PRODUCTS: dict[str, str] = {
    "prod_SeedProMonthly": "Pro Plan - Monthly",
    "prod_SeedProAnnual": "Pro Plan - Annual",
    "prod_SeedOnboarding": "Onboarding Package",
}
# A product NetSuite has no item for until the finance team adds one between the runs.
UNMAPPED_PRODUCT = "prod_DemoWorkshop"
UNMAPPED_PRODUCT_NAME = "Implementation Workshop"
# The NetSuite item the finance team adds for it, and the custom field that maps it (acme's
# `item_lookup: custom_field`, the integration's default item_custom_field).
ITEM_CUSTOM_FIELD = "custitem_stripe_product_id"
SALES_INCOME_ACCOUNT = "54"  # the stand-in's seeded "Sales" income account
# `unmapped_retry_after` of acme's stripe_netsuite in tenants.demo.yaml (the smallest the setting
# allows): the automatic retry of an unmapped product waits this long after its last try.
UNMAPPED_RETRY_AFTER = 60.0
# The metadata key naming a one-time charge's product (the integration's default
# charge_product_metadata_key).
PRODUCT_METADATA_KEY = "product"
# One-time charges: (customer name, e-mail, currency, amount in minor units, product).
NETSUITE_CHARGES: tuple[tuple[str, str, str, int, str], ...] = (
    ("Initrode Inc.", "ap@initrode.example", "usd", 120_000, "prod_SeedProAnnual"),
    ("Hanami Trading KK", "keiri@hanami.example", "jpy", 98_765, "prod_SeedOnboarding"),
    ("Initrode Inc.", "ap@initrode.example", "usd", 75_000, UNMAPPED_PRODUCT),
)


def _stripe_client(ctx: ScenarioContext) -> Any:
    import stripe

    logging.getLogger("stripe").setLevel(logging.WARNING)
    sandbox: Any = ctx.runner.system("stripe")
    return stripe.StripeClient(
        sandbox.secret_key, base_addresses={"api": ctx.runner.url("stripe")}, max_network_retries=2
    )


def stripe_netsuite_catalog(ctx: ScenarioContext) -> list[str]:
    """The Stripe account sells the products NetSuite already has items for (same product ids),
    and one product the finance team has not set up in NetSuite yet.

    Products only: a sale made now would also reach the tenant's fusion_stripe runs, which read
    the same Stripe account. The sales come after those runs (:func:`stripe_netsuite_sales`).
    """
    client = _stripe_client(ctx)
    done = []
    for product, name in {**NETSUITE_PRODUCTS, UNMAPPED_PRODUCT: UNMAPPED_PRODUCT_NAME}.items():
        client.v1.products.create(params={"id": product, "name": name})
        where = (
            "no NetSuite item yet"
            if product == UNMAPPED_PRODUCT
            else f"NetSuite item with {ITEM_CUSTOM_FIELD} = {product}"
        )
        done.append(f"Stripe product {product} ({name}): {where}")
    return done


def stripe_netsuite_sales(ctx: ScenarioContext) -> list[str]:
    """Customers pay one-time charges (one in JPY, one for the product NetSuite has no item for)
    and a monthly subscription starts and renews once (two paid subscription invoices).

    The JPY charge posts because acme's settings map JPY to a NetSuite currency (``currencies``)
    and the stand-in lets a customer of the USD parent subsidiary be billed in yen.
    """
    client = _stripe_client(ctx)
    sandbox: Any = ctx.runner.system("stripe")
    customers: dict[str, str] = {}
    done: list[str] = []
    for name, email, currency, amount, product in NETSUITE_CHARGES:
        if name not in customers:
            customers[name] = str(client.v1.customers.create(params={"name": name, "email": email}).id)
        intent = client.v1.payment_intents.create(
            params={
                "amount": amount,
                "currency": currency,
                "customer": customers[name],
                "payment_method": "pm_card_visa",
                "confirm": True,
                "description": NETSUITE_PRODUCTS.get(product, UNMAPPED_PRODUCT_NAME),
                "metadata": {PRODUCT_METADATA_KEY: product},
            }
        )
        charge = client.v1.charges.retrieve(
            str(intent.latest_charge), params={"expand": ["balance_transaction"]}
        )
        fee = int(charge.balance_transaction.fee)
        done.append(
            f"{name} paid {_money(amount, currency)} by card for {product} (charge {charge.id}, "
            f"Stripe fee {_money(fee, currency)})"
        )
    price = client.v1.prices.create(
        params={
            "currency": "usd",
            "unit_amount": 4_900,
            "recurring": {"interval": "month"},
            "product": "prod_SeedProMonthly",
        }
    )
    subscriber = next(iter(customers.values()))
    subscription = client.v1.subscriptions.create(
        params={
            "customer": subscriber,
            "items": [{"price": price.id}],
            "default_payment_method": "pm_card_visa",
            "collection_method": "charge_automatically",
        }
    )
    sandbox.advance_subscription(subscription.id)
    done.append(
        f"subscription {subscription.id} to prod_SeedProMonthly (49.00 USD a month) started and "
        "renewed once: two paid subscription invoices"
    )
    return done


def stripe_netsuite_refunds_and_mapping(ctx: ScenarioContext) -> list[str]:
    """The finance team adds the NetSuite item of the unmapped product (through the stand-in's
    admin API, with the product id in the item's custom field), one charge is refunded in full
    and one in part; then the demo lets ``unmapped_retry_after`` pass, so the next run's
    automatic retry posts the dead-lettered charge without a manual replay."""
    import requests

    client = _stripe_client(ctx)
    sandbox: Any = ctx.runner.system("stripe")
    done: list[str] = []
    response = requests.post(
        f"{ctx.runner.url('netsuite').rstrip('/')}/__sandbox__/netsuite/records/serviceSaleItem",
        json={
            "itemId": UNMAPPED_PRODUCT_NAME,
            "displayName": UNMAPPED_PRODUCT_NAME,
            "incomeAccount": {"id": SALES_INCOME_ACCOUNT},
            ITEM_CUSTOM_FIELD: UNMAPPED_PRODUCT,
        },
        timeout=30,
    )
    response.raise_for_status()
    item_id = response.json()["ids"][0]
    done.append(
        f"finance team added NetSuite item {item_id} ({UNMAPPED_PRODUCT_NAME}) with "
        f"{ITEM_CUSTOM_FIELD} = {UNMAPPED_PRODUCT}"
    )
    charges = {charge["id"]: charge for charge in sandbox.charges()}
    sales = {
        (intent["currency"], (intent.get("metadata") or {}).get(PRODUCT_METADATA_KEY)): charges[
            intent["latest_charge"]
        ]
        for intent in sandbox.payment_intents()
        if intent["status"] == "succeeded" and intent.get("latest_charge") in charges
    }
    full = sales[("jpy", "prod_SeedOnboarding")]
    client.v1.refunds.create(params={"charge": full["id"], "reason": "requested_by_customer"})
    done.append(f"refunded charge {full['id']} in full, {_money(full['amount'], full['currency'])}")
    partial = sales[("usd", "prod_SeedProAnnual")]
    amount = partial["amount"] // 4
    client.v1.refunds.create(
        params={"charge": partial["id"], "amount": amount, "reason": "requested_by_customer"}
    )
    done.append(
        f"refunded {_money(amount, partial['currency'])} of charge {partial['id']} "
        f"({_money(partial['amount'], partial['currency'])})"
    )
    if ctx.last_run_ended is not None:
        # The dead letter was last tried during the previous run: after unmapped_retry_after the
        # next run makes it due by itself.
        wait = ctx.last_run_ended + UNMAPPED_RETRY_AFTER + 1.0 - time.monotonic()
        if wait > 0:
            time.sleep(wait)
        done.append(
            f"{UNMAPPED_RETRY_AFTER:.0f} s (unmapped_retry_after) passed since the run that "
            f"dead-lettered {UNMAPPED_PRODUCT}"
        )
    return done


BEFORE_FIRST_RUN: dict[str, Scenario] = {
    "fusion_stripe": fusion_stripe_existing_customers,
    "stripe_netsuite": stripe_netsuite_catalog,
}
"""What the outside world already holds before an integration's first run, per integration id."""

SCENARIOS: dict[str, Sequence[Scenario]] = {
    "fusion_stripe": (fusion_stripe_activity,),
    "stampli_fusion": (stampli_fusion_activity,),
    "stripe_netsuite": (stripe_netsuite_sales, stripe_netsuite_refunds_and_mapping),
}
"""Scenarios per integration id, each followed by a run of the integration's DAG; integrations
without one run once in the demo."""
