"""The Stripe stand-in: state, events, search index, settings and route registration."""

from __future__ import annotations

from collections.abc import Callable, Iterable, Mapping, Sequence
from typing import Any, ClassVar

from fastapi import Body, FastAPI, HTTPException
from fastapi.responses import JSONResponse
from pydantic import ValidationError

from ml_connector_sandbox.base import ADMIN_PREFIX, SandboxClock, SandboxSystem
from ml_connector_sandbox.systems.stripe.api import (
    IdempotencyStore,
    RateLimiter,
    RequestStats,
    StripeApi,
    current_request,
)
from ml_connector_sandbox.systems.stripe.billing import pay_invoice as pay_invoice_in
from ml_connector_sandbox.systems.stripe.billing import register_billing
from ml_connector_sandbox.systems.stripe.catalog import register_catalog
from ml_connector_sandbox.systems.stripe.cursor import CreationOrder
from ml_connector_sandbox.systems.stripe.customers import (
    CUSTOMER_SEARCH_FIELDS,
    register_balance,
    register_customers,
)
from ml_connector_sandbox.systems.stripe.errors import StripeAPIError, unrecognized_url
from ml_connector_sandbox.systems.stripe.events import register_events
from ml_connector_sandbox.systems.stripe.objects import clone, clone_or_none, new_id
from ml_connector_sandbox.systems.stripe.payments import card_error, register_payments
from ml_connector_sandbox.systems.stripe.search import SearchQuery
from ml_connector_sandbox.systems.stripe.searchindex import SearchIndex
from ml_connector_sandbox.systems.stripe.settings import StripeSandboxSettings
from ml_connector_sandbox.systems.stripe.store import COLLECTIONS, created_field, find, operation, snapshot
from ml_connector_sandbox.systems.stripe.subscriptions import (
    advance_subscription as advance_subscription_in,
)
from ml_connector_sandbox.systems.stripe.subscriptions import register_subscriptions
from ml_connector_sandbox.systems.stripe.webhooks import WebhookSender

__all__ = ["EventListener", "StripeSandbox"]

EventListener = Callable[[dict[str, Any]], None]
"""Called with every event the stand-in emits (after it is stored)."""

_EMPTY_BALANCE: dict[str, Any] = {
    "object": "balance",
    "available": [{"amount": 0, "currency": "usd", "source_types": {"card": 0}}],
    "connect_reserved": [],
    "livemode": False,
    "pending": [{"amount": 0, "currency": "usd", "source_types": {"card": 0}}],
}


class StripeSandbox(SandboxSystem):
    """A stateful local stand-in of the Stripe v1 API that the real ``stripe`` SDK runs against.

    It follows ``contracts/stripe_salesforce.md`` part A: secret-key auth (Bearer or Basic),
    bracket-nested form bodies, Stripe's error bodies and headers, idempotent POSTs, cursor-paged
    lists (:mod:`.cursor`), search with Stripe's indexing lag (:mod:`.searchindex`), optional
    per-account rate limiters and request counters; see :mod:`.api` for the pipeline. Where real
    Stripe refuses what a naive fake would accept (contract Appendix S: past due dates, stale
    search results, expiring idempotency keys) it refuses too; see :mod:`.settings`.

    Resources: customers (create, retrieve, update, delete, list, search), ``GET /v1/balance``,
    products and prices (:mod:`.catalog`), invoice items and invoices (:mod:`.billing`),
    payment intents, charges, balance transactions, invoice payments and refunds
    (:mod:`.payments`), subscriptions (:mod:`.subscriptions`), and the Events API
    (:mod:`.events`). Every state change emits an event into ``state["events"]``; with
    ``settings.webhook_url`` set each event is also POSTed there, signed (:mod:`.webhooks`).

    Extension points for more resources:

    * write ``register_<resource>(api)`` functions like
      :func:`~.customers.register_customers` (handlers take a :class:`~.api.StripeRequest` and
      return the object or raise :class:`~.errors.StripeAPIError`), then list them in a subclass's
      :meth:`register_resources` (call ``super()`` first);
    * add the resource's collection to :meth:`seed` (override and extend ``super().seed()``);
    * call :meth:`emit_event` on every state change and :meth:`index_for_search` for searchable
      objects; :attr:`event_listeners` lets a webhook sender subscribe.

    :param api_keys: accepted secret keys (default: :data:`~.settings.DEFAULT_SECRET_KEY`).
    :param settings: every other tunable (see :class:`~.settings.StripeSandboxSettings`).
    :param clock: share a clock with other systems.
    """

    name = "stripe"
    title = "Stripe"
    conn_type = "stripe"
    clients: ClassVar[Mapping[str, str]] = {}

    def __init__(
        self,
        *,
        api_keys: Sequence[str] | None = None,
        settings: StripeSandboxSettings | None = None,
        clock: SandboxClock | None = None,
        **kwargs: Any,
    ) -> None:
        base = settings.model_copy(deep=True) if settings is not None else StripeSandboxSettings()
        if api_keys is not None:
            base.api_keys = list(api_keys)
        self._initial_settings = base
        self.settings = base.model_copy(deep=True)
        self.idempotency = IdempotencyStore()
        self.rate_limiter = RateLimiter()
        self.stats = RequestStats()
        self.search_index = SearchIndex({"customer": CUSTOMER_SEARCH_FIELDS})
        self._creation_orders: dict[str, CreationOrder] = {}
        self.webhooks = WebhookSender(self)
        self.event_listeners: list[EventListener] = [self.webhooks.on_event]
        super().__init__(clock=clock, **kwargs)

    # -- SandboxSystem --------------------------------------------------------------------------

    def seed(self) -> Mapping[str, Any]:
        """Empty account: no objects, no events, a zero balance."""
        return {
            "customers": {},
            "events": [],
            "balance": clone(_EMPTY_BALANCE),
            "products": {},
            "prices": {},
            "invoiceitems": {},
            "invoices": {},
            "invoice_lines": {},
            "invoice_private": {},
            "payment_intents": {},
            "charges": {},
            "balance_transactions": {},
            "refunds": {},
            "invoice_payments": {},
            "subscriptions": {},
            "subscription_private": {},
        }

    @property
    def secret_key(self) -> str:
        """The first accepted secret key (the one handed out in :meth:`connection`)."""
        return self.settings.api_keys[0]

    def connection(self, base_url: str) -> dict[str, Any]:
        """A ``stripe`` connection: the secret key as password, ``api_base`` pointing here."""
        return {
            "conn_type": "stripe",
            "password": self.secret_key,
            "extra": {
                "api_base": base_url.rstrip("/"),
                "webhook_secret": self.settings.webhook_secret,
            },
        }

    def register_routes(self, app: FastAPI) -> None:
        """Mount the admin settings route and every resource (see :meth:`register_resources`)."""
        self._register_admin(app)
        self.register_resources(StripeApi(self, app))

    def register_resources(self, api: StripeApi) -> None:
        """Mount the resources; subclasses add theirs after calling ``super()``."""
        register_customers(api)
        register_balance(api)
        register_catalog(api)
        register_billing(api)
        register_payments(api)
        register_subscriptions(api)
        register_events(api)

    def build_app(self) -> FastAPI:
        """The base app plus a catch-all answering unknown ``/v1`` URLs like Stripe."""
        app = super().build_app()
        api = StripeApi(self, app)
        for method in ("GET", "POST", "DELETE"):
            api.route(method, "/v1/{rest:path}", self._unrecognized)
        return app

    def reset_state(self) -> None:
        """Also forget stored idempotent responses, the rate windows, the request counters, the search
        index, webhook deliveries and changed settings."""
        self.idempotency.clear()
        self.rate_limiter.reset()
        self.stats.reset()
        self.search_index.clear()
        self._creation_orders.clear()
        self.webhooks.reset()
        self.settings = self._initial_settings.model_copy(deep=True)

    # -- helpers for resources ------------------------------------------------------------------

    def timestamp(self) -> int:
        """The sandbox clock as Unix seconds (``created`` of new objects)."""
        return int(self.clock.time())

    def emit_event(
        self,
        type: str,
        obj: Mapping[str, Any],
        previous_attributes: Mapping[str, Any] | None = None,
    ) -> dict[str, Any]:
        """Record an event about ``obj`` (``customer.created`` ...) and notify the listeners.

        The event carries the id and idempotency key of the request being handled (``None`` for
        events the stand-in makes on its own, such as a payment through :meth:`pay_invoice`), the
        API version it was made with, and ``pending_webhooks: 1`` while a webhook URL is set.
        ``data.object`` is a deep copy: later changes to the object do not alter the event.

        :return: a copy of the stored event.
        """
        return clone(self.record_event(type, clone(dict(obj)), clone_or_none(previous_attributes)))

    def record_event(
        self, type: str, obj: dict[str, Any], previous_attributes: dict[str, Any] | None = None
    ) -> dict[str, Any]:
        """:meth:`emit_event` for callers that hand over private copies of ``obj`` and
        ``previous_attributes`` (nothing else may change them afterwards; no copy is made).

        :return: the stored event itself (do not change it).
        """
        request = current_request()
        data: dict[str, Any] = {"object": obj}
        if previous_attributes is not None:
            data["previous_attributes"] = previous_attributes
        event: dict[str, Any] = {
            "id": new_id("evt"),
            "object": "event",
            "account": request.account if request else None,
            "api_version": request.stripe_version if request else self.settings.default_api_version,
            "context": None,
            "created": self.timestamp(),
            "data": data,
            "livemode": False,
            "pending_webhooks": 1 if self.settings.webhook_url else 0,
            "request": {
                "id": request.request_id if request else None,
                "idempotency_key": request.idempotency_key if request else None,
            },
            "type": type,
        }
        with self.state as db:
            db["events"].append(event)
        for listener in list(self.event_listeners):
            # the webhook sender copies what it queues; other listeners get a copy of their own
            listener(event if listener == self.webhooks.on_event else clone(event))
        return event

    def index_for_search(
        self, kind: str, object_id: str, obj: Mapping[str, Any] | None, *, owned: bool = False
    ) -> None:
        """Hand the current version of an object to the search index (:mod:`.searchindex`).

        A create or update becomes searchable after ``settings.search_lag`` seconds of sandbox time,
        a delete after ``settings.search_delete_lag``; until then search shows the previous
        version (contract Appendix S "Search is eventually consistent").

        :param obj: the object, or ``None`` when it was deleted.
        :param owned: ``obj`` is a copy nothing will change; the index keeps it instead of copying.
        """
        lag = self.settings.search_lag if obj is not None else self.settings.search_delete_lag
        version = None if obj is None else (dict(obj) if owned else clone(dict(obj)))
        now = self.clock.time()
        self.search_index.put(kind, object_id, version, now + lag, now=now)

    def searchable(self, kind: str) -> list[dict[str, Any]]:
        """Copies of the objects of ``kind`` as search currently sees them (creation order)."""
        return clone(self.search_index.visible(kind, self.clock.time()))

    def search(self, kind: str, query: SearchQuery) -> list[dict[str, Any]]:
        """The objects of ``kind`` search finds for ``query`` now, newest first.

        Not copied: the caller copies what it returns (see :func:`.listing.search_page`).
        """
        return self.search_index.search(kind, query, self.clock.time())

    def creation_order(self, kind: str) -> CreationOrder:
        """The :class:`~.cursor.CreationOrder` of the collection of ``kind`` (use it while holding the
        state lock; it catches up with the collection on use). Customers are also indexed by
        ``email``, the exact filter of ``GET /v1/customers``."""
        order = self._creation_orders.get(kind)
        if order is None:
            indexed = "email" if kind == "customer" else None
            order = self._creation_orders[kind] = CreationOrder(created_field(kind), indexed)
        return order

    # -- in-process helpers for tests and the demo ----------------------------------------------

    def objects(self, kind: str, *, include_deleted: bool = False) -> list[dict[str, Any]]:
        """Copies of the stored objects of ``kind`` (``"invoice"``, ``"charge"`` ...; see
        :data:`~.store.COLLECTIONS`) in creation order, as the API would show them now.

        :param include_deleted: also deleted ones, as ``{"id", "object", "deleted", ...}``.
        """
        now = self.clock.time()
        with self.state as db:
            return [
                snapshot(kind, obj, now)
                for obj in db[COLLECTIONS[kind]].values()
                if include_deleted or not obj.get("deleted")
            ]

    def customers(self, *, include_deleted: bool = False) -> list[dict[str, Any]]:
        """Customers in creation order (deleted ones as ``{"id", "object", "deleted"}`` if asked)."""
        return self.objects("customer", include_deleted=include_deleted)

    def find_customers(self, metadata_key: str, value: str) -> list[dict[str, Any]]:
        """Live customers whose ``metadata[metadata_key] == value``, in creation order."""
        return [c for c in self.customers() if c.get("metadata", {}).get(metadata_key) == value]

    def events(self, type: str | None = None) -> list[dict[str, Any]]:
        """Emitted events, oldest first, optionally of one ``type`` (retention does not apply here)."""
        with self.state as db:
            return [clone(e) for e in db["events"] if type is None or e["type"] == type]

    def mark_event_delivered(self, event_id: str) -> None:
        """A webhook endpoint accepted the event: ``pending_webhooks`` drops to 0."""
        with self.state as db:
            for event in db["events"]:
                if event["id"] == event_id:
                    event["pending_webhooks"] = 0

    def pay_invoice(self, invoice_id: str, *, payment_method: str = "pm_card_visa") -> dict[str, Any]:
        """Pay an invoice the way a customer does on its hosted page (events carry no request).

        A draft is finalized first. The payment goes through the same path as
        ``POST /v1/invoices/{id}/pay`` (PaymentIntent, Charge, BalanceTransaction, InvoicePayment).

        :param payment_method: a test payment method (``pm_card_visa``, ``pm_card_chargeDeclined`` ...).
        :return: the invoice afterwards.
        :raises StripeAPIError: 402 ``card_error`` when declined (the failed charge is kept), 404 for
            an unknown invoice, 400 when it cannot be paid.
        """
        with operation(self) as op:
            invoice = find(op.db, "invoice", invoice_id)
            outcome = pay_invoice_in(op, invoice, payment_method=payment_method)
            if outcome is not None and not outcome.succeeded:
                raise card_error(outcome)
            return clone(invoice)

    def advance_subscription(self, subscription_id: str) -> dict[str, Any]:
        """Move a subscription one billing interval forward and bill the new period.

        The period moves whatever the sandbox clock says; the renewal invoice
        (``billing_reason: subscription_cycle``) is finalized and, for ``charge_automatically``,
        paid with the subscription's default payment method (see :mod:`.subscriptions`).

        :return: the renewal invoice.
        """
        return advance_subscription_in(self, subscription_id)

    def products(self) -> list[dict[str, Any]]:
        """Products in creation order."""
        return self.objects("product")

    def prices(self) -> list[dict[str, Any]]:
        """Prices in creation order (inline ``price_data`` prices included)."""
        return self.objects("price")

    def invoice_items(self) -> list[dict[str, Any]]:
        """Live invoice items in creation order."""
        return self.objects("invoiceitem")

    def invoices(self) -> list[dict[str, Any]]:
        """Live (not deleted) invoices in creation order."""
        return self.objects("invoice")

    def invoice_payments(self) -> list[dict[str, Any]]:
        """Invoice payments in creation order."""
        return self.objects("invoice_payment")

    def payment_intents(self) -> list[dict[str, Any]]:
        """Payment intents in creation order."""
        return self.objects("payment_intent")

    def charges(self) -> list[dict[str, Any]]:
        """Charges (succeeded and failed) in creation order."""
        return self.objects("charge")

    def refunds(self) -> list[dict[str, Any]]:
        """Refunds in creation order."""
        return self.objects("refund")

    def subscriptions(self) -> list[dict[str, Any]]:
        """Subscriptions (canceled ones included) in creation order."""
        return self.objects("subscription")

    def balance_transactions(self) -> list[dict[str, Any]]:
        """Balance transactions in creation order, ``status`` as of the sandbox clock."""
        return self.objects("balance_transaction")

    def signed_delivery(
        self, event: Mapping[str, Any], *, secret: str | None = None, timestamp: int | None = None
    ) -> tuple[bytes, dict[str, str]]:
        """The body bytes and headers a webhook delivery of ``event`` carries (see :mod:`.webhooks`).

        :param secret: sign with another secret (default ``settings.webhook_secret``).
        :param timestamp: the signature's ``t`` (default: the sandbox clock now).
        """
        return self.webhooks.signed_delivery(event, secret=secret, timestamp=timestamp)

    def webhook_deliveries(self) -> list[dict[str, Any]]:
        """Every webhook delivery attempt, oldest first (see :meth:`.WebhookSender.deliveries`)."""
        return self.webhooks.deliveries()

    def redeliver_webhooks(self, *, times: int = 1, event_ids: Iterable[str] | None = None) -> int:
        """Queue every stored event (or those named) for delivery again, ``times`` times over."""
        return self.webhooks.redeliver(times=times, event_ids=event_ids)

    def wait_for_webhooks(self, timeout: float = 10.0) -> bool:
        """Block until queued deliveries were attempted; ``False`` on timeout."""
        return self.webhooks.wait(timeout)

    # -- internals ------------------------------------------------------------------------------

    def _unrecognized(self, request: Any) -> dict[str, Any]:
        raise unrecognized_url(request.method, request.path)

    def _register_admin(self, app: FastAPI) -> None:
        system = self

        def stripe_error(error: StripeAPIError) -> JSONResponse:
            return JSONResponse(error.body(), status_code=error.status)

        @app.post(f"{ADMIN_PREFIX}/stripe/invoices/{{invoice_id}}/pay", include_in_schema=False)
        def pay_invoice(invoice_id: str, options: dict[str, Any] | None = Body(default=None)) -> Any:
            method = str((options or {}).get("payment_method") or "pm_card_visa")
            try:
                return system.pay_invoice(invoice_id, payment_method=method)
            except StripeAPIError as error:
                return stripe_error(error)

        @app.post(f"{ADMIN_PREFIX}/stripe/subscriptions/{{subscription_id}}/cycle", include_in_schema=False)
        def cycle_subscription(subscription_id: str) -> Any:
            try:
                return system.advance_subscription(subscription_id)
            except StripeAPIError as error:
                return stripe_error(error)

        @app.post(f"{ADMIN_PREFIX}/stripe/webhooks/redeliver", include_in_schema=False)
        def redeliver(options: dict[str, Any] | None = Body(default=None)) -> dict[str, Any]:
            chosen = options or {}
            try:
                queued = system.redeliver_webhooks(
                    times=int(chosen.get("times", 1)), event_ids=chosen.get("event_ids")
                )
            except (TypeError, ValueError) as exc:
                raise HTTPException(status_code=400, detail=str(exc)) from exc
            return {"queued": queued}

        @app.get(f"{ADMIN_PREFIX}/stripe/webhooks/deliveries", include_in_schema=False)
        def deliveries() -> list[dict[str, Any]]:
            return system.webhook_deliveries()

        @app.get(f"{ADMIN_PREFIX}/stripe/stats", include_in_schema=False)
        def read_stats() -> dict[str, Any]:
            return system.stats.snapshot()

        @app.post(f"{ADMIN_PREFIX}/stripe/stats/reset", include_in_schema=False)
        def reset_stats() -> dict[str, Any]:
            system.stats.reset()
            return system.stats.snapshot()

        @app.get(f"{ADMIN_PREFIX}/stripe/settings", include_in_schema=False)
        def read_settings() -> dict[str, Any]:
            return system.settings.model_dump(mode="json")

        @app.post(f"{ADMIN_PREFIX}/stripe/settings", include_in_schema=False)
        def change_settings(changes: dict[str, Any] = Body(...)) -> dict[str, Any]:
            try:
                system.settings = StripeSandboxSettings.model_validate(
                    {**system.settings.model_dump(), **changes}
                )
            except ValidationError as exc:
                raise HTTPException(status_code=400, detail=exc.errors(include_url=False)) from exc
            return system.settings.model_dump(mode="json")
