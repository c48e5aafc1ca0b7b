"""Credential providers against a real local token endpoint and API."""

from __future__ import annotations

import base64
import threading
from typing import TYPE_CHECKING, Any

import jwt
import pytest

from ml_connector_provider.transport import (
    ApiKeyAuth,
    AuthError,
    AuthProvider,
    BasicAuth,
    HttpTransport,
    OAuth2ClientCredentials,
    OAuth2JwtBearer,
    OAuth2PasswordGrant,
    RetryExhausted,
    RetryPolicy,
)

if TYPE_CHECKING:
    from tests.unit.transport.conftest import Clock, KeyPair, ScriptedServer, Sleeps

POLICY = RetryPolicy(attempts=3, base_delay=1.0, max_delay=8.0)
SCOPE = "urn:opc:resource:fa:instanceid=1456592urn:opc:resource:consumer::all"


def client_credentials(
    server: ScriptedServer, sleeps: Sleeps, clock: Clock | None = None, **kwargs: Any
) -> OAuth2ClientCredentials:
    policy = server.token_policy
    if clock is not None:
        kwargs["clock"] = clock
    return OAuth2ClientCredentials(
        server.token_url, policy.client_id, policy.client_secret, sleep=sleeps, **kwargs
    )


def api(server: ScriptedServer, auth: AuthProvider, sleeps: Sleeps, **kwargs: Any) -> HttpTransport:
    return HttpTransport(server.url, auth=auth, retry=POLICY, sleep=sleeps, **kwargs)


# -- static credentials -------------------------------------------------------------------------


def test_basic_auth_sends_the_encoded_credentials(server: ScriptedServer, sleeps: Sleeps) -> None:
    with api(server, BasicAuth("fin.integration", "Fusion-Pa55word"), sleeps) as http:
        http.get("/fscmRestApi/resources/11.13.18.05/invoices")

    expected = base64.b64encode(b"fin.integration:Fusion-Pa55word").decode()
    assert server.requests[0].headers["authorization"] == f"Basic {expected}"
    assert BasicAuth.refreshable is False


def test_api_key_auth_uses_the_configured_header_and_prefix(server: ScriptedServer, sleeps: Sleeps) -> None:
    with api(server, ApiKeyAuth("key-0123456789", header="X-Api-Key", prefix=""), sleeps) as http:
        http.get("/v1/documents")

    assert server.requests[0].headers["x-api-key"] == "key-0123456789"
    assert "authorization" not in server.requests[0].headers


# -- client credentials -------------------------------------------------------------------------


def test_client_credentials_with_basic_client_auth_caches_the_token_across_calls(
    server: ScriptedServer, sleeps: Sleeps
) -> None:
    server.require_bearer = True
    auth = client_credentials(server, sleeps, scope=SCOPE)

    with api(server, auth, sleeps) as http:
        for _ in range(5):
            assert http.get("/fscmRestApi/resources/11.13.18.05/invoices").status_code == 200

    [token_request] = server.token_requests
    assert token_request.form == {"grant_type": "client_credentials", "scope": SCOPE}
    assert token_request.headers["content-type"] == "application/x-www-form-urlencoded"
    expected = base64.b64encode(b"client-4711:client-secret-Zq8vN2pK").decode()
    assert token_request.headers["authorization"] == f"Basic {expected}"
    assert {s.headers["authorization"] for s in server.requests} == {f"Bearer {server.issued[0]}"}
    assert len(server.requests) == 5


def test_client_secret_post_sends_the_client_credentials_as_form_fields(
    server: ScriptedServer, sleeps: Sleeps
) -> None:
    server.token_policy.client_auth = "post"
    auth = client_credentials(server, sleeps, client_auth="post", extra_params={"audience": "erp"})

    with api(server, auth, sleeps) as http:
        http.get("/services/data/v62.0/limits")

    [token_request] = server.token_requests
    assert "authorization" not in token_request.headers
    assert token_request.form == {
        "grant_type": "client_credentials",
        "audience": "erp",
        "client_id": "client-4711",
        "client_secret": "client-secret-Zq8vN2pK",
    }


def test_expires_in_as_a_string_and_lowercase_token_type_are_accepted(
    server: ScriptedServer, sleeps: Sleeps, clock: Clock
) -> None:
    server.token_policy.expires_in = "3600"
    server.token_policy.token_type = "bearer"
    server.token_policy.extra = {"scope": "rest_webservices"}
    auth = client_credentials(server, sleeps, clock)

    token = auth.token()

    assert token.access_token == server.issued[0]
    assert token.token_type == "Bearer"
    assert token.obtained_at == clock.now
    assert token.expires_at == clock.now + 3600
    assert token.extra == {"token_type": "bearer", "expires_in": "3600", "scope": "rest_webservices"}
    assert token.authorization == f"Bearer {server.issued[0]}"
    assert server.issued[0] not in repr(token)


def test_the_token_is_refreshed_ahead_of_expiry(server: ScriptedServer, sleeps: Sleeps, clock: Clock) -> None:
    auth = client_credentials(server, sleeps, clock)  # expires_in 3600: refresh with 360 s left
    first = auth.token()

    clock.advance(3239)
    assert auth.token() is first
    assert len(server.token_requests) == 1

    clock.advance(2)  # 359 s left
    second = auth.token()
    assert second.access_token != first.access_token
    assert len(server.token_requests) == 2
    assert second.expires_at == clock.now + 3600


def test_a_short_lived_token_is_reused_for_half_its_life(
    server: ScriptedServer, sleeps: Sleeps, clock: Clock
) -> None:
    server.token_policy.expires_in = 20
    auth = client_credentials(server, sleeps, clock)
    first = auth.token()

    clock.advance(9.5)
    assert auth.token() is first
    clock.advance(1)
    assert auth.token() is not first
    assert len(server.token_requests) == 2


def test_a_token_without_expires_in_is_kept_until_rejected(
    server: ScriptedServer, sleeps: Sleeps, clock: Clock
) -> None:
    server.token_policy.expires_in = None
    server.token_policy.extra = {"instance_url": "https://acme.my.salesforce.com"}
    auth = client_credentials(server, sleeps, clock)
    first = auth.token()

    clock.advance(30 * 86400)
    assert auth.token() is first
    assert first.expires_at is None
    assert first.extra["instance_url"] == "https://acme.my.salesforce.com"

    with_default = client_credentials(server, sleeps, clock, default_expires_in=7200)
    assert with_default.token().expires_at == clock.now + 7200


def test_a_401_refreshes_the_token_once_and_repeats_the_request(
    server: ScriptedServer, sleeps: Sleeps
) -> None:
    server.require_bearer = True
    auth = client_credentials(server, sleeps)

    with api(server, auth, sleeps) as http:
        http.get("/services/data/v62.0/query")
        server.revoke_tokens()
        response = http.post("/services/data/v62.0/sobjects/Account", json={"Name": "Acme"})

    assert response.status_code == 200
    assert len(server.token_requests) == 2
    assert [s.headers["authorization"] for s in server.requests] == [
        f"Bearer {server.issued[0]}",
        f"Bearer {server.issued[0]}",
        f"Bearer {server.issued[1]}",
    ]
    assert http.stats.snapshot()["auth_refreshes"] == 1
    assert sleeps == []


def test_a_second_401_raises_auth_error(server: ScriptedServer, sleeps: Sleeps) -> None:
    server.enqueue(401, body=[{"message": "Session expired or invalid", "errorCode": "INVALID_SESSION_ID"}])
    server.enqueue(401, body=[{"message": "Session expired or invalid", "errorCode": "INVALID_SESSION_ID"}])
    server.enqueue(200)
    auth = client_credentials(server, sleeps)

    with api(server, auth, sleeps) as http, pytest.raises(AuthError) as caught:
        http.get("/services/data/v62.0/limits")

    error = caught.value
    assert error.status == 401
    assert str(error).startswith(
        f"GET {server.url}/services/data/v62.0/limits: credentials rejected after refreshing credentials (HTTP 401)"
    )
    assert "INVALID_SESSION_ID" in str(error)
    assert all(token not in str(error) for token in server.issued)
    assert len(server.requests) == 2
    assert len(server.token_requests) == 2


def test_only_one_refresh_per_request_even_across_retries(server: ScriptedServer, sleeps: Sleeps) -> None:
    server.enqueue(401)
    server.enqueue(503)
    server.enqueue(401)
    server.enqueue(200)
    auth = client_credentials(server, sleeps)

    with api(server, auth, sleeps) as http, pytest.raises(AuthError):
        http.get("/v1/balance")

    assert len(server.requests) == 3
    assert len(server.token_requests) == 2
    assert len(sleeps) == 1


def test_invalidate_keeps_a_token_another_thread_already_replaced(
    server: ScriptedServer, sleeps: Sleeps
) -> None:
    auth = client_credentials(server, sleeps)
    first = auth.token()
    auth.invalidate({"Authorization": first.authorization})
    second = auth.token()

    auth.invalidate({"Authorization": first.authorization})  # a late 401 for the old token

    assert auth.token() is second
    assert len(server.token_requests) == 2


def test_concurrent_callers_share_one_token_request(server: ScriptedServer, sleeps: Sleeps) -> None:
    server.require_bearer = True
    server.token_policy.delay = 0.2
    auth = client_credentials(server, sleeps)
    errors: list[BaseException] = []

    with api(server, auth, sleeps, pool_size=8) as http:

        def call() -> None:
            try:
                http.get("/v1/balance")
            except BaseException as exc:
                errors.append(exc)

        threads = [threading.Thread(target=call) for _ in range(8)]
        for thread in threads:
            thread.start()
        for thread in threads:
            thread.join(timeout=10)

    assert errors == []
    assert len(server.token_requests) == 1
    assert len(server.requests) == 8


# -- token endpoint failures --------------------------------------------------------------------


def test_a_rejected_client_raises_auth_error_without_the_secret(
    server: ScriptedServer, sleeps: Sleeps
) -> None:
    auth = OAuth2ClientCredentials(server.token_url, "client-4711", "wrong-secret-Xy12345", sleep=sleeps)

    with api(server, auth, sleeps) as http, pytest.raises(AuthError) as caught:
        http.get("/v1/balance")

    error = caught.value
    assert str(error) == (
        f"POST {server.token_url}: token request rejected with HTTP 401: "
        "invalid_client: Client authentication failed."
    )
    assert error.status == 401
    assert error.error == "invalid_client"
    assert error.error_description == "Client authentication failed."
    assert "wrong-secret-Xy12345" not in str(error)
    assert len(server.token_requests) == 1
    assert server.requests == []


def test_a_non_json_token_error_uses_a_secret_free_excerpt(server: ScriptedServer, sleeps: Sleeps) -> None:
    server.enqueue_token(400, body="bad request for client_secret=client-secret-Zq8vN2pK")
    auth = client_credentials(server, sleeps)

    with pytest.raises(AuthError) as caught:
        auth.token()

    assert str(caught.value).endswith("HTTP 400: bad request for client_secret=***")
    assert caught.value.error is None


def test_the_token_request_is_retried_on_503_with_the_shared_retry_machinery(
    server: ScriptedServer, sleeps: Sleeps
) -> None:
    server.enqueue_token(503, headers={"Retry-After": "3"})
    server.enqueue_token(502)
    auth = client_credentials(server, sleeps)

    token = auth.token()

    assert token.access_token == server.issued[0]
    assert len(server.token_requests) == 3
    assert sleeps[0] == 3.0
    assert 0.0 <= sleeps[1] <= 1.0
    assert auth.transport.stats.snapshot()["retries"] == 2


def test_a_token_endpoint_that_stays_down_raises_retry_exhausted(
    server: ScriptedServer, sleeps: Sleeps
) -> None:
    for _ in range(3):
        server.enqueue_token(500, body="IDCS unavailable")
    auth = client_credentials(server, sleeps)

    with pytest.raises(RetryExhausted) as caught:
        auth.token()

    assert caught.value.attempts == 3
    assert f"POST {server.token_url} -> HTTP 500 Internal Server Error: IDCS unavailable" in str(caught.value)


def test_a_token_response_without_access_token_raises(server: ScriptedServer, sleeps: Sleeps) -> None:
    server.enqueue_token(200, body={"token_type": "Bearer", "expires_in": 3600})
    auth = client_credentials(server, sleeps)

    with pytest.raises(AuthError, match="token response has no access_token"):
        auth.token()


def test_a_non_bearer_token_type_is_rejected(server: ScriptedServer, sleeps: Sleeps) -> None:
    server.token_policy.token_type = "mac"
    auth = client_credentials(server, sleeps)

    with pytest.raises(AuthError, match="unsupported token_type 'mac'"):
        auth.token()


# -- password grant -----------------------------------------------------------------------------


def test_password_grant(server: ScriptedServer, sleeps: Sleeps) -> None:
    policy = server.token_policy
    auth = OAuth2PasswordGrant(
        server.token_url,
        policy.client_id,
        policy.client_secret,
        policy.username,
        policy.password,
        scope=["api", "refresh_token"],
        sleep=sleeps,
    )

    token = auth.token()

    assert token.access_token == server.issued[0]
    assert server.token_requests[0].form == {
        "grant_type": "password",
        "username": "integration.user",
        "password": "user-password-Hn4xW9",
        "scope": "api refresh_token",
    }

    wrong = OAuth2PasswordGrant(
        server.token_url, policy.client_id, policy.client_secret, policy.username, "not-the-password"
    )
    with pytest.raises(AuthError) as caught:
        wrong.token()
    assert caught.value.error == "invalid_grant"
    assert "not-the-password" not in str(caught.value)


# -- JWT assertions -----------------------------------------------------------------------------


def test_jwt_bearer_authorization_grant(server: ScriptedServer, sleeps: Sleeps, rsa_keys: KeyPair) -> None:
    audience = "https://login.salesforce.com"
    policy = server.token_policy
    policy.public_key = rsa_keys.public_key
    policy.issuer = "3MVG9consumerKey"
    policy.subject = "integration@acme.example"
    policy.audience = audience
    policy.expires_in = None
    policy.extra = {"instance_url": "https://acme.my.salesforce.com"}
    auth = OAuth2JwtBearer(
        server.token_url,
        issuer="3MVG9consumerKey",
        subject="integration@acme.example",
        audience=audience,
        private_key_pem=rsa_keys.private_pem,
        lifetime=180,
        sleep=sleeps,
    )
    server.require_bearer = True

    with api(server, auth, sleeps) as http:
        http.get("/services/data/v62.0/query", params={"q": "SELECT Id FROM Account"})

    [token_request] = server.token_requests
    form = token_request.form
    assert set(form) == {"grant_type", "assertion"}
    assert form["grant_type"] == "urn:ietf:params:oauth:grant-type:jwt-bearer"
    claims = jwt.decode(form["assertion"], rsa_keys.public_key, algorithms=["RS256"], audience=audience)
    assert claims["exp"] - claims["iat"] == 180
    assert "scope" not in claims
    assert auth.token().extra["instance_url"] == "https://acme.my.salesforce.com"
    assert server.requests[0].headers["authorization"] == f"Bearer {server.issued[0]}"


@pytest.mark.parametrize(("algorithm", "keys"), [("PS256", "rsa_keys"), ("ES256", "ec_keys")])
def test_netsuite_client_assertion(
    server: ScriptedServer, sleeps: Sleeps, request: pytest.FixtureRequest, algorithm: str, keys: str
) -> None:
    key_pair = request.getfixturevalue(keys)
    policy = server.token_policy
    policy.public_key = key_pair.public_key
    policy.algorithms = (algorithm,)
    policy.issuer = "ns-integration-client-id"
    policy.audience = server.token_url
    policy.kid = "cert-id-XyZ"
    policy.scope = "rest_webservices,restlets"
    policy.expires_in = "3600"
    policy.token_type = "bearer"
    auth = OAuth2JwtBearer(
        server.token_url,
        issuer="ns-integration-client-id",
        private_key_pem=key_pair.private_pem,
        key_id="cert-id-XyZ",
        algorithm=algorithm,
        scope="rest_webservices,restlets",
        client_assertion_mode=True,
        sleep=sleeps,
    )

    token = auth.token()

    assert token.access_token == server.issued[0]
    assert token.lifetime == 3600
    [token_request] = server.token_requests
    form = token_request.form
    assert set(form) == {"grant_type", "client_assertion_type", "client_assertion"}
    assert form["grant_type"] == "client_credentials"
    assert form["client_assertion_type"] == "urn:ietf:params:oauth:client-assertion-type:jwt-bearer"
    assert "authorization" not in token_request.headers
    header = jwt.get_unverified_header(form["client_assertion"])
    assert header == {"alg": algorithm, "kid": "cert-id-XyZ", "typ": "JWT"}
    claims = jwt.decode(
        form["client_assertion"], key_pair.public_key, algorithms=[algorithm], audience=server.token_url
    )
    assert set(claims) == {"iss", "scope", "aud", "iat", "exp"}
    assert claims["exp"] - claims["iat"] == 300


def test_a_jwt_signed_with_the_wrong_key_is_rejected(
    server: ScriptedServer, sleeps: Sleeps, rsa_keys: KeyPair, other_rsa_keys: KeyPair
) -> None:
    policy = server.token_policy
    policy.public_key = rsa_keys.public_key
    policy.issuer = "iss"
    policy.audience = server.token_url
    auth = OAuth2JwtBearer(
        server.token_url, issuer="iss", private_key_pem=other_rsa_keys.private_pem, sleep=sleeps
    )

    with pytest.raises(AuthError) as caught:
        auth.token()

    assert caught.value.error == "invalid_grant"
    assert caught.value.error_description == "assertion rejected: InvalidSignatureError"


@pytest.mark.parametrize(
    ("algorithm", "keys", "message"),
    [
        ("ES256", "rsa_keys", "needs an EC private key on curve secp256r1"),
        ("PS256", "ec_keys", "needs an RSA private key"),
        ("ES384", "ec_keys", "needs an EC private key on curve secp384r1"),
        ("HS256", "rsa_keys", "algorithm must be one of"),
    ],
)
def test_jwt_key_and_algorithm_must_match(
    request: pytest.FixtureRequest, algorithm: str, keys: str, message: str
) -> None:
    key_pair = request.getfixturevalue(keys)
    with pytest.raises(ValueError, match=message):
        OAuth2JwtBearer(
            "https://t/token", issuer="i", private_key_pem=key_pair.private_pem, algorithm=algorithm
        )


def test_an_unusable_private_key_is_rejected_without_echoing_it() -> None:
    with pytest.raises(ValueError, match="not a usable PEM private key") as caught:
        OAuth2JwtBearer("https://t/token", issuer="i", private_key_pem="-----BEGIN PRIVATE KEY-----\nAAAA\n")
    assert "AAAA" not in str(caught.value)


# -- secret masking -----------------------------------------------------------------------------


def test_obtained_tokens_and_configured_secrets_are_masked_in_logs(
    server: ScriptedServer, sleeps: Sleeps, rsa_keys: KeyPair
) -> None:
    from airflow.sdk.log import redact

    policy = server.token_policy
    policy.client_secret = "masking-client-secret-77"
    client = OAuth2ClientCredentials(server.token_url, policy.client_id, policy.client_secret, sleep=sleeps)
    token = client.token().access_token
    static = ApiKeyAuth("sk_test_masking_key_4242")
    basic = BasicAuth("masking.user", "masking-password-31")

    line = (
        f"token={token} secret=masking-client-secret-77 key=sk_test_masking_key_4242 "
        "password=masking-password-31 user=masking.user"
    )
    redacted = redact(line)

    assert redacted == "token=*** secret=*** key=*** password=*** user=masking.user"
    assert basic.secret_values()[0] == "masking-password-31"
    assert static.secret_values() == ("sk_test_masking_key_4242",)
