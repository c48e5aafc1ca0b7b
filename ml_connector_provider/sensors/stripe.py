"""Sensor that waits for new Stripe events, so a sync runs only when there is something to post.

:class:`StripeEventSensor` succeeds once Stripe's Events API lists enough events of the given
types created after a starting point: the cursor a Stripe-sourced stream keeps in the ledger, an
explicit (templated) instant, or a look-back from now. It pokes synchronously through
:class:`~ml_connector_provider.hooks.stripe.StripeHook`, or defers to
:class:`~ml_connector_provider.triggers.stripe.StripeEventTrigger` and frees its worker slot.

Stripe keeps events for 30 days; a starting point older than that is moved up to the retention
horizon, with a warning, since older events can no longer be listed.
"""

from __future__ import annotations

import math
import re
from collections.abc import Sequence
from datetime import UTC, date, datetime, timedelta
from functools import cached_property
from typing import TYPE_CHECKING, Any, cast

from airflow.providers.common.compat.sdk import (
    AirflowException,
    AirflowFailException,
    BaseSensorOperator,
    PokeReturnValue,
    conf,
)

from ml_connector_provider.extras import missing_extra

try:
    import stripe
except ImportError as _err:
    raise missing_extra("stripe", "The Stripe event sensor", _err) from _err

from ml_connector_provider.hooks.stripe import EVENT_RETENTION, MAX_EVENT_TYPES, StripeHook
from ml_connector_provider.triggers.stripe import (
    EventTally,
    StripeEventTrigger,
    describe_error,
    events_list_params,
    is_transient,
    validate_event_types,
)

if TYPE_CHECKING:
    from airflow.sdk import Context

    from ml_connector_provider.engine.types import StreamKey

__all__ = ["EVENT_RETENTION", "StripeEventSensor", "since_to_epoch"]

_EPOCH = re.compile(r"\d+(?:\.\d+)?")


def since_to_epoch(value: datetime | date | str | float) -> int:
    """Turn an exclusive lower bound into whole Unix seconds for ``created[gt]``.

    Stripe's ``created`` is whole seconds, so an instant inside a second keeps the events of the
    following seconds only: the result is rounded down.

    :param value: an aware ``datetime`` (naive ones are taken as UTC), a ``date`` (its midnight
        UTC), an ISO 8601 string, or Unix seconds as a number or a numeric string.
    :raises TypeError: for another type.
    :raises ValueError: for a string that is neither a number nor ISO 8601, or a negative time.
    """
    if isinstance(value, bool):
        raise TypeError("since must be a datetime, an ISO 8601 string or Unix seconds, not a bool")
    if isinstance(value, str):
        text = value.strip()
        if _EPOCH.fullmatch(text):
            value = float(text)
        else:
            try:
                value = datetime.fromisoformat(text)
            except ValueError as error:
                raise ValueError(
                    f"since {value!r} is neither Unix seconds nor an ISO 8601 instant"
                ) from error
    if isinstance(value, datetime):
        seconds = (value if value.tzinfo else value.replace(tzinfo=UTC)).timestamp()
    elif isinstance(value, date):
        seconds = datetime(value.year, value.month, value.day, tzinfo=UTC).timestamp()
    elif isinstance(value, int | float):
        seconds = float(value)
    else:
        raise TypeError(f"since must be a datetime, an ISO 8601 string or Unix seconds, not {value!r}")
    if not math.isfinite(seconds) or seconds < 0:
        raise ValueError(f"since {value!r} is not a time after 1970-01-01")
    return math.floor(seconds)


def _is_template(value: Any) -> bool:
    return isinstance(value, str) and ("{{" in value or "{%" in value)


class StripeEventSensor(BaseSensorOperator):
    """Wait until Stripe lists at least ``min_events`` events of the given types since a starting point.

    Where the starting point comes from, in order:

    * ``tenant_id`` + ``integration_id`` + ``stream``: the cursor of that stream in the ledger.
      Every event created at or after the cursor position is still to be synced; a stream without
      a cursor has never run, so every event Stripe still keeps counts;
    * ``since``: an explicit instant (templated; events created strictly after it count);
    * otherwise now minus ``lookback``.

    A starting point older than Stripe's 30-day event retention is moved up to it (with a warning).

    The sensor returns, and pushes to XCom, a summary without secrets: ``count`` (a lower bound when
    ``has_more`` is true), ``newest_created``, ``event_ids`` (newest first, at most 100),
    ``has_more``, ``since`` (Unix seconds, exclusive) and ``event_types``.

    In poke mode each poke lists the events once through
    :class:`~ml_connector_provider.hooks.stripe.StripeHook`; a rate limit, 5xx or network error
    only makes that poke return ``False``. With ``deferrable=True`` the sensor checks once, then
    hands the wait to :class:`~ml_connector_provider.triggers.stripe.StripeEventTrigger`, polling
    every ``poke_interval`` seconds in the triggerer.

    .. seealso:: ``docs/sensors.md``

    :param event_types: exact Stripe event names, at most 20 (templated), e.g.
        ``["invoice.paid", "charge.refunded"]``.
    :param stripe_conn_id: the ``stripe`` Airflow connection.
    :param since: events created strictly after this instant count (templated): a ``datetime``,
        an ISO 8601 string or Unix seconds. Not combined with the ledger cursor.
    :param tenant_id: tenant of the stream whose ledger cursor is the starting point (templated).
    :param integration_id: integration of that stream, e.g. ``fusion_stripe`` (templated).
    :param stream: the stream's name (templated).
    :param ledger_conn_id: the Airflow connection naming the ledger database (default: the
        ``[ml_connector] ledger_conn_id`` option, read when the task runs, as the DAG factory does).
    :param lookback: starting point when neither the cursor nor ``since`` is given, counted back
        from now (``timedelta`` or seconds).
    :param min_events: how many matching events end the wait.
    :param deferrable: wait in the triggerer instead of a worker slot (default: the
        ``[operators] default_deferrable`` setting, read when the sensor is built).
    :param poke_interval: seconds between two checks, in both modes.
    """

    template_fields: Sequence[str] = ("event_types", "since", "tenant_id", "integration_id", "stream")
    ui_color = "#635bff"

    def __init__(
        self,
        *,
        event_types: Sequence[str],
        stripe_conn_id: str = StripeHook.default_conn_name,
        since: datetime | str | float | None = None,
        tenant_id: str | None = None,
        integration_id: str | None = None,
        stream: str | None = None,
        ledger_conn_id: str | None = None,
        lookback: timedelta | float = timedelta(hours=1),
        min_events: int = 1,
        deferrable: bool | None = None,
        **kwargs: Any,
    ) -> None:
        super().__init__(**kwargs)
        if isinstance(event_types, str | bytes):
            raise TypeError(f"event_types must be a list of event names, not the string {event_types!r}")
        if not event_types or len(event_types) > MAX_EVENT_TYPES:
            raise ValueError(f"event_types must name 1 to {MAX_EVENT_TYPES} Stripe event types")
        if not any(_is_template(name) for name in event_types):
            validate_event_types(event_types)
        stream_parts = (tenant_id, integration_id, stream)
        if any(stream_parts) and not all(stream_parts):
            raise ValueError(
                "give tenant_id, integration_id and stream together to start from the ledger cursor"
            )
        if all(stream_parts) and since is not None:
            raise ValueError(
                "give either a ledger stream (tenant_id, integration_id, stream) or since, not both"
            )
        if since is not None and not _is_template(since):
            since_to_epoch(since)
        if isinstance(min_events, bool) or not isinstance(min_events, int) or min_events < 1:
            raise ValueError(f"min_events must be a positive int, not {min_events!r}")
        window = lookback if isinstance(lookback, timedelta) else timedelta(seconds=lookback)
        if window <= timedelta(0):
            raise ValueError("lookback must be positive")
        self.event_types = list(event_types)
        self.stripe_conn_id = stripe_conn_id
        self.since = since
        self.tenant_id = tenant_id
        self.integration_id = integration_id
        self.stream = stream
        self.ledger_conn_id = ledger_conn_id
        self.lookback = window
        self.min_events = min_events
        if deferrable is None:
            deferrable = conf.getboolean("operators", "default_deferrable", fallback=False)
        self.deferrable = deferrable

    @cached_property
    def hook(self) -> StripeHook:
        """The Stripe hook (built on first use; nothing is read at DAG parse time)."""
        return StripeHook(self.stripe_conn_id)

    # -- where the wait starts ------------------------------------------------------------------

    def _stream_key(self) -> StreamKey | None:
        from ml_connector_provider.engine.types import StreamKey

        if self.tenant_id and self.integration_id and self.stream:
            return StreamKey(self.tenant_id, self.integration_id, self.stream)
        return None

    def resolve_since(self, now: datetime | None = None) -> int:
        """The exclusive lower bound (Unix seconds) of the events to wait for.

        Reads the ledger cursor when a stream is configured; clamps to the retention horizon.

        :param now: the current time (default: the wall clock).
        """
        now = now or datetime.now(UTC)
        horizon = math.floor((now - EVENT_RETENTION).timestamp())
        key = self._stream_key()
        if key is not None:
            position = self._cursor_position(key)
            if position is None:
                self.log.info(
                    "Stream %s has no cursor in the ledger yet: every event of the last %d days counts.",
                    key,
                    EVENT_RETENTION.days,
                )
                return horizon
            # Events at or after the position are still to be synced: created >= ceil(position).
            since = math.ceil(position.timestamp()) - 1
            origin = f"the ledger cursor of {key} ({position.isoformat()})"
        elif self.since is not None:
            since = since_to_epoch(self.since)
            origin = f"since {self.since}"
        else:
            since = math.floor((now - self.lookback).timestamp())
            origin = f"a look-back of {self.lookback}"
        if since < horizon:
            self.log.warning(
                "The starting point from %s is older than Stripe's %d-day event retention; waiting for "
                "events after %s instead. Events before that can no longer be listed; a stream whose "
                "cursor is this old may have missed some and needs a resync of the objects themselves.",
                origin,
                EVENT_RETENTION.days,
                datetime.fromtimestamp(horizon, UTC).isoformat(),
            )
            return horizon
        self.log.info(
            "Waiting for %s event(s) of %s created after %s (from %s).",
            self.min_events,
            self.event_types,
            datetime.fromtimestamp(since, UTC).isoformat(),
            origin,
        )
        return since

    def _cursor_position(self, key: StreamKey) -> datetime | None:
        from ml_connector_provider.ledger import Ledger
        from ml_connector_provider.ledger.schema import current_version

        ledger = Ledger.from_airflow(self.ledger_conn_id)
        with ledger.engine.connect() as conn:
            if current_version(conn) == 0:
                return None  # the ledger was never set up: nothing was ever synced
        cursor = ledger.get_cursor(key)
        return None if cursor is None else cursor.position

    # -- checking -------------------------------------------------------------------------------

    def check(self, since: int) -> EventTally:
        """List the matching events once (synchronously, through the hook's client).

        :param since: Unix seconds, exclusive.
        :raises stripe.StripeError: when Stripe refuses or cannot be reached (after the SDK's retries).
        """
        event_types = validate_event_types(self.event_types)
        client = self.hook.client
        tally = EventTally(event_types, since, self.min_events)
        starting_after: str | None = None
        while True:
            params = events_list_params(event_types, since, starting_after=starting_after)
            page = client.v1.events.list(params=cast("Any", params))
            starting_after = tally.add_page(list(page.data), page.has_more)
            if starting_after is None:
                return tally

    def _describe(self, error: BaseException) -> str:
        # Only called for Stripe errors, which come after the connection was read.
        settings = self.hook.settings
        return describe_error(error, settings.api_key, settings.webhook_secret)

    def _check_or_fail(self, since: int, retry: str) -> EventTally | None:
        """:meth:`check`, with a transient Stripe failure logged and answered ``None``.

        :param retry: who tries again, for the log ("next poke", "the trigger").
        :raises AirflowFailException: a failure retrying cannot help (bad key, bad request).
        """
        try:
            return self.check(since)
        except stripe.StripeError as error:
            message = self._describe(error)
            if not is_transient(error):
                raise AirflowFailException(f"Listing Stripe events failed: {message}") from None
            self.log.warning("Listing Stripe events failed (%s); %s will try again.", message, retry)
            return None

    def poke(self, context: Context) -> PokeReturnValue:
        """One check; transient Stripe failures count as "not yet", others fail the task."""
        tally = self._check_or_fail(self.resolve_since(), "the next poke")
        if tally is None:
            return PokeReturnValue(is_done=False)
        if tally.satisfied:
            self.log.info("Found %d Stripe event(s) of %s.", tally.count, tally.event_types)
            return PokeReturnValue(is_done=True, xcom_value=tally.summary())
        self.log.info("%d of %d Stripe event(s) so far.", tally.count, self.min_events)
        return PokeReturnValue(is_done=False)

    def execute(self, context: Context) -> Any:
        """Poke as usual, or (deferrable) check once and defer to :class:`StripeEventTrigger`."""
        if not self.deferrable:
            return super().execute(context)
        since = self.resolve_since()
        tally = self._check_or_fail(since, "the trigger")
        if tally is not None and tally.satisfied:
            self.log.info("Found %d Stripe event(s) of %s; no need to defer.", tally.count, tally.event_types)
            return tally.summary()
        self.defer(
            trigger=StripeEventTrigger(
                stripe_conn_id=self.stripe_conn_id,
                event_types=self.event_types,
                since=since,
                poll_interval=self.poke_interval,
                min_events=self.min_events,
            ),
            method_name="execute_complete",
            timeout=timedelta(seconds=self.timeout),
        )

    def execute_complete(self, context: Context, event: dict[str, Any] | None = None) -> dict[str, Any]:
        """Interpret the trigger's event: return the summary, or fail with the trigger's message."""
        if not event:
            raise AirflowException("The Stripe event trigger ended without an event.")
        if event.get("status") != "success":
            raise AirflowException(
                f"Waiting for Stripe events failed: {event.get('message') or 'no reason given'}"
            )
        summary = {key: value for key, value in event.items() if key != "status"}
        self.log.info("Found %s Stripe event(s) of %s.", summary.get("count"), summary.get("event_types"))
        return summary
