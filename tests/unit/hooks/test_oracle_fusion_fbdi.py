"""The GL journal import file builder (``ml_connector_provider.hooks.oracle_fusion.fbdi``): pure, no I/O."""

from __future__ import annotations

import csv
import io
import zipfile
from datetime import date
from decimal import Decimal
from typing import Any

import pytest
from ml_connector_sandbox.systems.fusion.gl import parse_csv

from ml_connector_provider.hooks.oracle_fusion.fbdi import (
    GL_INTERFACE_CSV_NAME,
    GL_INTERFACE_FIELD_COUNT,
    GlColumn,
    Journal,
    JournalError,
    JournalLine,
    UnbalancedJournal,
    build_gl_interface_csv,
    journal_import_parameters,
    zip_gl_interface,
)

D = Decimal
DAY = date(2026, 11, 3)
CREATED = date(2026, 11, 4)


def journal(
    lines: tuple[JournalLine, ...] | None = None,
    *,
    batch: str = "Stripe po_1",
    name: str = "Payout po_1",
    currency: str = "USD",
    batch_description: str = "Stripe payout po_1",
    description: str = "Payout of 2026-11-03",
) -> Journal:
    return Journal(
        batch_name=batch,
        batch_description=batch_description,
        journal_name=name,
        journal_description=description,
        accounting_date=DAY,
        currency=currency,
        category="Receipts",
        lines=lines
        if lines is not None
        else (
            JournalLine("101-000-11250-000-000", debit=D("97.10"), description="Net", reference="po_1:0"),
            JournalLine("101-000-65110-000-000", debit=D("2.90"), description="Fee", reference="po_1:1"),
            JournalLine("101-000-12990-000-000", credit=D("100.00"), description="Gross", reference="po_1:2"),
        ),
    )


def build(journals: list[Journal], **options: Any) -> bytes:
    arguments: dict[str, Any] = {
        "source": "Stripe",
        "group_id": 90219,
        "ledger_id": "300000046975971",
        "ledger_name": "US Primary Ledger",
        "created": CREATED,
    }
    arguments.update(options)
    return build_gl_interface_csv(journals, **arguments)


def rows_of(data: bytes) -> list[list[str]]:
    return list(csv.reader(io.StringIO(data.decode("utf-8"))))


def field(row: list[str], position: int) -> str:
    return row[position - 1]


# -- layout -----------------------------------------------------------------------------------------


def test_one_row_per_line_with_149_fields_and_no_header() -> None:
    data = build([journal(), journal(batch="Stripe po_2", name="Payout po_2")])
    rows = rows_of(data)
    assert len(rows) == 6
    assert {len(row) for row in rows} == {GL_INTERFACE_FIELD_COUNT} == {149}
    assert rows[0][0] == "NEW"  # data from the first line: no header row
    assert data.endswith(b"\n")
    assert not data.startswith(b"\xef\xbb\xbf")  # no byte order mark


def test_positions_of_every_written_field() -> None:
    [first, _, third] = rows_of(build([journal()], period_name="Nov-26"))
    expected = {
        1: "NEW",
        2: "300000046975971",
        3: "2026/11/03",
        4: "Stripe",
        5: "Receipts",
        6: "USD",
        7: "2026/11/04",
        8: "A",
        9: "101",
        10: "000",
        11: "11250",
        12: "000",
        13: "000",
        39: "97.10",
        43: "Stripe po_1",
        44: "Stripe payout po_1",
        46: "Payout po_1",
        47: "Payout of 2026-11-03",
        52: "Net",
        53: "po_1:0",
        67: "90219",
        92: "US Primary Ledger",
        95: "Nov-26",
    }
    for position, value in expected.items():
        assert field(first, position) == value, position
    assert [i + 1 for i, value in enumerate(first) if value and i + 1 not in expected] == []
    assert (field(third, 39), field(third, 40), field(third, 11)) == ("", "100.00", "12990")
    assert GlColumn.segment(30) == 38
    assert (GlColumn.ENTERED_DR, GlColumn.REFERENCE1, GlColumn.GROUP_ID, GlColumn.PERIOD_NAME) == (
        39,
        43,
        67,
        95,
    )


def test_optional_ledger_and_period_fields_stay_empty() -> None:
    [row, *_] = rows_of(build([journal()], ledger_id=None, period_name=None))
    assert (field(row, 2), field(row, 92), field(row, 95)) == ("", "US Primary Ledger", "")
    [row, *_] = rows_of(build([journal()], ledger_name=None, ledger_id=300000046975971))
    assert (field(row, 2), field(row, 92)) == ("300000046975971", "")


def test_accounts_as_segments_and_other_delimiters() -> None:
    lines = (
        JournalLine(("101", "000", "11250", "000", "000"), debit=D(5)),
        JournalLine("101.000.12990.000.000", credit=D(5)),
    )
    [a, b] = rows_of(build([journal(lines)], segment_delimiter="."))
    assert a[8:13] == [*b[8:13][:2], "11250", "000", "000"]
    assert b[8:13] == ["101", "000", "12990", "000", "000"]
    assert a[13:38] == [""] * 25


def test_text_with_commas_and_quotes_is_quoted_and_read_back_exactly() -> None:
    tricky = 'Refund, "partial" — Müller'
    data = build([journal(batch=tricky, description=tricky)])
    [row, *_] = rows_of(data)
    assert (field(row, 43), field(row, 47)) == (tricky, tricky)
    assert b'"Refund, ""partial"" \xe2\x80\x94 M\xc3\xbcller"' in data
    # The stand-in's own reader (written separately) sees the same fields.
    [(line, fields), *_] = parse_csv(data.decode("utf-8"))
    assert line == 1
    assert fields == row


# -- amounts --------------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("amount", "currency", "written"),
    [
        (D("1E+3"), "USD", "1000"),
        (D("10.500"), "USD", "10.50"),
        (D("0.10"), "USD", "0.10"),
        (D("7"), "USD", "7"),
        (D("125000"), "JPY", "125000"),
        (D("1.250"), "BHD", "1.250"),
        (D("-12.34"), "USD", "-12.34"),
        (12, "USD", "12"),
    ],
)
def test_amounts_are_plain_decimal_strings(amount: Any, currency: str, written: str) -> None:
    lines = (
        JournalLine("101-000-11250-000-000", debit=amount),
        JournalLine("101-000-12990-000-000", credit=amount),
    )
    [debit_row, credit_row] = rows_of(build([journal(lines, currency=currency)]))
    assert (field(debit_row, 39), field(credit_row, 40)) == (written, written)
    assert "E" not in field(debit_row, 39)


@pytest.mark.parametrize(
    ("amount", "currency", "message"),
    [
        (D("10.005"), "USD", "more decimal places than USD allows"),
        (D("1.5"), "JPY", "more decimal places than JPY allows"),
        (10.5, "USD", "must be a Decimal"),
        (D("NaN"), "USD", "not a finite amount"),
        (True, "USD", "must be a Decimal"),
    ],
)
def test_bad_amounts_are_refused(amount: Any, currency: str, message: str) -> None:
    lines = (
        JournalLine("101-000-11250-000-000", debit=amount),
        JournalLine("101-000-12990-000-000", credit=D(1)),
    )
    with pytest.raises(JournalError, match=message):
        build([journal(lines, currency=currency)])


@pytest.mark.parametrize(
    ("currency", "debit", "written"),
    [("ISK", D("1000.00"), "1000"), ("IQD", D("1.250"), "1.250"), ("CLF", D("2.5000"), "2.5000")],
)
def test_amounts_are_written_with_iso_4217_decimals(currency: str, debit: Decimal, written: str) -> None:
    lines = (
        JournalLine("101-000-11250-000-000", debit=debit),
        JournalLine("101-000-12990-000-000", credit=debit),
    )
    rows = rows_of(build([journal(lines, currency=currency)]))
    assert field(rows[0], GlColumn.ENTERED_DR) == written


@pytest.mark.parametrize(
    ("currency", "debit"), [("ISK", D("10.50")), ("IQD", D("1.2505")), ("JPY", D("0.5"))]
)
def test_amounts_beyond_the_iso_4217_decimals_are_refused(currency: str, debit: Decimal) -> None:
    lines = (
        JournalLine("101-000-11250-000-000", debit=debit),
        JournalLine("101-000-12990-000-000", credit=debit),
    )
    with pytest.raises(JournalError, match=f"more decimal places than {currency} allows"):
        build([journal(lines, currency=currency)])


# -- balance and other checks ----------------------------------------------------------------------------


def test_unbalanced_journal_is_refused_naming_it() -> None:
    lines = (
        JournalLine("101-000-11250-000-000", debit=D("97.10")),
        JournalLine("101-000-12990-000-000", credit=D("97.01")),
    )
    with pytest.raises(UnbalancedJournal) as caught:
        build([journal(), journal(lines, batch="Stripe po_9", name="Payout po_9")])
    error = caught.value
    assert isinstance(error, ValueError)
    assert (error.batch_name, error.journal_name, error.debit, error.credit) == (
        "Stripe po_9",
        "Payout po_9",
        D("97.10"),
        D("97.01"),
    )
    assert "'Payout po_9'" in str(error)
    assert "0.09" in str(error)
    assert not journal(lines).is_balanced
    assert journal().is_balanced
    assert journal().total_debit == D("100.00")


def test_a_line_with_debit_and_credit_counts_both() -> None:
    lines = (
        JournalLine("101-000-11250-000-000", debit=D(10), credit=D(4)),
        JournalLine("101-000-12990-000-000", credit=D(6)),
    )
    [row, _] = rows_of(build([journal(lines)]))
    assert (field(row, 39), field(row, 40)) == ("10", "4")


@pytest.mark.parametrize(
    ("changes", "message"),
    [
        ({"batch": "B" * 101}, "batch name is 101 characters long; Fusion allows at most 100"),
        ({"name": "J" * 101}, "journal name is 101 characters long"),
        ({"description": "d" * 241}, "journal description is 241 characters long"),
        ({"batch_description": "d" * 241}, "batch description is 241 characters long"),
        ({"batch": "  "}, "batch name is required"),
        ({"name": ""}, "journal name is required"),
        ({"description": "two\nlines"}, "line break"),
        ({"currency": "usd"}, "ISO 4217"),
        ({"currency": "US"}, "ISO 4217"),
    ],
)
def test_names_and_texts_are_checked(changes: dict[str, Any], message: str) -> None:
    with pytest.raises(JournalError, match=message):
        build([journal(**changes)])


def test_names_at_the_limits_pass() -> None:
    data = build([journal(batch="B" * 100, name="J" * 100, description="d" * 240)])
    [row, *_] = rows_of(data)
    assert (len(field(row, 43)), len(field(row, 46)), len(field(row, 47))) == (100, 100, 240)


@pytest.mark.parametrize(
    ("line", "message"),
    [
        (JournalLine("101--11250-000-000", debit=D(1)), "empty segment"),
        (JournalLine("-".join(["1"] * 31), debit=D(1)), "1 to 30 segments"),
        (JournalLine("101-000-11250-000-000"), "neither a debit nor a credit"),
        (JournalLine("101-000-11250-000-000", debit=D(1), reference="r" * 241), "line reference is 241"),
        (JournalLine("101-000-11250-000-000", debit=D(1), description="tab\there"), "control character"),
        (JournalLine(101, debit=D(1)), "string or a tuple"),  # type: ignore[arg-type]
    ],
)
def test_lines_are_checked(line: JournalLine, message: str) -> None:
    with pytest.raises(JournalError, match=message):
        build([journal((line, JournalLine("101-000-12990-000-000", credit=D(1))))])


def test_a_journal_twice_or_a_batch_described_twice_is_refused() -> None:
    with pytest.raises(JournalError, match="appears twice"):
        build([journal(), journal()])
    build([journal(), journal(currency="EUR")])  # same names in another currency: another journal
    with pytest.raises(JournalError, match="described both"):
        build([journal(), journal(name="Payout po_1 fees", batch_description="other")])


@pytest.mark.parametrize(
    ("options", "message"),
    [
        ({"ledger_id": None, "ledger_name": None}, "ledger_id or a ledger_name"),
        ({"ledger_id": "US1"}, "ledger_id must be a number"),
        ({"group_id": 0}, "group_id must be a positive integer"),
        ({"group_id": True}, "group_id must be a positive integer"),
        ({"group_id": "7"}, "group_id must be a positive integer"),
        ({"source": ""}, "source is required"),
        ({"source": "Stripe,EU"}, "must not contain a comma"),
        ({"created": "2026-11-04"}, "created must be a date"),
    ],
)
def test_file_options_are_checked(options: dict[str, Any], message: str) -> None:
    with pytest.raises(JournalError, match=message):
        build([journal()], **options)


def test_no_journals_or_no_lines_is_refused() -> None:
    with pytest.raises(JournalError, match="no journals"):
        build([])
    with pytest.raises(JournalError, match="has no lines"):
        build([journal(())])


# -- zip and parameters ---------------------------------------------------------------------------------


def test_zip_holds_exactly_the_csv_and_is_deterministic() -> None:
    data = build([journal()])
    archive_bytes = zip_gl_interface(data)
    with zipfile.ZipFile(io.BytesIO(archive_bytes)) as archive:
        assert archive.namelist() == [GL_INTERFACE_CSV_NAME] == ["GlInterface.csv"]
        assert archive.read("GlInterface.csv") == data
        assert archive.getinfo("GlInterface.csv").compress_type == zipfile.ZIP_DEFLATED
    assert zip_gl_interface(data) == archive_bytes
    with pytest.raises(JournalError, match="empty"):
        zip_gl_interface(b"")


def test_journal_import_parameters() -> None:
    assert journal_import_parameters(
        data_access_set_id=300000046975980, source="Stripe", ledger_id="300000046975971", group_id=90219
    ) == ["300000046975980", "Stripe", "300000046975971", "90219", "N", "N", "N"]
    assert journal_import_parameters(
        data_access_set_id="1",
        source="Spreadsheet",
        ledger_id=2,
        group_id="ALL",
        post_errors_to_suspense=True,
        import_descriptive_flexfields=True,
    )[4:] == ["Y", "N", "Y"]
    with pytest.raises(ValueError, match="comma"):
        journal_import_parameters(data_access_set_id="1", source="a,b", ledger_id=2, group_id=3)
    with pytest.raises(ValueError, match="ledger_id is required"):
        journal_import_parameters(data_access_set_id="1", source="a", ledger_id=" ", group_id=3)
