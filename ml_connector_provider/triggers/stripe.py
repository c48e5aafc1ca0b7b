"""Trigger that waits for new Stripe events (``GET /v1/events``), for deferrable sensors.

:class:`StripeEventTrigger` runs in the triggerer. It reads the Stripe connection asynchronously,
polls the Events API with the SDK's async methods (``client.v1.events.list_async`` over
:class:`~ml_connector_provider.hooks.stripe.ReadableHTTPXClient`, a ``stripe.HTTPXClient`` that
turns a gateway's HTML, text or foreign JSON error answer into the typed SDK error, as the hook's
blocking client does) and fires once enough events of the wanted types were created after a
given instant. It keeps only the connection id in its serialized form; the key is read when the
trigger runs.

The pieces shared with :class:`~ml_connector_provider.sensors.stripe.StripeEventSensor`'s
synchronous path live here too: the list parameters (:func:`events_list_params`), the
page-by-page count (:class:`EventTally`), the split between errors worth retrying and errors that
end the wait (:func:`is_transient`) and the message scrubber (:func:`describe_error`).
"""

from __future__ import annotations

import asyncio
import random
import re
from collections.abc import AsyncIterator, Iterable, Sequence
from dataclasses import dataclass, field
from typing import Any, cast

from airflow.providers.common.compat.connection import get_async_connection, get_async_extra_dejson
from airflow.triggers.base import BaseTrigger, TriggerEvent

from ml_connector_provider.extras import missing_extra

try:
    import stripe
except ImportError as _err:
    raise missing_extra("stripe", "The Stripe event trigger", _err) from _err

from ml_connector_provider.hooks.stripe import (
    MAX_EVENT_TYPES,
    ReadableHTTPXClient,
    StripeConnectionSettings,
    StripeHook,
    build_client,
    connection_settings,
    describe_error,
    stripe_retry_after,
    typed_stripe_error,
)

__all__ = [
    "DEFAULT_POLL_INTERVAL",
    "MAX_EVENT_TYPES",
    "MAX_REPORTED_EVENT_IDS",
    "EventTally",
    "StripeEventTrigger",
    "aget_connection_settings",
    "describe_error",
    "events_list_params",
    "is_transient",
    "validate_event_types",
]

MAX_REPORTED_EVENT_IDS = 100
"""Event ids carried in a success event (the newest ones); the count covers them all."""
DEFAULT_POLL_INTERVAL = 60.0
"""Seconds between two polls while nothing new exists."""
MAX_BACKOFF = 900.0
"""Longest wait after repeated transient failures (unless the poll interval is longer)."""
EVENTS_PAGE_SIZE = 100
"""Page size of the event list (Stripe's maximum)."""

_EVENT_TYPE = re.compile(r"[a-z0-9_]+(?:\.[a-z0-9_]+)+")
_RETRYABLE_STATUSES = frozenset({409, 429})


def validate_event_types(event_types: Iterable[str]) -> list[str]:
    """Check a list of Stripe event types for the ``types`` filter and drop repeats.

    :param event_types: exact event names such as ``customer.created`` or ``invoice.paid``.
    :return: the names in their given order, each once.
    :raises TypeError: a single string was given instead of a list, or a name is not a string.
    :raises ValueError: no names, more than 20, a wildcard, or a malformed name.
    """
    if isinstance(event_types, str | bytes):
        raise TypeError(f"event_types must be a list of event names, not the string {event_types!r}")
    names: list[str] = []
    for name in event_types:
        if not isinstance(name, str):
            raise TypeError(f"event type {name!r} is not a string")
        if "*" in name:
            raise ValueError(
                f"event type {name!r}: the Events API 'types' filter takes exact names only; "
                "list every type instead of a wildcard"
            )
        if not _EVENT_TYPE.fullmatch(name):
            raise ValueError(f"event type {name!r} is not a Stripe event name such as 'invoice.paid'")
        if name not in names:
            names.append(name)
    if not names:
        raise ValueError("event_types is empty; name at least one Stripe event type")
    if len(names) > MAX_EVENT_TYPES:
        raise ValueError(
            f"{len(names)} event types given; the Events API accepts at most {MAX_EVENT_TYPES} per request"
        )
    return names


def events_list_params(
    event_types: Sequence[str], since: int, *, starting_after: str | None = None
) -> dict[str, Any]:
    """Parameters of one ``GET /v1/events`` page: these types, created strictly after ``since``.

    :param event_types: exact event names (at most 20).
    :param since: Unix seconds, exclusive lower bound (``created[gt]``).
    :param starting_after: the id of the last event of the previous page.
    """
    params: dict[str, Any] = {
        "types": list(event_types),
        "created": {"gt": since},
        "limit": EVENTS_PAGE_SIZE,
    }
    if starting_after is not None:
        params["starting_after"] = starting_after
    return params


@dataclass
class EventTally:
    """Counts the matching events of one poll, page by page (Stripe lists newest first).

    Each event counts once, however often Stripe lists it (the Events API is at-least-once).
    Reading stops as soon as ``min_events`` events were seen; ``count`` is then a lower bound and
    ``has_more`` tells that Stripe holds further matching events.

    :param event_types: the wanted types (events of other types are not counted).
    :param since: Unix seconds; only events created strictly after it count.
    :param min_events: how many events make the wait successful.
    """

    event_types: Sequence[str]
    since: int
    min_events: int = 1
    count: int = 0
    newest_created: int | None = None
    event_ids: list[str] = field(default_factory=list)
    has_more: bool = False
    _seen: set[str] = field(default_factory=set, init=False, repr=False)

    def add_page(self, events: Sequence[Any], has_more: bool) -> str | None:
        """Count one page of events.

        The API already filters by type and time; the check is repeated here so that nothing
        outside the window is ever reported.

        :param events: the page's events (``stripe.Event`` or plain dicts).
        :param has_more: the page's ``has_more`` flag.
        :return: the ``starting_after`` cursor of the next page when it is worth reading, else
            ``None``.
        """
        for event in events:
            event_id = str(event["id"])
            created = int(event["created"])
            if event_id in self._seen or event["type"] not in self.event_types or created <= self.since:
                continue
            self._seen.add(event_id)
            self.count += 1
            if self.newest_created is None or created > self.newest_created:
                self.newest_created = created
            if len(self.event_ids) < MAX_REPORTED_EVENT_IDS:
                self.event_ids.append(event_id)
        self.has_more = bool(has_more and events)
        if self.has_more and self.count < self.min_events:
            return str(events[-1]["id"])
        return None

    @property
    def satisfied(self) -> bool:
        """Whether at least ``min_events`` matching events were seen."""
        return self.count >= self.min_events

    def summary(self) -> dict[str, Any]:
        """JSON-ready result: ``count``, ``newest_created``, ``event_ids`` (newest first, at most
        100), ``has_more``, ``since`` and ``event_types``."""
        return {
            "count": self.count,
            "newest_created": self.newest_created,
            "event_ids": list(self.event_ids),
            "has_more": self.has_more,
            "since": self.since,
            "event_types": list(self.event_types),
        }


def is_transient(error: BaseException) -> bool:
    """Whether a failed poll is worth repeating later: network errors, 409, 429 and 5xx.

    Answers Stripe could not make sense of (``APIError`` without a status) count as transient;
    authentication, permission and request errors end the wait. An error answer that was not
    Stripe's JSON error (a gateway's) is judged by the class its status calls for
    (:func:`~ml_connector_provider.hooks.stripe.typed_stripe_error`): a gateway's 401 ends the wait,
    its 429 or 502 does not.
    """
    error = typed_stripe_error(error)
    if isinstance(error, stripe.APIConnectionError | stripe.RateLimitError):
        return True
    if isinstance(error, stripe.StripeError):
        status = error.http_status
        if status is None:
            return isinstance(error, stripe.APIError)
        return status in _RETRYABLE_STATUSES or status >= 500
    return False


async def aget_connection_settings(stripe_conn_id: str) -> StripeConnectionSettings:
    """Read a ``stripe`` connection without blocking the event loop (secrets are masked on read)."""
    conn = await get_async_connection(stripe_conn_id, hook=StripeHook)
    extras = await get_async_extra_dejson(conn)
    return connection_settings(stripe_conn_id, conn.password, extras)


class StripeEventTrigger(BaseTrigger):
    """Fire once Stripe holds at least ``min_events`` events of the given types created after ``since``.

    Every ``poll_interval`` seconds the trigger lists ``GET /v1/events`` with ``types`` and
    ``created[gt]``. When enough events exist it yields one event::

        {"status": "success", "count": 3, "newest_created": 1767225600,
         "event_ids": ["evt_…", …], "has_more": False, "since": 1767222000,
         "event_types": ["invoice.paid"]}

    ``event_ids`` holds the newest 100 ids at most. Rate limits (429), conflicts (409), 5xx answers
    and network errors are logged and retried with a growing delay (doubling from
    ``poll_interval`` up to 15 minutes, at least any ``Retry-After``); any other failure (a bad
    key, a refused parameter, a missing connection) yields
    ``{"status": "error", "message": …}`` with keys and secrets scrubbed from the message.

    The connection is read when the trigger runs, so only its id is serialized.

    :param stripe_conn_id: the ``stripe`` Airflow connection (same fields as
        :class:`~ml_connector_provider.hooks.stripe.StripeHook`, ``api_base`` included).
    :param event_types: exact event names, at most 20 (``customer.created``, ``invoice.paid`` …).
    :param since: Unix seconds; only events created strictly after it count (``created[gt]``).
    :param poll_interval: seconds between polls while nothing new exists.
    :param min_events: how many matching events make the wait successful.
    """

    def __init__(
        self,
        *,
        stripe_conn_id: str,
        event_types: Sequence[str],
        since: int,
        poll_interval: float = DEFAULT_POLL_INTERVAL,
        min_events: int = 1,
    ) -> None:
        super().__init__()
        if isinstance(since, bool) or not isinstance(since, int) or since < 0:
            raise ValueError(f"since must be Unix seconds (a non-negative int), not {since!r}")
        if isinstance(min_events, bool) or not isinstance(min_events, int) or min_events < 1:
            raise ValueError(f"min_events must be a positive int, not {min_events!r}")
        if (
            isinstance(poll_interval, bool)
            or not isinstance(poll_interval, int | float)
            or poll_interval <= 0
        ):
            raise ValueError(f"poll_interval must be a positive number of seconds, not {poll_interval!r}")
        self.stripe_conn_id = stripe_conn_id
        self.event_types = validate_event_types(event_types)
        self.since = since
        self.poll_interval = float(poll_interval)
        self.min_events = min_events

    def serialize(self) -> tuple[str, dict[str, Any]]:
        """Class path and constructor arguments (no secrets: the connection is read at run time)."""
        return (
            f"{type(self).__module__}.{type(self).__qualname__}",
            {
                "stripe_conn_id": self.stripe_conn_id,
                "event_types": list(self.event_types),
                "since": self.since,
                "poll_interval": self.poll_interval,
                "min_events": self.min_events,
            },
        )

    async def run(self) -> AsyncIterator[TriggerEvent]:
        """Poll until enough events exist (one success event) or a non-retryable error (one error event)."""
        yield TriggerEvent(await self._wait())

    async def _wait(self) -> dict[str, Any]:
        try:
            settings = await aget_connection_settings(self.stripe_conn_id)
        except Exception as error:  # noqa: BLE001 - reported in the event, the task decides
            return self._error(
                f"cannot use Stripe connection {self.stripe_conn_id!r}: {describe_error(error)}"
            )
        http_client = ReadableHTTPXClient(
            timeout=settings.timeout, secrets=(settings.api_key, settings.webhook_secret)
        )
        try:
            client = build_client(settings, http_client)
            return await self._poll_until_done(client, settings)
        finally:
            await http_client.close_async()

    async def _poll_until_done(
        self, client: stripe.StripeClient, settings: StripeConnectionSettings
    ) -> dict[str, Any]:
        failures = 0
        while True:
            try:
                tally = await self._poll_once(client)
            except Exception as raised:  # noqa: BLE001 - sorted into retry or error event below
                error = typed_stripe_error(raised, settings.api_key, settings.webhook_secret)
                message = describe_error(error, settings.api_key, settings.webhook_secret)
                if not is_transient(error):
                    return self._error(f"listing Stripe events failed: {message}")
                failures += 1
                delay = self._backoff(failures, stripe_retry_after(error))
                self.log.warning(
                    "Listing Stripe events failed (%s); polling again in %.1fs (failure %d in a row)",
                    message,
                    delay,
                    failures,
                )
                await asyncio.sleep(delay)
                continue
            failures = 0
            if tally.satisfied:
                self.log.info(
                    "Found %d Stripe event(s) of %s created after %d.",
                    tally.count,
                    self.event_types,
                    self.since,
                )
                return {"status": "success", **tally.summary()}
            self.log.info(
                "%d of %d Stripe event(s) of %s created after %d; polling again in %.1fs.",
                tally.count,
                self.min_events,
                self.event_types,
                self.since,
                self.poll_interval,
            )
            await asyncio.sleep(self.poll_interval)

    async def _poll_once(self, client: stripe.StripeClient) -> EventTally:
        tally = EventTally(self.event_types, self.since, self.min_events)
        starting_after: str | None = None
        while True:
            params = events_list_params(self.event_types, self.since, starting_after=starting_after)
            page = await client.v1.events.list_async(params=cast("Any", params))
            starting_after = tally.add_page(list(page.data), page.has_more)
            if starting_after is None:
                return tally

    def _backoff(self, failures: int, retry_after: float | None) -> float:
        """Delay after ``failures`` transient failures in a row: doubling from ``poll_interval``,
        capped, at least ``Retry-After``, stretched by up to 25 % of jitter."""
        cap = max(MAX_BACKOFF, self.poll_interval)
        base = min(self.poll_interval * 2 ** min(failures - 1, 30), cap)
        if retry_after is not None:
            base = min(max(base, retry_after), cap)
        return base * random.uniform(1.0, 1.25)

    @staticmethod
    def _error(message: str) -> dict[str, Any]:
        return {"status": "error", "message": message}
