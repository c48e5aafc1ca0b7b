"""Authentication building blocks for sandbox systems.

* :class:`TokenIssuer` registers OAuth clients, issues opaque bearer tokens with a lifetime
  measured on the system clock, validates them, and can expire them all on demand.
* :func:`bearer_dependency` is a FastAPI dependency factory that requires a valid bearer token
  (and optionally accepts HTTP Basic credentials or static API keys); the system chooses the
  401 body, the ``WWW-Authenticate`` header is always set.
* :func:`token_endpoint` builds an OAuth 2.0 token endpoint (RFC 6749 §4.4, client
  credentials) that a system mounts at its own path, with hooks for the parts real servers
  disagree on (client authentication, status of ``invalid_client``, response shape).
"""

from __future__ import annotations

import base64
import binascii
import hmac
import secrets
import threading
import time
from collections.abc import Awaitable, Callable, Mapping, Sequence
from dataclasses import dataclass, replace
from typing import Any, Literal, Protocol
from urllib.parse import parse_qsl, unquote_plus

from starlette.exceptions import HTTPException
from starlette.requests import Request
from starlette.responses import JSONResponse, Response

__all__ = [
    "AuthFailure",
    "AuthFailureReason",
    "IssuedToken",
    "OAuthError",
    "Principal",
    "ResponseError",
    "TokenIssuer",
    "TokenRequest",
    "bearer_dependency",
    "parse_basic_auth",
    "token_endpoint",
]


class SupportsTime(Protocol):
    """Anything with a ``time()`` returning epoch seconds (e.g. a sandbox clock)."""

    def time(self) -> float:
        """Current time as epoch seconds."""
        ...


class _WallClock:
    def time(self) -> float:
        return time.time()


class ResponseError(HTTPException):
    """Raise from a route or dependency to answer with exactly ``response``.

    Sandbox apps install a handler that returns the response as is; elsewhere it degrades to
    a plain :class:`~starlette.exceptions.HTTPException` with the same status code.
    """

    def __init__(self, response: Response) -> None:
        super().__init__(status_code=response.status_code)
        self.response = response


@dataclass(frozen=True)
class IssuedToken:
    """A bearer token handed out by a :class:`TokenIssuer`."""

    token: str
    client_id: str
    issued_at: float
    expires_at: float
    scope: str | None = None

    @property
    def lifetime(self) -> int:
        """The lifetime the token was issued with, in whole seconds."""
        return round(self.expires_at - self.issued_at)

    def expires_in(self, now: float) -> int:
        """Whole seconds left at ``now`` (never negative)."""
        return max(int(self.expires_at - now), 0)

    def expired(self, now: float) -> bool:
        """Whether the token is no longer valid at ``now``."""
        return now >= self.expires_at


class TokenIssuer:
    """Registered OAuth clients and the opaque bearer tokens issued to them.

    :param clock: the system clock (anything with ``time()``); moving it forward expires tokens.
    :param ttl: token lifetime in seconds; may be changed at any time (applies to new tokens).
    :param clients: client id → client secret.
    :param prefix: prepended to every token (e.g. ``00D000000000001!`` for Salesforce-looking ids).
    :param sliding: extend a token's lifetime on every successful use (idle timeout).
    :param nbytes: random bytes per token.
    """

    def __init__(
        self,
        clock: SupportsTime | None = None,
        *,
        ttl: float = 3600.0,
        clients: Mapping[str, str] | None = None,
        prefix: str = "",
        sliding: bool = False,
        nbytes: int = 24,
    ) -> None:
        self.clock: SupportsTime = clock or _WallClock()
        self.ttl = float(ttl)
        self.prefix = prefix
        self.sliding = sliding
        self.nbytes = nbytes
        self._lock = threading.Lock()
        self._clients: dict[str, str] = dict(clients or {})
        self._initial_clients = dict(self._clients)
        self._tokens: dict[str, IssuedToken] = {}
        self._issued = 0

    # -- clients ------------------------------------------------------------------------------

    @property
    def clients(self) -> dict[str, str]:
        """A copy of the registered clients (id → secret)."""
        with self._lock:
            return dict(self._clients)

    def register_client(self, client_id: str, secret: str) -> None:
        """Register (or change the secret of) a client."""
        with self._lock:
            self._clients[client_id] = secret

    def remove_client(self, client_id: str) -> bool:
        """Forget a client; its tokens stay valid until they expire."""
        with self._lock:
            return self._clients.pop(client_id, None) is not None

    def check_client(self, client_id: str | None, secret: str | None) -> bool:
        """Whether ``client_id``/``secret`` are registered credentials (constant-time compare)."""
        if client_id is None or secret is None:
            return False
        with self._lock:
            expected = self._clients.get(client_id)
        return expected is not None and hmac.compare_digest(expected.encode(), secret.encode())

    # -- tokens -------------------------------------------------------------------------------

    def issue(self, client_id: str, *, ttl: float | None = None, scope: str | None = None) -> IssuedToken:
        """Issue a new token for ``client_id`` (no credential check: callers do that)."""
        now = self.clock.time()
        lifetime = self.ttl if ttl is None else float(ttl)
        token = IssuedToken(
            token=self.prefix + secrets.token_urlsafe(self.nbytes),
            client_id=client_id,
            issued_at=now,
            expires_at=now + lifetime,
            scope=scope,
        )
        with self._lock:
            self._tokens[token.token] = token
            self._issued += 1
        return token

    def lookup(self, token: str) -> IssuedToken | None:
        """The token record whether expired or not, or ``None`` when it was never issued."""
        with self._lock:
            return self._tokens.get(token)

    def validate(self, token: str) -> IssuedToken | None:
        """The token record if ``token`` is known and unexpired, else ``None``.

        With ``sliding`` on, a successful validation pushes the expiry ``ttl`` seconds ahead.
        """
        now = self.clock.time()
        with self._lock:
            record = self._tokens.get(token)
            if record is None or record.expired(now):
                return None
            if self.sliding:
                record = replace(record, expires_at=now + self.ttl)
                self._tokens[token] = record
            return record

    def revoke(self, token: str) -> bool:
        """Forget one token (it becomes unknown); returns whether it existed."""
        with self._lock:
            return self._tokens.pop(token, None) is not None

    def expire_all(self) -> int:
        """Expire every currently valid token; returns how many were valid."""
        now = self.clock.time()
        count = 0
        with self._lock:
            for key, record in list(self._tokens.items()):
                if not record.expired(now):
                    self._tokens[key] = replace(record, expires_at=now)
                    count += 1
        return count

    @property
    def issued_count(self) -> int:
        """How many tokens were issued since creation or the last :meth:`reset`."""
        with self._lock:
            return self._issued

    def active_count(self) -> int:
        """How many issued tokens are currently valid."""
        now = self.clock.time()
        with self._lock:
            return sum(1 for record in self._tokens.values() if not record.expired(now))

    def reset(self) -> None:
        """Forget every token, zero the counter and restore the initial clients."""
        with self._lock:
            self._tokens.clear()
            self._issued = 0
            self._clients = dict(self._initial_clients)


# -- protecting routes -------------------------------------------------------------------------

AuthFailureReason = Literal[
    "missing", "unsupported_scheme", "malformed", "unknown", "expired", "bad_credentials"
]

_FAILURE_TEXT: dict[str, str] = {
    "missing": "No access token was provided.",
    "unsupported_scheme": "The authorization scheme is not supported.",
    "malformed": "The authorization header is malformed.",
    "unknown": "The access token is invalid.",
    "expired": "The access token expired.",
    "bad_credentials": "Invalid user name or password.",
}


@dataclass(frozen=True)
class AuthFailure:
    """Why a request was refused: passed to the system's ``unauthorized`` response factory."""

    reason: AuthFailureReason
    scheme: str | None
    description: str


@dataclass(frozen=True)
class Principal:
    """Who made an authenticated request."""

    scheme: Literal["bearer", "basic"]
    subject: str
    token: IssuedToken | None = None


UnauthorizedFactory = Callable[[AuthFailure, Request], Response]


def parse_basic_auth(value: str) -> tuple[str, str] | None:
    """Decode the credentials of a ``Basic`` authorization header value, or ``None``."""
    scheme, _, param = value.strip().partition(" ")
    if scheme.lower() != "basic" or not param.strip():
        return None
    try:
        decoded = base64.b64decode(param.strip(), validate=True).decode("utf-8")
    except (binascii.Error, UnicodeDecodeError):
        return None
    user, sep, password = decoded.partition(":")
    if not sep:
        return None
    return user, password


def _www_authenticate(failure: AuthFailure, realm: str | None) -> str:
    params = []
    if realm is not None:
        params.append(f'realm="{realm}"')
    error = "invalid_request" if failure.reason == "malformed" else "invalid_token"
    params.append(f'error="{error}"')
    params.append(f'error_description="{failure.description}"')
    return "Bearer " + ", ".join(params)


def _default_unauthorized(failure: AuthFailure, request: Request) -> Response:
    error = "invalid_request" if failure.reason == "malformed" else "invalid_token"
    return JSONResponse({"error": error, "error_description": failure.description}, status_code=401)


def bearer_dependency(
    issuer: TokenIssuer,
    *,
    basic: Mapping[str, str] | Callable[[str, str], bool] | None = None,
    accept_token: Callable[[str], str | None] | None = None,
    unauthorized: UnauthorizedFactory | None = None,
    realm: str | None = None,
) -> Callable[[Request], Principal]:
    """A FastAPI dependency that requires ``Authorization: Bearer <valid token>``.

    Use it as ``Depends(bearer_dependency(issuer))`` (or ``system.require_bearer()``); the
    dependency returns a :class:`Principal`.

    :param issuer: validates the bearer tokens.
    :param basic: also accept HTTP Basic credentials, checked against this user → password
        mapping or by this callable.
    :param accept_token: called with tokens the issuer does not know; returns the subject to
        accept them (e.g. any ``sk_test_...`` key) or ``None``.
    :param unauthorized: builds the refusal (status and body chosen by the system); when the
        response has no ``WWW-Authenticate`` header, a ``Bearer error="invalid_token"`` one is
        added. Defaults to 401 with RFC 6750 JSON.
    :param realm: realm advertised in ``WWW-Authenticate``.
    """
    make_response = unauthorized or _default_unauthorized

    def check_basic(user: str, password: str) -> bool:
        if basic is None:
            return False
        if callable(basic):
            return bool(basic(user, password))
        expected = basic.get(user)
        return expected is not None and hmac.compare_digest(expected.encode(), password.encode())

    def refuse(reason: AuthFailureReason, scheme: str | None, request: Request) -> ResponseError:
        failure = AuthFailure(reason=reason, scheme=scheme, description=_FAILURE_TEXT[reason])
        response = make_response(failure, request)
        if "www-authenticate" not in response.headers:
            response.headers["WWW-Authenticate"] = _www_authenticate(failure, realm)
        return ResponseError(response)

    def require(request: Request) -> Principal:
        header = request.headers.get("authorization")
        if header is None or not header.strip():
            raise refuse("missing", None, request)
        scheme, _, credentials = header.strip().partition(" ")
        scheme_lower = scheme.lower()
        credentials = credentials.strip()
        if scheme_lower == "bearer":
            if not credentials or " " in credentials:
                raise refuse("malformed", "bearer", request)
            record = issuer.validate(credentials)
            if record is not None:
                return Principal(scheme="bearer", subject=record.client_id, token=record)
            known = issuer.lookup(credentials)
            if known is None and accept_token is not None:
                subject = accept_token(credentials)
                if subject is not None:
                    return Principal(scheme="bearer", subject=subject)
            raise refuse("unknown" if known is None else "expired", "bearer", request)
        if scheme_lower == "basic" and basic is not None:
            decoded = parse_basic_auth(header)
            if decoded is None:
                raise refuse("malformed", "basic", request)
            if not check_basic(*decoded):
                raise refuse("bad_credentials", "basic", request)
            return Principal(scheme="basic", subject=decoded[0])
        raise refuse("unsupported_scheme", scheme_lower, request)

    return require


# -- token endpoint ----------------------------------------------------------------------------


class OAuthError(Exception):
    """An RFC 6749 §5.2 error answer from a token endpoint.

    :param error: the error code (``invalid_request``, ``invalid_client``, ``invalid_grant``,
        ``unsupported_grant_type``, ``invalid_scope``, ...).
    :param description: ``error_description``.
    :param status: HTTP status (400, or 401 for client authentication failures).
    :param headers: extra headers.
    """

    def __init__(
        self,
        error: str,
        description: str | None = None,
        *,
        status: int = 400,
        headers: Mapping[str, str] | None = None,
    ) -> None:
        super().__init__(f"{error}: {description}" if description else error)
        self.error = error
        self.description = description
        self.status = status
        self.headers = dict(headers or {})

    def to_response(self) -> Response:
        """The JSON error response."""
        body: dict[str, Any] = {"error": self.error}
        if self.description is not None:
            body["error_description"] = self.description
        return JSONResponse(
            body,
            status_code=self.status,
            headers={"Cache-Control": "no-store", "Pragma": "no-cache", **self.headers},
        )


@dataclass(frozen=True)
class TokenRequest:
    """A parsed token request, handed to the endpoint's hooks."""

    grant_type: str | None
    form: Mapping[str, str]
    client_id: str | None
    client_secret: str | None
    client_auth: Literal["basic", "post", "none"]
    scope: str | None
    headers: Mapping[str, str]


ClientAuthenticator = Callable[[TokenRequest], str]
TokenValidator = Callable[[TokenRequest], None]
TokenResponseBuilder = Callable[[IssuedToken, TokenRequest], Mapping[str, Any]]


def token_endpoint(
    issuer: TokenIssuer,
    *,
    grant_types: Sequence[str] = ("client_credentials",),
    authenticate: ClientAuthenticator | None = None,
    validate: TokenValidator | None = None,
    build_response: TokenResponseBuilder | None = None,
    invalid_client_status: int = 401,
    ttl: float | None = None,
) -> Callable[[Request], Awaitable[Response]]:
    """Build an OAuth 2.0 client-credentials token endpoint (a Starlette request handler).

    Mount it with ``app.add_route(path, endpoint, methods=["POST"])`` or
    ``system.add_token_endpoint(app, path)``. The body must be form-encoded; the client
    authenticates with a Basic header or ``client_id``/``client_secret`` form fields.

    :param issuer: checks client credentials and issues the token.
    :param grant_types: accepted ``grant_type`` values (others → 400 ``unsupported_grant_type``).
    :param authenticate: replaces the client-secret check (e.g. a signed JWT assertion): returns
        the client id or raises :class:`OAuthError`.
    :param validate: extra checks after authentication (scope, assertion claims, ...); raise
        :class:`OAuthError` to refuse.
    :param build_response: the JSON body for an issued token; defaults to
        ``{"access_token", "token_type": "Bearer", "expires_in": <int>}``.
    :param invalid_client_status: status of ``invalid_client`` answers (RFC 6749 says 401 with
        Basic auth; some servers answer 400).
    :param ttl: token lifetime for this endpoint (default: the issuer's).
    """

    def default_response(token: IssuedToken, request: TokenRequest) -> Mapping[str, Any]:
        return {
            "access_token": token.token,
            "token_type": "Bearer",
            "expires_in": token.lifetime,
        }

    make_body = build_response or default_response

    def invalid_client(description: str, used_basic: bool) -> OAuthError:
        headers = (
            {"WWW-Authenticate": 'Basic realm="token"'} if used_basic and invalid_client_status == 401 else {}
        )
        return OAuthError("invalid_client", description, status=invalid_client_status, headers=headers)

    def check_secret(request: TokenRequest) -> str:
        if request.client_id is None:
            raise invalid_client("Client authentication failed: no client credentials.", False)
        used_basic = request.client_auth == "basic"
        secret = request.client_secret
        if issuer.check_client(request.client_id, secret):
            return request.client_id
        # RFC 6749 §2.3.1: Basic credentials are form-encoded first; accept both spellings.
        if used_basic and secret is not None:
            client_id, unquoted = unquote_plus(request.client_id), unquote_plus(secret)
            if issuer.check_client(client_id, unquoted):
                return client_id
        raise invalid_client("Client authentication failed.", used_basic)

    check_client = authenticate or check_secret

    async def parse(request: Request) -> TokenRequest:
        content_type = request.headers.get("content-type", "")
        if content_type.split(";")[0].strip().lower() != "application/x-www-form-urlencoded":
            raise OAuthError("invalid_request", "The request body must be application/x-www-form-urlencoded.")
        raw = (await request.body()).decode("utf-8", errors="replace")
        form: dict[str, str] = {}
        for key, value in parse_qsl(raw, keep_blank_values=True):
            if key in form:
                raise OAuthError("invalid_request", f"Parameter '{key}' is repeated.")
            form[key] = value

        client_id = form.get("client_id")
        client_secret = form.get("client_secret")
        client_auth: Literal["basic", "post", "none"] = "post" if client_id is not None else "none"
        authorization = request.headers.get("authorization")
        if authorization:
            decoded = parse_basic_auth(authorization)
            if decoded is None:
                raise OAuthError("invalid_request", "Malformed Authorization header.")
            if client_id is not None and client_id != decoded[0]:
                raise OAuthError("invalid_request", "Conflicting client identifiers.")
            client_id, client_secret = decoded
            client_auth = "basic"
        return TokenRequest(
            grant_type=form.get("grant_type"),
            form=form,
            client_id=client_id,
            client_secret=client_secret,
            client_auth=client_auth,
            scope=form.get("scope"),
            headers=dict(request.headers),
        )

    async def endpoint(request: Request) -> Response:
        try:
            parsed = await parse(request)
            if not parsed.grant_type:
                raise OAuthError("invalid_request", "Missing parameter: grant_type.")
            if parsed.grant_type not in grant_types:
                raise OAuthError("unsupported_grant_type", f"Unsupported grant type: {parsed.grant_type}.")
            client_id = check_client(parsed)
            if validate is not None:
                validate(parsed)
        except OAuthError as exc:
            return exc.to_response()
        token = issuer.issue(client_id, ttl=ttl, scope=parsed.scope)
        return JSONResponse(
            dict(make_body(token, parsed)),
            headers={"Cache-Control": "no-store", "Pragma": "no-cache"},
        )

    return endpoint
