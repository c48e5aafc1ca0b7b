"""Client-side pacing of the Stripe hook against the stand-in's sliding-window rate limiter.

The stand-in answers 429 once ``rate_limit`` requests arrived within one second; with
``rate_limit_should_retry=None`` its 429s carry no ``Stripe-Should-Retry``, so the SDK would not
retry them and any the hook drew would show in the request log. Counts are asserted, never
durations.
"""

from __future__ import annotations

import logging
import threading
from collections.abc import Callable, Iterator
from typing import Any

import pytest
from ml_connector_sandbox import FaultRule, SandboxClient
from ml_connector_sandbox.systems.stripe import StripeSandbox

from ml_connector_provider.hooks.stripe import (
    DEFAULT_RATE_LIMIT_UTILIZATION,
    StripeCallStats,
    StripeHook,
    connection_settings,
    key_fingerprint,
    route_template,
)
from ml_connector_provider.transport import clear_shared_limiters
from tests.integration.stripe.conftest import ConnectionFactory

CUSTOMERS = "^/v1/customers$"
SEARCH = "^/v1/customers/search$"
LIVE_KEY = "sk_live_51AbcDefGhiJklMnoPqrStu0000000000000"


@pytest.fixture(autouse=True)
def _fresh_limiters() -> Iterator[None]:
    clear_shared_limiters()
    yield
    clear_shared_limiters()


@pytest.fixture
def limited(stripe_system: StripeSandbox) -> Callable[[int], None]:
    """Turn the stand-in's limiter on at ``n`` requests per sliding second, 429s without
    ``Stripe-Should-Retry`` (so the SDK would not retry them)."""

    def limit(n: int) -> None:
        stripe_system.settings.rate_limit = n
        stripe_system.settings.rate_limit_should_retry = None

    return limit


def statuses(admin: SandboxClient, path: str) -> list[int | None]:
    return [entry["status"] for entry in admin.request_log(path=path)]


def run_threads(count: int, work: Callable[[int], None]) -> list[BaseException]:
    """Run ``work(i)`` in ``count`` threads; the exceptions they raised."""
    errors: list[BaseException] = []

    def guarded(i: int) -> None:
        try:
            work(i)
        except BaseException as error:
            errors.append(error)

    threads = [threading.Thread(target=guarded, args=(i,)) for i in range(count)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    return errors


# -- settings --------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("key", "expected"),
    [("sk_test_abc", 25.0), ("rk_test_abc", 25.0), (LIVE_KEY, 100.0), ("rk_live_abc", 100.0)],
)
def test_default_rate_limit_follows_the_key_mode(key: str, expected: float) -> None:
    settings = connection_settings("c", key, {})
    assert settings.rate_limit == expected
    assert settings.search_rate_limit == 20.0
    assert settings.rate_limit_utilization == DEFAULT_RATE_LIMIT_UTILIZATION


def test_rate_limit_extras_are_read_as_numbers() -> None:
    extras = {"rate_limit": "50", "search_rate_limit": 0, "rate_limit_utilization": "0.8"}
    settings = connection_settings("c", "sk_test_abc", extras)
    assert (settings.rate_limit, settings.search_rate_limit, settings.rate_limit_utilization) == (
        50.0,
        0.0,
        0.8,
    )
    blank = connection_settings("c", "sk_test_abc", {"rate_limit": "", "rate_limit_utilization": None})
    assert (blank.rate_limit, blank.rate_limit_utilization) == (25.0, DEFAULT_RATE_LIMIT_UTILIZATION)


@pytest.mark.parametrize(
    "extras",
    [
        {"rate_limit": "-1"},
        {"rate_limit": "fast"},
        {"search_rate_limit": "inf"},
        {"rate_limit_utilization": "0"},
        {"rate_limit_utilization": "1.5"},
    ],
)
def test_invalid_rate_limit_extras_are_refused_without_the_key(extras: dict[str, Any]) -> None:
    with pytest.raises(ValueError, match="Stripe connection 'c'") as caught:
        connection_settings("c", LIVE_KEY, extras)
    assert LIVE_KEY not in str(caught.value)


def test_the_account_key_carries_a_fingerprint_never_the_secret() -> None:
    settings = connection_settings("c", LIVE_KEY, {"account_id": "acct_1X", "api_base": "http://h/"})
    account = settings.account_key
    assert account == ("stripe", "http://h", "acct_1X", key_fingerprint(LIVE_KEY))
    assert len(key_fingerprint(LIVE_KEY)) == 12
    assert int(key_fingerprint(LIVE_KEY), 16) >= 0  # hex digits only
    assert all(LIVE_KEY not in part and LIVE_KEY[8:20] not in part for part in account)
    assert key_fingerprint(LIVE_KEY) != key_fingerprint(LIVE_KEY + "x")
    assert LIVE_KEY not in repr(settings)


@pytest.mark.parametrize(
    ("method", "url", "route"),
    [
        ("post", "http://h/v1/customers", "POST /v1/customers"),
        ("get", "http://h/v1/customers/search?query=x", "GET /v1/customers/search"),
        ("post", "http://h/v1/customers/cus_Q1w2E3", "POST /v1/customers/{id}"),
        ("post", "http://h/v1/invoices/in_9/finalize", "POST /v1/invoices/{id}/finalize"),
        ("get", "http://h/v1/invoices/in_9/lines?limit=100", "GET /v1/invoices/{id}/lines"),
        ("get", "http://h/v1/balance", "GET /v1/balance"),
    ],
)
def test_route_templates_hide_ids(method: str, url: str, route: str) -> None:
    assert route_template(method, url) == route


def test_stats_snapshot_since_and_summary() -> None:
    stats = StripeCallStats()
    stats.add_call("create customer")
    stats.add_attempt("POST /v1/customers", 429, 0.0)
    before = stats.snapshot()
    stats.add_call("create customer")
    stats.add_call("search customers")
    stats.add_attempt("POST /v1/customers", 200, 0.25)
    stats.add_attempt("GET /v1/customers/search", None, 0.0)
    delta = stats.since(before)
    assert delta.calls == {"create customer": 1, "search customers": 1}
    assert (delta.total_calls, delta.attempts, delta.rate_limited, delta.no_response) == (2, 2, 0, 1)
    assert delta.wait_seconds == pytest.approx(0.25)
    assert (stats.total_calls, stats.rate_limited, stats.delayed) == (3, 1, 1)
    assert stats.as_dict()["attempts_by_route"] == {"POST /v1/customers": 2, "GET /v1/customers/search": 1}
    assert stats.summary().startswith("3 calls (create customer 2, search customers 1), 3 attempts, 1 429s")


# -- pacing over HTTP ------------------------------------------------------------------------------


def test_two_hooks_in_two_threads_share_one_budget_and_draw_no_429(
    make_connection: ConnectionFactory,
    stripe_system: StripeSandbox,
    admin: SandboxClient,
    limited: Callable[[int], None],
) -> None:
    limited(25)  # Stripe's test-mode limit, which the test key's default assumes
    # The stand-in serves from this process: on a loaded machine a CPU stall can bunch requests at
    # the server, so this test keeps more headroom than the default (the benchmark measures that).
    conn_id = make_connection("stripe_paced", rate_limit_utilization="0.8")
    hooks = [StripeHook(conn_id), StripeHook(conn_id)]
    per_thread = 75
    created: list[list[str]] = [[], []]

    def work(i: int) -> None:
        for n in range(per_thread):
            customer = hooks[i].create_customer({"name": f"T{i}-{n}"}, idempotency_key=f"k-{i}-{n}")
            created[i].append(customer["id"])

    assert run_threads(2, work) == []
    assert statuses(admin, CUSTOMERS) == [200] * (2 * per_thread)
    assert len(stripe_system.customers()) == len(set(created[0] + created[1])) == 2 * per_thread

    limiter = hooks[0].limiters["global"]
    assert hooks[1].limiters["global"] is limiter
    assert limiter.rate == pytest.approx(25 * 0.8)
    assert limiter.stats().acquired == 2 * per_thread
    for hook in hooks:
        stats = hook.stats.snapshot()
        assert stats.calls == {"create customer": per_thread}
        assert (stats.attempts, stats.rate_limited, stats.no_response) == (per_thread, 0, 0)
        assert stats.attempts_by_route == {"POST /v1/customers": per_thread}


def test_searches_also_wait_for_the_search_limit(
    make_connection: ConnectionFactory,
    stripe_system: StripeSandbox,
    admin: SandboxClient,
    limited: Callable[[int], None],
) -> None:
    conn_id = make_connection("stripe_search", search_rate_limit="20")
    hook = StripeHook(conn_id)
    stripe_system.settings.search_lag = 0
    ids = [
        hook.create_customer({"name": f"S{n}", "metadata": {"erp_id": f"E{n}"}}, idempotency_key=f"s-{n}")[
            "id"
        ]
        for n in range(3)
    ]
    # Only searches from here on, so the stand-in's window (which counts every request) stands in
    # for Stripe's search limit: paced at the 23/s global budget alone, they would draw 429s.
    limited(20)
    admin.clear_request_log()
    per_thread = 25
    found: list[str] = []

    def work(i: int) -> None:
        for n in range(per_thread):
            result = hook.client.v1.customers.search(params={"query": f"metadata['erp_id']:'E{(i + n) % 3}'"})
            found.extend(c.id for c in result.data)

    assert run_threads(3, work) == []
    assert statuses(admin, SEARCH) == [200] * (3 * per_thread)
    assert sorted(set(found), key=str) == sorted(ids)
    assert hook.stats.attempts_by_route["GET /v1/customers/search"] == 3 * per_thread
    assert hook.stats.rate_limited == 0
    # every search took a slot from both limiters; the creates only from the global one
    assert hook.limiters["search"].stats().acquired == 3 * per_thread
    assert hook.limiters["global"].stats().acquired == 3 * per_thread + 3


def test_sdk_retries_are_paced_and_counted_as_attempts(
    hook: StripeHook, stripe_system: StripeSandbox, admin: SandboxClient
) -> None:
    stripe_system.faults.add(FaultRule.unavailable(path=CUSTOMERS, method="POST"))
    hook.create_customer({"name": "Retried"}, idempotency_key="k-503")
    assert statuses(admin, CUSTOMERS) == [503, 200]
    assert hook.stats.calls == {"create customer": 1}
    assert hook.stats.attempts == 2
    assert hook.limiters["global"].stats().acquired == 2


@pytest.mark.parametrize(
    "should_retry", [None, True], ids=["bare-429-hook-retries", "should-retry-sdk-retries"]
)
def test_a_429_from_a_stricter_server_is_still_retried(
    make_connection: ConnectionFactory,
    stripe_system: StripeSandbox,
    admin: SandboxClient,
    should_retry: bool | None,
) -> None:
    # the hook believes 25/s (test key); the server allows 3 per second
    stripe_system.settings.rate_limit = 3
    stripe_system.settings.rate_limit_should_retry = should_retry
    hook = StripeHook(make_connection("stripe_strict"), max_network_retries=10)
    created = [hook.create_customer({"name": f"R{n}"}, idempotency_key=f"r-{n}")["id"] for n in range(8)]

    assert len(set(created)) == len(stripe_system.customers()) == 8
    seen = statuses(admin, CUSTOMERS)
    assert seen.count(200) == 8
    assert seen.count(429) >= 1
    assert set(seen) == {200, 429}
    assert hook.stats.rate_limited == seen.count(429)
    assert hook.stats.attempts == len(seen)
    assert hook.stats.calls == {"create customer": 8}


def test_rate_limit_zero_turns_pacing_off(make_connection: ConnectionFactory) -> None:
    hook = StripeHook(make_connection("stripe_unpaced", rate_limit="0", search_rate_limit="0"))
    assert hook.limiters == {}
    hook.create_customer({"name": "Unpaced"}, idempotency_key="k-unpaced")
    assert hook.stats.attempts == 1
    assert hook.stats.wait_seconds == 0.0


def test_pacing_logs_nothing_per_call(
    hook: StripeHook, admin: SandboxClient, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.DEBUG)
    for n in range(30):
        hook.create_customer({"name": f"Quiet {n}"}, idempotency_key=f"q-{n}")
    assert len(admin.request_log(path=CUSTOMERS)) == 30
    provider = [
        r for r in caplog.records if r.name.startswith(("ml_connector_provider", "airflow.task.hooks"))
    ]
    assert all(r.levelno == logging.DEBUG for r in provider)
    assert len(provider) <= 1  # the limiters, named once when the hook first sends
