"""The NetSuite stand-in's token endpoint (contract B2) and REST bearer check (B8), over HTTP."""

from __future__ import annotations

import time
from typing import Any

import pytest
import requests
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import ec, rsa
from ml_connector_sandbox.systems.netsuite import NetSuiteSandbox

from tests.harness.sandbox import one_system_fixtures
from tests.sandbox.netsuite_support import (
    RECORDS,
    assertion,
    bearer,
    credentials,
    error_code,
    request_token,
)

runner, netsuite, base_url, admin = one_system_fixtures(NetSuiteSandbox, system_fixture="netsuite")


@pytest.fixture
def creds(base_url: str) -> dict[str, Any]:
    return credentials(base_url)


def _settings(base_url: str, **changes: Any) -> None:
    response = requests.post(f"{base_url}/__sandbox__/netsuite/settings", json=changes, timeout=10)
    assert response.status_code == 200, response.text


def _refusal(response: requests.Response) -> tuple[int, str]:
    return response.status_code, str(response.json()["error"])


def test_a_signed_assertion_gets_a_bearer_token_as_b2_shows_it(base_url: str, creds: dict[str, Any]) -> None:
    response = request_token(base_url, assertion(base_url, creds))
    assert response.status_code == 200, response.text
    body = response.json()
    assert body["token_type"] == "bearer"
    assert body["expires_in"] == "3600"  # a string, as in Oracle's sample (B2)
    assert set(body) == {"access_token", "expires_in", "token_type"}
    ok = requests.get(
        f"{base_url}{RECORDS}/customer/101",
        headers={"Authorization": f"Bearer {body['access_token']}"},
        timeout=10,
    )
    assert ok.status_code == 200


def test_expires_in_can_be_a_number(base_url: str, creds: dict[str, Any]) -> None:
    _settings(base_url, expires_in_as_string=False)
    assert request_token(base_url, assertion(base_url, creds)).json()["expires_in"] == 3600


@pytest.mark.parametrize("scope", ["rest_webservices", "restlets,rest_webservices", ["rest_webservices"]])
def test_scope_is_a_comma_separated_string_or_an_array(
    base_url: str, creds: dict[str, Any], scope: Any
) -> None:
    response = request_token(base_url, assertion(base_url, creds, claims={"scope": scope}))
    assert response.status_code == 200, response.text


def test_an_ec_mapping_signs_with_es256(base_url: str) -> None:
    added = requests.post(f"{base_url}/__sandbox__/netsuite/clients", json={"generate": "EC"}, timeout=10)
    assert added.status_code == 201, added.text
    client = added.json()
    creds = {
        "client_id": client["client_id"],
        "certificate_id": client["certificate_id"],
        "private_key": client["private_key"],
    }
    assert request_token(base_url, assertion(base_url, creds, algorithm="ES256")).status_code == 200
    # An EC key cannot verify an RSA-PSS signature: PS256 with this kid is refused.
    rsa_key = rsa.generate_private_key(public_exponent=65537, key_size=3072)
    refused = request_token(base_url, assertion(base_url, creds, algorithm="PS256", key=rsa_key))
    assert _refusal(refused) == (401, "invalid_client")


def test_a_certificate_uploaded_through_the_admin_api_is_the_verifier(base_url: str) -> None:
    key = ec.generate_private_key(ec.SECP384R1())
    pem = key.public_key().public_bytes(
        serialization.Encoding.PEM, serialization.PublicFormat.SubjectPublicKeyInfo
    )
    added = requests.post(
        f"{base_url}/__sandbox__/netsuite/clients",
        json={"client_id": "client-384", "certificate_id": "cert-384", "certificate": pem.decode()},
        timeout=10,
    )
    assert added.status_code == 201, added.text
    creds = {"client_id": "client-384", "certificate_id": "cert-384"}
    assert request_token(base_url, assertion(base_url, creds, algorithm="ES384", key=key)).status_code == 200


def test_rsa_keys_under_3072_bits_are_refused_on_upload(base_url: str) -> None:
    small = rsa.generate_private_key(public_exponent=65537, key_size=2048)
    pem = small.public_key().public_bytes(
        serialization.Encoding.PEM, serialization.PublicFormat.SubjectPublicKeyInfo
    )
    response = requests.post(
        f"{base_url}/__sandbox__/netsuite/clients", json={"certificate": pem.decode()}, timeout=10
    )
    assert response.status_code == 400
    assert "3072" in response.text


@pytest.mark.parametrize(
    ("change", "expected"),
    [
        ({"kid": "no-such-certificate"}, (401, "invalid_client")),
        ({"claims": {"iss": "another-client"}}, (401, "invalid_client")),
        (
            {
                "claims": {
                    "aud": "https://1234567-sb1.suitetalk.api.netsuite.com/services/rest/auth/oauth2/v1/token"
                }
            },
            (400, "invalid_grant"),
        ),
        (
            {"claims": {"aud": "http://127.0.0.1:1/services/rest/auth/oauth2/v1/token"}},
            (400, "invalid_grant"),
        ),
        ({"claims": {"exp": int(time.time()) - 10, "iat": int(time.time()) - 100}}, (400, "invalid_grant")),
        (
            {"claims": {"exp": int(time.time()) + 3601 - 0, "iat": int(time.time()) - 0}},
            (400, "invalid_grant"),
        ),
        ({"drop": ("exp",)}, (400, "invalid_grant")),
        ({"claims": {"scope": "restlets"}}, (400, "invalid_scope")),
        ({"claims": {"scope": ["suite_analytics"]}}, (400, "invalid_scope")),
        ({"claims": {"scope": "rest_webservices,everything"}}, (400, "invalid_scope")),
    ],
    ids=[
        "unknown-kid",
        "wrong-iss",
        "real-host-aud",
        "other-aud",
        "expired",
        "over-60-min",
        "no-exp",
        "no-rest-scope",
        "array-without-rest",
        "unknown-scope",
    ],
)
def test_each_bad_assertion_is_refused_with_its_rfc6749_error(
    base_url: str, creds: dict[str, Any], change: dict[str, Any], expected: tuple[int, str]
) -> None:
    response = request_token(base_url, assertion(base_url, creds, **change))
    assert _refusal(response) == expected
    assert "access_token" not in response.text


def test_exactly_sixty_minutes_between_iat_and_exp_is_accepted(base_url: str, creds: dict[str, Any]) -> None:
    now = int(time.time())
    response = request_token(base_url, assertion(base_url, creds, claims={"iat": now, "exp": now + 3600}))
    assert response.status_code == 200, response.text


def test_a_signature_by_another_key_is_refused(base_url: str, creds: dict[str, Any]) -> None:
    other = rsa.generate_private_key(public_exponent=65537, key_size=3072)
    assert _refusal(request_token(base_url, assertion(base_url, creds, key=other))) == (401, "invalid_client")


def test_rs256_is_refused_unless_switched_on(base_url: str, creds: dict[str, Any]) -> None:
    refused = request_token(base_url, assertion(base_url, creds, algorithm="RS256"))
    assert _refusal(refused) == (401, "invalid_client")
    _settings(base_url, accept_rs256=True)
    assert request_token(base_url, assertion(base_url, creds, algorithm="RS256")).status_code == 200


def test_the_form_must_be_exactly_the_b2_token_request(base_url: str, creds: dict[str, Any]) -> None:
    signed = assertion(base_url, creds)
    wrong_type = request_token(
        base_url, signed, client_assertion_type="urn:ietf:params:oauth:client-assertion-type:saml2-bearer"
    )
    assert _refusal(wrong_type) == (400, "invalid_request")
    wrong_grant = request_token(base_url, signed, grant_type="authorization_code")
    assert _refusal(wrong_grant) == (400, "unsupported_grant_type")
    not_a_jwt = request_token(base_url, "not-a-jwt")
    assert _refusal(not_a_jwt) == (400, "invalid_request")
    with_basic = requests.post(
        base_url + "/services/rest/auth/oauth2/v1/token",
        data={
            "grant_type": "client_credentials",
            "client_assertion_type": "urn:ietf:params:oauth:client-assertion-type:jwt-bearer",
            "client_assertion": signed,
        },
        auth=(creds["client_id"], "secret"),
        timeout=10,
    )
    assert _refusal(with_basic) == (400, "invalid_request")


def test_the_invalid_request_style_answers_every_refusal_alike(base_url: str, creds: dict[str, Any]) -> None:
    _settings(base_url, token_error_style="invalid_request")
    for change in (
        {"kid": "unknown"},
        {"claims": {"aud": "https://elsewhere/token"}},
        {"claims": {"scope": "restlets"}},
    ):
        response = request_token(base_url, assertion(base_url, creds, **change))  # type: ignore[arg-type]
        assert response.status_code == 400
        assert response.json() == {"error": "invalid_request"}


def test_an_expired_token_gets_b8s_invalid_login_and_a_new_assertion_works(
    base_url: str, creds: dict[str, Any]
) -> None:
    headers = bearer(base_url)
    assert requests.get(f"{base_url}{RECORDS}/customer/101", headers=headers, timeout=10).status_code == 200
    assert requests.post(f"{base_url}/__sandbox__/tokens/expire", timeout=10).json()["expired"] == 1
    refused = requests.get(f"{base_url}{RECORDS}/customer/101", headers=headers, timeout=10)
    assert refused.status_code == 401
    assert error_code(refused) == "INVALID_LOGIN"
    assert refused.headers["WWW-Authenticate"].startswith('Bearer realm="1234567_SB1", error="invalid_token"')
    assert (
        requests.get(f"{base_url}{RECORDS}/customer/101", headers=bearer(base_url), timeout=10).status_code
        == 200
    )


def test_tokens_expire_after_the_configured_lifetime_on_the_sandbox_clock(
    base_url: str, creds: dict[str, Any]
) -> None:
    _settings(base_url, token_ttl=120)
    response = request_token(base_url, assertion(base_url, creds))
    assert response.json()["expires_in"] == "120"
    headers = {"Authorization": f"Bearer {response.json()['access_token']}"}
    requests.post(f"{base_url}/__sandbox__/clock", json={"advance": 119}, timeout=10)
    assert requests.get(f"{base_url}{RECORDS}/customer/101", headers=headers, timeout=10).status_code == 200
    requests.post(f"{base_url}/__sandbox__/clock", json={"advance": 2}, timeout=10)
    assert requests.get(f"{base_url}{RECORDS}/customer/101", headers=headers, timeout=10).status_code == 401


def test_the_assertion_exp_is_checked_on_the_sandbox_clock(base_url: str, creds: dict[str, Any]) -> None:
    signed = assertion(base_url, creds)  # exp = now + 300
    requests.post(f"{base_url}/__sandbox__/clock", json={"advance": 301}, timeout=10)
    assert _refusal(request_token(base_url, signed)) == (400, "invalid_grant")


def test_missing_and_malformed_authorization(base_url: str) -> None:
    missing = requests.get(f"{base_url}{RECORDS}/customer/101", timeout=10)
    assert missing.status_code == 401
    assert error_code(missing) == "INVALID_LOGIN"
    malformed = requests.get(
        f"{base_url}{RECORDS}/customer/101", headers={"Authorization": "Bearer a b"}, timeout=10
    )
    assert malformed.status_code == 400
    assert 'error="invalid_request"' in malformed.headers["WWW-Authenticate"]


def test_a_reset_restores_the_seeded_mapping_and_drops_added_ones(
    base_url: str, creds: dict[str, Any]
) -> None:
    added = requests.post(
        f"{base_url}/__sandbox__/netsuite/clients", json={"generate": "EC"}, timeout=10
    ).json()
    requests.post(f"{base_url}/__sandbox__/reset", timeout=10)
    kids = {
        c["certificate_id"]
        for c in requests.get(f"{base_url}/__sandbox__/netsuite/clients", timeout=10).json()
    }
    assert kids == {creds["certificate_id"]}
    assert added["certificate_id"] not in kids
    assert credentials(base_url)["private_key"] == creds["private_key"]
    listed = requests.get(f"{base_url}/__sandbox__/netsuite/clients", timeout=10).text
    assert "PRIVATE KEY" not in listed
