"""Stripe → Oracle NetSuite.

Completed one-time Stripe charges and paid subscription invoices post as NetSuite customer
invoices, paid by a customer payment applied to them; Stripe refunds post as credit memos applied
to the refunded invoice; Stripe customers become NetSuite customers when the tenant allows it.
Modules: :mod:`.settings` (the tenant's ``settings`` block),
:mod:`.mapping` (pure mappings), :mod:`.streams` (the streams, built by name from :data:`SPEC`),
:mod:`.checks` (``ml-connector check``).
"""

from __future__ import annotations

from ml_connector_provider.engine.spec import IntegrationSpec, StreamSpec
from ml_connector_provider.integrations.stripe_netsuite.settings import StripeNetSuiteSettings

_HERE = "ml_connector_provider.integrations.stripe_netsuite"

SPEC = IntegrationSpec(
    id="stripe_netsuite",
    title="Stripe → Oracle NetSuite",
    streams=(
        StreamSpec(
            name="customers",
            stream_class=f"{_HERE}.streams.StripeCustomersToNetSuiteCustomers",
            title="Stripe customers → NetSuite customers",
            source_system="stripe",
            target_system="netsuite",
            description=(
                "New and changed Stripe customers become NetSuite customers (externalId stripe-<id>) when "
                "the tenant's create_customers is on; otherwise nothing is written."
            ),
        ),
        StreamSpec(
            name="invoices",
            stream_class=f"{_HERE}.streams.StripeSalesToNetSuiteInvoices",
            title="Stripe charges and subscription invoices → NetSuite invoices",
            source_system="stripe",
            target_system="netsuite",
            description=(
                "Each succeeded one-time charge and each paid subscription invoice becomes one NetSuite "
                "invoice (externalId stripe-<id>), with the customer payment applied to it."
            ),
        ),
        StreamSpec(
            name="refunds",
            stream_class=f"{_HERE}.streams.StripeRefundsToNetSuiteCreditMemos",
            title="Stripe refunds → NetSuite credit memos",
            source_system="stripe",
            target_system="netsuite",
            description=(
                "Each succeeded refund, full or partial, becomes a credit memo applied to the refunded "
                "invoice, and a customer refund when the tenant asks for it."
            ),
        ),
    ),
    connection_roles={"stripe": "stripe", "netsuite": "netsuite"},
    settings_model=StripeNetSuiteSettings,
    default_schedule="*/15 * * * *",
    docs="docs/integrations/stripe_netsuite.md",
    checks=f"{_HERE}.checks.run_checks",
)
