"""Concurrency limiters, answers retried by a caller's predicate, and a token provider's renewal
lead time, against the real local test server."""

from __future__ import annotations

import threading
from typing import TYPE_CHECKING

import pytest

from ml_connector_provider.transport import (
    ConcurrencyLimiter,
    HttpStatusError,
    HttpTransport,
    OAuth2ClientCredentials,
    RetryPolicy,
    clear_shared_concurrency_limiters,
    shared_concurrency_limiter,
)

if TYPE_CHECKING:
    import requests

    from tests.unit.transport.conftest import Clock, ScriptedServer, Sleeps

POLICY = RetryPolicy(attempts=3, base_delay=1.0, max_delay=8.0)
CONCURRENCY_BODY = {
    "type": "https://www.rfc-editor.org/rfc/rfc6585.html#section-4",
    "title": "Bad Request",
    "status": 400,
    "o:errorDetails": [
        {
            "detail": "Concurrent request limit exceeded. Request blocked.",
            "o:errorCode": "CONCURRENCY_LIMIT_EXCEEDED",
        }
    ],
}


def test_a_limit_below_one_is_refused() -> None:
    with pytest.raises(ValueError, match="integer >= 1"):
        ConcurrencyLimiter(0)
    with pytest.raises(ValueError, match="integer >= 1"):
        shared_concurrency_limiter(("k",), True)  # type: ignore[arg-type]


def test_release_without_a_slot_is_an_error() -> None:
    with pytest.raises(RuntimeError, match="without a slot"):
        ConcurrencyLimiter(2, name="x").release()


def test_a_third_caller_waits_until_one_of_two_slots_is_given_back() -> None:
    limiter = ConcurrencyLimiter(2)
    limiter.acquire()
    limiter.acquire()
    entered = threading.Event()

    def third() -> None:
        with limiter.slot():
            entered.set()

    thread = threading.Thread(target=third)
    thread.start()
    assert not entered.wait(0.2)  # both slots held: the third caller is still queued
    assert limiter.stats().in_flight == 2
    limiter.release()
    assert entered.wait(5)
    thread.join(5)
    limiter.release()
    stats = limiter.stats()
    assert (stats.acquired, stats.delayed, stats.peak, stats.in_flight) == (3, 1, 2, 0)


def test_shared_limiters_are_one_per_key_and_the_stricter_limit_holds() -> None:
    clear_shared_concurrency_limiters()
    try:
        first = shared_concurrency_limiter(("netsuite", "123"), 5)
        assert shared_concurrency_limiter(("netsuite", "123"), 8) is first
        assert first.limit == 5
        assert shared_concurrency_limiter(("netsuite", "123"), 3) is first
        assert first.limit == 3
        assert shared_concurrency_limiter(("netsuite", "456"), 5) is not first
    finally:
        clear_shared_concurrency_limiters()


def test_the_transport_keeps_at_most_limit_requests_in_flight(server: ScriptedServer, sleeps: Sleeps) -> None:
    limiter = ConcurrencyLimiter(3)
    for _ in range(12):
        server.enqueue(200, body={"ok": True}, delay=0.05)
    transport = HttpTransport(server.url, retry=POLICY, sleep=sleeps, concurrency=limiter, pool_size=12)
    errors: list[BaseException] = []

    def call() -> None:
        try:
            transport.get("/thing")
        except BaseException as exc:
            errors.append(exc)

    threads = [threading.Thread(target=call) for _ in range(12)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(30)
    transport.close()
    assert errors == []
    stats = limiter.stats()
    assert stats.acquired == 12
    assert stats.peak <= 3
    assert stats.in_flight == 0
    assert len(server.requests) == 12


def test_a_slot_is_given_back_when_the_exchange_fails(refused_url: str, sleeps: Sleeps) -> None:
    limiter = ConcurrencyLimiter(1)
    transport = HttpTransport(refused_url, retry=POLICY, sleep=sleeps, concurrency=limiter)
    with pytest.raises(Exception, match="connection failed"):
        transport.get("/x")
    assert limiter.stats().in_flight == 0
    assert limiter.stats().acquired == 3  # one slot per attempt, none held while sleeping


def _concurrency_refusal(response: requests.Response) -> bool:
    return response.status_code == 400 and "CONCURRENCY_LIMIT_EXCEEDED" in response.text


def test_an_answer_the_predicate_names_is_retried_even_for_a_post(
    server: ScriptedServer, sleeps: Sleeps
) -> None:
    server.enqueue(400, body=CONCURRENCY_BODY)
    server.enqueue(400, body=CONCURRENCY_BODY)
    server.enqueue(204, headers={"Location": "/record/v1/invoice/7"})
    transport = HttpTransport(server.url, retry=POLICY, sleep=sleeps, retry_response=_concurrency_refusal)
    response = transport.post("/record/v1/invoice", json={"memo": "x"})
    assert response.status_code == 204
    assert [seen.method for seen in server.requests] == ["POST", "POST", "POST"]
    assert len(sleeps) == 2  # backoff: the refusal carries no Retry-After


def test_other_400s_are_not_retried_with_a_predicate(server: ScriptedServer, sleeps: Sleeps) -> None:
    server.enqueue(400, body={"o:errorDetails": [{"detail": "bad", "o:errorCode": "USER_ERROR"}]})
    transport = HttpTransport(server.url, retry=POLICY, sleep=sleeps, retry_response=_concurrency_refusal)
    with pytest.raises(HttpStatusError) as caught:
        transport.post("/record/v1/invoice", json={})
    assert caught.value.status == 400
    assert len(server.requests) == 1


def test_without_a_predicate_the_400_refusal_is_not_retried(server: ScriptedServer, sleeps: Sleeps) -> None:
    server.enqueue(400, body=CONCURRENCY_BODY)
    transport = HttpTransport(server.url, retry=POLICY, sleep=sleeps)
    with pytest.raises(HttpStatusError):
        transport.post("/record/v1/invoice", json={})
    assert len(server.requests) == 1


@pytest.mark.parametrize(("elapsed", "fetches"), [(3299.0, 1), (3301.0, 2)])
def test_renew_before_replaces_the_token_that_many_seconds_before_expiry(
    server: ScriptedServer, sleeps: Sleeps, clock: Clock, elapsed: float, fetches: int
) -> None:
    policy = server.token_policy
    provider = OAuth2ClientCredentials(
        server.token_url, policy.client_id, policy.client_secret, sleep=sleeps, clock=clock, renew_before=300
    )
    provider.token()
    clock.advance(elapsed)
    provider.token()
    assert len(server.token_requests) == fetches


def test_renew_before_is_at_most_half_a_short_lifetime(
    server: ScriptedServer, sleeps: Sleeps, clock: Clock
) -> None:
    server.token_policy.expires_in = 60
    policy = server.token_policy
    provider = OAuth2ClientCredentials(
        server.token_url, policy.client_id, policy.client_secret, sleep=sleeps, clock=clock, renew_before=300
    )
    provider.token()
    clock.advance(29)
    provider.token()
    assert len(server.token_requests) == 1
    clock.advance(2)
    provider.token()
    assert len(server.token_requests) == 2


def test_renew_before_must_be_a_non_negative_number(server: ScriptedServer) -> None:
    with pytest.raises(ValueError, match="renew_before"):
        OAuth2ClientCredentials(server.token_url, "c", "s", renew_before=-1)
