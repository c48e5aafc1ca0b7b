"""The deferrable trigger's asynchronous client and the sensor's poke read a gateway's error answer
(HTML, plain text, empty, JSON of its own) as the typed SDK error its status calls for, with a
readable message, over real HTTP against the Stripe stand-in and its fault injector."""

from __future__ import annotations

from typing import Any

import pytest
import requests
import structlog.testing
from airflow.sdk.exceptions import AirflowFailException
from ml_connector_sandbox import FaultRule, SandboxClient
from ml_connector_sandbox.systems.stripe import StripeSandbox

from tests.integration.stripe.test_stripe_event_sensor import (
    EVENTS,
    NO_CONTEXT,
    baseline,  # noqa: F401 - fixture
    create_customer,
    events_requests,
    no_retry_conn_id,  # noqa: F401 - fixture
    sensor,
    wait_for,
)

REASONS = {401: "Unauthorized", 403: "Forbidden", 429: "Too Many Requests", 502: "Bad Gateway"}
CLASSES = {401: "AuthenticationError", 403: "PermissionError", 429: "RateLimitError", 502: "APIError"}
HTML = (
    "<html><head><title>{status} {reason}</title></head><body><center><h1>{status} {reason}</h1>"
    "</center><hr><center>cloudfront</center></body></html>"
)
BODIES: dict[str, Any] = {
    "html": HTML,
    "plain-text": "{status} {reason}: upstream refused the request",
    "empty": None,
    # a string `error` made stripe 16.1.0 fail with an AttributeError of its own
    "json-string-error": {"error": "{reason}"},
    "json-no-error": {"message": "{reason}"},
}


def _body(template: Any, status: int) -> Any:
    reason = REASONS[status]
    if isinstance(template, str):
        return template.format(status=status, reason=reason)
    if isinstance(template, dict):
        return {name: value.format(status=status, reason=reason) for name, value in template.items()}
    return template


def _assert_readable(message: str, status: int, secret_key: str) -> None:
    assert (
        f"{CLASSES[status]} (HTTP {status}): Stripe API answered HTTP {status} {REASONS[status]}" in message
    )
    assert "AttributeError" not in message
    assert "<" not in message
    assert secret_key not in message
    assert len(message) < 500


@pytest.mark.parametrize("body", sorted(BODIES))
@pytest.mark.parametrize("status", [401, 403])
def test_trigger_ends_with_a_readable_error_for_a_gateways_refusal(
    no_retry_conn_id: str,  # noqa: F811 - fixture
    stripe_system: StripeSandbox,
    baseline: dict[str, Any],  # noqa: F811 - fixture
    admin: SandboxClient,
    status: int,
    body: str,
) -> None:
    stripe_system.faults.add(
        FaultRule.error(status, path=EVENTS, body=_body(BODIES[body], status), times=None)
    )

    payload = wait_for(no_retry_conn_id, baseline["since"])

    assert payload["status"] == "error", payload
    assert payload["message"].startswith("listing Stripe events failed: ")
    _assert_readable(payload["message"], status, stripe_system.secret_key)
    assert len(events_requests(admin)) == 1, "a refusal is not retried"


@pytest.mark.parametrize("body", sorted(BODIES))
@pytest.mark.parametrize("status", [429, 502])
def test_trigger_waits_out_a_gateways_overload(
    no_retry_conn_id: str,  # noqa: F811 - fixture
    stripe_system: StripeSandbox,
    baseline: dict[str, Any],  # noqa: F811 - fixture
    admin: SandboxClient,
    http: requests.Session,
    base_url: str,
    status: int,
    body: str,
) -> None:
    create_customer(http, base_url, "New")
    stripe_system.faults.add(FaultRule.error(status, path=EVENTS, body=_body(BODIES[body], status), times=2))

    with structlog.testing.capture_logs() as logs:
        payload = wait_for(no_retry_conn_id, baseline["since"])

    assert payload["status"] == "success", payload
    assert payload["count"] == 1
    assert [r["status"] for r in events_requests(admin)] == [status, status, 200]
    lines = [entry["event"] % tuple(entry.get("positional_args", ())) for entry in logs]
    warnings = [line for line in lines if "Listing Stripe events failed" in line]
    assert len(warnings) == 2
    for warning in warnings:
        _assert_readable(warning, status, stripe_system.secret_key)


@pytest.mark.parametrize("body", sorted(BODIES))
def test_poke_fails_readably_on_a_gateways_401_and_waits_on_its_429(
    no_retry_conn_id: str,  # noqa: F811 - fixture
    stripe_system: StripeSandbox,
    baseline: dict[str, Any],  # noqa: F811 - fixture
    http: requests.Session,
    base_url: str,
    body: str,
) -> None:
    create_customer(http, base_url, "New")
    task = sensor(stripe_conn_id=no_retry_conn_id, since=baseline["since"])

    stripe_system.faults.add(FaultRule.error(429, path=EVENTS, body=_body(BODIES[body], 429), times=1))
    assert not task.poke(NO_CONTEXT)  # an overload is "not yet"

    stripe_system.faults.add(FaultRule.error(401, path=EVENTS, body=_body(BODIES[body], 401), times=1))
    with pytest.raises(AirflowFailException) as raised:
        task.poke(NO_CONTEXT)
    _assert_readable(str(raised.value), 401, stripe_system.secret_key)

    assert task.poke(NO_CONTEXT)
