from __future__ import annotations

import copy
from datetime import UTC, datetime
from typing import Any

import pytest
from hypothesis import given
from hypothesis import strategies as st

from ml_connector_provider.engine.types import DeadLetter, Skip, Write
from ml_connector_provider.integrations.fusion_stripe.mapping import InvoiceCustomer, map_invoice

CUSTOMER = InvoiceCustomer(site_use_id="300000047112001", stripe_customer_id="cus_ACME")

INVOICE: dict[str, Any] = {
    "CustomerTransactionId": 300100170996427,
    "TransactionNumber": "AR-1001",
    "TransactionDate": "2026-11-01",
    "DueDate": "2026-12-01",
    "InvoiceCurrencyCode": "USD",
    "BusinessUnit": "US1 Business Unit",
    "BillToCustomerNumber": "1001",
    "BillToSite": "1001-BT1",
    "PurchaseOrder": "PO-77",
    "InvoiceStatus": "Complete",
    "EnteredAmount": 2804.78,
    "receivablesInvoiceLines": [
        {
            "CustomerTransactionLineId": 2,
            "LineNumber": 2,
            "Description": "Battery",
            "Quantity": 2,
            "UnitSellingPrice": 102.15,
        },
        {
            "CustomerTransactionLineId": 1,
            "LineNumber": 1,
            "Description": "Laptop",
            "Quantity": 2,
            "UnitSellingPrice": 1299.99,
            "LineAmount": 2599.98,
        },
        {
            "CustomerTransactionLineId": 3,
            "LineNumber": 3,
            "Description": None,
            "ItemNumber": "CHG-4",
            "Quantity": 0.5,
            "UnitSellingPrice": 1.0,
        },
    ],
}


def mapped(record: dict[str, Any] | None = None, **options: Any) -> Any:
    return map_invoice(record or INVOICE, customer=options.pop("customer", CUSTOMER), **options)


def test_complete_invoice_maps_to_send_invoice_with_exact_minor_units() -> None:
    result = mapped()
    assert isinstance(result, Write)
    payload = result.payload
    assert payload["total"] == 280478
    assert payload["number"] == "AR-1001"
    assert [i["amount"] for i in payload["items"]] == [259998, 20430, 50]
    assert [i["description"] for i in payload["items"]] == ["Laptop", "Battery", "CHG-4"]
    assert payload["items"][0]["metadata"] == {"fusion_line_id": "1", "fusion_line_number": "1"}
    assert all(i["currency"] == "usd" for i in payload["items"])
    invoice = payload["invoice"]
    assert invoice["customer"] == "cus_ACME"
    assert invoice["collection_method"] == "send_invoice"
    assert invoice["due_date"] == int(datetime(2026, 12, 1, 23, 59, 59, tzinfo=UTC).timestamp())
    assert "days_until_due" not in invoice
    assert invoice["metadata"] == {
        "fusion_transaction_id": "300100170996427",
        "fusion_transaction_number": "AR-1001",
        "fusion_business_unit": "US1 Business Unit",
        "fusion_bill_to_site_use_id": "300000047112001",
    }
    assert {"name": "PO number", "value": "PO-77"} in invoice["custom_fields"]


def test_zero_decimal_currency_amounts_are_whole_units() -> None:
    record = {
        **INVOICE,
        "InvoiceCurrencyCode": "JPY",
        "EnteredAmount": 150000,
        "receivablesInvoiceLines": [{"CustomerTransactionLineId": 9, "LineNumber": 1, "LineAmount": 150000}],
    }
    result = mapped(record)
    assert isinstance(result, Write)
    assert result.payload["items"][0]["amount"] == 150000
    assert result.payload["invoice"]["currency"] == "jpy"

    fractional = copy.deepcopy(record)
    fractional["receivablesInvoiceLines"][0]["LineAmount"] = 1500.5
    fractional["EnteredAmount"] = 1500.5
    verdict = mapped(fractional)
    assert isinstance(verdict, DeadLetter)
    assert "more decimals than JPY allows" in verdict.reason
    assert verdict.field == "receivablesInvoiceLines[1].LineAmount"


def test_lines_must_add_up_to_the_invoice_amount() -> None:
    verdict = mapped({**INVOICE, "EnteredAmount": 2800})
    assert isinstance(verdict, DeadLetter)
    assert verdict.field == "EnteredAmount"
    assert "add up to 2804.78 but its amount is 2800.00" in verdict.reason


def test_missing_due_date_uses_days_until_due() -> None:
    result = mapped({**INVOICE, "DueDate": None}, default_days_until_due=45)
    assert isinstance(result, Write)
    assert result.payload["invoice"]["days_until_due"] == 45
    assert "due_date" not in result.payload["invoice"]


@pytest.mark.parametrize(
    ("change", "customer", "verdict", "text"),
    [
        ({"InvoiceStatus": "Incomplete"}, CUSTOMER, Skip, "not complete"),
        ({"BusinessUnit": "UK1 Business Unit"}, CUSTOMER, Skip, "not synced"),
        ({}, None, DeadLetter, "does not exist in Fusion"),
        ({}, InvoiceCustomer("300000047112001", None), DeadLetter, "is not in Stripe yet"),
        ({"InvoiceCurrencyCode": "US"}, CUSTOMER, DeadLetter, "ISO 4217"),
        ({"receivablesInvoiceLines": []}, CUSTOMER, DeadLetter, "has no lines"),
        ({"DueDate": "soon"}, CUSTOMER, DeadLetter, "is not a date"),
        ({"TransactionNumber": None}, CUSTOMER, DeadLetter, "no transaction number"),
        (
            {"EnteredAmount": -10, "receivablesInvoiceLines": [{"LineNumber": 1, "LineAmount": -10}]},
            CUSTOMER,
            Skip,
            "only amounts due",
        ),
    ],
)
def test_verdicts(change: dict[str, Any], customer: InvoiceCustomer | None, verdict: type, text: str) -> None:
    result = map_invoice({**INVOICE, **change}, customer=customer, business_units=["US1 Business Unit"])
    assert isinstance(result, verdict)
    assert text in result.reason  # type: ignore[union-attr]


def test_too_many_lines_for_stripe() -> None:
    lines = [{"CustomerTransactionLineId": n, "LineNumber": n, "LineAmount": 1} for n in range(1, 252)]
    verdict = mapped({**INVOICE, "EnteredAmount": 251, "receivablesInvoiceLines": lines})
    assert isinstance(verdict, DeadLetter)
    assert "at most 250" in verdict.reason


@given(st.lists(st.integers(min_value=1, max_value=10**9), min_size=1, max_size=20))
def test_totals_are_the_exact_sum_of_line_minor_units(cents: list[int]) -> None:
    lines = [
        {"CustomerTransactionLineId": n, "LineNumber": n, "LineAmount": f"{c // 100}.{c % 100:02d}"}
        for n, c in enumerate(cents, start=1)
    ]
    total = sum(cents)
    result = mapped(
        {**INVOICE, "EnteredAmount": f"{total // 100}.{total % 100:02d}", "receivablesInvoiceLines": lines}
    )
    assert isinstance(result, Write)
    assert [i["amount"] for i in result.payload["items"]] == cents
    assert result.payload["total"] == total
