"""What the other side does between two runs of an integration, played on the stand-ins.

The demo runs each DAG, lets the "outside world" act (customers pay invoices, a refund is issued,
a subscription renews), then runs the DAG again, so that both directions of an integration move
something. Each scenario talks to the stand-ins the way the real actors would: through the
system's public API (the real ``stripe`` SDK) or the stand-in's own helpers for what only a
customer's browser does (paying a hosted invoice page).
"""

from __future__ import annotations

import logging
from collections.abc import Callable
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

    customers = sandbox.customers()
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


SCENARIOS: dict[str, Scenario] = {
    "fusion_stripe": fusion_stripe_activity,
    "stampli_fusion": stampli_fusion_activity,
}
"""Scenario per integration id; integrations without one run once in the demo."""
