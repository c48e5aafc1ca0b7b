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
from collections.abc import Callable, Mapping
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
    """

    runner: SandboxRunner
    sftp_root: Path | None = None
    retry_dead_letters: Callable[[], int] | None = None
    tenant: str = "acme"


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


BEFORE_FIRST_RUN: dict[str, Scenario] = {"fusion_stripe": fusion_stripe_existing_customers}
"""What the outside world already holds before an integration's first run, per integration id."""

SCENARIOS: dict[str, Scenario] = {
    "fusion_stripe": fusion_stripe_activity,
    "stampli_fusion": stampli_fusion_activity,
}
"""Scenario per integration id; integrations without one run once in the demo."""
