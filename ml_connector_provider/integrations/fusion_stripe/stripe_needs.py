"""What the ``fusion_stripe`` streams and writers use of Stripe, per resource: the requests they
send and the restricted-key permission each needs.

``ml-connector check`` probes these (read-only) on the tenant's account; a test compares
:data:`STRIPE_NEEDS` with the requests the Stripe stand-in receives during a full run, so a new
call in :mod:`.streams`, :mod:`.payments`, :mod:`.stripe_writer` or :mod:`.onboarding` cannot be
forgotten here.

Permission names (``rak_<resource>_<read|write>``) are those of Stripe's restricted keys as public
integrations pre-fill them in Stripe's create-key form; which permission covers invoice payments
(``/v1/invoice_payments``) is UNCONFIRMED and taken as ``invoice``, like invoice line items.
"""

from __future__ import annotations

from collections.abc import Iterable

from ml_connector_provider.checks.stripe import StripeNeed
from ml_connector_provider.integrations.fusion_stripe.settings import FusionStripeSettings

__all__ = ["STRIPE_NEEDS", "needs_for", "needs_of_streams"]

STRIPE_NEEDS: tuple[StripeNeed, ...] = (
    StripeNeed(
        "customer",
        "Customers",
        "write",
        "/v1/customers",
        (
            "GET /v1/customers",
            "GET /v1/customers/search",
            "GET /v1/customers/{id}",
            "POST /v1/customers",
            "POST /v1/customers/{id}",
        ),
        ("customers", "invoices"),
    ),
    StripeNeed(
        "invoice",
        "Invoices",
        "write",
        "/v1/invoices",
        (
            "GET /v1/invoices",
            "GET /v1/invoices/{id}",
            "GET /v1/invoices/{id}/lines",
            "GET /v1/invoice_payments",
            "POST /v1/invoices",
            "POST /v1/invoices/{id}",
            "POST /v1/invoices/{id}/add_lines",
            "POST /v1/invoices/{id}/finalize",
            "POST /v1/invoices/{id}/send",
        ),
        ("invoices", "payments", "subscriptions"),
    ),
    StripeNeed(
        "event",
        "Events",
        "read",
        "/v1/events",
        ("GET /v1/events",),
        ("invoices", "payments", "subscriptions"),
    ),
    StripeNeed(
        "payment_intent",
        "PaymentIntents",
        "read",
        "/v1/payment_intents",
        ("GET /v1/payment_intents/{id}",),
        ("payments", "subscriptions"),
    ),
    StripeNeed(
        "charge",
        "Charges",
        "read",
        "/v1/charges",
        ("GET /v1/charges", "GET /v1/charges/{id}"),
        ("payments", "subscriptions"),
    ),
    StripeNeed(
        "refund",
        "Refunds",
        "read",
        "/v1/refunds",
        ("GET /v1/refunds", "GET /v1/refunds/{id}"),
        ("payments",),
    ),
    StripeNeed(
        # read through expand[]=balance_transaction on charges and refunds (fees and net)
        "balance_transaction_source",
        "Balance transaction sources",
        "read",
        "/v1/balance_transactions",
        (),
        ("payments", "subscriptions"),
    ),
)
"""Every Stripe resource the ``fusion_stripe`` streams use."""


def needs_of_streams(streams: Iterable[str]) -> list[StripeNeed]:
    """The needs of the named streams, in :data:`STRIPE_NEEDS` order."""
    wanted = set(streams)
    return [need for need in STRIPE_NEEDS if wanted.intersection(need.streams)]


def needs_for(settings: FusionStripeSettings) -> list[StripeNeed]:
    """The needs of a tenant's streams: customers and invoices, and the journal streams
    (payments, subscriptions) when the tenant posts to the general ledger (``gl``)."""
    streams = ["customers", "invoices"]
    if settings.gl is not None:
        streams += ["payments", "subscriptions"]
    return needs_of_streams(streams)
