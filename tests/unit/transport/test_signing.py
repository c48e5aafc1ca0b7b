"""Auth providers that sign the whole request, against a real local HTTP server.

The test provider signs like request-signing schemes do (OAuth 1.0a, cloud request signatures): an
HMAC over the method, the full URL with its query, a nonce and the body. The server side recomputes
it from what actually arrived, so a signature made over anything but the bytes on the wire fails.
"""

from __future__ import annotations

import base64
import hashlib
import hmac
import itertools
import threading
from typing import TYPE_CHECKING

import pytest
import requests

from ml_connector_provider.transport import AuthProvider, HttpTransport, RetryExhausted, RetryPolicy

if TYPE_CHECKING:
    from tests.unit.transport.conftest import ScriptedServer, Seen, Sleeps

SIGNING_KEY = b"request-signing-key-5Jq"


def _digest(method: str, url: str, nonce: str, body: bytes) -> str:
    message = b"\n".join([method.encode(), url.encode(), nonce.encode(), body])
    return base64.b64encode(hmac.new(SIGNING_KEY, message, hashlib.sha256).digest()).decode()


class HmacRequestSigner(AuthProvider):
    """Test-only signing provider: ``X-Nonce`` and an ``Authorization: HMAC`` signature."""

    def __init__(self) -> None:
        self._nonces = itertools.count(1)
        self._lock = threading.Lock()
        self.signed: list[str] = []

    def sign(self, request: requests.PreparedRequest) -> None:
        with self._lock:
            nonce = f"n-{next(self._nonces)}"
        body = request.body or b""
        if isinstance(body, str):
            body = body.encode()
        signature = _digest(request.method or "", request.url or "", nonce, body)
        request.headers["X-Nonce"] = nonce
        request.headers["Authorization"] = f"HMAC {signature}"
        self.signed.append(signature)


def _valid(server: ScriptedServer, seen: Seen) -> bool:
    """What the server checks: the signature over the request exactly as it arrived."""
    expected = _digest(seen.method, server.url + seen.raw_target, seen.headers["x-nonce"], seen.body)
    return hmac.compare_digest(seen.headers["authorization"], f"HMAC {expected}")


def test_the_signature_covers_method_url_with_query_and_body_as_sent(
    server: ScriptedServer, sleeps: Sleeps
) -> None:
    signer = HmacRequestSigner()

    with HttpTransport(server.url + "/services/rest", auth=signer, sleep=sleeps) as http:
        http.post(
            "record/v1/customer",
            params={"expandSubResources": "true", "q": "name IS ü & co"},
            json={"companyName": "Acme", "externalId": "C-1"},
            headers={"Prefer": "transient"},
        )

    [seen] = server.requests
    assert seen.raw_target.startswith("/services/rest/record/v1/customer?expandSubResources=true&q=")
    assert seen.body == b'{"companyName": "Acme", "externalId": "C-1"}'
    assert seen.headers["prefer"] == "transient"
    assert _valid(server, seen)


def test_a_signature_over_other_bytes_is_refused_by_the_check(server: ScriptedServer, sleeps: Sleeps) -> None:
    # The check above can fail: a body changed after signing no longer matches.
    class SignsThenTampers(HmacRequestSigner):
        def sign(self, request: requests.PreparedRequest) -> None:
            super().sign(request)
            request.body = b'{"tampered": true}'

    with HttpTransport(server.url, auth=SignsThenTampers(), sleep=sleeps) as http:
        http.post("/v1/things", json={"original": True})

    [seen] = server.requests
    assert seen.body == b'{"tampered": true}'
    assert not _valid(server, seen)


def test_every_retry_is_signed_again_with_a_fresh_nonce(server: ScriptedServer, sleeps: Sleeps) -> None:
    server.enqueue(503, body="busy")
    server.enqueue(429, headers={"Retry-After": "0"})
    signer = HmacRequestSigner()

    with HttpTransport(server.url, auth=signer, sleep=sleeps, retry=RetryPolicy(attempts=3)) as http:
        response = http.put("/v1/items/7", data=b"quantity=3", params={"version": "2"})

    assert response.status_code == 200
    assert len(server.requests) == 3
    assert [seen.headers["x-nonce"] for seen in server.requests] == ["n-1", "n-2", "n-3"]
    assert all(_valid(server, seen) for seen in server.requests)
    assert len(set(signer.signed)) == 3


def test_only_requests_to_the_base_origin_are_signed(server: ScriptedServer, sleeps: Sleeps) -> None:
    signer = HmacRequestSigner()
    foreign = server.url.replace("127.0.0.1", "localhost")

    with HttpTransport(server.url, auth=signer, sleep=sleeps) as http:
        http.get("/v1/own")
        http.get(foreign + "/elsewhere")

    assert "authorization" in server.requests[0].headers
    assert "authorization" not in server.requests[1].headers
    assert len(signer.signed) == 1


def test_a_provider_that_neither_applies_nor_signs_is_refused(server: ScriptedServer, sleeps: Sleeps) -> None:
    with (
        HttpTransport(server.url, auth=AuthProvider(), sleep=sleeps) as http,
        pytest.raises(NotImplementedError, match="must implement apply"),
    ):
        http.get("/v1/anything")
    assert server.requests == []


def test_exhausted_signed_retries_still_raise_retry_exhausted(server: ScriptedServer, sleeps: Sleeps) -> None:
    for _ in range(2):
        server.enqueue(503)
    signer = HmacRequestSigner()

    with (
        HttpTransport(server.url, auth=signer, sleep=sleeps, retry=RetryPolicy(attempts=2)) as http,
        pytest.raises(RetryExhausted) as caught,
    ):
        http.get("/v1/busy")

    assert caught.value.attempts == 2
    assert caught.value.status == 503
    assert [seen.headers["x-nonce"] for seen in server.requests] == ["n-1", "n-2"]
    assert "HMAC" not in str(caught.value)
