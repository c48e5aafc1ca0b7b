"""The pure parts of the NetSuite hook: connection settings, the client assertion, SuiteQL
literals, external ids and error answers (contract ``oracle_fusion_netsuite.md`` part B)."""

from __future__ import annotations

import json
import re
from datetime import UTC, date, datetime
from decimal import Decimal
from typing import Any

import jwt
import pytest
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import ec, rsa

from ml_connector_provider.hooks.netsuite import (
    NetSuiteAuthError,
    NetSuiteConcurrencyError,
    NetSuiteConnectionSettings,
    NetSuiteError,
    NetSuiteNotFoundError,
    NetSuitePermissionError,
    NetSuiteQueryError,
    NetSuiteValidationError,
    NetSuiteValueError,
    account_slug,
    check_external_id,
    default_base_url,
    is_concurrency_limit,
    parse_error_body,
    ql_identifier,
    ql_literal,
    select_where_equals,
    select_where_in,
)
from ml_connector_provider.hooks.netsuite.errors import netsuite_error
from ml_connector_provider.hooks.netsuite.hook import ASSERTION_LIFETIME, _token_provider
from ml_connector_provider.hooks.netsuite.ids import id_from_location, record_path
from ml_connector_provider.transport import HttpStatusError


def _pem(key: rsa.RSAPrivateKey | ec.EllipticCurvePrivateKey, password: bytes | None = None) -> str:
    encryption = serialization.BestAvailableEncryption(password) if password else serialization.NoEncryption()
    return key.private_bytes(
        serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8, encryption
    ).decode()


@pytest.fixture(scope="module")
def rsa_key() -> rsa.RSAPrivateKey:
    return rsa.generate_private_key(public_exponent=65537, key_size=3072)


@pytest.fixture(scope="module")
def ec_key() -> ec.EllipticCurvePrivateKey:
    return ec.generate_private_key(ec.SECP256R1())


def settings(pem: str, **extra: Any) -> NetSuiteConnectionSettings:
    extras: dict[str, Any] = {
        "account_id": "1234567_SB1",
        "certificate_id": "cert-abc_123",
        "private_key": pem,
    }
    extras.update(extra)
    return NetSuiteConnectionSettings.from_connection(login="client-0123", extra=extras)


# -- B1: hosts ----------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("account", "slug"),
    [
        ("1234567", "1234567"),
        ("1234567_SB1", "1234567-sb1"),
        ("1234567_sb2", "1234567-sb2"),
        ("TSTDRV99", "tstdrv99"),
    ],
)
def test_account_slug(account: str, slug: str) -> None:
    assert account_slug(account) == slug


@pytest.mark.parametrize("account", ["", "12 34", "1234567_", "acct/../x", "a.b", "1234567__SB1"])
def test_account_slug_refuses_what_is_not_an_account(account: str) -> None:
    with pytest.raises(ValueError, match="account_id"):
        account_slug(account)


def test_urls_from_the_account_id(rsa_key: rsa.RSAPrivateKey) -> None:
    found = settings(_pem(rsa_key))
    assert default_base_url("1234567_SB1") == "https://1234567-sb1.suitetalk.api.netsuite.com"
    assert found.rest_url == "https://1234567-sb1.suitetalk.api.netsuite.com/services/rest"
    assert (
        found.token_url == "https://1234567-sb1.suitetalk.api.netsuite.com/services/rest/auth/oauth2/v1/token"
    )
    assert found.limiter_key == ("netsuite", "1234567_SB1")


@pytest.mark.parametrize(
    "base_url", ["http://127.0.0.1:8123", "http://127.0.0.1:8123/", "http://127.0.0.1:8123/services/rest"]
)
def test_base_url_overrides_the_host(rsa_key: rsa.RSAPrivateKey, base_url: str) -> None:
    found = settings(_pem(rsa_key), base_url=base_url)
    assert found.rest_url == "http://127.0.0.1:8123/services/rest"


# -- connection settings ------------------------------------------------------------------------


def test_defaults(rsa_key: rsa.RSAPrivateKey) -> None:
    found = settings(_pem(rsa_key))
    assert (found.algorithm, found.scope, found.concurrency, found.timeout) == (
        "PS256",
        "rest_webservices",
        5,
        60.0,
    )
    assert found.retry.unprocessed_statuses == frozenset({429})
    assert 429 in found.retry.retry_statuses
    assert found.client_id == "client-0123"
    assert "PRIVATE KEY" not in repr(found)


@pytest.mark.parametrize(
    ("extra", "message"),
    [
        ({"account_id": None}, "no extra 'account_id'"),
        ({"certificate_id": ""}, "no extra 'certificate_id'"),
        ({"certificate_id": "a b"}, "certificate_id"),
        ({"private_key": None}, "no private key"),
        ({"algorithm": "RS256"}, "stopped accepting RSA PKCS#1"),
        ({"algorithm": "HS256"}, "must be one of"),
        ({"algorithm": "ES256"}, "EC private key on curve secp256r1"),
        ({"scope": "restlets"}, "must include rest_webservices"),
        ({"scope": "everything"}, "must be one or more of"),
        ({"concurrency": 0}, "concurrency"),
        ({"concurrency": "many"}, "concurrency"),
        ({"timeout": "-1"}, "timeout"),
        ({"base_url": "ftp://x"}, "base_url"),
        ({"retry_attempts": "0"}, "retry"),
    ],
)
def test_invalid_settings_are_named(rsa_key: rsa.RSAPrivateKey, extra: dict[str, Any], message: str) -> None:
    pem = _pem(rsa_key)
    with pytest.raises(ValueError, match=message) as caught:
        settings(pem, **extra)
    assert "PRIVATE KEY" not in str(caught.value)
    assert pem.splitlines()[1] not in str(caught.value)


def test_no_login_is_named(rsa_key: rsa.RSAPrivateKey) -> None:
    with pytest.raises(ValueError, match="no login: set it to the Client ID"):
        NetSuiteConnectionSettings.from_connection(
            login=" ", extra={"account_id": "1", "certificate_id": "c", "private_key": _pem(rsa_key)}
        )


def test_a_broken_key_is_named_without_quoting_it() -> None:
    broken = "-----BEGIN PRIVATE KEY-----\nAAAAsecretmaterial\n-----END PRIVATE KEY-----\n"
    with pytest.raises(ValueError, match="not a PEM private key") as caught:
        settings(broken)
    assert "secretmaterial" not in str(caught.value)


def test_an_encrypted_key_needs_its_passphrase(rsa_key: rsa.RSAPrivateKey) -> None:
    pem = _pem(rsa_key, b"pass-phrase-1")
    with pytest.raises(ValueError, match="set extra 'private_key_passphrase'"):
        settings(pem)
    with pytest.raises(ValueError, match="passphrase is wrong"):
        settings(pem, private_key_passphrase="nope")
    assert settings(pem, private_key_passphrase="pass-phrase-1").private_key_passphrase == "pass-phrase-1"


def test_a_key_pasted_on_one_line_is_read(rsa_key: rsa.RSAPrivateKey) -> None:
    one_line = _pem(rsa_key).strip().replace("\n", "\\n")
    assert settings(one_line).private_key == _pem(rsa_key)


def test_a_key_file(rsa_key: rsa.RSAPrivateKey, tmp_path: Any) -> None:
    path = tmp_path / "netsuite.pem"
    path.write_text(_pem(rsa_key))
    assert settings("", private_key=None, private_key_file=str(path)).private_key == _pem(rsa_key)
    with pytest.raises(ValueError, match="either extra 'private_key' or extra 'private_key_file'"):
        settings(_pem(rsa_key), private_key_file=str(path))
    with pytest.raises(ValueError, match="cannot be read"):
        settings("", private_key=None, private_key_file=str(tmp_path / "missing.pem"))


def test_scope_lists_are_joined_with_commas(rsa_key: rsa.RSAPrivateKey) -> None:
    assert settings(_pem(rsa_key), scope="rest_webservices restlets").scope == "rest_webservices,restlets"
    assert (
        settings(_pem(rsa_key), scope=["restlets", "rest_webservices"]).scope == "restlets,rest_webservices"
    )


# -- B2: the client assertion ---------------------------------------------------------------------


@pytest.mark.parametrize("algorithm", ["PS256", "ES256"])
def test_the_client_assertion_claims(
    rsa_key: rsa.RSAPrivateKey, ec_key: ec.EllipticCurvePrivateKey, algorithm: str
) -> None:
    key: rsa.RSAPrivateKey | ec.EllipticCurvePrivateKey = rsa_key if algorithm == "PS256" else ec_key
    found = settings(_pem(key), algorithm=algorithm, base_url="http://127.0.0.1:9/")
    provider = _token_provider(found)
    try:
        assertion = provider.assertion()
        header = jwt.get_unverified_header(assertion)
        assert header == {"alg": algorithm, "typ": "JWT", "kid": "cert-abc_123"}
        claims = jwt.decode(
            assertion,
            key.public_key(),
            algorithms=[algorithm],
            audience="http://127.0.0.1:9/services/rest/auth/oauth2/v1/token",
            issuer="client-0123",
        )
        assert claims["scope"] == "rest_webservices"
        assert claims["aud"] == found.token_url
        assert 0 < claims["exp"] - claims["iat"] == ASSERTION_LIFETIME <= 3600
        form, headers = provider._token_request()
        assert form["grant_type"] == "client_credentials"
        assert form["client_assertion_type"] == "urn:ietf:params:oauth:client-assertion-type:jwt-bearer"
        assert "authorization" not in {name.lower() for name in headers}
        assert provider.renew_before == 300
    finally:
        provider.close()


def test_one_token_provider_per_connection_key(rsa_key: rsa.RSAPrivateKey) -> None:
    first = settings(_pem(rsa_key), base_url="http://127.0.0.1:9")
    again = settings(_pem(rsa_key), base_url="http://127.0.0.1:9")
    other = settings(_pem(rsa_key), base_url="http://127.0.0.1:9", certificate_id="cert-2")
    assert _token_provider(first) is _token_provider(again)
    assert _token_provider(first) is not _token_provider(other)
    assert all(_pem(rsa_key).splitlines()[1] not in part for part in first.token_key)


# -- B6: SuiteQL literals ----------------------------------------------------------------------


@pytest.mark.parametrize(
    ("value", "literal"),
    [
        ("prod_ABC", "'prod_ABC'"),
        ("O'Brien", "'O''Brien'"),
        ("x' OR '1'='1", "'x'' OR ''1''=''1'"),
        ("'; DROP TABLE customer; --", "'''; DROP TABLE customer; --'"),
        ("back\\slash", "'back\\slash'"),
        ("", "''"),
        ("Ærøskøbing ≠ 東京", "'Ærøskøbing ≠ 東京'"),
        (42, "42"),
        (-7, "-7"),
        (Decimal("12.50"), "12.50"),
        (Decimal("1E+3"), "1000"),
        (0.1, "0.1"),
        (True, "'T'"),
        (False, "'F'"),
        (date(2024, 1, 31), "TO_DATE('2024-01-31', 'YYYY-MM-DD')"),
        (
            datetime(2024, 1, 31, 23, 5, 9, tzinfo=UTC),
            "TO_TIMESTAMP('2024-01-31 23:05:09', 'YYYY-MM-DD HH24:MI:SS')",
        ),
    ],
)
def test_ql_literal(value: object, literal: str) -> None:
    assert ql_literal(value) == literal


@pytest.mark.parametrize(
    ("value", "reason"),
    [
        ("a\x00b", "NUL character at position 1"),
        ("line\nbreak", "control character U+000A at position 4"),
        ("tab\t", "control character U+0009"),
        ("esc\x1b[0m", "control character U+001B"),
        ("del\x7f", "control character U+007F"),
        ("sep\u2028x", "line/paragraph separator U+2028"),
        ("surrogate\ud800", "lone surrogate U+D800"),
        ("x" * 4001, "longer than 4000 characters"),
        (None, "IS NULL"),
        (float("nan"), "not a finite number"),
        (Decimal("Infinity"), "not a finite number"),
        (b"bytes", "unsupported type bytes"),
        (["a"], "unsupported type list"),
    ],
)
def test_ql_literal_refuses_what_it_cannot_write(value: object, reason: str) -> None:
    with pytest.raises(NetSuiteValueError, match=re.escape(reason)) as caught:
        ql_literal(value)
    assert isinstance(caught.value, NetSuiteValidationError)
    assert isinstance(caught.value, ValueError)
    assert "a SuiteQL value" in str(caught.value)


@pytest.mark.parametrize("name", ["customer", "custentity_stripe_id", "t.externalid", "item2"])
def test_ql_identifier_accepts_plain_names(name: str) -> None:
    assert ql_identifier(name) == name


@pytest.mark.parametrize("name", ["", "1abc", "a b", "a;b", "x'--", 'a"b', "a.b.c", "a-b", "(select)"])
def test_ql_identifier_refuses_anything_else(name: str) -> None:
    with pytest.raises(NetSuiteValueError, match="table or column name"):
        ql_identifier(name)


def test_select_where_equals() -> None:
    assert (
        select_where_equals("customer", ["id", "externalid"], "externalid", "stripe:cus_O'1")
        == "SELECT id, externalid FROM customer WHERE externalid = 'stripe:cus_O''1' ORDER BY id"
    )


def test_select_where_in_chunks_distinct_values() -> None:
    values = [f"prod_{n}" for n in range(5)] + ["prod_0"]
    queries = select_where_in("item", ["id"], "custitem_stripe_product", values, chunk_size=2)
    assert queries == [
        "SELECT id FROM item WHERE custitem_stripe_product IN ('prod_0', 'prod_1') ORDER BY id",
        "SELECT id FROM item WHERE custitem_stripe_product IN ('prod_2', 'prod_3') ORDER BY id",
        "SELECT id FROM item WHERE custitem_stripe_product IN ('prod_4') ORDER BY id",
    ]
    assert select_where_in("item", ["id"], "externalid", []) == []
    with pytest.raises(ValueError, match="1 to 1000"):
        select_where_in("item", ["id"], "externalid", ["a"], chunk_size=1001)


def test_one_hostile_value_in_a_list_refuses_the_query() -> None:
    with pytest.raises(NetSuiteValueError, match="NUL"):
        select_where_in("item", ["id"], "externalid", ["ok", "bad\x00"])


# -- B3: paths, external ids, Location --------------------------------------------------------


@pytest.mark.parametrize("eid", ["stripe:in_1P2x", "STRIPE-ch_3N", "a", "x.y_z-1:2", "A" * 100])
def test_external_ids_accepted(eid: str) -> None:
    assert check_external_id("invoice", eid) == eid


@pytest.mark.parametrize(
    ("eid", "reason"),
    [
        ("", "non-empty"),
        ("A" * 101, "longer than 100"),
        ("a/b", "'/'"),
        ("a b", "' '"),
        ("a?b", "'?'"),
        ("a#b", "'#'"),
        ("a%2F", "'%'"),
        ("é", "'é'"),
        (":lead", "first must be a letter or digit"),
        ("-lead", "first must be a letter or digit"),
    ],
)
def test_external_ids_refused(eid: str, reason: str) -> None:
    with pytest.raises(NetSuiteValueError, match="externalId of a invoice") as caught:
        check_external_id("invoice", eid)
    assert reason in str(caught.value)


def test_record_paths() -> None:
    assert record_path("customerPayment") == "record/v1/customerPayment"
    assert record_path("invoice", "eid:stripe:in_1") == "record/v1/invoice/eid:stripe:in_1"
    with pytest.raises(ValueError, match="record type"):
        record_path("invoice/../customer")


@pytest.mark.parametrize(
    ("location", "found"),
    [
        ("https://1234567.suitetalk.api.netsuite.com/services/rest/record/v1/customer/647", "647"),
        ("/services/rest/record/v1/customer/99/", "99"),
        (None, None),
        ("", None),
        ("https://x/services/rest/record/v1/customer/", "customer"),
        ("https://x/a b", None),
    ],
)
def test_id_from_location(location: str | None, found: str | None) -> None:
    assert id_from_location(location) == found


# -- B8: errors ---------------------------------------------------------------------------------

INVALID_LOGIN = {
    "type": "https://www.rfc-editor.org/rfc/rfc9110.html#section-15.5.2",
    "title": "Unauthorized",
    "status": 401,
    "o:errorDetails": [
        {
            "detail": "Invalid login attempt. For more details, see the Login Audit Trail in the NetSuite UI at "
            "Setup > Users/Roles > User Management > View Login Audit Trail.",
            "o:errorCode": "INVALID_LOGIN",
        }
    ],
}
CONCURRENCY = {
    "type": "https://www.rfc-editor.org/rfc/rfc6585.html#section-4",
    "title": "Too Many Requests",
    "status": 429,
    "o:errorDetails": [
        {
            "detail": "Concurrent request limit exceeded. Request blocked.",
            "o:errorCode": "CONCURRENCY_LIMIT_EXCEEDED",
        }
    ],
}
INVALID_REF = {
    "type": "https://www.w3.org/Protocols/rfc2616/rfc2616-sec10.html#sec10.4.1",
    "title": "Bad Request",
    "status": 400,
    "o:errorDetails": [
        {
            "detail": "Invalid Field Value 99 for the following field: entitystatus",
            "o:errorCode": "INVALID_KEY_OR_REF",
            "o:errorPath": "entitystatus",
        }
    ],
}
FORBIDDEN = {
    "title": "Forbidden",
    "status": 403,
    "o:errorDetails": [{"detail": "Permission Violation", "o:errorCode": "INSUFFICIENT_PERMISSION"}],
}
NOT_FOUND = {
    "title": "Not Found",
    "status": 404,
    "o:errorDetails": [{"detail": "The record instance does not exist.", "o:errorCode": "NONEXISTENT_ID"}],
}
QUERY = {
    "title": "Invalid search query.",
    "status": 400,
    "o:errorDetails": [
        {"detail": "Search error occurred: Field 'foo' not found.", "o:errorCode": "INVALID_PARAMETER"}
    ],
}


def status_error(status: int, body: Any, request_id: str | None = None) -> HttpStatusError:
    text = body if isinstance(body, str) else json.dumps(body)
    return HttpStatusError(
        status, "POST", "https://x/services/rest/record/v1/invoice", text[:500], request_id, body=text
    )


def test_parse_error_body_reads_the_envelope() -> None:
    found = parse_error_body(INVALID_REF)
    assert found.codes == ("INVALID_KEY_OR_REF",)
    assert found.paths == ("entitystatus",)
    assert found.detail == "Invalid Field Value 99 for the following field: entitystatus"
    assert found.title == "Bad Request"


def test_parse_error_body_reads_other_shapes() -> None:
    assert parse_error_body({"error": "invalid_client", "error_description": "bad kid"}).detail == (
        "invalid_client: bad kid"
    )
    assert parse_error_body({"error": "invalid_grant"}).detail == "invalid_grant"
    assert parse_error_body(None, "<html><title>502 Bad Gateway</title><body>nginx</body></html>").detail == (
        "502 Bad Gateway nginx"
    )
    assert parse_error_body(None, "").detail == "(empty body)"
    assert parse_error_body({"o:errorDetails": "not a list"}, "raw").detail == "raw"


def test_parse_error_body_scrubs_secrets() -> None:
    found = parse_error_body(
        {"error": "invalid_client", "error_description": "token eyJsecret"}, secrets=["eyJsecret"]
    )
    assert "eyJsecret" not in found.detail


@pytest.mark.parametrize(
    ("status", "body", "expected"),
    [
        (429, CONCURRENCY, True),
        (429, {"o:errorDetails": [{"o:errorCode": "USER_ERROR"}]}, True),
        (400, {**CONCURRENCY, "status": 400}, True),
        (400, INVALID_REF, False),
        (400, None, False),
        (500, CONCURRENCY, False),
    ],
)
def test_is_concurrency_limit(status: int, body: Any, expected: bool) -> None:
    assert is_concurrency_limit(status, body) is expected


@pytest.mark.parametrize(
    ("status", "body", "record_type", "cls"),
    [
        (401, INVALID_LOGIN, "invoice", NetSuiteAuthError),
        (403, FORBIDDEN, "invoice", NetSuitePermissionError),
        (404, NOT_FOUND, "invoice", NetSuiteNotFoundError),
        (429, CONCURRENCY, "invoice", NetSuiteConcurrencyError),
        (400, {**CONCURRENCY, "status": 400}, "invoice", NetSuiteConcurrencyError),
        (400, INVALID_REF, "invoice", NetSuiteValidationError),
        (400, QUERY, None, NetSuiteQueryError),
        (500, {"title": "Internal Server Error", "status": 500}, "invoice", NetSuiteError),
    ],
)
def test_netsuite_error_classes(
    status: int, body: Any, record_type: str | None, cls: type[NetSuiteError]
) -> None:
    error = netsuite_error("POST", record_type, None, status_error(status, body))
    assert type(error) is cls
    assert error.status == status


def test_a_validation_error_names_the_record_the_code_and_the_field() -> None:
    error = netsuite_error("PUT", "invoice", "eid:stripe:ch_1", status_error(400, INVALID_REF, "req-9"))
    assert str(error) == (
        "NetSuite rejected PUT invoice eid:stripe:ch_1 with HTTP 400 [INVALID_KEY_OR_REF]: Invalid Field Value 99 "
        "for the following field: entitystatus (field entitystatus) (request id req-9)"
    )
    assert (error.record_type, error.record_ref, error.error_code) == (
        "invoice",
        "eid:stripe:ch_1",
        "INVALID_KEY_OR_REF",
    )


def test_a_concurrency_error_says_what_to_do() -> None:
    error = netsuite_error(
        "GET", "customer", "12", status_error(429, CONCURRENCY), concurrency_exhausted=True
    )
    assert "concurrency limit stayed exhausted" in str(error)
    assert "Integration Governance" in str(error)


def test_a_gateway_page_reads_as_text() -> None:
    page = "<html><head><title>503 Service Unavailable</title></head><body><h1>Down for maintenance</h1></body></html>"
    error = netsuite_error("GET", "invoice", "7", status_error(503, page))
    assert "503 Service Unavailable: Down for maintenance" in str(error)
    assert "<" not in str(error)


def test_errors_survive_pickling() -> None:
    import pickle

    error = netsuite_error("PUT", "invoice", "eid:x", status_error(400, INVALID_REF))
    copy = pickle.loads(pickle.dumps(error))  # noqa: S301 - our own bytes
    assert (type(copy), str(copy), copy.error_paths) == (
        NetSuiteValidationError,
        str(error),
        ("entitystatus",),
    )
    value_error = pickle.loads(pickle.dumps(NetSuiteValueError("a SuiteQL value", "a\x00", "NUL")))  # noqa: S301
    assert "NUL" in str(value_error)


# -- the hook on an Airflow connection --------------------------------------------------------------


def test_the_hook_names_its_connection_when_a_field_is_wrong(
    rsa_key: rsa.RSAPrivateKey, monkeypatch: pytest.MonkeyPatch
) -> None:
    from ml_connector_provider.hooks.netsuite import NetSuiteHook

    pem = _pem(rsa_key)
    connection = {
        "conn_type": "netsuite",
        "login": "client-0123",
        "extra": {
            "account_id": "1234567_SB1",
            "certificate_id": "c1",
            "private_key": pem,
            "algorithm": "RS256",
        },
    }
    monkeypatch.setenv("AIRFLOW_CONN_NS_BAD", json.dumps(connection))
    hook = NetSuiteHook("ns_bad")
    with pytest.raises(ValueError, match="NetSuite connection 'ns_bad': extra 'algorithm' RS256"):
        hook.settings  # noqa: B018 - reading the property validates the connection
    ok, message = hook.test_connection()
    assert not ok
    assert "RS256" in message
    assert pem.splitlines()[1] not in message


def test_a_short_rsa_key_is_used_with_a_warning(caplog: pytest.LogCaptureFixture) -> None:
    short = rsa.generate_private_key(public_exponent=65537, key_size=2048)
    with caplog.at_level("WARNING", logger="ml_connector_provider.hooks.netsuite.connection"):
        assert settings(_pem(short)).algorithm == "PS256"
    assert "2048 bits" in caplog.text
    assert "3072 or 4096" in caplog.text
