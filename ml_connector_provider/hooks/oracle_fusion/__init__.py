"""Airflow hook for Oracle Fusion Cloud ERP's REST API (``fscmRestApi``, version 11.13.18.05).

The hook owns authentication and transport: it reads an ``oracle_fusion`` Airflow connection,
builds one pooled :class:`~ml_connector_provider.transport.HttpTransport` (retries with backoff that
honour ``Retry-After`` on 429/502/503/504, a new OAuth token after a 401) and speaks the Oracle ADF
REST conventions every Fusion resource follows: the ``items/count/hasMore/limit/offset`` envelope,
offset paging capped at 500 rows, ``q`` filters in two dialects, ``onlyData``, ``fields``,
``expand``, finders, ``Location`` on create and ``/action/<name>`` calls.

Journals cannot be created through REST: :meth:`OracleFusionHook.import_journals` builds the FBDI
``GlInterface.csv`` (:mod:`ml_connector_provider.hooks.oracle_fusion.fbdi`), zips it and submits it to
``erpintegrations`` (``importBulkData`` with ``JournalImportLauncher``);
:meth:`~OracleFusionHook.wait_for_ess_job` polls the ESS request (``ESSJobStatusRF``) with growing
pauses, :meth:`~OracleFusionHook.ess_job_log` reads its log (``ESSJobExecutionDetailsRF``) and
:func:`parse_journal_import_log` pulls the rejected batches out of it;
:meth:`~OracleFusionHook.find_by_attribute` then looks the batches up by name. The submission is
not idempotent and is never repeated once it may have reached Fusion (see
:meth:`~OracleFusionHook.import_bulk_data`).

Connection (``conn_type`` ``oracle_fusion``; fields declared in ``get_provider_info``):

* ``host`` — the pod URL, ``https://<pod>.fa.<region>.oraclecloud.com`` (a missing scheme means
  https; a trailing ``/fscmRestApi/...`` path is ignored).
* ``extra.auth_type`` — ``oauth2_client_credentials`` (default when a client id is set) or
  ``basic`` (``login``/``password``; default when only those are set).
* ``extra.token_url``, ``extra.client_id``, ``extra.client_secret``, ``extra.scope`` — the IAM
  identity domain's token endpoint and confidential application; the scope is the Fusion audience
  followed by ``urn:opc:resource:consumer::all``.
* ``extra.rest_framework_version`` — sent as ``REST-Framework-Version`` (default 4). It selects
  the ``q`` dialect the hook writes: 1 → query-by-example (``Attr>=value;Attr<value``), 2 and
  later → expressions (``Attr >= 'value' and Attr < 'value'``); 4 and later also make Fusion
  return JSON error details.
* ``extra.timeout`` — seconds per HTTP request (default 60).
* Optional extras not shown in the form: ``client_auth`` (``basic``, the default, sends the client
  credentials in an HTTP Basic header; ``post`` sends them as form fields), ``retry_attempts``,
  ``retry_base_delay``, ``retry_max_delay``, ``retry_max_retry_after``, ``retry_statuses`` (see
  :meth:`RetryPolicy.from_mapping <ml_connector_provider.transport.RetryPolicy.from_mapping>`),
  ``api_version`` (default ``11.13.18.05``; ``latest`` also works) and ``test_resource`` (the
  collection :meth:`OracleFusionHook.test_connection` reads; default
  ``receivablesCustomerAccountSiteActivities``).

Tolerance where the contract is UNCONFIRMED: timestamps are parsed with or without milliseconds,
with ``Z``, ``+00:00``, ``+0000`` or no offset, and as bare dates (:func:`parse_timestamp`); the
page-size cap may be 499 rather than 500, so paging follows ``hasMore`` and the returned item count,
never the requested size; error bodies are read both as plain text and as the framework-4 JSON
payload; keys are taken from ``links[rel=self].href`` when the caller passes one; expanded
children are read as arrays or as collection objects (:func:`expanded_items`); ESS logs are read
as a zip, as text or as plain content, and an unknown log format parses to nothing.
"""

from __future__ import annotations

import base64
import binascii
import io
import logging
import math
import re
import time
import zipfile
from collections.abc import Iterable, Iterator, Mapping, Sequence
from dataclasses import dataclass, field, replace
from datetime import UTC, date, datetime, timedelta, timezone
from decimal import Decimal
from functools import cached_property
from typing import Any, ClassVar, Literal
from urllib.parse import quote, urlsplit, urlunsplit

import requests
from airflow.sdk import BaseHook
from airflow.sdk.log import mask_secret

from ml_connector_provider.hooks.oracle_fusion.fbdi import (
    GL_IMPORT_DOCUMENT_ACCOUNT,
    JOURNAL_IMPORT_JOB,
    Journal,
    build_gl_interface_csv,
    journal_import_parameters,
    parse_journal_import_log,
    zip_gl_interface,
)
from ml_connector_provider.transport import (
    AdaptivePacer,
    AuthProvider,
    BasicAuth,
    ConnectionFailed,
    HttpStatusError,
    HttpTransport,
    OAuth2ClientCredentials,
    RetryExhausted,
    RetryPolicy,
    redact_text,
)

__all__ = [
    "ACTION_MEDIA_TYPE",
    "DEFAULT_JOB_OPTIONS",
    "ERP_INTEGRATIONS",
    "ESS_RUNNING_STATUSES",
    "ESS_SUCCESS_STATUSES",
    "ESS_TERMINAL_STATUSES",
    "ITEM_MEDIA_TYPE",
    "FusionApiError",
    "FusionBadRequest",
    "FusionConnectionSettings",
    "FusionEssJobError",
    "FusionEssRequestNotFound",
    "FusionEssTimeout",
    "FusionResponseError",
    "OracleFusionError",
    "OracleFusionHook",
    "expanded_items",
    "format_timestamp",
    "parse_journal_import_log",
    "parse_timestamp",
]

log = logging.getLogger(__name__)

#: How often :meth:`OracleFusionHook.iter_changed` re-reads rows that changed under it before giving up.
_MAX_RESTARTS = 20

#: Media type of item bodies sent with POST and PATCH.
ITEM_MEDIA_TYPE = "application/vnd.oracle.adf.resourceitem+json"
#: Media type of the body of a ``…/action/<name>`` POST.
ACTION_MEDIA_TYPE = "application/vnd.oracle.adf.action+json"

AuthType = Literal["oauth2_client_credentials", "basic"]

#: The resource that runs FBDI imports and ESS jobs.
ERP_INTEGRATIONS = "erpintegrations"
#: ``JobOptions`` of a GL journal import (``InterfaceDetails=15`` is the GL interface; UNCONFIRMED
#: but used widely).
DEFAULT_JOB_OPTIONS = "InterfaceDetails=15,ImportOption=Y,PurgeOption=N,ExtractFileType=ALL"
#: ESS request statuses after which a request does not change any more (contract A5.7).
ESS_TERMINAL_STATUSES: frozenset[str] = frozenset(
    {
        "SUCCEEDED",
        "ERROR",
        "WARNING",
        "CANCELED",
        "CANCELLED",
        "EXPIRED",
        "FINISHED",
        "HOLD",
        "VALIDATION FAILED",
        "ERROR MANUAL RECOVERY",
    }
)
#: ESS request statuses of a request still queued or running (contract A5.7).
ESS_RUNNING_STATUSES: frozenset[str] = frozenset({"WAIT", "READY", "RUNNING", "BLOCKED", "PAUSED"})
#: Terminal statuses that mean the job did its work (``WARNING``: it did, with remarks).
ESS_SUCCESS_STATUSES: frozenset[str] = frozenset({"SUCCEEDED", "WARNING", "FINISHED"})

_TIMESTAMP = re.compile(
    r"^(?P<date>\d{4}-\d{2}-\d{2})"
    r"(?:[T ](?P<h>\d{2}):(?P<m>\d{2})(?::(?P<s>\d{2})(?:[.,](?P<frac>\d{1,9}))?)?"
    r"\s*(?P<tz>[Zz]|[+-]\d{2}(?::?\d{2})?)?)?$"
)


# -- timestamps ----------------------------------------------------------------------------------


def parse_timestamp(value: str | datetime | date) -> datetime:
    """Parse a Fusion date or timestamp into an aware UTC :class:`~datetime.datetime`.

    Accepts what Fusion and its documentation show (contract A4.3): ``2026-01-01T10:00:00+00:00``,
    ``2026-01-01T10:00:00.123+00:00``, ``…Z``, ``…+0000``, ``…+01``, any number of fraction digits
    (truncated to microseconds), a space instead of ``T``, no seconds, no offset (taken as UTC) and
    a bare date ``2026-01-01`` (midnight UTC). Datetimes are converted to UTC (naive ones are
    taken as UTC); dates become midnight UTC.

    :param value: the attribute value.
    :raises ValueError: the value is not a date or timestamp.
    """
    if isinstance(value, datetime):
        return value.replace(tzinfo=UTC) if value.tzinfo is None else value.astimezone(UTC)
    if isinstance(value, date):
        return datetime(value.year, value.month, value.day, tzinfo=UTC)
    if not isinstance(value, str):
        raise ValueError(f"not a Fusion timestamp: {value!r}")
    match = _TIMESTAMP.match(value.strip())
    if match is None:
        raise ValueError(f"not a Fusion timestamp: {value!r}")
    try:
        day = date.fromisoformat(match["date"])
        if match["h"] is None:
            return datetime(day.year, day.month, day.day, tzinfo=UTC)
        offset = UTC
        tz_text = match["tz"]
        if tz_text and tz_text not in ("Z", "z"):
            digits = tz_text[1:].replace(":", "").ljust(4, "0")
            delta = timedelta(hours=int(digits[:2]), minutes=int(digits[2:]))
            offset = timezone(-delta if tz_text[0] == "-" else delta)
        parsed = datetime(
            day.year,
            day.month,
            day.day,
            int(match["h"]),
            int(match["m"]),
            int(match["s"] or 0),
            int((match["frac"] or "0")[:6].ljust(6, "0")),
            tzinfo=offset,
        )
    except ValueError:
        raise ValueError(f"not a Fusion timestamp: {value!r}") from None
    return parsed.astimezone(UTC)


def format_timestamp(value: datetime) -> str:
    """Format an aware datetime the way Fusion writes timestamps: ``2026-01-01T10:00:00.000+00:00``.

    Microseconds are truncated to milliseconds (use :func:`_ceil_millis` first for a lower bound).

    :param value: an aware datetime.
    :raises ValueError: ``value`` is naive.
    """
    if value.tzinfo is None:
        raise ValueError("Fusion timestamps need a timezone-aware datetime")
    value = value.astimezone(UTC)
    return value.strftime("%Y-%m-%dT%H:%M:%S.") + f"{value.microsecond // 1000:03d}+00:00"


def _ceil_millis(value: datetime) -> datetime:
    rest = value.microsecond % 1000
    return value if rest == 0 else value + timedelta(microseconds=1000 - rest)


def _floor_millis(value: datetime) -> datetime:
    return value.replace(microsecond=value.microsecond - value.microsecond % 1000)


# -- errors --------------------------------------------------------------------------------------


class OracleFusionError(Exception):
    """Base class of the hook's own errors (transport errors propagate unchanged)."""


class FusionApiError(OracleFusionError):
    """Fusion answered a request with an error status that is not retried.

    :param message: the full, secret-free message (names the resource and Fusion's detail).
    :param resource: the resource the request was for.
    :param status: the HTTP status.
    :param detail: Fusion's error text (plain-text body, or the JSON ``o:errorDetails`` details).
    :param error_codes: the ``o:errorCode`` values of a framework-4 JSON error.
    """

    def __init__(
        self, message: str, *, resource: str, status: int, detail: str, error_codes: Sequence[str] = ()
    ) -> None:
        super().__init__(message)
        self.message = message
        self.resource = resource
        self.status = status
        self.detail = detail
        self.error_codes = tuple(error_codes)

    def __str__(self) -> str:
        return self.message


class FusionBadRequest(FusionApiError):
    """HTTP 400: Fusion refused the request (bad ``q``, non-queryable attribute, business rule)."""


class FusionResponseError(OracleFusionError):
    """A Fusion answer broke the REST contract (not JSON, no ``items``, ``hasMore`` without items)."""


class FusionEssRequestNotFound(OracleFusionError):
    """Fusion knows no ESS request with this id (``ESSJobStatusRF`` answered no item).

    :param request_id: the ESS request id asked about.
    """

    def __init__(self, request_id: str) -> None:
        super().__init__(f"Oracle Fusion knows no ESS request {request_id}")
        self.request_id = request_id


class FusionEssTimeout(OracleFusionError, TimeoutError):
    """An ESS request did not reach a terminal status in time.

    :param request_id: the ESS request id.
    :param timeout: the seconds waited.
    :param last_status: the last status read (``None`` when no poll succeeded).
    """

    def __init__(self, request_id: str, timeout: float, last_status: str | None) -> None:
        seen = f"last status {last_status}" if last_status else "no status could be read"
        super().__init__(
            f"Oracle Fusion ESS request {request_id} did not finish within {timeout:g} s ({seen}); "
            "it may still be running — wait for it again instead of submitting the job a second time"
        )
        self.request_id = request_id
        self.timeout = timeout
        self.last_status = last_status


class FusionEssJobError(OracleFusionError):
    """An ESS job ended in a status that is not a success; for callers that want to raise.

    :param request_id: the ESS request id.
    :param status: its terminal status (``ERROR``, ``WARNING``, ``CANCELED``…).
    :param log_excerpt: the end of the job log (what explains the status), may be empty.
    """

    def __init__(self, request_id: str, status: str, log_excerpt: str = "") -> None:
        message = f"Oracle Fusion ESS request {request_id} ended with status {status}"
        if log_excerpt.strip():
            message += f"; log excerpt:\n{log_excerpt.strip()}"
        super().__init__(message)
        self.request_id = request_id
        self.status = status
        self.log_excerpt = log_excerpt


# -- connection settings -------------------------------------------------------------------------


def _blank_to_none(value: Any) -> Any:
    if isinstance(value, str):
        value = value.strip()
        return value or None
    return value


def _pod_url(host: str | None, port: int | None) -> str:
    if not host or not host.strip():
        raise ValueError(
            "the connection has no host: set it to the pod URL, https://<pod>.fa.<region>.oraclecloud.com"
        )
    text = host.strip()
    if "://" not in text:
        text = "https://" + text
    parts = urlsplit(text)
    if parts.scheme not in ("http", "https") or not parts.hostname:
        raise ValueError(f"the connection host {host!r} is not an http(s) URL")
    netloc = parts.netloc
    if port and parts.port is None:
        netloc = f"{netloc}:{port}"
    path = parts.path
    marker = path.find("/fscmRestApi")
    if marker >= 0:
        path = path[:marker]
    return urlunsplit((parts.scheme, netloc, path.rstrip("/"), "", ""))


@dataclass(frozen=True)
class FusionConnectionSettings:
    """What the hook reads from an ``oracle_fusion`` connection (see the module docstring).

    :param pod_url: scheme, host and port of the pod.
    :param auth_type: ``oauth2_client_credentials`` or ``basic``.
    :param rest_framework_version: the ``REST-Framework-Version`` header value.
    :param timeout: seconds per HTTP request.
    :param retry: retry policy of API calls.
    :param api_version: the REST API version in the path (``11.13.18.05``).
    :param token_url: token endpoint (OAuth 2.0).
    :param client_id: client id (OAuth 2.0; not a secret).
    :param client_secret: client secret (OAuth 2.0).
    :param scope: requested scope (OAuth 2.0).
    :param client_auth: how the client authenticates at the token endpoint: ``basic`` or ``post``.
    :param username: user name (basic auth).
    :param password: password (basic auth).
    :param test_resource: the collection :meth:`OracleFusionHook.test_connection` reads.
    """

    pod_url: str
    auth_type: AuthType
    rest_framework_version: int
    timeout: float
    retry: RetryPolicy
    api_version: str = "11.13.18.05"
    token_url: str | None = None
    client_id: str | None = None
    client_secret: str | None = field(default=None, repr=False)
    scope: str | None = None
    client_auth: Literal["basic", "post"] = "basic"
    username: str | None = None
    password: str | None = field(default=None, repr=False)
    test_resource: str = "receivablesCustomerAccountSiteActivities"

    @property
    def base_url(self) -> str:
        """``<pod>/fscmRestApi/resources/<api_version>``."""
        return f"{self.pod_url}/fscmRestApi/resources/{self.api_version}"

    @property
    def secrets(self) -> tuple[str, ...]:
        """The secret values held, for scrubbing messages."""
        return tuple(s for s in (self.client_secret, self.password) if s)

    @classmethod
    def from_connection(
        cls,
        *,
        host: str | None,
        port: int | None = None,
        login: str | None = None,
        password: str | None = None,
        extra: Mapping[str, Any] | None = None,
    ) -> FusionConnectionSettings:
        """Read and validate the settings of an Airflow connection.

        :param host: ``conn.host``.
        :param port: ``conn.port``.
        :param login: ``conn.login``.
        :param password: ``conn.password``.
        :param extra: ``conn.extra_dejson``.
        :raises ValueError: a setting is missing or invalid (the message names it, never a secret).
        """
        extras = {key: _blank_to_none(value) for key, value in (extra or {}).items()}
        login = _blank_to_none(login)
        password = _blank_to_none(password)
        client_id = extras.get("client_id")
        auth_type = extras.get("auth_type")
        if auth_type is None:
            auth_type = "basic" if client_id is None and login is not None else "oauth2_client_credentials"
        if auth_type not in ("oauth2_client_credentials", "basic"):
            raise ValueError(
                f"extra 'auth_type' must be 'oauth2_client_credentials' or 'basic', got {auth_type!r}"
            )
        chosen_auth: AuthType = "basic" if auth_type == "basic" else "oauth2_client_credentials"
        raw_version = 4 if extras.get("rest_framework_version") is None else extras["rest_framework_version"]
        try:
            version = int(raw_version)
        except (TypeError, ValueError):
            raise ValueError(f"extra 'rest_framework_version' must be 1 to 9, got {raw_version!r}") from None
        if not 1 <= version <= 9:
            raise ValueError(f"extra 'rest_framework_version' must be 1 to 9, got {raw_version!r}")
        raw_timeout = 60 if extras.get("timeout") is None else extras["timeout"]
        try:
            timeout = float(raw_timeout)
        except (TypeError, ValueError):
            raise ValueError(f"extra 'timeout' must be a number of seconds, got {raw_timeout!r}") from None
        if not math.isfinite(timeout) or timeout <= 0:
            raise ValueError(f"extra 'timeout' must be a positive number of seconds, got {raw_timeout!r}")
        raw_client_auth = extras.get("client_auth") or "basic"
        if raw_client_auth not in ("basic", "post"):
            raise ValueError(f"extra 'client_auth' must be 'basic' or 'post', got {raw_client_auth!r}")
        client_auth: Literal["basic", "post"] = "post" if raw_client_auth == "post" else "basic"
        try:
            retry = RetryPolicy.from_mapping(extras)
        except (TypeError, ValueError) as exc:
            raise ValueError(f"invalid retry extras: {exc}") from None
        settings = cls(
            pod_url=_pod_url(_blank_to_none(host), port),
            auth_type=chosen_auth,
            rest_framework_version=version,
            timeout=timeout,
            retry=retry,
            api_version=str(extras.get("api_version") or "11.13.18.05"),
            token_url=extras.get("token_url"),
            client_id=None if client_id is None else str(client_id),
            client_secret=None if extras.get("client_secret") is None else str(extras["client_secret"]),
            scope=extras.get("scope"),
            client_auth=client_auth,
            username=login,
            password=password,
            test_resource=str(extras.get("test_resource") or "receivablesCustomerAccountSiteActivities"),
        )
        settings._check_auth()
        return settings

    def _check_auth(self) -> None:
        if self.auth_type == "basic":
            if not self.username or not self.password:
                raise ValueError("basic auth needs the connection's login and password")
            return
        missing = [
            name
            for name, value in (
                ("token_url", self.token_url),
                ("client_id", self.client_id),
                ("client_secret", self.client_secret),
            )
            if not value
        ]
        if missing:
            raise ValueError(f"OAuth 2.0 client credentials need the extra(s) {', '.join(missing)}")
        if urlsplit(str(self.token_url)).scheme not in ("http", "https"):
            raise ValueError("extra 'token_url' must be an http(s) URL")


# -- the hook ------------------------------------------------------------------------------------


class OracleFusionHook(BaseHook):
    """Read and write Oracle Fusion Cloud ERP resources over its REST API.

    Nothing happens on construction; the connection is read and the HTTP client built on first use
    (and cached). The HTTP client is thread-safe once built.

    :param oracle_fusion_conn_id: the Airflow connection id (type ``oracle_fusion``).
    :param rest_framework_version: overrides the connection's ``rest_framework_version``.
    :param retry: overrides the retry policy built from the connection's ``retry_*`` extras.
    :param logger_name: name of the hook's logger (Airflow's default when ``None``).
    :param pacer: an adaptive pacer shared by every request of this hook (see
        :class:`~ml_connector_provider.transport.pacing.AdaptivePacer`): overload answers (429, 503)
        then slow down all later requests, not only the retries of the one that got them.
    :param retry_attempts: overrides only the number of attempts of the retry policy (the
        connection's backoff settings stay).
    """

    conn_name_attr: ClassVar[str] = "oracle_fusion_conn_id"
    default_conn_name: ClassVar[str] = "oracle_fusion_default"
    conn_type: ClassVar[str] = "oracle_fusion"
    hook_name: ClassVar[str] = "Oracle Fusion Cloud ERP"

    #: Largest page Fusion returns; larger limits are capped silently by the server.
    MAX_PAGE_SIZE: ClassVar[int] = 500

    def __init__(
        self,
        oracle_fusion_conn_id: str = default_conn_name,
        *,
        rest_framework_version: int | None = None,
        retry: RetryPolicy | None = None,
        logger_name: str | None = None,
        pacer: AdaptivePacer | None = None,
        retry_attempts: int | None = None,
    ) -> None:
        super().__init__(logger_name=logger_name)
        self.oracle_fusion_conn_id = oracle_fusion_conn_id
        self.pacer = pacer
        self._retry_attempts = retry_attempts
        self._framework_override = rest_framework_version
        self._retry_override = retry

    # -- connection and transport -----------------------------------------------------------------

    @cached_property
    def settings(self) -> FusionConnectionSettings:
        """The connection's settings (read once; secrets registered with the secret masker)."""
        conn = self.get_connection(self.oracle_fusion_conn_id)
        extra = conn.extra_dejson
        # Airflow masks the password and extras named like secrets when it loads a connection;
        # mask them explicitly too, whatever path the connection came from. The client id is not
        # a secret and stays readable in logs.
        for secret in (_blank_to_none(extra.get("client_secret")), _blank_to_none(conn.password)):
            if secret:
                mask_secret(str(secret))
        settings = FusionConnectionSettings.from_connection(
            host=conn.host, port=conn.port, login=conn.login, password=conn.password, extra=extra
        )
        if self._framework_override is not None:
            if not 1 <= self._framework_override <= 9:
                raise ValueError(f"rest_framework_version must be 1 to 9, got {self._framework_override}")
            settings = replace(settings, rest_framework_version=self._framework_override)
        if self._retry_override is not None:
            settings = replace(settings, retry=self._retry_override)
        if self._retry_attempts is not None:
            settings = replace(settings, retry=replace(settings.retry, attempts=self._retry_attempts))
        return settings

    @property
    def rest_framework_version(self) -> int:
        """The ``REST-Framework-Version`` sent with every request (selects the ``q`` dialect)."""
        return self.settings.rest_framework_version

    @cached_property
    def transport(self) -> HttpTransport:
        """The pooled HTTP client for the pod's REST API (built on first use)."""
        settings = self.settings
        timeout = (min(10.0, settings.timeout), settings.timeout)
        auth: AuthProvider
        if settings.auth_type == "basic":
            auth = BasicAuth(str(settings.username), str(settings.password))
        else:
            auth = OAuth2ClientCredentials(
                str(settings.token_url),
                str(settings.client_id),
                str(settings.client_secret),
                scope=settings.scope,
                client_auth=settings.client_auth,
                timeout=timeout,
            )
        self.log.info(
            "Oracle Fusion connection %s: %s, %s auth, REST framework version %d",
            self.oracle_fusion_conn_id,
            settings.base_url,
            settings.auth_type,
            settings.rest_framework_version,
        )
        return HttpTransport(
            settings.base_url,
            auth=auth,
            headers={"REST-Framework-Version": str(settings.rest_framework_version)},
            timeout=timeout,
            retry=settings.retry,
            secrets=settings.secrets,
            pacer=self.pacer,
        )

    def get_conn(self) -> HttpTransport:
        """The cached :class:`~ml_connector_provider.transport.HttpTransport`."""
        return self.transport

    def close(self) -> None:
        """Close pooled connections (the hook can be used again afterwards)."""
        transport = self.__dict__.pop("transport", None)
        if transport is not None:
            transport.close()
            auth = transport.auth
            if isinstance(auth, OAuth2ClientCredentials):
                auth.close()

    # -- reading ----------------------------------------------------------------------------------

    def iter_collection(
        self,
        resource: str,
        *,
        q: str | None = None,
        order_by: Sequence[str] = (),
        fields: str | Sequence[str] | None = None,
        expand: str | Sequence[str] | None = None,
        finder: str | None = None,
        page_size: int = 500,
        params: Mapping[str, Any] | None = None,
    ) -> Iterator[list[dict[str, Any]]]:
        """Read a collection page by page (offset paging), yielding the items of each page.

        Sends ``onlyData=true``, ``limit=page_size`` and ``offset``; advances ``offset`` by the
        number of items returned and stops only when ``hasMore`` is false (a server may cap the
        page below the requested size). Empty pages are not yielded.

        Offset paging over a collection that changes while it is read can skip or repeat rows;
        for incremental reads use :meth:`iter_changed`, which pages by key.

        :param resource: the collection, e.g. ``receivablesInvoices`` (or a child path
            ``<resource>/<key>/child/<child>``).
        :param q: a filter in the connection's dialect (see :attr:`rest_framework_version`).
        :param order_by: ``Attr`` or ``Attr:asc``/``Attr:desc`` terms; order by unique attributes
            for predictable paging.
        :param fields: attributes to return (``fields=``), a string or a sequence.
        :param expand: children to inline (``expand=``), ``"all"``, a string or a sequence.
        :param finder: a finder, e.g. ``PrimaryKey;InvoiceId=300000001``.
        :param page_size: rows per request, 1 to 500.
        :param params: further query parameters (override the ones above except ``offset``).
        :raises FusionBadRequest: Fusion refused the request (bad filter, unknown attribute…).
        :raises FusionResponseError: the answer is not a collection, or it says ``hasMore`` but
            has no items (a server bug that would otherwise loop forever).
        """
        query: dict[str, Any] = {"onlyData": "true", "limit": _page_size(page_size)}
        if q:
            query["q"] = q
        if order_by:
            query["orderBy"] = ",".join(order_by)
        if fields is not None:
            query["fields"] = fields if isinstance(fields, str) else ",".join(fields)
        if expand is not None:
            query["expand"] = expand if isinstance(expand, str) else ",".join(expand)
        if finder:
            query["finder"] = finder
        query.update(params or {})
        offset = 0
        pages = rows = 0
        while True:
            body = self._get_collection(resource, {**query, "offset": offset})
            items, has_more = body["items"], body["hasMore"]
            if items:
                pages += 1
                rows += len(items)
                yield items
            if not has_more:
                break
            if not items:
                raise FusionResponseError(
                    f"Oracle Fusion returned hasMore=true with no items for {resource} at offset {offset}; "
                    "stopping instead of asking for the same page again"
                )
            offset += _advance(body, len(items), resource)
        self.log.debug("Read %d rows of %s in %d pages", rows, resource, pages)

    def iter_changed(
        self,
        resource: str,
        *,
        key_attr: str,
        since: datetime,
        until: datetime,
        timestamp_attr: str = "LastUpdateDate",
        extra_filter: str | None = None,
        page_size: int = 500,
        fields: Sequence[str] | None = None,
        expand: str | Sequence[str] | None = None,
    ) -> Iterator[list[dict[str, Any]]]:
        """Yield, page by page, the rows whose ``timestamp_attr`` lies in ``[since, until)``.

        The filter is written in the connection's dialect — framework version 1:
        ``LastUpdateDate>=2026-01-01T00:00:00.000+00:00;LastUpdateDate<2026-01-02T00:00:00.000+00:00``;
        version 2 and later: ``LastUpdateDate >= '2026-01-01T00:00:00.000+00:00' and
        LastUpdateDate < '2026-01-02T00:00:00.000+00:00'`` — and rows are ordered by
        ``timestamp_attr:asc,key_attr:asc``.

        Pages are read by timestamp rather than by a growing offset: each request starts at the
        timestamp of the last row read, ``offset`` only skips the rows already read at that very
        timestamp, and every request re-reads the last row read to prove that nothing before it
        left the result (otherwise the rows at that timestamp are read again). So a row that
        changes during the read, and thereby leaves the window, cannot shift unread rows past the
        client. Each row in the window is yielded exactly once per call; a row that changes during
        the read is picked up by the window that contains its new timestamp. (With
        ``page_size=1`` there is no room for the re-read row and this check is skipped.)

        :param resource: the collection.
        :param key_attr: the unique key attribute (the tie-breaker of the order).
        :param since: start of the window, inclusive (aware datetime).
        :param until: end of the window, exclusive (aware datetime).
        :param timestamp_attr: the change timestamp attribute.
        :param extra_filter: another condition in the connection's dialect, ANDed with the window.
        :param page_size: rows per request, 1 to 500.
        :param fields: attributes to return; ``key_attr`` and ``timestamp_attr`` are always added.
        :param expand: children to inline, ``"all"``, a string or a sequence.
        :raises ValueError: ``since``/``until`` are naive.
        :raises FusionBadRequest: Fusion refused the filter (e.g. the attribute is not queryable).
        :raises FusionResponseError: a row lacks ``key_attr`` or a parseable ``timestamp_attr``.
        """
        if since.tzinfo is None or until.tzinfo is None:
            raise ValueError("iter_changed needs timezone-aware since/until datetimes")
        start, end = since.astimezone(UTC), until.astimezone(UTC)
        if end <= start:
            return
        limit = _page_size(page_size)
        order = f"{timestamp_attr}:asc,{key_attr}:asc"
        shape: dict[str, str] = {}
        if fields is not None:
            shape["fields"] = ",".join(dict.fromkeys([key_attr, timestamp_attr, *fields]))
        if expand is not None:
            shape["expand"] = expand if isinstance(expand, str) else ",".join(expand)
        upper = _ceil_millis(end)
        lower = _ceil_millis(start)  # the query reads rows at or after `lower`
        at_lower: set[Any] = set()  # keys of the rows read whose timestamp is `lower`
        offset = 0  # position, among the rows at or after `lower`, of the next row not read yet
        last_key: Any = None  # key of the row at position offset - 1
        restarts = rows = 0
        while True:
            # Ask for one row already read as well: finding it where it was proves that no row
            # before it left the result (which would shift the unread rows past `offset`).
            step_back = offset > 0 and limit > 1
            query = {
                "onlyData": "true",
                "limit": limit,
                "offset": offset - 1 if step_back else offset,
                "orderBy": order,
                "q": self._window_filter(timestamp_attr, lower, upper, extra_filter),
                **shape,
            }
            body = self._get_collection(resource, query)
            items, has_more = body["items"], body["hasMore"]
            marked = [(item, *_row_mark(item, key_attr, timestamp_attr, resource)) for item in items]
            if step_back:
                if not marked or marked[0][1] != last_key:
                    restarts += 1
                    if restarts > _MAX_RESTARTS:
                        raise FusionResponseError(
                            f"rows of {resource} kept changing while they were read; gave up after "
                            f"{_MAX_RESTARTS} re-reads"
                        )
                    self.log.info("Rows of %s changed during the read; re-reading from %s", resource, lower)
                    offset, last_key = 0, None
                    continue
                marked = marked[1:]
            if not marked:
                if has_more:
                    raise FusionResponseError(
                        f"Oracle Fusion returned hasMore=true with no new items for {resource} at offset "
                        f"{query['offset']}; stopping instead of asking for the same page again"
                    )
                break
            fresh = [item for item, key, stamp in marked if key not in at_lower and start <= stamp < end]
            if fresh:
                rows += len(fresh)
                yield fresh
            if not has_more:
                break
            newest = _floor_millis(marked[-1][2])
            if newest > lower:
                lower = newest
                at_lower = {key for _, key, stamp in marked if _floor_millis(stamp) >= lower}
                offset = len(at_lower)
            else:
                at_lower.update(key for _, key, _stamp in marked)
                offset += len(marked)
            last_key = marked[-1][1]
        self.log.debug("Read %d changed rows of %s in [%s, %s)", rows, resource, start, end)

    def _window_filter(self, attribute: str, lower: datetime, upper: datetime, extra: str | None) -> str:
        low, high = format_timestamp(lower), format_timestamp(upper)
        if self.rest_framework_version >= 2:
            text = f"{attribute} >= '{low}' and {attribute} < '{high}'"
            return f"{text} and ({extra})" if extra else text
        text = f"{attribute}>={low};{attribute}<{high}"
        return f"{text};{extra}" if extra else text

    def get_item(
        self,
        resource: str,
        key: Any,
        *,
        fields: str | Sequence[str] | None = None,
        expand: str | Sequence[str] | None = None,
    ) -> dict[str, Any] | None:
        """Read one item, or ``None`` when Fusion answers 404.

        :param resource: the collection.
        :param key: the key value, or the item's ``links[rel=self].href``.
        :param fields: attributes to return.
        :param expand: children to inline.
        """
        params: dict[str, Any] = {"onlyData": "true"}
        if fields is not None:
            params["fields"] = fields if isinstance(fields, str) else ",".join(fields)
        if expand is not None:
            params["expand"] = expand if isinstance(expand, str) else ",".join(expand)
        response = self._call("GET", resource, _item_path(resource, key), params=params, expected={404})
        if response.status_code == 404:
            return None
        return self._json_object(response, resource)

    def child_items(
        self,
        resource: str,
        key: Any,
        child: str,
        *,
        item: Mapping[str, Any] | None = None,
        page_size: int = 500,
    ) -> list[dict[str, Any]]:
        """All rows of an item's child collection, e.g. an invoice's ``receivablesInvoiceLines``.

        When ``item`` (read with ``expand=<child>``) carries the child completely — an array
        (framework versions 1–2), or a collection object with ``hasMore`` false (version 3 and
        later, which inline at most one page) — those rows are returned without a request;
        otherwise ``<resource>/<key>/child/<child>`` is read page by page.

        :param resource: the parent collection.
        :param key: the parent's key value or ``links[rel=self].href``.
        :param child: the child collection's name.
        :param item: the parent as read, if it was read with the child expanded.
        :param page_size: rows per request when the child must be read.
        """
        if item is not None:
            rows, complete = expanded_items(item, child)
            if complete:
                return rows
        path = f"{_item_path(resource, key)}/child/{_quote(child)}"
        found: list[dict[str, Any]] = []
        for page in self.iter_collection(path, page_size=page_size):
            found.extend(page)
        return found

    def describe(self, resource: str) -> dict[str, Any]:
        """The resource's metadata (``GET <resource>/describe``): attributes with their
        ``queryable``/``updatable`` flags, finders, actions and children.

        :returns: ``Resources[<resource>]`` of the answer (the whole answer if it has no such entry).
        """
        response = self._call("GET", resource, f"{_quote(resource)}/describe")
        body = self._json_object(response, resource)
        entry = body.get("Resources", {}).get(resource) if isinstance(body.get("Resources"), dict) else None
        return entry if isinstance(entry, dict) else body

    # -- writing ----------------------------------------------------------------------------------

    def create_item(
        self, resource: str, payload: Mapping[str, Any], *, upsert: bool = False
    ) -> dict[str, Any]:
        """Create an item (``POST``; 201 with the full item) and return it.

        A create is not repeated after a lost response (the item may exist); callers look the
        item up by its business key before retrying.

        :param resource: the collection, or a child collection ``<resource>/<key>/child/<child>``
            (e.g. to add a line to an invoice).
        :param payload: the attributes (and child arrays) of the new item.
        :param upsert: send ``Upsert-Mode: true`` (Fusion updates the item that matches instead);
            such a request is safe to repeat.
        :raises FusionBadRequest: Fusion refused the item (the message carries Fusion's reason).
        """
        headers = {"Content-Type": ITEM_MEDIA_TYPE}
        if upsert:
            headers["Upsert-Mode"] = "true"
        path = resource if "/" in resource else _quote(resource)
        response = self._call(
            "POST", resource, path, json=dict(payload), headers=headers, idempotent=upsert or None
        )
        return self._json_object(response, resource)

    def update_item(self, resource: str, key_or_self_href: Any, payload: Mapping[str, Any]) -> dict[str, Any]:
        """Change attributes of an item (``PATCH``; 200 with the full item) and return it.

        :param resource: the collection.
        :param key_or_self_href: the key value or the item's ``links[rel=self].href``.
        :param payload: the attributes to change.
        :raises FusionBadRequest: Fusion refused the change.
        """
        response = self._call(
            "PATCH",
            resource,
            _item_path(resource, key_or_self_href),
            json=dict(payload),
            headers={"Content-Type": ITEM_MEDIA_TYPE},
            idempotent=True,
        )
        return self._json_object(response, resource)

    def delete_item(self, resource: str, key_or_self_href: Any) -> bool:
        """Delete an item; returns ``False`` when it did not exist (404)."""
        response = self._call("DELETE", resource, _item_path(resource, key_or_self_href), expected={404})
        return response.status_code != 404

    def post_action(
        self,
        resource: str,
        action: str,
        payload: Mapping[str, Any] | None = None,
        key: Any = None,
        *,
        idempotent: bool = False,
    ) -> Any:
        """Call a custom action: ``POST <resource>[/<key>]/action/<action>`` with
        ``Content-Type: application/vnd.oracle.adf.action+json``.

        :param resource: the collection.
        :param action: the action name, e.g. ``applyReceipt``.
        :param payload: the action's parameters.
        :param key: the item (key value or ``self`` href) for an item-level action.
        :param idempotent: whether repeating the call after a lost response is harmless.
        :returns: the ``result`` of the answer (the whole answer when it has none).
        :raises FusionBadRequest: Fusion refused the call.
        """
        base = _quote(resource) if key is None else _item_path(resource, key)
        response = self._call(
            "POST",
            resource,
            f"{base}/action/{_quote(action)}",
            json=dict(payload or {}),
            headers={"Content-Type": ACTION_MEDIA_TYPE},
            idempotent=idempotent,
        )
        if not response.content.strip():
            return None
        body = self._json_any(response, resource)
        return body["result"] if isinstance(body, dict) and "result" in body else body

    def find_by_attribute(
        self,
        resource: str,
        attribute: str,
        values: Iterable[Any],
        *,
        expand: str | Sequence[str] | None = None,
    ) -> list[dict[str, Any]]:
        """The items whose ``attribute`` equals one of ``values`` (an exact match, in any order).

        With framework version 2 or later: one query ``attribute in ('a', 'b', …)`` per 100 values
        (text single-quoted with ``'`` doubled, numbers bare). The version 1 dialect has no ``in``:
        one query ``attribute=value`` per value; a value that dialect cannot express (a ``;``,
        surrounding quotes or blanks, an ``and``/``or`` followed by an operator) raises
        ``ValueError``. Either way the answer is filtered on the client to exact equality, so a
        server that matches case-insensitively or treats ``%`` as a wildcard cannot add rows.

        :param resource: the collection, e.g. ``journalBatches``.
        :param attribute: a queryable attribute, e.g. ``BatchName``.
        :param values: the values looked for (``None`` and repeats are ignored).
        :param expand: children to inline.
        :raises FusionBadRequest: Fusion refused the filter (e.g. the attribute is not queryable).
        """
        if not re.fullmatch(r"[A-Za-z_][\w.]*", attribute or ""):
            raise ValueError(f"not an attribute name: {attribute!r}")
        wanted = list(dict.fromkeys(value for value in values if value is not None))
        if not wanted:
            return []
        queries: list[str] = []
        if self.rest_framework_version >= 2:
            for start in range(0, len(wanted), _IN_CHUNK):
                chunk = wanted[start : start + _IN_CHUNK]
                queries.append(f"{attribute} in ({', '.join(_query_literal(value) for value in chunk)})")
        else:
            queries.extend(f"{attribute}={_v1_value(attribute, value)}" for value in wanted)
        keys = {_comparable(value) for value in wanted}
        found: list[dict[str, Any]] = []
        for q in queries:
            for page in self.iter_collection(resource, q=q, expand=expand):
                found.extend(item for item in page if _comparable(item.get(attribute)) in keys)
        return found

    def find_matching(
        self,
        resource: str,
        criteria: Mapping[str, Any],
        *,
        expand: str | Sequence[str] | None = None,
    ) -> list[dict[str, Any]]:
        """The items whose attributes equal all of ``criteria`` (an exact match on every one).

        One query: ``a = 'x' and b = 'y'`` with framework version 2 or later, the
        query-by-example form ``a=x;b=y`` with version 1 (values that dialect cannot express raise
        ``ValueError``, as in :meth:`find_by_attribute`). The answer is filtered on the client to
        exact equality of every attribute.

        :param resource: the collection, e.g. ``invoices``.
        :param criteria: attribute → value; ``None`` values are not allowed.
        :param expand: children to inline.
        :raises FusionBadRequest: Fusion refused the filter (e.g. an attribute is not queryable).
        """
        if not criteria:
            raise ValueError("find_matching needs at least one attribute")
        for attribute, value in criteria.items():
            if not re.fullmatch(r"[A-Za-z_][\w.]*", attribute or ""):
                raise ValueError(f"not an attribute name: {attribute!r}")
            if value is None:
                raise ValueError(f"cannot look up {attribute} = null")
        if self.rest_framework_version >= 2:
            q = " and ".join(
                f"{attribute} = {_query_literal(value)}" for attribute, value in criteria.items()
            )
        else:
            q = ";".join(
                f"{attribute}={_v1_value(attribute, value)}" for attribute, value in criteria.items()
            )
        wanted = {attribute: _comparable(value) for attribute, value in criteria.items()}
        found: list[dict[str, Any]] = []
        for page in self.iter_collection(resource, q=q, expand=expand):
            found.extend(
                item
                for item in page
                if all(_comparable(item.get(attribute)) == value for attribute, value in wanted.items())
            )
        return found

    # -- FBDI imports and ESS jobs (erpintegrations) ----------------------------------------------

    def import_bulk_data(
        self,
        document: bytes,
        *,
        file_name: str,
        job_name: str,
        parameters: Sequence[str | None],
        document_account: str = GL_IMPORT_DOCUMENT_ACCOUNT,
        job_options: str | None = DEFAULT_JOB_OPTIONS,
        notification_code: str | None = None,
        callback_url: str | None = None,
    ) -> str:
        """Upload an FBDI zip and submit its import job: ``POST erpintegrations`` with
        ``OperationName`` ``importBulkData`` (contract A5.7).

        The request is **not** idempotent — a second one submits a second import — so it is
        repeated only when it certainly did not reach Fusion: a connection that could not be
        opened, a 401 answered before Fusion did anything (a new token, then once more), and the
        429/503 answers the transport treats as "not processed". A read timeout, a connection
        dropped mid-answer, a 502 or a 504 are not retried; they raise, and the caller must find
        out whether the import happened (e.g. look its journals up) before submitting again.

        :param document: the zip file (``GlInterface.zip`` for journals).
        :param file_name: its name in Fusion's content server.
        :param job_name: ``<package>,<job definition>``, e.g.
            :data:`~ml_connector_provider.hooks.oracle_fusion.fbdi.JOURNAL_IMPORT_JOB`.
        :param parameters: the job's ``ParameterList`` values in order; ``None`` or ``""`` is sent
            as ``#NULL``. Values must not contain commas.
        :param document_account: the UCM account (``fin$/generalLedger$/import$`` for journals).
        :param job_options: ``JobOptions``; ``None`` leaves it out.
        :param notification_code: ``NotificationCode`` (e.g. ``"10"``); ``None`` leaves it out.
        :param callback_url: ``CallbackURL``; ``None`` sends ``#NULL``.
        :returns: the ESS request id (``ReqstId``) as text.
        :raises FusionBadRequest: Fusion refused the request.
        :raises FusionResponseError: the answer carries no request id.
        """
        if not isinstance(document, bytes | bytearray) or not bytes(document).startswith(b"PK\x03\x04"):
            raise ValueError("importBulkData takes a zip file (the document does not start like one)")
        for name, value in (
            ("file_name", file_name),
            ("job_name", job_name),
            ("document_account", document_account),
        ):
            if not isinstance(value, str) or not value.strip():
                raise ValueError(f"{name} is required")
        if "," not in job_name:
            raise ValueError(f"job_name must be '<package path>,<job definition>', got {job_name!r}")
        body: dict[str, Any] = {
            "OperationName": "importBulkData",
            "DocumentContent": base64.b64encode(bytes(document)).decode("ascii"),
            "ContentType": "zip",
            "FileName": file_name,
            "DocumentAccount": document_account,
            "JobName": job_name,
            "ParameterList": ",".join(_ess_parameter(value) for value in parameters),
            "CallbackURL": callback_url or "#NULL",
        }
        if notification_code is not None:
            body["NotificationCode"] = notification_code
        if job_options:
            body["JobOptions"] = job_options
        response = self._call(
            "POST",
            ERP_INTEGRATIONS,
            ERP_INTEGRATIONS,
            json=body,
            headers={"Content-Type": "application/json"},
            idempotent=False,
        )
        answer = self._json_object(response, ERP_INTEGRATIONS)
        request_id = str(answer.get("ReqstId") or "").strip()
        if not request_id.isdigit() or int(request_id) <= 0:
            raise FusionResponseError(
                f"Oracle Fusion answered importBulkData for {file_name} without an ESS request id "
                f"(ReqstId {answer.get('ReqstId')!r})"
            )
        self.log.info("Oracle Fusion accepted %s for %s: ESS request %s", file_name, job_name, request_id)
        return request_id

    def ess_job_status(self, request_id: str | int) -> str:
        """The status of an ESS request: ``GET erpintegrations?finder=ESSJobStatusRF;requestId=<id>``.

        :param request_id: the ESS request id.
        :returns: ``RequestStatus`` in upper case, e.g. ``WAIT``, ``RUNNING``, ``SUCCEEDED``, ``ERROR``.
        :raises FusionEssRequestNotFound: Fusion answered no item for this id.
        :raises FusionResponseError: the item has no ``RequestStatus``.
        """
        rid = _request_id(request_id)
        items = self._ess_items(f"ESSJobStatusRF;requestId={rid}")
        if not items:
            raise FusionEssRequestNotFound(rid)
        status = items[0].get("RequestStatus")
        if not isinstance(status, str) or not status.strip():
            raise FusionResponseError(f"Oracle Fusion's status of ESS request {rid} has no RequestStatus")
        return " ".join(status.split()).upper()

    def wait_for_ess_job(
        self,
        request_id: str | int,
        *,
        timeout: float = 1800,
        poll_interval: float = 10,
        max_poll_interval: float = 60,
    ) -> str:
        """Poll an ESS request until its status is terminal (:data:`ESS_TERMINAL_STATUSES`).

        The first poll is immediate; the pause between polls starts at ``poll_interval`` and
        doubles up to ``max_poll_interval``. A poll that fails transiently even after the
        transport's retries (Fusion unreachable, throttling, a 5xx) is logged and the wait goes
        on; rejected credentials, a 4xx and an unknown request id end it.

        :param request_id: the ESS request id.
        :param timeout: seconds to wait in all.
        :param poll_interval: first pause between polls, seconds.
        :param max_poll_interval: longest pause between polls, seconds.
        :returns: the terminal status (check it against :data:`ESS_SUCCESS_STATUSES`; raise
            :class:`FusionEssJobError` if failure should stop the caller).
        :raises FusionEssTimeout: no terminal status within ``timeout`` (the job may still finish).
        """
        rid = _request_id(request_id)
        for name, value in (("timeout", timeout), ("poll_interval", poll_interval)):
            if not isinstance(value, int | float) or not math.isfinite(value) or value <= 0:
                raise ValueError(f"{name} must be a positive number of seconds, got {value!r}")
        ceiling = max(float(max_poll_interval), float(poll_interval))
        deadline = time.monotonic() + float(timeout)
        pause = float(poll_interval)
        last_status: str | None = None
        polls = 0
        while True:
            polls += 1
            try:
                status = self.ess_job_status(rid)
            except (RetryExhausted, ConnectionFailed) as exc:
                self.log.warning("Polling ESS request %s failed (%s); polling again", rid, exc)
            except FusionApiError as exc:
                if exc.status < 500:
                    raise
                self.log.warning("Polling ESS request %s failed (%s); polling again", rid, exc)
            else:
                if status != last_status:
                    self.log.info("ESS request %s: %s (poll %d)", rid, status, polls)
                last_status = status
                if status in ESS_TERMINAL_STATUSES:
                    return status
            remaining = deadline - time.monotonic()
            if remaining <= 0:
                raise FusionEssTimeout(rid, float(timeout), last_status)
            time.sleep(min(pause, remaining))
            pause = min(pause * 2, ceiling)

    def ess_job_log(self, request_id: str | int, *, file_type: str = "LOG") -> str:
        """The text of an ESS request's log (or output):
        ``GET erpintegrations?finder=ESSJobExecutionDetailsRF;requestId=<id>,fileType=LOG``.

        ``DocumentContent`` is base64; a zip is unpacked (its ``.log``/``.txt``/``.out`` members
        first, each decoded as UTF-8 with replacement characters), anything else decoded as text.
        Content that is not base64 is returned as it is. No item or no content gives ``""``.

        :param request_id: the ESS request id.
        :param file_type: ``LOG``, ``OUT`` or ``ALL``.
        """
        rid = _request_id(request_id)
        kind = file_type.strip().upper()
        if not re.fullmatch(r"[A-Z]+", kind):
            raise ValueError(f"file_type must be LOG, OUT or ALL, got {file_type!r}")
        items = self._ess_items(f"ESSJobExecutionDetailsRF;requestId={rid},fileType={kind}")
        texts = [_document_text(item.get("DocumentContent")) for item in items]
        return "\n".join(text for text in texts if text)

    def import_journals(
        self,
        journals: Iterable[Journal],
        *,
        data_access_set_id: str | int,
        source: str,
        ledger_id: str | int,
        ledger_name: str | None,
        group_id: int,
        created: date,
        period_name: str | None = None,
        segment_delimiter: str = "-",
        file_name: str | None = None,
        post_errors_to_suspense: bool = False,
        create_summary_journals: bool = False,
        import_descriptive_flexfields: bool = False,
        document_account: str = GL_IMPORT_DOCUMENT_ACCOUNT,
        job_options: str | None = DEFAULT_JOB_OPTIONS,
    ) -> str:
        """Build ``GlInterface.csv`` for ``journals``, zip it and submit Journal Import.

        :func:`~ml_connector_provider.hooks.oracle_fusion.fbdi.build_gl_interface_csv` checks every journal
        first (balance, names, amounts), so nothing is sent when one is wrong. The job is
        ``JournalImportLauncher`` with ``ParameterList`` ``DataAccessSetId, JournalSource,
        LedgerId, GroupId, PostErrorsToSuspense, CreateSummaryJournals, ImportDFF``. Wait for the
        returned request with :meth:`wait_for_ess_job`, then read the batches back
        (``find_by_attribute("journalBatches", "BatchName", …)``) and the log of rejections
        (:meth:`ess_job_log` + :func:`parse_journal_import_log`).

        :param journals: the journals (see :class:`~ml_connector_provider.hooks.oracle_fusion.fbdi.Journal`).
        :param data_access_set_id: the data access set of the ledger.
        :param source: the journal source, in the rows and the parameters.
        :param ledger_id: the ledger id, in the rows and the parameters.
        :param ledger_name: the ledger name for the rows (optional).
        :param group_id: a fresh interface group id, in the rows and the parameters.
        :param created: ``DATE_CREATED`` of the rows.
        :param period_name: ``PERIOD_NAME`` of the rows (``None``: derived from the dates).
        :param segment_delimiter: splits concatenated accounts.
        :param file_name: the zip's name (default ``GlInterface_<group_id>.zip``).
        :param post_errors_to_suspense: ``PostErrorsToSuspense`` parameter.
        :param create_summary_journals: ``CreateSummaryJournals`` parameter.
        :param import_descriptive_flexfields: ``ImportDFF`` parameter.
        :param document_account: the UCM account.
        :param job_options: ``JobOptions``.
        :returns: the ESS request id.
        :raises ~ml_connector_provider.hooks.oracle_fusion.fbdi.JournalError: a journal cannot be written.
        """
        csv_bytes = build_gl_interface_csv(
            journals,
            source=source,
            group_id=group_id,
            ledger_id=ledger_id,
            ledger_name=ledger_name,
            created=created,
            period_name=period_name,
            segment_delimiter=segment_delimiter,
        )
        parameters = journal_import_parameters(
            data_access_set_id=data_access_set_id,
            source=source,
            ledger_id=ledger_id,
            group_id=group_id,
            post_errors_to_suspense=post_errors_to_suspense,
            create_summary_journals=create_summary_journals,
            import_descriptive_flexfields=import_descriptive_flexfields,
        )
        return self.import_bulk_data(
            zip_gl_interface(csv_bytes),
            file_name=file_name or f"GlInterface_{group_id}.zip",
            job_name=JOURNAL_IMPORT_JOB,
            parameters=parameters,
            document_account=document_account,
            job_options=job_options,
        )

    def _ess_items(self, finder: str) -> list[dict[str, Any]]:
        body = self._get_collection(ERP_INTEGRATIONS, {"finder": finder, "onlyData": "true"})
        items: list[dict[str, Any]] = body["items"]
        return items

    # -- connection test --------------------------------------------------------------------------

    def test_connection(self) -> tuple[bool, str]:
        """Check the connection with one cheap read: ``GET <test_resource>?limit=1&onlyData=true``.

        Never raises; the message never contains a secret.

        :returns: ``(True, message)`` when Fusion answered with a collection, else ``(False, reason)``.
        """
        secrets: tuple[str, ...] = ()
        try:
            settings = self.settings
            secrets = settings.secrets
            resource = settings.test_resource
            body = self._get_collection(resource, {"limit": 1, "onlyData": "true"})
            return (
                True,
                f"Connection successfully tested: {resource} answered with {len(body['items'])} row(s)",
            )
        except Exception as exc:  # noqa: BLE001 - the UI contract: report, never raise
            transport = self.__dict__.get("transport")
            if transport is not None and transport.auth is not None:
                secrets += transport.auth.secret_values()
            return False, redact_text(f"{type(exc).__name__}: {exc}", secrets)

    # -- helpers ----------------------------------------------------------------------------------

    @staticmethod
    def parse_timestamp(value: str | datetime | date) -> datetime:
        """See :func:`parse_timestamp`."""
        return parse_timestamp(value)

    def _call(self, method: str, resource: str, path: str, **options: Any) -> requests.Response:
        try:
            return self.transport.request(method, path, **options)
        except HttpStatusError as exc:
            raise _api_error(method, resource, exc) from exc

    def _get_collection(self, resource: str, params: Mapping[str, Any]) -> dict[str, Any]:
        path = resource if "/" in resource else _quote(resource)
        response = self._call("GET", resource, path, params=params)
        body = self._json_object(response, resource)
        items = body.get("items")
        if not isinstance(items, list) or not all(isinstance(item, dict) for item in items):
            raise FusionResponseError(f"Oracle Fusion's answer for {resource} has no list of items")
        has_more = body.get("hasMore")
        if not isinstance(has_more, bool):
            raise FusionResponseError(f"Oracle Fusion's answer for {resource} has no boolean hasMore")
        return body

    @staticmethod
    def _json_any(response: requests.Response, resource: str) -> Any:
        try:
            return response.json()
        except ValueError:
            content_type = response.headers.get("Content-Type", "?")
            raise FusionResponseError(
                f"Oracle Fusion answered {response.request.method} {resource} with HTTP {response.status_code} "
                f"but the body is not JSON ({content_type})"
            ) from None

    def _json_object(self, response: requests.Response, resource: str) -> dict[str, Any]:
        body = self._json_any(response, resource)
        if not isinstance(body, dict):
            raise FusionResponseError(f"Oracle Fusion's answer for {resource} is not a JSON object")
        return body


# -- module helpers -------------------------------------------------------------------------------


def expanded_items(item: Mapping[str, Any], child: str) -> tuple[list[dict[str, Any]], bool]:
    """The rows of a child inlined by ``expand``, in either shape Fusion uses.

    Framework versions 1–2 inline an array; version 3 and later a collection object
    (``{"items": […], "hasMore": …}``) holding at most one page.

    :param item: the parent item as read.
    :param child: the child collection's name.
    :returns: ``(rows, complete)`` — ``complete`` is false when the child is missing from
        ``item`` or the collection object says ``hasMore`` (read the child collection then; see
        :meth:`OracleFusionHook.child_items`).
    """
    value = item.get(child)
    if isinstance(value, list):
        return [row for row in value if isinstance(row, dict)], True
    if isinstance(value, dict) and isinstance(value.get("items"), list):
        rows = [row for row in value["items"] if isinstance(row, dict)]
        return rows, value.get("hasMore") is False
    return [], False


#: Values per ``in (…)`` query of :meth:`OracleFusionHook.find_by_attribute`.
_IN_CHUNK = 100
_V1_UNSAFE = re.compile(r"\s(?:and|or)\s*(?:>=|<=|!=|<>|=|>|<)", re.IGNORECASE)


def _query_literal(value: Any) -> str:
    """A value as a literal of the version 2 ``q`` dialect: text always quoted, numbers bare."""
    if isinstance(value, bool):
        raise ValueError(f"cannot look up the boolean {value!r} by attribute")
    if isinstance(value, int):
        return str(value)
    if isinstance(value, float | Decimal):
        number = Decimal(str(value))
        if not number.is_finite():
            raise ValueError(f"cannot look up {value!r}")
        return format(number, "f")
    if isinstance(value, datetime):
        text = format_timestamp(value) if value.tzinfo is not None else value.isoformat()
    elif isinstance(value, date):
        text = value.isoformat()
    else:
        text = str(value)
    return "'" + text.replace("'", "''") + "'"


def _v1_value(attribute: str, value: Any) -> str:
    """A value of the version 1 (query-by-example) dialect, which has no quoting."""
    if isinstance(value, bool):
        raise ValueError(f"cannot look up the boolean {value!r} by attribute")
    if isinstance(value, str):
        text = value
    elif isinstance(value, int | float | Decimal):
        text = _query_literal(value)
    else:  # dates and timestamps: their quoted version 2 literal without the quotes
        text = _query_literal(value)[1:-1]
    if (
        not text
        or text != text.strip()
        or ";" in text
        or (len(text) >= 2 and text[0] == text[-1] and text[0] in "'\"")
        or _V1_UNSAFE.search(text)
    ):
        raise ValueError(
            f"the value {text!r} of {attribute} cannot be written in the REST framework version 1 q "
            "dialect; use rest_framework_version 2 or later"
        )
    return text


def _comparable(value: Any) -> Any:
    """A form of an attribute value in which a stored value and the value looked for compare equal."""
    if value is None or isinstance(value, bool):
        return value
    if isinstance(value, int):
        return str(value)
    if isinstance(value, float | Decimal):
        number = Decimal(str(value))
        return format(number.normalize(), "f") if number.is_finite() else str(value)
    if isinstance(value, datetime | date):
        return value.isoformat()
    return str(value)


def _request_id(value: str | int) -> str:
    text = str(value).strip() if isinstance(value, str | int) and not isinstance(value, bool) else ""
    if not text.isdigit():
        raise ValueError(f"an ESS request id is a number, got {value!r}")
    return text


def _ess_parameter(value: str | None) -> str:
    if value is None:
        return "#NULL"
    text = str(value)
    if not text.strip():
        return "#NULL"
    if "," in text:
        raise ValueError(f"an ESS ParameterList value must not contain a comma: {text!r}")
    return text


def _document_text(content: Any) -> str:
    """Text of an ``erpintegrations`` ``DocumentContent``: base64 of a zip, of text, or plain text."""
    if not isinstance(content, str) or not content.strip():
        return ""
    try:
        raw = base64.b64decode("".join(content.split()), validate=True)
    except (binascii.Error, ValueError):
        return content
    if raw.startswith(b"PK"):
        try:
            with zipfile.ZipFile(io.BytesIO(raw)) as archive:
                members = [info for info in archive.infolist() if not info.is_dir()]
                members.sort(
                    key=lambda info: (
                        not info.filename.lower().endswith((".log", ".txt", ".out")),
                        info.filename,
                    )
                )
                parts = [archive.read(info).decode("utf-8", errors="replace") for info in members]
        except (zipfile.BadZipFile, OSError, RuntimeError, NotImplementedError, EOFError):
            pass
        else:
            return "\n".join(parts)
    return raw.decode("utf-8", errors="replace")


def _page_size(value: int) -> int:
    if (
        isinstance(value, bool)
        or not isinstance(value, int)
        or not 1 <= value <= OracleFusionHook.MAX_PAGE_SIZE
    ):
        raise ValueError(
            f"page_size must be an integer from 1 to {OracleFusionHook.MAX_PAGE_SIZE}, got {value!r}"
        )
    return value


def _advance(body: Mapping[str, Any], received: int, resource: str) -> int:
    count = body.get("count")
    if isinstance(count, int) and not isinstance(count, bool) and count == received:
        return count
    log.warning(
        "Oracle Fusion's answer for %s says count=%r but has %d items; advancing by the items",
        resource,
        count,
        received,
    )
    return received


def _quote(segment: str) -> str:
    return quote(segment, safe="")


def _item_path(resource: str, key: Any) -> str:
    if isinstance(key, str) and key.startswith(("http://", "https://")):
        return key
    if key is None or (isinstance(key, str) and not key.strip()):
        raise ValueError(f"an item key of {resource} is required")
    return f"{_quote(resource)}/{_quote(str(key))}"


def _row_mark(
    item: Mapping[str, Any], key_attr: str, timestamp_attr: str, resource: str
) -> tuple[Any, datetime]:
    key = item.get(key_attr)
    if key is None:
        raise FusionResponseError(f"a row of {resource} has no {key_attr}; cannot page by key")
    stamp = item.get(timestamp_attr)
    try:
        if stamp is None:
            raise ValueError(stamp)
        return key, parse_timestamp(stamp)
    except ValueError:
        raise FusionResponseError(
            f"row {key_attr}={key} of {resource} has no valid {timestamp_attr} ({stamp!r})"
        ) from None


def _error_detail(error: HttpStatusError) -> tuple[str, list[str]]:
    payload = error.json()
    if isinstance(payload, dict):
        details = payload.get("o:errorDetails")
        if isinstance(details, list) and details:
            texts = [str(d.get("detail")) for d in details if isinstance(d, dict) and d.get("detail")]
            codes = [
                str(d.get("o:errorCode")) for d in details if isinstance(d, dict) and d.get("o:errorCode")
            ]
            if texts:
                return "; ".join(texts), codes
        for name in ("detail", "title", "message"):
            if payload.get(name):
                return str(payload[name]), []
    return error.body_excerpt or error.reason or "(empty body)", []


def _api_error(method: str, resource: str, error: HttpStatusError) -> FusionApiError:
    detail, codes = _error_detail(error)
    cls = FusionBadRequest if error.status == 400 else FusionApiError
    what = "rejected" if error.status < 500 else "failed"
    message = f"Oracle Fusion {what} {method} {resource} with HTTP {error.status}: {detail}"
    if error.request_id:
        message += f" (request id {error.request_id})"
    return cls(message, resource=resource, status=error.status, detail=detail, error_codes=codes)
