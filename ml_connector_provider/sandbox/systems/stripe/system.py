"""The Stripe stand-in: state, events, search index, settings and route registration."""

from __future__ import annotations

import copy
from collections.abc import Callable, Mapping, Sequence
from typing import Any, ClassVar

from fastapi import Body, FastAPI, HTTPException
from pydantic import ValidationError

from ml_connector_provider.sandbox.base import ADMIN_PREFIX, SandboxClock, SandboxSystem
from ml_connector_provider.sandbox.systems.stripe.api import (
    IdempotencyStore,
    RateLimiter,
    StripeApi,
    current_request,
)
from ml_connector_provider.sandbox.systems.stripe.customers import register_balance, register_customers
from ml_connector_provider.sandbox.systems.stripe.errors import unrecognized_url
from ml_connector_provider.sandbox.systems.stripe.objects import new_id
from ml_connector_provider.sandbox.systems.stripe.settings import StripeSandboxSettings

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
    lists, search, and an optional test-mode rate limiter; see :mod:`.api` for the pipeline.

    Resources of this version: customers (create, retrieve, update, delete, list, search) and
    ``GET /v1/balance``. Every customer write emits an event into ``state["events"]``.

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
        self.event_listeners: list[EventListener] = []
        super().__init__(clock=clock, **kwargs)

    # -- SandboxSystem --------------------------------------------------------------------------

    def seed(self) -> Mapping[str, Any]:
        """Empty account: no customers, no events, a zero balance."""
        return {
            "customers": {},
            "events": [],
            "search_index": {},
            "balance": copy.deepcopy(_EMPTY_BALANCE),
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

    def build_app(self) -> FastAPI:
        """The base app plus a catch-all answering unknown ``/v1`` URLs like Stripe."""
        app = super().build_app()
        api = StripeApi(self, app)
        for method in ("GET", "POST", "DELETE"):
            api.route(method, "/v1/{rest:path}", self._unrecognized)
        return app

    def reset(
        self,
        *,
        state: bool = True,
        tokens: bool = True,
        faults: bool = True,
        requests: bool = True,
        clock: bool = True,
    ) -> None:
        """Also forget stored idempotent responses, the rate window and changed settings."""
        super().reset(state=state, tokens=tokens, faults=faults, requests=requests, clock=clock)
        if state:
            self.idempotency.clear()
            self.rate_limiter.reset()
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

        The event carries the id and idempotency key of the request being handled, and the API
        version it was made with.
        """
        request = current_request()
        data: dict[str, Any] = {"object": copy.deepcopy(dict(obj))}
        if previous_attributes is not None:
            data["previous_attributes"] = copy.deepcopy(dict(previous_attributes))
        event: dict[str, Any] = {
            "id": new_id("evt"),
            "object": "event",
            "account": request.account if request else None,
            "api_version": request.stripe_version if request else self.settings.default_api_version,
            "context": None,
            "created": self.timestamp(),
            "data": data,
            "livemode": False,
            "pending_webhooks": 0,
            "request": {
                "id": request.request_id if request else None,
                "idempotency_key": request.idempotency_key if request else None,
            },
            "type": type,
        }
        with self.state as db:
            db["events"].append(event)
        for listener in list(self.event_listeners):
            listener(copy.deepcopy(event))
        return copy.deepcopy(event)

    def index_for_search(self, kind: str, object_id: str, obj: Mapping[str, Any] | None) -> None:
        """Make the current version of an object searchable after ``settings.search_lag`` seconds.

        :param obj: the object, or ``None`` when it was deleted.
        """
        visible_at = self.clock.time() + self.settings.search_lag
        with self.state as db:
            versions = db["search_index"].setdefault(kind, {}).setdefault(object_id, [])
            versions.append([visible_at, None if obj is None else copy.deepcopy(dict(obj))])

    def searchable(self, kind: str) -> list[dict[str, Any]]:
        """The objects of ``kind`` as search currently sees them (creation order)."""
        now = self.clock.time()
        found: list[dict[str, Any]] = []
        with self.state as db:
            for versions in db["search_index"].get(kind, {}).values():
                visible = [doc for visible_at, doc in versions if visible_at <= now]
                if visible and visible[-1] is not None:
                    found.append(copy.deepcopy(visible[-1]))
        return found

    # -- in-process helpers for tests and the demo ----------------------------------------------

    def customers(self, *, include_deleted: bool = False) -> list[dict[str, Any]]:
        """Customers in creation order (deleted ones as ``{"id", "object", "deleted"}`` if asked)."""
        with self.state as db:
            return [
                copy.deepcopy(c) for c in db["customers"].values() if include_deleted or not c.get("deleted")
            ]

    def find_customers(self, metadata_key: str, value: str) -> list[dict[str, Any]]:
        """Live customers whose ``metadata[metadata_key] == value``, in creation order."""
        return [c for c in self.customers() if c.get("metadata", {}).get(metadata_key) == value]

    def events(self, type: str | None = None) -> list[dict[str, Any]]:
        """Emitted events, oldest first, optionally of one ``type``."""
        with self.state as db:
            return [copy.deepcopy(e) for e in db["events"] if type is None or e["type"] == type]

    # -- internals ------------------------------------------------------------------------------

    def _unrecognized(self, request: Any) -> dict[str, Any]:
        raise unrecognized_url(request.method, request.path)

    def _register_admin(self, app: FastAPI) -> None:
        system = self

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
