"""The errors of the NetSuite hook, and how a NetSuite error answer becomes one of them.

NetSuite answers an error with the envelope of contract ``oracle_fusion_netsuite.md`` B8:
``{"type", "title", "status", "o:errorDetails": [{"detail", "o:errorCode", "o:errorPath"…}]}``.
:func:`parse_error_body` reads it (or, for a gateway's HTML page or any other body, a readable
excerpt); :func:`netsuite_error` picks the class:

* 401 (after the token was fetched again), and a token endpoint's refusal → :class:`NetSuiteAuthError`;
* 403 ``INSUFFICIENT_PERMISSION`` → :class:`NetSuitePermissionError` (the role misses a permission);
* 404 → :class:`NetSuiteNotFoundError`;
* ``CONCURRENCY_LIMIT_EXCEEDED`` (429, or 400 on some accounts; B8, B9) still answered after every
  retry → :class:`NetSuiteConcurrencyError`;
* another 400 from the record service → :class:`NetSuiteValidationError`: the record's data was
  refused, the caller dead-letters the record; a 400 from SuiteQL → :class:`NetSuiteQueryError`;
* anything else → :class:`NetSuiteError`.

Every message names NetSuite, the method, the record type and the record (internal id or
``eid:<externalId>``) when there is one, the status, NetSuite's error codes and details; never a
token, a key or a request body.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any

from ml_connector_provider.transport import HttpStatusError
from ml_connector_provider.transport.errors import body_excerpt

__all__ = [
    "CONCURRENCY_LIMIT_EXCEEDED",
    "ErrorBody",
    "NetSuiteAuthError",
    "NetSuiteConcurrencyError",
    "NetSuiteError",
    "NetSuiteNotFoundError",
    "NetSuitePermissionError",
    "NetSuiteQueryError",
    "NetSuiteResponseError",
    "NetSuiteUnknownOutcomeError",
    "NetSuiteValidationError",
    "NetSuiteValueError",
    "is_concurrency_limit",
    "netsuite_error",
    "parse_error_body",
]

#: The ``o:errorCode`` of NetSuite's concurrency governance answer (B8, B9).
CONCURRENCY_LIMIT_EXCEEDED = "CONCURRENCY_LIMIT_EXCEEDED"

#: Longest explanation of an error answer quoted in a message.
DETAIL_LIMIT = 400


class NetSuiteError(Exception):
    """An error NetSuite answered, or one the hook found in NetSuite's answer.

    :param message: the full, secret-free message.
    :param status: the HTTP status, ``None`` when there was no answer.
    :param error_codes: NetSuite's ``o:errorCode`` values, in the order given.
    :param detail: NetSuite's explanation (the ``detail`` texts joined), one line.
    :param record_type: the record type concerned (``invoice``…), ``None`` for SuiteQL.
    :param record_ref: the record: an internal id or ``eid:<externalId>``, when there is one.
    :param method: the HTTP method.
    :param error_paths: the ``o:errorPath`` values (the body field NetSuite refused).
    """

    def __init__(
        self,
        message: str,
        *,
        status: int | None = None,
        error_codes: Sequence[str] = (),
        detail: str = "",
        record_type: str | None = None,
        record_ref: str | None = None,
        method: str | None = None,
        error_paths: Sequence[str] = (),
    ) -> None:
        super().__init__(message)
        self.message = message
        self.status = status
        self.error_codes = tuple(error_codes)
        self.detail = detail
        self.record_type = record_type
        self.record_ref = record_ref
        self.method = method
        self.error_paths = tuple(error_paths)

    @property
    def error_code(self) -> str | None:
        """The first ``o:errorCode``, ``None`` when NetSuite gave none."""
        return self.error_codes[0] if self.error_codes else None

    def __str__(self) -> str:
        return self.message

    def __reduce__(self) -> tuple[Any, ...]:
        return (_rebuild, (type(self), self.args, self.__dict__.copy()))


def _rebuild(cls: type[NetSuiteError], args: tuple[Any, ...], state: dict[str, Any]) -> NetSuiteError:
    error = cls.__new__(cls)
    Exception.__init__(error, *args)
    error.__dict__.update(state)
    return error


class NetSuiteAuthError(NetSuiteError):
    """NetSuite refused the credentials: the token endpoint refused the client assertion, or the
    API answered 401 ``INVALID_LOGIN`` again with a freshly fetched token (B2, B8). NetSuite
    gives the reason only in its Login Audit Trail."""


class NetSuitePermissionError(NetSuiteAuthError):
    """HTTP 403 (``INSUFFICIENT_PERMISSION``): the role of the integration's mapping lacks a
    permission for this record type or for SuiteQL."""


class NetSuiteNotFoundError(NetSuiteError):
    """HTTP 404: no record with this internal id or external id (``NONEXISTENT_ID``, B8)."""


class NetSuiteConcurrencyError(NetSuiteError):
    """NetSuite still answered ``CONCURRENCY_LIMIT_EXCEEDED`` after every retry: other clients
    hold the account's concurrency limit (B9). Nothing was written; the call can be repeated."""


class NetSuiteValidationError(NetSuiteError):
    """NetSuite refused the record's data (HTTP 400 ``USER_ERROR``, ``INVALID_CONTENT``,
    ``INVALID_KEY_OR_REF``, ``NONEXISTENT_FIELD``…), or a value cannot be sent at all: a data
    error of the record, which the caller dead-letters."""


class NetSuiteValueError(NetSuiteValidationError, ValueError):
    """A value cannot be sent to NetSuite without changing its meaning (an external id with a
    character NetSuite's path cannot carry, a SuiteQL value with a control character…); no
    request was sent.

    :param what: what the value is for (``externalId of invoice``, ``a SuiteQL value``).
    :param value: the value.
    :param reason: why it cannot be sent.
    """

    def __init__(self, what: str, value: object, reason: str) -> None:
        shown = repr(value)
        if len(shown) > 80:
            shown = f"{shown[:60]}…{shown[-10:]} ({len(str(value))} characters)"
        super().__init__(f"NetSuite: the value {shown} cannot be used as {what}: {reason}")
        self.what = what
        self.value = value
        self.reason = reason

    def __reduce__(self) -> tuple[Any, ...]:
        return (type(self), (self.what, self.value, self.reason))


class NetSuiteQueryError(NetSuiteError):
    """SuiteQL refused a query (HTTP 400 ``INVALID_PARAMETER``/``USER_ERROR``, "Invalid search
    query", B6): a table, column or function the account does not know, or SQL it cannot run."""


class NetSuiteResponseError(NetSuiteError):
    """A NetSuite answer broke the contract: a create without a ``Location``, a SuiteQL page that
    is not a collection envelope, a record that is not a JSON object."""


class NetSuiteUnknownOutcomeError(NetSuiteError):
    """A create (``POST``) got no usable answer (a dropped connection, a read timeout, a 500, 502,
    503 or 504): NetSuite may or may not have created the record, so it is not sent again blindly.
    Look the record up by its external id (:meth:`NetSuiteHook.get_by_external_id`), or write it
    with :meth:`NetSuiteHook.upsert_by_external_id`, which can be repeated safely."""


@dataclass(frozen=True)
class ErrorBody:
    """What an error answer says, read from NetSuite's envelope or from whatever the body holds.

    :param detail: the explanation, one line of at most :data:`DETAIL_LIMIT` characters.
    :param codes: the ``o:errorCode`` values.
    :param paths: the ``o:errorPath`` values.
    :param title: the envelope's ``title``, when there is one.
    """

    detail: str
    codes: tuple[str, ...] = ()
    paths: tuple[str, ...] = ()
    title: str | None = None


def parse_error_body(payload: Any, text: str = "", secrets: Sequence[str] = ()) -> ErrorBody:
    """Read an error answer: NetSuite's envelope (``o:errorDetails``, B8), an OAuth error
    (``error``/``error_description``), another JSON shape, or the body as text (an HTML page is
    reduced to its text).

    :param payload: the decoded JSON body, ``None`` when it is not JSON.
    :param text: the body as text (used when the JSON says nothing).
    :param secrets: literal values that must not appear in the detail.
    """
    codes: list[str] = []
    paths: list[str] = []
    details: list[str] = []
    title: str | None = None
    if isinstance(payload, Mapping):
        entries = payload.get("o:errorDetails")
        if isinstance(entries, list):
            for entry in entries:
                if not isinstance(entry, Mapping):
                    continue
                if entry.get("o:errorCode"):
                    codes.append(str(entry["o:errorCode"]))
                if entry.get("o:errorPath"):
                    paths.append(str(entry["o:errorPath"]))
                if entry.get("detail"):
                    details.append(str(entry["detail"]))
        if isinstance(payload.get("o:errorCode"), str):
            codes.append(str(payload["o:errorCode"]))
        if isinstance(payload.get("title"), str):
            title = str(payload["title"])
        if not details:
            error = payload.get("error")
            description = payload.get("error_description")
            if isinstance(error, str) and error:
                details.append(f"{error}: {description}" if isinstance(description, str) else error)
            else:
                for name in ("detail", "title", "message"):
                    value = payload.get(name)
                    if isinstance(value, str) and value.strip():
                        details.append(value)
                        break
    detail = "; ".join(details)
    if not detail:
        detail = text or "(empty body)"
    return ErrorBody(
        detail=body_excerpt(detail, secrets, limit=DETAIL_LIMIT),
        codes=tuple(dict.fromkeys(codes)),
        paths=tuple(paths),
        title=title,
    )


def is_concurrency_limit(status: int, payload: Any) -> bool:
    """Whether an answer is NetSuite's concurrency governance refusal (B8, B9): a 429, or a 400
    whose ``o:errorCode`` is ``CONCURRENCY_LIMIT_EXCEEDED``.

    :param status: the HTTP status.
    :param payload: the decoded JSON body, ``None`` when it is not JSON.
    """
    if status == 429:
        return True
    return status == 400 and CONCURRENCY_LIMIT_EXCEEDED in parse_error_body(payload).codes


def describe(record_type: str | None, record_ref: str | None) -> str:
    """``invoice eid:stripe-ch_1`` / ``invoice 42`` / ``invoice`` / ``SuiteQL``."""
    if record_type is None:
        return "SuiteQL"
    return f"{record_type} {record_ref}" if record_ref else record_type


def netsuite_error(
    method: str,
    record_type: str | None,
    record_ref: str | None,
    error: HttpStatusError,
    *,
    concurrency_exhausted: bool = False,
) -> NetSuiteError:
    """The :class:`NetSuiteError` for an error answer the transport raised or gave up on.

    :param method: the HTTP method.
    :param record_type: the record type, ``None`` for a SuiteQL query.
    :param record_ref: the internal id or ``eid:<externalId>``, when there is one.
    :param error: the transport's error for the (last) answer.
    :param concurrency_exhausted: the answer was retried until the policy's attempts ran out.
    """
    body = parse_error_body(error.json(), error.body_excerpt or error.reason)
    status = error.status
    what = describe(record_type, record_ref)
    cls: type[NetSuiteError]
    if is_concurrency_limit(status, error.json()):
        cls = NetSuiteConcurrencyError
    elif status == 401:
        cls = NetSuiteAuthError
    elif status == 403:
        cls = NetSuitePermissionError
    elif status == 404:
        cls = NetSuiteNotFoundError
    elif status == 400 and record_type is None:
        cls = NetSuiteQueryError
    elif status == 400:
        cls = NetSuiteValidationError
    else:
        cls = NetSuiteError
    verb = "failed" if status >= 500 else "rejected"
    codes = f" [{', '.join(body.codes)}]" if body.codes else ""
    message = f"NetSuite {verb} {method} {what} with HTTP {status}{codes}: {body.detail}"
    if body.paths:
        message += f" (field {', '.join(body.paths)})"
    if error.request_id:
        message += f" (request id {error.request_id})"
    if concurrency_exhausted or cls is NetSuiteConcurrencyError:
        message += (
            "; the account's concurrency limit stayed exhausted through every retry: lower the "
            "connection's 'concurrency' or the other integrations' share (Setup > Integration > "
            "Integration Management > Integration Governance)"
        )
    return cls(
        message,
        status=status,
        error_codes=body.codes,
        detail=body.detail,
        record_type=record_type,
        record_ref=record_ref,
        method=method,
        error_paths=body.paths,
    )
