"""``ml-connector check`` for Oracle Fusion, against the stand-in over HTTP: every probe passes on
the default stand-in, and each way a pod can differ (a finder missing, ``in`` refused, a wrong
scope, a missing privilege, a skewed clock, a smaller page cap) is named with what to change."""

from __future__ import annotations

import json
from typing import Any

import pytest
import requests
from ml_connector_sandbox.systems.fusion import FusionSandbox
from ml_connector_sandbox.systems.fusion.system import SCOPE_SUFFIX

from ml_connector_provider.checks import CheckResult, CheckStatus
from ml_connector_provider.checks.fusion import FusionNeed, check_fusion
from ml_connector_provider.hooks.oracle_fusion import OracleFusionHook
from ml_connector_provider.integrations.fusion_stripe.fusion_needs import STREAM_NEEDS
from ml_connector_provider.integrations.fusion_stripe.fusion_needs import fusion_needs as stripe_needs
from ml_connector_provider.integrations.stampli_fusion.fusion_needs import fusion_needs as stampli_needs
from ml_connector_provider.integrations.stampli_fusion.settings import StampliFusionSettings
from tests.integration.fusion.conftest import ConnectionFactory

ALL_NEEDS = [
    *stripe_needs(STREAM_NEEDS),
    *stampli_needs(
        ["invoices", "reference_data"],
        StampliFusionSettings.model_validate({"business_unit": "US1 Business Unit"}),
    ),
]


def by_check(results: list[CheckResult]) -> dict[str, CheckResult]:
    return {r.check: r for r in results}


def run(hook: OracleFusionHook, needs: list[FusionNeed] = ALL_NEEDS) -> dict[str, CheckResult]:
    return by_check(check_fusion(hook, needs))


def test_every_probe_passes_against_the_default_stand_in(hook: OracleFusionHook) -> None:
    results = run(hook)
    assert {name: r.status.value for name, r in results.items() if r.status is not CheckStatus.OK} == {}
    resources = {need.resource for need in ALL_NEEDS}
    for resource in resources:
        assert f"fusion.resource.{resource}" in results
        assert f"fusion.describe.{resource}" in results
    assert {"fusion.auth", "fusion.api_version", "fusion.clock_skew", "fusion.page_size"} <= set(results)
    assert "fusion.changes.receivablesInvoices" in results
    assert "fusion.in_filter.suppliers" in results
    assert results["fusion.page_size"].found == "pages hold up to 500 rows"
    assert results["fusion.quoted_text"].status is CheckStatus.OK


def test_an_unreachable_pod_is_one_finding(monkeypatch: pytest.MonkeyPatch) -> None:
    connection = {
        "conn_type": "oracle_fusion",
        "host": "http://127.0.0.1:9",  # the discard port: nothing listens
        "login": "FIN_INTEGRATION_USER",
        "password": "Sandbox-Basic-8d61e2",
        "extra": {"auth_type": "basic", "retry_attempts": 1, "timeout": 5},
    }
    monkeypatch.setenv("AIRFLOW_CONN_FUSION_GONE", json.dumps(connection))
    gone = OracleFusionHook("fusion_gone")
    try:
        [result] = check_fusion(gone, ALL_NEEDS)
    finally:
        gone.close()
    assert (result.check, result.status) == ("fusion.connect", CheckStatus.FAIL)
    assert "could not be reached" in result.found
    assert "pod URL" in result.fix


def switch(base_url: str, **settings: Any) -> dict[str, Any]:
    """Change the stand-in's pod settings through its admin API."""
    response = requests.post(f"{base_url}/__sandbox__/fusion/settings", json=settings, timeout=10)
    assert response.status_code == 200, response.text
    body: dict[str, Any] = response.json()
    return body


def failures(results: dict[str, CheckResult]) -> dict[str, CheckResult]:
    return {name: r for name, r in results.items() if r.status is CheckStatus.FAIL}


def test_a_missing_finder_is_named(hook: OracleFusionHook, base_url: str) -> None:
    need = FusionNeed(
        "receivablesCustomerAccountSiteActivities",
        "a finder look-up",
        key="BillToSiteUseId",
        attributes=("AccountNumber",),
        finders=("CustomerAccountSiteActivitiesFinder",),
    )
    assert (
        run(hook, [need])["fusion.describe.receivablesCustomerAccountSiteActivities"].status is CheckStatus.OK
    )
    assert switch(
        base_url,
        removed_finders=["receivablesCustomerAccountSiteActivities.CustomerAccountSiteActivitiesFinder"],
    )["removed_finders"] == ["receivablesCustomerAccountSiteActivities.CustomerAccountSiteActivitiesFinder"]
    failed = failures(run(hook, [need]))
    assert list(failed) == ["fusion.describe.receivablesCustomerAccountSiteActivities"]
    result = failed["fusion.describe.receivablesCustomerAccountSiteActivities"]
    assert "finders missing: CustomerAccountSiteActivitiesFinder" in result.found
    assert "a finder look-up calls them" in result.fix


def test_the_journal_writers_status_finder_missing_is_named(hook: OracleFusionHook, base_url: str) -> None:
    from ml_connector_provider.checks.fusion_gl import check_journal_import

    switch(base_url, removed_finders=["erpintegrations.ESSJobStatusRF"])
    results = by_check(check_journal_import(hook, journal_source="Stripe", journal_category="Receipts"))
    status = results["fusion.ess_job_status"]
    assert status.status is CheckStatus.FAIL
    assert "ESSJobStatusRF" in status.found
    assert "HTTP 400" in status.found
    assert "Import Journals" in status.fix


def test_in_refused_names_the_setting_that_avoids_it(
    hook: OracleFusionHook, base_url: str, make_connection: ConnectionFactory
) -> None:
    switch(base_url, refused_operators=["in"])
    failed = failures(run(hook))
    assert set(failed) == {f"fusion.in_filter.{n.resource}" for n in ALL_NEEDS if n.in_lists}
    result = failed["fusion.in_filter.suppliers"]
    assert "refused an in (…) list in q (HTTP 400" in result.found
    assert "the operator in is not allowed" in result.found
    assert "rest_framework_version to 1" in result.fix
    # The setting the fix names makes the check pass: version 1 sends one query per value.
    version_1 = OracleFusionHook(make_connection("fusion_v1", rest_framework_version="1"))
    try:
        results = run(version_1)
    finally:
        version_1.close()
    assert failures(results) == {}
    assert "one query per value" in results["fusion.in_filter.suppliers"].found


def test_a_wrong_scope_is_named_with_the_scope_to_set(make_connection: ConnectionFactory) -> None:
    wrong = OracleFusionHook(make_connection("fusion_scope", scope="urn:opc:resource:fa:instanceid=1234567"))
    try:
        results = check_fusion(wrong, ALL_NEEDS)
    finally:
        wrong.close()
    [auth] = results  # nothing else can be probed without a token
    assert (auth.check, auth.status) == ("fusion.auth", CheckStatus.FAIL)
    assert "invalid_scope" in auth.found
    assert (
        f"set the connection extra scope to urn:opc:resource:fa:instanceid=<FA instance id>{SCOPE_SUFFIX}"
        in (auth.fix)
    )
    assert "'urn:opc:resource:fa:instanceid=1234567'" in auth.fix


def test_a_wrong_client_secret_is_named_without_printing_it(make_connection: ConnectionFactory) -> None:
    wrong = OracleFusionHook(make_connection("fusion_client", client_secret="not-the-secret-4711"))
    try:
        [auth] = check_fusion(wrong, ALL_NEEDS)
    finally:
        wrong.close()
    assert auth.status is CheckStatus.FAIL
    assert "invalid_client" in auth.found
    assert "client_secret" in auth.fix
    assert "not-the-secret-4711" not in auth.found + auth.fix


def test_wrong_basic_credentials_fail_the_auth_probe(make_connection: ConnectionFactory) -> None:
    wrong = OracleFusionHook(make_connection("fusion_basic", basic=True, password="wrong-password-0815"))
    try:
        [auth] = check_fusion(wrong, ALL_NEEDS)
    finally:
        wrong.close()
    assert auth.status is CheckStatus.FAIL
    assert "login and password" in auth.fix
    assert "wrong-password-0815" not in auth.found


def test_basic_credentials_that_work_pass(make_connection: ConnectionFactory) -> None:
    basic = OracleFusionHook(make_connection("fusion_basic_ok", basic=True))
    try:
        results = run(basic)
    finally:
        basic.close()
    assert failures(results) == {}
    assert results["fusion.auth"].found == "the API accepted the Basic credentials"


def test_a_missing_privilege_names_the_resource_and_the_role(hook: OracleFusionHook, base_url: str) -> None:
    switch(base_url, forbidden_resources=["invoices"])
    results = run(hook)
    assert set(failures(results)) == {"fusion.resource.invoices"}
    result = results["fusion.resource.invoices"]
    assert "may not read invoices (HTTP 403" in result.found
    assert "INSUFFICIENT_PERMISSION" in result.found or "not authorized" in result.found
    assert "view and create privileges of invoices" in result.fix
    # Nothing more is probed on a resource that cannot be read.
    assert "fusion.describe.invoices" not in results


@pytest.mark.parametrize(
    ("offset", "status", "side"),
    [(-900.0, CheckStatus.FAIL, "behind"), (180.0, CheckStatus.WARN, "ahead of")],
)
def test_a_skewed_pod_clock_is_reported(
    hook: OracleFusionHook, fusion: FusionSandbox, offset: float, status: CheckStatus, side: str
) -> None:
    fusion.clock.set_offset(offset)
    result = run(hook)["fusion.clock_skew"]
    assert result.status is status
    assert f"s {side} this machine's" in result.found
    assert "NTP" in result.fix


def test_a_smaller_page_cap_is_reported(hook: OracleFusionHook, base_url: str) -> None:
    switch(base_url, max_limit=499)
    result = run(hook)["fusion.page_size"]
    assert result.status is CheckStatus.OK
    assert result.found.startswith("the pod caps pages at 499 rows")


def test_a_wrong_api_version_is_named(make_connection: ConnectionFactory) -> None:
    wrong = OracleFusionHook(make_connection("fusion_api", api_version="11.13.18.04"))
    try:
        results = by_check(check_fusion(wrong, ALL_NEEDS))
    finally:
        wrong.close()
    assert list(results) == ["fusion.auth", "fusion.api_version"]
    assert results["fusion.api_version"].status is CheckStatus.FAIL
    assert "11.13.18.04" in results["fusion.api_version"].found
    assert "api_version to 11.13.18.05" in results["fusion.api_version"].fix


def test_missing_and_unqueryable_attributes_are_named(hook: OracleFusionHook) -> None:
    need = FusionNeed(
        "receivablesCustomerAccountSiteActivities",
        "a stream from a later release",
        key="BillToSiteUseId",
        attributes=("SiteRiskScore",),
        queryable=("BillToSiteAddress",),
    )
    result = run(hook, [need])["fusion.describe.receivablesCustomerAccountSiteActivities"]
    assert result.status is CheckStatus.FAIL
    assert "attributes missing: SiteRiskScore" in result.found
    assert "not queryable: BillToSiteAddress" in result.found
    assert "a stream from a later release filters or sorts on them" in result.fix


def test_a_pod_that_does_not_read_a_doubled_quote_is_a_warning(hook: OracleFusionHook, base_url: str) -> None:
    assert switch(base_url, doubled_quotes=False)["doubled_quotes"] is False
    results = run(hook)
    result = results["fusion.quoted_text"]
    assert result.status is CheckStatus.WARN
    assert "refused a text value holding ' in q" in result.found
    assert "HTTP 400" in result.found
    assert "apostrophe" in result.found
    assert failures(results) == {}  # the rest of the pod fits: values without quotes look up as before


def test_the_switches_refuse_bad_names_and_a_reset_turns_them_off(
    base_url: str, fusion: FusionSandbox
) -> None:
    bad = requests.post(
        f"{base_url}/__sandbox__/fusion/settings", json={"removed_finders": ["NoDot"]}, timeout=10
    )
    assert bad.status_code == 422
    assert "<resource>.<finder>" in bad.text
    unknown = requests.post(
        f"{base_url}/__sandbox__/fusion/settings", json={"refused_operators": ["between"]}, timeout=10
    )
    assert unknown.status_code == 422
    switch(
        base_url,
        refused_operators=["in", "like"],
        forbidden_resources=["suppliers"],
        removed_finders=["erpintegrations.ESSJobStatusRF"],
        doubled_quotes=False,
    )
    fusion.reset()
    settings = requests.get(f"{base_url}/__sandbox__/fusion/settings", timeout=10).json()
    assert (
        settings["refused_operators"],
        settings["forbidden_resources"],
        settings["removed_finders"],
        settings["doubled_quotes"],
    ) == ([], [], [], True)


def test_absent_optional_attributes_are_a_warning(hook: OracleFusionHook) -> None:
    need = FusionNeed(
        "receivablesInvoices",
        "invoices",
        key="CustomerTransactionId",
        attributes=("TransactionNumber",),
        optional=("EnteredAmount", "InvoiceGrandTotalUnconfirmed"),
    )
    result = run(hook, [need])["fusion.describe.receivablesInvoices"]
    assert result.status is CheckStatus.WARN
    assert result.found == "receivablesInvoices: optional attributes absent: InvoiceGrandTotalUnconfirmed"
    assert result.fix.startswith("nothing required: invoices reads them when present")


def test_a_missing_child_attribute_is_named(hook: OracleFusionHook) -> None:
    need = FusionNeed(
        "suppliers",
        "invoices (suppliers)",
        key="SupplierId",
        children=("sites",),
        child_attributes=(("sites", "SupplierSite"), ("sites", "SiteRemitToCode")),
    )
    result = run(hook, [need])["fusion.describe.suppliers"]
    assert result.status is CheckStatus.FAIL
    assert result.found == "suppliers: child attributes missing: sites.SiteRemitToCode"
