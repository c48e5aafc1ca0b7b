"""``ml-connector check`` of a Stripe account, against the Stripe stand-in over HTTP: everything
passes on the default stand-in; a restricted key without a permission, a revoked key, a key of the
wrong mode and a clock far from Stripe's are each named with what to change. Also the stand-in's
restricted keys themselves (Stripe's 403 ``PermissionError`` answer). The command on a tenant is
tested in ``tests/integration/check``."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest
import requests
import stripe
from ml_connector_sandbox.systems.stripe import StripeSandbox

from ml_connector_provider.checks import CheckResult, CheckStatus
from ml_connector_provider.checks.stripe import check_stripe
from ml_connector_provider.hooks.stripe import StripeHook
from ml_connector_provider.integrations.fusion_stripe.stripe_needs import STRIPE_NEEDS, needs_of_streams
from tests.integration.stripe.conftest import ConnectionFactory

RESTRICTED = "rk_test_51MlcSandboxRestricted0Key0001"
EVERYTHING = {
    "customer": "write",
    "invoice": "write",
    "event": "read",
    "payment_intent": "read",
    "charge": "read",
    "refund": "read",
    "balance_transaction_source": "read",
}


def by_check(results: list[CheckResult]) -> dict[str, CheckResult]:
    checks = [r.check for r in results]
    assert len(checks) == len(set(checks)), checks
    return {r.check: r for r in results}


def test_every_probe_passes_on_the_default_stand_in(hook: StripeHook, stripe_system: StripeSandbox) -> None:
    before = {c["id"] for c in stripe_system.customers()}
    results = by_check(check_stripe(hook, needs=STRIPE_NEEDS))
    assert {name: r.status.value for name, r in results.items() if r.status is not CheckStatus.OK} == {}
    assert set(results) >= {
        "stripe.auth",
        "stripe.key",
        "stripe.api_version",
        "stripe.write_permissions",
        "stripe.search",
        "stripe.events",
        "stripe.clock",
        *(f"stripe.permission.{need.resource}" for need in STRIPE_NEEDS),
    }
    assert results["stripe.key"].found.startswith("a secret key in test mode")
    assert stripe.api_version in results["stripe.api_version"].found
    # read-only: only GETs reached the stand-in, and nothing changed
    methods = {entry.method for entry in stripe_system.requests.entries()}
    assert methods == {"GET"}
    assert {c["id"] for c in stripe_system.customers()} == before


def test_a_restricted_key_without_a_permission_is_named_with_the_permission_to_grant(
    make_connection: ConnectionFactory, stripe_system: StripeSandbox
) -> None:
    grants = {k: v for k, v in EVERYTHING.items() if k != "invoice"}
    stripe_system.settings.restricted_keys = {RESTRICTED: grants}  # type: ignore[dict-item]
    hook = StripeHook(make_connection("acme_rk", password=RESTRICTED))
    results = by_check(check_stripe(hook, needs=STRIPE_NEEDS))
    failed = {name for name, r in results.items() if r.status is CheckStatus.FAIL}
    assert failed == {"stripe.permission.invoice"}
    invoice = results["stripe.permission.invoice"]
    assert "HTTP 403" in invoice.found
    assert "rak_invoice_read" in invoice.found
    assert "payments" in invoice.found
    assert (
        invoice.fix == "edit the restricted key in Stripe's Dashboard: Invoices → Write (rak_invoice_write)"
    )
    assert results["stripe.key"].found == "a restricted key in test mode"
    writes = results["stripe.write_permissions"]
    assert writes.status is CheckStatus.WARN
    assert "rak_customer_write" in writes.found
    assert "rak_invoice_write" in writes.found
    assert all(RESTRICTED not in r.found + r.fix for r in results.values())


def test_a_key_with_every_read_permission_passes_except_the_unprovable_writes(
    make_connection: ConnectionFactory, stripe_system: StripeSandbox
) -> None:
    stripe_system.settings.restricted_keys = {RESTRICTED: EVERYTHING}  # type: ignore[dict-item]
    hook = StripeHook(make_connection("acme_rk", password=RESTRICTED))
    results = by_check(check_stripe(hook, needs=STRIPE_NEEDS))
    assert {name for name, r in results.items() if r.status is not CheckStatus.OK} == {
        "stripe.write_permissions"
    }


def test_only_the_needs_of_the_tenants_streams_are_probed(
    make_connection: ConnectionFactory, stripe_system: StripeSandbox
) -> None:
    stripe_system.settings.restricted_keys = {
        RESTRICTED: {"customer": "write", "invoice": "write", "event": "read"}
    }
    hook = StripeHook(make_connection("acme_rk", password=RESTRICTED))
    results = by_check(check_stripe(hook, needs=needs_of_streams(["customers", "invoices"])))
    assert {r.status for r in results.values()} <= {CheckStatus.OK, CheckStatus.WARN}
    assert "stripe.permission.charge" not in results


def test_a_revoked_key_stops_the_check_and_names_the_connection(
    make_connection: ConnectionFactory,
) -> None:
    revoked = "sk_test_51MlcRevokedKey000000000000000"
    hook = StripeHook(make_connection("acme_old", password=revoked))
    [auth] = check_stripe(hook, needs=STRIPE_NEEDS)
    assert (auth.check, auth.status) == ("stripe.auth", CheckStatus.FAIL)
    assert "HTTP 401" in auth.found
    assert "'acme_old'" in auth.found
    assert "wrong, rolled or revoked" in auth.fix
    assert revoked not in auth.found + auth.fix


def test_a_missing_connection_is_a_finding_not_a_traceback() -> None:
    [auth] = check_stripe(StripeHook("no_such_stripe"), needs=STRIPE_NEEDS)
    assert (auth.check, auth.status) == ("stripe.auth", CheckStatus.FAIL)
    assert "'no_such_stripe'" in auth.found
    assert "type stripe" in auth.fix


def test_a_version_stripe_refuses_is_named_with_the_extra_to_fix(make_connection: ConnectionFactory) -> None:
    hook = StripeHook(make_connection("acme_old_version", api_version="2019-13"))
    [version] = check_stripe(hook, needs=STRIPE_NEEDS)
    assert (version.check, version.status) == ("stripe.api_version", CheckStatus.FAIL)
    assert "Invalid Stripe API version: 2019-13" in version.found
    assert "api_version extra of connection 'acme_old_version'" in version.fix


def test_a_test_key_where_the_tenant_expects_live_mode(hook: StripeHook) -> None:
    results = by_check(check_stripe(hook, needs=STRIPE_NEEDS, live=True))
    key = results["stripe.key"]
    assert key.status is CheckStatus.FAIL
    assert "expects live mode" in key.found
    assert "sk_live_" in key.fix


def test_a_clock_far_from_stripes_is_named(hook: StripeHook) -> None:
    """``now`` stands for a worker whose clock runs ten minutes ahead; Stripe's side is the real
    ``Date`` header of the stand-in's answer."""
    ahead = datetime.now(UTC) + timedelta(minutes=10)
    clock = by_check(check_stripe(hook, needs=STRIPE_NEEDS, now=ahead))["stripe.clock"]
    assert clock.status is CheckStatus.FAIL
    assert "ahead of Stripe's" in clock.found
    assert "NTP" in clock.fix
    slightly = datetime.now(UTC) - timedelta(minutes=2)
    clock = by_check(check_stripe(hook, needs=STRIPE_NEEDS, now=slightly))["stripe.clock"]
    assert clock.status is CheckStatus.WARN
    assert "behind Stripe's" in clock.found


# -- the stand-in's restricted keys ------------------------------------------------------------


@pytest.fixture
def restricted(stripe_system: StripeSandbox) -> str:
    stripe_system.settings.restricted_keys = {RESTRICTED: {"customer": "read"}}  # type: ignore[dict-item]
    return RESTRICTED


def test_stand_in_answers_a_missing_permission_with_stripes_403(base_url: str, restricted: str) -> None:
    headers = {"Authorization": f"Bearer {restricted}"}
    assert requests.get(f"{base_url}/v1/customers", headers=headers, timeout=10).status_code == 200
    answer = requests.get(f"{base_url}/v1/invoices", headers=headers, timeout=10)
    assert answer.status_code == 403
    error = answer.json()["error"]
    assert error["type"] == "invalid_request_error"
    assert "code" not in error
    assert error["message"] == (
        "The provided key 'rk_test_"
        + "*" * (len(restricted) - len("rk_test_") - 4)
        + restricted[-4:]
        + "' does "
        "not have the required permissions for this endpoint on account 'acct_sandbox'. Having the "
        "'rak_invoice_read' permission would allow this request to continue."
    )
    write = requests.post(f"{base_url}/v1/customers", headers=headers, data={"name": "x"}, timeout=10)
    assert write.status_code == 403
    assert "'rak_customer_write'" in write.json()["error"]["message"]


def test_the_sdk_raises_permission_error_for_it(base_url: str, restricted: str) -> None:
    client = stripe.StripeClient(restricted, base_addresses={"api": base_url}, max_network_retries=0)
    client.v1.customers.list(params={"limit": 1})
    with pytest.raises(stripe.PermissionError) as raised:
        client.v1.charges.list(params={"limit": 1})
    assert raised.value.http_status == 403
    assert "rak_charge_read" in str(raised.value)


def test_an_unknown_restricted_key_is_a_401(base_url: str, restricted: str) -> None:
    answer = requests.get(
        f"{base_url}/v1/customers", headers={"Authorization": "Bearer rk_test_unknown0000000000"}, timeout=10
    )
    assert answer.status_code == 401
