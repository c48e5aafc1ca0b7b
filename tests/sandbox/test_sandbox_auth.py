"""Token issuing, the OAuth token endpoint helper and bearer-protected routes."""

from __future__ import annotations

import base64

import pytest
import requests
from ml_connector_sandbox import SandboxClient, SandboxClock, TokenIssuer
from ml_connector_sandbox.auth import parse_basic_auth

from tests.sandbox.conftest import fetch_token
from tests.sandbox.example_system import (
    ALT_SCOPE,
    ALT_TOKEN_PATH,
    ASSERTION_TOKEN_PATH,
    BASIC_PASSWORD,
    BASIC_USER,
    CLIENT_ID,
    CLIENT_SECRET,
    TOKEN_PATH,
    VALID_ASSERTION,
    ExampleSystem,
)

GRANT = {"grant_type": "client_credentials"}


# -- TokenIssuer, in process ----------------------------------------------------------------------


@pytest.fixture
def clock() -> SandboxClock:
    return SandboxClock()


@pytest.fixture
def issuer(clock: SandboxClock) -> TokenIssuer:
    return TokenIssuer(clock, ttl=600, clients={"app": "s3cret"})


def test_issue_and_validate(issuer: TokenIssuer, clock: SandboxClock) -> None:
    token = issuer.issue("app", scope="read")
    record = issuer.validate(token.token)
    assert record == token
    assert (record.client_id, record.scope) == ("app", "read")
    assert record.expires_at - record.issued_at == 600
    assert token.expires_in(token.issued_at) == 600
    assert issuer.issued_count == 1


def test_tokens_expire_when_the_clock_moves(issuer: TokenIssuer, clock: SandboxClock) -> None:
    token = issuer.issue("app")
    clock.advance(599)
    assert issuer.validate(token.token) is not None
    clock.advance(1)
    assert issuer.validate(token.token) is None
    assert issuer.lookup(token.token) == token  # expired, not unknown


def test_ttl_can_change_for_new_tokens(issuer: TokenIssuer, clock: SandboxClock) -> None:
    issuer.ttl = 5
    short = issuer.issue("app")
    long_lived = issuer.issue("app", ttl=50)
    clock.advance(10)
    assert issuer.validate(short.token) is None
    assert issuer.validate(long_lived.token) == long_lived


def test_expire_all(issuer: TokenIssuer) -> None:
    first, second = issuer.issue("app"), issuer.issue("app")
    assert issuer.active_count() == 2
    assert issuer.expire_all() == 2
    assert issuer.validate(first.token) is None
    assert issuer.validate(second.token) is None
    assert issuer.expire_all() == 0
    third = issuer.issue("app")
    assert issuer.validate(third.token) == third
    assert (issuer.issued_count, issuer.active_count()) == (3, 1)


def test_tokens_are_unique_and_prefixed(clock: SandboxClock) -> None:
    issuer = TokenIssuer(clock, prefix="00D!")
    tokens = {issuer.issue("app").token for _ in range(50)}
    assert len(tokens) == 50
    assert all(t.startswith("00D!") for t in tokens)


def test_sliding_tokens_extend_on_use(clock: SandboxClock) -> None:
    issuer = TokenIssuer(clock, ttl=10, sliding=True)
    token = issuer.issue("app")
    clock.advance(8)
    assert issuer.validate(token.token) is not None
    clock.advance(8)  # 16 s after issue, 8 s after last use
    assert issuer.validate(token.token) is not None
    clock.advance(11)
    assert issuer.validate(token.token) is None


def test_client_checks(issuer: TokenIssuer) -> None:
    assert issuer.check_client("app", "s3cret") is True
    assert issuer.check_client("app", "wrong") is False
    assert issuer.check_client("other", "s3cret") is False
    assert issuer.check_client(None, None) is False
    issuer.register_client("other", "pw")
    assert issuer.check_client("other", "pw") is True
    assert issuer.remove_client("other") is True
    assert issuer.check_client("other", "pw") is False


def test_revoke_and_reset(issuer: TokenIssuer) -> None:
    token = issuer.issue("app")
    assert issuer.revoke(token.token) is True
    assert issuer.lookup(token.token) is None
    assert issuer.revoke(token.token) is False
    issuer.register_client("extra", "x")
    issuer.issue("app")
    issuer.reset()
    assert (issuer.issued_count, issuer.active_count()) == (0, 0)
    assert issuer.clients == {"app": "s3cret"}


def test_unknown_token(issuer: TokenIssuer) -> None:
    assert issuer.validate("nope") is None
    assert issuer.lookup("nope") is None


@pytest.mark.parametrize(
    ("header", "expected"),
    [
        ("Basic " + base64.b64encode(b"user:pa:ss").decode(), ("user", "pa:ss")),
        ("basic " + base64.b64encode(b"user:").decode(), ("user", "")),
        ("Basic " + base64.b64encode(b"no-colon").decode(), None),
        ("Basic !!!", None),
        ("Bearer abc", None),
        ("Basic", None),
    ],
)
def test_parse_basic_auth(header: str, expected: tuple[str, str] | None) -> None:
    assert parse_basic_auth(header) == expected


# -- token endpoint, over HTTP --------------------------------------------------------------------


def test_token_with_basic_client_auth(base_url: str, system: ExampleSystem) -> None:
    response = requests.post(base_url + TOKEN_PATH, data=GRANT, auth=(CLIENT_ID, CLIENT_SECRET), timeout=5)
    assert response.status_code == 200
    body = response.json()
    assert set(body) == {"access_token", "token_type", "expires_in"}
    assert body["token_type"] == "Bearer"
    assert body["expires_in"] == 600
    assert type(body["expires_in"]) is int
    assert response.headers["cache-control"] == "no-store"
    record = system.tokens.validate(body["access_token"])
    assert record is not None
    assert record.client_id == CLIENT_ID


def test_token_with_form_client_auth(base_url: str) -> None:
    data = {**GRANT, "client_id": CLIENT_ID, "client_secret": CLIENT_SECRET, "scope": "anything"}
    response = requests.post(base_url + TOKEN_PATH, data=data, timeout=5)
    assert response.status_code == 200
    assert response.json()["expires_in"] == 600


def test_bad_secret_with_basic_is_401_invalid_client(base_url: str) -> None:
    response = requests.post(base_url + TOKEN_PATH, data=GRANT, auth=(CLIENT_ID, "wrong"), timeout=5)
    assert response.status_code == 401
    assert response.json() == {
        "error": "invalid_client",
        "error_description": "Client authentication failed.",
    }
    assert response.headers["www-authenticate"] == 'Basic realm="token"'


def test_bad_secret_in_form_is_401_without_challenge(base_url: str) -> None:
    data = {**GRANT, "client_id": CLIENT_ID, "client_secret": "wrong"}
    response = requests.post(base_url + TOKEN_PATH, data=data, timeout=5)
    assert response.status_code == 401
    assert response.json()["error"] == "invalid_client"
    assert "www-authenticate" not in response.headers


def test_no_client_credentials(base_url: str) -> None:
    response = requests.post(base_url + TOKEN_PATH, data=GRANT, timeout=5)
    assert response.status_code == 401
    assert response.json()["error"] == "invalid_client"


@pytest.mark.parametrize(
    ("data", "error"),
    [
        ({}, "invalid_request"),
        ({"grant_type": ""}, "invalid_request"),
        ({"grant_type": "password"}, "unsupported_grant_type"),
    ],
)
def test_grant_type_errors(base_url: str, data: dict[str, str], error: str) -> None:
    response = requests.post(base_url + TOKEN_PATH, data=data, auth=(CLIENT_ID, CLIENT_SECRET), timeout=5)
    assert response.status_code == 400
    assert response.json()["error"] == error


def test_token_request_must_be_form_encoded(base_url: str) -> None:
    response = requests.post(base_url + TOKEN_PATH, json=GRANT, auth=(CLIENT_ID, CLIENT_SECRET), timeout=5)
    assert response.status_code == 400
    assert response.json() == {
        "error": "invalid_request",
        "error_description": "The request body must be application/x-www-form-urlencoded.",
    }


def test_conflicting_client_ids_are_refused(base_url: str) -> None:
    data = {**GRANT, "client_id": "someone-else"}
    response = requests.post(base_url + TOKEN_PATH, data=data, auth=(CLIENT_ID, CLIENT_SECRET), timeout=5)
    assert response.status_code == 400
    assert response.json()["error"] == "invalid_request"


def test_customised_endpoint_shape_scope_and_status(base_url: str, system: ExampleSystem) -> None:
    ok = requests.post(
        base_url + ALT_TOKEN_PATH,
        data={**GRANT, "scope": "urn:x" + ALT_SCOPE},
        auth=(CLIENT_ID, CLIENT_SECRET),
        timeout=5,
    )
    assert ok.status_code == 200
    body = ok.json()
    assert (body["token_type"], body["expires_in"]) == ("bearer", "30")
    bad_scope = requests.post(
        base_url + ALT_TOKEN_PATH,
        data={**GRANT, "scope": "other"},
        auth=(CLIENT_ID, CLIENT_SECRET),
        timeout=5,
    )
    assert (bad_scope.status_code, bad_scope.json()["error"]) == (400, "invalid_scope")
    bad_client = requests.post(
        base_url + ALT_TOKEN_PATH, data={**GRANT, "scope": ALT_SCOPE}, auth=(CLIENT_ID, "nope"), timeout=5
    )
    assert (bad_client.status_code, bad_client.json()["error"]) == (400, "invalid_client")
    assert "www-authenticate" not in bad_client.headers
    system.clock.advance(31)
    response = requests.get(
        base_url + "/api/widgets", headers={"Authorization": "Bearer " + body["access_token"]}, timeout=5
    )
    assert (response.status_code, response.text) == (401, "Unauthorized (expired)")


def test_custom_client_authentication(base_url: str, system: ExampleSystem) -> None:
    ok = requests.post(
        base_url + ASSERTION_TOKEN_PATH, data={**GRANT, "client_assertion": VALID_ASSERTION}, timeout=5
    )
    assert ok.status_code == 200
    record = system.tokens.validate(ok.json()["access_token"])
    assert record is not None
    assert record.client_id == "assertion-client"
    refused = requests.post(
        base_url + ASSERTION_TOKEN_PATH, data={**GRANT, "client_assertion": "forged"}, timeout=5
    )
    assert refused.status_code == 400
    assert refused.json() == {"error": "invalid_grant", "error_description": "The assertion is not valid."}


# -- protected routes ----------------------------------------------------------------------------


def _get(
    base_url: str, headers: dict[str, str] | None = None, path: str = "/api/widgets"
) -> requests.Response:
    return requests.get(base_url + path, headers=headers or {}, timeout=5)


def test_valid_bearer_is_accepted(base_url: str, auth_headers: dict[str, str]) -> None:
    response = _get(base_url, auth_headers)
    assert response.status_code == 200
    assert response.json()["user"] == CLIENT_ID


@pytest.mark.parametrize(
    ("headers", "reason", "description"),
    [
        ({}, "missing", "No access token was provided."),
        ({"Authorization": "Bearer never-issued"}, "unknown", "The access token is invalid."),
        ({"Authorization": "Bearer"}, "malformed", "The authorization header is malformed."),
        ({"Authorization": "Digest abc"}, "unsupported_scheme", "The authorization scheme is not supported."),
    ],
)
def test_refusals_use_the_system_body_and_a_bearer_challenge(
    base_url: str, headers: dict[str, str], reason: str, description: str
) -> None:
    response = _get(base_url, headers)
    assert response.status_code == 401
    assert response.text == f"Unauthorized ({reason})"
    error = "invalid_request" if reason == "malformed" else "invalid_token"
    assert (
        response.headers["www-authenticate"] == f'Bearer error="{error}", error_description="{description}"'
    )


def test_token_expires_when_the_clock_is_advanced_over_http(
    base_url: str, auth_headers: dict[str, str], admin: SandboxClient
) -> None:
    admin.advance_clock(599)
    assert _get(base_url, auth_headers).status_code == 200
    admin.advance_clock(2)
    response = _get(base_url, auth_headers)
    assert (response.status_code, response.text) == (401, "Unauthorized (expired)")
    assert response.headers["www-authenticate"].startswith('Bearer error="invalid_token"')


def test_expire_all_over_http_then_a_new_token_works(
    base_url: str, auth_headers: dict[str, str], admin: SandboxClient
) -> None:
    fetch_token(base_url)
    assert admin.token_stats() == {"issued": 2, "active": 2}
    assert admin.expire_tokens() == 2
    assert admin.token_stats() == {"issued": 2, "active": 0}
    assert _get(base_url, auth_headers).text == "Unauthorized (expired)"
    fresh = {"Authorization": "Bearer " + fetch_token(base_url)}
    assert _get(base_url, fresh).status_code == 200


def test_expire_all_in_process(base_url: str, auth_headers: dict[str, str], system: ExampleSystem) -> None:
    assert system.tokens.expire_all() == 1
    assert _get(base_url, auth_headers).status_code == 401


def test_basic_credentials_where_the_system_allows_them(base_url: str) -> None:
    ok = requests.get(base_url + "/api/widgets", auth=(BASIC_USER, BASIC_PASSWORD), timeout=5)
    assert (ok.status_code, ok.json()["user"]) == (200, BASIC_USER)
    bad = requests.get(base_url + "/api/widgets", auth=(BASIC_USER, "wrong"), timeout=5)
    assert (bad.status_code, bad.text) == (401, "Unauthorized (bad_credentials)")
    # Client credentials are not user credentials.
    assert (
        requests.get(base_url + "/api/widgets", auth=(CLIENT_ID, CLIENT_SECRET), timeout=5).status_code == 401
    )


def test_basic_is_refused_where_the_system_does_not_allow_it(base_url: str) -> None:
    response = requests.get(base_url + "/api/events", auth=(BASIC_USER, BASIC_PASSWORD), timeout=5)
    assert response.status_code == 401
    assert response.json() == {
        "error": "invalid_token",
        "error_description": "The authorization scheme is not supported.",
    }


def test_static_keys_accepted_by_the_system(base_url: str, auth_headers: dict[str, str]) -> None:
    assert _get(base_url, {"Authorization": "Bearer sk_test_123"}, "/api/events").status_code == 200
    assert _get(base_url, auth_headers, "/api/events").status_code == 200
    refused = _get(base_url, {"Authorization": "Bearer sk_live_123"}, "/api/events")
    assert refused.status_code == 401
    assert refused.json() == {"error": "invalid_token", "error_description": "The access token is invalid."}
