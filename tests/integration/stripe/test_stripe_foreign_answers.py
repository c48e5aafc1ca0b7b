"""Error answers that are not Stripe's JSON error (a proxy or gateway answering with HTML, plain
text or JSON of its own) become typed SDK errors with a readable message, over real HTTP."""

from __future__ import annotations

from typing import Any

import pytest
import stripe
from ml_connector_sandbox import FaultRule, SandboxClient
from ml_connector_sandbox.systems.stripe import StripeSandbox

from ml_connector_provider.hooks.stripe import StripeHook, StripeRecordError, describe_error
from tests.integration.stripe.conftest import ConnectionFactory

HTML = "<html><head><title>{status}</title></head><body><center><h1>{status} {reason}</h1></center><hr>nginx</body></html>"
EXPECTED: dict[int, tuple[type[stripe.StripeError], str]] = {
    401: (stripe.AuthenticationError, "Unauthorized"),
    403: (stripe.PermissionError, "Forbidden"),
    429: (stripe.RateLimitError, "Too Many Requests"),
    502: (stripe.APIError, "Bad Gateway"),
}
BODIES: dict[str, Any] = {
    "html": HTML,
    "plain-text": "{status} {reason}: upstream refused the request",
    "empty": None,
    # JSON that is not Stripe's error shape; a string `error` made stripe 16.1.0 raise AttributeError
    "json-string-error": {"error": "{reason}"},
    "json-no-error": {"message": "{reason}"},
}


@pytest.fixture
def no_retry(make_connection: ConnectionFactory) -> StripeHook:
    return StripeHook(make_connection("stripe_no_retry", max_network_retries=0))


def _body(template: Any, status: int, reason: str) -> Any:
    if isinstance(template, str):
        return template.format(status=status, reason=reason)
    if isinstance(template, dict):
        return {k: v.format(status=status, reason=reason) for k, v in template.items()}
    return template


@pytest.mark.parametrize("body", sorted(BODIES))
@pytest.mark.parametrize("status", sorted(EXPECTED))
@pytest.mark.parametrize("call", ["retrieve", "create", "list", "search"])
def test_foreign_error_answers_become_typed_errors(
    no_retry: StripeHook, stripe_system: StripeSandbox, status: int, body: str, call: str
) -> None:
    expected, reason = EXPECTED[status]
    answer = _body(BODIES[body], status, reason)
    stripe_system.faults.add(FaultRule.error(status, body=answer, times=None))
    calls = {
        "retrieve": lambda: no_retry.retrieve_customer("cus_0000000000000"),
        "create": lambda: no_retry.create_customer({"name": "Blocked"}, idempotency_key="k-proxy"),
        "list": lambda: list(no_retry.iter_customers()),
        "search": lambda: no_retry.find_customer_by_metadata("erp_id", "1"),
    }

    with pytest.raises(stripe.StripeError) as caught:
        calls[call]()

    error = caught.value
    assert type(error) is expected
    assert error.http_status == status
    message = str(error)
    assert message.startswith(
        f"Stripe API answered HTTP {status} {reason} with a body that is not Stripe's JSON error"
    )
    if answer is None:
        assert message.endswith(": (empty body)")
    else:
        assert reason in message.split(": ", 1)[1]  # the excerpt of the body
    assert stripe_system.secret_key not in message
    assert describe_error(error).startswith(
        f"{expected.__name__} (HTTP {status}): Stripe API answered HTTP {status}"
    )


def test_the_excerpt_is_short_and_never_shows_the_key(
    no_retry: StripeHook, stripe_system: StripeSandbox
) -> None:
    # A proxy echoing the request's Authorization header back, in a long page.
    page = (
        f"<html><body><pre>Authorization: Bearer {stripe_system.secret_key}</pre>{'x' * 5000}</body></html>"
    )
    stripe_system.faults.add(FaultRule.error(401, body=page, times=None))
    with pytest.raises(stripe.AuthenticationError) as caught:
        no_retry.retrieve_customer("cus_0000000000000")
    message = str(caught.value)
    assert stripe_system.secret_key not in message
    assert stripe_system.secret_key not in (caught.value.http_body or "")
    assert "Authorization: Bearer" in message
    assert len(message) < 400


def test_connection_check_names_the_status_and_the_body(
    no_retry: StripeHook, stripe_system: StripeSandbox
) -> None:
    stripe_system.faults.add(FaultRule.error(401, body={"error": "Unauthorized"}, times=None))
    ok, message = no_retry.test_connection()
    assert not ok
    assert message.startswith("AuthenticationError (HTTP 401): Stripe API answered HTTP 401 Unauthorized")
    assert "Unauthorized" in message.split(": ", 2)[2]


@pytest.mark.parametrize(
    "body", ["<html>404 Not Found</html>", {"error": "Not Found"}, {"message": "no route"}]
)
def test_a_proxys_404_is_not_a_missing_object(
    no_retry: StripeHook, stripe_system: StripeSandbox, body: object
) -> None:
    # Stripe's own 404 means "no such customer" (None); a proxy's 404 says nothing about it.
    stripe_system.faults.add(FaultRule.error(404, body=body, times=None))
    with pytest.raises(stripe.APIError) as caught:
        no_retry.retrieve_customer("cus_0000000000000")
    assert not isinstance(caught.value, StripeRecordError)
    assert "HTTP 404 Not Found" in str(caught.value)


def test_a_proxys_429_keeps_its_headers_and_is_retried(
    make_connection: ConnectionFactory, stripe_system: StripeSandbox, admin: SandboxClient
) -> None:
    hook = StripeHook(make_connection("stripe_one_retry", max_network_retries=1))
    stripe_system.faults.add(
        FaultRule.rate_limit(
            path="^/v1/customers$", method="POST", retry_after=0, body="<html>slow down</html>"
        )
    )
    created = hook.create_customer({"name": "Later"}, idempotency_key="k-proxy-429")
    assert [p["status"] for p in admin.request_log(method="POST", path="^/v1/customers$")] == [429, 200]
    assert [c["id"] for c in stripe_system.customers()] == [created["id"]]
