"""Oracle Fusion ⇄ Stripe.

Fusion AR customers and invoices go to Stripe; Stripe payments, refunds and paid subscription
invoices come back as balanced Fusion GL journals. Modules: :mod:`.settings` (the tenant's
``settings`` block), :mod:`.mapping` and :mod:`.journals` (pure mappings), :mod:`.streams` and
:mod:`.payments` (the streams, built by name from :data:`SPEC`).
"""

from __future__ import annotations

from ml_connector_provider.engine.spec import IntegrationSpec, ParamSpec, StreamSpec
from ml_connector_provider.integrations.fusion_stripe.settings import FusionStripeSettings

_HERE = "ml_connector_provider.integrations.fusion_stripe"

SPEC = IntegrationSpec(
    id="fusion_stripe",
    title="Oracle Fusion ⇄ Stripe",
    streams=(
        StreamSpec(
            name="customers",
            stream_class=f"{_HERE}.streams.FusionCustomersToStripe",
            title="Fusion AR customers → Stripe customers",
            source_system="fusion",
            target_system="stripe",
            description="New and changed Fusion customer account sites become Stripe customers.",
        ),
        StreamSpec(
            name="invoices",
            stream_class=f"{_HERE}.streams.FusionInvoicesToStripe",
            title="Fusion AR invoices → Stripe invoices",
            source_system="fusion",
            target_system="stripe",
            description=(
                "Complete Fusion receivables invoices become finalized Stripe invoices for collection "
                "(send_invoice), automatically or for the invoice numbers given in the run's params."
            ),
        ),
        StreamSpec(
            name="payments",
            stream_class=f"{_HERE}.payments.StripePaymentsToFusionJournals",
            title="Stripe payments → Fusion GL journals",
            source_system="stripe",
            target_system="fusion",
            description=(
                "Each Stripe payment of a Fusion invoice posts one balanced journal (cash clearing, "
                "fees, AR suspense); each refund posts its reversal."
            ),
            requires_settings=("gl",),
        ),
        StreamSpec(
            name="subscriptions",
            stream_class=f"{_HERE}.payments.StripeSubscriptionsToFusionJournals",
            title="Stripe subscription invoices → Fusion GL journals",
            source_system="stripe",
            target_system="fusion",
            description="Each paid subscription invoice posts the billing cycle's journal.",
            requires_settings=("gl",),
        ),
    ),
    connection_roles={"fusion": "oracle_fusion", "stripe": "stripe"},
    settings_model=FusionStripeSettings,
    default_schedule="*/15 * * * *",
    docs="docs/integrations/fusion_stripe.md",
    checks=f"{_HERE}.checks.run_checks",
    params=(
        ParamSpec(
            name="invoice_numbers",
            title="Invoice numbers",
            description=(
                "Fusion invoice (transaction) numbers to send to Stripe in this run; used when the "
                "tenant's invoice_mode is on_demand."
            ),
            schema={"type": ["null", "array"], "items": {"type": "string"}},
        ),
        ParamSpec(
            name="onboarding_dry_run",
            title="Onboarding dry run",
            description=(
                "customers task: print the onboarding plan (what would be linked, created and left "
                "alone) and change nothing"
            ),
            schema={"type": ["null", "boolean"]},
        ),
    ),
)
