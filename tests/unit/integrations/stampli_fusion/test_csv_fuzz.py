"""Fuzzing the Stampli export parser.

(a) Whatever bytes arrive — random bytes, or text built from delimiters, quotes, line breaks, BOMs,
NULs, text-direction controls, foreign digits, formula leads and very long cells, with or without a
valid header — ``parse_export`` either returns groups (each holding an invoice or at least one
problem, every problem naming the file, and a row unless it is about the whole invoice) or raises
``FileRejected`` naming the file. Never any other exception.

(b) Valid exports written in every way a customer's layout allows (optional columns left out,
columns in any order and case, unknown columns, any delimiter, quoting, CRLF or LF, a BOM) read
back as exactly the invoices written.

The examples are derandomized (the same on every run and in CI) and few enough to take seconds.
"""

from __future__ import annotations

import csv
import dataclasses
import io

from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from ml_connector_provider.integrations.stampli_fusion.csv_export import (
    ExportInvoice,
    FileRejected,
    InvoiceGroup,
    parse_export,
)
from ml_connector_provider.integrations.stampli_fusion.settings import FileTemplate
from tests.unit.integrations.stampli_fusion.helpers import CODES, FILE, HEADER, invoices

FUZZ = settings(
    max_examples=250,
    derandomize=True,
    database=None,
    deadline=None,
    suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large],
)

# -- (a) anything in, a clear answer out ------------------------------------------------------------

_PIECES = st.sampled_from(
    [
        ",",
        ";",
        "\t",
        '"',
        '""',
        "\n",
        "\r\n",
        "\r",
        "\ufeff",
        "\x00",
        "\x1b[2J",
        "\u202e",
        "\u2028",
        " ",
        "=",
        "-",
        "+1",
        "@",
        "١٢٣",
        "１２",
        "0" * 30,
        "9" * 4301,
        "A" * 5000,
        "INV-1",
        "V100",
        "2026-11-02",
        "11/02/2026",
        "USD",
        "XXQ",
        "BGN",
        "100.00",
        "-12.50",
        "1,234.50",
        "10.555",
        "1",
        "101-110-61100-000-000",
        *HEADER,
    ]
)
_CELL = st.lists(_PIECES | st.text(max_size=8), max_size=6).map("".join)
_ROW = st.lists(_CELL, min_size=1, max_size=len(HEADER) + 2)


_VALID = {
    "Invoice Number": "INV-1",
    "Vendor ID": "V100",
    "Vendor": "Acme",
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
    "Line Amount": "100.00",
    "GL Account": "101-110-61100-000-000",
    "Cost Center": "",
}


@st.composite
def _texts(draw: st.DrawFn) -> bytes:
    """Text shaped like an export: maybe the real header, then rows of random cells joined by
    random delimiters, quotes and line breaks (never escaped: broken CSV is part of the point)."""
    header = draw(st.sampled_from(["real", "shuffled", "random", "none"]))
    lines: list[str] = []
    if header == "real":
        lines.append(",".join(HEADER))
    elif header == "shuffled":
        lines.append(",".join(draw(st.permutations(HEADER))[: draw(st.integers(8, len(HEADER)))]))
    elif header == "random":
        lines.append(",".join(draw(_ROW)))
    for cells in draw(st.lists(_ROW, max_size=6)):
        lines.append(draw(st.sampled_from([",", ";", '","', '"'])).join(cells))
    text = draw(st.sampled_from(["\r\n", "\n", "\r"])).join(lines)
    encoded = text.encode("utf-8", errors="surrogatepass")
    prefix = draw(st.sampled_from([b"", b"\xef\xbb\xbf", b"\xef\xbb\xbf\xef\xbb\xbf", b"\xff\xfe"]))
    return prefix + encoded


_EDITS = st.sampled_from(
    [".", ",", "-", "+", " ", "'", "0", "9", "e", "E", "_", "١", "０", "²", "\u202e", "\x00", "NaN"]
)


@st.composite
def _mutated(draw: st.DrawFn, value: str) -> str:
    """``value`` edited a little: characters inserted, replaced or removed, or the value repeated."""
    text = value * draw(st.integers(1, 2))
    for _ in range(draw(st.integers(1, 3))):
        at = draw(st.integers(0, len(text)))
        kind = draw(st.sampled_from(["insert", "replace", "delete"]))
        edit = draw(_EDITS)
        if kind == "insert":
            text = text[:at] + edit + text[at:]
        elif kind == "replace":
            text = text[:at] + edit + text[at + 1 :]
        else:
            text = text[:at] + text[at + 1 :]
    return text


@st.composite
def _near_valid(draw: st.DrawFn) -> bytes:
    """A well-formed CSV file with the real header whose rows are a valid invoice line with a few
    cells replaced by random ones: every value check is reached."""
    buffer = io.StringIO()
    writer = csv.writer(buffer, lineterminator=draw(st.sampled_from(["\r\n", "\n"])))
    writer.writerow(HEADER)
    for number in range(1, draw(st.integers(1, 5)) + 1):
        cells = dict(_VALID, **{"Line Number": str(number)})
        for column in draw(st.lists(st.sampled_from(HEADER), min_size=1, max_size=3)):
            cells[column] = draw(_mutated(cells[column]) | _CELL)
        writer.writerow([cells[column] for column in HEADER] + draw(st.lists(_CELL, max_size=1)))
    return buffer.getvalue().encode("utf-8", errors="surrogatepass")


def _answer(data: bytes, template: FileTemplate) -> list[InvoiceGroup] | FileRejected:
    try:
        return list(parse_export(data, file_name=FILE, template=template))
    except FileRejected as rejected:
        return rejected


def _check_answer(data: bytes, template: FileTemplate) -> None:
    answer = _answer(data, template)
    if isinstance(answer, FileRejected):
        assert answer.problem.file == FILE
        assert str(answer) == answer.problem.describe()
        assert answer.problem.message
        return
    assert answer
    for group in answer:
        assert isinstance(group, InvoiceGroup)
        assert (group.invoice is None) == bool(group.problems), group
        assert group.rows
        assert all(number >= 2 for number in group.rows)
        for problem in (*group.problems, *group.warnings):
            assert problem.file == FILE
            assert problem.message
            # Only the check of the invoice total is about several rows; it names its column.
            assert problem.row in group.rows or (problem.row is None and problem.column is not None)
            # A problem is one line whatever the cells hold (file and column names aside).
            assert "\n" not in problem.message
            assert "\r" not in problem.message


@FUZZ
@given(data=st.binary(max_size=3000))
def test_random_bytes_give_groups_or_a_rejected_file(data: bytes) -> None:
    _check_answer(data, FileTemplate())


@FUZZ
@given(data=_near_valid(), formula_cells=st.sampled_from(["accept", "flag", "refuse"]))
def test_edited_cells_of_a_valid_export_give_groups_or_a_rejected_file(
    data: bytes, formula_cells: str
) -> None:
    _check_answer(data, FileTemplate.model_validate({"formula_cells": formula_cells}))


@settings(FUZZ, max_examples=150)
@given(
    data=_texts(),
    template=st.builds(
        FileTemplate.model_validate,
        st.fixed_dictionaries(
            {
                "thousands_separator": st.sampled_from([None, ",", " ", "'"]),
                "formula_cells": st.sampled_from(["accept", "flag", "refuse"]),
                "max_rows": st.sampled_from([3, 200_000]),
            }
        ),
    ),
)
def test_export_shaped_text_gives_groups_or_a_rejected_file(data: bytes, template: FileTemplate) -> None:
    _check_answer(data, template)


# -- (b) valid exports read back identical -----------------------------------------------------------

_OPTIONAL = [
    "Vendor",
    "Vendor Site",
    "Due Date",
    "PO Number",
    "Description",
    "Payment Terms",
    "Stampli Invoice ID",
]
_LINE_OPTIONAL = ["Line Description", "Cost Center"]
# The invoice field each optional column fills.
_FIELD_OF = {
    "Vendor": "vendor_name",
    "Vendor Site": "vendor_site",
    "Due Date": "due_date",
    "PO Number": "po_number",
    "Description": "description",
    "Payment Terms": "payment_terms",
    "Stampli Invoice ID": "stampli_invoice_id",
    "Line Description": "description",
    "Cost Center": "cost_center",
}


def _cells(invoice: ExportInvoice, line_index: int, fmt: str) -> dict[str, str]:
    line = invoice.lines[line_index]
    return {
        "Invoice Number": invoice.invoice_number,
        "Vendor ID": invoice.vendor_id,
        "Vendor": invoice.vendor_name or "",
        "Vendor Site": invoice.vendor_site or "",
        "Invoice Date": invoice.invoice_date.strftime(fmt),
        "Due Date": invoice.due_date.strftime(fmt) if invoice.due_date else "",
        "Currency": invoice.currency,
        "Invoice Amount": f"{invoice.amount:f}",
        "PO Number": invoice.po_number or "",
        "Description": invoice.description or "",
        "Payment Terms": invoice.payment_terms or "",
        "Stampli Invoice ID": invoice.stampli_invoice_id or "",
        "Line Number": str(line.line_number),
        "Line Description": line.description or "",
        "Line Amount": f"{line.amount:f}",
        "GL Account": line.gl_account,
        "Cost Center": line.cost_center or "",
    }


def _without(invoice: ExportInvoice, dropped: set[str]) -> ExportInvoice:
    """``invoice`` as read from a file lacking the ``dropped`` optional columns."""
    header = {_FIELD_OF[c]: None for c in dropped if c in _OPTIONAL}
    line = {_FIELD_OF[c]: None for c in dropped if c in _LINE_OPTIONAL}
    if "PO Number" in dropped:
        line["po_number"] = None
    return dataclasses.replace(
        invoice, **header, lines=tuple(dataclasses.replace(item, **line) for item in invoice.lines)
    )


@settings(
    max_examples=80,
    derandomize=True,
    database=None,
    deadline=None,
    suppress_health_check=[HealthCheck.too_slow],
)
@given(
    keys=st.lists(st.tuples(CODES, CODES), min_size=1, max_size=4, unique=True),
    data=st.data(),
    delimiter=st.sampled_from([",", ";", "|", "\t"]),
    quoting=st.sampled_from([csv.QUOTE_MINIMAL, csv.QUOTE_ALL, csv.QUOTE_NONNUMERIC]),
    terminator=st.sampled_from(["\r\n", "\n"]),
    bom=st.booleans(),
    formula_cells=st.sampled_from(["accept", "flag"]),
)
def test_valid_exports_in_any_layout_read_back_identical(
    keys: list[tuple[str, str]],
    data: st.DataObject,
    delimiter: str,
    quoting: int,
    terminator: str,
    bom: bool,
    formula_cells: str,
) -> None:
    formats = data.draw(st.sampled_from([["%Y-%m-%d"], ["%m/%d/%Y"], ["%d.%m.%Y", "%Y-%m-%d"]]))
    template = FileTemplate.model_validate(
        {"delimiter": delimiter, "date_formats": formats, "formula_cells": formula_cells}
    )
    written = [data.draw(invoices(vendor, number)) for vendor, number in keys]
    dropped = data.draw(st.sets(st.sampled_from(_OPTIONAL + _LINE_OPTIONAL)))
    columns = [c for c in HEADER if c not in dropped] + data.draw(
        st.lists(st.sampled_from(["Approver", "Notes", "Tax Code"]), unique=True)
    )
    columns = data.draw(st.permutations(columns))
    # Header text as a customer's export may spell it: any case, blanks around.
    shown = [data.draw(st.sampled_from([c, c.upper(), c.lower(), f" {c} "])) for c in columns]

    rows: list[tuple[int, int, dict[str, str]]] = [
        (index, line_index, _cells(invoice, line_index, data.draw(st.sampled_from(formats))))
        for index, invoice in enumerate(written)
        for line_index in range(len(invoice.lines))
    ]
    rows = data.draw(st.permutations(rows))
    buffer = io.StringIO()
    writer = csv.writer(buffer, delimiter=delimiter, lineterminator=terminator, quoting=quoting)
    writer.writerow(shown)
    extra = {"Approver": "J. Doe", "Notes": "n/a", "Tax Code": "T1"}
    for _, _, cells in rows:
        writer.writerow([cells.get(column, extra.get(column, "")) for column in columns])
    content = (b"\xef\xbb\xbf" if bom else b"") + buffer.getvalue().encode("utf-8")

    groups = list(parse_export(content, file_name=FILE, template=template))

    row_of: dict[tuple[int, int], int] = {(i, li): n for n, (i, li, _) in enumerate(rows, start=2)}
    by_key = {(g.invoice.vendor_id, g.invoice.invoice_number): g for g in groups if g.invoice is not None}
    assert [g.problems for g in groups] == [()] * len(written), [g.problems for g in groups]
    for index, invoice in enumerate(written):
        group = by_key[(invoice.vendor_id, invoice.invoice_number)]
        expected = _without(invoice, dropped)
        numbers = [row_of[(index, li)] for li in range(len(invoice.lines))]
        expected = dataclasses.replace(
            expected,
            rows=tuple(sorted(numbers)),
            lines=tuple(
                dataclasses.replace(line, row=row_of[(index, li)]) for li, line in enumerate(expected.lines)
            ),
        )
        assert group.invoice == expected
        if formula_cells == "accept":
            assert group.warnings == ()
