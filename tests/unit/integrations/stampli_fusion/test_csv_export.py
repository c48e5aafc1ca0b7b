from __future__ import annotations

import csv
import dataclasses
import io
from datetime import date
from decimal import Decimal
from typing import Any

import pytest
from hypothesis import HealthCheck, assume, given, settings
from hypothesis import strategies as st
from pydantic import ValidationError

from ml_connector_provider.integrations.stampli_fusion.csv_export import (
    MAX_CELL_CHARS,
    ExportGroups,
    ExportInvoice,
    ExportLine,
    FileRejected,
    InvoiceGroup,
    Problem,
    parse_export,
)
from ml_connector_provider.integrations.stampli_fusion.settings import FileTemplate, StampliColumns
from tests.unit.integrations.stampli_fusion.helpers import (
    ACCOUNT,
    CODES,
    CURRENCIES,
    EXPONENTS,
    FILE,
    HEADER,
    csv_bytes,
    export_invoice,
    invoices,
)

TEMPLATE = FileTemplate()


def row(**values: str) -> dict[str, str]:
    """One line of invoice INV-1001 of vendor V100 (two lines, 100.00 USD), overridable per column."""
    base = {
        "Invoice Number": "INV-1001",
        "Vendor ID": "V100",
        "Vendor": "Acme Supplies",
        "Vendor Site": "",
        "Invoice Date": "2026-11-02",
        "Due Date": "2026-12-02",
        "Currency": "USD",
        "Invoice Amount": "100.00",
        "PO Number": "",
        "Description": "Office supplies",
        "Payment Terms": "",
        "Stampli Invoice ID": "",
        "Line Number": "1",
        "Line Description": "Paper",
        "Line Amount": "60.00",
        "GL Account": ACCOUNT,
        "Cost Center": "",
    }
    base.update(values)
    return base


def line2(**values: str) -> dict[str, str]:
    return row(**{"Line Number": "2", "Line Description": "Toner", "Line Amount": "40.00", **values})


def parse(data: bytes, template: FileTemplate = TEMPLATE) -> list[InvoiceGroup]:
    return parse_export(data, file_name=FILE, template=template)


def only(data: bytes, template: FileTemplate = TEMPLATE) -> InvoiceGroup:
    groups = parse(data, template)
    assert len(groups) == 1, groups
    return groups[0]


def problems(data: bytes, template: FileTemplate = TEMPLATE) -> list[str]:
    return [p.describe() for group in parse(data, template) for p in group.problems]


def rejected(data: bytes, template: FileTemplate = TEMPLATE) -> FileRejected:
    with pytest.raises(FileRejected) as caught:
        parse(data, template)
    return caught.value


# What row() and line2() hold.
EXPECTED_INVOICE = export_invoice()


# -- a valid file ---------------------------------------------------------------------------------


def test_a_two_line_invoice_is_read_exactly() -> None:
    group = only(csv_bytes([row(), line2()]))
    assert group.invoice == EXPECTED_INVOICE
    assert str(group.invoice.amount) == "100.00"
    assert group.source_id == "V100/INV-1001"
    assert group.label == "INV-1001 (Vendor ID V100)"
    assert group.rows == (2, 3)
    assert group.problems == ()
    assert group.raw == (
        {_field(k): v for k, v in row().items()},
        {_field(k): v for k, v in line2().items()},
    )


def _field(header: str) -> str:
    return {h: f for f, h in StampliColumns().model_dump().items()}[header]


def test_raw_holds_cells_as_read_and_only_the_templates_columns() -> None:
    data = csv_bytes(
        [[*row(Vendor="  Acme  ").values(), "ignored"]],
        header=[*HEADER, "Approver"],
    )
    group = only(data)
    assert group.raw[0]["vendor_name"] == "  Acme  "
    assert "Approver" not in group.raw[0]
    assert set(group.raw[0]) == set(StampliColumns().model_dump())


def test_rows_of_an_invoice_need_not_be_contiguous_and_groups_keep_first_appearance_order() -> None:
    other = {"Invoice Number": "A-7", "Vendor ID": "V200", "Invoice Amount": "5", "Line Amount": "5"}
    data = csv_bytes([line2(), row(**other), row(), row(**{**other, "Vendor ID": "V100"})])
    groups = parse(data)
    assert [g.source_id for g in groups] == ["V100/INV-1001", "V200/A-7", "V100/A-7"]
    assert groups[0].rows == (2, 4)
    assert groups[0].invoice is not None
    # Lines come in line-number order whatever the row order.
    assert [(line.line_number, line.row) for line in groups[0].invoice.lines] == [(1, 4), (2, 2)]
    assert groups[0].invoice.rows == (2, 4)
    assert groups[1].invoice is not None
    assert groups[1].invoice.amount == Decimal("5.00")


def test_grouping_key_is_stripped_but_otherwise_exact() -> None:
    data = csv_bytes([row(**{"Vendor ID": " V100 "}), line2(**{"Invoice Number": "INV-1001  "})])
    group = only(data)
    assert group.invoice == EXPECTED_INVOICE
    groups = parse(csv_bytes([row(), line2(**{"Invoice Number": "inv-1001"})]))
    assert [g.source_id for g in groups] == ["V100/INV-1001", "V100/inv-1001"]


@pytest.mark.parametrize("bom", [False, True])
@pytest.mark.parametrize("terminator", ["\r\n", "\n", "\r"])
def test_bom_and_line_endings_do_not_matter(bom: bool, terminator: str) -> None:
    assert only(csv_bytes([row(), line2()], bom=bom, terminator=terminator)).invoice == EXPECTED_INVOICE


def test_quoted_delimiters_doubled_quotes_and_newlines_are_values() -> None:
    description = 'Paper, A4 "premium"\r\nsecond line'
    data = csv_bytes([row(Description=description), line2(Description=description)], quoting=csv.QUOTE_ALL)
    assert data.count(b"\r\n") == 5  # header, two rows, one newline inside each description
    group = only(data)
    assert group.invoice is not None
    assert group.invoice.description == description
    # A newline inside a quoted value does not shift row numbers.
    assert group.rows == (2, 3)


def test_row_numbers_count_records_including_blank_lines_not_physical_lines() -> None:
    data = csv_bytes(
        [row(Description="a\nb\nc"), [], ["", " ", ""], line2(Description="a\nb\nc", Currency="EUR")]
    )
    group = only(data)
    assert group.rows == (2, 5)
    assert [p.describe() for p in group.problems] == [
        f"{FILE} row 5, column 'Currency': 'EUR' differs from 'USD' on row 2 "
        "(invoice fields must be the same on every row of an invoice)"
    ]


def test_a_binary_file_object_is_read_and_a_text_one_refused() -> None:
    data = csv_bytes([row(), line2()])
    assert parse_export(io.BytesIO(data), file_name=FILE, template=TEMPLATE)[0].invoice == EXPECTED_INVOICE
    with pytest.raises(TypeError, match="binary mode"):
        parse_export(io.StringIO(data.decode()), file_name=FILE, template=TEMPLATE)  # type: ignore[arg-type]


def test_optional_columns_may_be_absent_from_the_file() -> None:
    header = ["Invoice Number", "Vendor ID", "Invoice Date", "Currency", "Invoice Amount"]
    header += ["Line Number", "Line Amount", "GL Account"]
    group = only(csv_bytes([row(), line2()], header=header))
    assert group.invoice == dataclasses.replace(
        EXPECTED_INVOICE,
        vendor_name=None,
        due_date=None,
        description=None,
        lines=tuple(dataclasses.replace(line, description=None) for line in EXPECTED_INVOICE.lines),
    )
    assert set(group.raw[0]) == {
        "invoice_number",
        "vendor_id",
        "invoice_date",
        "currency",
        "invoice_amount",
        "line_number",
        "line_amount",
        "gl_account",
    }


def test_header_matching_ignores_case_and_extra_blanks_and_unknown_columns() -> None:
    header = [f"  {h.upper().replace(' ', '   ')} " for h in HEADER] + ["Approver", "", ""]
    rows = [[*row().values(), "jane", "", ""], [*line2().values(), "joe", "", ""]]
    assert only(csv_bytes(rows, header=header)).invoice == EXPECTED_INVOICE


def test_renamed_columns_another_delimiter_and_columns_the_tenant_does_not_export() -> None:
    template = FileTemplate(
        columns=StampliColumns(
            invoice_number="Invoice #",
            vendor_id="Supplier Code",
            vendor_name=None,
            gl_account="Account",
            line_amount="Amount",
        ),
        delimiter=";",
        date_formats=["%d.%m.%Y"],
    )
    header = ["Invoice #", "Supplier Code", "Vendor", "Invoice Date", "Currency", "Invoice Amount"]
    header += ["Line Number", "Amount", "Account"]
    rows = [
        ["INV-9", "S1", "ignored", "02.11.2026", "EUR", "1,5", "1", "1,5", ACCOUNT],
        ["INV-9", "S1", "differs", "02.11.2026", "EUR", "1,5", "2", "1,5", ACCOUNT],
    ]
    group = only(csv_bytes(rows, header=header, delimiter=";"), template)
    assert group.source_id == "S1/INV-9"
    assert group.label == "INV-9 (Supplier Code S1)"
    assert [p.describe() for p in group.problems] == [
        f"{FILE} row 2, column 'Invoice Amount': '1,5' is not an amount (expected digits with an optional "
        "leading minus and decimal point, e.g. -1234.50)",
        f"{FILE} row 2, column 'Amount': '1,5' is not an amount (expected digits with an optional "
        "leading minus and decimal point, e.g. -1234.50)",
        f"{FILE} row 3, column 'Amount': '1,5' is not an amount (expected digits with an optional "
        "leading minus and decimal point, e.g. -1234.50)",
    ]
    rows = [[*r[:5], "1.5", r[6], "0.75", r[8]] for r in rows]
    group = only(csv_bytes(rows, header=header, delimiter=";"), template)
    assert group.invoice is not None
    assert group.invoice.vendor_name is None
    assert group.invoice.invoice_date == date(2026, 11, 2)
    assert [line.amount for line in group.invoice.lines] == [Decimal("0.75"), Decimal("0.75")]
    assert "vendor_name" not in group.raw[0]


# -- the file is refused --------------------------------------------------------------------------


@pytest.mark.parametrize("data", [b"", b"\xef\xbb\xbf", b"\r\n\r\n", b" , ,\n\n"])
def test_an_empty_file_is_refused(data: bytes) -> None:
    error = rejected(data)
    assert str(error) == f"{FILE}: the file is empty: no header row and no invoice rows"
    assert error.problem == Problem(FILE, None, None, "the file is empty: no header row and no invoice rows")


def test_a_header_without_rows_is_refused() -> None:
    assert str(rejected(csv_bytes([]))) == f"{FILE}: the file has a header row but no invoice rows"
    assert (
        str(rejected(csv_bytes([[], ["", "", ""]])))
        == f"{FILE}: the file has a header row but no invoice rows"
    )


def test_a_blank_header_row_is_refused() -> None:
    data = b"\r\n" + csv_bytes([row()])
    assert (
        str(rejected(data)) == f"{FILE} row 1: the header row is blank (the first row must name the columns)"
    )


def test_every_missing_required_column_is_listed() -> None:
    header = [h for h in HEADER if h not in ("Vendor ID", "GL Account", "Currency")]
    error = rejected(csv_bytes([row()], header=header))
    assert error.problem.row == 1
    assert error.problem.column is None
    assert str(error).startswith(
        f"{FILE} row 1: the header row lacks the required columns 'Vendor ID', 'Currency' and "
        "'GL Account' (found: 'Invoice Number', 'Vendor', 'Vendor Site', "
    )
    assert str(error).endswith(
        "'Cost Center'); the template's column names are set in the tenant settings (template.columns)"
    )
    one = rejected(csv_bytes([row()], header=[h for h in HEADER if h != "Line Number"]))
    assert "lacks the required column 'Line Number' (found:" in str(one)


def test_a_column_appearing_twice_is_refused() -> None:
    error = rejected(csv_bytes([row()], header=[*HEADER, "invoice  date"]))
    assert str(error) == (
        f"{FILE} row 1, column 'Invoice Date': the header row has this column twice (columns 5 and 18); "
        "it must appear once"
    )


def test_a_file_that_is_not_utf8_is_refused_naming_the_row_and_byte() -> None:
    data = csv_bytes([row(Description="Caf\u00e9"), line2(Description='"two\nlines"')])
    latin1 = data.replace("\u00e9".encode(), b"\xe9")
    offset = latin1.index(b"\xe9")
    error = rejected(latin1)
    assert str(error) == (
        f"{FILE} row 2: the file is not UTF-8 text: byte 0xE9 at offset {offset} cannot be decoded "
        "(export the file as UTF-8)"
    )
    # After a value with quoted newlines, with a BOM (counted in the offset).
    data = csv_bytes([row(Description="a\nb"), line2(Description="xZZ")], bom=True).replace(b"xZZ", b"x\xff")
    offset = data.index(b"\xff")
    error = rejected(data)
    assert error.problem.row == 3
    assert f"byte 0xFF at offset {offset} cannot be decoded" in str(error)
    # In the header row.
    assert rejected(b"Invoice\xc3 Number\r\n").problem.row == 1
    # As the first byte of a row.
    data = csv_bytes([row()]) + b"\xe9INV-2,V1\r\n"
    offset = len(csv_bytes([row()]))
    error = rejected(data)
    assert (error.problem.row, error.problem.column) == (3, None)
    assert f"byte 0xE9 at offset {offset} cannot" in str(error)


def test_an_unterminated_quoted_value_is_refused_naming_the_row_it_opens() -> None:
    data = csv_bytes([row(), line2()]) + b'INV-2,V1,"Acme\r\nmore,2026-11-02\r\n'
    assert str(rejected(data)) == (
        f"{FILE} row 4: a quoted value is not closed: its opening '\"' has no closing '\"' before the end "
        "of the file"
    )


def test_text_after_a_closing_quote_is_refused() -> None:
    data = csv_bytes([row()]) + b'INV-2,"V1"x,Acme\r\n'
    error = rejected(data)
    assert error.problem.row == 3
    assert str(error).startswith(f"{FILE} row 3: the row is not valid CSV (")


def test_more_rows_than_max_rows_is_refused_and_blank_rows_do_not_count() -> None:
    template = FileTemplate(max_rows=2)
    assert only(csv_bytes([row(), [], line2()]), template).invoice is not None
    error = rejected(csv_bytes([row(), [], line2(), line2(**{"Line Number": "3"})]), template)
    assert str(error) == (
        f"{FILE} row 5: the file has more than 2 invoice rows (template.max_rows); ask for smaller exports "
        "or raise the limit"
    )


# -- problems in rows -----------------------------------------------------------------------------


def test_a_row_with_more_cells_than_the_header_is_a_problem_of_its_invoice() -> None:
    data = csv_bytes([row(), [*line2().values(), ""]])
    group = only(data)
    assert group.invoice is None
    assert group.source_id == "V100/INV-1001"
    assert [p.describe() for p in group.problems] == [
        f"{FILE} row 3: the row has 18 cells but the header row has 17; a value containing the delimiter "
        "must be quoted"
    ]
    # Columns the template does not know count in the header's width.
    data = csv_bytes(
        [[*row().values(), "jane"], [*line2().values(), "joe", ""]], header=[*HEADER, "Approver"]
    )
    assert [p.describe() for p in only(data).problems] == [
        f"{FILE} row 3: the row has 19 cells but the header row has 18; a value containing the delimiter "
        "must be quoted"
    ]


def test_a_row_without_vendor_id_or_invoice_number_forms_its_own_group() -> None:
    data = csv_bytes(
        [row(), row(**{"Vendor ID": ""}), line2(), row(**{"Invoice Number": " "}), [*row().values(), "x"]]
    )
    groups = parse(data)
    assert [(g.source_id, g.label, g.rows) for g in groups] == [
        ("V100/INV-1001", "INV-1001 (Vendor ID V100)", (2, 4, 6)),
        (f"{FILE}#row3", f"{FILE} row 3", (3,)),
        (f"{FILE}#row5", f"{FILE} row 5", (5,)),
    ]
    assert [p.describe() for p in groups[1].problems] == [
        f"{FILE} row 3, column 'Vendor ID': a value is required"
    ]
    assert [p.describe() for p in groups[2].problems] == [
        f"{FILE} row 5, column 'Invoice Number': a value is required"
    ]
    assert groups[1].invoice is None
    assert groups[1].raw[0]["vendor_id"] == ""
    # Row 6 (too many cells) belongs to INV-1001, whose line 1 is now on rows 2 and 6.
    assert [p.describe() for p in groups[0].problems] == [
        f"{FILE} row 6: the row has 18 cells but the header row has 17; a value containing the delimiter "
        "must be quoted",
        f"{FILE} row 6, column 'Line Number': line number 1 is also on row 2 (line numbers must be unique "
        "within an invoice)",
        f"{FILE}, column 'Invoice Amount': the invoice amount is 100.00 USD but the line amounts "
        "('Line Amount', rows 2, 4 and 6) add up to 160.00",
    ]


@pytest.mark.parametrize(
    ("header", "rows"),
    [
        ("Invoice Date", [2]),
        ("Currency", [2]),
        ("Invoice Amount", [2]),
        ("Line Number", [2, 3]),
        ("Line Amount", [2, 3]),
        ("GL Account", [2, 3]),
    ],
)
def test_required_values_must_not_be_blank(header: str, rows: list[int]) -> None:
    # Invoice fields are reported on the invoice's first row only (the others repeat them).
    group = only(csv_bytes([row(**{header: "  "}), line2(**{header: ""})]))
    assert group.invoice is None
    assert [p.describe() for p in group.problems] == [
        f"{FILE} row {n}, column '{header}': a value is required" for n in rows
    ]


def test_every_problem_of_an_invoice_is_reported_in_row_order_and_one_bad_invoice_spares_the_others() -> None:
    data = csv_bytes(
        [
            row(**{"Invoice Number": "GOOD-1", "Invoice Amount": "60.00"}),
            row(**{"Invoice Date": "2026-02-30", "Currency": "US"}),
            line2(
                **{
                    "Invoice Date": "2026-02-30",
                    "Currency": "US",
                    "Line Number": "x",
                    "Line Amount": "40.001",
                },
                **{"GL Account": ""},
            ),
        ]
    )
    good, bad = parse(data)
    assert good.invoice is not None
    assert good.problems == ()
    assert bad.invoice is None
    assert [p.describe() for p in bad.problems] == [
        f"{FILE} row 3, column 'Invoice Date': '2026-02-30' is not a date (expected 2026-11-21 or 11/21/2026)",
        f"{FILE} row 3, column 'Currency': 'US' is not a currency code (expected three letters, e.g. USD)",
        f"{FILE} row 4, column 'Line Number': 'x' is not a line number (expected a whole number from 1 to "
        "999999999)",
        f"{FILE} row 4, column 'GL Account': a value is required",
    ]


def test_problem_descriptions() -> None:
    assert Problem("f.csv", 7, "Invoice Date", "bad").describe() == "f.csv row 7, column 'Invoice Date': bad"
    assert Problem("f.csv", 7, None, "bad").describe() == "f.csv row 7: bad"
    assert Problem("f.csv", None, "Invoice Amount", "bad").describe() == "f.csv, column 'Invoice Amount': bad"
    assert Problem("f.csv", None, None, "bad").describe() == "f.csv: bad"


# -- dates ----------------------------------------------------------------------------------------


def test_both_default_date_formats_are_accepted() -> None:
    group = only(csv_bytes([row(**{"Invoice Date": "11/02/2026", "Due Date": "12/2/2026"}), line2()]))
    assert group.invoice == EXPECTED_INVOICE


def test_a_bad_date_names_the_expected_formats() -> None:
    assert problems(
        csv_bytes([row(**{"Invoice Date": "2026-13-01"}), line2(**{"Invoice Date": "2026-13-01"})])
    ) == [
        f"{FILE} row 2, column 'Invoice Date': '2026-13-01' is not a date (expected 2026-11-21 or 11/21/2026)"
    ]
    template = FileTemplate(date_formats=["%d.%m.%Y", "%Y%m%d", "%d %b %Y"])
    assert problems(csv_bytes([row(**{"Due Date": "2026-12-02"}), line2()]), template)[0] == (
        f"{FILE} row 2, column 'Invoice Date': '2026-11-02' is not a date (expected 21.11.2026, 20261121 "
        "or 21 Nov 2026)"
    )


def test_the_due_date_must_not_be_before_the_invoice_date() -> None:
    data = csv_bytes([row(**{"Due Date": "2026-11-01"}), line2(**{"Due Date": "11/01/2026"})])
    assert problems(data) == [
        f"{FILE} row 2, column 'Due Date': '2026-11-01' is before the invoice date 2026-11-02"
    ]
    same_day = only(csv_bytes([row(**{"Due Date": "2026-11-02"}), line2(**{"Due Date": "2026-11-02"})]))
    assert same_day.invoice is not None
    assert same_day.invoice.due_date == date(2026, 11, 2)


# -- currencies and amounts -----------------------------------------------------------------------


def test_currency_codes_are_upper_cased() -> None:
    group = only(csv_bytes([row(Currency="usd"), line2(Currency="Usd")]))
    assert group.invoice == EXPECTED_INVOICE


@pytest.mark.parametrize("code", ["US", "USDD", "U$D", "12A"])
def test_a_currency_is_three_letters(code: str) -> None:
    assert problems(csv_bytes([row(Currency=code), line2(Currency=code)])) == [
        f"{FILE} row 2, column 'Currency': '{code}' is not a currency code (expected three letters, e.g. USD)"
    ]


def amounts_file(currency: str, invoice: str, *lines: str, template: FileTemplate = TEMPLATE) -> InvoiceGroup:
    rows = [
        row(**{"Currency": currency, "Invoice Amount": invoice, "Line Number": str(n), "Line Amount": amount})
        for n, amount in enumerate(lines, start=1)
    ]
    return only(csv_bytes(rows), template)


def test_zero_and_three_decimal_currencies_keep_their_precision() -> None:
    jpy = amounts_file("JPY", "1500", "1000", "500.00")
    assert jpy.invoice is not None
    assert [str(line.amount) for line in jpy.invoice.lines] == ["1000", "500"]
    assert str(jpy.invoice.amount) == "1500"
    kwd = amounts_file("KWD", "10.125", "10.1", "0.025")
    assert kwd.invoice is not None
    assert str(kwd.invoice.amount) == "10.125"
    assert [str(line.amount) for line in kwd.invoice.lines] == ["10.100", "0.025"]


def test_fusion_ap_amounts_follow_iso_4217_not_stripe() -> None:
    # IQD has three decimals in ISO 4217 (what Fusion AP books), two in Stripe's table.
    iqd = amounts_file("IQD", "1.250", "1.000", "0.25")
    assert iqd.problems == ()
    assert iqd.invoice is not None
    assert str(iqd.invoice.amount) == "1.250"
    assert [str(line.amount) for line in iqd.invoice.lines] == ["1.000", "0.250"]
    # ISK has no decimals in ISO 4217, two in Stripe's table.
    isk = amounts_file("ISK", "1500", "1000.00", "500")
    assert isk.invoice is not None
    assert [str(line.amount) for line in isk.invoice.lines] == ["1000", "500"]


@pytest.mark.parametrize(
    ("currency", "text", "message"),
    [
        ("USD", "12.345", "'12.345' has more decimals than USD allows (2)"),
        ("ISK", "10.50", "'10.50' has more decimals than ISK allows (0)"),
        ("IQD", "1.2505", "'1.2505' has more decimals than IQD allows (3)"),
        ("CLF", "1.00005", "'1.00005' has more decimals than CLF allows (4)"),
        ("JPY", "10.5", "'10.5' has more decimals than JPY allows (0)"),
        ("KWD", "1.2345", "'1.2345' has more decimals than KWD allows (3)"),
        (
            "USD",
            "1,234.50",
            "'1,234.50' is not an amount: thousands separators are not accepted (remove them from the export, "
            "or set template.thousands_separator)",
        ),
        (
            "USD",
            "1 234.50",
            "'1 234.50' is not an amount: thousands separators are not accepted (remove them from the export, "
            "or set template.thousands_separator)",
        ),
        *[
            (
                "USD",
                text,
                f"'{text}' is not an amount (expected digits with an optional leading minus and decimal point, "
                "e.g. -1234.50)",
            )
            for text in ("1e3", "NaN", "inf", "$10", "+5", "5.", ".5", "1,5", "--1", "0x10")
        ],
        (
            "USD",
            "1234567890123456",
            "'1234567890123456' is too large (at most 15 digits before the decimal point)",
        ),
    ],
)
def test_bad_line_amounts(currency: str, text: str, message: str) -> None:
    group = amounts_file(currency, "1", text)
    assert [p.describe() for p in group.problems] == [f"{FILE} row 2, column 'Line Amount': {message}"]


def test_invoice_amount_must_be_positive_credit_memos_are_out_of_scope() -> None:
    for text in ("-100.00", "0", "0.00"):
        group = amounts_file("USD", text, "-60.00", "-40.00")
        assert [p.describe() for p in group.problems] == [
            f"{FILE} row 2, column 'Invoice Amount': '{text}' is not above zero: credit memos and zero-amount "
            "invoices are not supported (only standard invoices with a positive amount)"
        ]


def test_line_amounts_may_be_negative_but_not_zero() -> None:
    group = amounts_file("USD", "90", "100", "-10.00")
    assert group.invoice is not None
    assert [line.amount for line in group.invoice.lines] == [Decimal("100.00"), Decimal("-10.00")]
    zero = amounts_file("USD", "100", "100", "-0.00")
    assert [p.describe() for p in zero.problems] == [
        f"{FILE} row 3, column 'Line Amount': '-0.00' is zero (a line must have an amount)"
    ]


def test_the_line_amounts_must_add_up_to_the_invoice_amount_exactly() -> None:
    group = amounts_file("USD", "100.00", "60.00", "39.99")
    assert group.invoice is None
    assert [p.describe() for p in group.problems] == [
        f"{FILE}, column 'Invoice Amount': the invoice amount is 100.00 USD but the line amounts "
        "('Line Amount', rows 2 and 3) add up to 99.99"
    ]
    single = amounts_file("JPY", "1000", "999")
    assert [p.describe() for p in single.problems] == [
        f"{FILE}, column 'Invoice Amount': the invoice amount is 1000 JPY but the line amounts "
        "('Line Amount', row 2) add up to 999"
    ]


@pytest.mark.parametrize(
    ("separator", "good", "bad"),
    [
        (",", ["1,234.50", "1234.50", "12,345,678.00", "999"], ["12,34.50", "1,2345.00", ",123.00"]),
        ("'", ["1'234.50", "1234.50"], ["1'23.50"]),
        (" ", ["1 234.50", "1234.50"], ["1 23 4.50"]),
    ],
)
def test_thousands_separators_when_configured(separator: str, good: list[str], bad: list[str]) -> None:
    template = FileTemplate.model_validate({"thousands_separator": separator})
    for text in good:
        group = amounts_file("USD", text, text, template=template)
        assert group.invoice is not None, group.problems
        assert group.invoice.amount == Decimal(text.replace(separator, ""))
    negative = amounts_file(
        "USD", f"2{separator}000", f"3{separator}000", f"-1{separator}000.00", template=template
    )
    assert negative.invoice is not None
    assert [line.amount for line in negative.invoice.lines] == [Decimal(3000), Decimal(-1000)]
    for text in bad:
        group = amounts_file("USD", "1", text, template=template)
        assert [p.describe() for p in group.problems] == [
            f"{FILE} row 2, column 'Line Amount': '{text}' is not an amount (thousands separators "
            f"{separator!r} must group exactly three digits, e.g. 1{separator}234{separator}567.50)"
        ]


# -- line numbers and repeated invoice fields ---------------------------------------------------


@pytest.mark.parametrize("text", ["0", "-1", "1.5", "one", "1000000000", "1 2"])
def test_line_numbers_are_positive_whole_numbers(text: str) -> None:
    group = only(csv_bytes([row(**{"Line Number": text}), line2()]))
    assert [p.describe() for p in group.problems] == [
        f"{FILE} row 2, column 'Line Number': '{text}' is not a line number (expected a whole number from 1 "
        "to 999999999)"
    ]


@pytest.mark.parametrize(
    "text",
    ["0" * 4300 + "1", "1" * 4301, "9" * 100_000, "0" * 20 + "1"],
    ids=["4301 digits, leading zeros", "4301 digits", "100000 digits", "21 digits, leading zeros"],
)
def test_an_overlong_line_number_refuses_the_file_naming_row_and_column(text: str) -> None:
    # int() refuses more than 4,300 digits with a bare ValueError; the cell is refused before that.
    with pytest.raises(FileRejected) as refused:
        parse(csv_bytes([row(), line2(**{"Line Number": text})]))
    problem = refused.value.problem
    assert (problem.file, problem.row, problem.column) == (FILE, 3, "Line Number")
    shown = f"'{text[:59]}…'" if len(text) > 60 else f"'{text}'"
    assert problem.message == (
        f"{shown} is not a line number: it has {len(text)} characters (expected a whole number from 1 "
        "to 999999999); no export writes a value this long, so the file is refused as corrupt"
    )


def test_a_line_number_with_leading_zeros_up_to_twenty_characters_is_read() -> None:
    group = only(csv_bytes([row(**{"Line Number": "0" * 19 + "1"}), line2()]))
    assert group.invoice is not None
    assert [line.line_number for line in group.invoice.lines] == [1, 2]


def test_line_numbers_are_unique_in_an_invoice_and_leading_zeros_are_the_same_number() -> None:
    group = only(csv_bytes([row(), line2(**{"Line Number": "01"})]))
    assert [p.describe() for p in group.problems] == [
        f"{FILE} row 3, column 'Line Number': line number 1 is also on row 2 (line numbers must be unique "
        "within an invoice)"
    ]


@pytest.mark.parametrize(
    ("header", "first", "other"),
    [
        ("Vendor", "Acme Supplies", "Acme Inc."),
        ("Vendor Site", "FRESNO", ""),
        ("Vendor Site", "", "FRESNO"),
        ("Invoice Date", "2026-11-02", "2026-11-03"),
        ("Due Date", "2026-12-02", "bad"),
        ("Currency", "USD", "EUR"),
        ("Invoice Amount", "100.00", "100.01"),
        ("PO Number", "PO-1", "PO-2"),
        ("Description", "Office supplies", "office supplies"),
        ("Payment Terms", "Net 30", "Net 45"),
        ("Stampli Invoice ID", "S-1", "S-2"),
    ],
)
def test_invoice_fields_must_be_the_same_on_every_row(header: str, first: str, other: str) -> None:
    group = only(csv_bytes([row(**{header: first}), line2(**{header: other})]))
    shown = [f"'{v}'" if v else "(blank)" for v in (other, first)]
    assert group.invoice is None
    assert [p.describe() for p in group.problems] == [
        f"{FILE} row 3, column '{header}': {shown[0]} differs from {shown[1]} on row 2 (invoice fields must be "
        "the same on every row of an invoice)"
    ]


def test_repeated_invoice_fields_are_compared_by_value() -> None:
    data = csv_bytes(
        [
            row(),
            line2(
                **{
                    "Invoice Date": "11/2/2026",
                    "Due Date": "12/02/2026",
                    "Invoice Amount": "100",
                    "Currency": "usd",
                }
            ),
        ]
    )
    assert only(data).invoice == EXPECTED_INVOICE


def test_line_fields_come_from_their_own_row() -> None:
    data = csv_bytes(
        [
            row(**{"Cost Center": "110", "PO Number": "PO-7"}),
            line2(**{"Line Description": "", "PO Number": "PO-7"}),
        ]
    )
    group = only(data)
    assert group.invoice is not None
    assert group.invoice.po_number == "PO-7"
    assert group.invoice.lines == (
        ExportLine(2, 1, "Paper", Decimal("60.00"), ACCOUNT, "110", "PO-7"),
        ExportLine(3, 2, None, Decimal("40.00"), ACCOUNT, None, "PO-7"),
    )


# -- properties -----------------------------------------------------------------------------------


def _cells(invoice: ExportInvoice, line: ExportLine, formats: list[str], use_format: int) -> dict[str, str]:
    def text(value: str | None) -> str:
        return value or ""

    fmt = formats[use_format]
    return {
        "Invoice Number": invoice.invoice_number,
        "Vendor ID": invoice.vendor_id,
        "Vendor": text(invoice.vendor_name),
        "Vendor Site": text(invoice.vendor_site),
        "Invoice Date": invoice.invoice_date.strftime(fmt),
        "Due Date": invoice.due_date.strftime(fmt) if invoice.due_date else "",
        "Currency": invoice.currency,
        "Invoice Amount": f"{invoice.amount:f}",
        "PO Number": text(invoice.po_number),
        "Description": text(invoice.description),
        "Payment Terms": text(invoice.payment_terms),
        "Stampli Invoice ID": text(invoice.stampli_invoice_id),
        "Line Number": str(line.line_number),
        "Line Description": text(line.description),
        "Line Amount": f"{line.amount:f}",
        "GL Account": line.gl_account,
        "Cost Center": text(line.cost_center),
    }


@settings(max_examples=150, suppress_health_check=[HealthCheck.too_slow], deadline=None)
@given(
    keys=st.lists(st.tuples(CODES, CODES), min_size=1, max_size=4, unique=True),
    data=st.data(),
    quoting=st.sampled_from([csv.QUOTE_MINIMAL, csv.QUOTE_ALL, csv.QUOTE_NONNUMERIC]),
    terminator=st.sampled_from(["\r\n", "\n"]),
    bom=st.booleans(),
)
def test_written_invoices_read_back_identical_whatever_the_quoting_and_row_order(
    keys: list[tuple[str, str]], data: st.DataObject, quoting: int, terminator: str, bom: bool
) -> None:
    generated = [data.draw(invoices(vendor, number)) for vendor, number in keys]
    formats = TEMPLATE.date_formats
    rows = [
        (index, line, _cells(invoice, line, formats, data.draw(st.integers(0, len(formats) - 1))))
        for index, invoice in enumerate(generated)
        for line in invoice.lines
    ]
    rows = data.draw(st.permutations(rows))
    blank_after = data.draw(st.sets(st.integers(0, len(rows))))
    records: list[dict[str, str] | list[str]] = []
    expected_rows: dict[int, list[int]] = {}
    line_rows: dict[tuple[int, int], int] = {}
    for position, (index, line, cells) in enumerate(rows):
        if position in blank_after:
            records.append([])
        records.append(cells)
        record_number = len(records) + 1  # the header is row 1
        expected_rows.setdefault(index, []).append(record_number)
        line_rows[(index, line.line_number)] = record_number
    groups = parse(csv_bytes(records, quoting=quoting, terminator=terminator, bom=bom))

    order = sorted(expected_rows, key=lambda i: expected_rows[i][0])
    escaped = [keys[i][0].replace("%", "%25").replace("/", "%2F") for i in order]
    assert [g.source_id for g in groups] == [
        f"{vendor}/{keys[i][1]}" for vendor, i in zip(escaped, order, strict=True)
    ]
    for group, index in zip(groups, order, strict=True):
        assert group.problems == ()
        expected = generated[index]
        expected = dataclasses.replace(
            expected,
            rows=tuple(expected_rows[index]),
            lines=tuple(
                dataclasses.replace(line, row=line_rows[(index, line.line_number)]) for line in expected.lines
            ),
        )
        assert group.invoice == expected
        # Amounts keep exactly the currency's decimals.
        assert group.invoice is not None
        for amount in (group.invoice.amount, *(line.amount for line in group.invoice.lines)):
            assert amount.as_tuple().exponent == expected.amount.as_tuple().exponent


@given(
    minor=st.integers(min_value=1, max_value=10**17 - 1),
    currency=CURRENCIES,
    separator=st.sampled_from([None, ",", "'", " "]),
)
def test_amounts_never_lose_precision(minor: int, currency: str, separator: str | None) -> None:
    amount = Decimal(minor).scaleb(-EXPONENTS[currency])
    assume(len(str(int(amount))) <= 15)
    text = f"{amount:,f}" if separator else f"{amount:f}"
    if separator:
        text = text.replace(",", separator)
    template = FileTemplate.model_validate({"thousands_separator": separator})
    group = amounts_file(currency, text, text, template=template)
    assert group.invoice is not None, group.problems
    assert group.invoice.amount == amount
    assert str(group.invoice.amount) == f"{amount:f}"
    assert group.invoice.lines[0].amount == amount


def test_a_slash_in_the_vendor_id_cannot_merge_two_invoices() -> None:
    one_line = {"Invoice Amount": "60.00"}
    groups = parse(
        csv_bytes(
            [
                row(**one_line, **{"Vendor ID": "A/B", "Invoice Number": "C"}),
                row(**one_line, **{"Vendor ID": "A", "Invoice Number": "B/C"}),
            ]
        )
    )
    assert [g.source_id for g in groups] == ["A%2FB/C", "A/B/C"]
    assert all(g.invoice is not None for g in groups)


@pytest.mark.parametrize("delimiter", ['"', "\n", "a", "1"])
def test_a_delimiter_that_cannot_separate_fields_is_refused(delimiter: str) -> None:
    with pytest.raises(ValidationError, match="cannot separate CSV fields"):
        FileTemplate(delimiter=delimiter)


@pytest.mark.parametrize(
    ("column", "value", "char"),
    [
        ("Description", "Office\x00supplies", "U+0000 (control)"),
        ("Vendor", "Acme\u202eSupplies", "U+202E (RIGHT-TO-LEFT OVERRIDE)"),
        ("Line Description", "Pa\x1bper", "U+001B (control)"),
        ("Invoice Number", "INV\u20661001", "U+2066 (LEFT-TO-RIGHT ISOLATE)"),
    ],
)
def test_control_and_text_direction_characters_are_refused_naming_file_row_and_column(
    column: str, value: str, char: str
) -> None:
    [problem] = problems(csv_bytes([row(**{column: value}), line2(**{column: value})])[:None])[:1]
    assert problem.startswith(f"{FILE} row 2, column '{column}': contains the invisible character {char}")


def test_tabs_and_line_breaks_in_a_description_are_kept() -> None:
    group = only(
        csv_bytes([row(Description="Two\nlines\twith a tab"), line2(Description="Two\nlines\twith a tab")])
    )
    assert group.invoice is not None
    assert group.invoice.description == "Two\nlines\twith a tab"


# -- input hygiene: digits, currency codes, formula-leading cells -----------------------------------


@pytest.mark.parametrize(
    ("column", "value", "message"),
    [
        (
            "Line Amount",
            "١٢٣",
            "'١٢٣' is not an amount: only the digits 0-9 are accepted "
            "(found U+0661 ARABIC-INDIC DIGIT ONE at position 1)",
        ),
        (
            "Line Amount",
            "60.0０",
            "'60.0０' is not an amount: only the digits 0-9 are accepted "
            "(found U+FF10 FULLWIDTH DIGIT ZERO at position 5)",
        ),
        (
            "Line Number",
            "۱",
            "'۱' is not a line number: only the digits 0-9 are accepted "
            "(found U+06F1 EXTENDED ARABIC-INDIC DIGIT ONE at position 1)",
        ),
        (
            "Line Number",
            "1²",
            "'1²' is not a line number: only the digits 0-9 are accepted "
            "(found U+00B2 SUPERSCRIPT TWO at position 2)",
        ),
        (
            "Due Date",
            "२०२६-12-02",
            "'२०२६-12-02' is not a date: only the digits 0-9 are accepted "
            "(found U+0968 DEVANAGARI DIGIT TWO at position 1)",
        ),
    ],
)
def test_numbers_and_dates_take_the_digits_0_to_9_only(column: str, value: str, message: str) -> None:
    group = parse(
        csv_bytes([row(**{column: value}), line2(**{column: value} if column == "Due Date" else {})])
    )[0]
    assert group.invoice is None
    assert [p.describe() for p in group.problems if p.column == column] == [
        f"{FILE} row 2, column '{column}': {message}"
    ]


def test_grouped_amounts_take_the_digits_0_to_9_only() -> None:
    template = FileTemplate.model_validate({"thousands_separator": ","})
    group = amounts_file("USD", "1,٢٣٤.00", "1,234.00", template=template)
    assert [p.message for p in group.problems] == [
        "'1,٢٣٤.00' is not an amount: only the digits 0-9 are accepted "
        "(found U+0662 ARABIC-INDIC DIGIT TWO at position 3)"
    ]


@pytest.mark.parametrize(
    ("code", "message"),
    [
        ("XXQ", "'XXQ' is not an ISO 4217 currency code (e.g. USD, EUR, GBP)"),
        ("BGN", "'BGN' is no longer an ISO 4217 currency (withdrawn 2026-01, replaced by EUR)"),
        ("xau", "'xau' is an ISO 4217 code without a minor unit"),
    ],
)
def test_currencies_must_be_current_iso_4217_codes(code: str, message: str) -> None:
    group = amounts_file(code, "100.00", "100.00")
    assert group.invoice is None
    [problem] = group.problems
    assert (problem.row, problem.column) == (2, "Currency")
    assert problem.message.startswith(message)
    assert problem.message.endswith("; check the invoice's currency in Stampli")


def test_a_current_code_in_lower_case_is_read_upper_case() -> None:
    group = amounts_file("xcg", "100.00", "100.00")
    assert group.invoice is not None
    assert group.invoice.currency == "XCG"


def _formula_file(template: FileTemplate = TEMPLATE) -> list[InvoiceGroup]:
    return parse(
        csv_bytes(
            [
                row(Description='=HYPERLINK("http://evil.example","Click")'),
                line2(
                    Description='=HYPERLINK("http://evil.example","Click")',
                    **{"Line Description": "@SUM(A1:A2)", "Cost Center": "\t+A1"},
                ),
                row(
                    **{
                        "Invoice Number": "INV-2",
                        "Invoice Amount": "-12.50",  # refused as an amount, not as a formula
                        "Line Amount": "-12.50",
                        "PO Number": "-42",  # a plain number: not a formula
                        "Description": "Plain",
                    }
                ),
            ]
        ),
        template,
    )


def test_formula_cells_are_flagged_by_default_and_the_invoice_still_posts() -> None:
    assert TEMPLATE.formula_cells == "flag"
    first, second = _formula_file()
    assert first.problems == ()
    assert first.invoice is not None
    assert first.invoice.description == '=HYPERLINK("http://evil.example","Click")'
    assert first.invoice.lines[1].cost_center == "+A1"
    assert [w.describe() for w in first.warnings] == [
        f"{FILE} row 2, column 'Description': '=HYPERLINK(\"http://evil.example\",\"Click\")' starts "
        "with '=', which a spreadsheet runs as a formula; posted as text (template.formula_cells: flag)",
        f"{FILE} row 3, column 'Line Description': '@SUM(A1:A2)' starts with '@', which a spreadsheet "
        "runs as a formula; posted as text (template.formula_cells: flag)",
        f"{FILE} row 3, column 'Cost Center': '\\u0009+A1' starts with a tab, which a spreadsheet "
        "runs as a formula; posted as text (template.formula_cells: flag)",
    ]
    assert second.warnings == ()
    assert [p.column for p in second.problems] == ["Invoice Amount"]


def test_refused_formula_cells_are_problems_naming_file_row_and_column() -> None:
    template = FileTemplate.model_validate({"formula_cells": "refuse"})
    first, second = _formula_file(template)
    assert first.invoice is None
    assert first.warnings == ()
    assert [(p.row, p.column) for p in first.problems] == [
        (2, "Description"),
        (3, "Line Description"),
        (3, "Cost Center"),
    ]
    assert first.problems[0].message == (
        "'=HYPERLINK(\"http://evil.example\",\"Click\")' starts with '=', which a spreadsheet runs as a "
        "formula; such values are refused (template.formula_cells: refuse): correct the value in "
        "Stampli, or set template.formula_cells to 'flag' to post it as text"
    )
    # "-42" in the PO Number column is a number, not a formula.
    assert [p.column for p in second.problems] == ["Invoice Amount"]


def test_accepted_formula_cells_pass_silently() -> None:
    template = FileTemplate.model_validate({"formula_cells": "accept"})
    first, _ = _formula_file(template)
    assert (first.problems, first.warnings) == ((), ())
    assert first.invoice is not None


@pytest.mark.parametrize("lead", ["=", "+", "-", "@", "\t", "\r"])
def test_every_formula_lead_is_caught_in_every_text_column(lead: str) -> None:
    template = FileTemplate.model_validate({"formula_cells": "refuse"})
    text_columns = [
        "Invoice Number",
        "Vendor ID",
        "Vendor",
        "Vendor Site",
        "PO Number",
        "Description",
        "Payment Terms",
        "Stampli Invoice ID",
        "Line Description",
        "GL Account",
        "Cost Center",
    ]
    for column in text_columns:
        value = f"{lead}cmd|' /C calc'!A0" if column != "GL Account" else f"{lead}{ACCOUNT}"
        group = parse(csv_bytes([row(**{"Invoice Amount": "60.00", column: value})]), template)[0]
        assert [p.column for p in group.problems] == [column], (lead, column, group.problems)
        assert "which a spreadsheet runs as a formula" in group.problems[0].message


def test_a_c1_control_or_a_separator_hidden_by_stripping_is_refused() -> None:
    group = parse(
        csv_bytes(
            [row(Vendor="Acme\x9b31m"), line2(Vendor="Acme\x9b31m", **{"Line Description": "\x1cToner"})]
        )
    )[0]
    assert [(p.row, p.column, p.message.split(";")[0]) for p in group.problems] == [
        (2, "Vendor", "contains the invisible character U+009B (control) at position 5"),
        (3, "Line Description", "contains the invisible character U+001C (control) at position 1"),
    ]


def test_cells_quoted_in_messages_are_escaped_and_on_one_line() -> None:
    group = parse(csv_bytes([row(), line2(Description="Office\nsupplies \u202etxt.exe")]))[0]
    [problem] = group.problems
    assert problem.message.startswith("'Office\\u000Asupplies \\u202Etxt.exe' differs from 'Office supplies'")
    assert "\n" not in problem.describe()
    assert "\u202e" not in problem.describe()


# -- large files: reading in bounded memory -------------------------------------------------------


def test_the_groups_are_a_sequence_read_back_from_disk() -> None:
    data = csv_bytes([row(), row(**{"Invoice Number": "INV-2", "Invoice Amount": "60.00"}), line2()])
    with parse_export(data, file_name=FILE, template=TEMPLATE) as groups:
        assert isinstance(groups, ExportGroups)
        assert (len(groups), groups.with_problems) == (2, 0)
        ids = ["V100/INV-1001", "V100/INV-2"]
        # Each iteration reads the groups afresh; indexing reads one group.
        assert [g.source_id for g in groups] == ids
        assert [g.source_id for g in groups] == ids
        assert (groups[0].rows, groups[-1].rows, groups[1].source_id) == ((2, 4), (3,), ids[1])
        assert [g.source_id for g in groups[::-1]] == ids[::-1]
        assert groups[0].invoice == export_invoice(rows=(2, 4), lines=groups[0].invoice.lines)  # type: ignore[union-attr]
        with pytest.raises(IndexError, match="out of range"):
            groups[2]
    with pytest.raises(ValueError, match=f"the invoice groups of {FILE} are closed"):
        list(groups)


def test_groups_with_problems_are_counted() -> None:
    groups = parse(csv_bytes([row(), line2(**{"Line Amount": "x"})]))
    assert (len(groups), groups.with_problems) == (1, 1)  # type: ignore[attr-defined]


def test_rows_of_one_invoice_far_apart_are_grouped_among_thousands_of_invoices() -> None:
    # More invoices than the parser remembers keys of: the second lines of the first invoices
    # come after 6,000 other invoices and must still find their invoice.
    count = 6000
    first_lines = [row(**{"Invoice Number": f"INV-{n}"}) for n in range(count)]
    second_lines = [line2(**{"Invoice Number": f"INV-{n}"}) for n in range(0, count, 1000)]
    groups = parse(csv_bytes([*first_lines, *second_lines]), FileTemplate(max_rows=10_000))
    assert len(groups) == count
    merged = {g.source_id: g.rows for g in groups if len(g.rows) > 1}
    assert merged == {f"V100/INV-{n}": (2 + n, 2 + count + n // 1000) for n in range(0, count, 1000)}
    assert [g.source_id for g in groups][:3] == ["V100/INV-0", "V100/INV-1", "V100/INV-2"]
    assert all(g.invoice is not None for g in groups if len(g.rows) > 1)


def test_a_file_object_is_read_from_its_position_and_left_open() -> None:
    data = csv_bytes([row(), line2()])
    file = io.BytesIO(b"ignored prefix" + data)
    file.seek(len(b"ignored prefix"))
    assert [g.invoice for g in parse_export(file, file_name=FILE, template=TEMPLATE)] == [EXPECTED_INVOICE]
    assert not file.closed


class _Pipe(io.RawIOBase):
    """A binary stream that cannot seek, like a pipe."""

    def __init__(self, data: bytes) -> None:
        self._data = io.BytesIO(data)

    def readable(self) -> bool:
        return True

    def readinto(self, buffer: Any) -> int:
        chunk = self._data.read(min(len(buffer), 1000))
        buffer[: len(chunk)] = chunk
        return len(chunk)


def test_a_stream_that_cannot_seek_is_read_too() -> None:
    data = csv_bytes([row(), line2()])
    [group] = parse_export(io.BufferedReader(_Pipe(data)), file_name=FILE, template=TEMPLATE)
    assert group.invoice == EXPECTED_INVOICE
    latin1 = csv_bytes([row(Description="Caf\u00e9"), line2()]).replace("\u00e9".encode(), b"\xe9")
    offset = latin1.index(b"\xe9")
    with pytest.raises(FileRejected, match=f"byte 0xE9 at offset {offset} "):
        parse_export(io.BufferedReader(_Pipe(latin1)), file_name=FILE, template=TEMPLATE)
    with pytest.raises(FileRejected) as caught:
        parse_export(io.BufferedReader(_Pipe(data)), file_name=FILE, template=TEMPLATE, max_bytes=100)
    assert str(caught.value) == (
        f"{FILE}: the file has more than the 100 bytes allowed (sftp.max_file_bytes); "
        "ask for smaller exports or raise the limit"
    )


def test_a_file_larger_than_max_bytes_is_refused_before_it_is_read() -> None:
    data = csv_bytes([row(), line2()])
    assert len(parse_export(data, file_name=FILE, template=TEMPLATE, max_bytes=len(data))) == 1
    # Not UTF-8 either: the size is what is reported, the content is not read at all.
    bad = data + b"\xff"
    with pytest.raises(FileRejected) as caught:
        parse_export(bad, file_name=FILE, template=TEMPLATE, max_bytes=len(data))
    assert caught.value.problem == Problem(
        FILE,
        None,
        None,
        f"the file has {len(bad)} bytes, more than the {len(data)} allowed (sftp.max_file_bytes); "
        "ask for smaller exports or raise the limit",
    )


def test_the_whole_file_is_checked_before_any_group_is_returned() -> None:
    # The corrupt line number is on the last row: parse_export itself refuses the file, so no
    # invoice of it can be handed on before the problem is found.
    rows = [row(**{"Invoice Number": f"INV-{n}", "Invoice Amount": "60.00"}) for n in range(50)]
    rows.append(line2(**{"Invoice Number": "INV-7", "Line Number": "1" * 30}))
    with pytest.raises(FileRejected, match="row 52, column 'Line Number'"):
        parse_export(csv_bytes(rows), file_name=FILE, template=TEMPLATE)


def test_a_file_that_is_not_utf8_is_reported_as_such_whatever_else_is_wrong_earlier() -> None:
    # The broken quoting on row 3 is met first, the undecodable byte on row 5 is what is reported
    # (as when the file was decoded as a whole before being parsed).
    data = (
        csv_bytes([row()])
        + b'INV-2,"V1"x,Acme\r\n'
        + csv_bytes([line2(), row(Vendor="Caf\u00e9")])[len(csv_bytes([])) :].replace(
            "\u00e9".encode(), b"\xe9"
        )
    )
    error = rejected(data)
    assert error.problem.row == 5
    offset = data.index(b"\xe9")
    assert f"byte 0xE9 at offset {offset} cannot be decoded" in str(error)
    # Too many rows first, then the bad byte.
    error = rejected(data.replace(b'"V1"x', b"V1"), FileTemplate(max_rows=1))
    assert "is not UTF-8 text" in str(error)


def test_an_undecodable_byte_far_into_a_file_is_located_exactly() -> None:
    # Far beyond the first chunk read, after thousands of two-byte characters (some split between
    # chunks), with a BOM.
    rows = [
        row(**{"Invoice Number": f"INV-{n}", "Description": "Caf\u00e9 \u00e9t\u00e9"}) for n in range(4000)
    ]
    data = csv_bytes(rows, bom=True)
    for position in (len(data) - 40, len(data) // 2 + 3):
        broken = data[:position] + b"\x80" + data[position:]
        error = rejected(broken)
        assert f"byte 0x80 at offset {position} cannot be decoded" in str(error)
        assert error.problem.row == broken[:position].count(b"\r\n") + 1
    # A multi-byte sequence cut short by the end of the file.
    error = rejected(data + b"\xc3")
    assert f"byte 0xC3 at offset {len(data)} cannot be decoded" in str(error)
    assert error.problem.row == len(rows) + 2


def test_a_value_longer_than_the_cell_limit_refuses_the_file_naming_row_and_column() -> None:
    longest = "x" * MAX_CELL_CHARS
    assert only(csv_bytes([row(Description=longest), line2(Description=longest)])).invoice is not None
    error = rejected(csv_bytes([row(), line2(Description=longest + "y")]))
    assert error.problem == Problem(
        FILE,
        3,
        "Description",
        f"the value in column {HEADER.index('Description') + 1} is longer than {MAX_CELL_CHARS} characters "
        f"({MAX_CELL_CHARS + 1}); no export writes one this long (is a quote not closed where it should be?)",
    )
    # In a column the template does not know.
    data = csv_bytes([[*row().values(), "z" * (MAX_CELL_CHARS + 5)]], header=[*HEADER, "Approver"])
    assert rejected(data).problem.row == 2
    assert rejected(data).problem.column is None
    assert f"the value in column {len(HEADER) + 1} is longer than" in str(rejected(data))


def test_a_value_longer_than_the_csv_reader_takes_refuses_the_file_naming_its_row() -> None:
    # An opening quote never closed, with megabytes of rows after it.
    tail = csv_bytes([line2()] * 20_000)[len(csv_bytes([])) :]
    data = csv_bytes([row()]) + b'INV-2,V1,"Acme\r\n' + tail
    error = rejected(data)
    assert str(error) == (
        f"{FILE} row 3: a value in this row is longer than 1048576 characters; no export writes one "
        "this long (is a quote not closed where it should be?)"
    )


@pytest.mark.parametrize("invisible", ["\ufeff", "\u200b", "\u200c", "\u200d", "\u2060", "\u200b\ufeff "])
def test_invisible_characters_around_a_header_name_are_ignored(invisible: str) -> None:
    # An optional column whose name carries an invisible character is still read, and so is the
    # first column after a second byte order mark.
    header = [f"{invisible}{name}" if name in ("Description", "Invoice Number") else name for name in HEADER]
    cells = [[values[name] for name in HEADER] for values in (row(), line2())]
    group = only(csv_bytes(cells, header=header, bom=True))
    assert group.invoice == EXPECTED_INVOICE
    assert group.invoice is not None
    assert group.invoice.description == "Office supplies"
