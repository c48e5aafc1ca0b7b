"""The one redaction used by the transport, the hooks and the triggers."""

from __future__ import annotations

import pytest

from ml_connector_provider.transport import REDACTED, redact_text

PEM = "-----BEGIN OPENSSH PRIVATE KEY-----\nb3BlbnNzaC1rZXk\n-----END OPENSSH PRIVATE KEY-----"


@pytest.mark.parametrize(
    ("text", "secrets", "expected"),
    [
        pytest.param(
            "login as alice with hunter2!", ["hunter2!"], "login as alice with ***", id="known-value"
        ),
        pytest.param(
            "token abcdef and abcdefgh", ["abcdef", "abcdefgh"], "token *** and ***", id="longest-first"
        ),
        pytest.param("pin 12 of 123412", ["12"], "pin 12 of 123412", id="too-short-to-search"),
        pytest.param("code abc here", ["abc"], "code *** here", id="three-characters"),
        pytest.param("no secrets here", [None, ""], "no secrets here", id="none-and-empty-ignored"),
        pytest.param(f"bad key {PEM} for login", [], "bad key *** for login", id="pem-block"),
        pytest.param(
            "Invalid API Key provided: sk_live_51AbCdEf",
            [],
            "Invalid API Key provided: ***",
            id="stripe-secret-key",
        ),
        pytest.param("signing with whsec_0123456789abc", [], "signing with ***", id="webhook-secret"),
        pytest.param(
            "Invalid API Key provided: sk_test_********1234",
            [],
            "Invalid API Key provided: ***",
            id="stripe-masked-echo",
        ),
        pytest.param(
            "Invalid API Key provided: my-k****************wxyz; check it",
            [],
            "Invalid API Key provided: ***; check it",
            id="masked-echo-any-format",
        ),
        pytest.param(
            "Authorization: Bearer eyJhbGciOi.x-y_z and Basic dXNlcjpwdw==",
            [],
            "Authorization: Bearer *** and Basic ***",
            id="auth-schemes",
        ),
        pytest.param(
            "GET /p?access_token=abc&limit=5 client_secret=s3cr3t",
            [],
            "GET /p?access_token=***&limit=5 client_secret=***",
            id="secret-pairs",
        ),
        pytest.param("already client_secret=*** here", [], "already client_secret=*** here", id="idempotent"),
    ],
)
def test_redact_text(text: str, secrets: list[str | None], expected: str) -> None:
    assert redact_text(text, secrets) == expected


def test_redacting_twice_changes_nothing_more() -> None:
    once = redact_text(f"key=sk_test_abc123 {PEM} Bearer tok-1 password hunter2!", ["hunter2!"])

    assert redact_text(once, ["hunter2!"]) == once
    assert once == f"key={REDACTED} {REDACTED} Bearer {REDACTED} password {REDACTED}"
