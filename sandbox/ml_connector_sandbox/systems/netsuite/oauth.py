"""The token endpoint (contract B2) and the REST bearer check (B8, B11 #2) of the NetSuite stand-in.

The client assertion is verified with ``joserfc``, a JOSE library independent of the ``PyJWT`` the
provider signs with, so a bug shared by the signer and the verifier cannot hide.
"""

from __future__ import annotations

import json
from collections.abc import Callable
from typing import TYPE_CHECKING, Any
from urllib.parse import parse_qsl

from cryptography.hazmat.primitives.asymmetric import rsa
from joserfc import jws, jwt
from joserfc.errors import JoseError
from joserfc.jwk import ECKey, RSAKey
from starlette.requests import Request
from starlette.responses import JSONResponse, Response

from ml_connector_sandbox.auth import AuthFailure, OAuthError
from ml_connector_sandbox.systems.netsuite.errors import INVALID_LOGIN_DETAIL, error_body

if TYPE_CHECKING:
    from ml_connector_sandbox.systems.netsuite.system import NetSuiteSandbox

__all__ = ["ASSERTION_TYPE", "REQUIRED_SCOPE", "TOKEN_PATH", "token_endpoint", "unauthorized_factory"]

TOKEN_PATH = "/services/rest/auth/oauth2/v1/token"
"""B1: the token endpoint under the REST base."""
ASSERTION_TYPE = "urn:ietf:params:oauth:client-assertion-type:jwt-bearer"
"""B2: the only accepted ``client_assertion_type``."""
REQUIRED_SCOPE = "rest_webservices"
"""B2/B11 #1: the scope REST web services need."""
_KNOWN_SCOPES = {"restlets", "rest_webservices", "suite_analytics"}


def _refuse(system: NetSuiteSandbox, error: str, description: str, status: int) -> OAuthError:
    """A token-endpoint refusal in the configured style (setting ``token_error_style``, B2)."""
    if system.settings.token_error_style == "invalid_request":
        return OAuthError("invalid_request", None, status=400)
    return OAuthError(error, description, status=status)


def _parse_scope(value: Any) -> list[str] | None:
    """B2: a comma-separated string (spaces tolerated) or a JSON array of strings."""
    if isinstance(value, str):
        return [part.strip() for part in value.replace(" ", ",").split(",") if part.strip()]
    if isinstance(value, list) and all(isinstance(part, str) for part in value):
        return list(value)
    return None


def _token_url(request: Request) -> str:
    """The URL the client posted to (its ``aud`` must be exactly this, B2/B11 #1)."""
    return str(request.url.replace(query="", fragment="")).rstrip("/")


def token_endpoint(system: NetSuiteSandbox) -> Callable[[Request], Any]:
    """``POST /services/rest/auth/oauth2/v1/token``: client credentials with a JWT assertion (B2)."""

    async def endpoint(request: Request) -> Response:
        try:
            client_id, scopes = await _authenticate(system, request)
        except OAuthError as exc:
            return exc.to_response()
        issued = system.tokens.issue(client_id, ttl=system.settings.token_ttl, scope=" ".join(scopes))
        lifetime = issued.lifetime
        body = {
            "access_token": issued.token,
            "expires_in": str(lifetime) if system.settings.expires_in_as_string else lifetime,
            "token_type": "bearer",
        }
        return JSONResponse(body, headers={"Cache-Control": "no-store", "Pragma": "no-cache"})

    return endpoint


async def _form(request: Request) -> dict[str, str]:
    content_type = request.headers.get("content-type", "").split(";")[0].strip().lower()
    if content_type != "application/x-www-form-urlencoded":
        raise OAuthError("invalid_request", "The request body must be application/x-www-form-urlencoded.")
    form: dict[str, str] = {}
    for key, value in parse_qsl((await request.body()).decode("utf-8", "replace"), keep_blank_values=True):
        if key in form:
            raise OAuthError("invalid_request", f"Parameter '{key}' is repeated.")
        form[key] = value
    return form


async def _authenticate(system: NetSuiteSandbox, request: Request) -> tuple[str, list[str]]:
    """Check the form (B2 "Token request") and the assertion (B2 "client_assertion JWT")."""
    settings = system.settings
    form = await _form(request)
    if request.headers.get("authorization"):
        # B2: "no Basic header, no client_secret".
        raise OAuthError("invalid_request", "Client credentials go in client_assertion, not in a header.")
    grant_type = form.get("grant_type")
    if not grant_type:
        raise OAuthError("invalid_request", "Missing parameter: grant_type.")
    if grant_type != "client_credentials":
        raise OAuthError("unsupported_grant_type", f"Unsupported grant type: {grant_type}.")
    if form.get("client_assertion_type") != ASSERTION_TYPE:
        raise OAuthError("invalid_request", f"client_assertion_type must be {ASSERTION_TYPE}.")
    assertion = form.get("client_assertion")
    if not assertion:
        raise OAuthError("invalid_request", "Missing parameter: client_assertion.")
    if "client_secret" in form:
        raise OAuthError("invalid_request", "client_secret is not accepted with a client assertion.")

    try:
        header = jws.extract_compact(assertion.encode()).protected
    except (JoseError, ValueError, json.JSONDecodeError) as exc:
        raise _refuse(system, "invalid_request", "The client assertion is not a signed JWT.", 400) from exc
    kid = header.get("kid")
    alg = header.get("alg")
    client = system.m2m.get(str(kid)) if kid else None
    if client is None:
        raise _refuse(system, "invalid_client", "Unknown certificate id (kid).", 401)
    allowed = list(client.algorithms)
    if settings.accept_rs256 and client.key_type == "RSA":
        allowed.append("RS256")
    if alg not in allowed:
        raise _refuse(system, "invalid_client", f"Algorithm {alg} is not accepted for this certificate.", 401)
    public = client.public_key
    key: RSAKey | ECKey = (
        RSAKey.import_key(public) if isinstance(public, rsa.RSAPublicKey) else ECKey.import_key(public)
    )
    try:
        token = jwt.decode(assertion, key, algorithms=[str(alg)])
    except JoseError as exc:
        raise _refuse(system, "invalid_client", "The client assertion signature is invalid.", 401) from exc
    claims = token.claims

    if claims.get("iss") != client.client_id:
        raise _refuse(system, "invalid_client", "The issuer does not match the certificate's client.", 401)
    expected_aud = _token_url(request)
    audience = claims.get("aud")
    audiences = audience if isinstance(audience, list) else [audience]
    if not any(isinstance(a, str) and a.rstrip("/") == expected_aud for a in audiences):
        raise _refuse(system, "invalid_grant", f"The audience must be {expected_aud}.", 400)
    iat, exp = claims.get("iat"), claims.get("exp")
    if not isinstance(iat, int | float) or not isinstance(exp, int | float):
        raise _refuse(system, "invalid_grant", "The client assertion needs numeric iat and exp.", 400)
    now = system.clock.time()
    if exp <= now:
        raise _refuse(system, "invalid_grant", "The client assertion has expired.", 400)
    if exp - iat > settings.max_assertion_lifetime:
        raise _refuse(
            system,
            "invalid_grant",
            f"exp must be at most {settings.max_assertion_lifetime} seconds after iat.",
            400,
        )
    if exp <= iat:
        raise _refuse(system, "invalid_grant", "exp must be after iat.", 400)
    scopes = _parse_scope(claims.get("scope"))
    if scopes is None or not scopes or any(s not in _KNOWN_SCOPES for s in scopes):
        raise _refuse(
            system, "invalid_scope", "The scope must list restlets, rest_webservices or suite_analytics.", 400
        )
    if REQUIRED_SCOPE not in scopes:
        raise _refuse(system, "invalid_scope", "The scope does not include rest_webservices.", 400)
    return client.client_id, scopes


def unauthorized_factory(system: NetSuiteSandbox) -> Callable[[AuthFailure, Request], Response]:
    """The REST refusal of B8: 401 ``INVALID_LOGIN`` with ``WWW-Authenticate: Bearer realm=...``,
    or 400 ``invalid_request`` for a malformed header."""

    def build(failure: AuthFailure, request: Request) -> Response:
        realm = system.settings.account_id
        if failure.reason == "malformed":
            description = "The request could not be understood by the server due to malformed syntax."
            header = f'Bearer realm="{realm}", error="invalid_request", error_description="{description}"'
            body = error_body(400, "INVALID_REQUEST", description)
            return JSONResponse(body, status_code=400, headers={"WWW-Authenticate": header})
        header = f'Bearer realm="{realm}", error="invalid_token", error_description="Invalid login attempt."'
        return JSONResponse(
            error_body(401, "INVALID_LOGIN", INVALID_LOGIN_DETAIL),
            status_code=401,
            headers={"WWW-Authenticate": header},
        )

    return build
