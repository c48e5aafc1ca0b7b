"""Payables in the Fusion stand-in — ``suppliers`` (with ``sites``) and AP ``invoices`` (with
``invoiceLines`` and ``invoiceDistributions``) — over real HTTP, mostly through OracleFusionHook."""

from __future__ import annotations

from collections.abc import Iterator
from datetime import date, timedelta
from typing import Any
from urllib.parse import parse_qs

import pytest
import requests
from ml_connector_sandbox import FaultRule, SandboxClient
from ml_connector_sandbox.systems.fusion import (
    SEEDED_AP_INVOICES,
    SEEDED_SUPPLIERS,
    FusionSandbox,
    PayablesSettings,
)
from ml_connector_sandbox.systems.fusion.gl import (
    AP_EXPENSE_ACCOUNTS,
    DISABLED_ACCOUNT,
    DISABLED_EXPENSE_ACCOUNT,
    ENDED_EXPENSE_ACCOUNT,
    FREIGHT_EXPENSE_ACCOUNT,
    OFFICE_SUPPLIES_ENGINEERING_ACCOUNT,
    OFFICE_SUPPLIES_EXPENSE_ACCOUNT,
    SOFTWARE_EXPENSE_ACCOUNT,
    TRAVEL_EXPENSE_ACCOUNT,
)

from ml_connector_provider.hooks.oracle_fusion import (
    FusionApiError,
    FusionBadRequest,
    OracleFusionHook,
    expanded_items,
    parse_timestamp,
)
from tests.integration.fusion.conftest import REST, Api, ConnectionFactory

SUPPLIERS = "suppliers"
SITES = "sites"
INVOICES = "invoices"
LINES = "invoiceLines"
DISTRIBUTIONS = "invoiceDistributions"
INVOICES_PATH = f"{REST}/{INVOICES}"
US1 = "US1 Business Unit"
US2 = "US2 Business Unit"
#: Ids the stand-in hands out after its seed.
FIRST_NEW_INVOICE_ID = 300000048200004
FIRST_NEW_SUPPLIER_ID = 300000048110010
FIRST_NEW_SITE_ID = 300000048120012


@pytest.fixture
def today(fusion: FusionSandbox) -> date:
    return fusion.clock.now().date()


@pytest.fixture
def hook_v1(make_connection: ConnectionFactory) -> Iterator[OracleFusionHook]:
    hook = OracleFusionHook(make_connection("fusion_v1", rest_framework_version="1"))
    yield hook
    hook.close()


def invoice_body(today: date, number: str = "NC-7001", **changes: Any) -> dict[str, Any]:
    """A valid AP invoice for Nimbus Cloud Software (1003, site MAIN-PAY) with one line."""
    body: dict[str, Any] = {
        "InvoiceNumber": number,
        "InvoiceCurrency": "USD",
        "InvoiceAmount": 1200,
        "InvoiceDate": today.isoformat(),
        "BusinessUnit": US1,
        "SupplierNumber": "1003",
        "SupplierSite": "MAIN-PAY",
        "Description": "Design tool seats, annual",
        LINES: [
            {
                "LineAmount": 1200,
                "Description": "12 seats",
                "DistributionCombination": SOFTWARE_EXPENSE_ACCOUNT,
            }
        ],
    }
    body.update(changes)
    return {name: value for name, value in body.items() if value is not None}


def line(amount: Any, combination: str | None = SOFTWARE_EXPENSE_ACCOUNT, **changes: Any) -> dict[str, Any]:
    row: dict[str, Any] = {
        "LineAmount": amount,
        "Description": "Item",
        "DistributionCombination": combination,
    }
    row.update(changes)
    return {name: value for name, value in row.items() if value is not None}


def rows_of(item: dict[str, Any], child: str) -> list[dict[str, Any]]:
    rows, complete = expanded_items(item, child)
    assert complete, f"{child} not inlined completely"
    return rows


def all_items(hook: OracleFusionHook, resource: str, **options: Any) -> list[dict[str, Any]]:
    return [item for page in hook.iter_collection(resource, **options) for item in page]


# -- suppliers ------------------------------------------------------------------------------------------


def test_suppliers_with_expanded_sites_tell_the_seeds_story(hook: OracleFusionHook, today: date) -> None:
    suppliers = {s["SupplierNumber"]: s for s in all_items(hook, SUPPLIERS, expand=SITES, page_size=4)}
    assert list(suppliers) == list(SEEDED_SUPPLIERS)
    for number, (supplier_id, name, _story) in SEEDED_SUPPLIERS.items():
        assert (suppliers[number]["SupplierId"], suppliers[number]["Supplier"]) == (supplier_id, name)

    def sites(number: str) -> list[tuple[Any, ...]]:
        return [
            (s["SupplierSite"], s["ProcurementBU"], s["SitePurposePayFlag"], s["SitePurposePurchasingFlag"])
            for s in rows_of(suppliers[number], SITES)
        ]

    ordinary = ("1001", "1003", "1004")
    for number in ordinary:
        assert sites(number) == [("MAIN-PAY", US1, True, True)]
        assert (suppliers[number]["Status"], suppliers[number]["BusinessRelationship"]) == (
            "ACTIVE",
            "Spend Authorized",
        )
    assert sites("1005") == [
        ("DALLAS-PAY", US1, True, False),
        ("NEWARK-PAY", US1, True, False),
        ("DALLAS-PUR", US1, False, True),
    ]
    assert sites("1006") == [("MAIN-PAY", US1, True, False), ("US2-PAY", US2, True, False)]
    assert suppliers["1007"]["Status"] == "INACTIVE"
    [redwood_site] = rows_of(suppliers["1008"], SITES)
    assert redwood_site["InactiveDate"] == (today - timedelta(days=45)).isoformat()
    assert suppliers["1009"]["BusinessRelationship"] == "Prospective"
    assert rows_of(suppliers["1009"], SITES) == []
    active_sites = [
        s for s in rows_of(suppliers["1001"], SITES) if s["SitePurposePayFlag"] and s["InactiveDate"] is None
    ]
    assert [s["PaymentTerms"] for s in active_sites] == ["30 Net"]
    site_ids = [s["SupplierSiteId"] for supplier in suppliers.values() for s in rows_of(supplier, SITES)]
    assert len(site_ids) == len(set(site_ids)) == FIRST_NEW_SITE_ID - 300000048120001


def test_suppliers_queried_by_number_in_both_dialects(
    hook: OracleFusionHook, hook_v1: OracleFusionHook, api: Api
) -> None:
    found = hook.find_by_attribute(SUPPLIERS, "SupplierNumber", ["1005", "1002", "4711"], expand=SITES)
    assert sorted(s["Supplier"] for s in found) == ["Harborview Legal LLP", "Keystone Freight Lines Inc."]
    [keystone] = hook_v1.find_by_attribute(SUPPLIERS, "SupplierNumber", ["1005"])
    assert keystone["SupplierId"] == SEEDED_SUPPLIERS["1005"][0]
    assert (
        api.items(f"{REST}/{SUPPLIERS}", q="SupplierNumber=1005")[0]["Supplier"]
        == "Keystone Freight Lines Inc."
    )
    v2 = api.items(f"{REST}/{SUPPLIERS}", 2, q="Status = 'INACTIVE' or BusinessRelationship = 'Prospective'")
    assert [s["SupplierNumber"] for s in v2] == ["1007", "1009"]
    child = hook.child_items(SUPPLIERS, keystone["SupplierId"], SITES)
    assert [s["SupplierSite"] for s in child] == ["DALLAS-PAY", "NEWARK-PAY", "DALLAS-PUR"]
    one = api.get(f"{REST}/{SUPPLIERS}/{keystone['SupplierId']}/child/{SITES}/{child[1]['SupplierSiteId']}")
    assert one.status_code == 200
    assert one.json()["SupplierSite"] == "NEWARK-PAY"
    with pytest.raises(FusionBadRequest, match="Invalid operation create"):
        hook.create_item(SUPPLIERS, {"Supplier": "Walk-in Supplier"})


def test_admin_created_supplier_is_served_and_usable(
    hook: OracleFusionHook, fusion: FusionSandbox, base_url: str, today: date
) -> None:
    fusion.clock.advance(60)
    created = requests.post(
        f"{base_url}/__sandbox__/fusion/resources/{SUPPLIERS}",
        json={
            "Supplier": "Lakeside Janitorial Partners",
            "TaxpayerId": "52-7781204",
            SITES: [
                {"SupplierSite": "MAIN-PAY", "PaymentTerms": "45 Net"},
                {"SupplierSite": "OPS-PUR", "SitePurposePayFlag": False},
            ],
        },
        timeout=10,
    )
    assert created.status_code == 200, created.text
    stored = created.json()
    assert (stored["SupplierId"], stored["SupplierNumber"], stored["Status"]) == (
        FIRST_NEW_SUPPLIER_ID,
        "1010",
        "ACTIVE",
    )
    assert [(s["SupplierSiteId"], s["SupplierSite"], s["SitePurposePayFlag"]) for s in stored[SITES]] == [
        (FIRST_NEW_SITE_ID, "MAIN-PAY", True),
        (FIRST_NEW_SITE_ID + 1, "OPS-PUR", False),
    ]
    item = hook.get_item(SUPPLIERS, FIRST_NEW_SUPPLIER_ID, expand=SITES)
    assert item is not None
    stamped = parse_timestamp(item["LastUpdateDate"])
    assert (
        timedelta(0) <= fusion.clock.now() - stamped < timedelta(seconds=5)
    )  # the sandbox time, clock moved on
    assert [s["ProcurementBU"] for s in rows_of(item, SITES)] == [US1, US1]
    assert (
        hook.find_by_attribute(SUPPLIERS, "SupplierNumber", ["1010"])[0]["Supplier"]
        == "Lakeside Janitorial Partners"
    )

    invoice = hook.create_item(
        INVOICES, invoice_body(today, "LJ-1", SupplierNumber=None, Supplier="Lakeside Janitorial Partners")
    )
    assert (invoice["SupplierNumber"], invoice["PaymentTerms"]) == ("1010", "45 Net")

    # Deactivating the site through the in-process accessor keeps the other site and its id.
    before = fusion.suppliers()[-1]["LastUpdateDate"]
    fusion.clock.advance(5)
    changed = fusion.upsert_supplier(
        SupplierNumber="1010", sites=[{"SupplierSite": "MAIN-PAY", "InactiveDate": today.isoformat()}]
    )
    assert [(s["SupplierSiteId"], s["InactiveDate"]) for s in changed[SITES]] == [
        (FIRST_NEW_SITE_ID, today.isoformat()),
        (FIRST_NEW_SITE_ID + 1, None),
    ]
    assert changed["LastUpdateDate"] > before
    assert changed[SITES][0]["LastUpdateDate"] == changed["LastUpdateDate"]
    with pytest.raises(
        FusionBadRequest,
        match=r"MAIN-PAY of supplier Lakeside Janitorial Partners \(supplier number 1010\) is inactive since",
    ):
        hook.create_item(INVOICES, invoice_body(today, "LJ-2", SupplierNumber="1010"))
    with pytest.raises(ValueError, match="needs a Supplier"):
        fusion.upsert_supplier(SupplierNumber="2000")
    with pytest.raises(ValueError, match="not defined for resource sites: Colour"):
        fusion.upsert_supplier(SupplierNumber="1010", sites=[{"SupplierSite": "MAIN-PAY", "Colour": "red"}])
    via_route = requests.post(
        f"{base_url}/__sandbox__/fusion/suppliers",
        json=[{"SupplierNumber": "1001", "Status": "INACTIVE"}],
        timeout=10,
    )
    assert via_route.status_code == 200
    assert [s["Status"] for s in fusion.suppliers() if s["SupplierNumber"] == "1001"] == ["INACTIVE"]
    assert len(fusion.suppliers()[0][SITES]) == 1  # a change without sites keeps them


# -- AP invoices: create --------------------------------------------------------------------------------


def test_create_with_lines_and_explicit_distributions(api: Api, today: date, fusion: FusionSandbox) -> None:
    body = invoice_body(
        today,
        "CR-31001",
        SupplierNumber="1001",
        InvoiceCurrency=None,
        InvoiceCurrencyCode="USD",
        InvoiceAmount="1150.75",
        InvoiceGroup="Batch 14",
        **{
            LINES: [
                {
                    "Description": "Paper and toner",
                    "LineAmount": 1000.5,
                    DISTRIBUTIONS: [
                        {
                            "DistributionAmount": 600.25,
                            "DistributionCombination": OFFICE_SUPPLIES_EXPENSE_ACCOUNT,
                        },
                        {
                            "DistributionAmount": "400.25",
                            "DistributionCombination": OFFICE_SUPPLIES_ENGINEERING_ACCOUNT,
                        },
                    ],
                },
                {"LineNumber": 5, "LineAmount": 150.25, "DistributionCombination": TRAVEL_EXPENSE_ACCOUNT},
            ]
        },
    )
    response = api.send("POST", INVOICES_PATH, body)
    assert response.status_code == 201, response.text
    created = response.json()
    assert created["InvoiceId"] == FIRST_NEW_INVOICE_ID
    assert response.headers["Location"].endswith(f"{INVOICES_PATH}/{FIRST_NEW_INVOICE_ID}")
    assert "InvoiceCurrencyCode" not in created
    assert {
        name: created[name]
        for name in (
            "InvoiceNumber",
            "InvoiceCurrency",
            "PaymentCurrency",
            "InvoiceAmount",
            "Supplier",
            "SupplierNumber",
            "SupplierSite",
            "ProcurementBU",
            "InvoiceGroup",
            "AccountingDate",
            "TermsDate",
            "InvoiceSource",
            "InvoiceType",
            "PaymentTerms",
            "ValidationStatus",
            "ApprovalStatus",
            "PaidStatus",
            "AmountPaid",
            "CanceledFlag",
        )
    } == {
        "InvoiceNumber": "CR-31001",
        "InvoiceCurrency": "USD",
        "PaymentCurrency": "USD",
        "InvoiceAmount": 1150.75,
        "Supplier": "Crestline Office Supply Co.",
        "SupplierNumber": "1001",
        "SupplierSite": "MAIN-PAY",
        "ProcurementBU": US1,
        "InvoiceGroup": "Batch 14",
        "AccountingDate": today.isoformat(),
        "TermsDate": today.isoformat(),
        "InvoiceSource": "Manual invoice entry",
        "InvoiceType": "Standard",
        "PaymentTerms": "30 Net",
        "ValidationStatus": "Not validated",
        "ApprovalStatus": "Required",
        "PaidStatus": "Unpaid",
        "AmountPaid": 0,
        "CanceledFlag": False,
    }
    assert parse_timestamp(created["CreationDate"]) == parse_timestamp(created["LastUpdateDate"])
    lines = created[LINES]  # framework version 1: the answer inlines the lines as an array
    assert [(r["LineNumber"], r["LineType"], r["LineAmount"]) for r in lines] == [
        (1, "Item", 1000.5),
        (5, "Item", 150.25),
    ]
    stored = fusion.ap_invoices()[-1]
    assert [
        [
            (
                d["DistributionLineNumber"],
                d["DistributionAmount"],
                d["DistributionCombination"],
                d["AccountingDate"],
            )
            for d in r[DISTRIBUTIONS]
        ]
        for r in stored[LINES]
    ] == [
        [
            (1, 600.25, OFFICE_SUPPLIES_EXPENSE_ACCOUNT, today.isoformat()),
            (2, 400.25, OFFICE_SUPPLIES_ENGINEERING_ACCOUNT, today.isoformat()),
        ],
        [(1, 150.25, TRAVEL_EXPENSE_ACCOUNT, today.isoformat())],
    ]
    described = {
        a["name"] for a in api.get(f"{INVOICES_PATH}/describe").json()["Resources"][INVOICES]["attributes"]
    }
    assert "InvoiceCurrencyCode" not in described
    refused = api.get(INVOICES_PATH, q="InvoiceCurrencyCode=USD")
    assert (refused.status_code, refused.text) == (  # an input alias, not an attribute
        400,
        "The attribute InvoiceCurrencyCode is not defined for resource invoices.",
    )


def test_line_with_a_combination_gets_a_generated_distribution(
    hook: OracleFusionHook, today: date, fusion: FusionSandbox
) -> None:
    fusion.clock.advance(30)
    lines = [
        line(700, SOFTWARE_EXPENSE_ACCOUNT, AccountingDate=(today - timedelta(days=1)).isoformat()),
        line(500.1, FREIGHT_EXPENSE_ACCOUNT),
        line(0.9, None),
    ]
    created = hook.create_item(
        INVOICES, invoice_body(today, InvoiceAmount=1201, AccountingDate=today.isoformat(), **{LINES: lines})
    )
    key = created["InvoiceId"]
    full = hook.get_item(INVOICES, key, expand=f"{LINES}.{DISTRIBUTIONS}")
    assert full is not None
    got = [
        (
            r["LineNumber"],
            r["AccountingDate"],
            [
                (
                    d["DistributionLineNumber"],
                    d["DistributionLineType"],
                    d["DistributionAmount"],
                    d["DistributionCombination"],
                    d["AccountingDate"],
                )
                for d in rows_of(r, DISTRIBUTIONS)
            ],
        )
        for r in rows_of(full, LINES)
    ]
    yesterday = (today - timedelta(days=1)).isoformat()
    assert got == [
        (1, yesterday, [(1, "Item", 700, SOFTWARE_EXPENSE_ACCOUNT, yesterday)]),
        (2, today.isoformat(), [(1, "Item", 500.1, FREIGHT_EXPENSE_ACCOUNT, today.isoformat())]),
        (3, today.isoformat(), []),  # no combination, no distribution
    ]
    generated = rows_of(rows_of(full, LINES)[0], DISTRIBUTIONS)[0]
    assert generated["CreationDate"] == full["CreationDate"]
    grandchild = f"{INVOICES}/{key}/child/{LINES}/2/child/{DISTRIBUTIONS}"
    assert [d["DistributionAmount"] for page in hook.iter_collection(grandchild) for d in page] == [500.1]


def test_ended_combination_is_valid_before_its_end_date(hook: OracleFusionHook, today: date) -> None:
    # On today's date it is refused (see the "ended combination" case of test_create_refused).
    earlier = (today - timedelta(days=40)).isoformat()
    created = hook.create_item(
        INVOICES,
        invoice_body(today, "NC-OLD", InvoiceDate=earlier, **{LINES: [line(1200, ENDED_EXPENSE_ACCOUNT)]}),
    )
    assert created["AccountingDate"] == earlier


def _refusal_cases() -> list[Any]:
    t = "TODAY"
    cases: list[tuple[str, dict[str, Any], str, str]] = [
        (
            "unknown supplier number",
            {"SupplierNumber": "9999"},
            "The supplier number 9999 is not valid.",
            "SupplierNumber",
        ),
        (
            "unknown supplier name",
            {"SupplierNumber": None, "Supplier": "Nobody Inc."},
            "The supplier Nobody Inc. is not valid.",
            "Supplier",
        ),
        (
            "inactive supplier",
            {"SupplierNumber": "1007"},
            "The supplier Old Mill Printing Company (supplier number 1007) is inactive (Status INACTIVE); invoices cannot be entered for it.",
            "SupplierNumber",
        ),
        (
            "prospective supplier",
            {"SupplierNumber": None, "Supplier": "Quantum Leap Consulting Group"},
            "The supplier Quantum Leap Consulting Group (supplier number 1009) is a prospective supplier and is not spend authorized; invoices cannot be entered for it.",
            "Supplier",
        ),
        (
            "name and number disagree",
            {"SupplierNumber": "1001", "Supplier": "Harborview Legal LLP"},
            "The supplier Harborview Legal LLP does not match supplier number 1001 (Crestline Office Supply Co.).",
            "Supplier",
        ),
        (
            "site of another supplier",
            {"SupplierSite": "NEWARK-PAY"},
            "The supplier site NEWARK-PAY is not a site of supplier Nimbus Cloud Software Inc. (supplier number 1003).",
            "SupplierSite",
        ),
        (
            "purchasing-only site",
            {"SupplierNumber": "1005", "SupplierSite": "DALLAS-PUR"},
            "The supplier site DALLAS-PUR of supplier Keystone Freight Lines Inc. (supplier number 1005) is not a pay site.",
            "SupplierSite",
        ),
        (
            "inactive site",
            {"SupplierNumber": "1008"},
            f"The supplier site MAIN-PAY of supplier Redwood Catering Services (supplier number 1008) is inactive since {t}-45 (invoice date {t}).",
            "SupplierSite",
        ),
        (
            "site of another business unit",
            {"SupplierNumber": "1006", "SupplierSite": "US2-PAY"},
            "The supplier site US2-PAY of supplier Brightwater Utilities Cooperative (supplier number 1006) is not assigned to business unit US1 Business Unit.",
            "SupplierSite",
        ),
        (
            "unknown business unit",
            {"BusinessUnit": "Vision Operations"},
            "The business unit Vision Operations is not valid for Payables; use one of US1 Business Unit, US2 Business Unit, DE1 Business Unit.",
            "BusinessUnit",
        ),
        (
            "unknown currency",
            {"InvoiceCurrency": "XAU"},
            "The currency XAU of attribute InvoiceCurrency is not valid; enabled currencies: USD, EUR, GBP, CAD, AUD, JPY, CHF, MXN.",
            "InvoiceCurrency",
        ),
        (
            "no currency",
            {"InvoiceCurrency": None},
            "Attribute InvoiceCurrency in resource invoices is required (InvoiceCurrencyCode is accepted too).",
            "InvoiceCurrency",
        ),
        (
            "currencies disagree",
            {"InvoiceCurrencyCode": "EUR"},
            "InvoiceCurrency USD and InvoiceCurrencyCode EUR disagree; send one of them.",
            "InvoiceCurrencyCode",
        ),
        (
            "no supplier",
            {"SupplierNumber": None},
            "Attribute SupplierNumber or Supplier in resource invoices is required.",
            "SupplierNumber",
        ),
        (
            "no invoice number",
            {"InvoiceNumber": None},
            "Attribute InvoiceNumber in resource invoices is required.",
            "InvoiceNumber",
        ),
        (
            "no site",
            {"SupplierSite": None},
            "Attribute SupplierSite in resource invoices is required.",
            "SupplierSite",
        ),
        (
            "three decimals in USD",
            {"InvoiceAmount": 1200.005},
            "The amount 1200.005 of InvoiceAmount has more decimal places than the currency USD allows (2).",
            "InvoiceAmount",
        ),
        (
            "decimals in JPY",
            {"InvoiceCurrency": "JPY", "InvoiceAmount": 1200.5, LINES: [line(1200)]},
            "The amount 1200.5 of InvoiceAmount has more decimal places than the currency JPY allows (0).",
            "InvoiceAmount",
        ),
        (
            "line decimals in JPY",
            {"InvoiceCurrency": "JPY", LINES: [line(1199.5)]},
            "The amount 1199.5 of LineAmount of invoice line 1 has more decimal places than the currency JPY allows (0).",
            "LineAmount",
        ),
        (
            "unknown combination",
            {LINES: [line(1200, "101-110-99999-000-000")]},
            "The distribution combination 101-110-99999-000-000 on invoice line 1 is not an account combination of the chart of accounts (5 segments joined by '-').",
            "DistributionCombination",
        ),
        (
            "dotted combination",
            {LINES: [line(200), line(1000, "101.120.62300.000.000")]},
            "The distribution combination 101.120.62300.000.000 on invoice line 2 is not an account combination of the chart of accounts (5 segments joined by '-').",
            "DistributionCombination",
        ),
        (
            "disabled combination",
            {LINES: [line(1200, DISABLED_EXPENSE_ACCOUNT)]},
            f"The distribution combination {DISABLED_EXPENSE_ACCOUNT} on invoice line 1 is disabled.",
            "DistributionCombination",
        ),
        (
            "disabled and ended combination",
            {LINES: [line(1200, DISABLED_ACCOUNT)]},
            f"The distribution combination {DISABLED_ACCOUNT} on invoice line 1 is disabled.",
            "DistributionCombination",
        ),
        (
            "ended combination",
            {LINES: [line(1200, ENDED_EXPENSE_ACCOUNT)]},
            f"The distribution combination {ENDED_EXPENSE_ACCOUNT} on invoice line 1 is not active on {t} (active from 2020-01-01 to {t}-30).",
            "DistributionCombination",
        ),
        (
            "bad distribution combination",
            {
                LINES: [
                    line(
                        1200,
                        None,
                        **{
                            DISTRIBUTIONS: [
                                {
                                    "DistributionAmount": 1000,
                                    "DistributionCombination": SOFTWARE_EXPENSE_ACCOUNT,
                                },
                                {
                                    "DistributionAmount": 200,
                                    "DistributionCombination": DISABLED_EXPENSE_ACCOUNT,
                                },
                            ]
                        },
                    )
                ]
            },
            f"The distribution combination {DISABLED_EXPENSE_ACCOUNT} on distribution 2 of invoice line 1 is disabled.",
            "DistributionCombination",
        ),
        (
            "distributions short of the line",
            {
                LINES: [
                    line(
                        1200,
                        None,
                        **{
                            DISTRIBUTIONS: [
                                {
                                    "DistributionAmount": 1000,
                                    "DistributionCombination": SOFTWARE_EXPENSE_ACCOUNT,
                                },
                                {
                                    "DistributionAmount": 199.99,
                                    "DistributionCombination": TRAVEL_EXPENSE_ACCOUNT,
                                },
                            ]
                        },
                    )
                ]
            },
            "The distributions of invoice line 1 total 1199.99, not the line amount 1200.",
            DISTRIBUTIONS,
        ),
        (
            "distribution without a combination",
            {LINES: [line(1200, None, **{DISTRIBUTIONS: [{"DistributionAmount": 1200}]})]},
            "Attribute DistributionCombination in resource invoiceDistributions is required.",
            "DistributionCombination",
        ),
        (
            "line without an amount",
            {LINES: [{"Description": "Seats"}]},
            "Attribute LineAmount in resource invoiceLines is required.",
            "LineAmount",
        ),
        (
            "two lines numbered 1",
            {LINES: [line(600, LineNumber=1), line(600, LineNumber=1)]},
            "An item of invoiceLines with LineNumber 1 already exists.",
            "",
        ),
        (
            "status set by the client",
            {"ValidationStatus": "Validated"},
            "Attribute ValidationStatus in resource invoices is read-only and cannot be set.",
            "ValidationStatus",
        ),
    ]
    return [pytest.param(changes, message, path, id=name) for name, changes, message, path in cases]


@pytest.mark.parametrize(("changes", "message", "path"), _refusal_cases())
def test_create_refused(
    api: Api, fusion: FusionSandbox, today: date, changes: dict[str, Any], message: str, path: str
) -> None:
    def dated(text: str) -> str:
        for days in (45, 30):
            text = text.replace(f"TODAY-{days}", (today - timedelta(days=days)).isoformat())
        return text.replace("TODAY", today.isoformat())

    body = invoice_body(today)
    body.update(changes)
    body = {name: value for name, value in body.items() if value is not None}
    plain = api.send("POST", INVOICES_PATH, body)
    assert (plain.status_code, plain.headers["content-type"].split(";")[0], plain.text) == (
        400,
        "text/plain",
        dated(message),
    )
    detailed = api.send("POST", INVOICES_PATH, body, **{"REST-Framework-Version": "4"})
    assert detailed.status_code == 400
    [detail] = detailed.json()["o:errorDetails"]
    assert detail["detail"] == dated(message)
    assert detail.get("o:errorPath", "") == path
    assert len(fusion.ap_invoices()) == len(SEEDED_AP_INVOICES)  # nothing stored


# -- duplicates -----------------------------------------------------------------------------------------


def test_duplicate_invoice_number_in_both_error_shapes(api: Api, hook: OracleFusionHook, today: date) -> None:
    message = (
        "The invoice number {} already exists for supplier Crestline Office Supply Co. (supplier number 1001) "
        "in business unit US1 Business Unit. The invoice number must be unique for the supplier."
    )
    for number in ("CR-20931", "cr-20931", "Cr-20931"):
        body = invoice_body(
            today, number, SupplierNumber="1001", **{LINES: [line(1200, OFFICE_SUPPLIES_EXPENSE_ACCOUNT)]}
        )
        plain = api.send("POST", INVOICES_PATH, body)
        assert (plain.status_code, plain.headers["content-type"].split(";")[0], plain.text) == (
            400,
            "text/plain",
            message.format(number),
        )
        by_name = {**body, "SupplierNumber": None, "Supplier": "Crestline Office Supply Co."}
        detailed = api.send(
            "POST",
            INVOICES_PATH,
            {k: v for k, v in by_name.items() if v is not None},
            **{"REST-Framework-Version": "4"},
        )
        assert detailed.status_code == 400
        assert detailed.headers["content-type"].split(";")[0] == "application/vnd.oracle.adf.error+json"
        assert detailed.json() == {
            "title": "Bad Request",
            "status": "400",
            "o:errorDetails": [
                {
                    "detail": message.format(number),
                    "o:errorCode": "DUPLICATE_INVOICE_NUMBER",
                    "o:errorPath": "InvoiceNumber",
                }
            ],
        }
    with pytest.raises(FusionBadRequest) as raised:
        hook.create_item(INVOICES, invoice_body(today, "CR-20931", SupplierNumber="1001"))
    assert raised.value.error_codes == ("DUPLICATE_INVOICE_NUMBER",)
    assert raised.value.detail == message.format("CR-20931")
    # The same number is free for another supplier, and in another business unit.
    assert hook.create_item(INVOICES, invoice_body(today, "CR-20931"))["SupplierNumber"] == "1003"
    first = hook.create_item(INVOICES, invoice_body(today, "BW-77", SupplierNumber="1006"))
    second = hook.create_item(
        INVOICES,
        invoice_body(today, "bw-77", SupplierNumber="1006", BusinessUnit=US2, SupplierSite="US2-PAY"),
    )
    assert (first["BusinessUnit"], second["BusinessUnit"]) == (US1, US2)
    with pytest.raises(FusionBadRequest, match="The invoice number BW-77 already exists"):
        hook.create_item(INVOICES, invoice_body(today, "BW-77", SupplierNumber="1006"))


def test_duplicate_scope_and_business_units_are_settings(
    hook: OracleFusionHook, fusion: FusionSandbox, base_url: str, today: date
) -> None:
    settings_url = f"{base_url}/__sandbox__/fusion/payables/settings"
    assert requests.get(settings_url, timeout=10).json() == {
        "business_units": [US1, US2, "DE1 Business Unit"],
        "duplicate_scope": "supplier",
    }
    dallas = invoice_body(today, "KF-558120", SupplierNumber="1005", SupplierSite="DALLAS-PAY")
    with pytest.raises(FusionBadRequest, match=r"must be unique for the supplier\.$"):
        hook.create_item(INVOICES, dallas)
    changed = requests.post(settings_url, json={"duplicate_scope": "supplier_site"}, timeout=10)
    assert changed.json()["duplicate_scope"] == "supplier_site"
    assert fusion.payables_settings == PayablesSettings(duplicate_scope="supplier_site")
    assert hook.create_item(INVOICES, dallas)["SupplierSite"] == "DALLAS-PAY"
    with pytest.raises(FusionBadRequest) as raised:
        hook.create_item(INVOICES, {**dallas, "InvoiceNumber": "kf-558120", "SupplierSite": "NEWARK-PAY"})
    assert raised.value.detail == (
        "The invoice number kf-558120 already exists for supplier Keystone Freight Lines Inc. (supplier number 1005), "
        "supplier site NEWARK-PAY, in business unit US1 Business Unit. The invoice number must be unique for the supplier site."
    )

    assert fusion.configure_payables(business_units=[US2]) == {
        "business_units": [US2],
        "duplicate_scope": "supplier_site",
    }
    with pytest.raises(
        FusionBadRequest,
        match=r"The business unit US1 Business Unit is not valid for Payables; use one of US2 Business Unit\.$",
    ):
        hook.create_item(INVOICES, invoice_body(today))
    assert requests.post(settings_url, json={"duplicate_scope": "site"}, timeout=10).status_code == 422
    assert requests.post(settings_url, json={"business_units": []}, timeout=10).status_code == 422
    assert requests.post(settings_url, json={"business_units": [" "]}, timeout=10).status_code == 422
    assert requests.post(settings_url, json={"colour": "red"}, timeout=10).status_code == 422
    with pytest.raises(ValueError, match="duplicate_scope"):
        fusion.configure_payables(duplicate_scope="everywhere")
    fusion.reset()
    assert fusion.payables_settings == PayablesSettings()
    assert requests.get(settings_url, timeout=10).json()["duplicate_scope"] == "supplier"


def test_admin_created_invoice_counts_for_duplicates(
    hook: OracleFusionHook, base_url: str, fusion: FusionSandbox, today: date
) -> None:
    stored = requests.post(
        f"{base_url}/__sandbox__/fusion/resources/{INVOICES}",
        json={
            "InvoiceNumber": "TT-5",
            "InvoiceCurrencyCode": "USD",
            "InvoiceAmount": 310,
            "InvoiceDate": today.isoformat(),
            "BusinessUnit": US1,
            "SupplierNumber": "1004",
            "SupplierSite": "MAIN-PAY",
            LINES: [
                {"LineAmount": 300, "DistributionCombination": TRAVEL_EXPENSE_ACCOUNT},
                {"LineAmount": 10},
                {"LineAmount": 20, DISTRIBUTIONS: [{"DistributionAmount": 20}]},
            ],
        },
        timeout=10,
    )
    assert stored.status_code == 200, stored.text
    item = stored.json()
    assert (
        item["InvoiceId"],
        item["InvoiceCurrency"],
        item["Supplier"],
        item["PaymentTerms"],
        item["ValidationStatus"],
    ) == (
        FIRST_NEW_INVOICE_ID,
        "USD",
        "Trailhead Travel Management",
        "30 Net",
        "Not validated",
    )
    assert [
        (r["LineNumber"], [(d["DistributionAmount"], d["AccountingDate"]) for d in r[DISTRIBUTIONS]])
        for r in item[LINES]
    ] == [(1, [(300, today.isoformat())]), (2, []), (3, [(20, today.isoformat())])]
    with pytest.raises(ValueError, match="InvoiceCurrency USD and InvoiceCurrencyCode EUR disagree"):
        fusion.upsert(
            INVOICES, {"InvoiceNumber": "TT-6", "InvoiceCurrency": "USD", "InvoiceCurrencyCode": "EUR"}
        )
    with pytest.raises(
        FusionBadRequest, match="The invoice number tt-5 already exists for supplier Trailhead"
    ):
        hook.create_item(
            INVOICES,
            invoice_body(
                today, "tt-5", SupplierNumber="1004", **{LINES: [line(1200, TRAVEL_EXPENSE_ACCOUNT)]}
            ),
        )
    assert [i["InvoiceNumber"] for i in fusion.ap_invoices()] == [*SEEDED_AP_INVOICES, "TT-5"]


# -- reading --------------------------------------------------------------------------------------------


def test_seeded_invoices_and_queries_in_both_dialects(
    hook: OracleFusionHook,
    hook_v1: OracleFusionHook,
    api: Api,
    admin: SandboxClient,
    fusion: FusionSandbox,
    today: date,
) -> None:
    seeded = {i["InvoiceNumber"]: i for i in all_items(hook, INVOICES, expand=LINES)}
    assert {n: (i["InvoiceId"], i["SupplierNumber"]) for n, i in seeded.items()} == {
        n: (invoice_id, supplier) for n, (invoice_id, supplier, _story) in SEEDED_AP_INVOICES.items()
    }
    assert (seeded["HV-2025-118"]["PaidStatus"], seeded["HV-2025-118"]["AmountPaid"]) == ("Paid", 7500)
    assert seeded["CR-20931"]["InvoiceAmount"] == 1284.5
    for invoice in seeded.values():
        assert sum(r["LineAmount"] for r in rows_of(invoice, LINES)) == invoice["InvoiceAmount"]
        assert parse_timestamp(invoice["LastUpdateDate"]) < fusion.clock.now()
        assert invoice["InvoiceDate"] < today.isoformat()

    v1 = api.items(INVOICES_PATH, q="SupplierNumber=1005;InvoiceNumber=KF-558120")
    assert [i["InvoiceId"] for i in v1] == [SEEDED_AP_INVOICES["KF-558120"][0]]
    v2 = api.items(INVOICES_PATH, 2, q="SupplierNumber = '1005' and InvoiceNumber = 'KF-558120'")
    assert [i["InvoiceId"] for i in v2] == [SEEDED_AP_INVOICES["KF-558120"][0]]
    assert api.items(INVOICES_PATH, q="SupplierNumber=1001;InvoiceNumber=KF-558120") == []
    by_supplier = api.items(
        INVOICES_PATH, 2, q="Supplier = 'Harborview Legal LLP' and BusinessUnit = 'US1 Business Unit'"
    )
    assert [i["InvoiceNumber"] for i in by_supplier] == ["HV-2025-118"]

    admin.clear_request_log()
    found = hook.find_by_attribute(INVOICES, "InvoiceNumber", ["CR-20931", "KF-558120", "NOPE-1"])
    assert sorted(i["InvoiceNumber"] for i in found) == ["CR-20931", "KF-558120"]
    [query] = [
        parse_qs(e["query"])["q"][0] for e in admin.request_log(method="GET", path=f"^{INVOICES_PATH}$")
    ]
    assert query == "InvoiceNumber in ('CR-20931', 'KF-558120', 'NOPE-1')"
    assert [
        i["InvoiceNumber"] for i in hook_v1.find_by_attribute(INVOICES, "InvoiceNumber", ["HV-2025-118"])
    ] == ["HV-2025-118"]

    now = fusion.clock.now()
    changed = [
        i["InvoiceNumber"]
        for page in hook.iter_changed(
            INVOICES, key_attr="InvoiceId", since=now - timedelta(days=10), until=now
        )
        for i in page
    ]
    assert changed == ["KF-558120", "HV-2025-118"]  # by LastUpdateDate: 5 and 4 days ago


def test_nested_expand_and_child_paths(api: Api) -> None:
    key = SEEDED_AP_INVOICES["KF-558120"][0]
    v1 = api.get(f"{INVOICES_PATH}/{key}", expand=f"{LINES}.{DISTRIBUTIONS}", onlyData="true").json()
    [only_line] = v1[LINES]
    assert [
        (d["DistributionLineNumber"], d["DistributionAmount"], d["DistributionCombination"])
        for d in only_line[DISTRIBUTIONS]
    ] == [
        (1, 500, FREIGHT_EXPENSE_ACCOUNT),
        (2, 380, "101-130-66100-000-000"),
    ]
    v3 = api.get(f"{INVOICES_PATH}/{key}", 3, expand=f"{LINES}.{DISTRIBUTIONS}").json()
    nested = v3[LINES]["items"][0][DISTRIBUTIONS]
    assert (nested["count"], nested["hasMore"]) == (2, False)
    lines_only = api.get(f"{INVOICES_PATH}/{key}", expand=LINES).json()
    assert DISTRIBUTIONS not in lines_only[LINES][0]
    distributions = api.items(f"{INVOICES_PATH}/{key}/child/{LINES}/1/child/{DISTRIBUTIONS}")
    assert [d["DistributionAmount"] for d in distributions] == [500, 380]
    second = api.get(f"{INVOICES_PATH}/{key}/child/{LINES}/1/child/{DISTRIBUTIONS}/2")
    assert (second.status_code, second.json()["DistributionAmount"]) == (200, 380)
    assert api.get(f"{INVOICES_PATH}/{key}/child/{LINES}/2").status_code == 404
    filtered = api.items(
        INVOICES_PATH, 2, q=f"{LINES}.{DISTRIBUTIONS}.DistributionCombination = '{FREIGHT_EXPENSE_ACCOUNT}'"
    )
    assert [i["InvoiceId"] for i in filtered] == [key]


# -- changing and deleting ------------------------------------------------------------------------------


def test_patch_description_only_child_posts_refused_and_delete(
    hook: OracleFusionHook, api: Api, fusion: FusionSandbox, today: date
) -> None:
    key = SEEDED_AP_INVOICES["CR-20931"][0]
    before = hook.get_item(INVOICES, key)
    assert before is not None
    fusion.clock.advance(120)
    changed = hook.update_item(INVOICES, key, {"Description": "Office supplies restock, Q4"})
    assert changed["Description"] == "Office supplies restock, Q4"
    assert parse_timestamp(changed["LastUpdateDate"]) > parse_timestamp(before["LastUpdateDate"])
    assert changed["InvoiceAmount"] == before["InvoiceAmount"]
    refused = api.send("PATCH", f"{INVOICES_PATH}/{key}", {"InvoiceAmount": 99})
    assert (refused.status_code, refused.text) == (
        400,
        "Attribute InvoiceAmount in resource invoices cannot be updated.",
    )
    assert api.send("PATCH", f"{INVOICES_PATH}/{key}", {"InvoiceCurrencyCode": "EUR"}).text == (
        "Attribute InvoiceCurrencyCode in resource invoices cannot be updated."
    )
    with_lines = api.send(
        "PATCH",
        f"{INVOICES_PATH}/{key}",
        {LINES: [{"LineAmount": 5, "DistributionCombination": SOFTWARE_EXPENSE_ACCOUNT}]},
    )
    assert (
        with_lines.status_code,
        with_lines.text.startswith("The child invoiceLines cannot be changed"),
    ) == (400, True)
    added = api.send("POST", f"{INVOICES_PATH}/{key}/child/{LINES}", line(10))
    assert (added.status_code, added.text) == (
        400,
        "The stand-in creates invoiceLines only together with their invoice: send them inline in POST invoices.",
    )
    dist = api.send(
        "POST",
        f"{INVOICES_PATH}/{key}/child/{LINES}/1/child/{DISTRIBUTIONS}",
        {"DistributionAmount": 1, "DistributionCombination": SOFTWARE_EXPENSE_ACCOUNT},
    )
    assert (dist.status_code, dist.text.startswith("The stand-in creates invoiceDistributions only")) == (
        400,
        True,
    )
    assert [len(r[DISTRIBUTIONS]) for r in fusion.ap_invoices()[0][LINES]] == [1, 1]

    assert hook.delete_item(INVOICES, key) is True
    assert hook.get_item(INVOICES, key) is None
    assert hook.delete_item(INVOICES, key) is False
    # Once deleted, its number is free again.
    assert (
        hook.create_item(INVOICES, invoice_body(today, "CR-20931", SupplierNumber="1001"))["InvoiceNumber"]
        == "CR-20931"
    )


# -- faults ---------------------------------------------------------------------------------------------


def test_throttled_create_is_retried_and_stored_once(
    hook: OracleFusionHook, fusion: FusionSandbox, admin: SandboxClient, today: date
) -> None:
    fusion.faults.add(FaultRule.rate_limit(path=f"^{INVOICES_PATH}$", method="POST", times=2))
    created = hook.create_item(INVOICES, invoice_body(today, "NC-RETRY"))
    assert created["InvoiceId"] == FIRST_NEW_INVOICE_ID
    assert [e["status"] for e in admin.request_log(method="POST", path=f"^{INVOICES_PATH}$")] == [
        429,
        429,
        201,
    ]
    assert [i["InvoiceNumber"] for i in fusion.ap_invoices()].count("NC-RETRY") == 1


def test_a_create_answered_503_is_not_repeated_unless_the_connection_says_503_is_unprocessed(
    make_connection: ConnectionFactory, fusion: FusionSandbox, admin: SandboxClient, today: date
) -> None:
    """A 503 may come from the edge after the pod created the invoice (UNCONFIRMED either way):
    by default the create is not repeated; a connection whose pod is known to answer 503 only
    before acting says so with ``retry_unprocessed_statuses``."""
    rule = FaultRule.unavailable(path=f"^{INVOICES_PATH}$", method="POST", body="Service Unavailable")
    fusion.faults.add(rule)
    default = OracleFusionHook(make_connection("fusion_default_503"))
    with pytest.raises(FusionApiError, match="503"):
        default.create_item(INVOICES, invoice_body(today, "NC-503"))
    default.close()
    assert [e["status"] for e in admin.request_log(method="POST", path=f"^{INVOICES_PATH}$")] == [503]

    fusion.faults.add(rule)
    conn_id = make_connection("fusion_503_unprocessed", retry_unprocessed_statuses="429,503")
    tolerant = OracleFusionHook(conn_id)
    created = tolerant.create_item(INVOICES, invoice_body(today, "NC-503"))
    tolerant.close()
    assert created["InvoiceNumber"] == "NC-503"
    assert [e["status"] for e in admin.request_log(method="POST", path=f"^{INVOICES_PATH}$")] == [
        503,
        503,
        201,
    ]
    assert [i["InvoiceNumber"] for i in fusion.ap_invoices()].count("NC-503") == 1


def test_the_chart_has_ap_expense_combinations(hook: OracleFusionHook) -> None:
    rows = {
        "-".join(r[f"Segment{n}"] for n in range(1, 6)): r for r in all_items(hook, "accountCombinationsLOV")
    }
    for combination in AP_EXPENSE_ACCOUNTS:
        assert (
            rows[combination]["AccountType"],
            rows[combination]["EnabledFlag"],
            rows[combination]["EndDateActive"],
        ) == ("E", "Y", None)
    assert {rows[c]["Segment2"] for c in AP_EXPENSE_ACCOUNTS} == {"110", "120", "130"}
    assert (
        rows[DISABLED_EXPENSE_ACCOUNT]["EnabledFlag"],
        rows[DISABLED_EXPENSE_ACCOUNT]["EndDateActive"],
    ) == ("N", None)
    assert rows[ENDED_EXPENSE_ACCOUNT]["EnabledFlag"] == "Y"
    assert rows[ENDED_EXPENSE_ACCOUNT]["_CODE_COMBINATION_ID"] == 13027
