"""Stampli export files for the sandbox: what an AP team's approvals produce, as CSV.

Stampli has no API; approved invoices arrive as CSV files in the SFTP outbound directory. The
demo (and anyone exploring the sandbox) needs such files. :func:`first_exports` is a realistic
first batch for the Fusion stand-in's seeded suppliers and chart of accounts, written in the
provider's default file template (``docs/integrations/stampli_fusion.md``); it exercises what
real exports contain: a byte-order mark and CRLF line ends, quoted commas, quotes and line breaks,
multi-line invoices, an invoice already keyed into Fusion by hand, one whose vendor is not set up
in Fusion yet, one with a typo, and a file that is not an invoice export at all.
:func:`later_exports` is what arrives after the first run.
"""

from __future__ import annotations

import csv
import io
import os
import time
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from datetime import date, timedelta
from pathlib import Path

#: The default template's header, in the order Stampli's export would list it.
HEADER = (
    "Stampli Invoice ID",
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
    "Line Number",
    "Line Description",
    "Line Amount",
    "GL Account",
    "Cost Center",
)

#: The vendor the first batch names before Fusion knows it (created in Fusion by :func:`new_supplier`).
NEW_VENDOR_ID = "2040"
NEW_VENDOR_NAME = "Summit Facilities Services"


@dataclass(frozen=True)
class Line:
    description: str
    amount: str
    gl_account: str
    cost_center: str = ""


@dataclass(frozen=True)
class Invoice:
    stampli_id: str
    number: str
    vendor_id: str
    vendor: str
    days_ago: int
    amount: str
    description: str
    lines: Sequence[Line]
    site: str = ""
    po_number: str = ""
    terms: str = ""
    currency: str = "USD"
    invoice_date: str | None = None  # as written in the file; default: ``days_ago`` in ISO form


def _rows(invoice: Invoice, today: date) -> list[list[str]]:
    day = today - timedelta(days=invoice.days_ago)
    invoice_date = invoice.invoice_date or day.isoformat()
    due = (day + timedelta(days=30)).isoformat()
    return [
        [
            invoice.stampli_id,
            invoice.number,
            invoice.vendor_id,
            invoice.vendor,
            invoice.site,
            invoice_date,
            due,
            invoice.currency,
            invoice.amount,
            invoice.po_number,
            invoice.description,
            invoice.terms,
            str(number),
            line.description,
            line.amount,
            line.gl_account,
            line.cost_center,
        ]
        for number, line in enumerate(invoice.lines, start=1)
    ]


def render(
    invoices: Sequence[Invoice],
    today: date,
    *,
    bom: bool = False,
    crlf: bool = True,
    header: Sequence[str] = HEADER,
) -> bytes:
    """The CSV bytes of an export holding ``invoices`` (RFC 4180 quoting where needed)."""
    buffer = io.StringIO()
    writer = csv.writer(buffer, lineterminator="\r\n" if crlf else "\n")
    writer.writerow(header)
    keep = [HEADER.index(name) for name in header]
    for invoice in invoices:
        for row in _rows(invoice, today):
            writer.writerow([row[i] for i in keep])
    return (b"\xef\xbb\xbf" if bom else b"") + buffer.getvalue().encode("utf-8")


# Chart of accounts of the Fusion stand-in: company-costcentre-account-subaccount-product. The
# export carries the natural account with cost centre 000, and the cost centre in its own column.
OFFICE = "101-000-61100-000-000"
SOFTWARE = "101-000-62300-000-000"
LEGAL = "101-000-63500-000-000"
TRAVEL = "101-000-64200-000-000"
FREIGHT = "101-000-66100-000-000"
UTILITIES = "101-000-67200-000-000"

FIRST_BATCH: tuple[Invoice, ...] = (
    Invoice(
        "STP-88101",
        "77120",
        "1001",
        "Crestline Office Supply Co.",
        6,
        "1462.35",
        "Q4 office restock",
        (
            Line('Copy paper, "premium" white, 20 cases', "612.40", OFFICE, "110"),
            Line("Standing desks, engineering floor", "849.95", OFFICE, "120"),
        ),
        po_number="PO-55102",
    ),
    Invoice(
        "STP-88102",
        "NC-4471",
        "1003",
        "Nimbus Cloud Software Inc.",
        5,
        "2400.00",
        "Annual licences",
        (Line("Collaboration suite, 40 seats\nrenewal Dec–Nov", "2400.00", SOFTWARE, "110"),),
    ),
    Invoice(
        "STP-88103",
        "TT-9902",
        "1004",
        "Trailhead Travel Management",
        4,
        "3180.70",
        "Customer visits, November",
        (
            Line("Flights, Chicago, 3 travellers", "1920.00", TRAVEL, "110"),
            Line("Hotel, 4 nights", "1260.70", TRAVEL, "120"),
        ),
        terms="30 Net",
    ),
)

SECOND_BATCH: tuple[Invoice, ...] = (
    Invoice(
        "STP-88110",
        "KF-559001",
        "1005",
        "Keystone Freight Lines Inc.",
        3,
        "975.00",
        "Outbound freight",
        (Line("LTL freight, Dallas to Phoenix", "975.00", FREIGHT, "130"),),
        site="DALLAS-PAY",
    ),
    Invoice(
        "STP-88111",
        "CR-20931",
        "1001",
        "Crestline Office Supply Co.",
        20,
        "1284.50",
        "Office supplies restock",
        (
            Line("Printer paper and toner, 40 cases", "846.50", OFFICE, "110"),
            Line("Ergonomic chairs, engineering floor", "438.00", OFFICE, "120"),
        ),
    ),
    Invoice(
        "STP-88112",
        "SFS-1187",
        NEW_VENDOR_ID,
        NEW_VENDOR_NAME,
        2,
        "1850.00",
        "Facilities maintenance, November",
        (
            Line("HVAC service", "1200.00", UTILITIES, "110"),
            Line("Window cleaning", "650.00", UTILITIES, "110"),
        ),
    ),
    Invoice(
        "STP-88113",
        "HV-2026-031",
        "1002",
        "Harborview Legal LLP",
        2,
        "4200.00",
        "Trademark filing",
        (Line("Trademark filing, two classes", "4200.00", LEGAL, "110"),),
        invoice_date="2026-13-02",
    ),
)

LATER_BATCH: tuple[Invoice, ...] = (
    Invoice(
        "STP-88120",
        "77188",
        "1001",
        "Crestline Office Supply Co.",
        1,
        "318.20",
        "Breakroom supplies",
        (Line("Coffee, tea and cups", "318.20", OFFICE, "130"),),
    ),
)


def first_exports(today: date, tenant: str = "acme") -> dict[str, bytes]:
    """The files waiting in the outbound directory before the first run, by file name."""
    stamp = today.strftime("%Y%m%d")
    return {
        f"STAMPLI_{tenant}_{stamp}_0800.csv": render(FIRST_BATCH, today, bom=True, crlf=True),
        f"STAMPLI_{tenant}_{stamp}_0815.csv": render(SECOND_BATCH, today, bom=False, crlf=False),
        f"STAMPLI_{tenant}_{stamp}_0830.csv": render(
            LATER_BATCH, today, header=tuple(h for h in HEADER if h != "Currency")
        ),
    }


def later_exports(today: date, tenant: str = "acme") -> dict[str, bytes]:
    """Files arriving after the first run: a new export, and the first export uploaded again."""
    stamp = today.strftime("%Y%m%d")
    return {
        f"STAMPLI_{tenant}_{stamp}_1400.csv": render(LATER_BATCH, today),
        f"STAMPLI_{tenant}_{stamp}_0800_resent.csv": render(FIRST_BATCH, today, bom=True, crlf=True),
    }


def put_files(directory: Path, files: Mapping[str, bytes], *, age: float = 600.0) -> list[Path]:
    """Write ``files`` into ``directory`` (created), dated ``age`` seconds ago so they count as complete."""
    directory.mkdir(parents=True, exist_ok=True)
    written = []
    stamp = time.time() - age
    for name, content in files.items():
        path = directory / name
        path.write_bytes(content)
        os.utime(path, (stamp, stamp))
        written.append(path)
    return written


def new_supplier() -> dict[str, object]:
    """The Fusion supplier the AP team sets up for :data:`NEW_VENDOR_ID` after the first run."""
    return {
        "SupplierNumber": NEW_VENDOR_ID,
        "Supplier": NEW_VENDOR_NAME,
        "Status": "ACTIVE",
        "BusinessRelationship": "Spend Authorized",
        "SupplierType": "Supplier",
        "sites": [
            {
                "SupplierSite": "MAIN-PAY",
                "ProcurementBU": "US1 Business Unit",
                "SitePurposePayFlag": True,
                "SitePurposePurchasingFlag": True,
                "PaymentTerms": "30 Net",
            }
        ],
    }
