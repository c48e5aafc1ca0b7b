from __future__ import annotations

from typing import Any

import pytest
from hypothesis import given
from hypothesis import strategies as st

from ml_connector_provider.engine.types import DeadLetter, Skip, Write
from ml_connector_provider.integrations.fusion_stripe.mapping import customer_metadata_keys, map_customer

SITE: dict[str, Any] = {
    "BillToSiteUseId": 300000047112001,
    "BillToSiteNumber": "1001-BT1",
    "AccountNumber": "1001",
    "AccountId": 300000047101001,
    "AccountName": "Acme Industrial Supply",
    "CustomerName": "Acme Industrial Supply Inc.",
    "Status": "A",
    "BusinessUnit": "US1 Business Unit",
    "EmailAddress": "ap@acme.example",
    "AddressLine1": "500 Congress Ave",
    "AddressLine2": "Suite 200",
    "AddressLine3": None,
    "AddressLine4": "Attn: Accounts Payable",
    "City": "Austin",
    "State": "TX",
    "Province": None,
    "PostalCode": "78701",
    "Country": "us",
    "LastUpdateDate": "2026-03-01T10:00:00.000+00:00",
}


def test_full_site_maps_to_stripe_customer() -> None:
    assert map_customer(SITE) == Write(
        {
            "name": "Acme Industrial Supply Inc.",
            "description": "Oracle Fusion customer account 1001, bill-to site 1001-BT1",
            "email": "ap@acme.example",
            "address": {
                "line1": "500 Congress Ave",
                "line2": "Suite 200, Attn: Accounts Payable",
                "city": "Austin",
                "postal_code": "78701",
                "state": "TX",
                "country": "US",
            },
            "metadata": {
                "fusion_bill_to_site_use_id": "300000047112001",
                "fusion_bill_to_site_number": "1001-BT1",
                "fusion_account_number": "1001",
                "fusion_account_id": "300000047101001",
                "fusion_business_unit": "US1 Business Unit",
            },
        }
    )


def test_minimal_site_without_email_or_address() -> None:
    record = {"BillToSiteUseId": 7, "CustomerName": "  Solo  "}
    assert map_customer(record, metadata_prefix="erp_") == Write(
        {
            "name": "Solo",
            "description": "Oracle Fusion customer",
            "email": "",
            "metadata": {"erp_bill_to_site_use_id": "7"},
        }
    )


def test_province_used_when_no_state() -> None:
    result = map_customer(
        {
            **SITE,
            "State": None,
            "Province": "Bayern",
            "Country": "DE",
            "AddressLine2": None,
            "AddressLine4": None,
        }
    )
    assert isinstance(result, Write)
    assert result.payload["address"] == {
        "line1": "500 Congress Ave",
        "line2": "",
        "city": "Austin",
        "state": "Bayern",
        "postal_code": "78701",
        "country": "DE",
    }


@pytest.mark.parametrize(
    ("changes", "expected"),
    [
        ({"Status": "I"}, Skip("bill-to site is inactive in Fusion")),
        (
            {"CustomerName": None, "AccountName": ""},
            DeadLetter("the customer has no name", field="CustomerName"),
        ),
        (
            {"EmailAddress": "not-an-email"},
            DeadLetter("e-mail address 'not-an-email' is not valid", field="EmailAddress"),
        ),
        ({"Country": "USA"}, DeadLetter("country 'USA' is not an ISO 3166-1 alpha-2 code", field="Country")),
        (
            {"BillToSiteUseId": None},
            DeadLetter("the Fusion row has no bill-to site use id", field="BillToSiteUseId"),
        ),
    ],
    ids=["inactive", "no-name", "bad-email", "bad-country", "no-id"],
)
def test_problems(changes: dict[str, Any], expected: object) -> None:
    assert map_customer({**SITE, **changes}) == expected


def test_business_unit_filter() -> None:
    assert map_customer(SITE, business_units=["EU Business Unit"]) == Skip(
        "business unit US1 Business Unit is not synced for this tenant"
    )
    assert isinstance(map_customer(SITE, business_units=["US1 Business Unit"]), Write)


def test_long_name_is_cut_to_stripe_limit() -> None:
    result = map_customer({**SITE, "CustomerName": "x" * 400})
    assert isinstance(result, Write)
    assert len(result.payload["name"]) == 256
    assert result.payload["name"].endswith("…")


@given(
    name=st.text(min_size=1, max_size=600).filter(lambda s: s.strip()),
    prefix=st.from_regex(r"[a-z0-9_]{0,20}", fullmatch=True),
)
def test_metadata_always_within_stripe_limits(name: str, prefix: str) -> None:
    result = map_customer({**SITE, "CustomerName": name, "BusinessUnit": name[:600]}, metadata_prefix=prefix)
    assert isinstance(result, Write)
    metadata = result.payload["metadata"]
    assert set(metadata) <= set(customer_metadata_keys(prefix).values())
    assert all(len(k) <= 40 and "[" not in k and "]" not in k for k in metadata)
    assert all(len(v) <= 500 for v in metadata.values())
    assert len(result.payload["name"]) <= 256
