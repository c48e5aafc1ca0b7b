"""Stripe's error answers: ``{"error": {"type", "code", "param", "message", ...}}`` (contract A3).

Routes raise :class:`StripeAPIError`; the request pipeline (:mod:`.api`) renders it with the
``Request-Id``, ``Stripe-Should-Retry`` and ``doc_url``/``request_log_url`` fields the real API sends.
The constructors below produce the canonical bodies of the contract.
"""

from __future__ import annotations

from typing import Any

__all__ = [
    "DOCS_ERROR_CODES_URL",
    "REQUEST_LOG_URL",
    "StripeAPIError",
    "api_error",
    "idempotency_conflict",
    "idempotency_mismatch",
    "invalid_api_key",
    "invalid_request",
    "mask_api_key",
    "missing_api_key",
    "missing_param",
    "rate_limited",
    "resource_missing",
    "unknown_parameter",
    "unrecognized_url",
]

DOCS_ERROR_CODES_URL = "https://stripe.com/docs/error-codes/"
"""``doc_url`` is this plus the error code with dashes (``resource-missing``)."""
REQUEST_LOG_URL = "https://dashboard.stripe.com/test/logs/"
"""``request_log_url`` is this plus the request id (test mode)."""


class StripeAPIError(Exception):
    """An error answer of the Stripe stand-in.

    :param status: HTTP status.
    :param message: ``error.message``.
    :param type: ``error.type`` (``invalid_request_error``, ``idempotency_error``, ``api_error``,
        ``card_error``).
    :param code: ``error.code`` (``resource_missing``, ``rate_limit``, ...).
    :param param: ``error.param``, the offending parameter.
    :param should_retry: value of the ``Stripe-Should-Retry`` header (``None`` leaves it out).
    :param validation: the request was refused before execution began (bad parameters); such
        answers are not stored for idempotent replay (contract A4).
    :param headers: extra response headers.
    :param extra: extra fields of the ``error`` object (``decline_code``, ...).
    """

    def __init__(
        self,
        status: int,
        message: str,
        *,
        type: str = "invalid_request_error",
        code: str | None = None,
        param: str | None = None,
        should_retry: bool | None = False,
        validation: bool = False,
        headers: dict[str, str] | None = None,
        extra: dict[str, Any] | None = None,
    ) -> None:
        super().__init__(message)
        self.status = status
        self.message = message
        self.type = type
        self.code = code
        self.param = param
        self.should_retry = should_retry
        self.validation = validation
        self.headers = dict(headers or {})
        self.extra = dict(extra or {})

    def body(self, request_id: str | None = None, *, log_url: bool = True) -> dict[str, Any]:
        """The JSON body, ``{"error": {...}}``."""
        error: dict[str, Any] = {}
        if self.code is not None:
            error["code"] = self.code
            error["doc_url"] = DOCS_ERROR_CODES_URL + self.code.replace("_", "-")
        error["message"] = self.message
        if self.param is not None:
            error["param"] = self.param
        if log_url and request_id is not None:
            error["request_log_url"] = REQUEST_LOG_URL + request_id
        error["type"] = self.type
        error.update(self.extra)
        return {"error": error}


def invalid_request(message: str, *, param: str | None = None, code: str | None = None) -> StripeAPIError:
    """A 400 ``invalid_request_error`` raised while validating parameters (never replayed)."""
    return StripeAPIError(400, message, param=param, code=code, validation=True)


def missing_param(name: str) -> StripeAPIError:
    """400 ``Missing required param: <name>.`` with code ``parameter_missing`` (never replayed)."""
    return invalid_request(f"Missing required param: {name}.", param=name, code="parameter_missing")


def unknown_parameter(name: str) -> StripeAPIError:
    """400 ``Received unknown parameter: <name>``."""
    return invalid_request(f"Received unknown parameter: {name}", param=name, code="parameter_unknown")


def resource_missing(kind: str, object_id: str, *, param: str = "id", status: int = 404) -> StripeAPIError:
    """404 (or 400 for a parameter) ``No such <kind>: '<id>'`` with code ``resource_missing``."""
    return StripeAPIError(status, f"No such {kind}: '{object_id}'", code="resource_missing", param=param)


def mask_api_key(key: str) -> str:
    """Mask a key the way Stripe echoes it: the prefix, stars, the last four characters."""
    prefix_end = key.find("_", key.find("_") + 1) + 1 if key.count("_") >= 2 else 0
    prefix, secret = key[:prefix_end], key[prefix_end:]
    if len(secret) <= 4:
        return prefix + "*" * len(secret)
    return prefix + "*" * (len(secret) - 4) + secret[-4:]


def missing_api_key() -> StripeAPIError:
    """401 when no key was sent (no ``code``, like the real API)."""
    return StripeAPIError(
        401,
        "You did not provide an API key. You need to provide your API key in the Authorization header, "
        "using Bearer auth (e.g. 'Authorization: Bearer YOUR_SECRET_KEY'). See "
        "https://stripe.com/docs/api#authentication for details, or we can help at https://support.stripe.com/.",
        headers={"WWW-Authenticate": 'Basic realm="Stripe"'},
    )


def invalid_api_key(key: str) -> StripeAPIError:
    """401 ``Invalid API Key provided: sk_test_****1234``."""
    return StripeAPIError(
        401,
        f"Invalid API Key provided: {mask_api_key(key)}",
        headers={"WWW-Authenticate": 'Basic realm="Stripe"'},
    )


def rate_limited(*, should_retry: bool | None, reason: str | None = "global-rate") -> StripeAPIError:
    """429 ``rate_limit`` (body of contract A3; ``Stripe-Rate-Limited-Reason`` is UNCONFIRMED)."""
    headers = {"Stripe-Rate-Limited-Reason": reason} if reason else {}
    return StripeAPIError(
        429,
        "Request rate limit exceeded. Learn more about rate limits here https://stripe.com/docs/rate-limits.",
        code="rate_limit",
        should_retry=should_retry,
        headers=headers,
    )


def idempotency_mismatch(key: str) -> StripeAPIError:
    """400 ``idempotency_error``: the key was first used with other parameters (verbatim message)."""
    return StripeAPIError(
        400,
        "Keys for idempotent requests can only be used with the same parameters they were first used with. "
        f"Try using a key other than '{key}' if you meant to execute a different request.",
        type="idempotency_error",
    )


def idempotency_conflict(key: str, *, status: int = 409, type: str = "idempotency_error") -> StripeAPIError:
    """409 while another request with the same key is still running (body UNCONFIRMED)."""
    return StripeAPIError(
        status,
        "There is currently another in-progress request using this Idempotent Key (that probably means you "
        f"submitted twice, and the other request is still going through): {key}. Please try again later.",
        type=type,
        should_retry=True,
    )


def api_error(message: str = "An unknown error occurred") -> StripeAPIError:
    """500 ``api_error`` (stored for idempotent replay, ``Stripe-Should-Retry: false``)."""
    return StripeAPIError(500, message, type="api_error", should_retry=False)


def unrecognized_url(method: str, path: str) -> StripeAPIError:
    """404 for a path the stand-in does not serve."""
    return StripeAPIError(
        404,
        f"Unrecognized request URL ({method}: {path}). Please see https://stripe.com/docs or we can help at "
        "https://support.stripe.com/.",
    )
