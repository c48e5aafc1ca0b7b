"""The request pipeline every Stripe route goes through.

:class:`StripeApi` mounts plain handler functions on the FastAPI app and wraps each call in what
the real API does around every operation, in this order:

1. a ``Request-Id`` (``req_…``), echoed ``Stripe-Version`` (checked for shape);
2. authentication: ``Authorization: Bearer <secret key>`` or Basic with the key as user name;
   missing or unknown keys → 401 with Stripe's error body; a restricted key
   (``settings.restricted_keys``) without the permission a request needs → 403 (:mod:`.permissions`);
3. the optional rate limiters (429 ``rate_limit``): ``settings.rate_limit`` for every request
   and ``settings.search_rate_limit`` for ``/v1/*/search``, per account, each at most N
   admitted requests in any sliding 1-second window (see :class:`RateLimiter`);
4. parameters: the query string, plus the form body for POST, decoded with bracket nesting
   (:mod:`.forms`);
5. idempotency for POST (contract A4): the first response per ``Idempotency-Key`` (scoped to the
   key and the ``Stripe-Account``) is stored with its status and replayed for 24 h (sandbox
   clock) with ``Idempotent-Replayed: true``; other parameters → 400 ``idempotency_error``;
   a request still in flight → 409; refusals during parameter validation are not stored;
6. the handler, which returns the object (a dict) or raises
   :class:`~.errors.StripeAPIError`; unexpected exceptions become a stored 500 ``api_error``.

Every request is counted in :class:`RequestStats` (``GET /__sandbox__/stripe/stats``).

A handler receives a :class:`StripeRequest`. While it runs, :func:`current_request` returns that
request (events record its id and idempotency key).

Framework faults (429, 503, drops, delays, timeouts) are applied by the sandbox middleware
*before* this pipeline, so they hit every route, and a ``process=True`` fault lets the pipeline
store the real response before the client loses it.
"""

from __future__ import annotations

import contextvars
import json
import logging
import re
import threading
import time
from collections import deque
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any, Literal

import anyio
from starlette.requests import Request
from starlette.responses import Response

from ml_connector_sandbox.auth import AuthFailure, ResponseError, parse_basic_auth
from ml_connector_sandbox.systems.stripe.errors import (
    StripeAPIError,
    api_error,
    idempotency_conflict,
    idempotency_mismatch,
    invalid_api_key,
    invalid_request,
    missing_api_key,
    rate_limited,
)
from ml_connector_sandbox.systems.stripe.forms import FormError, parse_form
from ml_connector_sandbox.systems.stripe.objects import new_id
from ml_connector_sandbox.systems.stripe.permissions import missing_permission

if TYPE_CHECKING:
    from fastapi import FastAPI

    from ml_connector_sandbox.systems.stripe.system import StripeSandbox

__all__ = [
    "Handler",
    "IdempotencyStore",
    "RateLimiter",
    "RequestStats",
    "StoredResponse",
    "StripeApi",
    "StripeRequest",
    "StripeResponse",
    "current_request",
]

log = logging.getLogger(__name__)

_VERSION_RE = re.compile(r"^\d{4}-\d{2}-\d{2}(\.[a-z]+)?$")
MAX_IDEMPOTENCY_KEY_LENGTH = 255


@dataclass(frozen=True)
class StripeRequest:
    """One authenticated request, as handed to a route handler."""

    method: str
    path: str
    path_params: Mapping[str, str]
    params: dict[str, Any]
    api_key: str
    account: str | None
    stripe_version: str
    request_id: str
    idempotency_key: str | None
    headers: Mapping[str, str]

    @property
    def expand(self) -> list[str]:
        """The ``expand[]`` paths asked for (``[]`` when none)."""
        value = self.params.get("expand")
        return [str(item) for item in value] if isinstance(value, list) else []


@dataclass
class StripeResponse:
    """A handler's answer when it is not a plain ``200`` object."""

    body: Mapping[str, Any]
    status: int = 200
    headers: dict[str, str] = field(default_factory=dict)


Handler = Callable[[StripeRequest], "Mapping[str, Any] | StripeResponse"]
"""A route handler: the request in, the object (or a :class:`StripeResponse`) out."""

_current: contextvars.ContextVar[StripeRequest | None] = contextvars.ContextVar(
    "stripe_sandbox_request", default=None
)


def current_request() -> StripeRequest | None:
    """The request whose handler is running, or ``None`` outside a handler."""
    return _current.get()


# -- idempotency -------------------------------------------------------------------------------


@dataclass
class StoredResponse:
    """An idempotency key's record: what the first request was and what it got."""

    key: str
    method: str
    path: str
    params: dict[str, Any]
    created_at: float
    request_id: str
    status: int | None = None
    body: bytes | None = None

    @property
    def in_flight(self) -> bool:
        """Whether the first request is still running."""
        return self.status is None


class IdempotencyStore:
    """Stored responses per (scope, idempotency key), pruned after ``ttl`` seconds.

    Entries are kept in the order they were claimed, so expired ones are dropped from the front as
    new keys arrive (the SDK sends a fresh key with every POST; the store must not grow forever).
    """

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._entries: dict[tuple[str, str], StoredResponse] = {}

    def _prune(self, now: float, ttl: float) -> None:
        while self._entries:
            oldest_key = next(iter(self._entries))
            oldest = self._entries[oldest_key]
            if now - oldest.created_at < ttl or oldest.in_flight:
                return
            del self._entries[oldest_key]

    def begin(
        self,
        scope: str,
        entry: StoredResponse,
        *,
        now: float,
        ttl: float,
    ) -> tuple[Literal["new", "replay", "mismatch", "in_flight"], StoredResponse]:
        """Claim ``entry.key`` for a new request, or report what an earlier one left."""
        with self._lock:
            self._prune(now, ttl)
            existing = self._entries.get((scope, entry.key))
            if existing is not None and now - existing.created_at >= ttl:
                existing = None
            if existing is None:
                self._entries.pop((scope, entry.key), None)  # a renewed key moves to the end
                self._entries[(scope, entry.key)] = entry
                return "new", entry
            if (existing.method, existing.path, existing.params) != (entry.method, entry.path, entry.params):
                return "mismatch", existing
            if existing.in_flight:
                return "in_flight", existing
            return "replay", existing

    def finish(self, scope: str, entry: StoredResponse, status: int, body: bytes) -> None:
        """Store the first request's response."""
        with self._lock:
            entry.status = status
            entry.body = body
            self._entries[(scope, entry.key)] = entry

    def abandon(self, scope: str, entry: StoredResponse) -> None:
        """Forget a claim whose request must not be stored (refused during validation)."""
        with self._lock:
            if self._entries.get((scope, entry.key)) is entry:
                del self._entries[(scope, entry.key)]

    def get(self, key: str, scope: str | None = None) -> StoredResponse | None:
        """The record of ``key`` (in ``scope``, or in any scope)."""
        with self._lock:
            for (entry_scope, entry_key), entry in self._entries.items():
                if entry_key == key and (scope is None or scope == entry_scope):
                    return entry
        return None

    def __len__(self) -> int:
        with self._lock:
            return len(self._entries)

    def clear(self) -> None:
        """Forget everything."""
        with self._lock:
            self._entries.clear()


class RateLimiter:
    """Sliding one-second windows of admitted requests, one per (limit name, account).

    A request is admitted when every window it counts against holds fewer requests than its
    limit; it is then recorded in all of them (so at most N admitted requests fall in any
    1-second interval of each window). Refused requests are not recorded. Times are
    :func:`time.monotonic` (the wall clock, not the sandbox clock).
    """

    WINDOW = 1.0
    """Seconds of each window."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._windows: dict[tuple[str, str], deque[float]] = {}

    def admit(self, account: str, limits: Sequence[tuple[str, int]]) -> str | None:
        """Admit one request of ``account`` against ``limits`` (``(name, requests per second)``).

        :return: ``None`` when admitted, else the name of the first limit it would exceed.
        """
        now = time.monotonic()
        with self._lock:
            windows = []
            for name, limit in limits:
                window = self._windows.setdefault((name, account), deque())
                while window and window[0] <= now - self.WINDOW:
                    window.popleft()
                if len(window) >= limit:
                    return name
                windows.append(window)
            for window in windows:
                window.append(now)
            return None

    def allow(self, limit: int, account: str = "") -> bool:
        """Admit one more request unless ``limit`` were admitted in the last second (global window)."""
        return self.admit(account, [("global", limit)]) is None

    def reset(self) -> None:
        """Empty every window."""
        with self._lock:
            self._windows.clear()


class RequestStats:
    """Counters for benchmarks, served at ``GET /__sandbox__/stripe/stats``.

    Constant memory: counts per route template (``POST /v1/invoices/{id}/finalize``) and per
    status, 429s sent by the stand-in's own limiters, and the wall-clock time of the first and
    last request. Framework faults (:mod:`ml_connector_sandbox.faults`) answer before the
    pipeline and are not counted here (they are in the request log).
    """

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self.reset()

    def reset(self) -> None:
        """Back to zero."""
        with self._lock:
            self.requests = 0
            self.by_route: dict[str, int] = {}
            self.by_status: dict[int, int] = {}
            self.rate_limited = 0
            self.rate_limited_by_limit: dict[str, int] = {}
            self.first_request_at: float | None = None
            self.last_request_at: float | None = None

    def arrived(self, route: str) -> None:
        """Count a request to ``route`` (method and path template)."""
        now = time.time()
        with self._lock:
            self.requests += 1
            self.by_route[route] = self.by_route.get(route, 0) + 1
            if self.first_request_at is None:
                self.first_request_at = now
            self.last_request_at = now

    def answered(self, status: int) -> None:
        """Count an answer with ``status``."""
        with self._lock:
            self.by_status[status] = self.by_status.get(status, 0) + 1

    def limited(self, limit: str) -> None:
        """Count a 429 sent by the limiter named ``limit`` (``global`` or ``search``)."""
        with self._lock:
            self.rate_limited += 1
            self.rate_limited_by_limit[limit] = self.rate_limited_by_limit.get(limit, 0) + 1

    def snapshot(self) -> dict[str, Any]:
        """The counters as JSON: ``requests``, ``by_route``, ``by_status``, ``rate_limited`` (429s
        sent), ``rate_limited_by_limit``, ``first_request_at`` / ``last_request_at`` (Unix seconds,
        wall clock) and ``elapsed`` between them."""
        with self._lock:
            first, last = self.first_request_at, self.last_request_at
            return {
                "requests": self.requests,
                "by_route": dict(sorted(self.by_route.items())),
                "by_status": {str(status): count for status, count in sorted(self.by_status.items())},
                "rate_limited": self.rate_limited,
                "rate_limited_by_limit": dict(self.rate_limited_by_limit),
                "first_request_at": first,
                "last_request_at": last,
                "elapsed": None if first is None or last is None else last - first,
            }


# -- the pipeline ------------------------------------------------------------------------------


def _json_bytes(body: Mapping[str, Any]) -> bytes:
    # compact, so that the C encoder does the work (``indent`` falls back to the pure-Python one,
    # a hot spot under load); Stripe pretty-prints, which no client depends on
    return json.dumps(body).encode()


class StripeApi:
    """Mounts Stripe handlers on an app and runs them through the pipeline described above.

    :param system: the stand-in (settings, clock, idempotency store, rate limiter).
    :param app: the FastAPI app being built.
    """

    def __init__(self, system: StripeSandbox, app: FastAPI) -> None:
        self.system = system
        self.app = app
        self._auth = system.require_bearer(
            basic=lambda user, _password: system.settings.accepts_key(user),
            accept_token=lambda token: token if system.settings.accepts_key(token) else None,
            unauthorized=self._unauthorized,
            realm="Stripe",
        )

    # -- registration ---------------------------------------------------------------------------

    def route(self, method: str, path: str, handler: Handler) -> None:
        """Serve ``handler`` at ``method path`` (Starlette path syntax: ``/v1/customers/{id}``).

        Register fixed paths (``/v1/customers/search``) before templated ones.
        """

        label = f"{method.upper()} {path}"
        search = method.upper() == "GET" and path.startswith("/v1/") and path.endswith("/search")

        async def endpoint(request: Request) -> Response:
            return await self.handle(request, handler, route=label, search=search)

        self.app.add_route(path, endpoint, methods=[method.upper()], include_in_schema=False)

    def get(self, path: str) -> Callable[[Handler], Handler]:
        """Decorator form of :meth:`route` for GET."""
        return self._decorator("GET", path)

    def post(self, path: str) -> Callable[[Handler], Handler]:
        """Decorator form of :meth:`route` for POST."""
        return self._decorator("POST", path)

    def delete(self, path: str) -> Callable[[Handler], Handler]:
        """Decorator form of :meth:`route` for DELETE."""
        return self._decorator("DELETE", path)

    def _decorator(self, method: str, path: str) -> Callable[[Handler], Handler]:
        def register(handler: Handler) -> Handler:
            self.route(method, path, handler)
            return handler

        return register

    # -- rendering ------------------------------------------------------------------------------

    def _base_headers(self, request: Request) -> dict[str, str]:
        headers = {
            "Request-Id": request.state.stripe_request_id,
            "Stripe-Version": request.state.stripe_version,
        }
        key = request.headers.get("idempotency-key")
        if key is not None and request.method == "POST":
            headers["Idempotency-Key"] = key
        return headers

    def render_error(self, request: Request, error: StripeAPIError) -> tuple[Response, bytes]:
        """The response for ``error`` (and its body bytes, for the idempotency store)."""
        # the canonical 401 bodies carry no request_log_url (contract A3)
        body = _json_bytes(error.body(request.state.stripe_request_id, log_url=error.status != 401))
        headers = self._base_headers(request)
        if error.should_retry is not None:
            headers["Stripe-Should-Retry"] = "true" if error.should_retry else "false"
        headers.update(error.headers)
        return Response(body, status_code=error.status, headers=headers, media_type="application/json"), body

    def _unauthorized(self, failure: AuthFailure, request: Request) -> Response:
        header = request.headers.get("authorization", "").strip()
        scheme, _, credentials = header.partition(" ")
        if failure.reason == "missing":
            error = missing_api_key()
        elif scheme.lower() == "basic":
            decoded = parse_basic_auth(header)
            error = invalid_api_key(decoded[0] if decoded else credentials.strip())
        else:
            error = invalid_api_key(credentials.strip() or header)
        response, _ = self.render_error(request, error)
        return response

    # -- handling -------------------------------------------------------------------------------

    async def handle(
        self, request: Request, handler: Handler, *, route: str | None = None, search: bool = False
    ) -> Response:
        """Run one request through the pipeline (and count it in ``system.stats``).

        :param route: the route's method and path template, for the counters.
        :param search: whether it is a search request (``settings.search_rate_limit`` applies).
        """
        stats = self.system.stats
        stats.arrived(route or f"{request.method} {request.url.path}")
        response = await self._handle(request, handler, search)
        stats.answered(response.status_code)
        return response

    def _rate_limit(self, account: str | None, search: bool) -> None:
        """429 when a limiter refuses (contract A5; see ``StripeSandboxSettings.rate_limit``)."""
        settings = self.system.settings
        limits: list[tuple[str, int]] = []
        if settings.rate_limit is not None:
            limits.append(("global", settings.rate_limit))
        if search and settings.search_rate_limit is not None:
            limits.append(("search", settings.search_rate_limit))
        if not limits:
            return
        refused_by = self.system.rate_limiter.admit(account or "", limits)
        if refused_by is None:
            return
        self.system.stats.limited(refused_by)
        reason = settings.search_rate_limit_reason if refused_by == "search" else settings.rate_limit_reason
        raise rate_limited(should_retry=settings.rate_limit_should_retry, reason=reason)

    async def _handle(self, request: Request, handler: Handler, search: bool) -> Response:
        settings = self.system.settings
        request.state.stripe_request_id = new_id("req")
        version = request.headers.get("stripe-version") or settings.default_api_version
        request.state.stripe_version = version

        try:
            principal = self._auth(request)
        except ResponseError as refused:
            return refused.response
        try:
            if not _VERSION_RE.match(version):
                request.state.stripe_version = settings.default_api_version
                raise invalid_request(f"Invalid Stripe API version: {version}")
            self._rate_limit(request.headers.get("stripe-account") or None, search)
            grants = settings.restricted_keys.get(principal.subject)
            if grants is not None:
                denied = missing_permission(
                    principal.subject,
                    grants,
                    request.method,
                    request.url.path,
                    request.headers.get("stripe-account") or None,
                )
                if denied is not None:
                    raise denied
            params = parse_form(request.url.query)
            if request.method == "POST":
                params.update(parse_form(await request.body()))
        except FormError as exc:
            return self.render_error(request, invalid_request(exc.message, param=exc.param))[0]
        except StripeAPIError as exc:
            return self.render_error(request, exc)[0]

        api_key = principal.subject
        account = request.headers.get("stripe-account") or None
        idempotency_key = request.headers.get("idempotency-key") if request.method == "POST" else None
        stripe_request = StripeRequest(
            method=request.method,
            path=request.url.path,
            path_params=dict(request.path_params),
            params=params,
            api_key=api_key,
            account=account,
            stripe_version=request.state.stripe_version,
            request_id=request.state.stripe_request_id,
            idempotency_key=idempotency_key,
            headers=dict(request.headers),
        )
        if idempotency_key is None:
            return self._execute(request, stripe_request, handler)[0]
        return await self._execute_idempotent(request, stripe_request, handler, idempotency_key)

    async def _execute_idempotent(
        self, request: Request, stripe_request: StripeRequest, handler: Handler, key: str
    ) -> Response:
        settings = self.system.settings
        if len(key) > MAX_IDEMPOTENCY_KEY_LENGTH:
            error = invalid_request(
                f"Idempotency-Key must be at most {MAX_IDEMPOTENCY_KEY_LENGTH} characters long.",
                param="Idempotency-Key",
            )
            return self.render_error(request, error)[0]
        scope = f"{stripe_request.api_key}|{stripe_request.account or ''}"
        claim = StoredResponse(
            key=key,
            method=stripe_request.method,
            path=stripe_request.path,
            params=stripe_request.params,
            created_at=self.system.clock.time(),
            request_id=stripe_request.request_id,
        )
        verdict, entry = self.system.idempotency.begin(
            scope, claim, now=claim.created_at, ttl=settings.idempotency_ttl
        )
        if verdict == "mismatch":
            return self.render_error(request, idempotency_mismatch(key))[0]
        if verdict == "in_flight":
            conflict = idempotency_conflict(
                key, status=settings.idempotency_conflict_status, type=settings.idempotency_conflict_type
            )
            return self.render_error(request, conflict)[0]
        if verdict == "replay":
            assert entry.status is not None
            assert entry.body is not None
            headers = self._base_headers(request)
            headers["Idempotent-Replayed"] = "true"
            headers["Original-Request"] = entry.request_id
            return Response(
                entry.body, status_code=entry.status, headers=headers, media_type="application/json"
            )

        try:
            if settings.write_latency:
                await anyio.sleep(settings.write_latency)
            response, body, validation = self._execute(request, stripe_request, handler)
        except BaseException:
            self.system.idempotency.abandon(scope, claim)
            raise
        if validation and not settings.idempotency_store_validation_errors:
            self.system.idempotency.abandon(scope, claim)
        else:
            self.system.idempotency.finish(scope, claim, response.status_code, body)
        return response

    def _execute(
        self, request: Request, stripe_request: StripeRequest, handler: Handler
    ) -> tuple[Response, bytes, bool]:
        token = _current.set(stripe_request)
        try:
            result = handler(stripe_request)
        except StripeAPIError as exc:
            response, body = self.render_error(request, exc)
            return response, body, exc.validation
        except Exception:
            log.exception("Stripe sandbox handler failed: %s %s", stripe_request.method, stripe_request.path)
            response, body = self.render_error(request, api_error())
            return response, body, False
        finally:
            _current.reset(token)
        if isinstance(result, StripeResponse):
            status, payload, extra_headers = result.status, result.body, result.headers
        else:
            status, payload, extra_headers = 200, result, {}
        body = _json_bytes(payload)
        headers = {**self._base_headers(request), **extra_headers}
        return Response(body, status_code=status, headers=headers, media_type="application/json"), body, False
