"""The errors of the Oracle Fusion hook, and how an HTTP error answer becomes one of them.

Transport errors (:class:`~ml_connector_provider.transport.RetryExhausted` for 429/502/503/504
that persisted, :class:`~ml_connector_provider.transport.ConnectionFailed`,
:class:`~ml_connector_provider.transport.AuthError` for a 401) keep their class, their message
prefixed with ``Oracle Fusion, <method> <resource>``; an error status that the transport does not
retry (400, 403, 404, 409, 500…) becomes a :class:`FusionApiError` carrying Fusion's own
explanation (:func:`api_error`). An answer that breaks the REST contract (a 200 that is not JSON,
a collection without a list of items…) is a :class:`FusionResponseError` naming the resource and,
for a collection page, the offset.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from ml_connector_provider.transport import HttpStatusError
from ml_connector_provider.transport.errors import body_excerpt

__all__ = [
    "FusionApiError",
    "FusionBadRequest",
    "FusionEssHeld",
    "FusionEssJobError",
    "FusionEssRequestNotFound",
    "FusionEssTimeout",
    "FusionFilterValueError",
    "FusionResponseError",
    "OracleFusionError",
    "api_error",
]


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


class FusionFilterValueError(OracleFusionError, ValueError):
    """A value (from a record: a supplier or invoice number…) cannot be written into a ``q`` filter
    without changing its meaning, so no request is sent: a data error of the record that holds it.

    :param attribute: the attribute the value was for.
    :param value: the value.
    :param reason: why it cannot be written.
    """

    def __init__(self, attribute: str, value: object, reason: str) -> None:
        shown = repr(value)
        if len(shown) > 80:
            shown = f"{shown[:60]}…{shown[-10:]} ({len(str(value))} characters)"
        super().__init__(
            f"the value {shown} of {attribute} cannot be used in an Oracle Fusion filter: {reason}"
        )
        self.attribute = attribute
        self.value = value
        self.reason = reason

    def __reduce__(self) -> tuple[Any, ...]:
        return (type(self), (self.attribute, self.value, self.reason))


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


class FusionEssHeld(OracleFusionError):
    """An ESS request tree stayed held (a request on ``HOLD``, or ``PAUSED`` with nothing running)
    longer than the caller would wait. The request can still run once released.

    :param request_id: the request that is held.
    :param state: its state.
    :param tree: every request id of the tree, root first.
    :param waited: seconds it was seen held.
    """

    def __init__(self, request_id: str, state: str, tree: Sequence[str], waited: float) -> None:
        super().__init__(
            f"Oracle Fusion ESS request {request_id} has been {state} for {waited:.0f} s (request tree "
            f"{', '.join(tree)}). Release it in Fusion (Scheduled Processes) to let it run, or cancel it; "
            "nothing is submitted again while it is held, and the next run waits for it"
        )
        self.request_id = request_id
        self.state = state
        self.tree = tuple(tree)
        self.waited = waited


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


#: Longest explanation of an error answer quoted in a :class:`FusionApiError` message.
DETAIL_LIMIT = 300


def api_error(method: str, resource: str, error: HttpStatusError) -> FusionApiError:
    """The :class:`FusionApiError` (:class:`FusionBadRequest` for HTTP 400) for an error answer.

    The message names Oracle Fusion, the method, the resource, the status, Fusion's explanation
    and the request id Fusion gave (if any). The explanation is read from whatever the body holds
    (contract A6): the framework-4 JSON ``o:errorDetails``, Fusion's plain text, a gateway's HTML
    page (reduced to its text), JSON of another shape (``detail``, ``title``, ``message``,
    ``error``/``error_description``), or nothing (then the reason phrase); it is one line of at
    most :data:`DETAIL_LIMIT` characters and never holds a secret (the transport redacted the body).

    :param method: the HTTP method of the request.
    :param resource: the resource the request was for.
    :param error: the transport's error for the answer.
    """
    detail, codes = _error_detail(error)
    cls = FusionBadRequest if error.status == 400 else FusionApiError
    what = "rejected" if error.status < 500 else "failed"
    message = f"Oracle Fusion {what} {method} {resource} with HTTP {error.status}: {detail}"
    if error.request_id:
        message += f" (request id {error.request_id})"
    return cls(message, resource=resource, status=error.status, detail=detail, error_codes=codes)


def _error_detail(error: HttpStatusError) -> tuple[str, list[str]]:
    """Fusion's explanation of an error: the framework-4 JSON details, another JSON shape's
    message, or the body as text."""
    payload = error.json()
    codes: list[str] = []
    text = ""
    if isinstance(payload, dict):
        details = payload.get("o:errorDetails")
        if isinstance(details, list):
            entries = [d for d in details if isinstance(d, dict)]
            texts = [str(d["detail"]) for d in entries if d.get("detail")]
            codes = [str(d["o:errorCode"]) for d in entries if d.get("o:errorCode")]
            text = "; ".join(texts)
        if not text:
            for name in ("detail", "title", "message", "error_description", "error"):
                value = payload.get(name)
                if isinstance(value, str) and value.strip():
                    text = value
                    break
                if isinstance(value, dict) and isinstance(value.get("message"), str):
                    text = value["message"]
                    break
    if not text:
        text = error.body_excerpt or (f"{error.reason} (empty body)" if error.reason else "(empty body)")
    return body_excerpt(text, limit=DETAIL_LIMIT), codes
