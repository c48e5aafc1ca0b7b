"""Credential providers for :class:`~ml_connector_provider.transport.http.HttpTransport`.

Static credentials (:class:`BasicAuth`, :class:`ApiKeyAuth`) and OAuth 2.0 token providers
(:class:`OAuth2ClientCredentials`, :class:`OAuth2JwtBearer`, :class:`OAuth2PasswordGrant`).
Token providers cache the access token behind a lock, fetch a new one when less than
``max(30 s, 10 % of its lifetime)`` remains (at most half the lifetime, so short-lived tokens are
still reused), and drop it when the API answers 401. Every secret they hold or obtain is registered
with Airflow's secret masker so it never shows in task logs.
"""

from __future__ import annotations

import abc
import base64
import logging
import math
import threading
import time
from collections.abc import Callable, Mapping, MutableMapping, Sequence
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any, ClassVar, Literal, TypedDict, Unpack

import jwt
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import ec, rsa

from ml_connector_provider.transport.errors import AuthError, body_excerpt
from ml_connector_provider.transport.http import HttpTransport, Timeout, request_id_from
from ml_connector_provider.transport.redaction import redact_text, redact_url, register_secret
from ml_connector_provider.transport.retry import RetryPolicy

if TYPE_CHECKING:
    import requests

__all__ = [
    "TOKEN_RETRY_POLICY",
    "AccessToken",
    "ApiKeyAuth",
    "AuthProvider",
    "BasicAuth",
    "OAuth2ClientCredentials",
    "OAuth2JwtBearer",
    "OAuth2PasswordGrant",
    "OAuth2TokenProvider",
    "TokenProviderOptions",
    "refresh_margin",
]

log = logging.getLogger(__name__)

#: Retries for token endpoint calls: a couple of attempts on throttling, 5xx and network errors.
TOKEN_RETRY_POLICY = RetryPolicy(
    attempts=3,
    base_delay=0.5,
    max_delay=5.0,
    max_retry_after=30.0,
    retry_statuses=frozenset({429, 500, 502, 503, 504}),
)

# Token endpoint answers with these statuses are read as OAuth errors instead of being retried.
_TOKEN_ERROR_STATUSES = frozenset(range(400, 500)) - {408, 429}

# Token response fields that are credentials and must not be kept in AccessToken.extra.
_SECRET_RESPONSE_FIELDS = frozenset({"access_token", "refresh_token", "id_token"})

_BEARER = "Bearer"

ClientAuth = Literal["basic", "post"]
Scope = str | Sequence[str]


def _basic_credentials(username: str, password: str) -> str:
    return base64.b64encode(f"{username}:{password}".encode()).decode("ascii")


def _scope_string(scope: Scope | None, separator: str = " ") -> str | None:
    if scope is None:
        return None
    if isinstance(scope, str):
        return scope
    return separator.join(scope)


class AuthProvider:
    """Adds credentials to outgoing requests.

    A provider either puts credentials in the headers (override :meth:`apply`: API keys, Basic,
    bearer tokens) or signs the whole request (override :meth:`sign`: schemes such as OAuth 1.0a
    whose signature covers the method, the URL with its query and the body). The transport calls
    :meth:`sign` once per attempt, on the request exactly as it goes on the wire, so every retry
    carries a fresh signature (its own timestamp and nonce).

    Implementations must be thread-safe: one provider serves every thread using a transport.
    """

    #: Whether :meth:`invalidate` can lead to different credentials. The transport repeats a
    #: request after a 401 only for refreshable providers.
    refreshable: ClassVar[bool] = False

    def apply(self, headers: MutableMapping[str, str]) -> None:
        """Add the credentials to ``headers`` (obtaining or refreshing a token when needed).

        :param headers: the headers of the request about to be sent.
        :raises NotImplementedError: the provider overrides neither this method nor :meth:`sign`.
        """
        raise NotImplementedError(f"{type(self).__name__} must implement apply() or sign()")

    def sign(self, request: requests.PreparedRequest) -> None:
        """Add the credentials to a prepared request whose method, URL (query included), headers
        and body are final; the default adds them to the headers with :meth:`apply`.

        A signing provider may change the headers and the URL (a signature in the query); it must
        not change the method or the body it signed.

        :param request: the request about to be sent.
        """
        self.apply(request.headers)

    def invalidate(self, rejected: Mapping[str, str] | None = None) -> None:
        """Forget the current credentials after the server rejected them.

        :param rejected: headers of the rejected request; when they carry credentials other than the
            cached ones, another thread already replaced them and nothing is dropped.
        """
        del rejected  # static credentials have nothing to forget

    def secret_values(self) -> tuple[str, ...]:
        """Literal secret values that must be removed from error messages."""
        return ()


class BasicAuth(AuthProvider):
    """HTTP Basic authentication (Oracle Fusion's fallback, A2.2).

    :param username: user name.
    :param password: password.
    """

    def __init__(self, username: str, password: str) -> None:
        credentials = _basic_credentials(username, password)
        self._header = f"Basic {credentials}"
        self._secrets = (password, credentials)
        register_secret(password)
        register_secret(credentials)

    def apply(self, headers: MutableMapping[str, str]) -> None:
        headers["Authorization"] = self._header

    def secret_values(self) -> tuple[str, ...]:
        return self._secrets


class ApiKeyAuth(AuthProvider):
    """A static key sent in a header, e.g. a Stripe secret key as ``Authorization: Bearer sk_…``.

    :param value: the key.
    :param header: the header carrying it.
    :param prefix: text put before the key in the header value.
    """

    def __init__(self, value: str, header: str = "Authorization", prefix: str = "Bearer ") -> None:
        if not value:
            raise ValueError("ApiKeyAuth needs a non-empty key")
        self._header = header
        self._value = f"{prefix}{value}"
        self._secrets = (value,)
        register_secret(value)

    def apply(self, headers: MutableMapping[str, str]) -> None:
        headers[self._header] = self._value

    def secret_values(self) -> tuple[str, ...]:
        return self._secrets


def refresh_margin(lifetime: float) -> float:
    """Seconds before expiry at which a token is replaced: ``max(30 s, 10 % of lifetime)``, but
    never more than half the lifetime.

    :param lifetime: the token's lifetime in seconds.
    """
    return min(max(30.0, 0.1 * lifetime), lifetime / 2)


@dataclass(frozen=True)
class AccessToken:
    """An access token and what the token endpoint said about it.

    :param access_token: the token (never shown by ``repr``).
    :param token_type: always ``"Bearer"`` (other types are rejected).
    :param obtained_at: POSIX time the token request was sent.
    :param expires_at: POSIX time the token expires, ``None`` when the server did not say.
    :param extra: the other, non-secret, response fields (``scope``, ``instance_url``, ``id``…).
    """

    access_token: str = field(repr=False)
    token_type: str
    obtained_at: float
    expires_at: float | None
    extra: Mapping[str, Any] = field(default_factory=dict)

    @property
    def lifetime(self) -> float | None:
        """Seconds between :attr:`obtained_at` and :attr:`expires_at`."""
        return None if self.expires_at is None else self.expires_at - self.obtained_at

    @property
    def refresh_at(self) -> float | None:
        """POSIX time from which the token is replaced before use."""
        lifetime = self.lifetime
        if self.expires_at is None or lifetime is None:
            return None
        return self.expires_at - refresh_margin(lifetime)

    @property
    def authorization(self) -> str:
        """The ``Authorization`` header value."""
        return f"Bearer {self.access_token}"


class TokenProviderOptions(TypedDict, total=False):
    """Options shared by every OAuth 2.0 token provider (see :class:`OAuth2TokenProvider`)."""

    timeout: Timeout
    retry: RetryPolicy
    verify: bool | str
    trust_env: bool
    sleep: Callable[[float], None]
    clock: Callable[[], float]
    default_expires_in: float | None
    renew_before: float | None


def _parse_expires_in(value: Any) -> float | None:
    if value is None or isinstance(value, bool):
        return None
    try:
        seconds = float(value)
    except (TypeError, ValueError):
        log.warning("Ignoring an unparseable expires_in in a token response")
        return None
    return seconds if math.isfinite(seconds) and seconds > 0 else None


class OAuth2TokenProvider(AuthProvider, abc.ABC):
    """Base class of the OAuth 2.0 providers: token cache, refresh and the token request.

    The token request goes through its own :class:`HttpTransport` (no auth, form-encoded POST,
    :data:`TOKEN_RETRY_POLICY` by default). A 4xx answer raises :class:`AuthError` naming the
    endpoint, the status and the OAuth ``error``/``error_description``; persistent throttling,
    5xx or network errors raise :class:`~ml_connector_provider.transport.errors.RetryExhausted`.

    :param token_url: the token endpoint.
    :param timeout: ``(connect, read)`` timeout of the token request.
    :param retry: retry policy of the token request.
    :param verify: TLS verification: ``True``, ``False`` or a CA bundle path.
    :param trust_env: whether ``requests`` reads proxies and CA bundles from the environment.
    :param sleep: called with the seconds to wait between token request attempts.
    :param clock: returns the current POSIX time (token expiry, JWT ``iat``/``exp``).
    :param default_expires_in: lifetime assumed when a response has no ``expires_in`` (Salesforce);
        ``None`` keeps such a token until the API rejects it with a 401.
    :param secrets: literal values the subclass holds that must never appear in messages.
    :param renew_before: seconds before expiry at which a token is replaced (at most half its
        lifetime, so a short-lived token is still reused); ``None`` uses :func:`refresh_margin`.
        NetSuite renews 5 minutes before its 60-minute tokens expire (contract B2).
    """

    refreshable: ClassVar[bool] = True

    def __init__(
        self,
        token_url: str,
        *,
        timeout: Timeout = (10.0, 30.0),
        retry: RetryPolicy | None = None,
        verify: bool | str = True,
        trust_env: bool = True,
        sleep: Callable[[float], None] = time.sleep,
        clock: Callable[[], float] = time.time,
        default_expires_in: float | None = None,
        secrets: Sequence[str] = (),
        renew_before: float | None = None,
    ) -> None:
        if renew_before is not None and not (math.isfinite(renew_before) and renew_before >= 0):
            raise ValueError(f"renew_before must be a finite number of seconds >= 0, got {renew_before!r}")
        self.token_url = token_url
        self.default_expires_in = default_expires_in
        self.renew_before = renew_before
        self._clock = clock
        self._static_secrets = tuple(s for s in secrets if s)
        for secret in self._static_secrets:
            register_secret(secret)
        self._transport = HttpTransport(
            None,
            timeout=timeout,
            retry=retry or TOKEN_RETRY_POLICY,
            pool_size=1,
            verify=verify,
            trust_env=trust_env,
            sleep=sleep,
            clock=clock,
            secrets=self._static_secrets,
        )
        self._lock = threading.Lock()
        self._token: AccessToken | None = None

    @property
    def transport(self) -> HttpTransport:
        """The transport used for token requests (its ``stats`` count token endpoint calls)."""
        return self._transport

    @abc.abstractmethod
    def _token_request(self) -> tuple[dict[str, str], dict[str, str]]:
        """The form fields and extra headers of one token request."""

    def token(self) -> AccessToken:
        """The cached token, or a new one when there is none or it is about to expire."""
        token = self._token
        if token is not None and self._usable(token):
            return token
        with self._lock:
            token = self._token
            if token is None or not self._usable(token):
                token = self._fetch()
                self._token = token
            return token

    def apply(self, headers: MutableMapping[str, str]) -> None:
        headers["Authorization"] = self.token().authorization

    def invalidate(self, rejected: Mapping[str, str] | None = None) -> None:
        with self._lock:
            token = self._token
            if token is None:
                return
            sent = rejected.get("Authorization") if rejected is not None else None
            if sent is not None and sent != token.authorization:
                return
            self._token = None

    def secret_values(self) -> tuple[str, ...]:
        token = self._token
        return self._static_secrets + ((token.access_token,) if token is not None else ())

    def close(self) -> None:
        """Close the token endpoint's pooled connection."""
        self._transport.close()

    def _usable(self, token: AccessToken) -> bool:
        refresh_at = token.refresh_at
        lifetime = token.lifetime
        if self.renew_before is not None and token.expires_at is not None and lifetime is not None:
            refresh_at = token.expires_at - min(self.renew_before, lifetime / 2)
        return refresh_at is None or self._clock() < refresh_at

    def _fetch(self) -> AccessToken:
        form, headers = self._token_request()
        sent_at = self._clock()
        response = self._transport.post(
            self.token_url,
            data=form,
            headers={"Content-Type": "application/x-www-form-urlencoded", **headers},
            idempotent=True,
            expected=_TOKEN_ERROR_STATUSES,
        )
        display_url = redact_url(self.token_url)
        where = f"POST {display_url}"
        if response.status_code >= 400:
            raise self._token_error(display_url, response)
        try:
            payload = response.json()
        except ValueError:
            payload = None
        if not isinstance(payload, dict):
            raise AuthError(
                f"{where}: HTTP {response.status_code} but the token response is not a JSON object",
                method="POST",
                url=display_url,
                status=response.status_code,
            )
        access_token = payload.get("access_token")
        if not isinstance(access_token, str) or not access_token:
            raise AuthError(
                f"{where}: HTTP {response.status_code} but the token response has no access_token",
                method="POST",
                url=display_url,
                status=response.status_code,
            )
        for name in _SECRET_RESPONSE_FIELDS:
            value = payload.get(name)
            if isinstance(value, str):
                register_secret(value)
        token_type = str(payload.get("token_type") or "Bearer")
        if token_type.lower() != "bearer":
            raise AuthError(
                f"{where}: unsupported token_type {token_type[:40]!r} (only bearer tokens are supported)",
                method="POST",
                url=display_url,
                status=response.status_code,
            )
        expires_in = _parse_expires_in(payload.get("expires_in"))
        if expires_in is None:
            expires_in = self.default_expires_in
        return AccessToken(
            access_token=access_token,
            token_type=_BEARER,
            obtained_at=sent_at,
            expires_at=None if expires_in is None else sent_at + expires_in,
            extra={k: v for k, v in payload.items() if k not in _SECRET_RESPONSE_FIELDS},
        )

    def _token_error(self, display_url: str, response: Any) -> AuthError:
        secrets = self._static_secrets
        error: str | None = None
        description: str | None = None
        try:
            payload = response.json()
        except ValueError:
            payload = None
        if isinstance(payload, dict):
            if payload.get("error"):
                error = redact_text(str(payload["error"])[:100], secrets)
            if payload.get("error_description"):
                description = redact_text(str(payload["error_description"])[:300], secrets)
        detail = ": ".join(part for part in (error, description) if part)
        if not detail:
            detail = body_excerpt(response.text, secrets) or "(empty body)"
        return AuthError(
            f"POST {display_url}: token request rejected with HTTP {response.status_code}: {detail}",
            method="POST",
            url=display_url,
            status=response.status_code,
            error=error,
            error_description=description,
            request_id=request_id_from(response.headers),
        )


def _client_authentication(
    client_id: str, client_secret: str, client_auth: ClientAuth, form: dict[str, str]
) -> dict[str, str]:
    """Put the client credentials in ``form`` (``post``) or return a Basic header (``basic``)."""
    if client_auth == "basic":
        return {"Authorization": f"Basic {_basic_credentials(client_id, client_secret)}"}
    if client_auth == "post":
        form["client_id"] = client_id
        form["client_secret"] = client_secret
        return {}
    raise ValueError(f"client_auth must be 'basic' or 'post', got {client_auth!r}")


class OAuth2ClientCredentials(OAuth2TokenProvider):
    """OAuth 2.0 client credentials grant (Oracle IDCS for Fusion, Salesforce client credentials).

    :param token_url: the token endpoint.
    :param client_id: the client id.
    :param client_secret: the client secret.
    :param scope: requested scope; a sequence is joined with spaces (Fusion's scope is one string,
        ``urn:opc:resource:fa:instanceid=<id>urn:opc:resource:consumer::all``).
    :param client_auth: ``"basic"`` (HTTP Basic header, ``client_secret_basic``) or ``"post"``
        (``client_id``/``client_secret`` form fields, ``client_secret_post``).
    :param extra_params: additional form fields.
    :param options: see :class:`OAuth2TokenProvider`.
    """

    def __init__(
        self,
        token_url: str,
        client_id: str,
        client_secret: str,
        *,
        scope: Scope | None = None,
        client_auth: ClientAuth = "basic",
        extra_params: Mapping[str, str] | None = None,
        **options: Unpack[TokenProviderOptions],
    ) -> None:
        if client_auth not in ("basic", "post"):
            raise ValueError(f"client_auth must be 'basic' or 'post', got {client_auth!r}")
        super().__init__(
            token_url,
            secrets=(client_secret, _basic_credentials(client_id, client_secret)),
            **options,
        )
        self.client_id = client_id
        self._client_secret = client_secret
        self.scope = _scope_string(scope)
        self.client_auth = client_auth
        self.extra_params = dict(extra_params or {})

    def _token_request(self) -> tuple[dict[str, str], dict[str, str]]:
        form = {"grant_type": "client_credentials"}
        if self.scope:
            form["scope"] = self.scope
        form.update(self.extra_params)
        headers = _client_authentication(self.client_id, self._client_secret, self.client_auth, form)
        return form, headers


class OAuth2PasswordGrant(OAuth2TokenProvider):
    """OAuth 2.0 resource owner password credentials grant.

    :param token_url: the token endpoint.
    :param client_id: the client id.
    :param client_secret: the client secret.
    :param username: the resource owner's user name.
    :param password: the resource owner's password.
    :param scope: requested scope; a sequence is joined with spaces.
    :param client_auth: ``"basic"`` or ``"post"``, as for :class:`OAuth2ClientCredentials`.
    :param options: see :class:`OAuth2TokenProvider`.
    """

    def __init__(
        self,
        token_url: str,
        client_id: str,
        client_secret: str,
        username: str,
        password: str,
        *,
        scope: Scope | None = None,
        client_auth: ClientAuth = "basic",
        **options: Unpack[TokenProviderOptions],
    ) -> None:
        if client_auth not in ("basic", "post"):
            raise ValueError(f"client_auth must be 'basic' or 'post', got {client_auth!r}")
        super().__init__(
            token_url,
            secrets=(client_secret, password, _basic_credentials(client_id, client_secret)),
            **options,
        )
        self.client_id = client_id
        self._client_secret = client_secret
        self.username = username
        self._password = password
        self.scope = _scope_string(scope)
        self.client_auth = client_auth

    def _token_request(self) -> tuple[dict[str, str], dict[str, str]]:
        form = {"grant_type": "password", "username": self.username, "password": self._password}
        if self.scope:
            form["scope"] = self.scope
        headers = _client_authentication(self.client_id, self._client_secret, self.client_auth, form)
        return form, headers


_JWT_ALGORITHMS = frozenset({"RS256", "RS384", "RS512", "PS256", "PS384", "PS512", "ES256", "ES384", "ES512"})
_EC_CURVES = {"ES256": "secp256r1", "ES384": "secp384r1", "ES512": "secp521r1"}


def _load_signing_key(
    pem: bytes, passphrase: str | None, algorithm: str
) -> rsa.RSAPrivateKey | ec.EllipticCurvePrivateKey:
    try:
        key = serialization.load_pem_private_key(pem, password=passphrase.encode() if passphrase else None)
    except (ValueError, TypeError) as exc:
        raise ValueError(f"private_key_pem is not a usable PEM private key: {exc}") from None
    if algorithm.startswith(("RS", "PS")):
        if isinstance(key, rsa.RSAPrivateKey):
            return key
        raise ValueError(f"algorithm {algorithm} needs an RSA private key")
    if isinstance(key, ec.EllipticCurvePrivateKey) and key.curve.name == _EC_CURVES[algorithm]:
        return key
    raise ValueError(f"algorithm {algorithm} needs an EC private key on curve {_EC_CURVES[algorithm]}")


class OAuth2JwtBearer(OAuth2TokenProvider):
    """OAuth 2.0 with a signed JWT, in one of two modes.

    * **Authorization grant** (RFC 7523 §2.1, Salesforce JWT bearer flow; default):
      ``grant_type=urn:ietf:params:oauth:grant-type:jwt-bearer&assertion=<jwt>``, claims ``iss``,
      ``sub``, ``aud``, ``iat``, ``exp``; ``scope`` (if any) is a form field. Salesforce wants
      ``iss`` = consumer key, ``sub`` = user name, ``aud`` = login or My Domain URL and an assertion
      valid for at most 3 minutes (``lifetime=180``).
    * **Client assertion** (RFC 7523 §2.2, NetSuite machine-to-machine, contract B2;
      ``client_assertion_mode=True``): ``grant_type=client_credentials&client_assertion_type=
      urn:ietf:params:oauth:client-assertion-type:jwt-bearer&client_assertion=<jwt>``, header ``kid``
      = certificate id, claims ``iss`` = client id, ``scope`` (a string as given, e.g.
      ``"rest_webservices"``, or a list), ``aud`` = token URL, ``iat``, ``exp``. NetSuite accepts
      only PS256/PS384/PS512 and ES256/ES384/ES512 since March 2025, and ``exp - iat`` < 3600.

    A fresh assertion is signed for every token request.

    :param token_url: the token endpoint.
    :param issuer: the ``iss`` claim (client id / consumer key).
    :param private_key_pem: PEM-encoded private key (RSA for RS*/PS*, EC for ES*).
    :param audience: the ``aud`` claim; defaults to ``token_url``.
    :param subject: the ``sub`` claim (the user for the Salesforce flow), omitted when ``None``.
    :param key_id: the ``kid`` JWT header (NetSuite certificate id), omitted when ``None``.
    :param algorithm: signing algorithm.
    :param scope: see the modes above.
    :param lifetime: seconds between the assertion's ``iat`` and ``exp`` (1 to 3600).
    :param client_assertion_mode: ``True`` for the client-assertion mode.
    :param private_key_passphrase: passphrase of an encrypted PEM.
    :param options: see :class:`OAuth2TokenProvider`.
    """

    JWT_BEARER_GRANT: ClassVar[str] = "urn:ietf:params:oauth:grant-type:jwt-bearer"
    CLIENT_ASSERTION_TYPE: ClassVar[str] = "urn:ietf:params:oauth:client-assertion-type:jwt-bearer"

    def __init__(
        self,
        token_url: str,
        *,
        issuer: str,
        private_key_pem: str | bytes,
        audience: str | None = None,
        subject: str | None = None,
        key_id: str | None = None,
        algorithm: str = "RS256",
        scope: Scope | None = None,
        lifetime: int = 300,
        client_assertion_mode: bool = False,
        private_key_passphrase: str | None = None,
        **options: Unpack[TokenProviderOptions],
    ) -> None:
        if algorithm not in _JWT_ALGORITHMS:
            raise ValueError(f"algorithm must be one of {sorted(_JWT_ALGORITHMS)}, got {algorithm!r}")
        if not 0 < lifetime <= 3600:
            raise ValueError(f"lifetime must be between 1 and 3600 seconds, got {lifetime}")
        pem = private_key_pem.encode() if isinstance(private_key_pem, str) else private_key_pem
        register_secret(pem.decode("utf-8", errors="replace").strip())
        if private_key_passphrase:
            register_secret(private_key_passphrase)
        super().__init__(token_url, secrets=(private_key_passphrase or "",), **options)
        self._key = _load_signing_key(pem, private_key_passphrase, algorithm)
        self.issuer = issuer
        self.audience = audience or token_url
        self.subject = subject
        self.key_id = key_id
        self.algorithm = algorithm
        self.scope = scope
        self.lifetime = lifetime
        self.client_assertion_mode = client_assertion_mode

    def assertion(self) -> str:
        """Sign a new assertion JWT."""
        issued_at = int(self._clock())
        claims: dict[str, Any] = {
            "iss": self.issuer,
            "aud": self.audience,
            "iat": issued_at,
            "exp": issued_at + self.lifetime,
        }
        if self.subject is not None:
            claims["sub"] = self.subject
        if self.client_assertion_mode and self.scope is not None:
            claims["scope"] = self.scope if isinstance(self.scope, str) else list(self.scope)
        headers: dict[str, Any] = {"typ": "JWT"}
        if self.key_id is not None:
            headers["kid"] = self.key_id
        signed = jwt.encode(claims, self._key, algorithm=self.algorithm, headers=headers)
        register_secret(signed)
        return signed

    def _token_request(self) -> tuple[dict[str, str], dict[str, str]]:
        if self.client_assertion_mode:
            return {
                "grant_type": "client_credentials",
                "client_assertion_type": self.CLIENT_ASSERTION_TYPE,
                "client_assertion": self.assertion(),
            }, {}
        form = {"grant_type": self.JWT_BEARER_GRANT, "assertion": self.assertion()}
        scope = _scope_string(self.scope)
        if scope:
            form["scope"] = scope
        return form, {}
