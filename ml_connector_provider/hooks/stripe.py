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
  and a 429 without ``Stripe-Should-Retry`` (honouring ``Retry-After`` when present).

Errors that concern a single record (Stripe's 400/402/404 answers) become
:class:`StripeRecordError` so the sync engine can dead-letter the record; authentication and
permission errors, exhausted rate limits, 5xx and connection failures propagate and fail the task,
which Airflow retries.
"""

from __future__ import annotations

import functools
import random
import re
import time
from collections.abc import Callable, Iterator, Mapping
from dataclasses import dataclass
from functools import cached_property
from typing import Any, TypeVar, cast

import requests
import stripe
from airflow.providers.common.compat.sdk import BaseHook, mask_secret

__all__ = [
    "DEFAULT_MAX_NETWORK_RETRIES",
    "DEFAULT_TIMEOUT",
    "StripeConnectionSettings",
    "StripeHook",
    "StripeRecordError",
]

DEFAULT_TIMEOUT = 80.0
"""Seconds per HTTP request when the connection sets no ``timeout`` (the SDK's own default)."""
DEFAULT_MAX_NETWORK_RETRIES = 2
"""Retries per call when the connection sets no ``max_network_retries``."""
MAX_RETRY_AFTER = 30.0
"""Longest ``Retry-After`` the hook waits before retrying a 429."""
LIST_PAGE_SIZE = 100
"""Page size of the ``iter_*`` methods (Stripe's maximum)."""

T = TypeVar("T")

_KEY_PATTERN = re.compile(r"\b(?:sk|rk|pk)_(?:test|live)_[A-Za-z0-9*]+|\bwhsec_[A-Za-z0-9*]+")


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
    """

    api_key: str
    api_base: str | None
    account_id: str | None
    api_version: str | None
    max_network_retries: int
    timeout: float
    webhook_secret: str | None


def _text(value: Any) -> str | None:
    """Blank UI fields come back as ``""`` or ``None``; normalise both to ``None``."""
    if value is None:
        return None
    text = str(value).strip()
    return text or None


def _scrub(text: str, *secrets: str | None) -> str:
    for secret in secrets:
        if secret:
            text = text.replace(secret, "***")
    return _KEY_PATTERN.sub("***", text)


def _search_literal(value: str) -> str:
    escaped = value.replace("\\", "\\\\").replace("'", "\\'")
    return f"'{escaped}'"


class StripeHook(BaseHook):
    """Talk to Stripe through a ``stripe`` Airflow connection.

    Connection fields: password = secret key (``sk_…`` or restricted ``rk_…``); extras
    ``api_base``, ``account_id``, ``api_version``, ``max_network_retries``, ``timeout``,
    ``webhook_secret``. Nothing is read or sent until the client is first used.

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

    # -- connection and client ------------------------------------------------------------------

    @cached_property
    def settings(self) -> StripeConnectionSettings:
        """The connection's settings (read once; secrets registered with the secret masker)."""
        conn = self.get_connection(self.stripe_conn_id)
        extras = conn.extra_dejson
        api_key = _text(conn.password)
        if api_key is None:
            raise ValueError(
                f"Stripe connection {self.stripe_conn_id!r} has no secret key; put it in the password field."
            )
        mask_secret(api_key)
        webhook_secret = _text(extras.get("webhook_secret"))
        if webhook_secret is not None:
            mask_secret(webhook_secret)
        api_base = _text(extras.get("api_base"))
        retries = self._retries_override
        if retries is None:
            retries = int(_text(extras.get("max_network_retries")) or DEFAULT_MAX_NETWORK_RETRIES)
        timeout = self._timeout_override
        if timeout is None:
            timeout = float(_text(extras.get("timeout")) or DEFAULT_TIMEOUT)
        if retries < 0:
            raise ValueError(f"Stripe connection {self.stripe_conn_id!r}: max_network_retries must be >= 0")
        if timeout <= 0:
            raise ValueError(f"Stripe connection {self.stripe_conn_id!r}: timeout must be positive")
        return StripeConnectionSettings(
            api_key=api_key,
            api_base=api_base.rstrip("/") if api_base else None,
            account_id=_text(extras.get("account_id")),
            api_version=_text(extras.get("api_version")),
            max_network_retries=retries,
            timeout=timeout,
            webhook_secret=webhook_secret,
        )

    @cached_property
    def client(self) -> stripe.StripeClient:
        """The ``StripeClient`` for this connection (built on first use, then reused)."""
        settings = self.settings
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
            http_client=stripe.RequestsClient(timeout=settings.timeout),
            **options,
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
        customer = self._write(
            "create customer",
            lambda: self.client.v1.customers.create(
                params=cast("Any", dict(params)), options={"idempotency_key": idempotency_key}
            ),
        )
        return customer.to_dict()

    def update_customer(
        self, customer_id: str, params: Mapping[str, Any], *, idempotency_key: str
    ) -> dict[str, Any]:
        """Update a customer (``POST /v1/customers/{id}``); ``""`` unsets a field or metadata key.

        :raises StripeRecordError: unknown or deleted customer, or refused parameters.
        """
        customer = self._write(
            f"update customer {customer_id}",
            lambda: self.client.v1.customers.update(
                customer_id, params=cast("Any", dict(params)), options={"idempotency_key": idempotency_key}
            ),
        )
        return customer.to_dict()

    def retrieve_customer(self, customer_id: str) -> dict[str, Any] | None:
        """The customer, or ``None`` when it does not exist or was deleted.

        :raises StripeRecordError: Stripe refused the request for another reason.
        """
        try:
            customer = self._call(
                f"retrieve customer {customer_id}", lambda: self.client.v1.customers.retrieve(customer_id)
            )
        except stripe.InvalidRequestError as error:
            if error.http_status == 404:
                return None
            raise StripeRecordError.from_stripe(error) from error
        data = customer.to_dict()
        return None if data.get("deleted") else data

    def find_customer_by_metadata(self, key: str, value: str) -> dict[str, Any] | None:
        """The live customer whose ``metadata[key] == value``, found with the search API.

        Search is eventually consistent (a customer created moments ago may be missing), so use it
        as a fallback after the ledger link and the idempotency key. When several customers match,
        the oldest is returned and a warning names them all.
        """
        query = f"metadata[{_search_literal(key)}]:{_search_literal(value)}"

        def search() -> list[dict[str, Any]]:
            result = self.client.v1.customers.search(params={"query": query, "limit": LIST_PAGE_SIZE})
            return [item.to_dict() for item in result.auto_paging_iter()]

        found = self._read(f"search customers {query}", search)
        matches = sorted(
            (c for c in found if not c.get("deleted") and (c.get("metadata") or {}).get(key) == value),
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

    def iter_customers(self, **filters: Any) -> Iterator[dict[str, Any]]:
        """Every customer matching ``filters`` (``email``, ``created={"gte": ts}`` ...), newest first.

        Pages of 100 are fetched lazily; ``ending_before`` walks towards newer customers instead,
        oldest first, as the SDK's auto-paging does.
        """
        return self.iter_list("customers", self.client.v1.customers.list, filters)

    # -- generic helpers ------------------------------------------------------------------------

    def iter_list(
        self,
        label: str,
        list_call: Callable[..., Any],
        filters: Mapping[str, Any],
    ) -> Iterator[dict[str, Any]]:
        """Page through any Stripe list endpoint, each page retried like any other read.

        :param label: what is listed, for logs.
        :param list_call: the service method, e.g. ``client.v1.invoices.list``.
        :param filters: list parameters; ``limit`` defaults to 100.
        """
        params: dict[str, Any] = {"limit": LIST_PAGE_SIZE, **filters}
        backwards = "ending_before" in params and "starting_after" not in params
        while True:
            page = self._read(f"list {label}", functools.partial(list_call, params=dict(params)))
            items = list(page.data)
            for item in reversed(items) if backwards else items:
                yield item.to_dict()
            if not page.has_more or not items:
                return
            if backwards:
                params["ending_before"] = items[0].id
            else:
                params["starting_after"] = items[-1].id

    def test_connection(self) -> tuple[bool, str]:
        """Call ``GET /v1/balance`` once (no retries); never raises, never shows the key."""
        try:
            self.client.v1.balance.retrieve(options={"max_network_retries": 0})
        except Exception as error:  # noqa: BLE001 - the UI wants a verdict, not a traceback
            return False, self._describe(error)
        where = self.settings.api_base or "https://api.stripe.com"
        return True, f"Connection successfully tested: Stripe API at {where} accepted the key."

    def _describe(self, error: Exception) -> str:
        if isinstance(error, stripe.StripeError):
            status = f" (HTTP {error.http_status})" if error.http_status else ""
            text = f"{type(error).__name__}{status}: {error.user_message or error}"
        else:
            text = f"{type(error).__name__}: {error}"
        settings = self.__dict__.get("settings")
        secrets = (settings.api_key, settings.webhook_secret) if settings else ()
        return _scrub(text, *secrets)

    # -- retries and error mapping --------------------------------------------------------------

    def _write(self, operation: str, call: Callable[[], T]) -> T:
        try:
            return self._call(operation, call)
        except (stripe.InvalidRequestError, stripe.IdempotencyError, stripe.CardError) as error:
            raise StripeRecordError.from_stripe(error) from error

    def _read(self, operation: str, call: Callable[[], T]) -> T:
        try:
            return self._call(operation, call)
        except (stripe.InvalidRequestError, stripe.CardError) as error:
            raise StripeRecordError.from_stripe(error) from error

    def _call(self, operation: str, call: Callable[[], T]) -> T:
        """Run ``call``, retrying the failures the SDK does not retry (see the module docstring)."""
        attempts = self.settings.max_network_retries + 1
        attempt = 1
        while True:
            try:
                return call()
            except stripe.APIConnectionError as error:
                if attempt >= attempts or error.should_retry or not _response_cut_short(error):
                    raise  # the SDK already retried it, or retrying cannot help
                delay = _backoff(attempt)
                reason = "connection lost before the response was complete"
            except stripe.StripeError as error:
                # RateLimitError, or an APIError when a proxy answered 429 without Stripe's JSON body
                if error.http_status != 429:
                    raise
                if attempt >= attempts or _header(error, "stripe-should-retry") is not None:
                    raise  # the SDK already followed Stripe-Should-Retry, or no retries left
                retry_after = _retry_after(error)
                delay = _backoff(attempt) if retry_after is None else retry_after
                reason = f"rate limited (request {error.request_id})"
            attempt += 1
            self.log.warning(
                "Stripe %s: %s; retrying in %.1fs (attempt %d of %d)",
                operation,
                reason,
                delay,
                attempt,
                attempts,
            )
            time.sleep(delay)


def _header(error: stripe.StripeError, name: str) -> str | None:
    headers = error.headers or {}
    value = headers.get(name)
    if value is None:
        lowered = {str(k).lower(): v for k, v in headers.items()}
        value = lowered.get(name)
    return None if value is None else str(value)


def _retry_after(error: stripe.StripeError) -> float | None:
    value = _header(error, "retry-after")
    if value is None:
        return None
    try:
        return min(max(float(value), 0.0), MAX_RETRY_AFTER)
    except ValueError:
        return None


def _backoff(attempt: int) -> float:
    """The SDK's schedule: 0.5 s doubling up to 5 s, times a jitter in [0.5, 1], at least 0.5 s."""
    base = min(0.5 * 2 ** (attempt - 1), 5.0)
    return max(0.5, base * random.uniform(0.5, 1.0))


def _response_cut_short(error: stripe.APIConnectionError) -> bool:
    """Whether the connection broke while the response was being read (the SDK does not retry it)."""
    return isinstance(
        error.__cause__, requests.exceptions.ChunkedEncodingError | requests.exceptions.ContentDecodingError
    )
