"""The settings of a ``netsuite`` Airflow connection, the URLs they lead to, and the token provider.

Fields (docs/connections.md, the ``netsuite`` section):

* ``login`` — the integration record's Client ID (the JWT ``iss``; not a secret);
* extra ``account_id`` — the account, e.g. ``1234567`` or ``1234567_SB1``;
* extra ``certificate_id`` — the Certificate ID of the OAuth 2.0 client credentials mapping (the
  JWT ``kid``);
* extra ``private_key`` (PEM, secret) or ``private_key_file`` (a path to the PEM), and
  ``private_key_passphrase`` for an encrypted PEM;
* extra ``algorithm`` — ``PS256`` (default), ``PS384``, ``PS512``, ``ES256``, ``ES384``, ``ES512``;
* extra ``base_url`` — overrides ``https://<account-slug>.suitetalk.api.netsuite.com`` (a test
  stand-in); ``/services/rest`` is appended;
* extra ``scope`` — ``rest_webservices`` by default (comma-separated for several);
* extra ``concurrency`` — requests in flight at once from this process for the account (default 5);
* extra ``timeout`` and the ``retry_*`` extras of
  :meth:`~ml_connector_provider.transport.RetryPolicy.from_mapping`.
"""

from __future__ import annotations

import hashlib
import logging
import math
import re
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any
from urllib.parse import urlsplit, urlunsplit

from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import ec, rsa

from ml_connector_provider.transport import RetryPolicy, register_secret

if TYPE_CHECKING:
    from airflow.sdk import Connection

__all__ = [
    "ALGORITHMS",
    "DEFAULT_CONCURRENCY",
    "DEFAULT_SCOPE",
    "NETSUITE_RETRY",
    "NetSuiteConnectionSettings",
    "account_slug",
    "default_base_url",
]

log = logging.getLogger(__name__)

#: Signing algorithms NetSuite accepts for the client assertion (B2); RS256 was withdrawn in 2025.
ALGORITHMS = ("PS256", "PS384", "PS512", "ES256", "ES384", "ES512")
_EC_CURVES = {"ES256": "secp256r1", "ES384": "secp384r1", "ES512": "secp521r1"}

#: The scope asked for when the connection names none (B2).
DEFAULT_SCOPE = "rest_webservices"

#: Requests in flight at once per account and process when the connection says nothing: the
#: lowest account limit NetSuite grants (B9, "shared tier 5").
DEFAULT_CONCURRENCY = 5

#: NetSuite's retry policy (B9): exponential backoff with jitter, 1 s, 2 s, 4 s … up to 30 s, for
#: the concurrency refusal (429, no ``Retry-After``) and 5xx. Only a 429 means "not processed", so
#: a create (POST) is never repeated after a 5xx or a lost answer.
NETSUITE_RETRY = RetryPolicy(
    attempts=8,
    base_delay=1.0,
    max_delay=30.0,
    retry_statuses=frozenset({429, 500, 502, 503, 504}),
    unprocessed_statuses=frozenset({429}),
)

_ACCOUNT = re.compile(r"[A-Za-z0-9]+(?:[_-][A-Za-z0-9]+)*")
_CERTIFICATE_ID = re.compile(r"[A-Za-z0-9_.:\-]{1,200}")
_SCOPE_NAMES = frozenset({"restlets", "rest_webservices", "suite_analytics"})


def account_slug(account_id: str) -> str:
    """The host label of an account id: lower case, ``_`` → ``-`` (``1234567_SB1`` → ``1234567-sb1``, B1).

    :raises ValueError: not an account id (letters and digits, parts joined by ``_`` or ``-``).
    """
    text = account_id.strip() if isinstance(account_id, str) else ""
    if not _ACCOUNT.fullmatch(text):
        raise ValueError(
            f"extra 'account_id' must be a NetSuite account id such as 1234567 or 1234567_SB1, got {account_id!r}"
        )
    return text.lower().replace("_", "-")


def default_base_url(account_id: str) -> str:
    """``https://<account-slug>.suitetalk.api.netsuite.com`` (B1)."""
    return f"https://{account_slug(account_id)}.suitetalk.api.netsuite.com"


def _blank_to_none(value: Any) -> Any:
    if isinstance(value, str):
        value = value.strip()
        return value or None
    return value


def _base_url(raw: str) -> str:
    parts = urlsplit(raw if "://" in raw else "https://" + raw)
    if parts.scheme not in ("http", "https") or not parts.hostname:
        raise ValueError(f"extra 'base_url' must be an http(s) URL, got {raw!r}")
    path = parts.path.rstrip("/")
    marker = path.find("/services/rest")
    if marker >= 0:
        path = path[:marker]
    return urlunsplit((parts.scheme, parts.netloc, path, "", ""))


def _pem(extras: Mapping[str, Any]) -> str:
    inline = extras.get("private_key")
    path = extras.get("private_key_file")
    if inline and path:
        raise ValueError("set either extra 'private_key' or extra 'private_key_file', not both")
    if path:
        try:
            text = Path(str(path)).expanduser().read_text(encoding="utf-8")
        except (OSError, UnicodeDecodeError) as exc:
            raise ValueError(
                f"extra 'private_key_file' {str(path)!r} cannot be read: {type(exc).__name__}"
            ) from None
    elif inline:
        text = str(inline)
    else:
        raise ValueError(
            "the connection has no private key: set extra 'private_key' (the PEM of the key whose "
            "certificate is uploaded in the OAuth 2.0 client credentials mapping) or 'private_key_file'"
        )
    text = text.strip()
    if "\n" not in text and "\\n" in text:  # a PEM pasted into one line of a form
        text = text.replace("\\n", "\n")
    return text + "\n"


def _check_key(pem: str, passphrase: str | None, algorithm: str) -> None:
    try:
        key = serialization.load_pem_private_key(
            pem.encode(), password=passphrase.encode() if passphrase else None
        )
    except TypeError:
        raise ValueError(
            "the private key is encrypted: set extra 'private_key_passphrase'"
            if not passphrase
            else "extra 'private_key_passphrase' is set but the private key is not encrypted"
        ) from None
    except ValueError:
        # cryptography's message never quotes the key, but says nothing useful either
        raise ValueError(
            "the private key is not a PEM private key that can be read (or the passphrase is wrong); "
            "expected '-----BEGIN PRIVATE KEY-----' (PKCS#8) or an RSA/EC PEM"
        ) from None
    if algorithm.startswith("PS"):
        if not isinstance(key, rsa.RSAPrivateKey):
            raise ValueError(f"algorithm {algorithm} needs an RSA private key; use ES256 for an EC key")
        if key.key_size < 3072:
            log.warning(
                "The NetSuite private key has %d bits; NetSuite asks for RSA keys of 3072 or 4096 bits",
                key.key_size,
            )
        return
    if not isinstance(key, ec.EllipticCurvePrivateKey) or key.curve.name != _EC_CURVES[algorithm]:
        raise ValueError(f"algorithm {algorithm} needs an EC private key on curve {_EC_CURVES[algorithm]}")


@dataclass(frozen=True)
class NetSuiteConnectionSettings:
    """What the hook reads from a ``netsuite`` connection (listed in the module docstring).

    :param account_id: the account id as NetSuite writes it (``1234567_SB1``).
    :param client_id: the integration's Client ID (the assertion's ``iss``).
    :param certificate_id: the mapping's Certificate ID (the assertion's ``kid``).
    :param private_key: the PEM private key.
    :param algorithm: the signing algorithm.
    :param base_url: scheme and host (and port) of the account's REST host.
    :param scope: the assertion's ``scope`` claim.
    :param concurrency: requests in flight at once per account and process.
    :param timeout: seconds per HTTP request.
    :param retry: retry policy of API calls.
    :param private_key_passphrase: passphrase of an encrypted PEM.
    """

    account_id: str
    client_id: str
    certificate_id: str
    private_key: str = field(repr=False)
    algorithm: str
    base_url: str
    scope: str
    concurrency: int
    timeout: float
    retry: RetryPolicy
    private_key_passphrase: str | None = field(default=None, repr=False)

    @property
    def rest_url(self) -> str:
        """``<base_url>/services/rest``."""
        return f"{self.base_url}/services/rest"

    @property
    def token_url(self) -> str:
        """The token endpoint, which is also the assertion's ``aud`` (B2)."""
        return f"{self.rest_url}/auth/oauth2/v1/token"

    @property
    def secrets(self) -> tuple[str, ...]:
        """Secret values held, for scrubbing messages."""
        return tuple(s for s in (self.private_key.strip(), self.private_key_passphrase) if s)

    @property
    def timeouts(self) -> tuple[float, float]:
        """``(connect, read)`` seconds: connecting takes at most 10 s."""
        return (min(10.0, self.timeout), self.timeout)

    @property
    def limiter_key(self) -> tuple[str, str]:
        """The key of the account's process-wide concurrency limiter (the account, upper case)."""
        return ("netsuite", self.account_id.upper())

    @property
    def token_key(self) -> tuple[str, ...]:
        """What identifies one token: endpoint, client, certificate, scope and a digest of the key
        (never the key itself)."""
        digest = hashlib.sha256(self.private_key.encode()).hexdigest()[:16]
        return (self.token_url, self.client_id, self.certificate_id, self.algorithm, self.scope, digest)

    @classmethod
    def from_airflow(cls, conn: Connection) -> NetSuiteConnectionSettings:
        """Read an Airflow connection, registering its secrets with the secret masker first.

        :param conn: the ``netsuite`` connection.
        :raises ValueError: a setting is missing or invalid (see :meth:`from_connection`).
        """
        extra = conn.extra_dejson
        for name in ("private_key", "private_key_passphrase"):
            value = _blank_to_none(extra.get(name))
            if value:
                register_secret(str(value))
        return cls.from_connection(login=conn.login, extra=extra)

    @classmethod
    def from_connection(
        cls, *, login: str | None, extra: Mapping[str, Any] | None = None
    ) -> NetSuiteConnectionSettings:
        """Read and validate the settings of a connection.

        :param login: ``conn.login``: the Client ID.
        :param extra: ``conn.extra_dejson``.
        :raises ValueError: a setting is missing or invalid; the message names it, never the key.
        """
        extras = {key: _blank_to_none(value) for key, value in (extra or {}).items()}
        client_id = _blank_to_none(login) or extras.get("client_id")
        if not client_id:
            raise ValueError(
                "the connection has no login: set it to the Client ID of the NetSuite integration record"
            )
        account = extras.get("account_id")
        if not account:
            raise ValueError("the connection has no extra 'account_id' (e.g. 1234567 or 1234567_SB1)")
        account_id = str(account).strip()
        account_slug(account_id)
        certificate_id = extras.get("certificate_id")
        if not certificate_id:
            raise ValueError(
                "the connection has no extra 'certificate_id': the Certificate ID of the OAuth 2.0 "
                "client credentials (M2M) mapping, sent as the JWT kid"
            )
        if not _CERTIFICATE_ID.fullmatch(str(certificate_id)):
            raise ValueError(
                f"extra 'certificate_id' must be letters, digits, '_', '.', ':' or '-', got {certificate_id!r}"
            )
        algorithm = str(extras.get("algorithm") or "PS256").upper()
        if algorithm.startswith("RS"):
            raise ValueError(
                f"extra 'algorithm' {algorithm} is not accepted: NetSuite stopped accepting RSA PKCS#1 v1.5 "
                "signatures in March 2025; use PS256 with the same RSA key"
            )
        if algorithm not in ALGORITHMS:
            raise ValueError(f"extra 'algorithm' must be one of {', '.join(ALGORITHMS)}, got {algorithm!r}")
        passphrase = extras.get("private_key_passphrase")
        pem = _pem(extras)
        register_secret(pem.strip())
        _check_key(pem, None if passphrase is None else str(passphrase), algorithm)
        scope = extras.get("scope") or DEFAULT_SCOPE
        if isinstance(scope, list | tuple):
            scope = ",".join(str(s) for s in scope)
        scope = ",".join(part.strip() for part in str(scope).replace(" ", ",").split(",") if part.strip())
        unknown = [part for part in scope.split(",") if part not in _SCOPE_NAMES]
        if unknown or not scope:
            raise ValueError(
                f"extra 'scope' must be one or more of {', '.join(sorted(_SCOPE_NAMES))}, got {extras.get('scope')!r}"
            )
        if "rest_webservices" not in scope.split(","):
            raise ValueError("extra 'scope' must include rest_webservices: the hook uses REST web services")
        raw_concurrency = extras.get("concurrency")
        raw_concurrency = DEFAULT_CONCURRENCY if raw_concurrency is None else raw_concurrency
        try:
            concurrency = int(str(raw_concurrency))
        except ValueError:
            concurrency = 0
        if not 1 <= concurrency <= 1000:
            raise ValueError(
                f"extra 'concurrency' must be an integer from 1 to 1000, got {raw_concurrency!r}"
            )
        raw_timeout = 60 if extras.get("timeout") is None else extras["timeout"]
        try:
            timeout = float(raw_timeout)
        except (TypeError, ValueError):
            raise ValueError(f"extra 'timeout' must be a number of seconds, got {raw_timeout!r}") from None
        if not math.isfinite(timeout) or timeout <= 0:
            raise ValueError(f"extra 'timeout' must be a positive number of seconds, got {raw_timeout!r}")
        defaults = {
            "retry_attempts": NETSUITE_RETRY.attempts,
            "retry_base_delay": NETSUITE_RETRY.base_delay,
            "retry_max_delay": NETSUITE_RETRY.max_delay,
            "retry_statuses": ",".join(str(s) for s in sorted(NETSUITE_RETRY.retry_statuses)),
            "retry_unprocessed_statuses": "429",
        }
        try:
            retry = RetryPolicy.from_mapping(
                {**defaults, **{k: v for k, v in extras.items() if v is not None}}
            )
        except (TypeError, ValueError) as exc:
            raise ValueError(f"invalid retry extras: {exc}") from None
        raw_base = extras.get("base_url")
        base_url = _base_url(str(raw_base)) if raw_base else default_base_url(account_id)
        return cls(
            account_id=account_id,
            client_id=str(client_id),
            certificate_id=str(certificate_id),
            private_key=pem,
            algorithm=algorithm,
            base_url=base_url,
            scope=scope,
            concurrency=concurrency,
            timeout=timeout,
            retry=retry,
            private_key_passphrase=None if passphrase is None else str(passphrase),
        )
