"""Keeping credentials out of messages and logs: the one redaction every hook, trigger and the
transport use.

Two halves:

* :func:`redact_text` and :func:`redact_url` clean text that is about to go into an exception
  message, an XCom error event or a log line: known secret values, ``Bearer``/``Basic``
  credentials, ``name=value`` pairs whose name looks secret, PEM blocks, Stripe keys and webhook
  secrets, and credentials a server echoed half-masked (``sk_test_****1234``) all become
  :data:`REDACTED`;
* :func:`register_secret` hands a value to Airflow's secret masker, so that task logs hide it
  wherever it appears.
"""

from __future__ import annotations

import functools
import logging
import re
from collections.abc import Callable, Iterable
from urllib.parse import parse_qsl, urlencode, urlsplit, urlunsplit

__all__ = [
    "MIN_SECRET_LENGTH",
    "REDACTED",
    "redact_text",
    "redact_url",
    "register_secret",
]

log = logging.getLogger(__name__)

#: What a removed credential is replaced with.
REDACTED = "***"

#: Known secret values shorter than this are not searched for in text: replacing every ``"ab"``
#: of a message hides nothing and garbles the rest.
MIN_SECRET_LENGTH = 3

# Query parameter names whose values must never appear in a message or a log line.
_SECRET_NAME = re.compile(
    r"token|secret|passw|pwd|key|signature|^sig$|credential|assertion|auth|session|^code$",
    re.IGNORECASE,
)
# ``name=value`` pairs embedded in free text (urllib3 messages quote the URL they failed on).
_SECRET_PAIR_IN_TEXT = re.compile(
    r"(?P<name>[\w.\-]*(?:token|secret|passw|pwd|key|signature|credential|assertion|auth|session)[\w.\-]*)"
    r"=(?P<value>[^&\s'\")]+)",
    re.IGNORECASE,
)
_AUTH_SCHEME_IN_TEXT = re.compile(r"\b(Bearer|Basic)\s+[A-Za-z0-9\-._~+/=]+", re.IGNORECASE)
# Private keys pasted into a connection (SFTP key extras, JWT signing keys).
_PEM_BLOCK = re.compile(r"-----BEGIN [A-Z0-9 ]+-----.*?-----END [A-Z0-9 ]+-----", re.DOTALL)
# Stripe secret, restricted and publishable keys, and webhook signing secrets, whatever the account.
_STRIPE_KEY = re.compile(r"\b(?:sk|rk|pk)_(?:test|live)_[A-Za-z0-9*]+|\bwhsec_[A-Za-z0-9*]+")
# A credential a server echoed half-masked ("Invalid API Key provided: sk_test_****1234", or any
# other format): the whole token goes, since its visible part is still part of the secret. The
# token never starts at a ``=``, so an already redacted ``name=***`` keeps its name.
_MASKED_ECHO = re.compile(r"[^\s,;=]*\*{3,}[^\s,;]*")


def _secret_name(name: str) -> bool:
    return bool(_SECRET_NAME.search(name))


def redact_text(text: str, secrets: Iterable[str | None] = ()) -> str:
    """Remove credentials from free text.

    Removed: PEM blocks, half-masked echoes of credentials, the given secret values (those of at
    least :data:`MIN_SECRET_LENGTH` characters, longest first), Stripe keys and webhook secrets,
    ``Bearer``/``Basic`` credentials, and the value of every ``name=value`` pair whose name looks
    secret (``access_token=``, ``client_secret=``, ``api_key=`` …).

    :param text: the text to clean.
    :param secrets: literal values that must not appear (tokens, passwords, client secrets, keys);
        ``None`` and empty values are ignored.
    """
    text = _PEM_BLOCK.sub(REDACTED, text)
    text = _MASKED_ECHO.sub(REDACTED, text)
    known = {s for s in secrets if s and len(s) >= MIN_SECRET_LENGTH}
    for secret in sorted(known, key=len, reverse=True):
        text = text.replace(secret, REDACTED)
    text = _STRIPE_KEY.sub(REDACTED, text)
    text = _AUTH_SCHEME_IN_TEXT.sub(lambda m: f"{m.group(1)} {REDACTED}", text)
    return _SECRET_PAIR_IN_TEXT.sub(lambda m: f"{m.group('name')}={REDACTED}", text)


def redact_url(url: str) -> str:
    """Return ``url`` with user-info and the values of secret-looking query parameters replaced.

    :param url: an absolute or relative URL.
    """
    try:
        parts = urlsplit(url)
    except ValueError:
        return redact_text(url)
    netloc = parts.netloc
    if "@" in netloc:
        netloc = f"{REDACTED}@{netloc.rsplit('@', 1)[1]}"
    query = parts.query
    if query:
        pairs = parse_qsl(query, keep_blank_values=True)
        if any(_secret_name(name) for name, _ in pairs):
            query = urlencode(
                [(name, REDACTED if _secret_name(name) else value) for name, value in pairs],
                safe="*",
            )
    return urlunsplit((parts.scheme, netloc, parts.path, query, parts.fragment))


@functools.cache
def _mask_secret() -> Callable[[str], None] | None:
    try:
        from airflow.sdk.log import mask_secret
    except ImportError:
        log.debug("Airflow's secret masker is not importable; credentials are not registered for masking")
        return None
    return mask_secret


def register_secret(value: str | None) -> None:
    """Register ``value`` with Airflow's secret masker (a no-op when Airflow is not importable).

    :param value: a password, token or other credential; empty values are ignored.
    """
    if not value:
        return
    mask = _mask_secret()
    if mask is not None:
        mask(value)
