"""Checking Stripe events (from ``GET /v1/events`` or a webhook) before the streams read them.

An event the streams cannot read — no id, a ``created`` that is not Unix seconds, a type the
stream did not ask for, no ``data.object``, an object of another kind than its type names, an
amount that is not an integer of minor units — must not stop the events after it, nor vanish
without a word. :func:`event_problem` says what is wrong with one event (the field and why);
the streams turn such an event into a record of kind :data:`INVALID_EVENT` whose mapping is a
dead letter naming the event id and the field (:func:`invalid_event_record`,
:func:`map_invalid_event`). The checks follow Stripe's event object in contract
``stripe_salesforce.md``: A7 (``id``, ``type``, ``created`` in Unix seconds, ``data.object``
holding the object; ``charge.refunded`` carries the charge) and the amounts rule of A2
("integers in the currency's minor unit").
"""

from __future__ import annotations

from collections.abc import Collection, Mapping
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from ml_connector_provider.engine.types import DeadLetter, SourceRecord
from ml_connector_provider.formats.text import json_type

__all__ = [
    "AMOUNT_FIELDS",
    "INVALID_EVENT",
    "EventProblem",
    "event_label",
    "event_problem",
    "invalid_event_record",
    "map_invalid_event",
]

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
