"""``ml-connector check`` probes of ``stripe_netsuite`` against the Stripe and NetSuite stand-ins."""

from __future__ import annotations

from typing import Any

from ml_connector_sandbox import SandboxRunner

from ml_connector_provider.checks import CheckStatus
from ml_connector_provider.integrations.stripe_netsuite.checks import run_checks
from ml_connector_provider.integrations.stripe_netsuite.settings import StripeNetSuiteSettings
from tests.integration.stripe_netsuite.conftest import CONN_IDS


def statuses(settings: dict[str, Any]) -> dict[str, tuple[CheckStatus, str]]:
    config = StripeNetSuiteSettings.model_validate(
        {"subsidiary_id": "1", "currencies": {"USD": "1", "JPY": "3"}, **settings}
    )
    return {
        r.check: (r.status, r.found) for r in run_checks(CONN_IDS, config) if r.check.startswith("netsuite.")
    }


def test_a_tenant_whose_references_exist_passes_every_netsuite_check(stand_ins: SandboxRunner) -> None:
    found = statuses(
        {
            "items": {"prod_SeedProMonthly": "201"},
            "amount_mode": "gross_with_fee_line",
            "fee_item": "204",
            "item_lookup": "custom_field",
            "event_id_field": "custbody_stripe_event_id",
            "object_id_field": "custbody_stripe_object_id",
        }
    )
    assert set(found) == {
        "netsuite.token",
        "netsuite.records",
        "netsuite.suiteql",
        "netsuite.items",
        "netsuite.customers",
        "netsuite.custom_fields",
    }
    assert all(status is CheckStatus.OK for status, _ in found.values()), found


def test_missing_item_currency_and_custom_field_fail_by_name(stand_ins: SandboxRunner) -> None:
    found = statuses(
        {
            "items": {"prod_X": "999"},
            "currencies": {"USD": "1", "CHF": "77"},
            "event_id_field": "custbody_nowhere",
        }
    )
    assert found["netsuite.items"][0] is CheckStatus.FAIL
    assert "999" in found["netsuite.items"][1]
    assert found["netsuite.records"][0] is CheckStatus.FAIL
    assert "currency 77" in found["netsuite.records"][1]
    assert found["netsuite.custom_fields"][0] is CheckStatus.FAIL


def test_a_certificate_netsuite_does_not_know_fails_the_token_and_nothing_else_is_probed(
    stand_ins: SandboxRunner,
) -> None:
    netsuite: Any = stand_ins.system("netsuite")
    netsuite.m2m.replace_all([])  # the mapping of the connection's certificate is revoked
    found = statuses({})
    assert list(found) == ["netsuite.token"]
    assert found["netsuite.token"][0] is CheckStatus.FAIL
