"""Reading Stripe money movements: payments, refunds and paid subscription invoices.

Several integrations post what Stripe collected (``fusion_stripe`` to Fusion GL journals,
``stripe_netsuite`` to NetSuite invoices). They share this reader, which no integration owns.

Stripe lists objects by creation time only, so what happened in a window comes from the Events
API: the events of the window (``start ≤ created < end``) are listed, each event's object is
**re-fetched** (events are unordered, repeated and may be stale), and the events are folded into
one record per payment (keyed by its payment intent, or its charge when it has none), one per
refund, one per paid subscription invoice. A payment that raised ``invoice.paid``,
``invoice.payment_succeeded``, ``payment_intent.succeeded`` and ``charge.succeeded`` is one
record; re-reading it in a later (overlapping or replayed) window yields the same record id, so
the stream's ledger link makes the write happen once.

Stripe keeps events for 30 days. When a window starts before that horizon (a tenant paused for
weeks, or a replay of an old range), the reader lists the charges and refunds (or paid invoices)
created in the window instead, and says so in the log.

Events are checked before they are read, and objects trimmed to what the mappings use, by the
pure :mod:`ml_connector_provider.sources.stripe_objects` (re-exported here).
"""

from __future__ import annotations

import logging
import math
from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import replace
from datetime import UTC, datetime, timedelta
from typing import TYPE_CHECKING, Any

from ml_connector_provider.engine.types import SourceRecord, StreamKey, Window, utcnow
from ml_connector_provider.sources.stripe_objects import (
    AMOUNT_FIELDS,
    INVALID_EVENT,
    PAYMENT,
    REFUND,
    SUBSCRIPTION_INVOICE,
    EventProblem,
    event_label,
    event_problem,
    invalid_event_record,
    map_invalid_event,
    subscription_of,
    trim_balance_transaction,
    trim_charge,
    trim_invoice,
    trim_payment_intent,
    trim_refund,
)

if TYPE_CHECKING:
    from ml_connector_provider.hooks.stripe import StripeHook

__all__ = [
    "AMOUNT_FIELDS",
    "INVALID_EVENT",
    "PAYMENT",
    "PAYMENT_EVENT_TYPES",
    "REFUND",
    "SUBSCRIPTION_EVENT_TYPES",
    "SUBSCRIPTION_INVOICE",
    "EventProblem",
    "PaymentReader",
    "StripeMoneyReader",
    "SubscriptionInvoiceReader",
    "event_label",
    "event_problem",
    "invalid_event_record",
    "map_invalid_event",
    "object_id",
    "subscription_of",
    "trim_balance_transaction",
    "trim_charge",
    "trim_invoice",
    "trim_payment_intent",
    "trim_refund",
]

log = logging.getLogger(__name__)

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


# -- reading --------------------------------------------------------------------------------------


def _ts(moment: datetime) -> int:
    return int(moment.timestamp())


def _ts_end(moment: datetime) -> int:
    # Stripe's ``created`` is whole seconds: an exclusive bound rounded up keeps an object created
    # in the window's last fraction of a second inside it (a later overlap re-reads it harmlessly).
    return math.ceil(moment.timestamp())


def _from_ts(value: Any) -> datetime:
    return datetime.fromtimestamp(int(value), tz=UTC)


def object_id(value: Any) -> str | None:
    """The id of a Stripe reference that is either an id or an expanded object."""
    if isinstance(value, Mapping):
        value = value.get("id")
    return str(value) if value else None


class StripeMoneyReader:
    """Reads a window of Stripe events as folded records; subclasses say what a record is.

    :param stripe: the tenant's Stripe hook.
    :param key: the stream reading (for log lines).
    :param clock: now, for the 30-day event horizon.
    """

    event_types: tuple[str, ...] = ()
    #: Add the id of the first event naming a record to its data (``event_id``), for targets that
    #: reference it; records read again by id (:meth:`fetch`) carry none.
    with_event_ids: bool = False

    def __init__(self, stripe: StripeHook, key: StreamKey, *, clock: Callable[[], datetime] = utcnow) -> None:
        self.stripe = stripe
        self.key = key
        self.clock = clock

    def read(self, window: Window) -> Iterable[Sequence[SourceRecord]]:
        """Pages of records: the unreadable events first (one page), then the folded records."""
        from ml_connector_provider.hooks.stripe import EVENT_RETENTION

        horizon = self.clock() - EVENT_RETENTION + RETENTION_MARGIN
        first_events: dict[str, str] = {}
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
                    first_events.setdefault(record_id, str(event["id"]))
            if invalid:
                yield invalid
        ordered = sorted(firsts.items(), key=lambda kv: (kv[1], kv[0]))
        for start in range(0, len(ordered), PAGE):
            page = []
            for record_id, when in ordered[start : start + PAGE]:
                record = self._load(record_id, when)
                if record is not None:
                    if self.with_event_ids and record_id in first_events:
                        record = replace(record, data={**record.data, "event_id": first_events[record_id]})
                    page.append(record)
            if page:
                yield page

    def fetch(self, ids: Sequence[str]) -> Iterable[SourceRecord]:
        """The records of these ids as they are now (dead-letter retries and replays by id)."""
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
                invoice_id = object_id(payment.get("invoice"))
                if invoice_id:
                    return self.stripe.retrieve_invoice(invoice_id)
        return None

    def _charge_with_balance(self, charge_id: str | None) -> dict[str, Any] | None:
        if not charge_id:
            return None
        return self.stripe.retrieve_charge(charge_id, expand=("balance_transaction",))


class PaymentReader(StripeMoneyReader):
    """Payments (one record per payment intent, or per charge without one) and refunds.

    A payment record holds ``kind`` :data:`PAYMENT`, the trimmed ``payment_intent``, ``charge``
    (with its balance transaction) and the Stripe ``invoice`` it paid (``None`` for a one-time
    charge). A refund record holds ``kind`` :data:`REFUND`, the ``refund`` (with its balance
    transaction), and the charge, payment intent and invoice it refunds.
    """

    event_types: tuple[str, ...] = PAYMENT_EVENT_TYPES

    def _keys_from_event(self, event: Mapping[str, Any]) -> list[str]:
        obj = (event.get("data") or {}).get("object") or {}
        kind = obj.get("object")
        found_id = object_id(obj)
        if not found_id:
            return []
        if kind == "invoice":
            keys = []
            for payment in self.stripe.iter_invoice_payments(invoice=found_id):
                if payment.get("status") not in (None, "paid"):
                    continue
                inner = payment.get("payment") or {}
                key = object_id(inner.get("payment_intent")) or object_id(inner.get("charge"))
                if key:
                    keys.append(key)
            return keys
        if kind == "payment_intent":
            return [found_id]
        if kind == "charge":
            if event.get("type") == "charge.refunded":
                return [str(r["id"]) for r in self.stripe.iter_refunds(charge=found_id)]
            return [object_id(obj.get("payment_intent")) or found_id]
        if kind == "refund":
            return [found_id]
        return []

    def _keys_from_objects(self, window: Window) -> dict[str, datetime]:
        created = {"gte": _ts(window.start), "lt": _ts_end(window.end)}
        found: dict[str, datetime] = {}
        for charge in self.stripe.iter_charges(created=created):
            if charge.get("status") == "succeeded":
                found.setdefault(
                    object_id(charge.get("payment_intent")) or str(charge["id"]), _from_ts(charge["created"])
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
            charge = self._charge_with_balance(object_id(intent.get("latest_charge")))
            if charge is None:
                return None
        else:
            charge = self._charge_with_balance(record_id)
            if charge is None:
                return None
        invoice = self._invoice_of_payment_intent(object_id(charge.get("payment_intent")))
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
        charge = self._charge_with_balance(object_id(refund.get("charge")))
        intent_id = object_id(refund.get("payment_intent")) or (
            object_id(charge.get("payment_intent")) if charge else None
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
            label=f"refund {refund_id} of {intent_id or object_id(refund.get('charge'))}",
        )


class SubscriptionInvoiceReader(StripeMoneyReader):
    """Paid subscription invoices: one record per invoice with the charges that paid it.

    A record holds ``kind`` :data:`SUBSCRIPTION_INVOICE`, the trimmed ``invoice`` and its
    ``payments`` (charges with their balance transactions).
    """

    event_types: tuple[str, ...] = SUBSCRIPTION_EVENT_TYPES

    def _keys_from_event(self, event: Mapping[str, Any]) -> list[str]:
        obj = (event.get("data") or {}).get("object") or {}
        if obj.get("object") != "invoice" or subscription_of(obj) is None:
            return []
        return [str(obj["id"])]

    def _keys_from_objects(self, window: Window) -> dict[str, datetime]:
        created = {"gte": _ts(window.start), "lt": _ts_end(window.end)}
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
            charge_id = object_id(inner.get("charge"))
            intent_id = object_id(inner.get("payment_intent"))
            if charge_id is None and intent_id is not None:
                intent = self.stripe.retrieve_payment_intent(intent_id)
                charge_id = object_id(intent.get("latest_charge")) if intent else None
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
