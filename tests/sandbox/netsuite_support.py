"""Helpers of the NetSuite stand-in tests: the test is the client, signing assertions with PyJWT."""

from __future__ import annotations

import time
from typing import Any

import jwt
import requests

TOKEN_PATH = "/services/rest/auth/oauth2/v1/token"
RECORDS = "/services/rest/record/v1"
SUITEQL = "/services/rest/query/v1/suiteql"
ASSERTION_TYPE = "urn:ietf:params:oauth:client-assertion-type:jwt-bearer"


def credentials(base_url: str) -> dict[str, Any]:
    """The seeded mapping (client id, certificate id, private key) from the admin API."""
    response = requests.get(f"{base_url}/__sandbox__/netsuite/credentials", timeout=10)
    response.raise_for_status()
    return dict(response.json())


def assertion(
    base_url: str,
    creds: dict[str, Any],
    *,
    algorithm: str = "PS256",
    key: Any = None,
    kid: str | None = None,
    claims: dict[str, Any] | None = None,
    drop: tuple[str, ...] = (),
    now: float | None = None,
) -> str:
    """A client assertion as B2 describes it, with any claim overridden or dropped."""
    issued = int(time.time() if now is None else now)
    payload: dict[str, Any] = {
        "iss": creds["client_id"],
        "scope": ["restlets", "rest_webservices"],
        "aud": base_url + TOKEN_PATH,
        "iat": issued,
        "exp": issued + 300,
    }
    payload.update(claims or {})
    for name in drop:
        payload.pop(name, None)
    return jwt.encode(
        payload,
        key if key is not None else creds["private_key"],
        algorithm=algorithm,
        headers={"kid": kid if kid is not None else creds["certificate_id"], "typ": "JWT"},
    )


def request_token(base_url: str, client_assertion: str, **form: str) -> requests.Response:
    """POST the token request of B2."""
    data = {
        "grant_type": "client_credentials",
        "client_assertion_type": ASSERTION_TYPE,
        "client_assertion": client_assertion,
        **form,
    }
    return requests.post(base_url + TOKEN_PATH, data=data, timeout=10)


def bearer(base_url: str) -> dict[str, str]:
    """Authorization headers with a fresh token of the seeded mapping."""
    response = request_token(base_url, assertion(base_url, credentials(base_url)))
    assert response.status_code == 200, response.text
    return {"Authorization": f"Bearer {response.json()['access_token']}"}


def error_code(response: requests.Response) -> str:
    """The ``o:errorCode`` of a B8 error body."""
    return str(response.json()["o:errorDetails"][0]["o:errorCode"])


def internal_id(response: requests.Response) -> str:
    """The id at the end of the ``Location`` header (B3)."""
    assert response.status_code == 204, response.text
    return response.headers["Location"].rstrip("/").rsplit("/", 1)[1]
