"""HttpTransport against a real local HTTP server: retries, backoff, timeouts, pooling, errors."""

from __future__ import annotations

import email.utils
import logging
import pickle
import random
import time
from typing import TYPE_CHECKING, Any

import pytest
import requests
import tenacity

from ml_connector_provider.transport import (
    ApiKeyAuth,
    AuthError,
    ConnectionFailed,
    HttpStatusError,
    HttpTransport,
    RetryAfterWait,
    RetryExhausted,
    RetryPolicy,
    parse_retry_after,
    redact_url,
)

if TYPE_CHECKING:
    from tests.unit.transport.conftest import Clock, ScriptedServer, Sleeps

POLICY = RetryPolicy(attempts=3, base_delay=1.0, max_delay=8.0, max_retry_after=60.0)
STRIPE_KEY = "sk_test_51Hx9ZqLkT0pSecretKeyValue"


def transport(server: ScriptedServer, sleeps: Sleeps, **kwargs: Any) -> HttpTransport:
    kwargs.setdefault("retry", POLICY)
    kwargs.setdefault("timeout", (2.0, 2.0))
    return HttpTransport(server.url, sleep=sleeps, **kwargs)


# -- success path, URLs, headers ----------------------------------------------------------------


def test_get_returns_the_response_and_sends_default_and_request_headers(
    server: ScriptedServer, sleeps: Sleeps
) -> None:
    with transport(server, sleeps, headers={"X-Tenant": "acme"}) as http:
        response = http.get("/v1/customers", params={"limit": 2}, headers={"X-Trace": "t-1"})

    assert response.status_code == 200
    assert response.json() == {"ok": True, "method": "GET", "path": "/v1/customers"}
    [seen] = server.requests
    assert seen.query == {"limit": ["2"]}
    assert seen.headers["x-tenant"] == "acme"
    assert seen.headers["x-trace"] == "t-1"
    assert seen.headers["accept"] == "application/json"
    assert seen.headers["user-agent"] == "ml-connector-provider"
    assert "authorization" not in seen.headers
    assert sleeps == []


def test_relative_paths_are_appended_to_the_base_url_and_absolute_urls_kept(
    server: ScriptedServer, sleeps: Sleeps
) -> None:
    with HttpTransport(server.url + "/fscmRestApi/resources/11.13.18.05/", sleep=sleeps) as http:
        http.get("invoices")
        http.get("/suppliers")
        http.get(server.url + "/elsewhere/item")
        http.post("receivablesInvoices", json={"InvoiceNumber": "INV-1"})

    assert [(s.method, s.path) for s in server.requests] == [
        ("GET", "/fscmRestApi/resources/11.13.18.05/invoices"),
        ("GET", "/fscmRestApi/resources/11.13.18.05/suppliers"),
        ("GET", "/elsewhere/item"),
        ("POST", "/fscmRestApi/resources/11.13.18.05/receivablesInvoices"),
    ]
    assert server.requests[3].body == b'{"InvoiceNumber": "INV-1"}'


def test_a_relative_path_without_base_url_is_rejected() -> None:
    with pytest.raises(ValueError, match="needs a transport with a base_url"):
        HttpTransport().get("/v1/customers")


def test_sequential_requests_reuse_one_pooled_connection(server: ScriptedServer, sleeps: Sleeps) -> None:
    with transport(server, sleeps, pool_size=2) as http:
        for _ in range(4):
            http.get("/ping")

    ports = [seen.client_port for seen in server.requests]
    assert len(ports) == 4
    assert len(set(ports)) == 1


def test_separate_transports_use_separate_connections(server: ScriptedServer, sleeps: Sleeps) -> None:
    with transport(server, sleeps) as first, transport(server, sleeps) as second:
        first.get("/a")
        second.get("/b")

    assert server.requests[0].client_port != server.requests[1].client_port


# -- retries on statuses ------------------------------------------------------------------------


def test_429_with_retry_after_seconds_sleeps_exactly_that_long(
    server: ScriptedServer, sleeps: Sleeps
) -> None:
    server.enqueue(429, body={"error": {"code": "rate_limit"}}, headers={"Retry-After": "7"})

    with transport(server, sleeps) as http:
        response = http.get("/v1/invoices")

    assert response.status_code == 200
    assert sleeps == [7.0]
    assert len(server.requests) == 2


def test_429_without_retry_after_backs_off_exponentially_with_full_jitter(
    server: ScriptedServer, sleeps: Sleeps
) -> None:
    for _ in range(4):
        server.enqueue(429)
    policy = RetryPolicy(attempts=5, base_delay=1.0, max_delay=3.0)

    with transport(server, sleeps, retry=policy) as http:
        response = http.get("/v1/invoices")

    assert response.status_code == 200
    assert len(server.requests) == 5
    assert len(sleeps) == 4
    # windows: 1, 2, then capped at max_delay (3 instead of 4, 3 instead of 8)
    for delay, window in zip(sleeps, [1.0, 2.0, 3.0, 3.0], strict=True):
        assert 0.0 <= delay <= window


def test_backoff_windows_are_drawn_uniformly_with_the_policy_bounds() -> None:
    policy = RetryPolicy(attempts=6, base_delay=0.5, max_delay=30.0)
    wait = RetryAfterWait(policy)
    state = tenacity.RetryCallState(retry_object=tenacity.Retrying(), fn=None, args=(), kwargs={})
    state.set_exception((RuntimeError, RuntimeError("boom"), None))

    observed: list[float] = []
    random.seed(20240521)
    for attempt in range(1, 9):
        state.attempt_number = attempt
        observed.append(wait(state))
    random.seed(20240521)
    expected = [random.uniform(0, min(30.0, 0.5 * 2 ** (n - 1))) for n in range(1, 9)]

    assert observed == expected


def test_retry_after_http_date_is_converted_with_the_injected_clock(
    server: ScriptedServer, sleeps: Sleeps, clock: Clock
) -> None:
    retry_at = email.utils.formatdate(clock.now + 12, usegmt=True)
    server.enqueue(503, body="maintenance", headers={"Retry-After": retry_at})

    with transport(server, sleeps, clock=clock) as http:
        response = http.get("/v1/balance")

    assert response.status_code == 200
    assert sleeps == [12.0]


def test_retry_after_is_capped_by_max_retry_after(server: ScriptedServer, sleeps: Sleeps) -> None:
    server.enqueue(429, headers={"Retry-After": "3600"})

    with transport(server, sleeps) as http:
        http.get("/v1/balance")

    assert sleeps == [60.0]


def test_503_then_success(server: ScriptedServer, sleeps: Sleeps) -> None:
    server.enqueue(503, body="Service Unavailable")

    with transport(server, sleeps) as http:
        response = http.get("/services/rest/record/v1/customer/42")

    assert response.json()["path"] == "/services/rest/record/v1/customer/42"
    assert len(server.requests) == 2
    assert len(sleeps) == 1


def test_exhausted_retries_raise_with_method_path_status_and_no_secret(
    server: ScriptedServer, sleeps: Sleeps
) -> None:
    for _ in range(3):
        server.enqueue(
            503,
            body=f"upstream unavailable; request had Authorization: Bearer {STRIPE_KEY}",
            headers={"Request-Id": "req_123"},
        )

    with (
        transport(server, sleeps, auth=ApiKeyAuth(STRIPE_KEY)) as http,
        pytest.raises(RetryExhausted) as caught,
    ):
        http.get("/v1/charges", params={"limit": "10", "api_key": "query-secret-9f8e7d"})

    error = caught.value
    message = str(error)
    assert error.attempts == 3
    assert error.status == 503
    assert isinstance(error.last_error, HttpStatusError)
    assert error.last_error.request_id == "req_123"
    assert message.startswith(f"giving up after 3 attempts: GET {server.url}/v1/charges?")
    assert "limit=10" in message
    assert "api_key=***" in message
    assert "HTTP 503 Service Unavailable" in message
    assert "(request id req_123)" in message
    assert "upstream unavailable; request had Authorization: Bearer ***" in message
    assert STRIPE_KEY not in message
    assert "query-secret-9f8e7d" not in message
    assert STRIPE_KEY not in error.last_error.body
    assert len(server.requests) == 3
    assert len(sleeps) == 2


def test_a_400_is_not_retried_and_carries_a_short_excerpt_and_the_full_body(
    server: ScriptedServer, sleeps: Sleeps
) -> None:
    detail = "Invalid Field Value 99 for the following field: entitystatus. " * 20
    server.enqueue(
        400,
        body={"o:errorDetails": [{"detail": detail, "o:errorCode": "INVALID_KEY_OR_REF"}]},
        headers={"X-Request-Id": "ns-op-77"},
    )

    with transport(server, sleeps) as http, pytest.raises(HttpStatusError) as caught:
        http.post("/record/v1/customer", json={"entitystatus": 99})

    error = caught.value
    assert error.status == 400
    assert error.method == "POST"
    assert error.url == f"{server.url}/record/v1/customer"
    assert error.request_id == "ns-op-77"
    assert len(error.body_excerpt) == 500
    assert error.body_excerpt.endswith("…")
    assert error.json()["o:errorDetails"][0]["o:errorCode"] == "INVALID_KEY_OR_REF"
    assert str(error).startswith(f"POST {server.url}/record/v1/customer -> HTTP 400 Bad Request")
    assert len(server.requests) == 1
    assert sleeps == []


def test_expected_statuses_are_returned_instead_of_raised(server: ScriptedServer, sleeps: Sleeps) -> None:
    server.enqueue(404, body={"error": {"code": "resource_missing"}})

    with transport(server, sleeps) as http:
        response = http.get("/v1/customers/cus_missing", expected={404})

    assert response.status_code == 404
    assert response.json() == {"error": {"code": "resource_missing"}}
    assert len(server.requests) == 1


def test_a_non_idempotent_post_is_retried_on_429_and_503_but_not_on_502_or_504(
    server: ScriptedServer, sleeps: Sleeps
) -> None:
    server.enqueue(429)
    server.enqueue(503)
    with transport(server, sleeps) as http:
        assert http.post("/v1/invoices", data={"customer": "cus_1"}).status_code == 200
    assert len(server.requests) == 3

    for status in (502, 504):
        server.reset()
        server.enqueue(status)
        with transport(server, sleeps) as http, pytest.raises(HttpStatusError) as caught:
            http.post("/v1/invoices", data={"customer": "cus_1"})
        assert caught.value.status == status
        assert len(server.requests) == 1


def test_an_idempotent_post_is_retried_on_502(server: ScriptedServer, sleeps: Sleeps) -> None:
    server.enqueue(502)

    with transport(server, sleeps) as http:
        response = http.post("/v1/invoices", data={"customer": "cus_1"}, idempotent=True)

    assert response.status_code == 200
    assert len(server.requests) == 2


# -- Stripe-Should-Retry ------------------------------------------------------------------------


def test_stripe_should_retry_false_stops_a_retryable_status(server: ScriptedServer, sleeps: Sleeps) -> None:
    server.enqueue(503, headers={"Stripe-Should-Retry": "false"})

    with transport(server, sleeps) as http, pytest.raises(HttpStatusError) as caught:
        http.get("/v1/balance")

    assert caught.value.status == 503
    assert len(server.requests) == 1
    assert sleeps == []


def test_stripe_should_retry_true_retries_a_409_and_a_post_500(
    server: ScriptedServer, sleeps: Sleeps
) -> None:
    server.enqueue(409, headers={"Stripe-Should-Retry": "true"})
    server.enqueue(500, headers={"Stripe-Should-Retry": "true"})

    with transport(server, sleeps) as http:
        response = http.post("/v1/customers", data={"name": "Acme"})

    assert response.status_code == 200
    assert [s.method for s in server.requests] == ["POST", "POST", "POST"]
    assert len(sleeps) == 2


def test_a_500_without_stripe_should_retry_is_not_retried(server: ScriptedServer, sleeps: Sleeps) -> None:
    server.enqueue(500, body="internal error")

    with transport(server, sleeps) as http, pytest.raises(HttpStatusError):
        http.get("/v1/balance")

    assert len(server.requests) == 1


# -- dropped connections, refused connections, timeouts -----------------------------------------


def test_a_post_is_not_retried_after_a_dropped_response(server: ScriptedServer, sleeps: Sleeps) -> None:
    server.enqueue(200, drop=True)
    server.enqueue(200)

    with transport(server, sleeps) as http, pytest.raises(ConnectionFailed) as caught:
        http.post("/v1/invoices", json={"amount": 100})

    error = caught.value
    assert error.request_sent is True
    assert error.reason == "ChunkedEncodingError"
    assert "not retried because POST is not idempotent" in str(error)
    assert len(server.requests) == 1
    assert sleeps == []


def test_a_post_marked_idempotent_is_retried_after_a_dropped_response(
    server: ScriptedServer, sleeps: Sleeps
) -> None:
    server.enqueue(200, drop=True)

    with transport(server, sleeps) as http:
        response = http.post("/v1/invoices", json={"amount": 100}, idempotent=True)

    assert response.status_code == 200
    assert [s.body for s in server.requests] == [b'{"amount": 100}', b'{"amount": 100}']
    assert len(sleeps) == 1


def test_a_post_with_an_idempotency_key_is_retried_after_a_dropped_response(
    server: ScriptedServer, sleeps: Sleeps
) -> None:
    server.enqueue(200, drop=True)

    with transport(server, sleeps) as http:
        response = http.post("/v1/invoices", data={"amount": "100"}, headers={"Idempotency-Key": "k-1"})

    assert response.status_code == 200
    assert [s.headers["idempotency-key"] for s in server.requests] == ["k-1", "k-1"]


def test_a_get_is_retried_after_a_dropped_response(server: ScriptedServer, sleeps: Sleeps) -> None:
    server.enqueue(200, drop=True)
    server.enqueue(200, drop=True)

    with transport(server, sleeps) as http:
        response = http.get("/v1/events")

    assert response.status_code == 200
    assert len(server.requests) == 3


@pytest.mark.parametrize("method", ["GET", "POST"])
def test_refused_connections_are_retried_then_exhausted(
    refused_url: str, sleeps: Sleeps, method: str
) -> None:
    with (
        HttpTransport(refused_url, retry=POLICY, sleep=sleeps) as http,
        pytest.raises(RetryExhausted) as caught,
    ):
        http.request(method, "/v1/balance")

    error = caught.value
    assert error.attempts == 3
    assert error.status is None
    assert isinstance(error.last_error, ConnectionFailed)
    assert error.last_error.request_sent is False
    assert f"{method} {refused_url}/v1/balance: connection failed (ConnectionError" in str(error)
    assert len(sleeps) == 2
    assert http.stats.snapshot()["failures"] == 3


def test_a_read_timeout_is_retried_for_a_get(server: ScriptedServer, sleeps: Sleeps) -> None:
    server.enqueue(200, delay=0.6, body={"slow": True})
    server.enqueue(200, body={"slow": False})

    with transport(server, sleeps, timeout=(1.0, 0.2)) as http:
        response = http.get("/v1/events")

    assert response.json() == {"slow": False}
    assert len(server.requests) == 2
    assert len(sleeps) == 1


def test_a_read_timeout_is_not_retried_for_a_post(server: ScriptedServer, sleeps: Sleeps) -> None:
    server.enqueue(200, delay=0.6)

    with transport(server, sleeps) as http, pytest.raises(ConnectionFailed) as caught:
        http.post("/v1/invoices", json={}, timeout=(1.0, 0.2))

    assert caught.value.reason == "ReadTimeout"
    assert caught.value.request_sent is True
    assert len(server.requests) == 1
    assert sleeps == []


def test_real_time_retry_waits_for_retry_after(server: ScriptedServer) -> None:
    server.enqueue(503, headers={"Retry-After": "0.3"})
    server.enqueue(429, headers={"Retry-After": "0.2"})

    started = time.monotonic()
    with HttpTransport(server.url, retry=POLICY) as http:
        response = http.get("/v1/balance")
    elapsed = time.monotonic() - started

    assert response.status_code == 200
    assert 0.5 <= elapsed < 3.0
    assert len(server.requests) == 3


# -- authentication on the API ------------------------------------------------------------------


def test_a_401_with_static_credentials_is_not_repeated(server: ScriptedServer, sleeps: Sleeps) -> None:
    server.enqueue(401, body={"error": {"message": "Invalid API Key provided: sk_test_****alue"}})

    with transport(server, sleeps, auth=ApiKeyAuth(STRIPE_KEY)) as http, pytest.raises(AuthError) as caught:
        http.get("/v1/balance")

    assert caught.value.status == 401
    assert str(caught.value).startswith(f"GET {server.url}/v1/balance: credentials rejected (HTTP 401)")
    assert server.requests[0].headers["authorization"] == f"Bearer {STRIPE_KEY}"
    assert len(server.requests) == 1


def test_credentials_are_not_sent_to_another_origin(server: ScriptedServer, sleeps: Sleeps) -> None:
    foreign = server.url.replace("127.0.0.1", "localhost")

    with transport(server, sleeps, auth=ApiKeyAuth(STRIPE_KEY)) as http:
        http.get("/v1/files/file_1")
        http.get(foreign + "/download/file_1")

    assert server.requests[0].headers["authorization"] == f"Bearer {STRIPE_KEY}"
    assert "authorization" not in server.requests[1].headers


# -- logging and counters -----------------------------------------------------------------------


def test_one_log_line_per_retry_without_headers_or_secrets(
    server: ScriptedServer, sleeps: Sleeps, caplog: pytest.LogCaptureFixture
) -> None:
    server.enqueue(503, headers={"Retry-After": "2"})
    server.enqueue(429, headers={"Retry-After": "5"})
    caplog.set_level(logging.INFO, logger="ml_connector_provider.transport.http")

    with transport(server, sleeps, auth=ApiKeyAuth(STRIPE_KEY)) as http:
        http.get("/v1/charges", params={"token": "tok-in-query-123"})

    lines = [r.getMessage() for r in caplog.records if r.name == "ml_connector_provider.transport.http"]
    assert lines == [
        f"GET {server.url}/v1/charges: HTTP 503 on attempt 1 of 3, retrying in 2.00 s",
        f"GET {server.url}/v1/charges: HTTP 429 on attempt 2 of 3, retrying in 5.00 s",
    ]
    assert all(r.levelno == logging.WARNING for r in caplog.records if r.name.startswith("ml_connector"))


def test_stats_and_on_response_count_every_exchange(server: ScriptedServer, sleeps: Sleeps) -> None:
    server.enqueue(503)
    server.enqueue(200, drop=True)
    server.enqueue(200)
    server.enqueue(404)
    seen_statuses: list[int] = []

    with transport(server, sleeps, on_response=lambda r: seen_statuses.append(r.status_code)) as http:
        http.get("/a")
        http.get("/b", expected={404})

    assert seen_statuses == [503, 200, 404]
    assert http.stats.snapshot() == {
        "requests": 4,
        "retries": 2,
        "auth_refreshes": 0,
        "failures": 1,
        "statuses": {503: 1, 200: 1, 404: 1},
    }


# -- pure helpers -------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("value", "expected"),
    [
        ("5", 5.0),
        (" 2.5 ", 2.5),
        ("0", 0.0),
        ("-3", 0.0),
        ("Tue, 14 Nov 2023 22:13:30 GMT", 10.0),
        ("Tue, 14 Nov 2023 22:13:00 GMT", 0.0),
        ("soon", None),
        ("", None),
        (None, None),
        ("nan", None),
    ],
)
def test_parse_retry_after(value: str | None, expected: float | None) -> None:
    assert parse_retry_after(value, now=1_700_000_000.0) == expected


@pytest.mark.parametrize(
    ("url", "expected"),
    [
        ("https://h/p?limit=5&offset=10", "https://h/p?limit=5&offset=10"),
        ("https://h/p?access_token=abc&limit=5", "https://h/p?access_token=***&limit=5"),
        (
            "https://h/p?client_secret=x&sig=y&Signature=z",
            "https://h/p?client_secret=***&sig=***&Signature=***",
        ),
        ("https://user:pw@h:8443/p", "https://***@h:8443/p"),
        ("https://h/p?apiKey=k&q=name%3D1", "https://h/p?apiKey=***&q=name%3D1"),
    ],
)
def test_redact_url(url: str, expected: str) -> None:
    assert redact_url(url) == expected


def test_retry_policy_from_connection_extras() -> None:
    policy = RetryPolicy.from_mapping(
        {"retry_attempts": "3", "retry_base_delay": "0.25", "retry_statuses": "429, 503", "other": 1}
    )

    assert policy == RetryPolicy(attempts=3, base_delay=0.25, retry_statuses=frozenset({429, 503}))
    assert policy.max_delay == 30.0
    assert RetryPolicy.from_mapping({}) == RetryPolicy()


@pytest.mark.parametrize("bad", [{"attempts": 0}, {"base_delay": -1.0}, {"max_delay": float("inf")}])
def test_retry_policy_rejects_nonsense(bad: dict[str, Any]) -> None:
    with pytest.raises(ValueError, match="RetryPolicy"):
        RetryPolicy(**bad)


def test_put_patch_delete_shorthands(server: ScriptedServer, sleeps: Sleeps) -> None:
    with transport(server, sleeps) as http:
        assert isinstance(http.delete("/v1/customers/cus_1"), requests.Response)
        assert isinstance(http.put("/record/v1/customer/eid:C-1", json={}), requests.Response)
        assert isinstance(http.patch("/record/v1/customer/1", json={}), requests.Response)

    assert [s.method for s in server.requests] == ["DELETE", "PUT", "PATCH"]


def test_errors_survive_pickling_and_drop_cookie_headers(server: ScriptedServer, sleeps: Sleeps) -> None:
    server.enqueue(409, body={"error": "conflict"}, headers={"Set-Cookie": "sid=abc123", "Request-Id": "r-9"})

    with transport(server, sleeps) as http, pytest.raises(HttpStatusError) as caught:
        http.post("/v1/customers")

    copy = pickle.loads(pickle.dumps(caught.value))  # noqa: S301 - our own bytes
    assert type(copy) is HttpStatusError
    assert str(copy) == str(caught.value)
    assert (copy.status, copy.request_id, copy.json()) == (409, "r-9", {"error": "conflict"})
    assert "set-cookie" not in {name.lower() for name in copy.headers}
    exhausted = pickle.loads(pickle.dumps(RetryExhausted(caught.value, 4)))  # noqa: S301
    assert (exhausted.attempts, exhausted.status, str(exhausted)) == (
        4,
        409,
        f"giving up after 4 attempts: {copy}",
    )
