"""A real HTTP server for the transport tests: a FastAPI app served by uvicorn in a thread.

Every path except ``/oauth2/token`` is an API endpoint that answers from a per-test script (a
queue of replies: status, headers, body, delay, or a connection dropped mid-body) and logs what it
received. ``/oauth2/token`` is an OAuth 2.0 token endpoint that validates client authentication
(Basic or form fields), the password grant, and JWT assertions (signature checked with the public
key), and issues short opaque tokens that the API can be told to require.
"""

from __future__ import annotations

import asyncio
import base64
import logging
import secrets
import threading
import time
from collections import deque
from collections.abc import Iterator
from dataclasses import dataclass, field
from typing import Any
from urllib.parse import parse_qs, unquote

import jwt
import pytest
import uvicorn
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import ec, rsa
from fastapi import FastAPI, Request
from fastapi.responses import JSONResponse, Response
from starlette.types import Receive, Scope, Send

from tests.harness.ports import free_port

TOKEN_PATH = "/oauth2/token"
JWT_BEARER_GRANT = "urn:ietf:params:oauth:grant-type:jwt-bearer"
CLIENT_ASSERTION_TYPE = "urn:ietf:params:oauth:client-assertion-type:jwt-bearer"


@dataclass
class Reply:
    """One scripted answer."""

    status: int = 200
    body: Any = None
    headers: dict[str, str] = field(default_factory=dict)
    delay: float = 0.0
    drop: bool = False


@dataclass(frozen=True)
class Seen:
    """One request as the server received it."""

    method: str
    path: str
    query: dict[str, list[str]]
    headers: dict[str, str]
    body: bytes
    client_port: int
    raw_target: str = ""  # the request target exactly as received: raw path and query

    @property
    def form(self) -> dict[str, str]:
        return {k: v[0] for k, v in parse_qs(self.body.decode(), keep_blank_values=True).items()}


@dataclass
class TokenPolicy:
    """What the token endpoint accepts and what it answers."""

    client_id: str = "client-4711"
    client_secret: str = "client-secret-Zq8vN2pK"
    client_auth: str = "basic"  # "basic" or "post"
    username: str = "integration.user"
    password: str = "user-password-Hn4xW9"
    expires_in: Any = 3600  # sent as given; None leaves the field out
    token_type: str = "Bearer"
    extra: dict[str, Any] = field(default_factory=dict)
    delay: float = 0.0
    # JWT assertions
    public_key: Any = None
    algorithms: tuple[str, ...] = ("RS256",)
    issuer: str | None = None
    subject: str | None = None
    audience: str | None = None
    kid: str | None = None
    scope: Any = None


class _DroppedResponse(Response):
    """Announces a body, sends part of it, then fails so uvicorn aborts the connection."""

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        await send(
            {
                "type": "http.response.start",
                "status": self.status_code,
                "headers": [(b"content-type", b"application/json"), (b"content-length", b"200")],
            }
        )
        await send({"type": "http.response.body", "body": b'{"partial": tr', "more_body": True})
        raise RuntimeError("simulated connection drop")


def _oauth_error(status: int, error: str, description: str) -> JSONResponse:
    return JSONResponse({"error": error, "error_description": description}, status_code=status)


def _render(reply: Reply) -> Response:
    if reply.drop:
        return _DroppedResponse(status_code=reply.status)
    if isinstance(reply.body, dict | list):
        return JSONResponse(reply.body, status_code=reply.status, headers=reply.headers)
    content = reply.body if reply.body is not None else b""
    return Response(content, status_code=reply.status, headers=reply.headers, media_type="text/plain")


class ScriptedServer:
    """State shared between the test thread and the server thread (guarded by a lock)."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self.port = 0
        self.reset()
        self.app = self._build_app()

    # -- test-facing API ------------------------------------------------------------------------

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    @property
    def token_url(self) -> str:
        return self.url + TOKEN_PATH

    def reset(self) -> None:
        with self._lock:
            self.replies: deque[Reply] = deque()
            self.token_replies: deque[Reply] = deque()
            self.requests: list[Seen] = []
            self.token_requests: list[Seen] = []
            self.issued: list[str] = []
            self.valid_tokens: set[str] = set()
            self.require_bearer = False
            self.token_policy = TokenPolicy()

    def enqueue(self, status: int = 200, **kwargs: Any) -> None:
        """Script the next API answer (``body``, ``headers``, ``delay``, ``drop``)."""
        with self._lock:
            self.replies.append(Reply(status=status, **kwargs))

    def enqueue_token(self, status: int = 200, **kwargs: Any) -> None:
        """Script the next token endpoint answer, in place of its normal behaviour."""
        with self._lock:
            self.token_replies.append(Reply(status=status, **kwargs))

    def revoke_tokens(self) -> None:
        """Make every issued token invalid, as if it had expired."""
        with self._lock:
            self.valid_tokens.clear()

    # -- the app ------------------------------------------------------------------------------

    def _record(self, request: Request, body: bytes, target: list[Seen]) -> Seen:
        raw_path: bytes = request.scope.get("raw_path") or request.url.path.encode()
        raw_query: bytes = request.scope.get("query_string", b"")
        seen = Seen(
            method=request.method,
            path=request.url.path,
            query=parse_qs(request.url.query, keep_blank_values=True),
            headers={k.lower(): v for k, v in request.headers.items()},
            body=body,
            client_port=request.client.port if request.client else -1,
            raw_target=raw_path.decode("latin-1") + (f"?{raw_query.decode('latin-1')}" if raw_query else ""),
        )
        with self._lock:
            target.append(seen)
        return seen

    def _build_app(self) -> FastAPI:
        app = FastAPI()

        @app.post(TOKEN_PATH)
        async def token(request: Request) -> Response:
            seen = self._record(request, await request.body(), self.token_requests)
            with self._lock:
                scripted = self.token_replies.popleft() if self.token_replies else None
                policy = self.token_policy
            if scripted is not None:
                if scripted.delay:
                    await asyncio.sleep(scripted.delay)
                return _render(scripted)
            if policy.delay:
                await asyncio.sleep(policy.delay)
            if not seen.headers.get("content-type", "").startswith("application/x-www-form-urlencoded"):
                return _oauth_error(400, "invalid_request", "token requests must be form-encoded")
            rejection = self._check_token_request(seen, policy)
            if rejection is not None:
                return rejection
            value = f"tok-{len(self.issued) + 1}-{secrets.token_hex(12)}"
            with self._lock:
                self.issued.append(value)
                self.valid_tokens.add(value)
            payload: dict[str, Any] = {"access_token": value, "token_type": policy.token_type}
            if policy.expires_in is not None:
                payload["expires_in"] = policy.expires_in
            payload.update(policy.extra)
            return JSONResponse(payload)

        @app.api_route("/{path:path}", methods=["GET", "POST", "PUT", "PATCH", "DELETE"])
        async def api(request: Request, path: str) -> Response:
            seen = self._record(request, await request.body(), self.requests)
            with self._lock:
                require_bearer = self.require_bearer
                valid = set(self.valid_tokens)
                scripted = self.replies.popleft() if self.replies else None
            if require_bearer:
                authorization = seen.headers.get("authorization", "")
                if not authorization.startswith("Bearer ") or authorization[7:] not in valid:
                    if scripted is not None:
                        with self._lock:
                            self.replies.appendleft(scripted)
                    return JSONResponse(
                        [{"message": "Session expired or invalid", "errorCode": "INVALID_SESSION_ID"}],
                        status_code=401,
                    )
            reply = scripted or Reply(body={"ok": True, "method": seen.method, "path": "/" + unquote(path)})
            if reply.delay:
                await asyncio.sleep(reply.delay)
            return _render(reply)

        return app

    def _check_token_request(self, seen: Seen, policy: TokenPolicy) -> Response | None:
        form = seen.form
        grant = form.get("grant_type")
        if grant == "client_credentials" and "client_assertion" in form:
            if "authorization" in seen.headers or "client_secret" in form:
                return _oauth_error(
                    400, "invalid_request", "client assertion with another client authentication"
                )
            if form.get("client_assertion_type") != CLIENT_ASSERTION_TYPE:
                return _oauth_error(400, "invalid_request", "unexpected client_assertion_type")
            return self._check_assertion(form["client_assertion"], policy, client_assertion=True)
        if grant == JWT_BEARER_GRANT:
            return self._check_assertion(form.get("assertion", ""), policy, client_assertion=False)
        if grant not in ("client_credentials", "password"):
            return _oauth_error(400, "unsupported_grant_type", f"grant_type {grant!r} is not supported")
        client_error = self._check_client(seen, form, policy)
        if client_error is not None:
            return client_error
        if grant == "password" and (
            form.get("username") != policy.username or form.get("password") != policy.password
        ):
            return _oauth_error(400, "invalid_grant", "authentication failure")
        return None

    @staticmethod
    def _check_client(seen: Seen, form: dict[str, str], policy: TokenPolicy) -> Response | None:
        if policy.client_auth == "basic":
            header = seen.headers.get("authorization", "")
            if "client_secret" in form or not header.startswith("Basic "):
                return _oauth_error(401, "invalid_client", "client authentication must use HTTP Basic")
            client_id, _, client_secret = base64.b64decode(header[6:]).decode().partition(":")
        else:
            if "authorization" in seen.headers:
                return _oauth_error(401, "invalid_client", "client authentication must use form fields")
            client_id, client_secret = form.get("client_id", ""), form.get("client_secret", "")
        if client_id != policy.client_id or client_secret != policy.client_secret:
            return _oauth_error(401, "invalid_client", "Client authentication failed.")
        return None

    @staticmethod
    def _check_assertion(assertion: str, policy: TokenPolicy, *, client_assertion: bool) -> Response | None:
        try:
            header = jwt.get_unverified_header(assertion)
            claims = jwt.decode(
                assertion,
                policy.public_key,
                algorithms=list(policy.algorithms),
                audience=policy.audience,
                issuer=policy.issuer,
                options={"require": ["iss", "aud", "exp", "iat"]},
            )
        except jwt.PyJWTError as exc:
            return _oauth_error(400, "invalid_grant", f"assertion rejected: {type(exc).__name__}")
        if header.get("typ") != "JWT" or header.get("kid") != policy.kid:
            return _oauth_error(400, "invalid_grant", "unexpected JWT header")
        if not 0 < claims["exp"] - claims["iat"] <= 3600:
            return _oauth_error(400, "invalid_grant", "assertion lifetime out of range")
        if claims.get("sub") != policy.subject:
            return _oauth_error(400, "invalid_grant", "unexpected subject")
        if client_assertion and claims.get("scope") != policy.scope:
            return _oauth_error(400, "invalid_scope", "unexpected scope")
        return None


@pytest.fixture(scope="session")
def _running_server() -> Iterator[ScriptedServer]:
    state = ScriptedServer()
    logging.getLogger("uvicorn.error").setLevel(logging.CRITICAL)
    config = uvicorn.Config(
        state.app,
        host="127.0.0.1",
        port=0,
        log_config=None,
        access_log=False,
        lifespan="off",
        timeout_graceful_shutdown=1,
    )
    server = uvicorn.Server(config)
    thread = threading.Thread(target=server.run, name="transport-test-server", daemon=True)
    thread.start()
    deadline = time.monotonic() + 10
    while not server.started:
        if not thread.is_alive() or time.monotonic() > deadline:
            raise RuntimeError("the test HTTP server did not start")
        time.sleep(0.01)
    state.port = server.servers[0].sockets[0].getsockname()[1]
    try:
        yield state
    finally:
        server.should_exit = True
        thread.join(timeout=5)


@pytest.fixture
def server(_running_server: ScriptedServer) -> ScriptedServer:
    """The running server, with an empty script and log."""
    _running_server.reset()
    return _running_server


class Sleeps(list[float]):
    """A ``sleep`` replacement that records the requested delays and returns at once."""

    def __call__(self, seconds: float) -> None:
        self.append(seconds)


@pytest.fixture
def sleeps() -> Sleeps:
    return Sleeps()


class Clock:
    """A controllable ``time.time`` replacement."""

    def __init__(self, now: float = 1_700_000_000.0) -> None:
        self.now = now

    def __call__(self) -> float:
        return self.now

    def advance(self, seconds: float) -> None:
        self.now += seconds


@pytest.fixture
def clock() -> Clock:
    return Clock()


@pytest.fixture
def refused_url() -> str:
    """A URL on a local port that nothing listens on."""
    return f"http://127.0.0.1:{free_port()}"


@dataclass(frozen=True)
class KeyPair:
    private_pem: str
    public_key: Any


def _pem(key: rsa.RSAPrivateKey | ec.EllipticCurvePrivateKey) -> str:
    return key.private_bytes(
        serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8, serialization.NoEncryption()
    ).decode()


@pytest.fixture(scope="session")
def rsa_keys() -> KeyPair:
    key = rsa.generate_private_key(public_exponent=65537, key_size=2048)
    return KeyPair(_pem(key), key.public_key())


@pytest.fixture(scope="session")
def other_rsa_keys() -> KeyPair:
    key = rsa.generate_private_key(public_exponent=65537, key_size=2048)
    return KeyPair(_pem(key), key.public_key())


@pytest.fixture(scope="session")
def ec_keys() -> KeyPair:
    key = ec.generate_private_key(ec.SECP256R1())
    return KeyPair(_pem(key), key.public_key())
