"""The NetSuite stand-in's SuiteQL endpoint (contract B6), over HTTP."""

from __future__ import annotations

import time
from typing import Any

import pytest
import requests
from ml_connector_sandbox.systems.netsuite import NetSuiteSandbox

from tests.harness.sandbox import one_system_fixtures
from tests.sandbox.netsuite_support import RECORDS, SUITEQL, bearer, error_code, internal_id

runner, netsuite, base_url, admin = one_system_fixtures(NetSuiteSandbox, system_fixture="netsuite")


@pytest.fixture
def headers(base_url: str) -> dict[str, str]:
    return {**bearer(base_url), "Prefer": "transient"}


def query(base_url: str, headers: dict[str, str], q: str, **params: Any) -> requests.Response:
    return requests.post(f"{base_url}{SUITEQL}", json={"q": q}, headers=headers, params=params, timeout=10)


def rows(base_url: str, headers: dict[str, str], q: str, **params: Any) -> list[dict[str, Any]]:
    response = query(base_url, headers, q, **params)
    assert response.status_code == 200, response.text
    return list(response.json()["items"])


def test_rows_have_lowercase_columns_empty_links_and_string_values(
    base_url: str, headers: dict[str, str]
) -> None:
    found = rows(base_url, headers, "SELECT ID, CompanyName, externalId FROM customer WHERE id = 101")
    assert found == [
        {"links": [], "id": "101", "companyname": "Acme Corp", "externalid": "stripe-cus_SeedAcme"}
    ]


def test_null_columns_are_left_out(base_url: str, headers: dict[str, str]) -> None:
    found = rows(base_url, headers, "SELECT id, externalid FROM customer WHERE id = 103")
    assert found == [{"links": [], "id": "103"}]


def test_the_item_lookup_by_custom_field_and_external_id(base_url: str, headers: dict[str, str]) -> None:
    by_field = rows(
        base_url,
        headers,
        "SELECT id, itemid, itemtype FROM item WHERE custitem_stripe_product_id = 'prod_SeedProAnnual'",
    )
    assert by_field == [{"links": [], "id": "202", "itemid": "Pro Plan - Annual", "itemtype": "Service"}]
    either = rows(
        base_url,
        headers,
        "SELECT id FROM item WHERE externalid IN ('prod_SeedProMonthly', 'prod_SeedOnboarding') "
        "OR custitem_stripe_product_id = 'nothing' ORDER BY id DESC",
    )
    assert [r["id"] for r in either] == ["203", "201"]


def test_transactions_by_type_and_external_id(base_url: str, headers: dict[str, str]) -> None:
    body = {"entity": {"id": "101"}, "item": {"items": [{"item": {"id": "201"}, "amount": 25.5}]}}
    invoice_id = internal_id(
        requests.put(f"{base_url}{RECORDS}/invoice/eid:stripe-ch_q", json=body, headers=headers, timeout=10)
    )
    found = rows(
        base_url,
        headers,
        "SELECT id, type, foreigntotal, status FROM transaction WHERE type = 'CustInvc' AND externalid = 'stripe-ch_q'",
    )
    assert found == [
        {"links": [], "id": invoice_id, "type": "CustInvc", "foreigntotal": "25.5", "status": "A"}
    ]


def test_quotes_are_escaped_by_doubling_them(base_url: str, headers: dict[str, str]) -> None:
    requests.post(
        f"{base_url}{RECORDS}/customer", json={"companyName": "O'Brien & Sons"}, headers=headers, timeout=10
    )
    found = rows(base_url, headers, "SELECT companyname FROM customer WHERE companyname = 'O''Brien & Sons'")
    assert found == [{"links": [], "companyname": "O'Brien & Sons"}]


def test_an_escaped_injection_attempt_is_just_a_value(base_url: str, headers: dict[str, str]) -> None:
    hostile = "x' OR id > '0"
    escaped = hostile.replace("'", "''")
    safe = f"SELECT id FROM customer WHERE externalid = '{escaped}'"  # noqa: S608 - the point of the test
    assert rows(base_url, headers, safe) == []
    unescaped = query(base_url, headers, f"SELECT id FROM customer WHERE externalid = '{hostile}'")  # noqa: S608 - the point of the test
    # Unescaped, the value ends early and the rest is SQL: here it would match every customer.
    assert unescaped.status_code == 200
    assert len(unescaped.json()["items"]) == 3


def test_an_unterminated_literal_is_an_invalid_query(base_url: str, headers: dict[str, str]) -> None:
    response = query(base_url, headers, "SELECT id FROM customer WHERE companyname = 'O'Brien'")
    assert response.status_code == 400
    assert response.json()["title"] == "Invalid search query."


@pytest.mark.parametrize(
    "q",
    [
        "SELECT id FROM invoice",
        "SELECT c.id FROM customer c JOIN transaction t ON t.entity = c.id",
        "SELECT COUNT(*) FROM customer",
        "SELECT id FROM customer WHERE lastmodifieddate > TO_DATE('01/01/2024', 'MM/DD/YYYY')",
        "DELETE FROM customer",
        "SELECT id FROM customer; DROP TABLE customer",
    ],
)
def test_anything_outside_the_subset_is_refused_naming_the_query(
    base_url: str, headers: dict[str, str], q: str
) -> None:
    response = query(base_url, headers, q)
    assert response.status_code == 400
    detail = response.json()["o:errorDetails"][0]
    assert detail["o:errorCode"] == "INVALID_PARAMETER"
    assert "not supported by the NetSuite stand-in" in detail["detail"]
    assert q in detail["detail"]


def test_an_unknown_column_is_field_not_found(base_url: str, headers: dict[str, str]) -> None:
    response = query(base_url, headers, "SELECT foo FROM customer")
    assert response.status_code == 400
    assert "Field 'foo'" in response.json()["o:errorDetails"][0]["detail"]
    undefined_custom = query(base_url, headers, "SELECT id FROM item WHERE custitem_nobody = 'x'")
    assert undefined_custom.status_code == 400


def test_a_custom_field_defined_through_the_admin_api_becomes_queryable(
    base_url: str, headers: dict[str, str]
) -> None:
    requests.post(f"{base_url}/__sandbox__/netsuite/custom-fields", json=["custitem_plan_code"], timeout=10)
    assert (
        rows(base_url, headers, "SELECT id FROM item WHERE custitem_plan_code IS NULL ORDER BY id")[0]["id"]
        == "201"
    )


def test_paging_with_limit_offset_has_more_and_total_results(base_url: str, headers: dict[str, str]) -> None:
    for n in range(4):
        requests.post(
            f"{base_url}{RECORDS}/customer", json={"companyName": f"Bulk {n}"}, headers=headers, timeout=10
        )
    first = query(base_url, headers, "SELECT id FROM customer ORDER BY id", limit=3).json()
    assert (first["count"], first["hasMore"], first["totalResults"], first["offset"]) == (3, True, 7, 0)
    assert any(link["rel"] == "next" for link in first["links"])
    second = query(base_url, headers, "SELECT id FROM customer ORDER BY id", limit=3, offset=3).json()
    third = query(base_url, headers, "SELECT id FROM customer ORDER BY id", limit=3, offset=6).json()
    ids = [r["id"] for page in (first, second, third) for r in page["items"]]
    assert len(ids) == len(set(ids)) == 7
    assert third["hasMore"] is False
    assert query(base_url, headers, "SELECT id FROM customer", limit=1001).status_code == 400


def test_prefer_transient_is_required_unless_switched_off(base_url: str, headers: dict[str, str]) -> None:
    plain = {k: v for k, v in headers.items() if k != "Prefer"}
    refused = query(base_url, plain, "SELECT id FROM customer")
    assert refused.status_code == 400
    requests.post(
        f"{base_url}/__sandbox__/netsuite/settings", json={"suiteql_require_transient": False}, timeout=10
    )
    assert query(base_url, plain, "SELECT id FROM customer").status_code == 200


def test_bind_parameters_are_refused_honestly(base_url: str, headers: dict[str, str]) -> None:
    response = requests.post(
        f"{base_url}{SUITEQL}",
        json={"q": "SELECT id FROM customer WHERE id > ?", "params": [100]},
        headers=headers,
        timeout=10,
    )
    assert response.status_code == 400
    assert error_code(response) == "INVALID_PARAMETER"


def test_suiteql_needs_a_token(base_url: str) -> None:
    response = requests.post(
        f"{base_url}{SUITEQL}",
        json={"q": "SELECT id FROM customer"},
        headers={"Prefer": "transient"},
        timeout=10,
    )
    assert response.status_code == 401
    assert error_code(response) == "INVALID_LOGIN"


def test_incremental_reads_compare_lastmodifieddate_with_to_timestamp(
    base_url: str, headers: dict[str, str]
) -> None:
    # The seed was last modified on 2026-01-01; the sandbox clock is put at least a day later.
    offset = max(0.0, 1767225600 + 86400 - time.time())
    requests.post(f"{base_url}/__sandbox__/clock", json={"offset": offset}, timeout=10)
    created = requests.post(
        f"{base_url}{RECORDS}/customer", json={"companyName": "Changed"}, headers=headers, timeout=10
    )
    new_id = internal_id(created)
    since_seed = rows(
        base_url,
        headers,
        "SELECT id FROM customer WHERE lastmodifieddate > TO_TIMESTAMP('2026-01-01 00:00:00', "
        "'YYYY-MM-DD HH24:MI:SS') ORDER BY lastmodifieddate, id",
    )
    assert [r["id"] for r in since_seed] == [new_id]
    on_or_after = rows(
        base_url,
        headers,
        "SELECT id FROM customer WHERE lastmodifieddate >= TO_DATE('2026-01-01', 'YYYY-MM-DD')",
    )
    assert len(on_or_after) == 4
