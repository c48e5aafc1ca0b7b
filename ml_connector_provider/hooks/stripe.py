"""Hook for the Stripe API, built on the official ``stripe`` SDK (``StripeClient``).

The hook owns authentication and transport: it builds one :class:`stripe.StripeClient` from an
Airflow connection of type ``stripe`` and exposes typed methods that return plain ``dict`` objects
(``StripeObject.to_dict()``), so callers never depend on SDK object quirks.

Retries happen at two levels, both with exponential backoff and jitter:

* the SDK (``max_network_retries``, default 2) retries connection errors and timeouts, 409,
  5xx, and any answer carrying ``Stripe-Should-Retry: true``, reusing the request's
  ``Idempotency-Key``;
* the hook retries what the SDK leaves alone although it is safe to repeat — every call it makes
  is a read or a POST with an explicit idempotency key: a connection cut in the middle of a
  response (``requests`` reports it as a ``ChunkedEncodingError``, which the SDK does not retry)
  and a 429 without ``Stripe-Should-Retry`` (honouring ``Retry-After`` when present, up to
  :data:`MAX_RETRY_AFTER`). These retries are the transport's
  :class:`~ml_connector_provider.transport.RetryRunner` under :meth:`StripeHook.retry_policy`,
  with a Stripe predicate (:func:`hook_should_retry`) and :func:`stripe_retry_after`.

Every HTTP attempt — the SDK's retries and the hook's included — first waits for the account's
rate limiter (:mod:`ml_connector_provider.transport.ratelimit`): one limiter per Stripe account
(API base, ``Stripe-Account``, fingerprint of the key) shared by every hook of the worker process,
pacing at ``rate_limit_utilization`` of Stripe's limit (100 requests/s live, 25 in test mode;
searches also take a slot of the 20/s search limit), so a run stays just under the limit instead
of drawing 429s. :attr:`StripeHook.stats` counts calls, attempts, 429s and the time spent waiting.

Errors that concern a single record (Stripe's 400/402/404 answers) become
:class:`StripeRecordError` so the sync engine can dead-letter the record; authentication and
permission errors, exhausted rate limits, 5xx and connection failures propagate and fail the task,
which Airflow retries. ``retrieve_*`` methods answer ``None`` for an object Stripe does not have
(404 ``resource_missing``) or has deleted.

Stripe lists only filter by creation time, so changes come from the Events API
(:meth:`StripeHook.iter_events`, :meth:`StripeHook.events_between`): events are kept
:data:`EVENT_RETENTION` (30 days), listed newest first, and may repeat.
"""

from __future__ import annotations

import functools
import hashlib
import http
import json
import logging
import math
import threading
import time
from collections import Counter
from collections.abc import Callable, Iterable, Iterator, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from functools import cached_property
from typing import Any, TypeVar, cast
from urllib.parse import urlsplit

import requests
from airflow.providers.common.compat.sdk import BaseHook

from ml_connector_provider.extras import missing_extra

try:
    import stripe
except ImportError as _err:
    raise missing_extra("stripe", "The Stripe hook", _err) from _err

from ml_connector_provider.transport import (
    RateLimiter,
    RetryAttempt,
    RetryPolicy,
    RetryRunner,
    acquire_all,
    parse_retry_after,
    redact_text,
    register_secret,
    shared_limiter,
)
from ml_connector_provider.transport.errors import body_excerpt

__all__ = [
    "DEFAULT_MAX_NETWORK_RETRIES",
    "DEFAULT_RATE_LIMIT_UTILIZATION",
    "DEFAULT_TIMEOUT",
    "DEFAULT_WEBHOOK_TOLERANCE",
    "EVENT_RETENTION",
    "LIVE_RATE_LIMIT",
    "MAX_EVENT_TYPES",
    "PACING_BURST",
    "SEARCH_RATE_LIMIT",
    "STRIPE_API_BASE",
    "TEST_RATE_LIMIT",
    "PacedRequestsClient",
    "ReadableHTTPXClient",
    "StripeCallStats",
    "StripeConnectionSettings",
    "StripeHook",
    "StripePacer",
    "StripeRecordError",
    "hook_should_retry",
    "key_fingerprint",
    "readable_answer",
    "route_template",
    "stripe_retry_after",
    "typed_stripe_error",
]

DEFAULT_TIMEOUT = 80.0
"""Seconds per HTTP request when the connection sets no ``timeout`` (the SDK's own default)."""
DEFAULT_MAX_NETWORK_RETRIES = 2
"""Retries per call when the connection sets no ``max_network_retries``."""
MAX_RETRY_AFTER = 30.0
"""Longest ``Retry-After`` the hook waits before retrying a 429."""
RETRY_BASE_DELAY = 0.5
"""First backoff window of the hook's own retries, in seconds (the SDK's initial delay)."""
RETRY_MAX_DELAY = 5.0
"""Largest backoff window of the hook's own retries, in seconds (the SDK's maximum delay)."""
LIST_PAGE_SIZE = 100
"""Page size of the ``iter_*`` methods (Stripe's maximum)."""
EVENT_RETENTION = timedelta(days=30)
"""How long Stripe keeps events retrievable (older ones are gone from ``GET /v1/events``)."""
MAX_EVENT_TYPES = 20
"""Most event names one ``GET /v1/events`` accepts in ``types``."""
DEFAULT_WEBHOOK_TOLERANCE = 300
"""Seconds a webhook signature's timestamp may lag behind the clock (the SDK's default)."""
STRIPE_API_BASE = "https://api.stripe.com"
"""Where the SDK sends requests when the connection sets no ``api_base``."""
LIVE_RATE_LIMIT = 100.0
"""Stripe's global limit in live mode, requests per second per account (extra ``rate_limit``)."""
TEST_RATE_LIMIT = 25.0
"""Stripe's global limit in test mode (``sk_test_…``/``rk_test_…`` keys), requests per second."""
SEARCH_RATE_LIMIT = 20.0
"""Stripe's limit on search requests (``…/search``), per second (extra ``search_rate_limit``)."""
DEFAULT_RATE_LIMIT_UTILIZATION = 0.92
"""Share of the limits the hook paces at (extra ``rate_limit_utilization``): the rest absorbs
network jitter, which can bunch requests sent evenly into the same second at the server."""
PACING_BURST = 1
"""Requests let through at once after an idle spell: 1 spaces every request evenly, which gets
the most out of a server counting requests in any sliding second."""
_TEST_KEY_PREFIXES = ("sk_test_", "rk_test_")

T = TypeVar("T")


class StripeRecordError(Exception):
    """Stripe refused one record for a data reason (400/402/404); dead-letter it, don't fail the run.

    :param message: Stripe's ``error.message``.
    :param param: the parameter Stripe names (``email``, ``metadata[erp_id]`` ...), if any.
    :param code: Stripe's ``error.code`` (``resource_missing``, ``parameter_unknown`` ...), if any.
    :param request_id: the ``req_…`` id of the failed request, for Stripe's request logs.
    :param http_status: the HTTP status of the answer.
    """

    def __init__(
        self,
        message: str,
        param: str | None = None,
        code: str | None = None,
        request_id: str | None = None,
        *,
        http_status: int | None = None,
    ) -> None:
        super().__init__(message)
        self.message = message
        self.param = param
        self.code = code
        self.request_id = request_id
        self.http_status = http_status

    def __str__(self) -> str:
        details = [f"{name}={value}" for name, value in (("param", self.param), ("code", self.code)) if value]
        if self.request_id:
            details.append(f"request {self.request_id}")
        return f"{self.message} ({', '.join(details)})" if details else self.message

    @classmethod
    def from_stripe(cls, error: stripe.StripeError) -> StripeRecordError:
        """Build from an SDK error (``InvalidRequestError``, ``IdempotencyError``, ``CardError``)."""
        code = error.code
        if code is None and isinstance(error, stripe.IdempotencyError):
            code = "idempotency_error"
        return cls(
            error.user_message or str(error),
            param=getattr(error, "param", None),
            code=code,
            request_id=error.request_id,
            http_status=error.http_status,
        )


@dataclass(frozen=True)
class StripeConnectionSettings:
    """What the hook read from its Airflow connection.

    :param api_key: the secret (or restricted) key, from the connection password.
    :param api_base: override of ``https://api.stripe.com`` (extra ``api_base``), no trailing slash.
    :param account_id: ``Stripe-Account`` to act on (extra ``account_id``).
    :param api_version: ``Stripe-Version`` to pin (extra ``api_version``); ``None`` = the SDK's.
    :param max_network_retries: extra ``max_network_retries`` (default 2).
    :param timeout: extra ``timeout`` in seconds (default 80).
    :param webhook_secret: extra ``webhook_secret`` (``whsec_…``), for webhook signature checks.
    :param rate_limit: Stripe's global limit for the account in requests per second (extra
        ``rate_limit``; default :data:`TEST_RATE_LIMIT` for test keys, else
        :data:`LIVE_RATE_LIMIT`); ``0`` turns pacing off.
    :param search_rate_limit: Stripe's search limit per second (extra ``search_rate_limit``,
        default :data:`SEARCH_RATE_LIMIT`); ``0`` leaves searches to the global limit alone.
    :param rate_limit_utilization: share of both limits the hook paces at (extra
        ``rate_limit_utilization``, default :data:`DEFAULT_RATE_LIMIT_UTILIZATION`).
    """

    api_key: str = field(repr=False)
    api_base: str | None
    account_id: str | None
    api_version: str | None
    max_network_retries: int
    timeout: float
    webhook_secret: str | None = field(repr=False)
    rate_limit: float = LIVE_RATE_LIMIT
    search_rate_limit: float = SEARCH_RATE_LIMIT
    rate_limit_utilization: float = DEFAULT_RATE_LIMIT_UTILIZATION

    @property
    def account_key(self) -> tuple[str, str, str, str]:
        """What identifies the Stripe account whose budget requests draw on: API base,
        ``Stripe-Account`` (``""`` for the key's own account) and :func:`key_fingerprint` — never
        the key itself."""
        return (
            "stripe",
            self.api_base or STRIPE_API_BASE,
            self.account_id or "",
            key_fingerprint(self.api_key),
        )


def _text(value: Any) -> str | None:
    """Blank UI fields come back as ``""`` or ``None``; normalise both to ``None``."""
    if value is None:
        return None
    text = str(value).strip()
    return text or None


def describe_error(error: BaseException, *secrets: str | None) -> str:
    """A one-line description of ``error`` (type, HTTP status, Stripe's message, request id)
    without keys or signing secrets.

    :param secrets: exact values to hide as well (the connection's key, whatever its format).
    """
    error = typed_stripe_error(error, *secrets)
    if isinstance(error, stripe.StripeError):
        status = f" (HTTP {error.http_status})" if error.http_status else ""
        request = f", request {error.request_id}" if error.request_id else ""
        text = f"{type(error).__name__}{status}: {error.user_message or error}{request}"
    else:
        text = f"{type(error).__name__}: {error}"
    return redact_text(" ".join(text.split()), secrets)


FOREIGN_ANSWER = "Stripe API answered HTTP"
"""How :func:`foreign_answer_message` begins."""
NON_STRIPE_EXCERPT = 200
"""Longest excerpt of an answer that is not Stripe's JSON error quoted in an error message."""

_ERROR_BY_STATUS: dict[int, type[stripe.StripeError]] = {
    401: stripe.AuthenticationError,
    403: stripe.PermissionError,
    429: stripe.RateLimitError,
}


def typed_stripe_error(error: BaseException, *secrets: str | None) -> BaseException:
    """The SDK error an answer should have raised when its body is not Stripe's JSON error.

    A proxy or gateway in front of Stripe answers with HTML, plain text or JSON of its own. stripe
    16.1.0 raises a bare ``APIError`` for non-JSON bodies whatever the status, and fails with an
    ``AttributeError`` of its own on JSON whose ``error`` is a string; :class:`PacedRequestsClient`
    therefore replaces every such body by plain text before the SDK reads it. Such an answer
    becomes, by status: 401 ``AuthenticationError``, 403 ``PermissionError``, 429
    ``RateLimitError``, anything else ``APIError`` (never a record error: a proxy's 404 says
    nothing about the object asked for). The message names Stripe, the status and a short excerpt of
    the body, with ``secrets`` blanked; the response headers are kept (``Retry-After``,
    ``Request-Id``). Any other error is returned unchanged.

    :param error: what an SDK call raised.
    :param secrets: exact values to hide from the message (the connection's key).
    """
    answer = _unreadable_answer(error)
    if answer is None:
        return error
    status, body, headers = answer
    hidden = [secret for secret in secrets if secret]
    # PacedRequestsClient already put the message in place of the body; other clients did not.
    message = body if body.startswith(FOREIGN_ANSWER) else foreign_answer_message(status, body, hidden)
    cls = _ERROR_BY_STATUS.get(status, stripe.APIError)
    return cls(message, redact_text(body, hidden), status, None, dict(headers))


def foreign_answer_message(status: int, body: str, secrets: Sequence[str] = ()) -> str:
    """What to say of an error answer whose body is not Stripe's JSON error: Stripe, the status
    and a short excerpt of the body, with ``secrets`` blanked."""
    try:
        phrase = f" {http.HTTPStatus(status).phrase}"
    except ValueError:
        phrase = ""
    excerpt = body_excerpt(body, secrets, limit=NON_STRIPE_EXCERPT)
    return (
        f"{FOREIGN_ANSWER} {status}{phrase} with a body that is not Stripe's JSON error "
        f"(a proxy or gateway in between?): {excerpt or '(empty body)'}"
    )


def _unreadable_answer(error: BaseException) -> tuple[int, str, Mapping[str, str]] | None:
    """``(status, body, headers)`` of an error answer the SDK could not read, else ``None``."""
    if type(error) is stripe.APIError:
        if error.http_status is None or error.error is not None:
            return None  # Stripe's own JSON error (or no answer at all)
        body = error.http_body or ""
        headers: Mapping[str, str] = error.headers or {}
        try:
            json.loads(body)
        except ValueError:
            # not JSON: the SDK passed the headers where the parsed body goes (see _response_header)
            if not headers and isinstance(error.json_body, Mapping):
                headers = {str(k): str(v) for k, v in error.json_body.items()}
        return error.http_status, body, headers
    return None


def key_fingerprint(api_key: str) -> str:
    """A short, stable stand-in for a secret key (the first 12 hex digits of its SHA-256): tells
    two keys apart in limiter keys and logs without revealing either."""
    return hashlib.sha256(api_key.encode()).hexdigest()[:12]


def _number(conn_id: str, extras: Mapping[str, Any], name: str, default: float) -> float:
    raw = _text(extras.get(name))
    if raw is None:
        return default
    try:
        value = float(raw)
    except ValueError:
        raise ValueError(f"Stripe connection {conn_id!r}: {name} must be a number, got {raw!r}") from None
    if not math.isfinite(value) or value < 0:
        raise ValueError(f"Stripe connection {conn_id!r}: {name} must be a number >= 0, got {raw!r}")
    return value


def search_literal(value: str) -> str:
    """``value`` quoted for Stripe's search query language (``'…'``, quotes and backslashes escaped)."""
    escaped = value.replace("\\", "\\\\").replace("'", "\\'")
    return f"'{escaped}'"


def connection_settings(
    conn_id: str,
    password: str | None,
    extras: Mapping[str, Any],
    *,
    max_network_retries: int | None = None,
    timeout: float | None = None,
) -> StripeConnectionSettings:
    """Read a ``stripe`` connection's fields: the password is the secret key; extras
    ``api_base``, ``account_id``, ``api_version``, ``max_network_retries``, ``timeout``,
    ``webhook_secret``, ``rate_limit``, ``search_rate_limit``, ``rate_limit_utilization``.
    Shared by :class:`StripeHook` and the deferrable trigger.

    :param max_network_retries: overrides the connection's retry count.
    :param timeout: overrides the connection's timeout.
    :raises ValueError: no key, or an invalid retry count, timeout, rate limit or utilization.
    """
    api_key = _text(password)
    if api_key is None:
        raise ValueError(f"Stripe connection {conn_id!r} has no secret key; put it in the password field.")
    retries = max_network_retries
    if retries is None:
        retries = int(_text(extras.get("max_network_retries")) or DEFAULT_MAX_NETWORK_RETRIES)
    seconds = timeout
    if seconds is None:
        seconds = float(_text(extras.get("timeout")) or DEFAULT_TIMEOUT)
    if retries < 0:
        raise ValueError(f"Stripe connection {conn_id!r}: max_network_retries must be >= 0")
    if seconds <= 0:
        raise ValueError(f"Stripe connection {conn_id!r}: timeout must be positive")
    api_base = _text(extras.get("api_base"))
    test_mode = api_key.startswith(_TEST_KEY_PREFIXES)
    utilization = _number(conn_id, extras, "rate_limit_utilization", DEFAULT_RATE_LIMIT_UTILIZATION)
    if not 0 < utilization <= 1:
        raise ValueError(f"Stripe connection {conn_id!r}: rate_limit_utilization must be in (0, 1]")
    return StripeConnectionSettings(
        api_key=api_key,
        api_base=api_base.rstrip("/") if api_base else None,
        account_id=_text(extras.get("account_id")),
        api_version=_text(extras.get("api_version")),
        max_network_retries=retries,
        timeout=seconds,
        webhook_secret=_text(extras.get("webhook_secret")),
        rate_limit=_number(conn_id, extras, "rate_limit", TEST_RATE_LIMIT if test_mode else LIVE_RATE_LIMIT),
        search_rate_limit=_number(conn_id, extras, "search_rate_limit", SEARCH_RATE_LIMIT),
        rate_limit_utilization=utilization,
    )


#: The stripe SDK's logger: it logs two INFO lines for every API call (request and response).
SDK_LOGGER = "stripe"


def quiet_sdk_logs() -> None:
    """Keep the stripe SDK's per-call INFO lines out of task logs (its warnings and errors stay).

    The SDK logs every request and response at INFO; with thousands of calls per run that buried
    the connector's own lines and cost half its CPU. The hook logs retries and the streams log one
    line per batch instead. A level set on the ``stripe`` logger in the deployment's logging
    configuration is left as it is (set ``DEBUG`` or ``INFO`` there to see the calls again).
    """
    logger = logging.getLogger(SDK_LOGGER)
    if logger.level == logging.NOTSET:
        logger.setLevel(logging.WARNING)


def build_client(settings: StripeConnectionSettings, http_client: stripe.HTTPClient) -> stripe.StripeClient:
    """A ``StripeClient`` for these settings on the given HTTP client (the SDK's per-call INFO
    logging off, see :func:`quiet_sdk_logs`).

    :param http_client: ``stripe.RequestsClient`` for blocking calls, ``stripe.HTTPXClient`` for
        the ``*_async`` methods; the caller owns (and closes) it.
    """
    quiet_sdk_logs()
    options: dict[str, Any] = {}
    if settings.api_base:
        options["base_addresses"] = {"api": settings.api_base}
    if settings.account_id:
        options["stripe_account"] = settings.account_id
    if settings.api_version:
        options["stripe_version"] = settings.api_version
    return stripe.StripeClient(
        settings.api_key,
        max_network_retries=settings.max_network_retries,
        http_client=http_client,
        **options,
    )


@dataclass
class StripeCallStats:
    """What a :class:`StripeHook` sent, for per-batch log lines and benchmarks; thread-safe.

    Read a consistent copy with :meth:`snapshot`; :meth:`since` gives the difference to an earlier
    snapshot (one batch's share), :meth:`summary` a one-line description.

    :param calls: calls per operation kind (``create customer``, ``search customers``,
        ``list invoices``, ``retrieve charge`` …), each counted once however often it was retried;
        a list counts one call per page.
    :param attempts: HTTP requests put on the wire, the SDK's and the hook's retries included.
    :param attempts_by_route: the same per method and route template
        (``POST /v1/customers/{id}``), requests made through :attr:`StripeHook.client` directly
        included.
    :param rate_limited: 429 answers received.
    :param no_response: attempts that got no answer (connection errors, timeouts).
    :param wait_seconds: time spent waiting for the rate limiter before sending.
    :param delayed: attempts that had to wait for the rate limiter.
    """

    calls: Counter[str] = field(default_factory=Counter)
    attempts: int = 0
    attempts_by_route: Counter[str] = field(default_factory=Counter)
    rate_limited: int = 0
    no_response: int = 0
    wait_seconds: float = 0.0
    delayed: int = 0
    _lock: threading.Lock = field(default_factory=threading.Lock, repr=False, compare=False)

    @property
    def total_calls(self) -> int:
        """Calls of every kind."""
        return sum(self.calls.values())

    def add_call(self, kind: str) -> None:
        """Count one call of ``kind``."""
        with self._lock:
            self.calls[kind] += 1

    def add_attempt(self, route: str, status: int | None, waited: float) -> None:
        """Count one HTTP attempt: its route template, its status (``None``: no answer) and the
        seconds it waited for the rate limiter."""
        with self._lock:
            self.attempts += 1
            self.attempts_by_route[route] += 1
            if status is None:
                self.no_response += 1
            elif status == 429:
                self.rate_limited += 1
            if waited > 0:
                self.delayed += 1
                self.wait_seconds += waited

    def snapshot(self) -> StripeCallStats:
        """A consistent copy (a new object, safe to keep while the hook goes on counting)."""
        with self._lock:
            return StripeCallStats(
                calls=Counter(self.calls),
                attempts=self.attempts,
                attempts_by_route=Counter(self.attempts_by_route),
                rate_limited=self.rate_limited,
                no_response=self.no_response,
                wait_seconds=self.wait_seconds,
                delayed=self.delayed,
            )

    def since(self, earlier: StripeCallStats) -> StripeCallStats:
        """What was counted after ``earlier`` (a :meth:`snapshot` of these stats)."""
        now = self.snapshot()
        return StripeCallStats(
            calls=+(now.calls - earlier.calls),
            attempts=now.attempts - earlier.attempts,
            attempts_by_route=+(now.attempts_by_route - earlier.attempts_by_route),
            rate_limited=now.rate_limited - earlier.rate_limited,
            no_response=now.no_response - earlier.no_response,
            wait_seconds=now.wait_seconds - earlier.wait_seconds,
            delayed=now.delayed - earlier.delayed,
        )

    def as_dict(self) -> dict[str, Any]:
        """The counters as plain data (JSON-ready)."""
        copy = self.snapshot()
        return {
            "calls": dict(copy.calls),
            "total_calls": copy.total_calls,
            "attempts": copy.attempts,
            "attempts_by_route": dict(copy.attempts_by_route),
            "rate_limited": copy.rate_limited,
            "no_response": copy.no_response,
            "wait_seconds": round(copy.wait_seconds, 3),
            "delayed": copy.delayed,
        }

    def summary(self) -> str:
        """One line, e.g. ``12 calls (create customer 10, search customers 2), 13 attempts,
        1 429s, waited 0.4 s for the rate limiter``."""
        copy = self.snapshot()
        kinds = ", ".join(f"{kind} {count}" for kind, count in sorted(copy.calls.items()))
        calls = f"{copy.total_calls} calls" + (f" ({kinds})" if kinds else "")
        return (
            f"{calls}, {copy.attempts} attempts, {copy.rate_limited} 429s, "
            f"waited {copy.wait_seconds:.1f} s for the rate limiter"
        )


def route_template(method: str, url: str) -> str:
    """``METHOD /v1/resource/{id}/action`` for a request URL: ids (every second segment after the
    version, except ``search``) become ``{id}``, the query string is dropped."""
    path = urlsplit(url).path
    parts = [part for part in path.split("/") if part]
    if parts and parts[0] in ("v1", "v2"):
        head, rest = parts[:1], parts[1:]
        if rest[:1] == ["test_helpers"]:
            head, rest = [*head, rest[0]], rest[1:]
        rest = ["{id}" if i % 2 == 1 and part != "search" else part for i, part in enumerate(rest)]
        parts = head + rest
    return f"{method.upper()} /{'/'.join(parts)}"


def _is_search(url: str) -> bool:
    return urlsplit(url).path.rstrip("/").endswith("/search")


class StripePacer:
    """Waits for the account's rate limiters before each HTTP attempt and counts the attempts.

    :param limiter: the account's global limiter (``None``: no pacing).
    :param search_limiter: the account's search limiter, taken as well by requests whose path ends
        in ``/search`` (``None``: searches only wait for the global limiter).
    :param stats: where attempts are counted.
    """

    def __init__(
        self, limiter: RateLimiter | None, search_limiter: RateLimiter | None, stats: StripeCallStats
    ) -> None:
        self.limiter = limiter
        self.search_limiter = search_limiter
        self.stats = stats

    def wait(self, url: str) -> float:
        """Block until a request to ``url`` may go; returns the seconds waited."""
        limiters = [self.limiter] if self.limiter is not None else []
        if self.search_limiter is not None and _is_search(url):
            limiters.append(self.search_limiter)
        return acquire_all(limiters) if limiters else 0.0

    def send(self, method: str, url: str, request: Callable[[], T]) -> T:
        """Wait for the limiters, run ``request`` (one HTTP attempt) and count it.

        ``request`` answers ``(body, status, headers)``; whatever it raises counts as an attempt
        without an answer.
        """
        waited = self.wait(url)
        status: int | None = None
        try:
            response = request()
            status = cast("tuple[Any, int, Any]", response)[1]
            return response
        finally:
            self.stats.add_attempt(route_template(method, url), status, waited)


class EnvironmentOnceSession(requests.Session):
    """A ``requests.Session`` that reads the proxy and CA settings of the environment
    (``HTTPS_PROXY``, ``NO_PROXY``, ``REQUESTS_CA_BUNDLE`` …) once per host and option set, not on
    every request: ``requests`` scans the whole process environment twice per request to find
    them, which with a task's large environment cost the connector a quarter of its time per call.
    Proxies and certificates still come from the environment, as with a plain session; a change
    of those variables while a client lives is not seen."""

    def __init__(self) -> None:
        super().__init__()
        self._environment: dict[tuple[Any, ...], Any] = {}

    def merge_environment_settings(self, url: Any, proxies: Any, stream: Any, verify: Any, cert: Any) -> Any:
        parts = urlsplit(str(url))
        key = (
            parts.scheme,
            parts.netloc,
            tuple(sorted((proxies or {}).items())),
            stream,
            verify if isinstance(verify, str | bool | None) else repr(verify),
            cert if isinstance(cert, str | tuple | None) else repr(cert),
        )
        found = self._environment.get(key)
        if found is None:
            found = super().merge_environment_settings(url, proxies, stream, verify, cert)
            self._environment[key] = found
        return dict(found)


def readable_answer(
    answer: tuple[Any, int, Mapping[str, str]], secrets: Sequence[str] = ()
) -> tuple[Any, int, Mapping[str, str]]:
    """An HTTP client's ``(body, status, headers)`` as the SDK should read it.

    An error answer whose body is not Stripe's JSON error (a gateway's HTML, text, or JSON of its
    own such as ``{"error": "…"}``, on which the SDK itself would fail) gets its body replaced by
    :func:`foreign_answer_message`: plain text, so the SDK raises a bare ``APIError`` whatever the
    status (a gateway's 404 must not read as "no such object") and :func:`typed_stripe_error`
    gives it the class its status calls for. Any other answer is returned unchanged. Both the
    hook's blocking client (:class:`PacedRequestsClient`) and the trigger's asynchronous one
    (:class:`ReadableHTTPXClient`) pass every whole answer through it.

    :param answer: what the HTTP client returned.
    :param secrets: exact values to hide from the message (the connection's key).
    """
    body, status, headers = answer
    if status < 400:
        return answer
    text = body.decode("utf-8", "replace") if isinstance(body, bytes) else str(body or "")
    try:
        parsed = json.loads(text)
    except ValueError:
        parsed = None
    if isinstance(parsed, dict) and isinstance(parsed.get("error"), dict):
        return answer
    return foreign_answer_message(status, text, secrets), status, headers


class ReadableHTTPXClient(stripe.HTTPXClient):
    """``stripe.HTTPXClient`` (the asynchronous client of the deferrable trigger) whose whole
    answers pass through :func:`readable_answer`, like the hook's blocking client, so a gateway's
    HTML 401, 429 or 502 becomes the typed SDK error with a readable message instead of an
    ``AttributeError`` or markup.

    :param secrets: exact values to hide from messages (the connection's key and signing secret).
    :param kwargs: passed to ``stripe.HTTPXClient`` (``timeout`` …).
    """

    def __init__(self, *, secrets: Sequence[str | None] = (), **kwargs: Any) -> None:
        super().__init__(**kwargs)
        self._secrets = [secret for secret in secrets if secret]

    async def request_async(
        self, method: str, url: str, headers: Mapping[str, str], post_data: Any = None
    ) -> tuple[bytes, int, Mapping[str, str]]:
        """One request; its answer as :func:`readable_answer` makes it."""
        answer = await super().request_async(method, url, headers, post_data)
        body, status, response_headers = readable_answer(answer, self._secrets)
        return (body.encode("utf-8") if isinstance(body, str) else body), status, response_headers


class PacedRequestsClient(stripe.RequestsClient):
    """``stripe.RequestsClient`` whose every request — the SDK's retries included — first waits
    for a :class:`StripePacer` and is counted there.

    Only the blocking client is paced: the hook makes no async calls, and the deferrable trigger's
    ``stripe.HTTPXClient`` polls once a minute from the triggerer, another process whose limiter
    would share nothing with the workers' (and a blocking wait would stall its event loop).

    :param pacer: the hook's pacer.
    :param kwargs: passed to ``stripe.RequestsClient`` (``timeout`` …).
    """

    def __init__(self, pacer: StripePacer, *, secrets: Sequence[str | None] = (), **kwargs: Any) -> None:
        super().__init__(**kwargs)
        self.pacer = pacer
        self._secrets = [secret for secret in secrets if secret]

    def _readable(self, answer: tuple[Any, int, Mapping[str, str]]) -> tuple[Any, int, Mapping[str, str]]:
        """The answer as :func:`readable_answer` makes it."""
        return readable_answer(answer, self._secrets)

    def _use_environment_once_session(self) -> None:
        # The SDK keeps one session per thread and creates it on a thread's first request;
        # ours is put in place first (unless the caller gave the client a session of its own).
        if self._session is None and getattr(self._thread_local, "session", None) is None:
            self._thread_local.session = EnvironmentOnceSession()

    def request(
        self,
        method: str,
        url: str,
        headers: Mapping[str, str] | None,
        post_data: Any = None,
        *,
        _usage: list[str] | None = None,
    ) -> tuple[Any, int, Mapping[str, str]]:
        """One paced HTTP request (see :meth:`StripePacer.send`)."""
        return self._send(super().request, method, url, headers, post_data)

    def request_stream(
        self,
        method: str,
        url: str,
        headers: Mapping[str, str] | None,
        post_data: Any = None,
        *,
        _usage: list[str] | None = None,
    ) -> tuple[Any, int, Mapping[str, str]]:
        """One paced streaming HTTP request (see :meth:`StripePacer.send`)."""
        # A streamed body is the SDK's to read; only whole bodies are checked.
        return self._send(super().request_stream, method, url, headers, post_data, whole=False)

    def _send(
        self,
        parent: Callable[..., tuple[Any, int, Mapping[str, str]]],
        method: str,
        url: str,
        headers: Mapping[str, str] | None,
        post_data: Any,
        *,
        whole: bool = True,
    ) -> tuple[Any, int, Mapping[str, str]]:
        self._use_environment_once_session()
        answer = self.pacer.send(method, url, lambda: parent(method, url, headers, post_data))
        return self._readable(answer) if whole else answer


class StripeHook(BaseHook):
    """Talk to Stripe through a ``stripe`` Airflow connection.

    Connection fields: password = secret key (``sk_…`` or restricted ``rk_…``); extras
    ``api_base``, ``account_id``, ``api_version``, ``max_network_retries``, ``timeout``,
    ``webhook_secret``, ``rate_limit``, ``search_rate_limit``, ``rate_limit_utilization``.
    Nothing is read or sent until the client is first used.

    Every HTTP attempt waits for the Stripe account's shared rate limiters first (see
    :attr:`limiters`); :attr:`stats` counts what the hook sent. One hook may be used from several
    threads.

    :param stripe_conn_id: the Airflow connection id.
    :param timeout: overrides the connection's request timeout (seconds).
    :param max_network_retries: overrides the connection's retry count.
    """

    conn_name_attr = "stripe_conn_id"
    default_conn_name = "stripe_default"
    conn_type = "stripe"
    hook_name = "Stripe"

    def __init__(
        self,
        stripe_conn_id: str = default_conn_name,
        *,
        timeout: float | None = None,
        max_network_retries: int | None = None,
        **kwargs: Any,
    ) -> None:
        super().__init__(**kwargs)
        self.stripe_conn_id = stripe_conn_id
        self._timeout_override = timeout
        self._retries_override = max_network_retries
        self.stats = StripeCallStats()
        """Calls, HTTP attempts, 429s and rate-limiter waits of this hook (see :class:`StripeCallStats`)."""

    # -- connection and client ------------------------------------------------------------------

    @cached_property
    def settings(self) -> StripeConnectionSettings:
        """The connection's settings (read once; secrets registered with the secret masker)."""
        conn = self.get_connection(self.stripe_conn_id)
        settings = connection_settings(
            self.stripe_conn_id,
            conn.password,
            conn.extra_dejson,
            max_network_retries=self._retries_override,
            timeout=self._timeout_override,
        )
        register_secret(settings.api_key)
        register_secret(settings.webhook_secret)
        return settings

    @cached_property
    def client(self) -> stripe.StripeClient:
        """The ``StripeClient`` for this connection (built on first use, then reused); every request
        it sends is paced and counted (:class:`PacedRequestsClient`)."""
        http_client = PacedRequestsClient(
            self.pacer,
            secrets=(self.settings.api_key, self.settings.webhook_secret),
            timeout=self.settings.timeout,
        )
        return build_client(self.settings, http_client)

    @cached_property
    def limiters(self) -> dict[str, RateLimiter]:
        """The account's shared limiters: ``"global"`` and ``"search"`` (each absent when its limit
        is ``0``). Their :meth:`~ml_connector_provider.transport.RateLimiter.stats` cover every hook
        of the process on this account."""
        settings = self.settings
        account = settings.account_key
        found: dict[str, RateLimiter] = {}
        for kind, limit in (("global", settings.rate_limit), ("search", settings.search_rate_limit)):
            if limit > 0:
                rate = limit * settings.rate_limit_utilization
                name = f"Stripe {kind} {account[1]} {account[2] or 'own account'} key {account[3]}"
                found[kind] = shared_limiter((*account, kind), rate, PACING_BURST, name=name)
        self.log.debug("Stripe rate limiters: %s", ", ".join(map(repr, found.values())) or "none")
        return found

    @cached_property
    def pacer(self) -> StripePacer:
        """Waits for :attr:`limiters` before each HTTP attempt and counts it in :attr:`stats`."""
        return StripePacer(self.limiters.get("global"), self.limiters.get("search"), self.stats)

    @cached_property
    def retry_policy(self) -> RetryPolicy:
        """The hook's own retries: as many as the connection's ``max_network_retries``, with the
        SDK's delays (0.5 s doubling up to 5 s, full jitter) and ``Retry-After`` honoured up to
        :data:`MAX_RETRY_AFTER`."""
        return RetryPolicy(
            attempts=self.settings.max_network_retries + 1,
            base_delay=RETRY_BASE_DELAY,
            max_delay=RETRY_MAX_DELAY,
            max_retry_after=MAX_RETRY_AFTER,
        )

    def get_conn(self) -> stripe.StripeClient:
        """The ``StripeClient`` (same object as :attr:`client`)."""
        return self.client

    @property
    def webhook_secret(self) -> str | None:
        """The connection's webhook signing secret (``whsec_…``), if configured."""
        return self.settings.webhook_secret

    # -- customers ------------------------------------------------------------------------------

    def create_customer(self, params: Mapping[str, Any], *, idempotency_key: str) -> dict[str, Any]:
        """Create a customer (``POST /v1/customers``).

        :param params: create parameters (``name``, ``email``, ``address``, ``metadata`` ...).
        :param idempotency_key: the deterministic key of this write; a retry with the same key and
            parameters within 24 h returns the first result instead of creating another customer.
        :raises StripeRecordError: Stripe refused the parameters.
        """
        return self._post(
            "create customer", self.client.v1.customers.create, params=params, idempotency_key=idempotency_key
        )

    def update_customer(
        self, customer_id: str, params: Mapping[str, Any], *, idempotency_key: str
    ) -> dict[str, Any]:
        """Update a customer (``POST /v1/customers/{id}``); ``""`` unsets a field or metadata key.

        :raises StripeRecordError: unknown or deleted customer, or refused parameters.
        """
        return self._post(
            "update customer",
            functools.partial(self.client.v1.customers.update, customer_id),
            params=params,
            idempotency_key=idempotency_key,
            subject=customer_id,
        )

    def retrieve_customer(self, customer_id: str) -> dict[str, Any] | None:
        """The customer, or ``None`` when it does not exist or was deleted.

        :raises StripeRecordError: Stripe refused the request for another reason.
        """
        return self._retrieve(
            "retrieve customer", lambda: self.client.v1.customers.retrieve(customer_id), subject=customer_id
        )

    def find_customer_by_metadata(self, key: str, value: str) -> dict[str, Any] | None:
        """The live customer whose ``metadata[key] == value``, found with the search API.

        Search is eventually consistent: a customer created moments ago may be missing, and one
        deleted a while ago can still be returned as a normal customer (contract Appendix S). So
        use it only for objects older than the lag, after the ledger link and the idempotency key;
        every hit is retrieved by id and deleted ones are dropped. When several live customers
        match, the oldest is returned and a warning names them all.
        """
        query = f"metadata[{search_literal(key)}]:{search_literal(value)}"
        matches = sorted(
            (c for c in self.search_customers(query) if (c.get("metadata") or {}).get(key) == value),
            key=lambda c: (int(c.get("created") or 0), str(c["id"])),
        )
        if not matches:
            return None
        if len(matches) > 1:
            self.log.warning(
                "Stripe has %d customers with metadata %s=%r: %s; using the oldest, %s",
                len(matches),
                key,
                value,
                ", ".join(str(c["id"]) for c in matches),
                matches[0]["id"],
            )
        return matches[0]

    def search_customers(self, query: str) -> list[dict[str, Any]]:
        """The live customers Stripe's search finds for ``query``, each as retrieve shows it now.

        Search can show a deleted customer as a normal one for a while (contract Appendix S), so
        every hit is retrieved by id and deleted ones are dropped; search is also eventually
        consistent (a customer written in the last minute or so may be missing).

        :raises StripeRecordError: Stripe refused the query (a value its language cannot hold).
        """

        def search() -> list[str]:
            result = self.client.v1.customers.search(params={"query": query, "limit": LIST_PAGE_SIZE})
            return [str(item.id) for item in result.auto_paging_iter()]

        hits = self._read("search customers", search, subject=query)
        live = (self.retrieve_customer(customer_id) for customer_id in hits)
        return [customer for customer in live if customer is not None]

    def iter_customers(self, **filters: Any) -> Iterator[dict[str, Any]]:
        """Every customer matching ``filters`` (``email``, ``created={"gte": ts}`` ...), newest first.

        Pages of 100 are fetched lazily; ``ending_before`` walks towards newer customers instead,
        oldest first, as the SDK's auto-paging does.
        """
        return self.iter_list("customers", self.client.v1.customers.list, filters)

    # -- invoices -------------------------------------------------------------------------------

    def create_invoice(self, params: Mapping[str, Any], *, idempotency_key: str) -> dict[str, Any]:
        """Create a draft invoice (``POST /v1/invoices``).

        :param params: ``customer``, ``collection_method``, ``days_until_due`` or ``due_date``,
            ``currency``, ``description``, ``metadata``, ``auto_advance`` ...
        :param idempotency_key: the deterministic key of this write (see :meth:`create_customer`).
        :raises StripeRecordError: Stripe refused the parameters.
        """
        return self._post(
            "create invoice", self.client.v1.invoices.create, params=params, idempotency_key=idempotency_key
        )

    def retrieve_invoice(self, invoice_id: str, *, expand: Sequence[str] = ()) -> dict[str, Any] | None:
        """The invoice (``expand``: e.g. ``("payments", "customer")``), or ``None`` when missing or deleted."""
        return self._retrieve(
            "retrieve invoice",
            functools.partial(self.client.v1.invoices.retrieve, invoice_id, params=_expand(expand)),
            subject=invoice_id,
        )

    def update_invoice(
        self, invoice_id: str, params: Mapping[str, Any], *, idempotency_key: str
    ) -> dict[str, Any]:
        """Update an invoice (``POST /v1/invoices/{id}``): most fields while it is a draft,
        ``metadata`` at any time.

        :raises StripeRecordError: unknown invoice, or a field that can no longer change.
        """
        return self._post(
            "update invoice",
            functools.partial(self.client.v1.invoices.update, invoice_id),
            params=params,
            idempotency_key=idempotency_key,
            subject=invoice_id,
        )

    def iter_invoices(self, **filters: Any) -> Iterator[dict[str, Any]]:
        """Every invoice matching ``filters`` (``customer``, ``status``, ``collection_method``,
        ``subscription``, ``created``, ``due_date``), newest first, pages of 100."""
        return self.iter_list("invoices", self.client.v1.invoices.list, filters)

    def iter_invoice_lines(self, invoice_id: str) -> Iterator[dict[str, Any]]:
        """Every line item of an invoice (``GET /v1/invoices/{id}/lines``), in Stripe's order."""
        return self.iter_list(
            "invoice lines",
            functools.partial(self.client.v1.invoices.line_items.list, invoice_id),
            {},
            subject=invoice_id,
        )

    def create_invoice_item(self, params: Mapping[str, Any], *, idempotency_key: str) -> dict[str, Any]:
        """Add an invoice item (``POST /v1/invoiceitems``) to a draft invoice (``invoice``) or as pending.

        Amounts are in the currency's minor unit: ``amount`` (a total), or ``unit_amount_decimal``
        with ``quantity``/``quantity_decimal``, or ``pricing={"price": …}`` / ``price_data``.

        :raises StripeRecordError: Stripe refused the item (invoice not a draft, currency mismatch ...).
        """
        return self._post(
            "create invoice item",
            self.client.v1.invoice_items.create,
            params=params,
            idempotency_key=idempotency_key,
        )

    def add_invoice_lines(
        self, invoice_id: str, lines: Sequence[Mapping[str, Any]], *, idempotency_key: str
    ) -> dict[str, Any]:
        """Add lines to a draft in one call (``POST /v1/invoices/{id}/add_lines``); each line
        becomes an invoice item of the invoice. Returns the updated invoice (totals included).

        :param lines: ``amount`` (minor units) or ``pricing``/``price_data`` with ``quantity``,
            ``description``, ``metadata``, ``period`` …; an invoice holds at most 250 items.
        :raises StripeRecordError: not a draft, too many lines, or refused line parameters.
        """
        return self._post(
            "add invoice lines",
            functools.partial(self.client.v1.invoices.add_lines, invoice_id),
            params={"lines": [dict(line) for line in lines]},
            idempotency_key=idempotency_key,
            subject=invoice_id,
        )

    def finalize_invoice(
        self, invoice_id: str, *, idempotency_key: str, auto_advance: bool = False
    ) -> dict[str, Any]:
        """Finalize a draft (``POST /v1/invoices/{id}/finalize``): it gets its number and opens.

        :param auto_advance: let Stripe advance the invoice on its own afterwards (collection,
            reminders); ``False`` keeps every further step explicit.
        :raises StripeRecordError: not a draft, or no line items.
        """
        return self._post(
            "finalize invoice",
            functools.partial(self.client.v1.invoices.finalize_invoice, invoice_id),
            params={"auto_advance": auto_advance},
            idempotency_key=idempotency_key,
            subject=invoice_id,
        )

    def send_invoice(self, invoice_id: str, *, idempotency_key: str) -> dict[str, Any]:
        """Email an open ``send_invoice`` invoice to the customer (``POST /v1/invoices/{id}/send``).

        :raises StripeRecordError: not open, or not ``collection_method=send_invoice``.
        """
        return self._post(
            "send invoice",
            functools.partial(self.client.v1.invoices.send_invoice, invoice_id),
            params=None,
            idempotency_key=idempotency_key,
            subject=invoice_id,
        )

    # -- payments -------------------------------------------------------------------------------

    def iter_invoice_payments(
        self,
        *,
        invoice: str | None = None,
        payment_intent: str | None = None,
        status: str | None = None,
    ) -> Iterator[dict[str, Any]]:
        """InvoicePayments (``GET /v1/invoice_payments``): how a payment links to its invoice since
        API version basil (charges and payment intents no longer name their invoice).

        :param invoice: the payments of this invoice.
        :param payment_intent: the invoice payment(s) made by this PaymentIntent.
        :param status: ``open``, ``paid`` or ``canceled``.
        """
        filters: dict[str, Any] = {}
        if invoice is not None:
            filters["invoice"] = invoice
        if payment_intent is not None:
            filters["payment"] = {"type": "payment_intent", "payment_intent": payment_intent}
        if status is not None:
            filters["status"] = status
        return self.iter_list("invoice payments", self.client.v1.invoice_payments.list, filters)

    def retrieve_payment_intent(self, pi_id: str, *, expand: Sequence[str] = ()) -> dict[str, Any] | None:
        """The PaymentIntent (``expand``: e.g. ``("latest_charge",)``), or ``None`` when missing."""
        return self._retrieve(
            "retrieve payment intent",
            functools.partial(self.client.v1.payment_intents.retrieve, pi_id, params=_expand(expand)),
            subject=pi_id,
        )

    def update_payment_intent(
        self, pi_id: str, params: Mapping[str, Any], *, idempotency_key: str
    ) -> dict[str, Any]:
        """Update a PaymentIntent's ``metadata``/``description`` (``POST /v1/payment_intents/{id}``)."""
        return self._post(
            "update payment intent",
            functools.partial(self.client.v1.payment_intents.update, pi_id),
            params=params,
            idempotency_key=idempotency_key,
            subject=pi_id,
        )

    def retrieve_charge(
        self, charge_id: str, *, expand: Sequence[str] = ("balance_transaction",)
    ) -> dict[str, Any] | None:
        """The charge, by default with its balance transaction (``fee``, ``net``) expanded."""
        return self._retrieve(
            "retrieve charge",
            functools.partial(self.client.v1.charges.retrieve, charge_id, params=_expand(expand)),
            subject=charge_id,
        )

    def iter_charges(self, **filters: Any) -> Iterator[dict[str, Any]]:
        """Every charge matching ``filters`` (``customer``, ``payment_intent``, ``created``), newest first."""
        return self.iter_list("charges", self.client.v1.charges.list, filters)

    def retrieve_refund(
        self, refund_id: str, *, expand: Sequence[str] = ("balance_transaction",)
    ) -> dict[str, Any] | None:
        """The refund, by default with its balance transaction expanded."""
        return self._retrieve(
            "retrieve refund",
            functools.partial(self.client.v1.refunds.retrieve, refund_id, params=_expand(expand)),
            subject=refund_id,
        )

    def iter_refunds(self, **filters: Any) -> Iterator[dict[str, Any]]:
        """Every refund matching ``filters`` (``charge``, ``payment_intent``, ``created``), newest first."""
        return self.iter_list("refunds", self.client.v1.refunds.list, filters)

    def retrieve_balance_transaction(self, txn_id: str) -> dict[str, Any] | None:
        """A balance transaction (``amount``, ``fee``, ``fee_details``, ``net``), or ``None``."""
        return self._retrieve(
            "retrieve balance transaction",
            lambda: self.client.v1.balance_transactions.retrieve(txn_id),
            subject=txn_id,
        )

    def retrieve_subscription(self, sub_id: str) -> dict[str, Any] | None:
        """The subscription (canceled ones included), or ``None`` when Stripe has none with this id."""
        return self._retrieve(
            "retrieve subscription", lambda: self.client.v1.subscriptions.retrieve(sub_id), subject=sub_id
        )

    # -- events ---------------------------------------------------------------------------------

    def iter_events(
        self,
        *,
        types: Sequence[str] = (),
        created: Mapping[str, int] | None = None,
        page_size: int = LIST_PAGE_SIZE,
    ) -> Iterator[dict[str, Any]]:
        """Events newest first, as Stripe lists them (``GET /v1/events``), pages fetched lazily.

        One type is sent as ``type`` (so a wildcard such as ``invoice.*`` works); several as
        ``types`` (exact names, at most :data:`MAX_EVENT_TYPES`). Events repeat and arrive in no
        business order: use :meth:`events_between` for a de-duplicated, ordered window.

        :param types: event names; empty = every type.
        :param created: ``{"gte": ts, "lt": ts}`` (any of ``gt``, ``gte``, ``lt``, ``lte``).
        :param page_size: events per request, 1 to 100.
        :raises ValueError: more than 20 types, a wildcard among several types, or a bad page size
            (before any request is made).
        """
        names = _event_types(types)
        if len(names) > MAX_EVENT_TYPES:
            raise ValueError(
                f"{len(names)} event types given; the Events API accepts at most {MAX_EVENT_TYPES} per request"
            )
        if len(names) > 1 and any("*" in name for name in names):
            raise ValueError(
                "a wildcard event type (such as 'invoice.*') must be the only type of the request"
            )
        if not 1 <= page_size <= LIST_PAGE_SIZE:
            raise ValueError(f"page_size must be between 1 and {LIST_PAGE_SIZE}, got {page_size}")
        filters: dict[str, Any] = {"limit": page_size}
        if len(names) == 1:
            filters["type"] = names[0]
        elif names:
            filters["types"] = names
        if created:
            filters["created"] = dict(created)
        return self.iter_list("events", self.client.v1.events.list, filters)

    def events_between(self, types: Sequence[str], start: datetime, end: datetime) -> list[dict[str, Any]]:
        """Events of ``types`` with ``start <= created < end``, each once, oldest first.

        Sorted by ``(created, id)``; repeats (Stripe's at-least-once lists) are dropped by id. An
        event without a text ``id`` or an integer ``created`` cannot be placed: it is returned
        first, as listed, for the caller to report (see
        :func:`~ml_connector_provider.integrations.fusion_stripe.events.event_problem`).
        More than 20 exact types are asked for in several requests; each wildcard type in a
        request of its own. Stripe only keeps :data:`EVENT_RETENTION`: a window reaching further
        back is logged as a warning and silently misses what expired.

        :param types: event names or wildcards; empty = every type.
        :param start: inclusive lower bound (timezone-aware).
        :param end: exclusive upper bound (timezone-aware).
        :raises ValueError: naive datetimes.
        """
        if start.tzinfo is None or end.tzinfo is None:
            raise ValueError("events_between needs timezone-aware datetimes")
        names = _event_types(types)
        low, high = start.timestamp(), end.timestamp()
        if high <= low:
            return []
        if start < datetime.now(UTC) - EVENT_RETENTION:
            self.log.warning(
                "Stripe keeps events for %d days; events before %s may have expired",
                EVENT_RETENTION.days,
                (datetime.now(UTC) - EVENT_RETENTION).isoformat(),
            )
        created = {"gte": math.ceil(low), "lt": math.ceil(high)}
        exact = [name for name in names if "*" not in name]
        queries: list[list[str]] = [[name] for name in names if "*" in name]
        queries += [exact[i : i + MAX_EVENT_TYPES] for i in range(0, len(exact), MAX_EVENT_TYPES)]
        if not names:
            queries = [[]]
        found: dict[str, dict[str, Any]] = {}
        unreadable: list[Any] = []
        for query in queries:
            for event in self.iter_events(types=query, created=created):
                event_id = event.get("id") if isinstance(event, Mapping) else None
                when = event.get("created") if isinstance(event, Mapping) else None
                if not isinstance(event_id, str) or isinstance(when, bool) or not isinstance(when, int):
                    # Listed for this window but not placeable in it: kept (first) for the
                    # caller to report, never silently dropped.
                    unreadable.append(event)
                elif low <= when < high:
                    found.setdefault(event_id, event)
        return unreadable + sorted(found.values(), key=lambda e: (int(e["created"]), str(e["id"])))

    # -- webhooks -------------------------------------------------------------------------------

    def construct_webhook_event(
        self,
        payload: bytes | str,
        signature_header: str,
        *,
        secret: str | None = None,
        tolerance: int = DEFAULT_WEBHOOK_TOLERANCE,
    ) -> dict[str, Any]:
        """Verify a webhook delivery's ``Stripe-Signature`` and return the event as a plain dict.

        The signature is an HMAC-SHA256 of ``"{t}.{raw body}"`` keyed with the endpoint's
        ``whsec_…`` secret; any matching ``v1`` entry is accepted (Stripe sends several while a
        secret is being rolled) and ``t`` may lag the clock by at most ``tolerance`` seconds.

        :param payload: the raw request body, exactly as received.
        :param signature_header: the ``Stripe-Signature`` header.
        :param secret: the signing secret; default: the connection's ``webhook_secret`` extra.
        :param tolerance: seconds; ``0`` disables the timestamp check.
        :raises ValueError: no secret is configured, or the verified body is not a Stripe event.
        :raises stripe.SignatureVerificationError: missing, malformed, non-matching or stale
            signature (the message never contains the secret).
        """
        key = secret if secret is not None else self.webhook_secret
        if not key or not key.strip():
            raise ValueError(
                f"No webhook signing secret: set the 'webhook_secret' extra of Stripe connection "
                f"{self.stripe_conn_id!r} or pass secret=."
            )
        try:
            stripe.WebhookSignature.verify_header(payload, signature_header, key, tolerance)
        except stripe.SignatureVerificationError as error:
            message = redact_text(str(error.user_message or error), [key])
            raise stripe.SignatureVerificationError(
                message, redact_text(signature_header or "", [key])
            ) from None
        text = payload.decode("utf-8") if isinstance(payload, bytes | bytearray) else payload
        try:
            event = json.loads(text)
        except ValueError as error:
            raise ValueError(f"The webhook body is not JSON: {error}") from None
        if not isinstance(event, dict) or event.get("object") != "event":
            kind = event.get("object") if isinstance(event, dict) else type(event).__name__
            raise ValueError(f"The webhook body is not a Stripe event (object={kind!r})")
        return event

    # -- generic helpers ------------------------------------------------------------------------

    def iter_list(
        self,
        label: str,
        list_call: Callable[..., Any],
        filters: Mapping[str, Any],
        *,
        subject: str | None = None,
    ) -> Iterator[dict[str, Any]]:
        """Page through any Stripe list endpoint, each page retried like any other read.

        :param label: what is listed (``invoices``), for logs and :attr:`stats` (``list invoices``).
        :param list_call: the service method, e.g. ``client.v1.invoices.list``.
        :param filters: list parameters; ``limit`` defaults to 100.
        :param subject: the object whose items are listed (an invoice id …), for logs.
        """
        params: dict[str, Any] = {"limit": LIST_PAGE_SIZE, **filters}
        backwards = "ending_before" in params and "starting_after" not in params
        while True:
            page = self._read(
                f"list {label}", functools.partial(list_call, params=dict(params)), subject=subject
            )
            items = list(page.data)
            for item in reversed(items) if backwards else items:
                # An entry that is not an object (a broken answer) is passed on as it came, for
                # the caller's checks to name, rather than failing the whole page here.
                yield item.to_dict() if isinstance(item, stripe.StripeObject) else item
            if not page.has_more or not items:
                return
            ids = [getattr(item, "id", None) for item in items]
            cursor = next(
                (i for i in (ids if backwards else reversed(ids)) if isinstance(i, str) and i), None
            )
            if cursor is None:
                raise stripe.APIError(
                    f"Stripe's list of {label} says more follow but no entry of the page has an id to "
                    "continue after; stopping instead of reading the same page again"
                )
            if backwards:
                params["ending_before"] = cursor
            else:
                params["starting_after"] = cursor

    def test_connection(self) -> tuple[bool, str]:
        """Call ``GET /v1/balance`` once (no retries); never raises, never shows the key."""
        try:
            self.stats.add_call("test connection")
            self.client.v1.balance.retrieve(options={"max_network_retries": 0})
        except Exception as error:  # noqa: BLE001 - the UI wants a verdict, not a traceback
            return False, self._describe(error)
        where = self.settings.api_base or "https://api.stripe.com"
        return True, f"Connection successfully tested: Stripe API at {where} accepted the key."

    def _describe(self, error: Exception) -> str:
        settings = self.__dict__.get("settings")
        secrets = (settings.api_key, settings.webhook_secret) if settings else ()
        return describe_error(error, *secrets)

    def _post(
        self,
        kind: str,
        method: Callable[..., Any],
        *,
        params: Mapping[str, Any] | None,
        idempotency_key: str,
        subject: str | None = None,
    ) -> dict[str, Any]:
        """A POST with an explicit idempotency key, as a plain dict."""
        body = None if params is None else cast("Any", dict(params))
        result = self._write(
            kind, lambda: method(params=body, options={"idempotency_key": idempotency_key}), subject=subject
        )
        data: dict[str, Any] = result.to_dict()
        return data

    def _retrieve(self, kind: str, call: Callable[[], Any], *, subject: str) -> dict[str, Any] | None:
        """A retrieve as a plain dict, ``None`` when Stripe answers 404 or the object is deleted."""
        try:
            obj = self._call(kind, self._typed(call), subject=subject)
        except stripe.InvalidRequestError as error:
            if error.http_status == 404:
                return None
            raise StripeRecordError.from_stripe(error) from error
        except stripe.CardError as error:
            raise StripeRecordError.from_stripe(error) from error
        data: dict[str, Any] = obj.to_dict()
        return None if data.get("deleted") else data

    # -- retries and error mapping --------------------------------------------------------------

    def _write(self, kind: str, call: Callable[[], T], *, subject: str | None = None) -> T:
        try:
            return self._call(kind, self._typed(call), subject=subject)
        except (stripe.InvalidRequestError, stripe.IdempotencyError, stripe.CardError) as error:
            raise StripeRecordError.from_stripe(error) from error

    def _read(self, kind: str, call: Callable[[], T], *, subject: str | None = None) -> T:
        try:
            return self._call(kind, self._typed(call), subject=subject)
        except (stripe.InvalidRequestError, stripe.CardError) as error:
            raise StripeRecordError.from_stripe(error) from error

    def _typed(self, call: Callable[[], T]) -> Callable[[], T]:
        """``call``, raising :func:`typed_stripe_error` for answers that are not Stripe's JSON error
        (inside the hook's retries, so a proxy's bare 429 is retried like Stripe's)."""

        def typed() -> T:
            try:
                return call()
            except Exception as error:
                mapped = typed_stripe_error(error, *self._secrets())
                if mapped is error:
                    raise
                raise mapped from error

        return typed

    def _secrets(self) -> tuple[str | None, ...]:
        settings = self.__dict__.get("settings")
        return (settings.api_key, settings.webhook_secret) if settings else ()

    def _call(self, kind: str, call: Callable[[], T], *, subject: str | None = None) -> T:
        """Run ``call``, retrying the failures the SDK does not retry (see the module docstring).

        :param kind: the operation (``create customer``), counted in :attr:`stats`.
        :param subject: what it acts on (an id, a search query), named in retry warnings.
        """
        self.stats.add_call(kind)
        operation = f"{kind} {subject}" if subject else kind
        runner = RetryRunner(
            self.retry_policy, retry_if=hook_should_retry, retry_after=stripe_retry_after, sleep=time.sleep
        )
        return runner.call(call, on_retry=functools.partial(self._log_retry, operation))

    def _log_retry(self, operation: str, retry: RetryAttempt) -> None:
        error = retry.error
        if isinstance(error, stripe.APIConnectionError):
            reason = "connection lost before the response was complete"
        else:
            reason = f"rate limited (request {getattr(error, 'request_id', None)})"
        self.log.warning(
            "Stripe %s: %s; retrying in %.1fs (attempt %d of %d)",
            operation,
            reason,
            retry.delay,
            retry.attempt + 1,
            retry.attempts,
        )


def _expand(paths: Iterable[str]) -> Any:
    """Retrieve parameters asking for ``paths`` to be expanded (``None`` when there are none)."""
    wanted = list(paths)
    return {"expand": wanted} if wanted else None


def _event_types(types: Sequence[str]) -> list[str]:
    if isinstance(types, str):
        raise TypeError(f"types must be a list of event names, not the string {types!r}")
    names: list[str] = []
    for name in types:
        if name not in names:
            names.append(str(name))
    return names


def _response_header(error: BaseException, name: str) -> str | None:
    """A response header of a failed Stripe call, ``None`` when absent.

    stripe 16.1.0 hands the headers of an answer whose body is not Stripe's JSON (a bare 429 from a
    proxy, say) to ``APIError`` in the ``json_body`` position, so both places are searched.
    """
    wanted = name.lower()
    for candidate in (getattr(error, "headers", None), getattr(error, "json_body", None)):
        if isinstance(candidate, Mapping):
            for key, value in candidate.items():
                if str(key).lower() == wanted and value is not None:
                    return str(value)
    return None


def stripe_retry_after(error: BaseException) -> float | None:
    """The seconds a failed Stripe call's ``Retry-After`` asks to wait (delta-seconds or an
    HTTP-date), ``None`` when the answer carried none.

    :param error: an SDK error (``RateLimitError``, ``APIError`` …).
    """
    return parse_retry_after(_response_header(error, "retry-after"), time.time())


def hook_should_retry(error: BaseException) -> bool:
    """Whether the hook retries a failed SDK call that the SDK itself gave up on: a response cut
    short (the SDK did not retry it), or a 429 without ``Stripe-Should-Retry`` (the SDK follows
    that header when present, so the hook does not repeat its retries).

    :param error: what the SDK call raised.
    """
    if isinstance(error, stripe.APIConnectionError):
        return not error.should_retry and _response_cut_short(error)
    if isinstance(error, stripe.StripeError):
        # RateLimitError, or an APIError when a proxy answered 429 without Stripe's JSON body
        return error.http_status == 429 and _response_header(error, "stripe-should-retry") is None
    return False


def _response_cut_short(error: stripe.APIConnectionError) -> bool:
    """Whether the connection broke while the response was being read (the SDK does not retry it)."""
    return isinstance(
        error.__cause__, requests.exceptions.ChunkedEncodingError | requests.exceptions.ContentDecodingError
    )


# -- read-only probes (``ml-connector check``) -------------------------------------------------------


@dataclass(frozen=True)
class StripeProbe:
    """What Stripe answered one read-only probe (see :func:`probe_stripe`).

    :param path: the path probed (``/v1/customers``).
    :param status: the HTTP status, ``None`` when no answer came.
    :param message: Stripe's ``error.message`` (secrets removed), or why no answer came.
    :param body: the JSON body when it was an object, else ``{}``.
    :param stripe_version: the ``Stripe-Version`` header of the answer.
    :param date: the ``Date`` header of the answer (the server's clock), timezone-aware.
    :param sent_at: the worker's clock when the request was sent.
    :param received_at: the worker's clock when the answer came.
    """

    path: str
    status: int | None
    message: str
    body: dict[str, Any] = field(default_factory=dict, repr=False)
    stripe_version: str | None = None
    date: datetime | None = None
    sent_at: datetime | None = None
    received_at: datetime | None = None


def probe_stripe(hook: StripeHook, path: str, params: Mapping[str, str] | None = None) -> StripeProbe:
    """``GET path`` once with the hook's key, ``Stripe-Version`` and ``Stripe-Account``, without
    retries and without the SDK, so the probe sees the status and headers exactly as Stripe sent
    them. Only ever a GET: nothing is created or changed.

    :param hook: the tenant's hook (its connection is read; its rate limiter is waited for).
    :param path: an API path such as ``/v1/customers``.
    :param params: query parameters (``{"limit": "1"}``).
    """
    from email.utils import parsedate_to_datetime

    settings = hook.settings
    secrets = (settings.api_key, settings.webhook_secret)
    headers = {
        "Authorization": f"Bearer {settings.api_key}",
        "Stripe-Version": settings.api_version or stripe.api_version,
    }
    if settings.account_id:
        headers["Stripe-Account"] = settings.account_id
    url = (settings.api_base or STRIPE_API_BASE) + path
    hook.pacer.wait(url)
    hook.stats.add_call(f"probe {path}")
    sent_at = datetime.now(UTC)
    try:
        response = requests.get(url, params=dict(params or {}), headers=headers, timeout=settings.timeout)
    except requests.RequestException as error:
        return StripeProbe(path, None, describe_error(error, *secrets), sent_at=sent_at)
    received_at = datetime.now(UTC)
    try:
        payload = response.json()
    except ValueError:
        payload = None
    body: dict[str, Any] = payload if isinstance(payload, dict) else {}
    problem = body.get("error")
    if isinstance(problem, Mapping):
        message = redact_text(str(problem.get("message") or ""), secrets)
    elif response.ok:
        message = ""
    else:
        message = foreign_answer_message(response.status_code, response.text, [s for s in secrets if s])
    date: datetime | None = None
    try:
        date = parsedate_to_datetime(response.headers.get("Date", ""))
    except (TypeError, ValueError, IndexError):
        date = None
    return StripeProbe(
        path,
        response.status_code,
        message,
        body,
        stripe_version=response.headers.get("Stripe-Version"),
        date=date if date is not None and date.tzinfo is not None else None,
        sent_at=sent_at,
        received_at=received_at,
    )
