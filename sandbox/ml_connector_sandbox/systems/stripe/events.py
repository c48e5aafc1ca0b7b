"""The Events API: ``GET /v1/events`` and ``GET /v1/events/{id}`` (contract A7).

* Newest first; ``type`` (one name, or a ``*`` wildcard such as ``invoice.*``), ``types`` (up to
  20 exact names; not together with ``type``), ``created`` (exact or ``gt|gte|lt|lte``),
  ``delivery_success``, ``limit`` 1–100, ``starting_after`` / ``ending_before``.
* Cursors are positions in the whole (retained) event stream, so a cursor event need not match the
  filters. A cursor naming an unknown **or expired** event answers 400 ``resource_missing``
  ("No such event: 'evt_…'", ``param`` = the cursor) — what Stripe does there is UNCONFIRMED.
* Retention (``settings.event_retention_days``, default 30, on the sandbox clock): older events
  are neither listed nor retrievable (404 ``resource_missing``); they stay in
  ``StripeSandbox.events()`` for tests.
* ``settings.event_list_repeats`` (default 1): with ``n`` > 1 every listed event appears ``n``
  times in a row on its page (at-least-once delivery for consumers to absorb); ``limit`` counts
  distinct events and the cursors work unchanged.
* ``delivery_success=true`` keeps events some webhook delivery accepted; ``false`` keeps events
  still waiting for, or failing, delivery (``pending_webhooks`` > 0).
"""

from __future__ import annotations

import re
from collections.abc import Callable, Mapping
from typing import TYPE_CHECKING, Any

from ml_connector_sandbox.systems.stripe.errors import (
    StripeAPIError,
    invalid_request,
    resource_missing,
)
from ml_connector_sandbox.systems.stripe.listing import created_matches, newest_first
from ml_connector_sandbox.systems.stripe.objects import clone, list_envelope
from ml_connector_sandbox.systems.stripe.params import (
    PAGING,
    RETRIEVE,
    Arr,
    Bool,
    Spec,
    Str,
    validate,
)

if TYPE_CHECKING:
    from ml_connector_sandbox.systems.stripe.api import StripeApi, StripeRequest
    from ml_connector_sandbox.systems.stripe.system import StripeSandbox

__all__ = ["MAX_TYPES", "register_events", "retained_events", "type_matcher"]

MAX_TYPES = 20
"""Most names ``types`` accepts."""
DAY = 86400

LIST: dict[str, Spec] = {
    **PAGING,
    "delivery_success": Bool(),
    "type": Str(),
    "types": Arr(Str(), max_items=MAX_TYPES),
}


def type_matcher(pattern: str) -> Callable[[str], bool]:
    """Whether an event type matches ``pattern``: an exact name, or ``*`` standing for any text
    (``invoice.*`` matches ``invoice.paid``; ``customer.*`` also ``customer.subscription.created``)."""
    if "*" not in pattern:
        return lambda name: name == pattern
    regex = re.compile("^" + ".*".join(re.escape(part) for part in pattern.split("*")) + "$")
    return lambda name: regex.match(name) is not None


def retained_events(system: StripeSandbox, db: Mapping[str, Any]) -> list[dict[str, Any]]:
    """Stored events not yet past retention on the sandbox clock, oldest first (not copied)."""
    horizon = system.clock.time() - system.settings.event_retention_days * DAY
    return [event for event in db["events"] if event["created"] >= horizon]


def _page(
    ordered: list[dict[str, Any]],
    wanted: Callable[[Mapping[str, Any]], bool],
    params: Mapping[str, Any],
) -> tuple[list[dict[str, Any]], bool]:
    size = 10 if params.get("limit") is None else int(params["limit"])
    if not 1 <= size <= 100:
        raise invalid_request("Invalid limit: must be between 1 and 100.", param="limit")
    after, before = params.get("starting_after"), params.get("ending_before")
    if after is not None and before is not None:
        raise invalid_request(
            "You may only specify one of these parameters: starting_after, ending_before.",
            param="starting_after",
        )

    def position(cursor: str, param: str) -> int:
        for index, event in enumerate(ordered):
            if event["id"] == cursor:
                return index
        raise StripeAPIError(
            400, f"No such event: '{cursor}'", code="resource_missing", param=param, validation=True
        )

    if before is not None:
        newer = [event for event in ordered[: position(before, "ending_before")] if wanted(event)]
        return newer[-size:], len(newer) > size
    start = 0 if after is None else position(after, "starting_after") + 1
    older = [event for event in ordered[start:] if wanted(event)]
    return older[:size], len(older) > size


def register_events(api: StripeApi) -> None:
    """Mount ``GET /v1/events`` and ``GET /v1/events/{id}``."""
    system = api.system

    @api.get("/v1/events")
    def list_events(request: StripeRequest) -> dict[str, Any]:
        params = validate(request.params, LIST)
        if params.get("type") is not None and params.get("types") is not None:
            raise invalid_request("You may only specify one of these parameters: type, types.", param="types")
        if params.get("expand"):
            raise invalid_request(
                f"This property cannot be expanded ({params['expand'][0]}).", param="expand"
            )
        single = type_matcher(params["type"]) if params.get("type") else None
        names = set(params.get("types") or [])
        success = params.get("delivery_success")
        delivered = system.webhooks.accepted_event_ids() if success is not None else set()

        def wanted(event: Mapping[str, Any]) -> bool:
            if single is not None and not single(event["type"]):
                return False
            if names and event["type"] not in names:
                return False
            if success is True and event["id"] not in delivered:
                return False
            if success is False and (event["id"] in delivered or not event.get("pending_webhooks")):
                return False
            return created_matches(int(event["created"]), params.get("created"))

        with system.state as db:
            ordered = newest_first(retained_events(system, db))
            page, has_more = _page(ordered, wanted, params)
            page = [clone(event) for event in page]
        repeats = system.settings.event_list_repeats
        data = [event for event in page for _ in range(repeats)]
        return list_envelope("/v1/events", data, has_more)

    @api.get("/v1/events/{id}")
    def retrieve_event(request: StripeRequest) -> dict[str, Any]:
        validate(request.params, RETRIEVE)
        event_id = request.path_params["id"]
        with system.state as db:
            for event in retained_events(system, db):
                if event["id"] == event_id:
                    return clone(event)
        raise resource_missing("event", event_id)
