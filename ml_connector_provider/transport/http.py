"""The HTTP layer every hook uses: one pooled ``requests`` session, timeouts, retries and auth.

Retry rules (attempts and delays from :class:`~ml_connector_provider.transport.retry.RetryPolicy`,
run by its :class:`~ml_connector_provider.transport.retry.RetryRunner`):

* statuses in ``retry_statuses`` (429, 502, 503, 504 by default) are retried with exponential
  backoff and full jitter, or after the server's ``Retry-After`` (capped) when it sends one;
* a failed connect (refused, DNS failure, connect timeout) never reached the server and is always
  retried, as are the statuses in ``unprocessed_statuses`` (429 and 503: the server says it did not
  process the request);
* a read timeout, a connection dropped mid-response and a 502/504 leave the outcome unknown: they
  are retried only for idempotent requests (GET, PUT, DELETE…, or any request the caller marks
  ``idempotent=True`` or that carries an ``Idempotency-Key`` header);
* ``Stripe-Should-Retry: false`` forbids a retry, ``Stripe-Should-Retry: true`` asks for one even for
  a 409 or a 500;
* a 401 with a refreshable auth provider invalidates the token and repeats the request once;
* a response for which the caller's ``retry_response`` predicate is true is retried as a request
  the server did not process, whatever its status (NetSuite's ``CONCURRENCY_LIMIT_EXCEEDED``
  comes as a 400 on some accounts, contract B8/B9).

With a ``concurrency`` limiter, each exchange holds one of its slots while it is on the wire (the
token request an expired token calls for included), and none while the transport sleeps between
attempts.

The auth provider signs every attempt (see
:meth:`~ml_connector_provider.transport.auth.AuthProvider.sign`) on the prepared request, once its
method, URL, headers and body are final and any pacing wait is over.
"""

from __future__ import annotations

import contextlib
import functools
import http.client
import logging
import threading
import time
from collections import Counter
from collections.abc import Callable, Collection, Iterable, Mapping
from dataclasses import dataclass, field
from types import TracebackType
from typing import TYPE_CHECKING, Any, TypedDict, Unpack
from urllib.parse import urlsplit, urlunsplit

import requests
import urllib3.exceptions
from requests.adapters import HTTPAdapter
from requests.structures import CaseInsensitiveDict

from ml_connector_provider.transport.errors import (
    MAX_BODY,
    AuthError,
    ConnectionFailed,
    HttpStatusError,
    RetryExhausted,
    TransportError,
    body_excerpt,
)
from ml_connector_provider.transport.redaction import redact_text, redact_url
from ml_connector_provider.transport.retry import RetryAttempt, RetryPolicy, RetryRunner, parse_retry_after

if TYPE_CHECKING:
    from ml_connector_provider.transport.auth import AuthProvider
    from ml_connector_provider.transport.concurrency import ConcurrencyLimiter
    from ml_connector_provider.transport.pacing import AdaptivePacer

__all__ = [
    "HttpTransport",
    "RequestOptions",
    "Timeout",
    "TransportStats",
    "request_id_from",
]

log = logging.getLogger(__name__)

#: ``(connect, read)`` seconds, or one number for both.
Timeout = float | tuple[float, float]

#: Methods that RFC 9110 defines as idempotent.
IDEMPOTENT_METHODS = frozenset({"GET", "HEAD", "OPTIONS", "PUT", "DELETE", "TRACE"})

#: Response headers that carry the server's request id (Stripe, generic, Oracle Fusion).
REQUEST_ID_HEADERS = ("Request-Id", "X-Request-Id", "X-Oracle-DMS-ECID")

_USER_AGENT = "ml-connector-provider"


def request_id_from(headers: Mapping[str, str]) -> str | None:
    """The server's request id from response headers (see :data:`REQUEST_ID_HEADERS`), if any.

    :param headers: response headers (case-insensitive mapping).
    """
    return next((headers[name] for name in REQUEST_ID_HEADERS if headers.get(name)), None)


class _Retryable(Exception):
    """Raised inside an attempt to ask the retry runner for another one; never escapes the transport."""

    def __init__(self, error: TransportError, retry_after: float | None = None) -> None:
        super().__init__(error.message)
        self.error = error
        self.retry_after = retry_after


def _is_retryable(failure: BaseException) -> bool:
    return isinstance(failure, _Retryable)


def _requested_delay(failure: BaseException) -> float | None:
    return failure.retry_after if isinstance(failure, _Retryable) else None


@dataclass
class TransportStats:
    """Counters for benchmarks and diagnostics; safe to read from any thread.

    ``requests`` counts every exchange put on the wire (retries and the post-401 repeat included),
    ``retries`` the backoff sleeps, ``failures`` the exchanges that got no response.
    """

    requests: int = 0
    retries: int = 0
    auth_refreshes: int = 0
    failures: int = 0
    statuses: Counter[int] = field(default_factory=Counter)
    _lock: threading.Lock = field(default_factory=threading.Lock, repr=False, compare=False)

    def add(self, *, status: int | None = None, retry: bool = False, refresh: bool = False) -> None:
        """Count one retry, one credential refresh, or one exchange (``status=None``: no response)."""
        with self._lock:
            if retry:
                self.retries += 1
            elif refresh:
                self.auth_refreshes += 1
            else:
                self.requests += 1
                if status is None:
                    self.failures += 1
                else:
                    self.statuses[status] += 1

    def snapshot(self) -> dict[str, Any]:
        """A consistent copy of the counters as plain data."""
        with self._lock:
            return {
                "requests": self.requests,
                "retries": self.retries,
                "auth_refreshes": self.auth_refreshes,
                "failures": self.failures,
                "statuses": dict(self.statuses),
            }

    def reset(self) -> None:
        """Set every counter back to zero."""
        with self._lock:
            self.requests = self.retries = self.auth_refreshes = self.failures = 0
            self.statuses.clear()


class RequestOptions(TypedDict, total=False):
    """Keyword arguments accepted by :meth:`HttpTransport.request` and its shorthands."""

    params: Mapping[str, Any] | None
    json: Any
    data: Mapping[str, Any] | str | bytes | None
    headers: Mapping[str, str] | None
    idempotent: bool | None
    expected: Collection[int]
    timeout: Timeout | None


@dataclass
class _Call:
    method: str
    url: str
    display_url: str
    log_url: str
    json: Any
    data: Any
    headers: CaseInsensitiveDict[str]
    timeout: tuple[float, float]
    idempotent: bool
    expected: Collection[int]
    with_auth: bool
    auth_refreshed: bool = False


def _normalise_timeout(timeout: Timeout) -> tuple[float, float]:
    if isinstance(timeout, tuple):
        connect, read = timeout
        return float(connect), float(read)
    return float(timeout), float(timeout)


def _origin(url: str) -> tuple[str, str | None, int | None]:
    parts = urlsplit(url)
    scheme = parts.scheme.lower()
    port = parts.port or {"http": 80, "https": 443}.get(scheme)
    return scheme, (parts.hostname or "").lower() or None, port


def _without_query(url: str) -> str:
    parts = urlsplit(url)
    return urlunsplit((parts.scheme, parts.netloc, parts.path, "", ""))


def _never_sent(exc: BaseException) -> bool:
    """Whether a failed exchange certainly never delivered the request to the server."""
    if isinstance(exc, requests.exceptions.ConnectTimeout | urllib3.exceptions.ConnectTimeoutError):
        return True
    reason: object = exc
    if isinstance(exc, requests.exceptions.ConnectionError) and exc.args:
        reason = exc.args[0]
    if isinstance(reason, urllib3.exceptions.MaxRetryError):
        reason = reason.reason
    return isinstance(reason, urllib3.exceptions.NewConnectionError | urllib3.exceptions.ConnectTimeoutError)


def _transient(exc: BaseException) -> bool:
    """Whether a failed exchange is worth another attempt (as opposed to a TLS or usage error)."""
    if isinstance(
        exc,
        requests.exceptions.SSLError
        | requests.exceptions.InvalidURL
        | requests.exceptions.InvalidHeader
        | requests.exceptions.MissingSchema
        | requests.exceptions.InvalidSchema
        | requests.exceptions.TooManyRedirects
        | requests.exceptions.ContentDecodingError
        | urllib3.exceptions.SSLError,
    ):
        return False
    return isinstance(
        exc,
        requests.exceptions.ConnectionError
        | requests.exceptions.Timeout
        | requests.exceptions.ChunkedEncodingError
        | urllib3.exceptions.ProtocolError
        | urllib3.exceptions.TimeoutError
        | http.client.IncompleteRead
        | ConnectionError,
    )


class HttpTransport:
    """A pooled HTTP client with timeouts, retries, token refresh and secret-free errors.

    One instance per external system connection; it is safe to share between threads.

    :param base_url: prefix for relative paths (``base_url + "/" + path``, like httpx); absolute
        ``http(s)://`` URLs are used as given. ``None`` means every call passes an absolute URL.
    :param auth: adds credentials to (or signs) every attempt of requests whose origin (scheme,
        host, port) matches ``base_url`` (every request when there is no ``base_url``), so a token
        is never sent to a foreign host a response links to.
    :param headers: default headers for every request.
    :param timeout: ``(connect, read)`` timeout in seconds, or one number for both.
    :param retry: the retry policy; :class:`RetryPolicy` defaults when omitted.
    :param pool_size: connections kept open per host.
    :param verify: TLS verification: ``True``, ``False`` or a CA bundle path.
    :param trust_env: whether ``requests`` reads proxies and CA bundles from the environment.
    :param sleep: called with the seconds to wait between attempts (tests inject a recorder).
    :param clock: returns the current POSIX time (for ``Retry-After`` HTTP-dates).
    :param on_response: called with every response received, retried ones included.
    :param pacer: an :class:`~ml_connector_provider.transport.pacing.AdaptivePacer` consulted
        before every attempt and told every response status, so overload answers slow down all
        later requests of this client, not only the retries of one.
    :param secrets: literal values that must never appear in an error message, in addition to
        those the auth provider reports.
    :param concurrency: a :class:`~ml_connector_provider.transport.concurrency.ConcurrencyLimiter`
        of which every exchange holds a slot while on the wire (a server limiting requests in
        flight per account, such as NetSuite).
    :param retry_response: told every error response whose status the policy would not retry (or
        would retry only for an idempotent request); ``True`` retries it as a request the server
        did not process, even a POST (a throttling answer whose status says nothing, such as
        NetSuite's 400 ``CONCURRENCY_LIMIT_EXCEEDED``).
    """

    def __init__(
        self,
        base_url: str | None = None,
        *,
        auth: AuthProvider | None = None,
        headers: Mapping[str, str] | None = None,
        timeout: Timeout = (10.0, 60.0),
        retry: RetryPolicy | None = None,
        pool_size: int = 10,
        verify: bool | str = True,
        trust_env: bool = True,
        sleep: Callable[[float], None] = time.sleep,
        clock: Callable[[], float] = time.time,
        on_response: Callable[[requests.Response], None] | None = None,
        secrets: Iterable[str] = (),
        pacer: AdaptivePacer | None = None,
        concurrency: ConcurrencyLimiter | None = None,
        retry_response: Callable[[requests.Response], bool] | None = None,
    ) -> None:
        if base_url is not None and urlsplit(base_url).scheme not in ("http", "https"):
            raise ValueError(f"base_url must be an http(s) URL, got {redact_url(base_url)!r}")
        if pool_size < 1:
            raise ValueError(f"pool_size must be >= 1, got {pool_size}")
        self.base_url = base_url.rstrip("/") if base_url else None
        self.auth = auth
        self.timeout = _normalise_timeout(timeout)
        self.retry = retry or RetryPolicy()
        self.stats = TransportStats()
        self._sleep = sleep
        self._clock = clock
        self._on_response = on_response
        self.pacer = pacer
        self.concurrency = concurrency
        self._retry_response = retry_response
        self._secrets = tuple(s for s in secrets if s)
        self._base_origin = _origin(self.base_url) if self.base_url else None

        session = requests.Session()
        adapter = HTTPAdapter(pool_connections=pool_size, pool_maxsize=pool_size, max_retries=0)
        session.mount("https://", adapter)
        session.mount("http://", adapter)
        session.verify = verify
        session.trust_env = trust_env
        session.headers["User-Agent"] = _USER_AGENT
        session.headers["Accept"] = "application/json"
        session.headers.update(headers or {})
        self._session = session

    # -- public API ---------------------------------------------------------------------------

    @property
    def session(self) -> requests.Session:
        """The underlying session, for settings this class does not expose (client certs…)."""
        return self._session

    def url_for(self, path_or_url: str) -> str:
        """The absolute URL a request for ``path_or_url`` goes to.

        :param path_or_url: a path relative to ``base_url`` or an absolute ``http(s)`` URL.
        """
        if path_or_url.startswith(("http://", "https://")):
            return path_or_url
        if self.base_url is None:
            raise ValueError(f"relative path {path_or_url!r} needs a transport with a base_url")
        if not path_or_url:
            return self.base_url
        return f"{self.base_url}/{path_or_url.lstrip('/')}"

    def request(
        self,
        method: str,
        path_or_url: str,
        *,
        params: Mapping[str, Any] | None = None,
        json: Any = None,
        data: Mapping[str, Any] | str | bytes | None = None,
        headers: Mapping[str, str] | None = None,
        idempotent: bool | None = None,
        expected: Collection[int] = (),
        timeout: Timeout | None = None,
    ) -> requests.Response:
        """Send a request, retrying transient failures, and return the response.

        :param method: HTTP method.
        :param path_or_url: path relative to ``base_url``, or an absolute URL.
        :param params: query parameters.
        :param json: JSON body.
        :param data: form fields or a raw body (must be re-sendable: no iterators).
        :param headers: extra headers for this request.
        :param idempotent: whether repeating the request is harmless after a response was lost.
            ``None`` decides by method, and counts a request carrying an ``*Idempotency-Key``
            header as idempotent.
        :param expected: non-2xx statuses to return instead of raising (e.g. ``{404}``).
        :param timeout: overrides the transport's timeout for this request.
        :raises HttpStatusError: the server answered with a status that is not retried.
        :raises AuthError: the server answered 401 (again, after refreshing the token).
        :raises ConnectionFailed: no response, and the failure is not retried.
        :raises RetryExhausted: every attempt failed with a retryable failure.
        """
        call = self._prepare(method, path_or_url, params, json, data, headers, idempotent, expected, timeout)
        runner = RetryRunner(
            self.retry, retry_if=_is_retryable, retry_after=_requested_delay, sleep=self._sleep
        )
        try:
            return runner.call(
                functools.partial(self._attempt, call), on_retry=functools.partial(self._log_retry, call)
            )
        except _Retryable as exhausted:
            raise RetryExhausted(exhausted.error, self.retry.attempts) from exhausted.error

    def get(self, path_or_url: str, **options: Unpack[RequestOptions]) -> requests.Response:
        """``GET``; see :meth:`request` for the options."""
        return self.request("GET", path_or_url, **options)

    def post(self, path_or_url: str, **options: Unpack[RequestOptions]) -> requests.Response:
        """``POST``; see :meth:`request` for the options."""
        return self.request("POST", path_or_url, **options)

    def put(self, path_or_url: str, **options: Unpack[RequestOptions]) -> requests.Response:
        """``PUT``; see :meth:`request` for the options."""
        return self.request("PUT", path_or_url, **options)

    def patch(self, path_or_url: str, **options: Unpack[RequestOptions]) -> requests.Response:
        """``PATCH``; see :meth:`request` for the options."""
        return self.request("PATCH", path_or_url, **options)

    def delete(self, path_or_url: str, **options: Unpack[RequestOptions]) -> requests.Response:
        """``DELETE``; see :meth:`request` for the options."""
        return self.request("DELETE", path_or_url, **options)

    def close(self) -> None:
        """Close the pooled connections."""
        self._session.close()

    def __enter__(self) -> HttpTransport:
        return self

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        self.close()

    def __repr__(self) -> str:
        return f"{type(self).__name__}(base_url={self.base_url!r})"

    # -- one request --------------------------------------------------------------------------

    def _prepare(
        self,
        method: str,
        path_or_url: str,
        params: Mapping[str, Any] | None,
        json: Any,
        data: Any,
        headers: Mapping[str, str] | None,
        idempotent: bool | None,
        expected: Collection[int],
        timeout: Timeout | None,
    ) -> _Call:
        method = method.upper()
        prepared = requests.PreparedRequest()
        prepared.prepare_url(self.url_for(path_or_url), params)
        url = prepared.url or ""
        request_headers: CaseInsensitiveDict[str] = CaseInsensitiveDict(headers or {})
        if idempotent is None:
            keyed = any(
                name.lower().endswith("idempotency-key")
                for name in (*request_headers.keys(), *self._session.headers.keys())
            )
            idempotent = method in IDEMPOTENT_METHODS or keyed
        with_auth = self.auth is not None and (self._base_origin is None or _origin(url) == self._base_origin)
        display_url = redact_url(url)
        return _Call(
            method=method,
            url=url,
            display_url=display_url,
            log_url=_without_query(display_url),
            json=json,
            data=data,
            headers=request_headers,
            timeout=_normalise_timeout(timeout) if timeout is not None else self.timeout,
            idempotent=idempotent,
            expected=frozenset(expected),
            with_auth=with_auth,
        )

    def _attempt(self, call: _Call) -> requests.Response:
        response = self._send(call)
        if (
            response.status_code == 401
            and call.with_auth
            and self.auth is not None
            and self.auth.refreshable
            and not call.auth_refreshed
        ):
            call.auth_refreshed = True
            self.stats.add(refresh=True)
            log.info("%s %s: HTTP 401, refreshing credentials and repeating once", call.method, call.log_url)
            self.auth.invalidate(response.request.headers)
            response.close()
            response = self._send(call)
        return self._evaluate(call, response)

    def _send(self, call: _Call) -> requests.Response:
        if self.pacer is not None:
            self.pacer.before_request()
        session = self._session
        with contextlib.ExitStack() as held:
            if self.concurrency is not None:
                held.enter_context(self.concurrency.slot())
            return self._exchange(call, session)

    def _exchange(self, call: _Call, session: requests.Session) -> requests.Response:
        try:
            prepared = session.prepare_request(
                requests.Request(
                    call.method, call.url, headers=call.headers, json=call.json, data=call.data or {}
                )
            )
            if call.with_auth and self.auth is not None:
                self.auth.sign(prepared)
            settings = session.merge_environment_settings(prepared.url, {}, None, None, None)
            response = session.send(prepared, timeout=call.timeout, allow_redirects=True, **settings)
        except (requests.RequestException, urllib3.exceptions.HTTPError, http.client.HTTPException) as exc:
            self.stats.add(status=None)
            error, retry = self._connection_failure(call, exc)
            # Chain the low-level error only when its text cannot carry a redacted query secret.
            cause = exc if call.display_url == call.url else None
            if retry:
                error.__cause__ = cause
                raise _Retryable(error) from None
            raise error from cause
        self.stats.add(status=response.status_code)
        if self.pacer is not None:
            self.pacer.observe(response.status_code)
        if self._on_response is not None:
            self._on_response(response)
        return response

    def _connection_failure(self, call: _Call, exc: BaseException) -> tuple[ConnectionFailed, bool]:
        never_sent = _never_sent(exc)
        transient = _transient(exc)
        detail = redact_text(str(exc), self._secret_values())
        if len(detail) > 300:
            detail = detail[:299] + "…"
        kind = "connection failed" if never_sent else "no complete response"
        message = f"{call.method} {call.display_url}: {kind} ({type(exc).__name__}: {detail})"
        retry = transient and (never_sent or call.idempotent)
        if transient and not retry:
            message += (
                f"; not retried because {call.method} is not idempotent and the server may have acted on it"
            )
        error = ConnectionFailed(
            message,
            method=call.method,
            url=call.display_url,
            request_sent=not never_sent,
            reason=type(exc).__name__,
        )
        return error, retry

    def _evaluate(self, call: _Call, response: requests.Response) -> requests.Response:
        status = response.status_code
        if status < 400 or status in call.expected:
            return response
        error = self._status_error(call, response)
        if status == 401:
            refreshed = " after refreshing credentials" if call.auth_refreshed else ""
            raise AuthError(
                f"{call.method} {call.display_url}: credentials rejected{refreshed} (HTTP 401)"
                + (f": {error.body_excerpt}" if error.body_excerpt else ""),
                method=call.method,
                url=call.display_url,
                status=401,
                request_id=error.request_id,
            )
        if self._should_retry(call, response):
            retry_after = parse_retry_after(response.headers.get("Retry-After"), self._clock())
            raise _Retryable(error, retry_after)
        raise error

    def _should_retry(self, call: _Call, response: requests.Response) -> bool:
        verdict = (response.headers.get("Stripe-Should-Retry") or "").strip().lower()
        if verdict == "false":
            return False
        if verdict == "true":
            return True
        if self._retry_response is not None and self._retry_response(response):
            return True
        status = response.status_code
        if status not in self.retry.retry_statuses:
            return False
        return call.idempotent or status in self.retry.unprocessed_statuses

    def _status_error(self, call: _Call, response: requests.Response) -> HttpStatusError:
        secrets = self._secret_values()
        try:
            text = response.text[:MAX_BODY]
        except (requests.RequestException, UnicodeDecodeError, LookupError):
            text = ""
        request_id = request_id_from(response.headers)
        return HttpStatusError(
            response.status_code,
            call.method,
            call.display_url,
            body_excerpt(text, secrets),
            request_id,
            reason=response.reason or "",
            body=redact_text(text, secrets),
            headers=response.headers,
        )

    def secret_values(self) -> tuple[str, ...]:
        """Every literal value that must not appear in a message: those given to the constructor
        and those the auth provider reports (for callers that quote a response body themselves)."""
        extra = self.auth.secret_values() if self.auth is not None else ()
        return self._secrets + tuple(extra)

    _secret_values = secret_values

    def _log_retry(self, call: _Call, retry: RetryAttempt) -> None:
        self.stats.add(retry=True)
        failure = retry.error
        error = failure.error if isinstance(failure, _Retryable) else failure
        if isinstance(error, HttpStatusError):
            what = f"HTTP {error.status}"
        elif isinstance(error, ConnectionFailed):
            what = error.reason
        else:  # pragma: no cover - only _Retryable failures are retried
            what = type(error).__name__
        log.warning(
            "%s %s: %s on attempt %d of %d, retrying in %.2f s",
            call.method,
            call.log_url,
            what,
            retry.attempt,
            retry.attempts,
            retry.delay,
        )
