"""AR invoices (``receivablesInvoices``) of the Fusion stand-in, through OracleFusionHook over real HTTP."""

from __future__ import annotations

from collections.abc import Iterator
from datetime import datetime, timedelta
from decimal import Decimal
from typing import Any
from urllib.parse import parse_qs

import pytest
import requests
from ml_connector_sandbox import SandboxClient
from ml_connector_sandbox.systems.fusion import SEEDED_INVOICES, FusionSandbox

from ml_connector_provider.hooks.oracle_fusion import (
    FusionBadRequest,
    OracleFusionHook,
    expanded_items,
    parse_timestamp,
)
from tests.integration.fusion.conftest import REST, Api, ConnectionFactory

INVOICES = "receivablesInvoices"
LINES = "receivablesInvoiceLines"
KEY = "CustomerTransactionId"

#: Oracle's "Create an Invoice with Lines" example body (contract A5.2), verbatim.
ORACLE_EXAMPLE = {
    "BillingDate": "2018-02-20",
    "BillToCustomerNumber": "1008",
    "BusinessUnit": "Vision Operations",
    "Comments": "New Laptop Promotion",
    "DueDate": "2018-02-20",
    "InternalNotes": "Best Priced item",
    "InvoiceCurrencyCode": "USD",
    "PaymentTerms": "30 Net",
    "TransactionDate": "2018-02-20",
    "TransactionSource": "Manual-NES",
    "ShipToCustomerName": "Total Internet",
    "ShipToCustomerNumber": "1008",
    "ShipToSite": "1042",
    "TransactionType": "Invoice",
    "receivablesInvoiceLines": [
        {"Description": "Laptop", "LineNumber": 1, "Quantity": 2, "UnitSellingPrice": 1299.99},
        {"Description": "Battery", "LineNumber": 2, "Quantity": 2, "UnitSellingPrice": 102.15},
        {"Description": "Charger", "LineNumber": 3, "Quantity": 4, "UnitSellingPrice": 65.45},
    ],
}


@pytest.fixture
def hook_v1(make_connection: ConnectionFactory) -> Iterator[OracleFusionHook]:
    hook = OracleFusionHook(make_connection("fusion_v1", rest_framework_version="1"))
    yield hook
    hook.close()


def all_items(hook: OracleFusionHook, **options: Any) -> list[dict[str, Any]]:
    return [item for page in hook.iter_collection(INVOICES, **options) for item in page]


def cents(value: Any) -> Decimal:
    return Decimal(str(value))


def invoice_body(number: str | None = None, **changes: Any) -> dict[str, Any]:
    body: dict[str, Any] = {
        "BillToCustomerNumber": "1001",
        "TransactionSource": "Manual",
        "InvoiceCurrencyCode": "USD",
        "PaymentTerms": "30 Net",
        LINES: [{"Description": "Widget", "Quantity": 3, "UnitSellingPrice": 33.333}],
    }
    if number is not None:
        body["TransactionNumber"] = number
    body.update(changes)
    return body


# -- the seed ----------------------------------------------------------------------------------------


def test_seed_tells_its_story(hook: OracleFusionHook, fusion: FusionSandbox) -> None:
    now = fusion.clock.now()
    invoices = {i["TransactionNumber"]: i for i in all_items(hook, expand=LINES, page_size=4)}
    assert sorted(invoices) == sorted(SEEDED_INVOICES)
    assert len(invoices) == 10
    sites = {(c["AccountNumber"], c["BillToSiteNumber"]): c for c in fusion.customers()}
    for number, invoice in invoices.items():
        transaction_id, account, _story = SEEDED_INVOICES[number]
        assert (invoice[KEY], invoice["BillToCustomerNumber"]) == (transaction_id, account)
        customer = sites[(account, invoice["BillToSite"])]  # the bill-to site belongs to the account
        assert invoice["BillToCustomerName"] == customer["CustomerName"]
        assert invoice["DueDate"] > now.date().isoformat(), number
        assert now - timedelta(days=9) < parse_timestamp(invoice["LastUpdateDate"]) < now
        lines, complete = expanded_items(invoice, LINES)
        assert complete
        assert lines
        total = sum(cents(line["LineAmount"]) for line in lines)
        assert cents(invoice["EnteredAmount"]) == total == cents(invoice["InvoiceBalanceAmount"])
    assert [n for n, i in invoices.items() if i["InvoiceStatus"] == "Incomplete"] == ["INV-10066"]
    jpy = invoices["INV-10067"]
    assert (jpy["InvoiceCurrencyCode"], jpy["EnteredAmount"]) == ("JPY", 399690)
    assert isinstance(jpy["EnteredAmount"], int)
    fractional = expanded_items(invoices["INV-10063"], LINES)[0]
    assert [(line["Quantity"], line["UnitSellingPrice"], line["LineAmount"]) for line in fractional] == [
        (12.5, 84.3, 1053.75),
        (7.25, 18.44, 133.69),
        (0.75, 120, 90),
    ]
    assert invoices["INV-10063"]["EnteredAmount"] == 1277.44
    assert {invoices[n]["InvoiceCurrencyCode"] for n in ("INV-10068", "INV-10069")} == {"EUR"}
    outside = {n for n, i in invoices.items() if i["BusinessUnit"] != "US1 Business Unit"}
    assert outside == {"INV-10069", "INV-10070"}
    # The open installment of customer 1001 in the customers' seed is this invoice.
    [schedule] = [
        s
        for c in fusion.customers()
        for s in c["transactionPaymentSchedules"]
        if s["TransactionNumber"] == "INV-10061"
    ]
    assert (schedule["TransactionId"], schedule["TotalOriginalAmount"]) == (
        invoices["INV-10061"][KEY],
        invoices["INV-10061"]["EnteredAmount"],
    )


# -- create ---------------------------------------------------------------------------------------------


def test_create_with_oracles_example_body(
    hook: OracleFusionHook, fusion: FusionSandbox, admin: SandboxClient
) -> None:
    created = hook.create_item(INVOICES, ORACLE_EXAMPLE)
    assert created[KEY] > max(i for i, _a, _s in SEEDED_INVOICES.values())
    assert created["TransactionNumber"] == "500001"  # generated: the source numbers automatically
    assert (created["BillToCustomerName"], created["BillToSite"]) == (
        "The Greater Tri-County Metropolitan Area Regional Healthcare and Community Wellness "
        "Cooperative Association, Incorporated",
        "2008",
    )
    assert (created["BusinessUnit"], created["DueDate"], created["InvoiceStatus"]) == (
        "Vision Operations",
        "2018-02-20",
        "Complete",
    )
    lines = created[LINES]["items"]  # framework 4: the child is a collection object
    assert [line["LineAmount"] for line in lines] == [2599.98, 204.3, 261.8]
    assert created["EnteredAmount"] == created["InvoiceBalanceAmount"] == 3066.08
    assert len({line["CustomerTransactionLineId"] for line in lines}) == 3
    seeded_line_ids = {line["CustomerTransactionLineId"] for i in fusion.invoices()[:10] for line in i[LINES]}
    assert seeded_line_ids.isdisjoint(line["CustomerTransactionLineId"] for line in lines)
    [post] = admin.request_log(method="POST", path=f"^{REST}/{INVOICES}$")
    assert post["status"] == 201
    fetched = hook.get_item(INVOICES, created[KEY])
    assert fetched is not None
    assert fetched["TransactionNumber"] == "500001"
    second = hook.create_item(INVOICES, ORACLE_EXAMPLE)
    assert second["TransactionNumber"] == "500002"
    second_ids = {line["CustomerTransactionLineId"] for line in second[LINES]["items"]}
    assert second_ids.isdisjoint(
        line["CustomerTransactionLineId"] for line in lines
    )  # unique across invoices
    empty = hook.create_item(INVOICES, {**ORACLE_EXAMPLE, LINES: []})
    assert (empty["TransactionNumber"], empty["EnteredAmount"]) == ("500003", 0)


def test_line_amounts_round_to_the_currency(hook: OracleFusionHook) -> None:
    usd = hook.create_item(INVOICES, invoice_body("R-1"))
    assert usd[LINES]["items"][0]["LineAmount"] == 100.0  # 3 × 33.333 = 99.999
    jpy = hook.create_item(
        INVOICES,
        invoice_body(
            "R-2",
            InvoiceCurrencyCode="JPY",
            **{LINES: [{"Description": "Hours", "Quantity": 1.5, "UnitSellingPrice": 98763}]},
        ),
    )
    assert jpy[LINES]["items"][0]["LineAmount"] == 148145  # 148144.5 rounds half up (not to even)
    given = hook.create_item(
        INVOICES,
        invoice_body("R-3", **{LINES: [{"Quantity": 2, "UnitSellingPrice": 10, "LineAmount": 19.5}]}),
    )
    assert given["EnteredAmount"] == 19.5  # a given LineAmount is kept


def test_defaults_from_the_customer_and_the_terms(hook: OracleFusionHook, fusion: FusionSandbox) -> None:
    created = hook.create_item(INVOICES, {"BillToCustomerNumber": "1007", "TransactionSource": "Manual"})
    today = fusion.clock.now().date()
    assert (created["BusinessUnit"], created["InvoiceCurrencyCode"], created["BillToSite"]) == (
        "DE1 Business Unit",
        "EUR",
        "2007",
    )
    assert (created["TransactionDate"], created["AccountingDate"], created["DueDate"]) == (
        today.isoformat(),
        today.isoformat(),
        today.isoformat(),  # no payment terms: due at once
    )
    assert created["TransactionNumber"] == "500001"  # sources number on their own: "Manual" seeds use INV-…
    net45 = hook.create_item(
        INVOICES, invoice_body(None, TransactionDate="2026-01-10", PaymentTerms="45 Net")
    )
    assert net45["DueDate"] == "2026-02-24"


def test_duplicate_number_in_the_same_source_is_refused(
    hook: OracleFusionHook, make_connection: ConnectionFactory
) -> None:
    hook.create_item(INVOICES, invoice_body("DUP-1"))
    with pytest.raises(FusionBadRequest) as caught:
        hook.create_item(INVOICES, invoice_body("DUP-1"))
    assert "DUP-1 already exists for transaction source Manual" in str(caught.value)
    assert caught.value.error_codes == ("DUPLICATE_TRANSACTION_NUMBER",)
    with pytest.raises(FusionBadRequest, match="INV-10061 already exists"):
        hook.create_item(INVOICES, invoice_body("INV-10061"))
    hook.create_item(INVOICES, invoice_body("DUP-1", TransactionSource="Manual-NES"))  # other source: fine
    plain = OracleFusionHook(make_connection("fusion_plain_errors", rest_framework_version="1"))
    with pytest.raises(FusionBadRequest) as text_error:
        plain.create_item(INVOICES, invoice_body("DUP-1"))
    assert text_error.value.error_codes == ()  # a text/plain body carries no codes
    assert text_error.value.detail.startswith("A transaction with number DUP-1 already exists")


@pytest.mark.parametrize(
    ("changes", "message"),
    [
        ({"BillToCustomerNumber": "9999"}, "bill-to customer number 9999 is not valid"),
        ({"BillToSite": "2002"}, "bill-to site 2002 does not belong to customer account 1001"),
        ({"InvoiceStatus": "Open"}, "InvoiceStatus is not valid"),
        ({"TransactionSource": None}, "TransactionSource in resource receivablesInvoices is required"),
        ({"EnteredAmount": 5}, "EnteredAmount in resource receivablesInvoices is read-only"),
        ({"Bogus": 1}, "Attribute Bogus is not defined"),
    ],
)
def test_invalid_invoices_are_refused(hook: OracleFusionHook, changes: dict[str, Any], message: str) -> None:
    with pytest.raises(FusionBadRequest, match=message):
        hook.create_item(INVOICES, invoice_body("BAD-1", **changes))


def test_upsert_mode_updates_by_source_and_number(hook: OracleFusionHook) -> None:
    created = hook.create_item(INVOICES, invoice_body("UPS-1"))
    again = hook.create_item(
        INVOICES,
        {"TransactionSource": "Manual", "TransactionNumber": "UPS-1", "PaymentTerms": "Immediate"},
        upsert=True,
    )
    assert (again[KEY], again["PaymentTerms"]) == (created[KEY], "Immediate")


# -- update and lines --------------------------------------------------------------------------------------


def test_patch_changes_only_status_terms_and_date(hook: OracleFusionHook, fusion: FusionSandbox) -> None:
    key = SEEDED_INVOICES["INV-10066"][0]
    before = hook.get_item(INVOICES, key)
    assert before is not None
    fusion.clock.advance(5)
    changed = hook.update_item(
        INVOICES,
        key,
        {"InvoiceStatus": "Complete", "PaymentTerms": "45 Net", "TransactionDate": "2026-01-02"},
    )
    assert (changed["InvoiceStatus"], changed["PaymentTerms"], changed["TransactionDate"]) == (
        "Complete",
        "45 Net",
        "2026-01-02",
    )
    assert parse_timestamp(changed["LastUpdateDate"]) > parse_timestamp(before["LastUpdateDate"])
    assert changed["EnteredAmount"] == before["EnteredAmount"]
    for name, value in (
        ("BillToCustomerNumber", "1002"),
        ("EnteredAmount", 1),
        ("InvoiceCurrencyCode", "EUR"),
        ("DueDate", "2030-01-01"),
        ("TransactionNumber", "X"),
    ):
        with pytest.raises(FusionBadRequest, match=f"Attribute {name} in resource receivablesInvoices"):
            hook.update_item(INVOICES, key, {name: value})
    with pytest.raises(FusionBadRequest, match="receivablesInvoiceLines cannot be changed"):
        hook.update_item(INVOICES, key, {LINES: [{"Description": "x", "Quantity": 1, "UnitSellingPrice": 1}]})
    with pytest.raises(FusionBadRequest, match="InvoiceStatus is not valid"):
        hook.update_item(INVOICES, key, {"InvoiceStatus": "Void"})
    after = hook.get_item(INVOICES, key, expand=LINES)
    assert after is not None
    assert len(expanded_items(after, LINES)[0]) == 1
    assert after["BillToCustomerNumber"] == "1011"


def test_adding_a_line_adds_to_the_totals(hook: OracleFusionHook, fusion: FusionSandbox) -> None:
    key = SEEDED_INVOICES["INV-10062"][0]
    path = f"{INVOICES}/{key}/child/{LINES}"
    line = hook.create_item(path, {"Description": "Setup fee", "Quantity": 1, "UnitSellingPrice": 150.01})
    assert (line["LineNumber"], line["LineAmount"]) == (2, 150.01)
    invoice = hook.get_item(INVOICES, key)
    assert invoice is not None
    assert (invoice["EnteredAmount"], invoice["InvoiceBalanceAmount"]) == (1400.0, 1400.0)
    ids = [row["CustomerTransactionLineId"] for i in fusion.invoices() for row in i[LINES]]
    assert len(ids) == len(set(ids))
    assert [row["LineAmount"] for row in hook.child_items(INVOICES, key, LINES)] == [1249.99, 150.01]


def test_child_items_reads_what_the_expanded_page_left_out(
    hook: OracleFusionHook, fusion: FusionSandbox, admin: SandboxClient
) -> None:
    many = [{"Description": f"Item {n}", "Quantity": 1, "UnitSellingPrice": n} for n in range(1, 31)]
    stored = fusion.upsert_invoice(
        {"BillToCustomerNumber": "1001", "TransactionNumber": "MANY-1"}, lines=many
    )
    item = hook.get_item(INVOICES, stored[KEY], expand=LINES)
    assert item is not None
    inline, complete = expanded_items(item, LINES)
    assert (len(inline), complete) == (25, False)  # framework 4 inlines one page of 25
    admin.clear_request_log()
    rows = hook.child_items(INVOICES, stored[KEY], LINES, item=item)
    assert [row["LineNumber"] for row in rows] == list(range(1, 31))
    [read] = admin.request_log(method="GET")
    assert read["path"] == f"{REST}/{INVOICES}/{stored[KEY]}/child/{LINES}"
    small = hook.get_item(INVOICES, SEEDED_INVOICES["INV-10061"][0], expand=LINES)
    assert small is not None
    admin.clear_request_log()
    assert len(hook.child_items(INVOICES, small[KEY], LINES, item=small)) == 2
    assert admin.request_log(method="GET") == []  # complete inline: no request
    assert expanded_items({LINES: [{"a": 1}]}, LINES) == ([{"a": 1}], True)
    assert expanded_items({}, LINES) == ([], False)
    assert expanded_items({LINES: "x"}, LINES) == ([], False)


def test_delete(hook: OracleFusionHook, fusion: FusionSandbox) -> None:
    key = SEEDED_INVOICES["INV-10070"][0]
    assert hook.delete_item(INVOICES, key) is True
    assert hook.get_item(INVOICES, key) is None
    assert len(fusion.invoices()) == 9


# -- reading changes in both q dialects -----------------------------------------------------------------


@pytest.mark.parametrize("dialect", ["v4", "v1"])
def test_iter_changed_with_lines_in_both_dialects(
    dialect: str,
    hook: OracleFusionHook,
    hook_v1: OracleFusionHook,
    fusion: FusionSandbox,
    admin: SandboxClient,
) -> None:
    client = hook if dialect == "v4" else hook_v1
    now = fusion.clock.now()
    created = hook.create_item(INVOICES, invoice_body("CHG-1"))
    pages = list(
        client.iter_changed(
            INVOICES,
            key_attr=KEY,
            since=now - timedelta(days=30),
            until=now + timedelta(minutes=1),
            expand=LINES,
            page_size=3,
        )
    )
    rows = [row for page in pages for row in page]
    assert len(rows) == 11
    assert len({row[KEY] for row in rows}) == 11
    stamps = [(parse_timestamp(row["LastUpdateDate"]), row[KEY]) for row in rows]
    assert stamps == sorted(stamps)
    assert rows[-1][KEY] == created[KEY]
    inline = rows[-1][LINES]
    assert isinstance(inline, dict if dialect == "v4" else list)  # collection objects from version 3
    assert expanded_items(rows[-1], LINES)[0][0]["LineAmount"] == 100.0
    [first, *_] = admin.request_log(method="GET", path=f"^{REST}/{INVOICES}$")
    q = parse_qs(first["query"])["q"][0]
    if dialect == "v4":
        assert q.startswith("LastUpdateDate >= '")
        assert " and LastUpdateDate < '" in q
    else:
        assert q.startswith("LastUpdateDate>=")
        assert ";LastUpdateDate<" in q
        assert "'" not in q
    assert first["headers"]["rest-framework-version"] == ("4" if dialect == "v4" else "1")


def test_iter_changed_window_leaves_older_invoices_out(hook: OracleFusionHook, fusion: FusionSandbox) -> None:
    now = fusion.clock.now()
    rows = [
        row
        for page in hook.iter_changed(INVOICES, key_attr=KEY, since=now - timedelta(days=3), until=now)
        for row in page
    ]
    expected = {
        i["TransactionNumber"]
        for i in fusion.invoices()
        if now - timedelta(days=3) <= parse_timestamp(i["LastUpdateDate"]) < now
    }
    assert {row["TransactionNumber"] for row in rows} == expected
    assert 0 < len(expected) < 10


@pytest.mark.parametrize("dialect", ["v4", "v1"])
def test_find_invoices_by_number_in_both_dialects(
    dialect: str, hook: OracleFusionHook, hook_v1: OracleFusionHook, admin: SandboxClient
) -> None:
    client = hook if dialect == "v4" else hook_v1
    found = client.find_by_attribute(
        INVOICES, "TransactionNumber", ["INV-10063", "INV-10061", "NOPE", "INV-10063"]
    )
    assert sorted(row["TransactionNumber"] for row in found) == ["INV-10061", "INV-10063"]
    queries = [
        parse_qs(e["query"])["q"][0] for e in admin.request_log(method="GET", path=f"^{REST}/{INVOICES}$")
    ]
    if dialect == "v4":
        assert queries == ["TransactionNumber in ('INV-10063', 'INV-10061', 'NOPE')"]
    else:
        assert queries == [
            "TransactionNumber=INV-10063",
            "TransactionNumber=INV-10061",
            "TransactionNumber=NOPE",
        ]


# -- admin side -------------------------------------------------------------------------------------------


def test_upsert_invoice_python_api(fusion: FusionSandbox, hook: OracleFusionHook) -> None:
    fusion.clock.advance(60)
    stored = fusion.upsert_invoice(
        {"BillToCustomerNumber": "1004", "TransactionNumber": "ADM-1", "PaymentTerms": "30 Net"},
        lines=[{"Description": "Consulting", "Quantity": 2.5, "UnitSellingPrice": 199.97}],
    )
    assert abs(parse_timestamp(stored["LastUpdateDate"]) - fusion.clock.now()) < timedelta(seconds=5)
    assert (stored["TransactionSource"], stored["InvoiceStatus"], stored["BillToSite"]) == (
        "Manual",
        "Complete",
        "2004",
    )
    assert stored[LINES][0]["LineAmount"] == 499.93  # 499.925 rounds half up
    assert stored["EnteredAmount"] == stored["InvoiceBalanceAmount"] == 499.93
    # change it: matched by source + number, balance set explicitly (a partial payment)
    paid = fusion.upsert_invoice(
        {"TransactionSource": "Manual", "TransactionNumber": "ADM-1", "InvoiceBalanceAmount": 100}
    )
    assert (paid[KEY], paid["EnteredAmount"], paid["InvoiceBalanceAmount"]) == (stored[KEY], 499.93, 100)
    fetched = hook.get_item(INVOICES, stored[KEY])
    assert fetched is not None
    assert fetched["InvoiceBalanceAmount"] == 100
    # replace the lines: totals follow
    relined = fusion.upsert_invoice({KEY: stored[KEY]}, lines=[{"Quantity": 1, "UnitSellingPrice": 10}])
    assert (relined["EnteredAmount"], len(relined[LINES])) == (10, 1)
    exact = fusion.upsert_invoice({KEY: stored[KEY], "LastUpdateDate": "2026-01-01T00:00:00.000+00:00"})
    assert exact["LastUpdateDate"] == "2026-01-01T00:00:00.000+00:00"
    with pytest.raises(ValueError, match="not defined"):
        fusion.upsert_invoice({KEY: stored[KEY], "Bogus": 1})


def test_admin_route_for_invoices(base_url: str, api: Api) -> None:
    response = requests.post(
        f"{base_url}/__sandbox__/fusion/invoices",
        json=[
            {
                "BillToCustomerNumber": "1002",
                "TransactionNumber": "ADM-2",
                LINES: [{"Description": "Pallets", "Quantity": 4, "UnitSellingPrice": 12.5}],
            }
        ],
        timeout=10,
    )
    assert response.status_code == 200, response.text
    [stored] = response.json()
    assert stored["EnteredAmount"] == 50
    got = api.get(f"{REST}/{INVOICES}/{stored[KEY]}", expand=LINES)
    assert got.json()[LINES][0]["LineAmount"] == 50
    bad = requests.post(f"{base_url}/__sandbox__/fusion/invoices", json={"Nope": 1}, timeout=10)
    assert bad.status_code == 400


def test_seed_is_relative_to_the_clock(fusion: FusionSandbox) -> None:
    fusion.clock.set_offset(-86400 * 400)
    fusion.state.reset()
    then = fusion.clock.now()
    invoice = next(i for i in fusion.invoices() if i["TransactionNumber"] == "INV-10061")
    assert invoice["TransactionDate"] == (then - timedelta(days=12)).date().isoformat()
    assert isinstance(then, datetime)
