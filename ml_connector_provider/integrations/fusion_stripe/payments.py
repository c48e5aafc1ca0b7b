"""Stripe → Fusion general ledger streams of the ``fusion_stripe`` integration.

Stripe lists objects by creation time only, so what happened in a window comes from the Events
API: the events of the window (``start ≤ created < end``) are listed, each event's object is
**re-fetched** (events are unordered, repeated and may be stale), and the events are folded into
the records that are posted: one per payment (keyed by its payment intent, or its charge when it
has none), one per refund, one per paid subscription invoice. A payment that raised
``invoice.paid``, ``invoice.payment_succeeded``, ``payment_intent.succeeded`` and
``charge.succeeded`` is one record, and re-reading it in a later (overlapping or replayed) window
finds its ledger link, so it posts exactly one journal.

Stripe keeps events for 30 days. When a window starts before that horizon (a tenant paused for
weeks, or a replay of an old range), the stream lists the charges and refunds (or paid invoices)
created in the window instead, and says so in the log.
"""

from __future__ import annotations

import logging
from collections.abc import Callable, Iterable, Mapping, Sequence
from datetime import UTC, datetime, timedelta
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
from ml_connector_provider.integrations.fusion_stripe.events import (
    INVALID_EVENT,
    event_problem,
    invalid_event_record,
    map_invalid_event,
)
from ml_connector_provider.integrations.fusion_stripe.journals import (
    PAYMENT,
    REFUND,
    SUBSCRIPTION_INVOICE,
    PostingAccounts,
    fusion_reference,
    map_payment,
    map_subscription_invoice,
    subscription_of,
    trim_charge,
    trim_invoice,
    trim_payment_intent,
    trim_refund,
)
from ml_connector_provider.integrations.fusion_stripe.settings import FusionStripeSettings
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
# Start falling back a little before the horizon: an event listed at 29 days 23 hours may be gone
# by the time its page is read.
RETENTION_MARGIN = timedelta(hours=1)
PAGE = 100


PAYMENT_EVENT_TYPES = (
    "invoice.paid",
    "invoice.payment_succeeded",
    "payment_intent.succeeded",
    "charge.succeeded",
    "charge.refunded",
    "refund.updated",
)
SUBSCRIPTION_EVENT_TYPES = ("invoice.paid",)


def _ts(moment: datetime) -> int:
    return int(moment.timestamp())


def _from_ts(value: Any) -> datetime:
    return datetime.fromtimestamp(int(value), tz=UTC)


def _id(value: Any) -> str | None:
    if isinstance(value, Mapping):
        value = value.get("id")
    return str(value) if value else None


class _StripeJournalStream(Stream):
    """What the payments and subscriptions streams share: event windows, retention, journal writes."""

    source_system = "stripe"
    target_system = "fusion"
    event_types: tuple[str, ...] = ()

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

    def read(self, window: Window) -> Iterable[Sequence[SourceRecord]]:
        from ml_connector_provider.hooks.stripe import EVENT_RETENTION

        horizon = self.clock() - EVENT_RETENTION + RETENTION_MARGIN
        if window.start < horizon:
            log.warning(
                "%s: the window starts %s, before Stripe's 30-day event retention (%s); listing the "
                "objects created in the window instead of events. Objects created earlier but changed "
                "in the window are not seen; replay them by id if needed.",
                self.key,
                window.start.isoformat(),
                horizon.isoformat(),
            )
            firsts = self._keys_from_objects(window)
        else:
            events = self.stripe.events_between(self.event_types, window.start, window.end)
            log.info("%s: %d Stripe event(s) in the window", self.key, len(events))
            firsts = {}
            invalid: list[SourceRecord] = []
            # Several events name the same object (invoice.paid and invoice.payment_succeeded,
            # both for one invoice): resolve each object once per read.
            resolved: dict[tuple[Any, ...], list[str]] = {}
            for position, event in enumerate(events):
                found = event_problem(event, position=position, types=self.event_types)
                if found is not None:
                    # Dead-lettered by map(), naming the event and the field; the rest goes on.
                    log.warning("%s: %s", self.key, found.describe())
                    invalid.append(invalid_event_record(found, event, window.start))
                    continue
                when = _from_ts(event["created"])
                obj = (event.get("data") or {}).get("object") or {}
                refunded = event.get("type") == "charge.refunded"
                memo = (obj.get("object"), obj.get("id"), refunded)
                if memo not in resolved:
                    resolved[memo] = self._keys_from_event(event)
                for record_id in resolved[memo]:
                    firsts.setdefault(record_id, when)
            if invalid:
                yield invalid
        ordered = sorted(firsts.items(), key=lambda kv: (kv[1], kv[0]))
        for start in range(0, len(ordered), PAGE):
            page = []
            for record_id, when in ordered[start : start + PAGE]:
                record = self._load(record_id, when)
                if record is not None:
                    page.append(record)
            if page:
                yield page

    def fetch(self, ids: Sequence[str]) -> Iterable[SourceRecord]:
        now = self.clock()
        for record_id in ids:
            if record_id.startswith("event:"):
                continue  # an event that could not be read: nothing to fetch again by id
            record = self._load(record_id, now)
            if record is not None:
                yield record

    def _keys_from_event(self, event: Mapping[str, Any]) -> list[str]:
        raise NotImplementedError

    def _keys_from_objects(self, window: Window) -> dict[str, datetime]:
        raise NotImplementedError

    def _load(self, record_id: str, when: datetime) -> SourceRecord | None:
        raise NotImplementedError

    # -- shared look-ups ----------------------------------------------------------------------------

    def _invoice_of_payment_intent(self, intent_id: str | None) -> dict[str, Any] | None:
        if not intent_id:
            return None
        for payment in self.stripe.iter_invoice_payments(payment_intent=intent_id):
            if payment.get("status") == "paid" or payment.get("status") is None:
                invoice_id = _id(payment.get("invoice"))
                if invoice_id:
                    return self.stripe.retrieve_invoice(invoice_id)
        return None

    def _charge_with_balance(self, charge_id: str | None) -> dict[str, Any] | None:
        if not charge_id:
            return None
        return self.stripe.retrieve_charge(charge_id, expand=("balance_transaction",))

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

    event_types = PAYMENT_EVENT_TYPES

    def _keys_from_event(self, event: Mapping[str, Any]) -> list[str]:
        obj = (event.get("data") or {}).get("object") or {}
        kind = obj.get("object")
        object_id = _id(obj)
        if not object_id:
            return []
        if kind == "invoice":
            keys = []
            for payment in self.stripe.iter_invoice_payments(invoice=object_id):
                if payment.get("status") not in (None, "paid"):
                    continue
                inner = payment.get("payment") or {}
                key = _id(inner.get("payment_intent")) or _id(inner.get("charge"))
                if key:
                    keys.append(key)
            return keys
        if kind == "payment_intent":
            return [object_id]
        if kind == "charge":
            if event.get("type") == "charge.refunded":
                return [str(r["id"]) for r in self.stripe.iter_refunds(charge=object_id)]
            return [_id(obj.get("payment_intent")) or object_id]
        if kind == "refund":
            return [object_id]
        return []

    def _keys_from_objects(self, window: Window) -> dict[str, datetime]:
        created = {"gte": _ts(window.start), "lt": _ts(window.end)}
        found: dict[str, datetime] = {}
        for charge in self.stripe.iter_charges(created=created):
            if charge.get("status") == "succeeded":
                found.setdefault(
                    _id(charge.get("payment_intent")) or str(charge["id"]), _from_ts(charge["created"])
                )
        for refund in self.stripe.iter_refunds(created=created):
            found.setdefault(str(refund["id"]), _from_ts(refund["created"]))
        return found

    def _load(self, record_id: str, when: datetime) -> SourceRecord | None:
        if record_id.startswith("re_"):
            return self._load_refund(record_id, when)
        intent: dict[str, Any] | None = None
        if record_id.startswith("pi_"):
            intent = self.stripe.retrieve_payment_intent(record_id)
            if intent is None:
                return None
            charge = self._charge_with_balance(_id(intent.get("latest_charge")))
            if charge is None:
                return None
        else:
            charge = self._charge_with_balance(record_id)
            if charge is None:
                return None
        invoice = self._invoice_of_payment_intent(_id(charge.get("payment_intent")))
        data: dict[str, Any] = {
            "kind": PAYMENT,
            "payment_intent": trim_payment_intent(intent),
            "charge": trim_charge(charge),
            "invoice": trim_invoice(invoice),
        }
        txn = data["charge"]["balance_transaction"] or {}
        label = f"payment {record_id}"
        if invoice is not None:
            label += f" of Stripe invoice {invoice.get('number') or invoice.get('id')}"
        return SourceRecord(
            id=record_id,
            version=f"{charge['id']}:{charge.get('status')}:{txn.get('id')}",
            changed_at=when,
            data=data,
            label=label,
        )

    def _load_refund(self, refund_id: str, when: datetime) -> SourceRecord | None:
        refund = self.stripe.retrieve_refund(refund_id, expand=("balance_transaction",))
        if refund is None:
            return None
        charge = self._charge_with_balance(_id(refund.get("charge")))
        intent_id = _id(refund.get("payment_intent")) or (
            _id(charge.get("payment_intent")) if charge else None
        )
        intent = self.stripe.retrieve_payment_intent(intent_id) if intent_id else None
        invoice = self._invoice_of_payment_intent(intent_id)
        data: dict[str, Any] = {
            "kind": REFUND,
            "refund": trim_refund(refund),
            "payment_intent": trim_payment_intent(intent),
            "charge": trim_charge(charge) if charge else None,
            "invoice": trim_invoice(invoice),
        }
        txn = data["refund"]["balance_transaction"] or {}
        return SourceRecord(
            id=refund_id,
            version=f"{refund.get('status')}:{txn.get('id')}",
            changed_at=when,
            data=data,
            label=f"refund {refund_id} of {intent_id or _id(refund.get('charge'))}",
        )

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

    event_types = SUBSCRIPTION_EVENT_TYPES

    def _keys_from_event(self, event: Mapping[str, Any]) -> list[str]:
        obj = (event.get("data") or {}).get("object") or {}
        if obj.get("object") != "invoice" or subscription_of(obj) is None:
            return []
        return [str(obj["id"])]

    def _keys_from_objects(self, window: Window) -> dict[str, datetime]:
        created = {"gte": _ts(window.start), "lt": _ts(window.end)}
        return {
            str(invoice["id"]): _from_ts(invoice["created"])
            for invoice in self.stripe.iter_invoices(created=created, status="paid")
            if subscription_of(invoice) is not None
        }

    def _load(self, record_id: str, when: datetime) -> SourceRecord | None:
        invoice = self.stripe.retrieve_invoice(record_id)
        if invoice is None:
            return None
        charges = []
        for payment in self.stripe.iter_invoice_payments(invoice=record_id):
            if payment.get("status") not in (None, "paid"):
                continue
            inner = payment.get("payment") or {}
            charge_id = _id(inner.get("charge"))
            intent_id = _id(inner.get("payment_intent"))
            if charge_id is None and intent_id is not None:
                intent = self.stripe.retrieve_payment_intent(intent_id)
                charge_id = _id(intent.get("latest_charge")) if intent else None
            charge = self._charge_with_balance(charge_id)
            if charge is not None:
                charges.append(trim_charge(charge))
        data = {"kind": SUBSCRIPTION_INVOICE, "invoice": trim_invoice(invoice), "payments": charges}
        txns = ",".join(str((c.get("balance_transaction") or {}).get("id")) for c in charges)
        return SourceRecord(
            id=record_id,
            version=f"{invoice.get('status')}:{txns}",
            changed_at=when,
            data=data,
            label=f"subscription invoice {invoice.get('number') or record_id}",
        )

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
