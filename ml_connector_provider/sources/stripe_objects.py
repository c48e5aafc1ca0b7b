"""Stripe objects as the money readers see them: event checks and trims. Pure, no I/O.

Events are checked before they are read (:func:`event_problem`): an event a stream cannot read
(no id, a ``created`` that is not Unix seconds, a type the stream did not ask for, no
``data.object``, an object of another kind than its type names, an amount that is not an integer
of minor units) must not stop the events after it, nor vanish without a word. It becomes a
record of kind :data:`INVALID_EVENT` whose mapping is a dead letter naming the event id and the
field (:func:`invalid_event_record`, :func:`map_invalid_event`). The checks follow Stripe's event
object in contract ``stripe_salesforce.md``: A7 (``id``, ``type``, ``created`` in Unix seconds,
``data.object`` holding the object; ``charge.refunded`` carries the charge) and the amounts rule
of A2 ("integers in the currency's minor unit").

The objects are trimmed (:func:`trim_charge` and friends) to the fields the mappings use, so a
ledger row or dead letter keeps what was posted and nothing more.
"""

from __future__ import annotations

from collections.abc import Collection, Iterable, Mapping
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from ml_connector_provider.engine.types import DeadLetter, SourceRecord
from ml_connector_provider.formats.text import json_type

PAYMENT = "payment"
REFUND = "refund"
SUBSCRIPTION_INVOICE = "subscription_invoice"


# -- checking events ------------------------------------------------------------------------------

INVALID_EVENT = "invalid_event"
"""The ``kind`` of a record standing for an event that cannot be read."""

AMOUNT_FIELDS = (
    "amount",
    "amount_captured",
    "amount_received",
    "amount_refunded",
    "amount_due",
    "amount_paid",
    "amount_remaining",
    "total",
    "subtotal",
)
"""Fields of an event's object that, when present, hold an integer amount in minor units."""


@dataclass(frozen=True)
class EventProblem:
    """What is wrong with one event.

    :param event_id: the event's id, or ``#<position>`` when it has none.
    :param field: the offending field, e.g. ``data.object.amount``.
    :param reason: what is wrong, for an operator.
    """

    event_id: str
    field: str
    reason: str

    def describe(self) -> str:
        """One line: the event, the field and what is wrong."""
        return f"Stripe event {self.event_id}: {self.reason} (field {self.field})"


def _shown(value: Any) -> str:
    text = repr(value)
    return text if len(text) <= 60 else text[:59] + "…"


def event_label(event: Any, position: int) -> str:
    """The id of an event for messages: its ``id`` when it is a non-empty text, else ``#<position>``."""
    event_id = event.get("id") if isinstance(event, Mapping) else None
    return event_id if isinstance(event_id, str) and event_id.strip() else f"#{position}"


def event_problem(event: Any, *, position: int = 0, types: Collection[str] = ()) -> EventProblem | None:
    """What is wrong with an event, or ``None`` when a stream can read it.

    :param event: one event as listed (a decoded JSON object).
    :param position: its position in the page, to name an event without an id.
    :param types: the event types the stream asked for; empty: any type.
    """
    label = event_label(event, position)

    def problem(field: str, reason: str) -> EventProblem:
        return EventProblem(label, field, reason)

    if not isinstance(event, Mapping):
        return problem("(event)", f"the event is {json_type(event)}, not an object")
    event_id = event.get("id")
    if not isinstance(event_id, str) or not event_id.strip():
        return problem("id", f"the event has no id (id is {json_type(event_id)})")
    created = event.get("created")
    if isinstance(created, bool) or not isinstance(created, int) or created < 0:
        return problem("created", f"created is {json_type(created)} {_shown(created)}, not Unix seconds")
    event_type = event.get("type")
    if not isinstance(event_type, str) or "." not in event_type:
        return problem("type", f"the event type is {json_type(event_type)} {_shown(event_type)}")
    if types and event_type not in types:
        return problem("type", f"event type {event_type!r} is not one this stream reads ({', '.join(types)})")
    data = event.get("data")
    if not isinstance(data, Mapping):
        return problem("data", f"data is {json_type(data)}, not an object")
    obj = data.get("object")
    if not isinstance(obj, Mapping):
        return problem("data.object", f"data.object is {json_type(obj)}, not an object")
    kind = obj.get("object")
    if not isinstance(kind, str) or not kind:
        return problem("data.object.object", f"the object's kind is {json_type(kind)} {_shown(kind)}")
    expected = event_type.rsplit(".", 1)[0].rsplit(".", 1)[-1]
    if kind != expected:
        return problem(
            "data.object.object", f"a {event_type} event carries a {kind!r} object, not a {expected!r}"
        )
    object_id = obj.get("id")
    if not isinstance(object_id, str) or not object_id.strip():
        return problem("data.object.id", f"the {kind} has no id (id is {json_type(object_id)})")
    for name in AMOUNT_FIELDS:
        if name in obj and obj[name] is not None:
            amount = obj[name]
            if isinstance(amount, bool) or not isinstance(amount, int):
                return problem(
                    f"data.object.{name}",
                    f"{name} of {kind} {object_id} is {json_type(amount)} {_shown(amount)}, "
                    "not an integer of minor units",
                )
    return None


def invalid_event_record(found: EventProblem, event: Any, when: datetime) -> SourceRecord:
    """The record standing for an event that cannot be read; its mapping is a dead letter.

    :param found: what is wrong with the event.
    :param event: the event as listed (kept, so the dead letter shows what was received).
    :param when: the time the record counts as changed at (the window's or the event's).
    """
    return SourceRecord(
        id=f"event:{found.event_id}",
        version=f"invalid:{found.field}",
        changed_at=when,
        data={
            "kind": INVALID_EVENT,
            "event_id": found.event_id,
            "field": found.field,
            "reason": found.reason,
            "event": event if isinstance(event, Mapping) else {"value": event},
        },
        label=f"Stripe event {found.event_id}",
    )


def map_invalid_event(record: Mapping[str, Any]) -> DeadLetter:
    """The dead letter of an :data:`INVALID_EVENT` record: the event id, what is wrong, the field."""
    return DeadLetter(
        f"Stripe event {record.get('event_id')}: {record.get('reason')}", field=str(record.get("field"))
    )


# -- trimming Stripe objects to what the mappings need ------------------------------------------

_BALANCE_FIELDS = ("id", "amount", "fee", "net", "currency", "created", "type", "exchange_rate")
_INVOICE_FIELDS = (
    "id",
    "number",
    "status",
    "customer",
    "currency",
    "amount_paid",
    "billing_reason",
    "collection_method",
    "created",
    "period_start",
    "period_end",
    "metadata",
    "parent",
)
_CHARGE_FIELDS = (
    "id",
    "amount",
    "amount_refunded",
    "currency",
    "status",
    "paid",
    "created",
    "customer",
    "payment_intent",
    "description",
    "metadata",
)


def _pick(obj: Mapping[str, Any], names: Iterable[str]) -> dict[str, Any]:
    return {name: obj.get(name) for name in names}


def trim_balance_transaction(txn: Any) -> dict[str, Any] | None:
    """The balance-transaction fields the journal uses (``None`` when not expanded)."""
    if not isinstance(txn, Mapping):
        return None
    return {
        **_pick(txn, _BALANCE_FIELDS),
        "fee_details": [
            {"amount": d.get("amount"), "type": d.get("type"), "currency": d.get("currency")}
            for d in txn.get("fee_details") or []
        ],
    }


def trim_charge(charge: Mapping[str, Any]) -> dict[str, Any]:
    """A charge with its expanded balance transaction, trimmed."""
    return {
        **_pick(charge, _CHARGE_FIELDS),
        "balance_transaction": trim_balance_transaction(charge.get("balance_transaction")),
    }


def trim_payment_intent(intent: Mapping[str, Any] | None) -> dict[str, Any] | None:
    if intent is None:
        return None
    return _pick(intent, ("id", "amount", "currency", "status", "customer", "description", "metadata"))


def trim_refund(refund: Mapping[str, Any]) -> dict[str, Any]:
    return {
        **_pick(
            refund,
            (
                "id",
                "amount",
                "currency",
                "status",
                "created",
                "charge",
                "payment_intent",
                "reason",
                "metadata",
            ),
        ),
        "balance_transaction": trim_balance_transaction(refund.get("balance_transaction")),
    }


def trim_invoice(invoice: Mapping[str, Any] | None) -> dict[str, Any] | None:
    if invoice is None:
        return None
    return _pick(invoice, _INVOICE_FIELDS)


def subscription_of(invoice: Mapping[str, Any] | None) -> str | None:
    """The subscription id of a subscription invoice (``parent.subscription_details``), else ``None``."""
    if not invoice:
        return None
    parent = invoice.get("parent") or {}
    if parent.get("type") == "subscription_details":
        details = parent.get("subscription_details") or {}
        sub = details.get("subscription")
        if isinstance(sub, Mapping):
            sub = sub.get("id")
        return str(sub) if sub else "unknown"
    if str(invoice.get("billing_reason") or "").startswith("subscription"):
        return "unknown"
    return None
