"""Test data shared by the Stampli export parser and mapping tests: CSV files and export invoices."""

from __future__ import annotations

import csv
import dataclasses
import io
from collections.abc import Sequence
from datetime import date
from decimal import Decimal
from typing import Any

from hypothesis import strategies as st

from ml_connector_provider.integrations.stampli_fusion.csv_export import ExportInvoice, ExportLine

FILE = "STAMPLI_acme_20261121.csv"
ACCOUNT = "101-110-61100-000-000"
# The default template's column headers, in its order.
HEADER = [
    "Invoice Number",
    "Vendor ID",
    "Vendor",
    "Vendor Site",
    "Invoice Date",
    "Due Date",
    "Currency",
    "Invoice Amount",
    "PO Number",
    "Description",
    "Payment Terms",
    "Stampli Invoice ID",
    "Line Number",
    "Line Description",
    "Line Amount",
    "GL Account",
    "Cost Center",
]
# Decimals of the currencies the properties draw from (an oracle independent of the code tested).
EXPONENTS = {"USD": 2, "EUR": 2, "GBP": 2, "JPY": 0, "KRW": 0, "KWD": 3, "BHD": 3}
CURRENCIES = st.sampled_from(sorted(EXPONENTS))


def csv_bytes(
    rows: Sequence[dict[str, str] | Sequence[str]],
    *,
    header: Sequence[str] = HEADER,
    delimiter: str = ",",
    terminator: str = "\r\n",
    bom: bool = False,
    quoting: Any = csv.QUOTE_MINIMAL,
) -> bytes:
    """A CSV file: the header row, then each row (a mapping by header text, or the cells as is)."""
    buffer = io.StringIO()
    writer = csv.writer(buffer, delimiter=delimiter, lineterminator=terminator, quoting=quoting)
    writer.writerow(header)
    for values in rows:
        if isinstance(values, dict):
            writer.writerow([values.get(name, "") for name in header])
        else:
            writer.writerow(values)
    return (b"\xef\xbb\xbf" if bom else b"") + buffer.getvalue().encode()


def export_invoice(**changes: Any) -> ExportInvoice:
    """Invoice INV-1001 of vendor V100 on rows 2 and 3 of :data:`FILE`: two lines, 100.00 USD."""
    base = ExportInvoice(
        file=FILE,
        rows=(2, 3),
        invoice_number="INV-1001",
        vendor_id="V100",
        vendor_name="Acme Supplies",
        vendor_site=None,
        invoice_date=date(2026, 11, 2),
        due_date=date(2026, 12, 2),
        currency="USD",
        amount=Decimal("100.00"),
        po_number=None,
        description="Office supplies",
        payment_terms=None,
        stampli_invoice_id=None,
        lines=(
            ExportLine(2, 1, "Paper", Decimal("60.00"), ACCOUNT, None, None),
            ExportLine(3, 2, "Toner", Decimal("40.00"), ACCOUNT, None, None),
        ),
    )
    return dataclasses.replace(base, **changes)


_TEXT = (
    st.text(
        # Text Stampli users type: no controls, no BOM, no text-direction controls (refused).
        alphabet=st.characters(
            exclude_categories=("Cs", "Cc"),
            exclude_characters="\ufeff\u202a\u202b\u202c\u202d\u202e\u2066\u2067\u2068\u2069",
        )
        | st.sampled_from([",", '"', "\n", ";", " "]),
        min_size=1,
        max_size=12,
    )
    .map(str.strip)
    .filter(bool)
)
CODES = st.text(alphabet="ABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789-_./", min_size=1, max_size=10)


@st.composite
def invoices(draw: st.DrawFn, vendor: str, number: str) -> ExportInvoice:
    """A valid invoice of ``vendor`` numbered ``number``, its lines in line-number order (rows 0)."""
    currency = draw(CURRENCIES)
    exponent = EXPONENTS[currency]
    count = draw(st.integers(min_value=1, max_value=4))
    minors = draw(
        st.lists(
            st.integers(min_value=-(10**9), max_value=10**12).filter(bool), min_size=count, max_size=count
        )
    )
    if sum(minors) <= 0:
        minors[0] += 1 - sum(minors)
        if minors[0] == 0:
            minors[0] = 1
            minors.append(1)
    numbers = draw(
        st.lists(
            st.integers(min_value=1, max_value=999), min_size=len(minors), max_size=len(minors), unique=True
        )
    )
    invoice_day = draw(st.dates(min_value=date(2000, 1, 1), max_value=date(2099, 12, 31)))
    due = draw(st.none() | st.dates(min_value=invoice_day, max_value=date(2100, 12, 31)))
    po = draw(st.none() | CODES)
    lines = tuple(
        sorted(
            (
                ExportLine(
                    row=0,
                    line_number=n,
                    description=draw(st.none() | _TEXT),
                    amount=Decimal(m).scaleb(-exponent),
                    gl_account=draw(CODES),
                    cost_center=draw(st.none() | CODES),
                    po_number=po,
                )
                for n, m in zip(numbers, minors, strict=True)
            ),
            key=lambda line: line.line_number,
        )
    )
    return ExportInvoice(
        file=FILE,
        rows=(),
        invoice_number=number,
        vendor_id=vendor,
        vendor_name=draw(st.none() | _TEXT),
        vendor_site=draw(st.none() | _TEXT),
        invoice_date=invoice_day,
        due_date=due,
        currency=currency,
        amount=Decimal(sum(minors)).scaleb(-exponent),
        po_number=po,
        description=draw(st.none() | _TEXT),
        payment_terms=draw(st.none() | _TEXT),
        stampli_invoice_id=draw(st.none() | CODES),
        lines=lines,
    )
