"""What the billing and payment resources share: collections, look-ups, ``expand[]`` and operations.

* :data:`COLLECTIONS` — the state key of every object type the stand-in stores;
* :func:`operation` — hold the state lock for one write and emit its events afterwards, in order,
  each with the object as it was when the event was queued (even when the write ends in an error
  such as a card decline, whose failed charge is real);
* :func:`find` / :func:`find_param` — a stored object or Stripe's ``No such …`` answer (404 on the
  URL's id, 400 on a parameter); :func:`snapshot` — a copy as of the sandbox clock;
* :func:`expand` / :func:`expand_list` — ``expand[]`` paths such as ``balance_transaction``,
  ``latest_charge.balance_transaction``, ``payments`` or ``data.customer``;
* :func:`changed_attributes` — ``data.previous_attributes`` of an ``*.updated`` event;
  :func:`apply_update` — an update's fields applied, with its event;
* :func:`list_response`, :func:`list_route`, :func:`retrieve_route` — the list and retrieve routes.
"""

from __future__ import annotations

import contextlib
from collections.abc import Callable, Iterator, Mapping, Sequence
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

from ml_connector_sandbox.systems.stripe.cursor import CreationOrder, creation_order_page
from ml_connector_sandbox.systems.stripe.errors import (
    StripeAPIError,
    invalid_request,
    resource_missing,
)
from ml_connector_sandbox.systems.stripe.listing import created_matches, newest_first, paginate
from ml_connector_sandbox.systems.stripe.objects import clone, list_envelope
from ml_connector_sandbox.systems.stripe.params import RETRIEVE, Spec, merge_metadata, validate

if TYPE_CHECKING:
    from ml_connector_sandbox.systems.stripe.api import StripeApi, StripeRequest
    from ml_connector_sandbox.systems.stripe.system import StripeSandbox

__all__ = [
    "COLLECTIONS",
    "Operation",
    "apply_update",
    "changed_attributes",
    "created_field",
    "expand",
    "expand_list",
    "find",
    "find_param",
    "list_response",
    "list_route",
    "operation",
    "refresh_balance_transaction",
    "refused",
    "retrieve_route",
    "snapshot",
]

COLLECTIONS: Mapping[str, str] = {
    "customer": "customers",
    "product": "products",
    "price": "prices",
    "invoiceitem": "invoiceitems",
    "invoice": "invoices",
    "payment_intent": "payment_intents",
    "charge": "charges",
    "balance_transaction": "balance_transactions",
    "refund": "refunds",
    "invoice_payment": "invoice_payments",
    "subscription": "subscriptions",
}
"""Object type → state key (each a dict of id → object, in creation order)."""

_FIELD_KINDS: Mapping[str, str] = {
    "customer": "customer",
    "product": "product",
    "price": "price",
    "default_price": "price",
    "invoice": "invoice",
    "latest_invoice": "invoice",
    "payment_intent": "payment_intent",
    "charge": "charge",
    "latest_charge": "charge",
    "balance_transaction": "balance_transaction",
    "subscription": "subscription",
    "invoice_item": "invoiceitem",
}
"""Expandable id fields and the object type they name."""

_CREATED_FIELDS: Mapping[str, str] = {"invoiceitem": "date"}
"""Object types whose creation time is not in ``created`` (lists order and filter by it)."""

_PREFIX_KINDS: Mapping[str, str] = {"ch": "charge", "re": "refund", "pi": "payment_intent", "in": "invoice"}
"""For fields that may name several types (``source`` of a balance transaction)."""


# -- operations --------------------------------------------------------------------------------------


@dataclass
class Operation:
    """One write in progress: the locked state, the operation's timestamp and its queued events."""

    system: StripeSandbox
    db: dict[str, Any]
    now: int
    events: list[tuple[str, dict[str, Any], dict[str, Any] | None]] = field(default_factory=list)

    def emit(self, type: str, obj: Mapping[str, Any], previous: Mapping[str, Any] | None = None) -> None:
        """Queue an event about ``obj`` as it is now (emitted when the operation ends)."""
        self.events.append((type, clone(dict(obj)), None if previous is None else clone(dict(previous))))

    def store(self, kind: str, obj: dict[str, Any]) -> dict[str, Any]:
        """Add ``obj`` to its collection; returns it."""
        self.db[COLLECTIONS[kind]][obj["id"]] = obj
        return obj


@contextlib.contextmanager
def operation(system: StripeSandbox) -> Iterator[Operation]:
    """Hold the state lock for one write; emit the queued events once it is released.

    Events are emitted even when the block raises, because a refusal raised after the write began
    (a declined card) leaves real objects and events behind.
    """
    op: Operation | None = None
    try:
        with system.state as db:
            op = Operation(system, db, system.timestamp())
            yield op
    finally:
        for type, obj, previous in op.events if op is not None else ():
            system.record_event(type, obj, previous)  # emit() already copied them


def refused(message: str, *, param: str | None = None, code: str | None = None) -> StripeAPIError:
    """A 400 ``invalid_request_error`` decided while executing (the object's state forbids it).

    Unlike parameter-validation errors it is stored for idempotent replay, as Stripe stores every
    answer once execution began (contract A4): retrying with the same key repeats the refusal.
    """
    return StripeAPIError(400, message, param=param, code=code)


# -- look-ups ----------------------------------------------------------------------------------------


def find(db: Mapping[str, Any], kind: str, object_id: str, param: str | None = None) -> dict[str, Any]:
    """The stored object (live, not deleted), or ``No such <kind>: '<id>'``: 404 on ``id``, or 400
    on ``param`` when a parameter named it (see also :func:`find_param`)."""
    obj = db[COLLECTIONS[kind]].get(object_id)
    if obj is None or obj.get("deleted"):
        if param is None:
            raise resource_missing(kind, object_id)
        raise resource_missing(kind, object_id, param=param, status=400)
    result: dict[str, Any] = obj
    return result


def find_param(db: Mapping[str, Any], kind: str, object_id: str, param: str) -> dict[str, Any]:
    """The stored object named by a parameter, or 400 ``No such <kind>: '<id>'`` on ``param``."""
    return find(db, kind, object_id, param)


def refresh_balance_transaction(txn: dict[str, Any], now: float) -> dict[str, Any]:
    """A balance transaction becomes ``available`` once the clock reaches its ``available_on``."""
    if txn.get("status") == "pending" and now >= int(txn["available_on"]):
        txn["status"] = "available"
    return txn


def snapshot(kind: str, obj: Mapping[str, Any], now: float) -> dict[str, Any]:
    """A deep copy of a stored object as the API shows it at ``now`` (a balance transaction's
    ``status`` follows the clock)."""
    result = clone(dict(obj))
    if kind == "balance_transaction":
        refresh_balance_transaction(result, now)
    return result


# -- expand[] ----------------------------------------------------------------------------------------


def _invoice_payments(db: Mapping[str, Any], invoice: Mapping[str, Any]) -> dict[str, Any]:
    items = [clone(p) for p in db["invoice_payments"].values() if p["invoice"] == invoice["id"]]
    items.reverse()
    return list_envelope("/v1/invoice_payments", items, False)


def _charge_refunds(db: Mapping[str, Any], charge: Mapping[str, Any]) -> dict[str, Any]:
    items = [clone(r) for r in db["refunds"].values() if r["charge"] == charge["id"]]
    items.reverse()
    return list_envelope("/v1/refunds", items, False)


_VIRTUAL: Mapping[tuple[str, str], Callable[[Mapping[str, Any], Mapping[str, Any]], dict[str, Any]]] = {
    ("invoice", "payments"): _invoice_payments,
    ("charge", "refunds"): _charge_refunds,
}
"""Includable fields absent by default (contract: ``payments`` and ``refunds`` are not included)."""


def _resolve(db: Mapping[str, Any], field_name: str, value: str, now: float) -> dict[str, Any] | None:
    kind = _FIELD_KINDS.get(field_name) or _PREFIX_KINDS.get(value.split("_", 1)[0])
    if kind is None:
        return None
    obj = db[COLLECTIONS[kind]].get(value)
    return None if obj is None else snapshot(kind, obj, now)


def _cannot_expand(path: str) -> Exception:
    return invalid_request(f"This property cannot be expanded ({path}).", param="expand")


def _expand_path(db: Mapping[str, Any], obj: Any, parts: Sequence[str], path: str, now: float) -> None:
    if not isinstance(obj, dict):
        return
    head, rest = parts[0], parts[1:]
    if obj.get("object") == "list" and head == "data":
        if not rest:
            raise _cannot_expand(path)
        for item in obj.get("data") or []:
            _expand_path(db, item, rest, path, now)
        return
    virtual = _VIRTUAL.get((str(obj.get("object")), head))
    if virtual is not None and not isinstance(obj.get(head), dict):
        obj[head] = virtual(db, obj)
    elif head not in obj:
        raise _cannot_expand(path)
    else:
        value = obj[head]
        if isinstance(value, str):
            resolved = _resolve(db, head, value, now)
            if resolved is None:
                raise _cannot_expand(path)
            obj[head] = resolved
        elif isinstance(value, dict):
            if not rest and "object" not in value:
                raise _cannot_expand(path)  # a plain hash, not an object reference
        elif value is not None:
            raise _cannot_expand(path)
    if rest:
        _expand_path(db, obj[head], rest, path, now)


def expand(db: Mapping[str, Any], obj: Mapping[str, Any], paths: Sequence[str], now: float) -> dict[str, Any]:
    """A deep copy of ``obj`` with each ``expand[]`` path replaced by the object it names.

    :raises StripeAPIError: 400 ``This property cannot be expanded (path).``
    """
    result = clone(dict(obj))
    for path in paths:
        _expand_path(db, result, path.split("."), path, now)
    return result


def expand_list(
    db: Mapping[str, Any], envelope: Mapping[str, Any], paths: Sequence[str], now: float
) -> dict[str, Any]:
    """``expand[]`` on a list answer: every path must start with ``data.``."""
    for path in paths:
        if not path.startswith("data."):
            raise _cannot_expand(path)
    return expand(db, envelope, paths, now)


# -- events ------------------------------------------------------------------------------------------


def changed_attributes(before: Mapping[str, Any], after: Mapping[str, Any]) -> dict[str, Any]:
    """Top-level fields that changed, with their old values (``previous_attributes``).

    Hashes list only their changed keys (a key that did not exist before maps to ``None``);
    arrays and lists are given whole, as Stripe does.
    """
    previous: dict[str, Any] = {}
    for key in set(before) | set(after):
        old, new = before.get(key), after.get(key)
        if old == new:
            continue
        if isinstance(old, dict) and isinstance(new, dict) and old.get("object") != "list":
            previous[key] = {k: clone(old.get(k)) for k in set(old) | set(new) if old.get(k) != new.get(k)}
        else:
            previous[key] = clone(old)
    return previous


def apply_update(
    op: Operation, obj: dict[str, Any], fields: Mapping[str, Any], event: str | None
) -> dict[str, Any]:
    """Apply coerced update parameters to a stored object: ``metadata`` merged, ``expand`` skipped,
    every other field set. When something changed, queue ``event`` (if any) with its
    ``previous_attributes``. Nothing is written when a field is refused (too many metadata keys).

    :return: ``previous_attributes`` (empty when nothing changed).
    """
    changed = clone(obj)
    for key, value in fields.items():
        if key == "metadata":
            changed["metadata"] = merge_metadata(changed.get("metadata"), value)
        elif key != "expand":
            changed[key] = value
    previous = changed_attributes(obj, changed)
    obj.update(changed)
    if previous and event is not None:
        op.emit(event, obj, previous)
    return previous


# -- lists -------------------------------------------------------------------------------------------


def created_field(kind: str) -> str:
    """The field holding the creation time of ``kind`` (``created``; ``date`` for invoice items)."""
    return _CREATED_FIELDS.get(kind, "created")


def list_response(
    db: Mapping[str, Any],
    kind: str,
    url: str,
    params: Mapping[str, Any],
    now: float,
    predicate: Callable[[Mapping[str, Any]], bool] = lambda _obj: True,
    *,
    order: CreationOrder | None = None,
    candidates: Callable[[], Sequence[str]] | None = None,
) -> dict[str, Any]:
    """A list answer over one collection: live objects matching ``predicate`` and ``created``,
    newest first, paged with ``limit`` and the cursors, with ``expand[]`` applied to ``data``.

    Only the objects on the page are copied. With ``order`` (the collection's
    :class:`~.cursor.CreationOrder`, see :meth:`~.system.StripeSandbox.creation_order`) the page is
    found by position, without sorting or scanning the whole collection.

    :param candidates: gives ids known to include every object ``predicate`` accepts (an index
        look-up, called once ``order`` caught up); only used with ``order``.
    """
    collection = db[COLLECTIONS[kind]]
    created = created_field(kind)

    def render(obj: Mapping[str, Any]) -> dict[str, Any]:
        return snapshot(kind, obj, now)

    envelope = None
    if order is not None:
        envelope = creation_order_page(
            order, collection, url, params, kind=kind, wanted=predicate, render=render, candidates=candidates
        )
    if envelope is None:
        bounds = params.get("created")
        items = [
            obj
            for obj in newest_first([obj for obj in collection.values() if not obj.get("deleted")], created)
            if predicate(obj) and created_matches(int(obj[created]), bounds)
        ]
        envelope = paginate(url, items, params, kind=kind)
        envelope["data"] = [render(obj) for obj in envelope["data"]]
    expand_paths = params.get("expand") or []
    return expand_list(db, envelope, expand_paths, now) if expand_paths else envelope


def list_route(
    api: StripeApi,
    path: str,
    kind: str,
    spec: Mapping[str, Spec],
    *,
    match: Sequence[str] = (),
    where: Callable[[Mapping[str, Any], Mapping[str, Any]], bool] | None = None,
) -> None:
    """Serve ``GET path``: the :func:`list_response` over ``kind`` with the parameters of ``spec``.

    :param match: filter parameters that keep objects whose field of the same name equals them.
    :param where: any other filter, ``where(obj, params)``.
    """
    system = api.system

    def list_objects(request: StripeRequest) -> dict[str, Any]:
        params = validate(request.params, spec)

        def wanted(obj: Mapping[str, Any]) -> bool:
            return all(name not in params or obj[name] == params[name] for name in match) and (
                where is None or where(obj, params)
            )

        with system.state as db:
            return list_response(
                db, kind, path, params, system.clock.time(), wanted, order=system.creation_order(kind)
            )

    api.route("GET", path, list_objects)


def retrieve_route(api: StripeApi, path: str, kind: str) -> None:
    """Serve ``GET path`` (ending in ``{id}``): the live object with ``expand[]`` applied, or 404."""
    system = api.system

    def retrieve(request: StripeRequest) -> dict[str, Any]:
        validate(request.params, RETRIEVE)
        now = system.clock.time()
        with system.state as db:
            obj = find(db, kind, request.path_params["id"])
            return expand(db, snapshot(kind, obj, now), request.expand, now)

    api.route("GET", path, retrieve)
