"""AR invoices in the Fusion stand-in: ``receivablesInvoices`` with its child ``receivablesInvoiceLines``.

Contract A5.2. Operations: ``POST`` (with lines; Oracle's "Create an Invoice with Lines" example
body works as published), ``GET`` collection and item, ``PATCH`` of ``InvoiceStatus``,
``PaymentTerms`` and ``TransactionDate`` only (any other attribute answers 400 naming it), and
``DELETE``. Lines can be read and added (``POST …/child/receivablesInvoiceLines``).

Server-side behaviour:

* ``BillToCustomerNumber`` must be the ``AccountNumber`` of a customer of
  ``receivablesCustomerAccountSiteActivities``; ``BillToSite`` (a bill-to site **number**, like
  ``BillToSiteNumber`` there) must be one of that account's sites and defaults to its first one;
  ``BillToCustomerName`` defaults to the customer's name, ``BusinessUnit`` and
  ``InvoiceCurrencyCode`` to the customer's.
* ``TransactionDate`` defaults to the sandbox date, ``AccountingDate`` to the transaction date,
  ``DueDate`` to the transaction date plus the days named in ``PaymentTerms`` (``30 Net`` → 30;
  ``Immediate`` → 0), ``TransactionType`` to ``Invoice``, ``InvoiceStatus`` to ``Complete``.
* ``TransactionNumber`` is generated (the next number of the source) when missing; a second
  invoice with the same ``TransactionSource`` and ``TransactionNumber`` answers 400 (text, or the
  framework-4 JSON payload).
* ``LineAmount`` = ``Quantity`` × ``UnitSellingPrice`` rounded half-up to the currency's decimals
  (``JPY`` 0, ``USD`` 2, ``BHD`` 3) when the line does not give it; ``LineNumber`` defaults to the
  next number. ``EnteredAmount`` is the sum of the lines and ``InvoiceBalanceAmount`` starts equal
  to it; adding a line later adds to both.
* ``LastUpdateDate`` is queryable and moves on every write, so the resource can be polled with
  ``iter_changed``; ``expand=receivablesInvoiceLines`` inlines the lines.

Attribute provenance: the header attributes are those Oracle documents (contract A5.2). **UNCONFIRMED**:
the names ``EnteredAmount`` and ``InvoiceBalanceAmount`` (contract part D 4), the exact
``InvoiceStatus`` value set (the stand-in accepts ``Complete`` and ``Incomplete``), the line
attributes beyond the six in Oracle's example (``LineAmount``, ``TaxClassificationCode``), whether
``LastUpdateDate`` is queryable on a real pod, the duplicate-number error text, and the default
``InvoiceStatus`` of a created invoice.

The seed (:func:`seed_invoices`) is ten invoices of the seeded customers, dated relative to the
sandbox clock; see :data:`SEEDED_INVOICES` for the story each one tells.
"""

from __future__ import annotations

import re
from collections.abc import Iterable, Mapping
from datetime import date, datetime, timedelta
from decimal import ROUND_HALF_UP, Decimal, InvalidOperation
from typing import Any

from ml_connector_sandbox.systems.fusion.adf import (
    CRUD,
    AdfError,
    AdfResource,
    WriteContext,
    attr,
)
from ml_connector_sandbox.systems.fusion.customers import CUSTOMER_RESOURCE_NAME, seed_customers
from ml_connector_sandbox.systems.fusion.values import format_timestamp, json_number

__all__ = [
    "INVOICES_RESOURCE",
    "INVOICE_LINES_NAME",
    "INVOICE_LINES_RESOURCE",
    "INVOICE_RESOURCE_NAME",
    "INVOICE_STATUSES",
    "SEEDED_INVOICES",
    "UPDATABLE_INVOICE_ATTRIBUTES",
    "currency_places",
    "line_amount",
    "next_line_id",
    "prepare_invoice",
    "seed_invoices",
]

INVOICE_RESOURCE_NAME = "receivablesInvoices"
INVOICE_LINES_NAME = "receivablesInvoiceLines"
#: The values ``InvoiceStatus`` may take in the stand-in.
INVOICE_STATUSES = ("Complete", "Incomplete")
#: The only header attributes ``PATCH`` may change (Oracle: "You can update only the
#: InvoiceStatus, PaymentTerms, and TransactionDate attributes").
UPDATABLE_INVOICE_ATTRIBUTES = ("InvoiceStatus", "PaymentTerms", "TransactionDate")
#: First generated ``TransactionNumber`` of a source without numeric numbers yet.
FIRST_GENERATED_NUMBER = 500001

_INVOICE_ID_START = 300000047400001
_LINE_ID_START = 300000047410001

#: ISO 4217 minor units of the currencies that do not have two decimals (the stand-in's own table).
_MINOR_UNITS: Mapping[str, int] = {
    "BHD": 3,
    "CLP": 0,
    "IQD": 3,
    "ISK": 0,
    "JOD": 3,
    "JPY": 0,
    "KRW": 0,
    "KWD": 3,
    "OMR": 3,
    "TND": 3,
    "VND": 0,
}


def currency_places(currency: str | None) -> int:
    """Decimal places of ``currency`` (2 for codes the stand-in does not list)."""
    return _MINOR_UNITS.get((currency or "").upper(), 2)


def _decimal(value: Any, name: str) -> Decimal:
    try:
        number = Decimal(str(value))
    except (InvalidOperation, ValueError):
        raise AdfError(400, f"The value {value!r} of attribute {name} is not a valid number.") from None
    if not number.is_finite():
        raise AdfError(400, f"The value {value!r} of attribute {name} is not a valid number.")
    return number


def line_amount(quantity: Any, unit_price: Any, currency: str | None) -> int | float | None:
    """``Quantity`` × ``UnitSellingPrice`` rounded half-up to the currency's decimals.

    :returns: ``None`` when either factor is missing.
    """
    if quantity is None or unit_price is None:
        return None
    exact = _decimal(quantity, "Quantity") * _decimal(unit_price, "UnitSellingPrice")
    step = Decimal(1).scaleb(-currency_places(currency))
    return json_number(exact.quantize(step, rounding=ROUND_HALF_UP))


def _sum_amounts(lines: Iterable[Mapping[str, Any]], currency: str | None) -> int | float:
    total = sum(
        (_decimal(line["LineAmount"], "LineAmount") for line in lines if line.get("LineAmount") is not None),
        Decimal(0),
    )
    return json_number(total.quantize(Decimal(1).scaleb(-currency_places(currency))))


def _terms_days(terms: str | None) -> int:
    match = re.search(r"\d+", terms or "")
    return int(match.group()) if match else 0


def _customer_sites(db: Mapping[str, Any], account_number: str) -> list[Mapping[str, Any]]:
    return [row for row in db.get(CUSTOMER_RESOURCE_NAME, []) if row.get("AccountNumber") == account_number]


def _next_transaction_number(invoices: Iterable[Mapping[str, Any]], source: str | None) -> str:
    numbers = [
        int(row["TransactionNumber"])
        for row in invoices
        if row.get("TransactionSource") == source and str(row.get("TransactionNumber") or "").isdigit()
    ]
    return str(max(numbers, default=FIRST_GENERATED_NUMBER - 1) + 1)


def next_line_id(db: Mapping[str, Any], pending: Iterable[Mapping[str, Any]] = ()) -> int:
    ids = [
        line.get("CustomerTransactionLineId")
        for invoice in db.get(INVOICE_RESOURCE_NAME, [])
        for line in invoice.get(INVOICE_LINES_NAME) or ()
    ]
    ids.extend(line.get("CustomerTransactionLineId") for line in pending)
    return max([_LINE_ID_START - 1, *(i for i in ids if isinstance(i, int))]) + 1


def prepare_invoice(item: dict[str, Any], db: Mapping[str, Any], today: date, *, strict: bool) -> None:
    """Fill an invoice header's server-side defaults and derived amounts, in place.

    :param item: the invoice (header attributes plus its line list).
    :param db: the stand-in state (customers and the other invoices).
    :param today: the sandbox date (default ``TransactionDate``).
    :param strict: the REST behaviour: refuse (400) an unknown customer or site and a duplicate
        number, and compute ``EnteredAmount``/``InvoiceBalanceAmount`` from the lines. Without it
        (the admin API) what can be derived is filled and the rest is stored as given.
    :raises AdfError: a rule is broken (only with ``strict``, except for bad numbers).
    """
    invoices = [row for row in db.get(INVOICE_RESOURCE_NAME, []) if row is not item]
    number = item.get("BillToCustomerNumber")
    sites = _customer_sites(db, str(number)) if number is not None else []
    if strict and not sites:
        raise AdfError(
            400,
            f"The bill-to customer number {number} is not valid.",
            "INVALID_BILL_TO_CUSTOMER",
            "BillToCustomerNumber",
        )
    site_number = item.get("BillToSite")
    site = next((row for row in sites if row.get("BillToSiteNumber") == site_number), None)
    if site_number is None and sites:
        site = sites[0]
        item["BillToSite"] = site.get("BillToSiteNumber")
    elif strict and site is None:
        raise AdfError(
            400,
            f"The bill-to site {site_number} does not belong to customer account {number}.",
            "INVALID_BILL_TO_SITE",
            "BillToSite",
        )
    if site is not None:
        if item.get("BillToPartyId") is None:
            item["BillToPartyId"] = site.get("CustomerId")
        for target, source in (
            ("BillToCustomerName", "CustomerName"),
            ("BusinessUnit", "BusinessUnit"),
            ("InvoiceCurrencyCode", "CurrencyCode"),
        ):
            if item.get(target) is None:
                item[target] = site.get(source)
    if item.get("InvoiceCurrencyCode") is None:
        item["InvoiceCurrencyCode"] = "USD"
    if item.get("TransactionSource") is None:
        item["TransactionSource"] = "Manual"
    if item.get("InvoiceStatus") is None:
        item["InvoiceStatus"] = "Complete"
    _check_status(item["InvoiceStatus"])
    if item.get("TransactionType") is None:
        item["TransactionType"] = "Invoice"
    if item.get("TransactionDate") is None:
        item["TransactionDate"] = today.isoformat()
    if item.get("AccountingDate") is None:
        item["AccountingDate"] = item["TransactionDate"]
    if item.get("DueDate") is None:
        due = date.fromisoformat(str(item["TransactionDate"])) + timedelta(
            days=_terms_days(item.get("PaymentTerms"))
        )
        item["DueDate"] = due.isoformat()
    if item.get("TransactionNumber") is None:
        item["TransactionNumber"] = _next_transaction_number(invoices, item.get("TransactionSource"))
    elif strict:
        duplicate = next(
            (
                row
                for row in invoices
                if row.get("TransactionSource") == item.get("TransactionSource")
                and row.get("TransactionNumber") == item.get("TransactionNumber")
            ),
            None,
        )
        if duplicate is not None:
            raise AdfError(
                400,
                f"A transaction with number {item['TransactionNumber']} already exists for transaction "
                f"source {item.get('TransactionSource')}.",
                "DUPLICATE_TRANSACTION_NUMBER",
                "TransactionNumber",
            )
    currency = item["InvoiceCurrencyCode"]
    lines: list[dict[str, Any]] = item.setdefault(INVOICE_LINES_NAME, [])
    for line in lines:
        _prepare_line(line, lines, currency)
    total = _sum_amounts(lines, currency)
    if strict or item.get("EnteredAmount") is None:
        item["EnteredAmount"] = total
    if strict or item.get("InvoiceBalanceAmount") is None:
        item["InvoiceBalanceAmount"] = item["EnteredAmount"]


def _prepare_line(line: dict[str, Any], siblings: Iterable[Mapping[str, Any]], currency: str | None) -> None:
    if line.get("LineNumber") is None:
        numbers = [row.get("LineNumber") for row in siblings if row is not line]
        line["LineNumber"] = max([0, *(n for n in numbers if isinstance(n, int))]) + 1
    if line.get("LineAmount") is None:
        line["LineAmount"] = line_amount(line.get("Quantity"), line.get("UnitSellingPrice"), currency)


def _on_create_invoice(context: WriteContext) -> None:
    prepare_invoice(context.item, context.db, context.now.date(), strict=True)


def _on_update_invoice(context: WriteContext) -> None:
    previous = context.previous or {}
    if INVOICE_LINES_NAME in context.payload:
        raise AdfError(
            400,
            f"The child {INVOICE_LINES_NAME} cannot be changed when an invoice is updated; add lines "
            f"with POST …/child/{INVOICE_LINES_NAME}.",
            "READ_ONLY_ATTRIBUTE",
            INVOICE_LINES_NAME,
        )
    status = context.item.get("InvoiceStatus")
    if status != previous.get("InvoiceStatus"):
        _check_status(status)


def _check_status(status: Any) -> None:
    if status not in INVOICE_STATUSES:
        raise AdfError(
            400,
            f"The value {status} of attribute InvoiceStatus is not valid; use one of {', '.join(INVOICE_STATUSES)}.",
            "INVALID_VALUE",
            "InvoiceStatus",
        )


def _on_create_line(context: WriteContext) -> None:
    parent = context.parent
    if parent is None:  # pragma: no cover - lines only exist under an invoice
        return
    siblings: list[dict[str, Any]] = parent.get(INVOICE_LINES_NAME) or []
    # The engine numbers child keys per parent; Fusion's line ids are unique across invoices.
    context.item["CustomerTransactionLineId"] = next_line_id(context.db, siblings)
    currency = parent.get("InvoiceCurrencyCode")
    _prepare_line(context.item, [*siblings, context.item], currency)
    stored = any(row is parent for row in context.db.get(INVOICE_RESOURCE_NAME, []))
    if stored:  # a line added to an existing invoice (a new invoice's totals come from its lines)
        added = _decimal(context.item.get("LineAmount") or 0, "LineAmount")
        for name in ("EnteredAmount", "InvoiceBalanceAmount"):
            current = _decimal(parent.get(name) or 0, name)
            parent[name] = json_number(current + added)


INVOICE_LINES_RESOURCE = AdfResource(
    name=INVOICE_LINES_NAME,
    key="CustomerTransactionLineId",
    title="Receivables Invoice Lines",
    attributes=(
        attr("CustomerTransactionLineId", "integer", generated=True),
        attr("LineNumber", "integer", updatable=False),
        attr("Description", updatable=False),
        attr("Quantity", "number", updatable=False),
        attr("UnitSellingPrice", "number", updatable=False),
        attr("LineAmount", "number", updatable=False, description="UNCONFIRMED name."),
        attr("ItemNumber", updatable=False),
        attr("MemoLine", updatable=False),
        attr("UnitOfMeasure", updatable=False),
        attr("TaxClassificationCode", updatable=False, description="UNCONFIRMED name."),
    ),
    operations=frozenset({"get", "create"}),
    on_create=_on_create_line,
    id_start=_LINE_ID_START,
)


def _fixed(name: str, type_: Any = "string", **options: Any) -> Any:
    return attr(name, type_, updatable=False, **options)


# -- seed -------------------------------------------------------------------------------------------------

#: The seeded invoices: transaction number → (``CustomerTransactionId``, customer account, what
#: the invoice is there for). Amounts are :func:`seed_invoices`'s.
SEEDED_INVOICES: Mapping[str, tuple[int, str, str]] = {
    "INV-10061": (300000047400061, "1001", "Complete USD 4,380.00 (the open installment of customer 1001)"),
    "INV-10062": (300000047400062, "1002", "Complete USD 1,249.99, one line"),
    "INV-10063": (
        300000047400063,
        "1005",
        "Complete USD 1,277.44, three lines with fractional quantities/prices",
    ),
    "INV-10064": (300000047400064, "1004", "Complete USD 980.40"),
    "INV-10065": (300000047400065, "1008", "Complete USD 12,000.00, customer with a 121-character name"),
    "INV-10066": (300000047400066, "1011", "Incomplete USD 455.25 (a draft: not to be synced)"),
    "INV-10067": (300000047400067, "1010", "Complete JPY 399,690 (zero-decimal currency)"),
    "INV-10068": (300000047400068, "1010", "Complete EUR 2,450.50 in US1 Business Unit"),
    "INV-10069": (
        300000047400069,
        "1007",
        "Complete EUR 5,400.00 in DE1 Business Unit (not synced by the example tenant)",
    ),
    "INV-10070": (
        300000047400070,
        "1005",
        "Complete USD 7,200.00 in US2 Business Unit (not synced by the example tenant)",
    ),
}


#: The seeded invoices' details: transaction number → (bill-to site number, days since issued,
#: last change as (days, hours, milliseconds) ago or ``None`` for the import time two invoices
#: share, lines as (description, quantity, unit price), header values other than the defaults).
# fmt: off
_SEED_DETAILS: Mapping[str, tuple[Any, ...]] = {
    "INV-10061": ("2001", 12, (8, 4, 210), (("Industrial safety cabinet, 90 gal", 2, 1890),
                                            ("Delivery and installation", 1, 600)),
                  {"PurchaseOrder": "PO-88231"}),
    "INV-10062": ("2002", 6, (5, 1, 40), (("Fleet telematics subscription, monthly", 1, 1249.99),), {}),
    "INV-10063": ("2006", 9, None, (("Cold-chain monitoring, hours", 12.5, 84.30), ("Refrigerant, kg", 7.25, 18.44),
                                    ("Sensor calibration, partial day", 0.75, 120)),
                  {"Comments": "Columbus distribution center"}),
    "INV-10064": ("2004", 15, (0, 5, 905), (("Analytics platform license, quarterly", 1, 980.40),), {}),
    "INV-10065": ("2008", 20, (6, 7, 13), (("Facilities maintenance contract", 1, 11250),
                                           ("Emergency call-out", 1, 750)),
                  {"PaymentTerms": "45 Net"}),
    "INV-10066": ("2011", 2, (1, 2, 0), (("Branch signage, draft quote", 1, 455.25),),
                  {"InvoiceStatus": "Incomplete"}),
    "INV-10067": ("2010", 4, None, (("Localization services, Japan", 3, 125000),
                                    ("Japanese support retainer", 2, 12345)),
                  {"InvoiceCurrencyCode": "JPY"}),
    "INV-10068": ("2010", 3, (2, 9, 77), (("EU data residency add-on", 1, 2450.50),),
                  {"InvoiceCurrencyCode": "EUR"}),
    "INV-10069": ("2007", 7, (4, 0, 321), (("Precision spindle overhaul", 2, 2700),),
                  {"InvoiceCurrencyCode": "EUR", "BusinessUnit": "DE1 Business Unit"}),
    "INV-10070": ("2005", 5, (3, 6, 654), (("Warehouse racking, bay", 8, 900),),
                  {"BusinessUnit": "US2 Business Unit"}),
}
# fmt: on


def seed_invoices(now: datetime) -> list[dict[str, Any]]:
    """Ten invoices of the seeded customers, changed over the nine days before ``now``.

    Transaction dates lie 2–20 days back and every due date lies ahead; ``LastUpdateDate`` values
    are within the last nine days (not in key order; two invoices share one, as rows touched by
    one import do), so a first 30-day window reads them all. See :data:`SEEDED_INVOICES`. The
    customer name and party come from the bill-to site's customer row (:func:`.customers.seed_customers`).

    :param now: the sandbox time the seed is built at.
    """

    def ago(days: float, hours: float = 0, millis: int = 0) -> str:
        moment = now - timedelta(days=days, hours=hours)
        return format_timestamp(moment.replace(microsecond=millis * 1000))

    def day(offset: int) -> str:
        return (now.date() + timedelta(days=offset)).isoformat()

    sites = {row["BillToSiteNumber"]: row for row in seed_customers(now)}
    shared = ago(2, 3, 500)
    rows: list[dict[str, Any]] = []
    for number, (site, issued, updated, lines, header) in _SEED_DETAILS.items():
        transaction_id, account, _story = SEEDED_INVOICES[number]
        customer = sites[site]
        values: dict[str, Any] = {
            "InvoiceCurrencyCode": "USD",
            "BusinessUnit": "US1 Business Unit",
            "InvoiceStatus": "Complete",
            "PaymentTerms": "30 Net",
            **header,
        }
        currency = values["InvoiceCurrencyCode"]
        line_rows = [
            {
                "CustomerTransactionLineId": _LINE_ID_START + (transaction_id - _INVOICE_ID_START) * 10 + n,
                "LineNumber": n,
                "Description": description,
                "Quantity": quantity,
                "UnitSellingPrice": price,
                "LineAmount": line_amount(quantity, price, currency),
                "UnitOfMeasure": "Each",
            }
            for n, (description, quantity, price) in enumerate(lines, start=1)
        ]
        total = _sum_amounts(line_rows, currency)
        rows.append(
            {
                **values,
                "CustomerTransactionId": transaction_id,
                "TransactionNumber": number,
                "TransactionDate": day(-issued),
                "AccountingDate": day(-issued),
                "DueDate": day(-issued + _terms_days(values["PaymentTerms"])),
                "TransactionType": "Invoice",
                "TransactionSource": "Manual",
                "BillToCustomerNumber": account,
                "BillToCustomerName": customer["CustomerName"],
                "BillToPartyId": customer["CustomerId"],
                "BillToSite": site,
                "EnteredAmount": total,
                "InvoiceBalanceAmount": total,
                "CreatedBy": "AR_SPECIALIST",
                "CreationDate": format_timestamp(now - timedelta(days=issued)),
                "LastUpdatedBy": "AR_SPECIALIST",
                "LastUpdateDate": shared if updated is None else ago(*updated),
                INVOICE_LINES_NAME: line_rows,
            }
        )
    return rows


INVOICES_RESOURCE = AdfResource(
    name=INVOICE_RESOURCE_NAME,
    key="CustomerTransactionId",
    title="Receivables Invoices",
    attributes=(
        attr("CustomerTransactionId", "integer", generated=True),
        _fixed("TransactionNumber"),
        attr("TransactionDate", "date"),
        _fixed("AccountingDate", "date"),
        _fixed("DueDate", "date"),
        _fixed("BillingDate", "date"),
        _fixed("InvoiceCurrencyCode"),
        _fixed("ConversionDate", "date"),
        _fixed("ConversionRate", "number", queryable=False),
        _fixed("ConversionRateType"),
        _fixed("TransactionType"),
        _fixed("TransactionSource", mandatory=True),
        _fixed("BusinessUnit"),
        _fixed("LegalEntityIdentifier"),
        _fixed("BillToCustomerNumber", mandatory=True),
        _fixed("BillToCustomerName"),
        attr("BillToPartyId", "integer", generated=True),
        _fixed("BillToSite", description="Bill-to site number (BillToSiteNumber of the customer)."),
        _fixed("BillToContact"),
        _fixed("ShipToCustomerName"),
        _fixed("ShipToCustomerNumber"),
        _fixed("ShipToSite"),
        attr("PaymentTerms"),
        _fixed("PurchaseOrder"),
        _fixed("CrossReference"),
        _fixed("DocumentNumber"),
        _fixed("Comments"),
        _fixed("InternalNotes"),
        _fixed("SpecialInstructions"),
        _fixed("AllowCompletion"),
        attr("InvoiceStatus", description="Complete or Incomplete (value set UNCONFIRMED)."),
        attr("EnteredAmount", "number", generated=True, description="UNCONFIRMED name: total of the lines."),
        attr(
            "InvoiceBalanceAmount",
            "number",
            generated=True,
            description="UNCONFIRMED name: amount still due.",
        ),
    ),
    children=(INVOICE_LINES_RESOURCE,),
    operations=CRUD,
    alternate_keys=(("TransactionSource", "TransactionNumber"),),
    on_create=_on_create_invoice,
    on_update=_on_update_invoice,
    seed=seed_invoices,
    id_start=_INVOICE_ID_START,
)
