"""The Airflow hook for Oracle NetSuite: REST record service and SuiteQL over OAuth 2.0 M2M.

Contract: ``oracle_fusion_netsuite.md`` part B. What the hook does, by contract section:

* B1 — the REST host from the account id (``1234567_SB1`` → ``1234567-sb1.suitetalk.api.netsuite.com``),
  or the connection's ``base_url``;
* B2 — OAuth 2.0 client credentials with a JWT client assertion (PS256 by default, ES256…; ``kid``
  = certificate id, ``aud`` = the token endpoint, ``exp`` 5 minutes after ``iat``); the 60-minute
  token is cached per connection in the process, renewed 5 minutes before it expires (there is no
  refresh token) and fetched again once when the API answers 401;
* B3/B4 — get, create (the internal id from ``Location``), upsert by external id
  (``PUT …/eid:<externalId>``) and update (``PATCH``) of records;
* B6 — SuiteQL with ``Prefer: transient`` and limit/offset paging until ``hasMore`` is false, every
  value written by :func:`~ml_connector_provider.hooks.netsuite.suiteql.ql_literal`;
* B7 — a create is not repeated after a lost answer (the idempotency key is documented only for
  asynchronous requests); the safe way to write exactly once is the external-id upsert;
* B8 — error answers become :mod:`~ml_connector_provider.hooks.netsuite.errors` classes;
* B9 — one concurrency limiter per account shared by every hook of the process, and
  ``CONCURRENCY_LIMIT_EXCEEDED`` (429, or 400 on some accounts, no ``Retry-After``) retried with
  exponential backoff and jitter.
"""

from __future__ import annotations

import threading
from collections.abc import Iterator, Mapping, Sequence
from functools import cached_property
from typing import Any, ClassVar, NoReturn

import requests
from airflow.sdk import BaseHook

from ml_connector_provider.hooks.netsuite.connection import NetSuiteConnectionSettings
from ml_connector_provider.hooks.netsuite.errors import (
    NetSuiteAuthError,
    NetSuiteResponseError,
    NetSuiteUnknownOutcomeError,
    describe,
    is_concurrency_limit,
    netsuite_error,
)
from ml_connector_provider.hooks.netsuite.ids import (
    check_external_id,
    check_internal_id,
    check_record_type,
    id_from_location,
    record_path,
)
from ml_connector_provider.hooks.netsuite.suiteql import (
    MAX_IN_LIST,
    select_where_equals,
    select_where_in,
)
from ml_connector_provider.transport import (
    AuthError,
    ConnectionFailed,
    HttpStatusError,
    HttpTransport,
    OAuth2JwtBearer,
    OffsetPage,
    PagingError,
    RetryExhausted,
    RetryPolicy,
    TransportError,
    iter_offset_pages,
    redact_text,
    shared_concurrency_limiter,
)

__all__ = [
    "ASSERTION_LIFETIME",
    "RENEW_BEFORE",
    "SUITEQL_MAX_ROWS",
    "SUITEQL_PAGE_SIZE",
    "NetSuiteHook",
    "clear_token_cache",
]

#: Seconds between the client assertion's ``iat`` and ``exp`` (B2: under 60 minutes; ~5 advised).
ASSERTION_LIFETIME = 300

#: Seconds before expiry at which the access token is replaced (B2: tokens last 60 minutes).
RENEW_BEFORE = 300.0

#: Rows per SuiteQL page, NetSuite's maximum (B6).
SUITEQL_PAGE_SIZE = 1000

#: Rows one SuiteQL query can return through paging (B6); beyond, page by ``WHERE id > …``.
SUITEQL_MAX_ROWS = 100_000

_AUTH_HINT = (
    "; NetSuite gives the reason only in its Login Audit Trail (Setup > Users/Roles > User Management "
    "> View Login Audit Trail): check the integration record's client credentials grant, the "
    "certificate mapping (certificate id, entity, role) and the account id"
)

#: Statuses after which a create may or may not have happened: the server failed while or after
#: acting, or an edge in front of it answered (B8: 502/504 "via edge", 503 maintenance).
_UNKNOWN_OUTCOME_STATUSES = frozenset({500, 502, 503, 504})

_tokens: dict[tuple[str, ...], OAuth2JwtBearer] = {}
_tokens_lock = threading.Lock()


def clear_token_cache() -> None:
    """Forget every cached token provider (tests, or after a connection's key was replaced)."""
    with _tokens_lock:
        providers = list(_tokens.values())
        _tokens.clear()
    for provider in providers:
        provider.close()


def _token_provider(settings: NetSuiteConnectionSettings) -> OAuth2JwtBearer:
    """The process-wide token provider of a connection's client, key and scope (one cached token)."""
    key = settings.token_key
    with _tokens_lock:
        provider = _tokens.get(key)
        if provider is None:
            provider = _tokens[key] = OAuth2JwtBearer(
                settings.token_url,
                issuer=settings.client_id,
                private_key_pem=settings.private_key,
                private_key_passphrase=settings.private_key_passphrase,
                key_id=settings.certificate_id,
                algorithm=settings.algorithm,
                scope=settings.scope,
                lifetime=ASSERTION_LIFETIME,
                client_assertion_mode=True,
                timeout=settings.timeouts,
                renew_before=RENEW_BEFORE,
            )
        return provider


def _retry_concurrency_answer(response: requests.Response) -> bool:
    """Whether the transport retries an answer as unprocessed: the 400 form of the concurrency
    refusal some accounts send (B8)."""
    if response.status_code != 400:
        return False
    try:
        payload = response.json()
    except ValueError:
        return False
    return is_concurrency_limit(400, payload)


def _record_body(record_type: str, body: Mapping[str, Any]) -> dict[str, Any]:
    if not isinstance(body, Mapping):
        raise TypeError(f"the body of a {record_type} must be a mapping, got {type(body).__name__}")
    return dict(body)


class NetSuiteHook(BaseHook):
    """Read and write Oracle NetSuite records through SuiteTalk REST web services.

    Nothing happens on construction; the connection is read and the HTTP client built on first use
    (and cached). The client is thread-safe; every hook of one account in the process shares one
    concurrency limiter, and every hook of one connection one token.

    :param netsuite_conn_id: the Airflow connection id (type ``netsuite``).
    :param retry: overrides the retry policy built from the connection's ``retry_*`` extras.
    :param concurrency: overrides the connection's ``concurrency`` (the stricter value of all hooks
        of one account holds).
    :param logger_name: name of the hook's logger (Airflow's default when ``None``).
    """

    conn_name_attr: ClassVar[str] = "netsuite_conn_id"
    default_conn_name: ClassVar[str] = "netsuite_default"
    conn_type: ClassVar[str] = "netsuite"
    hook_name: ClassVar[str] = "Oracle NetSuite"

    def __init__(
        self,
        netsuite_conn_id: str = default_conn_name,
        *,
        retry: RetryPolicy | None = None,
        concurrency: int | None = None,
        logger_name: str | None = None,
    ) -> None:
        super().__init__(logger_name=logger_name)
        self.netsuite_conn_id = netsuite_conn_id
        self._retry_override = retry
        self._concurrency_override = concurrency

    # -- connection ----------------------------------------------------------------------------

    @cached_property
    def settings(self) -> NetSuiteConnectionSettings:
        """The connection's settings (read once; the key registered with the secret masker)."""
        conn = self.get_connection(self.netsuite_conn_id)
        try:
            return NetSuiteConnectionSettings.from_airflow(conn)
        except ValueError as exc:
            raise ValueError(f"NetSuite connection {self.netsuite_conn_id!r}: {exc}") from None

    @cached_property
    def transport(self) -> HttpTransport:
        """The pooled HTTP client for the account's REST API (built on first use)."""
        settings = self.settings
        limit = self._concurrency_override or settings.concurrency
        limiter = shared_concurrency_limiter(
            settings.limiter_key, limit, name=f"NetSuite account {settings.account_id}"
        )
        self.log.info(
            "NetSuite connection %s: account %s at %s, %s client assertion, at most %d requests in flight",
            self.netsuite_conn_id,
            settings.account_id,
            settings.rest_url,
            settings.algorithm,
            limiter.limit,
        )
        return HttpTransport(
            settings.rest_url,
            auth=_token_provider(settings),
            headers={"X-NetSuite-PropertyNameValidation": "error"},
            timeout=settings.timeouts,
            retry=self._retry_override or settings.retry,
            secrets=settings.secrets,
            concurrency=limiter,
            retry_response=_retry_concurrency_answer,
            pool_size=max(10, limiter.limit),
        )

    def get_conn(self) -> HttpTransport:
        """The cached :class:`~ml_connector_provider.transport.HttpTransport`."""
        return self.transport

    @property
    def token_provider(self) -> OAuth2JwtBearer:
        """The connection's token provider (shared by every hook of the connection in the process)."""
        auth = self.transport.auth
        assert isinstance(auth, OAuth2JwtBearer)
        return auth

    def close(self) -> None:
        """Close the pooled connections (the hook can be used again; the token stays cached)."""
        transport = self.__dict__.pop("transport", None)
        if transport is not None:
            transport.close()

    def fetch_token(self) -> None:
        """Make sure a valid access token is cached, fetching one if needed (for checks).

        :raises NetSuiteAuthError: the token endpoint refused the client assertion.
        """
        try:
            self.token_provider.token()
        except AuthError as exc:
            raise self._auth_error("POST token", exc) from exc
        except TransportError as exc:
            raise exc.in_context("NetSuite, POST token") from exc

    def test_connection(self) -> tuple[bool, str]:
        """Check the connection: a token, then one SuiteQL row of ``customer``. Never raises; the
        message never holds a secret.

        :returns: ``(True, message)`` or ``(False, reason)``.
        """
        secrets: tuple[str, ...] = ()
        try:
            secrets = self.settings.secrets
            self.fetch_token()
            page = self.suiteql_page("SELECT id FROM customer", limit=1, offset=0)
            return (
                True,
                f"Connection successfully tested: token issued, SuiteQL answered {len(page.items)} row(s)",
            )
        except Exception as exc:  # noqa: BLE001 - the UI contract: report, never raise
            transport = self.__dict__.get("transport")
            if transport is not None:
                secrets += transport.secret_values()
            return False, redact_text(f"{type(exc).__name__}: {exc}", secrets)

    # -- one request ---------------------------------------------------------------------------

    def _auth_error(self, what: str, exc: AuthError) -> NetSuiteAuthError:
        return NetSuiteAuthError(
            f"NetSuite, {what}: {exc.message}{_AUTH_HINT}",
            status=exc.status,
            error_codes=(exc.error,) if exc.error else (),
            detail=exc.error_description or "",
            method=exc.method,
        )

    def _request(
        self,
        method: str,
        path: str,
        *,
        record_type: str | None,
        record_ref: str | None,
        expected: Sequence[int] = (),
        **options: Any,
    ) -> requests.Response:
        """One request; the transport's errors turned into the hook's (module docstring of errors)."""
        what = describe(record_type, record_ref)
        try:
            return self.transport.request(method, path, expected=expected, **options)
        except HttpStatusError as exc:
            raise netsuite_error(method, record_type, record_ref, exc) from exc
        except RetryExhausted as exc:
            last = exc.last_error
            if isinstance(last, HttpStatusError) and is_concurrency_limit(last.status, last.json()):
                raise netsuite_error(
                    method, record_type, record_ref, last, concurrency_exhausted=True
                ) from exc
            raise exc.in_context(f"NetSuite, {method} {what}") from exc
        except AuthError as exc:
            raise self._auth_error(f"{method} {what}", exc) from exc
        except TransportError as exc:
            raise exc.in_context(f"NetSuite, {method} {what}") from exc

    @staticmethod
    def _json_object(response: requests.Response, what: str) -> dict[str, Any]:
        try:
            payload = response.json()
        except ValueError:
            payload = None
        if not isinstance(payload, dict):
            raise NetSuiteResponseError(
                f"NetSuite answered {what} with HTTP {response.status_code} but not with a JSON object",
                status=response.status_code,
            )
        return payload

    # -- record service (B3, B4) -----------------------------------------------------------------

    def get_record(
        self,
        record_type: str,
        internal_id: str | int,
        *,
        expand_sub_resources: bool = False,
        fields: Sequence[str] | None = None,
    ) -> dict[str, Any]:
        """``GET record/v1/<type>/<id>``: one record.

        :param record_type: the record type (``invoice``, ``customer``…).
        :param internal_id: its internal id.
        :param expand_sub_resources: ask for sublists (``item.items``…) inline.
        :param fields: read only these body fields.
        :raises NetSuiteNotFoundError: no such record.
        """
        ref = check_internal_id(record_type, internal_id)
        record = self._get(record_type, ref, expand_sub_resources, fields, expected=())
        assert record is not None  # a 404 raised NetSuiteNotFoundError
        return record

    def get_by_external_id(
        self,
        record_type: str,
        external_id: str,
        *,
        expand_sub_resources: bool = False,
        fields: Sequence[str] | None = None,
    ) -> dict[str, Any] | None:
        """``GET record/v1/<type>/eid:<externalId>``: the record, or ``None`` when NetSuite has none.

        :raises NetSuiteValueError: the external id cannot be sent (see
            :func:`~ml_connector_provider.hooks.netsuite.ids.check_external_id`).
        """
        ref = "eid:" + check_external_id(record_type, external_id)
        return self._get(record_type, ref, expand_sub_resources, fields, expected=(404,))

    def _get(
        self,
        record_type: str,
        ref: str,
        expand: bool,
        fields: Sequence[str] | None,
        *,
        expected: Sequence[int],
    ) -> dict[str, Any] | None:
        params: dict[str, str] = {}
        if expand:
            params["expandSubResources"] = "true"
        if fields:
            params["fields"] = ",".join(fields)
        response = self._request(
            "GET",
            record_path(record_type, ref),
            record_type=record_type,
            record_ref=ref,
            expected=expected,
            params=params or None,
        )
        if response.status_code == 404:
            return None
        return self._json_object(response, f"GET {record_type} {ref}")

    def create_record(self, record_type: str, body: Mapping[str, Any]) -> str:
        """``POST record/v1/<type>``: a new record; its internal id, read from ``Location``.

        A create is not repeated after a lost answer or a 5xx (B7): when NetSuite may have created
        the record, :class:`NetSuiteUnknownOutcomeError` says so and the caller looks the record up by
        its external id. Prefer :meth:`upsert_by_external_id`, which is safe to repeat.

        :raises NetSuiteValidationError: NetSuite refused the body (the caller dead-letters it).
        :raises NetSuiteUnknownOutcomeError: the record may or may not exist now.
        :raises NetSuiteResponseError: the answer has no ``Location`` with an id.
        """
        check_record_type(record_type)
        payload = _record_body(record_type, body)
        try:
            response = self._request(
                "POST", record_path(record_type), record_type=record_type, record_ref=None, json=payload
            )
        except ConnectionFailed as exc:
            if not exc.request_sent:
                raise
            self._unknown_outcome(record_type, payload, exc.reason, exc)
        except Exception as exc:
            status = getattr(exc, "status", None)
            if status in _UNKNOWN_OUTCOME_STATUSES:
                self._unknown_outcome(record_type, payload, f"HTTP {status}", exc)
            raise
        return self._location_id(response, "POST", record_type, None)

    @staticmethod
    def _unknown_outcome(record_type: str, body: Mapping[str, Any], what: str, exc: Exception) -> NoReturn:
        eid = body.get("externalId")
        lookup = (
            f"look it up with GET {record_type}/eid:{eid} before creating it again"
            if isinstance(eid, str)
            else "look it up (by externalId or a SuiteQL query) before creating it again"
        )
        raise NetSuiteUnknownOutcomeError(
            f"NetSuite, POST {record_type}: no usable answer ({what}); the {record_type} may or may not "
            f"have been created, so the create is not repeated: {lookup}",
            status=getattr(exc, "status", None),
            record_type=record_type,
            method="POST",
        ) from exc

    def upsert_by_external_id(self, record_type: str, external_id: str, body: Mapping[str, Any]) -> str:
        """``PUT record/v1/<type>/eid:<externalId>``: create the record with this external id or
        update the one that has it (B3); its internal id.

        The contract confirms ``204`` with a ``Location`` (Oracle's documentation and public client
        tests); an answer without one is followed by ``GET …/eid:<externalId>``. A ``PUT`` is
        idempotent, so it is retried after 5xx and lost answers, and can be repeated by the caller.

        :param record_type: the record type.
        :param external_id: the external id (see
            :func:`~ml_connector_provider.hooks.netsuite.ids.check_external_id`).
        :param body: the record's fields; it must not hold ``id``, and an ``externalId`` in it must
            equal ``external_id``.
        :raises NetSuiteValueError: the external id cannot be sent.
        :raises NetSuiteValidationError: NetSuite refused the body.
        """
        ref = "eid:" + check_external_id(record_type, external_id)
        payload = _record_body(record_type, body)
        if "id" in payload:
            raise ValueError(f"the body of an upsert of {record_type} {ref} must not hold an internal id")
        if payload.get("externalId", external_id) != external_id:
            raise ValueError(
                f"the body of an upsert of {record_type} {ref} holds another externalId "
                f"{payload['externalId']!r}"
            )
        response = self._request(
            "PUT", record_path(record_type, ref), record_type=record_type, record_ref=ref, json=payload
        )
        found = id_from_location(response.headers.get("Location"))
        if found is not None:
            return found
        record = self._get(record_type, ref, False, ("id",), expected=())
        internal_id = None if record is None else record.get("id")
        if internal_id is None or id_from_location(str(internal_id)) != str(internal_id):
            raise NetSuiteResponseError(
                f"NetSuite answered PUT {record_type} {ref} without a Location, and the record read back has no id",
                status=response.status_code,
                record_type=record_type,
                record_ref=ref,
                method="PUT",
            )
        return str(internal_id)

    def update_record(
        self,
        record_type: str,
        internal_id: str | int,
        body: Mapping[str, Any],
        *,
        idempotent: bool = False,
    ) -> None:
        """``PATCH record/v1/<type>/<id>``: change the fields in ``body`` (B3).

        :param idempotent: the body only sets fields (no sublist lines added), so the request may
            be repeated after a lost answer; a ``PATCH`` is not repeated otherwise.
        :raises NetSuiteNotFoundError: no such record.
        :raises NetSuiteValidationError: NetSuite refused the body.
        """
        ref = check_internal_id(record_type, internal_id)
        self._request(
            "PATCH",
            record_path(record_type, ref),
            record_type=record_type,
            record_ref=ref,
            json=_record_body(record_type, body),
            idempotent=idempotent,
        )

    @staticmethod
    def _location_id(response: requests.Response, method: str, record_type: str, ref: str | None) -> str:
        found = id_from_location(response.headers.get("Location"))
        if found is None:
            raise NetSuiteResponseError(
                f"NetSuite answered {method} {describe(record_type, ref)} with HTTP {response.status_code} "
                "but no Location holding the record's internal id",
                status=response.status_code,
                record_type=record_type,
                record_ref=ref,
                method=method,
            )
        return found

    # -- SuiteQL (B6) ---------------------------------------------------------------------------

    def suiteql_page(self, query: str, *, limit: int, offset: int) -> OffsetPage[dict[str, Any]]:
        """One page of a SuiteQL query: ``POST query/v1/suiteql?limit=&offset=`` with
        ``Prefer: transient``; each row without its empty ``links``.

        :param query: the SuiteQL text (values written with ``ql_literal``).
        :param limit: rows per page, 1 to 1000.
        :param offset: a multiple of ``limit`` (B5).
        :raises NetSuiteQueryError: NetSuite refused the query.
        """
        if not 1 <= limit <= SUITEQL_PAGE_SIZE:
            raise ValueError(f"a SuiteQL page holds 1 to {SUITEQL_PAGE_SIZE} rows, got limit {limit}")
        if offset % limit:
            raise NetSuiteResponseError(
                f"SuiteQL paging reached offset {offset}, not a multiple of the page size {limit} "
                "(NetSuite returned a short page that said hasMore); page by WHERE id > … instead"
            )
        if offset >= SUITEQL_MAX_ROWS:
            raise NetSuiteResponseError(
                f"a SuiteQL query returns at most {SUITEQL_MAX_ROWS} rows through paging (B6); "
                "page by WHERE id > … instead"
            )
        response = self._request(
            "POST",
            "query/v1/suiteql",
            record_type=None,
            record_ref=None,
            params={"limit": limit, "offset": offset},
            json={"q": query},
            headers={"Prefer": "transient"},
            idempotent=True,  # a query changes nothing
        )
        body = self._json_object(response, "a SuiteQL query")
        try:
            page = OffsetPage.from_envelope(body)
        except PagingError as exc:
            raise NetSuiteResponseError(f"NetSuite's SuiteQL answer at offset {offset}: {exc}") from exc
        rows = [
            {key: value for key, value in row.items() if key != "links"} if isinstance(row, dict) else row
            for row in page.items
        ]
        if any(not isinstance(row, dict) for row in rows):
            raise NetSuiteResponseError(
                f"NetSuite's SuiteQL answer at offset {offset} has a row that is not an object"
            )
        return OffsetPage(rows, page.has_more, page.count)

    def suiteql(self, query: str, *, page_size: int = SUITEQL_PAGE_SIZE) -> Iterator[dict[str, Any]]:
        """Every row of a SuiteQL query, page after page until ``hasMore`` is false.

        Column names come back in lower case; NetSuite omits NULL columns from a row (B6,
        UNCONFIRMED), so read them with ``row.get``.

        :param query: the SuiteQL text (values written with ``ql_literal``).
        :param page_size: rows per request, 1 to 1000.
        :raises NetSuiteQueryError: NetSuite refused the query.
        """
        try:
            for rows in iter_offset_pages(
                lambda offset: self.suiteql_page(query, limit=page_size, offset=offset),
                label="NetSuite's SuiteQL answer",
            ):
                yield from rows
        except PagingError as exc:
            raise NetSuiteResponseError(str(exc)) from exc

    def find_one(
        self, table: str, column: str, value: object, columns: Sequence[str] = ("id",)
    ) -> dict[str, Any] | None:
        """The row of ``table`` whose ``column`` equals ``value``, ``None`` when there is none.

        :raises NetSuiteResponseError: several rows match (a look-up key that is not unique).
        :raises NetSuiteValueError: the value cannot be written into a query.
        """
        rows = list(self.suiteql(select_where_equals(table, columns, column, value), page_size=2))
        if len(rows) > 1:
            raise NetSuiteResponseError(
                f"NetSuite has {len(rows)} {table} rows whose {column} is {value!r}; expected at most one"
            )
        return rows[0] if rows else None

    def find_by_values(
        self,
        table: str,
        column: str,
        values: Sequence[object],
        columns: Sequence[str] = ("id",),
        *,
        chunk_size: int = MAX_IN_LIST,
    ) -> list[dict[str, Any]]:
        """Every row of ``table`` whose ``column`` is one of ``values`` (one query per chunk of
        values, ``IN`` lists of at most ``chunk_size``).

        :raises NetSuiteValueError: a value cannot be written into a query (the message shows it).
        """
        names = list(dict.fromkeys([*columns, column]))
        rows: list[dict[str, Any]] = []
        for query in select_where_in(table, names, column, values, chunk_size=chunk_size):
            rows.extend(self.suiteql(query))
        return rows

    def ids_by_external_id(self, table: str, external_ids: Sequence[str]) -> dict[str, str]:
        """``{externalId: internal id}`` for the rows of ``table`` that have one of ``external_ids``
        (``customer``, ``item``, ``transaction``); ids NetSuite does not know are absent.
        """
        rows = self.find_by_values(table, "externalid", external_ids, ("id", "externalid"))
        return {str(row["externalid"]): str(row["id"]) for row in rows if "externalid" in row and "id" in row}
