"""Exceptions raised by the HTTP transport.

Every message names the HTTP method and the URL (with secret-looking query parameters and any
user-info replaced by ``***``) and, for HTTP errors, the status and a short excerpt of the response
body, cleaned by :mod:`~ml_connector_provider.transport.redaction`. No message ever contains
request headers, request bodies, tokens or passwords.
"""

from __future__ import annotations

import copy
import html
import json
import re
from collections.abc import Iterable, Mapping
from typing import Any, Self

from ml_connector_provider.transport.redaction import redact_text

__all__ = [
    "AuthError",
    "ConnectionFailed",
    "HttpStatusError",
    "RetryExhausted",
    "TransportError",
]

#: Longest body excerpt carried in an exception message.
MAX_EXCERPT = 500

#: Longest response body kept on :class:`HttpStatusError` for callers that need to parse it.
MAX_BODY = 64 * 1024

# Response headers not kept on an error: they can carry session credentials.
_PRIVATE_HEADERS = frozenset({"set-cookie", "set-cookie2", "www-authenticate", "authorization"})


# An HTML page (a gateway's or a load balancer's error page) rather than text or JSON.
_HTML_START = re.compile(
    r"\s*(?:<\?xml[^>]*>\s*)?<(?:!doctype\s+html|html|head|body|title|h1|p|div|center)\b", re.I
)
_HTML_INVISIBLE = re.compile(r"<(script|style|head)\b.*?</\1\s*>|<!--.*?-->", re.I | re.S)
_HTML_TITLE = re.compile(r"<title\b[^>]*>(.*?)</title\s*>", re.I | re.S)
_HTML_TAG = re.compile(r"<[^>]*>")


def is_html(text: str) -> bool:
    """Whether a response body is an HTML page (a gateway's, load balancer's or login page)."""
    return bool(_HTML_START.match(text))


def html_text(text: str) -> str:
    """The readable text of an HTML page, on one line: its title, then its visible text (the
    title is not repeated when the text begins with it); scripts, styles and comments dropped,
    tags removed, entities decoded. Text that is not an HTML page is returned unchanged.

    :param text: a response body.
    """
    if not is_html(text):
        return text
    found = _HTML_TITLE.search(text)
    title = " ".join(html.unescape(_HTML_TAG.sub(" ", found.group(1))).split()) if found else ""
    visible = " ".join(html.unescape(_HTML_TAG.sub(" ", _HTML_INVISIBLE.sub(" ", text))).split())
    if title and not visible.startswith(title):
        visible = f"{title}: {visible}" if visible else title
    return visible


def body_excerpt(text: str, secrets: Iterable[str] = (), limit: int = MAX_EXCERPT) -> str:
    """A single-line, secret-free excerpt of a response body of at most ``limit`` characters.

    An HTML page is reduced to its readable text first (:func:`html_text`), so a gateway's error
    page reads as ``502 Bad Gateway nginx`` rather than as markup.

    :param text: the response body.
    :param secrets: literal values that must not appear.
    :param limit: maximum length of the excerpt, including the trailing ellipsis.
    """
    flat = " ".join(html_text(text).split())
    flat = redact_text(flat, secrets)
    if len(flat) > limit:
        flat = flat[: limit - 1] + "…"
    return flat


class TransportError(Exception):
    """Base class of every error raised by :mod:`ml_connector_provider.transport`.

    :param message: the full, secret-free message.
    :param method: HTTP method of the failed request, upper case.
    :param url: URL of the failed request, already redacted.
    """

    def __init__(self, message: str, *, method: str | None = None, url: str | None = None) -> None:
        super().__init__(message)
        self.message = message
        self.method = method
        self.url = url

    def __str__(self) -> str:
        return self.message

    def in_context(self, context: str) -> Self:
        """A copy of this error (same class, same attributes) whose message starts with
        ``context``, e.g. ``"Oracle Fusion, GET invoices"``, so that it names the system and the
        resource concerned; the original error is left as it was.

        :param context: secret-free text naming the system and what was being done.
        """
        error = copy.copy(self)
        error.message = f"{context}: {self.message}"
        error.args = (error.message, *self.args[1:])
        return error

    def __reduce__(self) -> tuple[Any, ...]:
        # The subclasses' constructors take more than the message; rebuild from the state instead.
        return (_rebuild, (type(self), self.args, self.__dict__.copy()))


def _rebuild(cls: type[TransportError], args: tuple[Any, ...], state: dict[str, Any]) -> TransportError:
    error = cls.__new__(cls)
    Exception.__init__(error, *args)
    error.__dict__.update(state)
    return error


class HttpStatusError(TransportError):
    """The server answered with a status the caller did not expect.

    :param status: HTTP status code.
    :param method: HTTP method, upper case.
    :param url: request URL, already redacted (see :func:`redact_url`).
    :param body_excerpt: at most :data:`MAX_EXCERPT` characters of the response body, secret-free.
    :param request_id: the server's request id header, when it sent one.
    :param reason: the HTTP reason phrase.
    :param body: the response body (up to :data:`MAX_BODY` characters, secret-free), for callers
        that classify errors by their payload (Stripe ``error.code``, NetSuite ``o:errorCode``).
    :param headers: the response headers.
    """

    def __init__(
        self,
        status: int,
        method: str,
        url: str,
        body_excerpt: str,
        request_id: str | None = None,
        *,
        reason: str = "",
        body: str = "",
        headers: Mapping[str, str] | None = None,
    ) -> None:
        self.status = status
        self.body_excerpt = body_excerpt
        self.request_id = request_id
        self.reason = reason
        self.body = body
        self.headers: dict[str, str] = {
            name: value for name, value in (headers or {}).items() if name.lower() not in _PRIVATE_HEADERS
        }
        status_text = f"HTTP {status} {reason}".rstrip()
        message = f"{method} {url} -> {status_text}"
        if request_id:
            message += f" (request id {request_id})"
        if body_excerpt:
            message += f": {body_excerpt}"
        super().__init__(message, method=method, url=url)

    def json(self) -> Any:
        """The response body parsed as JSON, or ``None`` when it is not JSON."""
        try:
            return json.loads(self.body)
        except ValueError:
            return None


class ConnectionFailed(TransportError):
    """No usable response: the connection could not be opened, was dropped, or timed out.

    :param message: the full, secret-free message.
    :param method: HTTP method, upper case.
    :param url: request URL, already redacted.
    :param request_sent: ``False`` when the request certainly never reached the server (connection
        refused, DNS failure, connect timeout); ``True`` when the server may have processed it.
    :param reason: class name of the low-level error (``ReadTimeout``, ``ChunkedEncodingError``…).
    """

    def __init__(self, message: str, *, method: str, url: str, request_sent: bool, reason: str) -> None:
        super().__init__(message, method=method, url=url)
        self.request_sent = request_sent
        self.reason = reason


class RetryExhausted(TransportError):
    """A retryable failure persisted through every allowed attempt.

    :param last_error: the failure of the final attempt.
    :param attempts: how many attempts were made.
    """

    def __init__(self, last_error: TransportError, attempts: int) -> None:
        self.last_error = last_error
        self.attempts = attempts
        noun = "attempt" if attempts == 1 else "attempts"
        super().__init__(
            f"giving up after {attempts} {noun}: {last_error.message}",
            method=last_error.method,
            url=last_error.url,
        )

    @property
    def status(self) -> int | None:
        """HTTP status of the last attempt, or ``None`` when it got no response."""
        return self.last_error.status if isinstance(self.last_error, HttpStatusError) else None


class AuthError(TransportError):
    """Credentials were rejected: a token endpoint refused to issue a token, or the API answered
    401 again after the token had been refreshed.

    :param message: the full, secret-free message.
    :param method: HTTP method, upper case.
    :param url: URL of the token endpoint or of the API call, already redacted.
    :param status: HTTP status, when there was a response.
    :param error: the OAuth ``error`` code (``invalid_client``, ``invalid_grant``…), when given.
    :param error_description: the OAuth ``error_description``, when given.
    :param request_id: the server's request id header, when it sent one.
    """

    def __init__(
        self,
        message: str,
        *,
        method: str | None = None,
        url: str | None = None,
        status: int | None = None,
        error: str | None = None,
        error_description: str | None = None,
        request_id: str | None = None,
    ) -> None:
        super().__init__(message, method=method, url=url)
        self.status = status
        self.error = error
        self.error_description = error_description
        self.request_id = request_id
