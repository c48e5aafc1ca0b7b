from __future__ import annotations

import dataclasses
import hashlib
import json
from collections.abc import Mapping
from datetime import UTC, date, datetime, timedelta, timezone
from decimal import Decimal
from typing import Any

import pytest
from hypothesis import given
from hypothesis import strategies as st

from ml_connector_provider.engine.types import DeadLetter, SourceRecord, Write, canonical_json
from ml_connector_provider.integrations.stampli_fusion.csv_export import (
    ExportInvoice,
    ExportLine,
    InvoiceGroup,
    Problem,
    parse_export,
)
from ml_connector_provider.integrations.stampli_fusion.mapping import (
    AccountStatus,
    ApLookups,
    MappingError,
    Supplier,
    SupplierSite,
    account_status_from_fusion,
    fusion_combination,
    group_to_record,
    invoice_from_json,
    invoice_to_json,
    lookup_keys,
    map_invoice,
    supplier_from_fusion,
    supplier_number_for,
)
from ml_connector_provider.integrations.stampli_fusion.settings import StampliFusionSettings
from tests.unit.integrations.stampli_fusion.helpers import FILE, csv_bytes, export_invoice, invoices

BU = "US1 Business Unit"
SETTINGS = StampliFusionSettings(business_unit=BU)
CHANGED = datetime(2026, 11, 21, 9, 30, tzinfo=UTC)
A1 = "101-110-61100-000-000"
A2 = "101-110-62000-000-000"

SUPPLIER = Supplier(
    supplier_id=300100000000101,
    number="1013",
    name="Advanced Network Devices",
    status="ACTIVE",
    sites=(SupplierSite(300100000000201, "FRESNO", BU, True, None),),
)


def invoice(**changes: Any) -> ExportInvoice:
    """Invoice INV-1001 of Stampli vendor 1013: two lines, rows out of line order."""
    base: dict[str, Any] = {
        "rows": (2, 5),
        "vendor_id": "1013",
        "vendor_name": "Advanced Network Devices",
        "amount": Decimal("2212.75"),
        "lines": (
            ExportLine(5, 1, "Paper", Decimal("2000.00"), A1, None, None),
            ExportLine(2, 2, None, Decimal("212.75"), A2, None, None),
        ),
    }
    return export_invoice(**{**base, **changes})


def record_of(value: ExportInvoice) -> SourceRecord:
    group = InvoiceGroup(
        source_id=f"{value.vendor_id}/{value.invoice_number}",
        label=f"{value.invoice_number} (Vendor ID {value.vendor_id})",
        rows=value.rows,
        invoice=value,
        problems=(),
        raw=({"invoice_number": value.invoice_number},),
    )
    return group_to_record(group, changed_at=CHANGED, file_checksum="0" * 64)


def accounts(*combinations: str, **status: Any) -> dict[str, AccountStatus]:
    return {c: AccountStatus(c, exists=True, enabled=True, **status) for c in combinations}


LOOKUPS = ApLookups(suppliers={"1013": SUPPLIER}, accounts=accounts(A1, A2))


def mapped(
    value: ExportInvoice | SourceRecord | None = None,
    lookups: ApLookups = LOOKUPS,
    settings: StampliFusionSettings = SETTINGS,
) -> Any:
    record = value if isinstance(value, SourceRecord) else record_of(value or invoice())
    return map_invoice(record, lookups, settings)


def dead(*args: Any, **kwargs: Any) -> DeadLetter:
    result = mapped(*args, **kwargs)
    assert isinstance(result, DeadLetter), result
    return result


def written(*args: Any, **kwargs: Any) -> dict[str, Any]:
    result = mapped(*args, **kwargs)
    assert isinstance(result, Write), result
    return dict(result.payload)


# -- supplier numbers and account combinations ---------------------------------------------------


def test_supplier_number_is_the_vendor_map_entry_or_the_vendor_id() -> None:
    settings = StampliFusionSettings(business_unit=BU, vendor_map={"V-77": "1013"})
    assert supplier_number_for("V-77", settings) == "1013"
    assert supplier_number_for(" V-77 ", settings) == "1013"
    assert supplier_number_for("1013", settings) == "1013"
    assert supplier_number_for("v-77", settings) == "v-77"


@pytest.mark.parametrize(
    ("gl", "cost_center", "options", "expected"),
    [
        (A1, None, {}, A1),
        (f" {A1} ", "  ", {}, A1),
        (A1, "250", {}, "101-250-61100-000-000"),
        (A1, "250", {"cost_center_segment": None}, A1),
        (A1, "250", {"cost_center_segment": 5}, "101-110-61100-000-250"),
        ("61100", "250", {"account_map": {"61100": A1}}, "101-250-61100-000-000"),
        ("101.110.61100", None, {"segment_delimiter": ".", "segment_count": 3}, "101.110.61100"),
        ("101 - 110 - 61100 - 000 - 000", None, {}, A1),
    ],
)
def test_fusion_combination(gl: str, cost_center: str | None, options: dict[str, Any], expected: str) -> None:
    settings = StampliFusionSettings(business_unit=BU, **options)
    assert fusion_combination(gl, cost_center, settings) == expected


@pytest.mark.parametrize(
    ("gl", "cost_center", "options", "message"),
    [
        (
            "61100",
            None,
            {},
            "'61100' is not a Fusion account combination: expected 5 non-blank segments separated by '-' "
            "(like 100-101-102-103-104), found 1; list the account in account_map if Stampli uses another code",
        ),
        (
            "101--61100-000-000",
            None,
            {},
            "'101--61100-000-000' is not a Fusion account combination: expected 5 non-blank segments separated "
            "by '-' (like 100-101-102-103-104), found 5;",
        ),
        (
            "6100",
            None,
            {"account_map": {"6100": "101.110"}, "segment_delimiter": "."},
            "'101.110' (account_map maps '6100' to it) is not a Fusion account combination: expected 5 "
            "non-blank segments separated by '.' (like 100.101.102.103.104), found 2;",
        ),
        (
            A1,
            "2-5",
            {},
            "cost centre '2-5' contains the segment delimiter '-'; it fills segment 2 only",
        ),
    ],
)
def test_fusion_combination_refuses_malformed_accounts(
    gl: str, cost_center: str | None, options: dict[str, Any], message: str
) -> None:
    settings = StampliFusionSettings(business_unit=BU, **options)
    with pytest.raises(MappingError) as caught:
        fusion_combination(gl, cost_center, settings)
    assert str(caught.value).startswith(message)


# -- Fusion look-ups ------------------------------------------------------------------------------


def test_supplier_from_fusion_reads_sites_flags_and_dates() -> None:
    item = {
        "SupplierId": 300100000000101,
        "Supplier": "Advanced Network Devices",
        "SupplierNumber": 1013,
        "Status": "ACTIVE",
        "sites": [
            {
                "SupplierSiteId": 300100000000201,
                "SupplierSite": "FRESNO",
                "ProcurementBU": BU,
                "SitePurposePayFlag": True,
                "InactiveDate": None,
            },
            {
                "SupplierSiteId": "300100000000202",
                "SupplierSite": "OLD",
                "ProcurementBU": "",
                "SitePurposePayFlag": "Y",
                "InactiveDate": "2026-01-31T00:00:00+00:00",
            },
            {"SupplierSite": "PURCHASING", "SitePurposePayFlag": "N"},
            {"SupplierSite": "NO FLAG", "SitePurposePayFlag": False, "InactiveDate": "2027-03-01"},
        ],
    }
    assert supplier_from_fusion(item) == Supplier(
        supplier_id=300100000000101,
        number="1013",
        name="Advanced Network Devices",
        status="ACTIVE",
        sites=(
            SupplierSite(300100000000201, "FRESNO", BU, True, None),
            SupplierSite(300100000000202, "OLD", None, True, date(2026, 1, 31)),
            SupplierSite(None, "PURCHASING", None, False, None),
            SupplierSite(None, "NO FLAG", None, False, date(2027, 3, 1)),
        ),
    )


def test_supplier_from_fusion_tolerates_missing_optional_attributes_and_collection_children() -> None:
    bare = supplier_from_fusion({"Supplier": "Bare", "SupplierNumber": "9"})
    assert bare == Supplier(None, "9", "Bare", None, ())
    assert bare.active
    listed = supplier_from_fusion(
        {"Supplier": "S", "SupplierNumber": "1", "sites": {"items": [{"SupplierSite": "MAIN"}], "count": 1}}
    )
    assert listed.sites == (SupplierSite(None, "MAIN", None, True, None),)


@pytest.mark.parametrize(
    ("item", "message"),
    [
        ({"Supplier": "S"}, "the Fusion supplier has no SupplierNumber"),
        ({"SupplierNumber": "1", "Supplier": " "}, "the Fusion supplier has no Supplier"),
        (
            {"SupplierNumber": "1", "Supplier": "S", "sites": [{"SupplierSiteId": 1}]},
            "the Fusion supplier site has no SupplierSite",
        ),
        (
            {
                "SupplierNumber": "1",
                "Supplier": "S",
                "sites": [{"SupplierSite": "A", "SitePurposePayFlag": "maybe"}],
            },
            "SitePurposePayFlag 'maybe' is not a yes/no value",
        ),
        (
            {
                "SupplierNumber": "1",
                "Supplier": "S",
                "sites": [{"SupplierSite": "A", "InactiveDate": "31/01/2026"}],
            },
            "InactiveDate '31/01/2026' is not a date",
        ),
        ({"SupplierNumber": "1", "Supplier": "S", "SupplierId": "abc"}, "SupplierId 'abc' is not an id"),
        (
            {"SupplierNumber": "1", "Supplier": "S", "sites": "FRESNO"},
            "the Fusion supplier's sites are not a list",
        ),
    ],
)
def test_supplier_from_fusion_refuses_unreadable_items(item: dict[str, Any], message: str) -> None:
    with pytest.raises(MappingError) as caught:
        supplier_from_fusion(item)
    assert str(caught.value).startswith(message)


@pytest.mark.parametrize(
    ("status", "active"), [(None, True), ("ACTIVE", True), ("Active", True), ("INACTIVE", False)]
)
def test_supplier_active(status: str | None, active: bool) -> None:
    assert dataclasses.replace(SUPPLIER, status=status).active is active


def test_account_status_from_fusion() -> None:
    item = {
        "_CODE_COMBINATION_ID": 13001,
        "Segment1": "101",
        "Segment2": "110",
        "Segment3": 61100,
        "Segment4": "000",
        "Segment5": "000",
        "Segment6": "ignored",
        "EnabledFlag": "Y",
        "StartDateActive": "2020-01-01",
        "EndDateActive": "2026-08-01T00:00:00.000+00:00",
    }
    assert account_status_from_fusion(item, delimiter="-", segment_count=5) == AccountStatus(
        A1, exists=True, enabled=True, start=date(2020, 1, 1), end=date(2026, 8, 1)
    )
    assert account_status_from_fusion(
        {**item, "EnabledFlag": "N"}, delimiter=".", segment_count=3
    ) == AccountStatus(
        "101.110.61100", exists=True, enabled=False, start=date(2020, 1, 1), end=date(2026, 8, 1)
    )
    bare = {f"Segment{n}": str(n) for n in (1, 2)}
    assert account_status_from_fusion(bare, delimiter="-", segment_count=2) == AccountStatus(
        "1-2", True, True
    )
    with pytest.raises(MappingError, match="the Fusion account combination has no Segment3"):
        account_status_from_fusion(bare, delimiter="-", segment_count=3)


def test_account_status_problem_on() -> None:
    day = date(2026, 11, 2)
    assert AccountStatus(A1, exists=False).problem_on(day) == "does not exist in Fusion's chart of accounts"
    assert AccountStatus(A1, exists=True, enabled=False).problem_on(day) == "is disabled in Fusion"
    assert AccountStatus(A1, True, True).problem_on(day) is None
    window = AccountStatus(A1, True, True, start=date(2020, 1, 1), end=date(2026, 8, 1))
    assert window.problem_on(day) == "is not active on 2026-11-02 (active 2020-01-01 to 2026-08-01)"
    assert (
        window.problem_on(date(2019, 12, 31))
        == "is not active on 2019-12-31 (active 2020-01-01 to 2026-08-01)"
    )
    assert window.problem_on(date(2020, 1, 1)) is None
    assert window.problem_on(date(2026, 8, 1)) is None  # the end date is the last active day
    assert AccountStatus(A1, True, True, start=date(2027, 1, 1)).problem_on(day) == (
        "is not active on 2026-11-02 (active from 2027-01-01)"
    )
    assert AccountStatus(A1, True, True, end=date(2026, 11, 1)).problem_on(day) == (
        "is not active on 2026-11-02 (active until 2026-11-01)"
    )


# -- records --------------------------------------------------------------------------------------


def _csv(rows: list[list[str]]) -> bytes:
    header = ["Invoice Number", "Vendor ID", "Invoice Date", "Currency", "Invoice Amount", "Line Number"]
    return csv_bytes(rows, header=[*header, "Line Amount", "GL Account", "Description"])


ROWS = [
    ["INV-1", "1013", "2026-11-02", "USD", "10", "1", "10", A1, "Paper"],
    ["INV-2", "1013", "2026-11-02", "USD", "10", "1", "10", A1, "Paper"],
]


def test_group_to_record_carries_the_invoice_and_a_version_of_its_raw_rows() -> None:
    groups = parse_export(_csv(ROWS), file_name=FILE, template=SETTINGS.template)
    record = group_to_record(groups[0], changed_at=CHANGED, file_checksum="ab" * 32)
    raw = [
        {
            "invoice_number": "INV-1",
            "vendor_id": "1013",
            "invoice_date": "2026-11-02",
            "currency": "USD",
            "invoice_amount": "10",
            "line_number": "1",
            "line_amount": "10",
            "gl_account": A1,
            "description": "Paper",
        }
    ]
    assert record == SourceRecord(
        id="1013/INV-1",
        version=hashlib.sha256(canonical_json(raw).encode()).hexdigest(),
        changed_at=CHANGED,
        label="INV-1 (Vendor ID 1013)",
        data={
            "file": FILE,
            "file_checksum": "ab" * 32,
            "rows": [2],
            "invoice": invoice_to_json(groups[0].invoice),  # type: ignore[arg-type]
            "problems": [],
            "problem_columns": [],
            "raw": raw,
        },
    )
    assert json.loads(json.dumps(record.data)) == record.data
    # The same invoice re-exported in another file (other rows around it) has the same version.
    again = parse_export(_csv([ROWS[1], ROWS[0]]), file_name="other.csv", template=SETTINGS.template)[1]
    other = group_to_record(again, changed_at=CHANGED + timedelta(days=1), file_checksum="cd" * 32)
    assert (other.id, other.version) == (record.id, record.version)
    # Any change to its cells is a new version.
    changed = parse_export(_csv([[*ROWS[0][:-1], "Paper A4"]]), file_name=FILE, template=SETTINGS.template)[0]
    assert group_to_record(changed, changed_at=CHANGED, file_checksum="").version != record.version


def test_group_to_record_of_a_group_with_problems() -> None:
    rows = [
        ["INV-1", "1013", "2026-13-02", "USD", "10", "1", "10", A1, "Paper"],
        ["", "1013", "", "", "", "", "", "", ""],
    ]
    groups = parse_export(_csv(rows), file_name=FILE, template=SETTINGS.template)
    record = group_to_record(groups[0], changed_at=CHANGED, file_checksum="x")
    assert record.data["invoice"] is None
    assert record.data["file"] == FILE
    assert record.data["problems"] == [
        f"{FILE} row 2, column 'Invoice Date': '2026-13-02' is not a date (expected 2026-11-21 or 11/21/2026)"
    ]
    assert record.data["problem_columns"] == ["Invoice Date"]
    keyless = group_to_record(groups[1], changed_at=CHANGED, file_checksum="x")
    assert keyless.id == f"{FILE}#row3"
    assert keyless.label == f"{FILE} row 3"
    assert keyless.data["problem_columns"][0] == "Invoice Number"


def test_group_to_record_needs_an_aware_timestamp() -> None:
    group = parse_export(_csv(ROWS[:1]), file_name=FILE, template=SETTINGS.template)[0]
    with pytest.raises(ValueError, match="timezone-aware"):
        group_to_record(group, changed_at=datetime(2026, 11, 21), file_checksum="")
    aware = datetime(2026, 11, 21, 10, tzinfo=timezone(timedelta(hours=1)))
    assert group_to_record(group, changed_at=aware, file_checksum="").changed_at == aware


@given(data=st.data())
def test_invoice_json_round_trip_is_exact(data: st.DataObject) -> None:
    value = data.draw(invoices("V1", "INV-1"))
    value = dataclasses.replace(value, rows=tuple(range(2, 2 + len(value.lines))))
    stored = json.loads(json.dumps(invoice_to_json(value)))
    back = invoice_from_json(stored)
    assert back == value
    for before, after in zip(
        (value.amount, *(line.amount for line in value.lines)),
        (back.amount, *(line.amount for line in back.lines)),
        strict=True,
    ):
        assert str(before) == str(after)


def test_invoice_to_json_is_plain_json() -> None:
    assert invoice_to_json(invoice(due_date=None, po_number="PO-7")) == {
        "file": FILE,
        "rows": [2, 5],
        "invoice_number": "INV-1001",
        "vendor_id": "1013",
        "vendor_name": "Advanced Network Devices",
        "vendor_site": None,
        "invoice_date": "2026-11-02",
        "due_date": None,
        "currency": "USD",
        "amount": "2212.75",
        "po_number": "PO-7",
        "description": "Office supplies",
        "payment_terms": None,
        "stampli_invoice_id": None,
        "lines": [
            {
                "row": 5,
                "line_number": 1,
                "description": "Paper",
                "amount": "2000.00",
                "gl_account": A1,
                "cost_center": None,
                "po_number": None,
            },
            {
                "row": 2,
                "line_number": 2,
                "description": None,
                "amount": "212.75",
                "gl_account": A2,
                "cost_center": None,
                "po_number": None,
            },
        ],
    }


@pytest.mark.parametrize(
    ("change", "message"),
    [
        ({"amount": None}, "the stored invoice has no 'amount'"),
        ({"amount": "12,5"}, "the stored invoice cannot be read: invoice amount '12,5' is not a number"),
        ({"amount": "NaN"}, "the stored invoice cannot be read: invoice amount 'NaN' is not a finite number"),
        ({"invoice_date": "02/11/2026"}, "the stored invoice cannot be read: Invalid isoformat string"),
    ],
)
def test_invoice_from_json_refuses_what_it_did_not_write(change: dict[str, Any], message: str) -> None:
    stored = invoice_to_json(invoice())
    stored.update(change)
    if change.get("amount", "") is None:
        del stored["amount"]
    with pytest.raises(MappingError) as caught:
        invoice_from_json(stored)
    assert str(caught.value).startswith(message)


def test_lookup_keys_skip_records_with_problems_and_unbuildable_combinations() -> None:
    settings = StampliFusionSettings(business_unit=BU, vendor_map={"V-9": "2002"}, account_map={"61100": A2})
    good = record_of(
        invoice(
            lines=(
                ExportLine(2, 1, None, Decimal("2000.00"), A1, "250", None),
                ExportLine(5, 2, None, Decimal("200.00"), "61100", None, None),
                ExportLine(6, 3, None, Decimal("12.75"), "not-a-combination", None, None),
            )
        )
    )
    mapped_vendor = record_of(
        invoice(vendor_id="V-9", lines=(ExportLine(2, 1, None, Decimal("2212.75"), A2, None, None),))
    )
    broken = SourceRecord("x", "v", CHANGED, {"invoice": None, "problems": ["bad"]})
    unreadable = SourceRecord("y", "v", CHANGED, {"invoice": {"lines": []}, "problems": []})
    assert lookup_keys([good, mapped_vendor, broken, unreadable], settings) == (
        {"1013", "2002"},
        {"101-250-61100-000-000", A2},
    )


# -- map_invoice: the payload ---------------------------------------------------------------------


def test_a_multi_line_invoice_maps_to_the_fusion_create_payload() -> None:
    settings = StampliFusionSettings(
        business_unit=BU,
        vendor_map={"V-77": "1013"},
        account_map={"61100": A1},
        invoice_source="STAMPLI",
        invoice_group="STAMPLI-20261121",
        default_payment_terms="Net 45",
    )
    value = invoice(
        vendor_id="V-77",
        vendor_site="fresno",
        po_number="PO-7",
        stampli_invoice_id="SI-123",
        payment_terms="Net 30",
        lines=(
            ExportLine(5, 2, None, Decimal("212.75"), A2, None, "PO-7"),
            ExportLine(2, 1, "Paper", Decimal("2000.00"), "61100", "250", "PO-7"),
        ),
    )
    combination = "101-250-61100-000-000"
    lookups = ApLookups(suppliers={"1013": SUPPLIER}, accounts=accounts(combination, A2))
    assert written(value, lookups, settings) == {
        "InvoiceNumber": "INV-1001",
        "InvoiceCurrency": "USD",
        "InvoiceAmount": 2212.75,
        "InvoiceDate": "2026-11-02",
        "BusinessUnit": BU,
        "Supplier": "Advanced Network Devices",
        "SupplierNumber": "1013",
        "SupplierSite": "FRESNO",
        "InvoiceType": "Standard",
        "Description": "Office supplies PO PO-7 (Stampli SI-123)",
        "PaymentTerms": "Net 30",
        "InvoiceSource": "STAMPLI",
        "InvoiceGroup": "STAMPLI-20261121",
        "invoiceLines": [
            {
                "LineNumber": 1,
                "LineType": "Item",
                "LineAmount": 2000,
                "Description": "Paper",
                "DistributionCombination": combination,
                "invoiceDistributions": [
                    {
                        "DistributionLineNumber": 1,
                        "DistributionLineType": "Item",
                        "DistributionAmount": 2000,
                        "DistributionCombination": combination,
                    }
                ],
            },
            {
                "LineNumber": 2,
                "LineType": "Item",
                "LineAmount": 212.75,
                "Description": "Office supplies",
                "DistributionCombination": A2,
                "invoiceDistributions": [
                    {
                        "DistributionLineNumber": 1,
                        "DistributionLineType": "Item",
                        "DistributionAmount": 212.75,
                        "DistributionCombination": A2,
                    }
                ],
            },
        ],
    }


def test_optional_payload_fields_are_omitted_or_defaulted() -> None:
    value = invoice(description=None, lines=(ExportLine(2, 1, None, Decimal("2212.75"), A1, None, None),))
    payload = written(value)
    assert "Description" not in payload
    assert "PaymentTerms" not in payload
    assert "InvoiceSource" not in payload
    assert "InvoiceGroup" not in payload
    assert "Description" not in payload["invoiceLines"][0]
    settings = StampliFusionSettings(business_unit=BU, default_payment_terms="Net 45")
    assert written(value, settings=settings)["PaymentTerms"] == "Net 45"
    only_po = written(invoice(description=None, po_number="PO-7"))
    assert only_po["Description"] == "PO PO-7"


def test_amounts_are_exact_json_numbers_for_every_precision() -> None:
    jpy = invoice(
        currency="JPY",
        amount=Decimal("1500"),
        lines=(ExportLine(2, 1, None, Decimal("1500"), A1, None, None),),
    )
    assert json.dumps(written(jpy)["InvoiceAmount"]) == "1500"
    kwd = invoice(
        currency="KWD",
        amount=Decimal("10.125"),
        lines=(
            ExportLine(2, 1, None, Decimal("10.100"), A1, None, None),
            ExportLine(3, 2, None, Decimal("0.025"), A2, None, None),
        ),
    )
    payload = written(kwd)
    assert json.dumps(
        [payload["InvoiceAmount"], *(line["LineAmount"] for line in payload["invoiceLines"])]
    ) == ("[10.125, 10.1, 0.025]")
    assert Decimal(repr(payload["InvoiceAmount"])) == Decimal("10.125")


@given(
    cents=st.lists(st.integers(min_value=-(10**11), max_value=10**13).filter(bool), min_size=1, max_size=6)
)
def test_payload_amounts_read_back_as_the_exact_decimals(cents: list[int]) -> None:
    total = sum(cents)
    if total <= 0:
        cents.append(1 - total)
        total = 1
    lines = tuple(
        ExportLine(n + 1, n + 1, None, Decimal(c).scaleb(-2), A1, None, None) for n, c in enumerate(cents)
    )
    payload = written(invoice(amount=Decimal(total).scaleb(-2), lines=lines))
    sent = json.loads(json.dumps(payload), parse_float=Decimal, parse_int=Decimal)
    assert sent["InvoiceAmount"] == Decimal(total).scaleb(-2)
    assert [line["LineAmount"] for line in sent["invoiceLines"]] == [Decimal(c).scaleb(-2) for c in cents]
    assert sum(line["LineAmount"] for line in sent["invoiceLines"]) == sent["InvoiceAmount"]


def test_an_amount_a_json_number_cannot_hold_exactly_is_a_dead_letter() -> None:
    huge = Decimal("999999999999999.99")
    letter = dead(invoice(amount=huge, lines=(ExportLine(2, 1, None, huge, A1, None, None),)))
    assert letter == DeadLetter(
        f"invoice amount 999999999999999.99 cannot be sent as an exact JSON number ({FILE} rows 2 and 5, "
        "column 'Invoice Amount')",
        field="Invoice Amount",
    )


def test_descriptions_are_cut_to_240_characters_keeping_the_references() -> None:
    long_text = "x" * 300
    payload = written(invoice(description=long_text, po_number="PO-7", stampli_invoice_id="SI-1"))
    description = payload["Description"]
    assert len(description) == 240
    assert description.endswith("x… PO PO-7 (Stampli SI-1)")
    line = payload["invoiceLines"][1]["Description"]
    assert len(line) == 240
    assert line == "x" * 239 + "…"


def test_an_invoice_built_from_a_file_maps_end_to_end() -> None:
    rows = [
        ["INV-9", "1013", "11/02/2026", "usd", "30", "2", "20", A2, "Toner"],
        ["INV-9", "1013", "2026-11-02", "USD", "30.00", "1", "10", A1, "Toner"],
    ]
    group = parse_export(_csv(rows), file_name=FILE, template=SETTINGS.template)[0]
    record = group_to_record(group, changed_at=CHANGED, file_checksum="")
    assert lookup_keys([record], SETTINGS) == ({"1013"}, {A1, A2})
    payload = written(record)
    assert (payload["InvoiceNumber"], payload["InvoiceAmount"], payload["InvoiceCurrency"]) == (
        "INV-9",
        30,
        "USD",
    )
    assert [
        (line["LineNumber"], line["LineAmount"], line["DistributionCombination"])
        for line in payload["invoiceLines"]
    ] == [
        (1, 10, A1),
        (2, 20, A2),
    ]


# -- map_invoice: dead letters --------------------------------------------------------------------


def test_a_record_with_problems_is_a_dead_letter_listing_them() -> None:
    rows = [["INV-1", "1013", "2026-13-02", "US", "10", "0", "10", "", "Paper"]]
    group = parse_export(_csv(rows), file_name=FILE, template=SETTINGS.template)[0]
    letter = dead(group_to_record(group, changed_at=CHANGED, file_checksum=""))
    assert letter == DeadLetter(
        f"{FILE} row 2, column 'Invoice Date': '2026-13-02' is not a date (expected 2026-11-21 or 11/21/2026); "
        f"{FILE} row 2, column 'Currency': 'US' is not a currency code (expected three letters, e.g. USD); "
        f"{FILE} row 2, column 'Line Number': '0' is not a line number (expected a whole number from 1 to "
        f"999999999); {FILE} row 2, column 'GL Account': a value is required",
        field="Invoice Date",
    )


def test_a_long_list_of_problems_is_capped() -> None:
    problems = [f"{FILE} row {n}, column 'GL Account': a value is required" for n in range(2, 202)]
    record = SourceRecord(
        "1013/INV-1",
        "v",
        CHANGED,
        {"invoice": None, "problems": problems, "problem_columns": ["GL Account"] * 200},
    )
    letter = dead(record)
    assert letter.field == "GL Account"
    assert len(letter.reason) < 2100
    kept = letter.reason.split("; and ")[0].split("; ")
    assert kept == problems[: len(kept)]
    assert letter.reason.endswith(f"; and {200 - len(kept)} more problems")


def test_a_record_without_invoice_or_problems_is_a_dead_letter() -> None:
    assert dead(SourceRecord("a/b", "v", CHANGED, {"invoice": None, "problems": []})) == DeadLetter(
        "record a/b carries no invoice"
    )
    assert dead(SourceRecord("a/b", "v", CHANGED, {"invoice": {"file": FILE}, "problems": []})) == DeadLetter(
        "record a/b: the stored invoice has no 'lines'"
    )


@pytest.mark.parametrize("suppliers", [{"1013": None}, {}])
def test_vendor_not_set_up_in_fusion(suppliers: Mapping[str, Supplier | None]) -> None:
    letter = dead(lookups=ApLookups(suppliers=suppliers, accounts=accounts(A1, A2)))
    assert letter == DeadLetter(
        "vendor not set up in Fusion: Stampli vendor '1013' (Advanced Network Devices) has no Fusion supplier "
        f"with supplier number '1013' ({FILE} rows 2 and 5, column 'Vendor ID'); create the supplier in Fusion "
        "or map the vendor in vendor_map",
        field="Vendor ID",
    )


def test_vendor_not_set_up_names_the_mapped_supplier_number() -> None:
    settings = StampliFusionSettings(business_unit=BU, vendor_map={"V-77": "2002"})
    letter = dead(invoice(vendor_id="V-77", vendor_name=None), settings=settings)
    assert letter.reason.startswith(
        "vendor not set up in Fusion: Stampli vendor 'V-77' has no Fusion supplier with supplier number '2002' "
        f"(vendor_map) ({FILE} rows 2 and 5, column 'Vendor ID')"
    )


def test_an_inactive_supplier_is_a_dead_letter() -> None:
    inactive = dataclasses.replace(SUPPLIER, status="INACTIVE")
    letter = dead(lookups=ApLookups({"1013": inactive}, accounts(A1, A2)))
    assert letter == DeadLetter(
        "supplier 1013 (Advanced Network Devices) is inactive in Fusion (status INACTIVE; Stampli vendor "
        f"'1013', {FILE} rows 2 and 5, column 'Vendor ID')",
        field="Vendor ID",
    )


# -- map_invoice: the supplier site -------------------------------------------------------------

SITES = (
    SupplierSite(1, "FRESNO", BU, True, None),
    SupplierSite(2, "SAN JOSE", None, True, date(2027, 1, 1)),
    SupplierSite(3, "OLD", BU, True, date(2026, 11, 2)),
    SupplierSite(4, "PURCHASING", BU, False, None),
    SupplierSite(5, "LONDON", "UK Business Unit", True, None),
)


def site_lookups(*sites: SupplierSite) -> ApLookups:
    return ApLookups({"1013": dataclasses.replace(SUPPLIER, sites=sites)}, accounts(A1, A2))


@pytest.mark.parametrize(
    ("file_site", "configured", "sites", "chosen"),
    [
        ("fresno", None, SITES, "FRESNO"),
        (" San Jose ", None, SITES, "SAN JOSE"),
        (None, "SAN JOSE", SITES, "SAN JOSE"),
        ("FRESNO", "SAN JOSE", SITES, "FRESNO"),
        (None, None, SITES[:1] + SITES[2:], "FRESNO"),
        (None, None, SITES[1:], "SAN JOSE"),
    ],
)
def test_the_site_is_the_files_the_configured_or_the_only_eligible_one(
    file_site: str | None, configured: str | None, sites: tuple[SupplierSite, ...], chosen: str
) -> None:
    settings = StampliFusionSettings(
        business_unit=BU, supplier_sites={"1013": configured} if configured else {}
    )
    payload = written(invoice(vendor_site=file_site), site_lookups(*sites), settings)
    assert payload["SupplierSite"] == chosen


WHERE = f"{FILE} rows 2 and 5, column 'Vendor Site'"


@pytest.mark.parametrize(
    ("file_site", "configured", "sites", "reason"),
    [
        (
            None,
            None,
            SITES,
            f"supplier 1013 (Advanced Network Devices) has several pay sites in business unit '{BU}': 'FRESNO' "
            f"and 'SAN JOSE' ({WHERE}); fill the 'Vendor Site' column or set supplier_sites['1013'] to choose one",
        ),
        (
            None,
            None,
            SITES[2:],
            f"supplier 1013 (Advanced Network Devices) has no pay site usable in business unit '{BU}' on "
            f"2026-11-02 ({WHERE}); its sites: 'OLD' (inactive since 2026-11-02), 'PURCHASING' (not a pay site) "
            f"and 'LONDON' (procurement BU 'UK Business Unit', not '{BU}'); fill the 'Vendor Site' column or set "
            "supplier_sites['1013']",
        ),
        (
            None,
            None,
            (),
            f"supplier 1013 (Advanced Network Devices) has no pay site usable in business unit '{BU}' on "
            f"2026-11-02 ({WHERE}); its sites: none; fill the 'Vendor Site' column or set supplier_sites['1013']",
        ),
        (
            "NOWHERE",
            None,
            SITES[:2],
            f"supplier 1013 (Advanced Network Devices) has no site 'NOWHERE' ('Vendor Site' in the file; {WHERE}); "
            "its sites: 'FRESNO' and 'SAN JOSE'",
        ),
        (
            None,
            "NOWHERE",
            SITES[:2],
            "supplier 1013 (Advanced Network Devices) has no site 'NOWHERE' (supplier_sites['1013']; "
            f"{WHERE}); its sites: 'FRESNO' and 'SAN JOSE'",
        ),
        (
            "old",
            None,
            SITES,
            f"site 'old' ('Vendor Site' in the file; {WHERE}) of supplier 1013 (Advanced Network Devices) cannot "
            f"take an invoice dated 2026-11-02 in business unit '{BU}': inactive since 2026-11-02",
        ),
        (
            "PURCHASING",
            None,
            SITES,
            f"site 'PURCHASING' ('Vendor Site' in the file; {WHERE}) of supplier 1013 (Advanced Network Devices) "
            f"cannot take an invoice dated 2026-11-02 in business unit '{BU}': not a pay site",
        ),
        (
            None,
            "LONDON",
            SITES,
            f"site 'LONDON' (supplier_sites['1013']; {WHERE}) of supplier 1013 (Advanced Network Devices) cannot "
            f"take an invoice dated 2026-11-02 in business unit '{BU}': procurement BU 'UK Business Unit', not "
            f"'{BU}'",
        ),
        (
            "FRESNO",
            None,
            (SITES[0], dataclasses.replace(SITES[0], site_id=9, procurement_bu=None)),
            f"supplier 1013 (Advanced Network Devices) has 2 eligible sites named 'FRESNO' ({WHERE}); fill the "
            "'Vendor Site' column or set supplier_sites['1013']",
        ),
    ],
)
def test_no_single_eligible_site_is_a_dead_letter(
    file_site: str | None, configured: str | None, sites: tuple[SupplierSite, ...], reason: str
) -> None:
    settings = StampliFusionSettings(
        business_unit=BU, supplier_sites={"1013": configured} if configured else {}
    )
    assert dead(invoice(vendor_site=file_site), site_lookups(*sites), settings) == DeadLetter(
        reason, field="Vendor Site"
    )


# -- map_invoice: GL account combinations -------------------------------------------------------


def test_every_unusable_line_account_is_reported() -> None:
    value = invoice(
        lines=(
            ExportLine(2, 1, None, Decimal("1000.00"), A1, None, None),
            ExportLine(3, 2, None, Decimal("1000.00"), "61100", None, None),
            ExportLine(4, 3, None, Decimal("100.00"), A2, "250", None),
            ExportLine(5, 4, None, Decimal("100.00"), "101-110-63000-000-000", None, None),
            ExportLine(6, 5, None, Decimal("12.75"), "101-110-64000-000-000", None, None),
        )
    )
    lookups = ApLookups(
        {"1013": SUPPLIER},
        {
            A1: AccountStatus(A1, True, True),
            "101-250-62000-000-000": AccountStatus("101-250-62000-000-000", True, enabled=False),
            "101-110-64000-000-000": AccountStatus(
                "101-110-64000-000-000", True, True, start=date(2020, 1, 1), end=date(2026, 8, 1)
            ),
        },
    )
    assert dead(value, lookups) == DeadLetter(
        f"GL account '61100' (line 2, {FILE} row 3, column 'GL Account'): '61100' is not a Fusion account "
        "combination: expected 5 non-blank segments separated by '-' (like 100-101-102-103-104), found 1; list "
        "the account in account_map if Stampli uses another code; "
        f"GL account combination 101-250-62000-000-000 (line 3, {FILE} row 4, column 'GL Account', from "
        f"'{A2}' and Cost Center '250') is disabled in Fusion; "
        f"GL account combination 101-110-63000-000-000 (line 4, {FILE} row 5, column 'GL Account') does not "
        "exist in Fusion's chart of accounts; "
        f"GL account combination 101-110-64000-000-000 (line 5, {FILE} row 6, column 'GL Account') is not "
        "active on 2026-11-02 (active 2020-01-01 to 2026-08-01)",
        field="GL Account",
    )


def test_supplier_problems_come_before_account_problems() -> None:
    letter = dead(lookups=ApLookups({}, {}))
    assert letter.reason.startswith("vendor not set up in Fusion: ")


def test_problem_locations_use_the_tenants_header_texts() -> None:
    settings = StampliFusionSettings.model_validate(
        {
            "business_unit": BU,
            "template": {"columns": {"vendor_id": "Supplier Code", "gl_account": "Account"}},
        }
    )
    assert dead(lookups=ApLookups({}, {}), settings=settings).field == "Supplier Code"
    letter = dead(lookups=ApLookups({"1013": SUPPLIER}, {}), settings=settings)
    assert letter.field == "Account"
    assert f"(line 1, {FILE} row 5, column 'Account')" in letter.reason


def test_problem_columns_absent_from_problems_give_no_field() -> None:
    record = SourceRecord(
        "r",
        "v",
        CHANGED,
        {"invoice": None, "problems": [Problem(FILE, None, None, "x").describe()], "problem_columns": [None]},
    )
    assert dead(record) == DeadLetter(f"{FILE}: x", field=None)
