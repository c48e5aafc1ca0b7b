"""StripeHook against the Stripe stand-in: the real SDK over real HTTP, connections from env vars."""

from __future__ import annotations

import logging
import re
import time
from typing import Any

import pytest
import stripe
from airflow.sdk.log import redact
from ml_connector_sandbox import FaultRule, SandboxClient
from ml_connector_sandbox.systems.stripe import StripeSandbox

from ml_connector_provider.hooks.stripe import (
    MAX_RETRY_AFTER,
    StripeHook,
    StripeRecordError,
    hook_should_retry,
    stripe_retry_after,
)
from tests.integration.stripe.conftest import ConnectionFactory

CUSTOMERS = "^/v1/customers$"


@pytest.fixture
def hook(stripe_conn_id: str) -> StripeHook:
    return StripeHook(stripe_conn_id)


def customer_posts(admin: SandboxClient) -> list[dict[str, Any]]:
    return admin.request_log(method="POST", path=CUSTOMERS)


# -- client construction ---------------------------------------------------------------------------


def test_constructor_does_no_io() -> None:
    hook = StripeHook("stripe_not_defined_anywhere")
    assert hook.stripe_conn_id == "stripe_not_defined_anywhere"
    with pytest.raises(Exception, match="stripe_not_defined_anywhere"):
        hook.get_conn()


def test_client_uses_connection_key_base_and_sdk_version(
    hook: StripeHook, stripe_system: StripeSandbox, admin: SandboxClient, base_url: str
) -> None:
    client = hook.get_conn()
    assert isinstance(client, stripe.StripeClient)
    assert hook.client is client
    assert hook.settings.api_base == base_url
    assert hook.settings.max_network_retries == 2
    assert hook.settings.timeout == 80.0
    assert hook.webhook_secret == stripe_system.settings.webhook_secret

    hook.create_customer({"name": "Acme"}, idempotency_key="k-client")
    [request] = customer_posts(admin)
    assert request["headers"]["authorization"] == f"Bearer {stripe_system.secret_key}"
    assert request["headers"]["stripe-version"] == stripe.api_version
    assert request["headers"]["idempotency-key"] == "k-client"
    assert "stripe-account" not in request["headers"]


def test_optional_extras_are_sent(
    make_connection: ConnectionFactory, base_url: str, admin: SandboxClient, stripe_system: StripeSandbox
) -> None:
    conn_id = make_connection(
        "stripe_connect",
        api_base=base_url + "/",
        account_id="acct_1Connected",
        api_version="2025-03-31.basil",
        max_network_retries="0",
        timeout="15",
    )
    hook = StripeHook(conn_id)
    assert hook.settings.api_base == base_url
    assert hook.settings.max_network_retries == 0
    assert hook.settings.timeout == 15.0

    customer = hook.create_customer({"name": "Connected"}, idempotency_key="k-connect")
    [request] = customer_posts(admin)
    assert request["headers"]["stripe-account"] == "acct_1Connected"
    assert request["headers"]["stripe-version"] == "2025-03-31.basil"
    [event] = stripe_system.events("customer.created")
    assert event["account"] == "acct_1Connected"
    assert event["data"]["object"]["id"] == customer["id"]


def test_missing_key_is_a_clear_error(make_connection: ConnectionFactory) -> None:
    hook = StripeHook(make_connection("stripe_no_key", password=""))
    with pytest.raises(ValueError, match="has no secret key"):
        hook.get_conn()


def test_connection_secrets_are_masked_after_use(hook: StripeHook, stripe_system: StripeSandbox) -> None:
    hook.get_conn()
    line = f"key={stripe_system.secret_key} webhook={stripe_system.settings.webhook_secret}"
    redacted = str(redact(line))
    assert stripe_system.secret_key not in redacted
    assert stripe_system.settings.webhook_secret not in redacted
    assert redacted == "key=*** webhook=***"


# -- customers -------------------------------------------------------------------------------------


def test_create_update_retrieve_round_trip(hook: StripeHook, stripe_system: StripeSandbox) -> None:
    created = hook.create_customer(
        {
            "name": "Acme Ltd",
            "email": "ap@acme.test",
            "address": {"line1": "1 Main St", "city": "Leeds", "country": "GB"},
            "metadata": {"fusion_party_id": "300000001", "fusion_site": "S1"},
            "preferred_locales": ["en-GB"],
        },
        idempotency_key="k-create",
    )
    assert type(created) is dict
    assert type(created["address"]) is dict
    assert type(created["metadata"]) is dict
    assert created["address"]["city"] == "Leeds"
    assert created["preferred_locales"] == ["en-GB"]

    updated = hook.update_customer(
        created["id"],
        {"email": "billing@acme.test", "metadata": {"fusion_site": ""}},
        idempotency_key="k-update",
    )
    assert updated["email"] == "billing@acme.test"
    assert updated["metadata"] == {"fusion_party_id": "300000001"}

    fetched = hook.retrieve_customer(created["id"])
    assert fetched == updated
    assert stripe_system.customers() == [updated]


def test_retrieve_missing_or_deleted_is_none(
    hook: StripeHook, base_url: str, stripe_system: StripeSandbox
) -> None:
    assert hook.retrieve_customer("cus_doesnotexist00") is None
    customer = hook.create_customer({"name": "Gone"}, idempotency_key="k-gone")
    stripe.StripeClient(stripe_system.secret_key, base_addresses={"api": base_url}).v1.customers.delete(
        customer["id"]
    )
    assert hook.retrieve_customer(customer["id"]) is None


def test_find_customer_by_metadata(
    hook: StripeHook, stripe_system: StripeSandbox, capsys: pytest.CaptureFixture[str]
) -> None:
    stripe_system.settings.search_lag = 0  # read-after-write: search is immediate here
    assert hook.find_customer_by_metadata("fusion_party_id", "1") is None

    only = hook.create_customer({"name": "O'Brien", "metadata": {"erp": "O'Brien"}}, idempotency_key="k-q")
    assert hook.find_customer_by_metadata("erp", "O'Brien") == only

    oldest = hook.create_customer(
        {"name": "Dup 1", "metadata": {"fusion_party_id": "7"}}, idempotency_key="k-1"
    )
    stripe_system.clock.advance(60)
    newer = hook.create_customer(
        {"name": "Dup 2", "metadata": {"fusion_party_id": "7"}}, idempotency_key="k-2"
    )
    capsys.readouterr()
    assert hook.find_customer_by_metadata("fusion_party_id", "7") == oldest
    output = capsys.readouterr()
    warning = output.out + output.err
    assert "Stripe has 2 customers with metadata fusion_party_id='7'" in warning
    assert f"{oldest['id']}, {newer['id']}; using the oldest, {oldest['id']}" in warning


def test_iter_customers_pages_lazily_and_filters(
    make_connection: ConnectionFactory, stripe_system: StripeSandbox, admin: SandboxClient
) -> None:
    hook = StripeHook(make_connection("stripe_default"))
    ids = []
    for n in range(5):
        email = "dup@example.test" if n % 2 else f"c{n}@example.test"
        ids.append(hook.create_customer({"name": f"C{n}", "email": email}, idempotency_key=f"k-{n}")["id"])
        stripe_system.clock.advance(1)
    admin.clear_request_log()

    assert [c["id"] for c in hook.iter_customers(limit=2)] == ids[::-1]
    pages = admin.request_log(method="GET", path="^/v1/customers$")
    assert [p["query"] for p in pages] == [
        "limit=2",
        f"limit=2&starting_after={ids[3]}",
        f"limit=2&starting_after={ids[1]}",
    ]
    assert [c["id"] for c in hook.iter_customers(email="dup@example.test")] == [ids[3], ids[1]]
    since = stripe_system.customers()[3]["created"]
    assert [c["id"] for c in hook.iter_customers(created={"gte": since})] == [ids[4], ids[3]]
    assert [c["id"] for c in hook.iter_customers(ending_before=ids[1], limit=2)] == [ids[2], ids[3], ids[4]]


# -- idempotency and retries -----------------------------------------------------------------------


def test_same_idempotency_key_twice_creates_one_customer(
    hook: StripeHook, stripe_system: StripeSandbox, admin: SandboxClient
) -> None:
    first = hook.create_customer({"name": "Once", "metadata": {"erp": "1"}}, idempotency_key="mlc-once")
    second = hook.create_customer({"name": "Once", "metadata": {"erp": "1"}}, idempotency_key="mlc-once")
    assert second == first
    assert [c["id"] for c in stripe_system.customers()] == [first["id"]]
    assert [r["headers"]["idempotency-key"] for r in customer_posts(admin)] == ["mlc-once", "mlc-once"]


@pytest.mark.parametrize(
    "rule",
    [
        pytest.param(
            FaultRule.rate_limit(path=CUSTOMERS, headers={"Stripe-Should-Retry": "true"}, method="POST"),
            id="429-should-retry",
        ),
        pytest.param(FaultRule.unavailable(path=CUSTOMERS, method="POST"), id="503"),
    ],
)
def test_sdk_retries_transient_answers_and_creates_one_customer(
    hook: StripeHook, stripe_system: StripeSandbox, admin: SandboxClient, rule: FaultRule
) -> None:
    stripe_system.faults.add(rule)
    customer = hook.create_customer({"name": "Retried"}, idempotency_key="k-retry")
    assert [c["id"] for c in stripe_system.customers()] == [customer["id"]]
    posts = customer_posts(admin)
    assert [p["status"] for p in posts] == [rule.status, 200]
    assert {p["headers"]["idempotency-key"] for p in posts} == {"k-retry"}


def test_dropped_response_is_retried_with_the_same_key(
    hook: StripeHook, stripe_system: StripeSandbox, admin: SandboxClient, capsys: pytest.CaptureFixture[str]
) -> None:
    # the customer is created, then the connection is cut in the middle of the response
    stripe_system.faults.add(FaultRule.disconnect(path=CUSTOMERS, method="POST", process=True))
    customer = hook.create_customer({"name": "Dropped"}, idempotency_key="k-drop")
    assert [c["id"] for c in stripe_system.customers()] == [customer["id"]]
    posts = customer_posts(admin)
    assert [p["fault"]["kind"] if p["fault"] else None for p in posts] == ["drop", None]
    assert {p["headers"]["idempotency-key"] for p in posts} == {"k-drop"}
    assert "connection lost before the response was complete" in capsys.readouterr().out


def test_plain_429_is_retried_by_the_hook_then_propagates(
    make_connection: ConnectionFactory, stripe_system: StripeSandbox, admin: SandboxClient
) -> None:
    hook = StripeHook(make_connection("stripe_one_retry", max_network_retries=1))
    # a bare 429 (no Stripe-Should-Retry, no JSON body): the SDK gives up, the hook honours Retry-After
    stripe_system.faults.add(FaultRule.rate_limit(path=CUSTOMERS, retry_after=0, method="POST"))
    created = hook.create_customer({"name": "Later"}, idempotency_key="k-429")
    assert [p["status"] for p in customer_posts(admin)] == [429, 200]
    assert [c["id"] for c in stripe_system.customers()] == [created["id"]]

    admin.clear_request_log()
    stripe_body = {
        "error": {
            "message": "Request rate limit exceeded.",
            "type": "invalid_request_error",
            "code": "rate_limit",
        }
    }
    stripe_system.faults.add(
        FaultRule.rate_limit(path=CUSTOMERS, retry_after=0, method="POST", body=stripe_body, times=None)
    )
    with pytest.raises(stripe.RateLimitError):
        hook.create_customer({"name": "Never"}, idempotency_key="k-429-never")
    assert [p["status"] for p in customer_posts(admin)] == [429, 429]
    assert len(stripe_system.customers()) == 1


def test_the_hooks_retry_policy_follows_the_connection(make_connection: ConnectionFactory) -> None:
    policy = StripeHook(make_connection("stripe_three_retries", max_network_retries=3)).retry_policy
    assert (policy.attempts, policy.base_delay, policy.max_delay) == (4, 0.5, 5.0)
    assert policy.max_retry_after == MAX_RETRY_AFTER


@pytest.mark.parametrize(
    ("rule", "retried", "retry_after"),
    [
        # a bare 429 from a proxy: the SDK raises APIError and does not retry it, so the hook does
        pytest.param(
            FaultRule.rate_limit(path=CUSTOMERS, retry_after=7, method="POST"), True, 7.0, id="bare-429"
        ),
        pytest.param(FaultRule.rate_limit(path=CUSTOMERS, method="POST"), True, None, id="bare-429-no-delay"),
        # the SDK follows Stripe-Should-Retry itself; the hook must not add retries of its own
        pytest.param(
            FaultRule.rate_limit(
                path=CUSTOMERS, retry_after=3, method="POST", headers={"Stripe-Should-Retry": "false"}
            ),
            False,
            3.0,
            id="should-retry-false",
        ),
        pytest.param(FaultRule.unavailable(path=CUSTOMERS, method="POST"), False, None, id="503"),
    ],
)
def test_the_stripe_predicate_and_retry_after_read_real_sdk_errors(
    make_connection: ConnectionFactory,
    stripe_system: StripeSandbox,
    rule: FaultRule,
    retried: bool,
    retry_after: float | None,
) -> None:
    hook = StripeHook(make_connection("stripe_no_retry", max_network_retries=0))
    stripe_system.faults.add(rule)
    with pytest.raises(stripe.StripeError) as caught:
        hook.create_customer({"name": "Limited"}, idempotency_key="k-predicate")
    assert hook_should_retry(caught.value) is retried
    assert stripe_retry_after(caught.value) == retry_after


def test_retries_follow_the_connection_setting(
    make_connection: ConnectionFactory, stripe_system: StripeSandbox, admin: SandboxClient
) -> None:
    hook = StripeHook(make_connection("stripe_no_retry", max_network_retries=0))
    stripe_system.faults.add(FaultRule.unavailable(path=CUSTOMERS, method="POST"))
    with pytest.raises(stripe.APIError):
        hook.create_customer({"name": "No retry"}, idempotency_key="k-0")
    assert [p["status"] for p in customer_posts(admin)] == [503]
    assert stripe_system.customers() == []


def test_timeout_comes_from_the_connection(
    make_connection: ConnectionFactory, stripe_system: StripeSandbox
) -> None:
    hook = StripeHook(make_connection("stripe_fast", timeout=0.5, max_network_retries=0))
    stripe_system.faults.add(FaultRule.hang(seconds=5, path="^/v1/customers/"))
    started = time.monotonic()
    with pytest.raises(stripe.APIConnectionError):
        hook.retrieve_customer("cus_slow0000000000")
    assert time.monotonic() - started < 2.0


# -- errors ------------------------------------------------------------------------------------------


def test_refused_records_become_record_errors(hook: StripeHook, stripe_system: StripeSandbox) -> None:
    with pytest.raises(StripeRecordError) as too_many:
        hook.create_customer(
            {"name": "Noisy", "metadata": {f"k{n}": "v" for n in range(51)}}, idempotency_key="k-51"
        )
    assert too_many.value.param == "metadata"
    assert too_many.value.http_status == 400
    assert too_many.value.request_id is not None
    assert too_many.value.request_id.startswith("req_")
    assert too_many.value.message == "Metadata can have up to 50 keys, but you passed in 51 keys."

    with pytest.raises(StripeRecordError) as missing:
        hook.update_customer("cus_missing0000000", {"name": "x"}, idempotency_key="k-missing")
    assert missing.value.code == "resource_missing"
    assert missing.value.param == "id"
    assert missing.value.http_status == 404
    assert str(missing.value).startswith(
        "No such customer: 'cus_missing0000000' (param=id, code=resource_missing"
    )

    hook.create_customer({"name": "First"}, idempotency_key="k-reused")
    with pytest.raises(StripeRecordError) as reused:
        hook.create_customer({"name": "Second"}, idempotency_key="k-reused")
    assert reused.value.code == "idempotency_error"
    assert [c["name"] for c in stripe_system.customers()] == ["First"]


def test_authentication_errors_propagate(make_connection: ConnectionFactory) -> None:
    hook = StripeHook(make_connection("stripe_bad_key", password="sk_test_wrongwrongwrong42"))
    with pytest.raises(stripe.AuthenticationError):
        hook.create_customer({"name": "x"}, idempotency_key="k-auth")


# -- test_connection -------------------------------------------------------------------------------


def test_test_connection_succeeds(hook: StripeHook, base_url: str, admin: SandboxClient) -> None:
    ok, message = hook.test_connection()
    assert ok is True
    assert message == f"Connection successfully tested: Stripe API at {base_url} accepted the key."
    assert [r["path"] for r in admin.request_log()] == ["/v1/balance"]


def test_test_connection_fails_without_leaking_the_key(make_connection: ConnectionFactory) -> None:
    key = "sk_test_wrongwrongwrong42"
    ok, message = StripeHook(make_connection("stripe_bad_key", password=key)).test_connection()
    assert ok is False
    assert re.fullmatch(
        r"AuthenticationError \(HTTP 401\): Invalid API Key provided: \*\*\*, request req_\w+", message
    ), message
    assert key not in message
    assert "ng42" not in message


def test_test_connection_fails_when_unreachable(
    make_connection: ConnectionFactory, stripe_system: StripeSandbox
) -> None:
    conn_id = make_connection("stripe_nowhere", api_base="http://127.0.0.1:9", timeout=2)
    started = time.monotonic()
    ok, message = StripeHook(conn_id).test_connection()
    assert ok is False
    assert message.startswith("APIConnectionError: ")
    assert stripe_system.secret_key not in message
    assert time.monotonic() - started < 5


def test_sdk_logs_no_line_per_call(hook: StripeHook, caplog: pytest.LogCaptureFixture) -> None:
    """The stripe SDK logs every request and response at INFO; the hook keeps them out of task
    logs unless the deployment configured the ``stripe`` logger itself."""
    sdk = logging.getLogger("stripe")
    before = sdk.level
    caplog.set_level(logging.INFO)
    try:
        sdk.setLevel(logging.NOTSET)
        hook.create_customer({"name": "Quiet Co"}, idempotency_key="quiet-1")
        assert [r.getMessage() for r in caplog.records if r.name == "stripe"] == []
        assert sdk.level == logging.WARNING
        # A level the deployment chose is kept.
        sdk.setLevel(logging.INFO)
        StripeHook(hook.stripe_conn_id).create_customer({"name": "Loud Co"}, idempotency_key="quiet-2")
        assert any("Request to Stripe api" in r.getMessage() for r in caplog.records if r.name == "stripe")
    finally:
        sdk.setLevel(before)
