"""Stripe → Fusion general ledger streams of the ``fusion_stripe`` integration.

The Stripe side (events of the window, re-fetch, folding into one record per payment, refund or
paid subscription invoice, the 30-day event horizon) is the shared reader of
:mod:`ml_connector_provider.sources.stripe_money`; these streams map each record to a balanced
Fusion GL journal and write it through :class:`~ml_connector_provider.targets.fusion_gl.FusionJournalWriter`.
A record re-read in a later (overlapping or replayed) window finds its ledger link, so it posts
exactly one journal.
"""

from __future__ import annotations

import logging
from collections.abc import Callable, Iterable, Mapping, Sequence
from datetime import datetime
from typing import TYPE_CHECKING, Any

from ml_connector_provider.engine.stream import Stream
from ml_connector_provider.engine.types import (
    DeadLetter,
    Link,
    MapResult,
    SourceRecord,
    StreamKey,
    Window,
    WriteItem,
    WriteResult,
    utcnow,
)
from ml_connector_provider.integrations.fusion_stripe.events import INVALID_EVENT, map_invalid_event
from ml_connector_provider.integrations.fusion_stripe.journals import (
    PostingAccounts,
    fusion_reference,
    map_payment,
    map_subscription_invoice,
)
from ml_connector_provider.integrations.fusion_stripe.settings import FusionStripeSettings
from ml_connector_provider.sources.stripe_money import (
    PAYMENT_EVENT_TYPES,
    SUBSCRIPTION_EVENT_TYPES,
    PaymentReader,
    StripeMoneyReader,
    SubscriptionInvoiceReader,
)
from ml_connector_provider.targets.fusion_gl import FusionJournalWriter

if TYPE_CHECKING:
    from typing import Self

    from ml_connector_provider.engine.context import StreamContext
    from ml_connector_provider.hooks.oracle_fusion import OracleFusionHook
    from ml_connector_provider.hooks.stripe import StripeHook
    from ml_connector_provider.integrations.fusion_stripe.settings import GeneralLedgerSettings
    from ml_connector_provider.ledger import Ledger

log = logging.getLogger(__name__)

INVOICES_RESOURCE = "receivablesInvoices"

__all__ = [
    "PAYMENT_EVENT_TYPES",
    "SUBSCRIPTION_EVENT_TYPES",
    "StripePaymentsToFusionJournals",
    "StripeSubscriptionsToFusionJournals",
]


class _StripeJournalStream(Stream):
    """What the payments and subscriptions streams share: event windows, retention, journal writes."""

    source_system = "stripe"
    target_system = "fusion"
    reader_class: type[StripeMoneyReader] = StripeMoneyReader

    @classmethod
    def from_context(cls, ctx: StreamContext) -> Self:
        from ml_connector_provider.hooks.oracle_fusion import OracleFusionHook
        from ml_connector_provider.hooks.stripe import StripeHook

        settings = ctx.settings_as(FusionStripeSettings)
        return cls(
            StripeHook(ctx.connections["stripe"]),
            OracleFusionHook(ctx.connections["fusion"]),
            settings,
            require_gl(settings, ctx.stream),
            ctx.ledger,
            ctx.key,
        )

    def __init__(
        self,
        stripe: StripeHook,
        fusion: OracleFusionHook,
        settings: FusionStripeSettings,
        gl: GeneralLedgerSettings,
        ledger: Ledger,
        key: StreamKey,
        *,
        clock: Callable[[], datetime] = utcnow,
    ) -> None:
        self.stripe = stripe
        self.fusion = fusion
        self.settings = settings
        self.gl = gl
        self.ledger = ledger
        self.key = key
        self.clock = clock
        self.accounts = PostingAccounts.from_settings(gl)
        self.writer = FusionJournalWriter(
            fusion, gl, ledger, tenant=key.tenant, integration=key.integration, stream=key.stream, clock=clock
        )

    # -- reading ----------------------------------------------------------------------------------

    def reader(self) -> StripeMoneyReader:
        """The shared Stripe reader of this stream's records (built per call: it reads ``clock``)."""
        return self.reader_class(self.stripe, self.key, clock=self.clock)

    def read(self, window: Window) -> Iterable[Sequence[SourceRecord]]:
        return self.reader().read(window)

    def fetch(self, ids: Sequence[str]) -> Iterable[SourceRecord]:
        return self.reader().fetch(ids)

    # -- writing ----------------------------------------------------------------------------------

    def write(self, items: Sequence[WriteItem]) -> Sequence[WriteResult]:
        return self.writer.write(items)

    def close(self) -> None:
        self.fusion.close()


class StripePaymentsToFusionJournals(_StripeJournalStream):
    """Stripe payments and refunds of Fusion invoices → balanced Fusion GL journals.

    Each succeeded payment posts one journal: debit cash clearing (net), debit fees, credit AR
    suspense (gross), referencing the Stripe payment intent, charge, invoice and balance
    transaction and the Fusion invoice number. Each succeeded refund posts the reversal. The Fusion
    invoice is the one named in the metadata of the Stripe invoice, payment intent or charge
    (``<prefix>transaction_id`` or ``<prefix>transaction_number``, which the invoices stream sets);
    a payment naming no existing Fusion invoice is dead-lettered and posts once the reference is
    corrected in Stripe and the record is retried. Payments of subscription invoices are left to
    the subscriptions stream.
    """

    reader_class = PaymentReader

    def prepare(self, records: Sequence[SourceRecord], links: Mapping[str, Link]) -> Any:
        linked = set(links)
        wanted: dict[str, set[str]] = {"CustomerTransactionId": set(), "TransactionNumber": set()}
        for record in records:
            if record.id in linked:
                continue
            ref = fusion_reference(record.data, self.settings.customer_metadata_prefix)
            if ref is not None:
                wanted[ref.attribute].add(ref.value)
        from ml_connector_provider.hooks.oracle_fusion import FusionFilterValueError

        found: dict[tuple[str, str], dict[str, Any]] = {}
        refused: dict[tuple[str, str], str] = {}
        for attribute, values in wanted.items():
            for value in list(values):
                try:
                    self.fusion.check_lookup_value(attribute, value)
                except FusionFilterValueError as error:
                    refused[(attribute, value)] = str(error)
                    values.discard(value)
            if not values:
                continue
            for row in self.fusion.find_by_attribute(INVOICES_RESOURCE, attribute, sorted(values)):
                if row.get(attribute) is not None:
                    found[(attribute, str(row[attribute]))] = row
        return {"linked": linked, "invoices": found, "refused": refused}

    def map(self, record: SourceRecord, lookups: Any) -> MapResult:
        if record.data.get("kind") == INVALID_EVENT:
            return map_invalid_event(record.data)
        ref = fusion_reference(record.data, self.settings.customer_metadata_prefix)
        if ref is not None and record.id not in lookups["linked"]:
            refusal = lookups.get("refused", {}).get((ref.attribute, ref.value))
            if refusal is not None:
                return DeadLetter(
                    f"the Fusion invoice reference in {ref.where} is unusable: {refusal}", field=ref.field
                )
        fusion_invoice = lookups["invoices"].get((ref.attribute, ref.value)) if ref else None
        return map_payment(
            record.data,
            accounts=self.accounts,
            prefix=self.settings.customer_metadata_prefix,
            fusion_invoice=fusion_invoice,
            linked=record.id in lookups["linked"],
        )


class StripeSubscriptionsToFusionJournals(_StripeJournalStream):
    """Paid Stripe subscription invoices → one Fusion GL journal per billing cycle.

    Each paid subscription invoice (``invoice.parent.subscription_details``) posts: debit cash
    clearing (net), debit fees, credit the subscription revenue account (gross), referencing the
    subscription, the Stripe invoice and its charges and the billing period.
    """

    reader_class = SubscriptionInvoiceReader

    def map(self, record: SourceRecord, lookups: Any) -> MapResult:
        if record.data.get("kind") == INVALID_EVENT:
            return map_invalid_event(record.data)
        return map_subscription_invoice(record.data, accounts=self.accounts)


def require_gl(settings: FusionStripeSettings, stream: str) -> GeneralLedgerSettings:
    if settings.gl is None:
        raise ValueError(
            f"the fusion_stripe stream {stream!r} posts to the Fusion general ledger and needs the "
            "tenant's settings.gl block (ledger, data access set, accounts); see "
            "docs/integrations/fusion_stripe.md, or disable the stream"
        )
    return settings.gl
