"""AR customers in the Fusion stand-in: ``receivablesCustomerAccountSiteActivities``.

Why this resource (contract A5.1): Fusion has no REST resource that creates a Receivables
customer account (that is SOAP ``CustomerAccountService`` or FBDI), and the Trading Community
resources either do not exist on FSCM pods or describe parties rather than AR accounts. The
Receivables Customer Account Site Activities resource is the Financials REST view of *customer
account bill-to sites*: one row per bill-to site use, keyed by ``BillToSiteUseId``, with the
account number, the customer (party) name, the bill-to site number and the standard who columns.
It is read-only ("POST action not supported") and needs the privilege
``AR_REVIEW_CUSTOMER_ACCOUNT_ACTIVITIES_PRIV``. AR invoices refer to the same customers by
``BillToCustomerNumber`` (= ``AccountNumber``) and ``BillToSite``.

Attribute provenance:

* From Oracle's documentation (the finder examples of this resource show these attributes in a
  response): ``BillToSiteUseId``, ``BillToSiteNumber``, ``BillToSiteAddress`` (one formatted
  string), ``AccountNumber``, ``AccountId``, ``CustomerName``, ``CustomerId``,
  ``TaxRegistrationNumber``, ``TaxpayerIdentificationNumber``, ``TotalOpenReceivablesForSite``,
  ``TotalTransactionsDueForSite``, ``CreatedBy``, ``CreationDate``, ``LastUpdateDate``,
  ``LastUpdatedBy``; the finder ``CustomerAccountSiteActivitiesFinder`` (``AccountNumber``,
  ``BillToSiteNumber``, ``CustomerName``, ``TaxRegistrationNumber``,
  ``TaxpayerIdentificationNumber``); the child ``transactionPaymentSchedules``.
* **UNCONFIRMED** — whether ``LastUpdateDate`` is *queryable* here, and whether it moves when
  the address or the account (rather than the site use) changes. The stand-in makes it
  queryable and bumps it on every change.
* **Stand-in data, UNCONFIRMED names** — the structured address (``AddressLine1``…``4``,
  ``City``, ``State``, ``Province``, ``PostalCode``, ``Country``), ``EmailAddress`` (Oracle
  documents the bill-to contact's e-mail only through SOAP), ``AccountName``, ``Status``
  (TCA codes ``A``/``I``), ``BusinessUnit`` and ``CurrencyCode``. A real pod may not return them
  on this resource; the connector must treat every one of them as optional.
"""

from __future__ import annotations

from collections.abc import Mapping
from datetime import datetime, timedelta
from typing import Any

from ml_connector_sandbox.systems.fusion.adf import READ_ONLY, AdfFinder, AdfResource, attr
from ml_connector_sandbox.systems.fusion.values import format_timestamp

__all__ = [
    "ADDRESS_ATTRIBUTES",
    "CUSTOMERS_RESOURCE",
    "CUSTOMER_RESOURCE_NAME",
    "format_site_address",
    "seed_customers",
]

CUSTOMER_RESOURCE_NAME = "receivablesCustomerAccountSiteActivities"

_ADDRESS_PARTS = ("AddressLine1", "AddressLine2", "AddressLine3", "AddressLine4")
#: The structured address attributes ``BillToSiteAddress`` is built from.
ADDRESS_ATTRIBUTES = (*_ADDRESS_PARTS, "City", "State", "Province", "PostalCode", "Country")


def format_site_address(values: Mapping[str, Any]) -> str | None:
    """The one-line ``BillToSiteAddress`` built from the structured address attributes.

    :param values: a customer row (or the attributes being set).
    :return: ``"500 Congress Ave, Suite 200, Austin, TX 78701, US"``, or ``None`` without an
        address.
    """
    lines = [str(values[name]) for name in _ADDRESS_PARTS if values.get(name)]
    region = values.get("State") or values.get("Province")
    city_line = " ".join(str(part) for part in (region, values.get("PostalCode")) if part)
    parts = [*lines]
    if values.get("City"):
        parts.append(str(values["City"]))
    if city_line:
        parts.append(city_line)
    if values.get("Country"):
        parts.append(str(values["Country"]))
    return ", ".join(parts) or None


PAYMENT_SCHEDULES = AdfResource(
    name="transactionPaymentSchedules",
    key="InstallmentId",
    title="Transaction Payment Schedules",
    attributes=(
        attr("InstallmentId", "integer", generated=True),
        attr("InstallmentNumber", "integer"),
        attr("TransactionNumber"),
        attr("TransactionId", "integer"),
        attr("TransactionDate", "date"),
        attr("TransactionClass"),
        attr("PaymentScheduleDueDate", "date"),
        attr("TotalOriginalAmount", "number", queryable=False),
        attr("TotalBalanceAmount", "number", queryable=False),
        attr("InstallmentStatus"),
        attr("EnteredCurrency"),
    ),
    who_columns=False,
    id_start=300000047300001,
)


_LONG_NAME = (
    "The Greater Tri-County Metropolitan Area Regional Healthcare and Community Wellness "
    "Cooperative Association, Incorporated"
)

#: The seeded bill-to sites, site *n* (``BillToSiteUseId`` 300000047112000 + *n*, site number
#: 2000 + *n*) in row *n*: account number, customer name, address lines, city, state, postal
#: code, e-mail, taxpayer id, days since created, last change as (days, hours, milliseconds) ago
#: (``None``: the import time two sites share), open and due balances, other values.
# fmt: off
_SEED_SITES: tuple[tuple[Any, ...], ...] = (
    (1001, "Acme Industrial Supply Inc.", ("500 Congress Ave", "Suite 200"), "Austin", "TX", "78701",
     "ap@acme-industrial.example.com", "74-1234567", 720, (3, 2, 120), 12450.75, 4380.0, {}),
    (1002, "Blue Harbor Logistics LLC", ("1201 Alaskan Way", "Pier 56"), "Seattle", "WA", "98101",
     "billing@blueharbor.example.com", "91-2345678", 540, (27, 4, 5), 2300.0, 2300.0, {}),
    (1003, "Cedar Ridge Medical Group", ("3000 E 1st Ave",), "Denver", "CO", "80206",
     "accounts.payable@cedarridge.example.org", "84-3456789", 1500, (19, 7, 410), 0, 0, {"Status": "I"}),
    (1004, "Northwind Analytics Corp.", ("1 Federal St", "Floor 12"), "Boston", "MA", "02110",
     None, "04-4567890", 90, None, 980.4, 0, {}),
    (1005, "Pinnacle Foods Distribution Co.", ("233 S Wacker Dr",), "Chicago", "IL", "60606",
     "payables@pinnaclefoods.example.com", "36-5678901", 1100, (22, 1, 999), 15999.99, 7200.0, {}),
    (1005, "Pinnacle Foods Distribution Co.", ("88 E Broad St", "Distribution Center 4"), "Columbus", "OH", "43215",
     "columbus.ap@pinnaclefoods.example.com", "36-5678901", 400, None, 0, 0, {}),
    (1007, "Müller Präzisionstechnik GmbH", ("Leopoldstraße 244",), "München", None, "80807",
     "buchhaltung@mueller-praezision.example.de", None, 300, (7, 9, 42), 5400.0, 5400.0,
     {"Country": "DE", "CurrencyCode": "EUR", "BusinessUnit": "DE1 Business Unit",
      "TaxRegistrationNumber": "DE129273398"}),
    (1008, _LONG_NAME, ("4400 Medical Center Pkwy", "Building C, Accounts Payable Department", "Mail Stop 12-B"),
     "Harrisburg", "PA", "17110-1234", "ap-invoices@tricounty-health-coop.example.org", "23-6789012", 2000,
     (13, 3, 333), 48210.5, 12000.0, {"AccountName": "Tri-County Healthcare Cooperative"}),
    (1009, "Summit Peak Outdoor Gear", ("2150 S 1300 E",), "Salt Lake City", "UT", "84106",
     "finance@summitpeak.example.com", "87-7890123", 800, (29, 6, 500), 0, 0, {"Status": "I"}),
    (1010, "Golden Gate Software Partners", ("101 California St", "Suite 2450"), "San Francisco", "CA", "94111",
     "ar-contact@goldengatesw.example.com", "94-8901234", 60, (1, 1, 1), 0, 0, {}),
    (1011, "Riverbend Credit Union", ("1700 Farnam St",), "Omaha", "NE", "68102",
     "vendor.payments@riverbendcu.example.org", "47-9012345", 250, (0, 6, 600), 310.0, 310.0, {}),
    (1012, "Evergreen Facilities Services", ("805 SW Broadway",), "Portland", "OR", "97205",
     "ap@evergreenfacilities.example.com", "93-0123456", 1300, (16, 8, 77), 0, 0,
     {"Status": "I", "CurrencyCode": None}),
)
# fmt: on

#: The open installments (``transactionPaymentSchedules``) of the seeded sites, by site row:
#: ``InstallmentId``, ``TransactionNumber``, ``TransactionId``, days since the transaction, days
#: until due, amount.
_SEED_SCHEDULES: Mapping[int, tuple[tuple[int, str, int, int, int, float], ...]] = {
    1: (
        (300000047300101, "INV-10045", 300000047400045, 40, -10, 8070.75),
        (300000047300102, "INV-10061", 300000047400061, 12, 18, 4380.0),
    ),
    2: ((300000047300201, "INV-10052", 300000047400052, 30, 0, 2300.0),),
}


def _schedule(
    now: datetime, installment: int, number: str, transaction: int, issued: int, due: int, amount: float
) -> dict[str, Any]:
    return {
        "InstallmentId": installment,
        "InstallmentNumber": 1,
        "TransactionNumber": number,
        "TransactionId": transaction,
        "TransactionDate": (now - timedelta(days=issued)).date().isoformat(),
        "TransactionClass": "Invoice",
        "PaymentScheduleDueDate": (now + timedelta(days=due)).date().isoformat(),
        "TotalOriginalAmount": amount,
        "TotalBalanceAmount": amount,
        "InstallmentStatus": "Open",
        "EnteredCurrency": "USD",
    }


def seed_customers(now: datetime) -> list[dict[str, Any]]:
    """Twelve bill-to sites of eleven customer accounts, changed over the 30 days before ``now``.

    Three sites are inactive, one customer has no e-mail, one is in Germany (EUR, no state), one
    has a very long name, one has no currency, account 1005 has two bill-to sites, and two sites
    share one ``LastUpdateDate`` (as rows touched by one import do), so paging must break ties
    by the key. Timestamps are not in key order.

    :param now: the sandbox time the seed is built at.
    """

    def ago(days: float, hours: float = 0, millis: int = 0) -> datetime:
        moment = now - timedelta(days=days, hours=hours)
        return moment.replace(microsecond=millis * 1000)

    shared_import_time = ago(11, 5, 250)
    rows = []
    for n, site in enumerate(_SEED_SITES, start=1):
        account, name, address, city, state, postal, email, tin, created, updated, open_, due, other = site
        lines = (*address, None, None, None, None)[:4]
        row: dict[str, Any] = {
            "BillToSiteUseId": 300000047112000 + n,
            "BillToSiteNumber": str(2000 + n),
            "AccountNumber": str(account),
            "AccountId": 300000047101000 + account % 1000,
            "AccountName": name,
            "CustomerName": name,
            "CustomerId": 300000047090000 + account % 1000,
            "TaxRegistrationNumber": None,
            "TaxpayerIdentificationNumber": tin,
            "TotalOpenReceivablesForSite": open_,
            "TotalTransactionsDueForSite": due,
            "Status": "A",
            "BusinessUnit": "US1 Business Unit",
            "CurrencyCode": "USD",
            "EmailAddress": email,
            "AddressLine1": lines[0],
            "AddressLine2": lines[1],
            "AddressLine3": lines[2],
            "AddressLine4": lines[3],
            "City": city,
            "State": state,
            "Province": None,
            "PostalCode": postal,
            "Country": "US",
            "CreatedBy": "FIN_IMPL",
            "CreationDate": format_timestamp(now - timedelta(days=created)),
            "LastUpdatedBy": "AR_SPECIALIST",
            "LastUpdateDate": format_timestamp(shared_import_time if updated is None else ago(*updated)),
            "transactionPaymentSchedules": [_schedule(now, *spec) for spec in _SEED_SCHEDULES.get(n, ())],
            **other,
        }
        row["BillToSiteAddress"] = format_site_address(row)
        rows.append(row)
    return rows


CUSTOMERS_RESOURCE = AdfResource(
    name=CUSTOMER_RESOURCE_NAME,
    key="BillToSiteUseId",
    title="Receivables Customer Account Site Activities",
    attributes=(
        attr("BillToSiteUseId", "integer", generated=True, description="Bill-to site use id (key)."),
        attr("BillToSiteNumber", description="Number of the bill-to site."),
        attr("BillToSiteAddress", queryable=False, description="Formatted bill-to address."),
        attr("AccountNumber", description="Customer account number (BillToCustomerNumber on invoices)."),
        attr("AccountId", "integer"),
        attr("AccountName", description="Stand-in attribute (UNCONFIRMED): account description."),
        attr("CustomerName", description="Customer (party) name."),
        attr("CustomerId", "integer"),
        attr("TaxRegistrationNumber"),
        attr("TaxpayerIdentificationNumber"),
        attr("TotalOpenReceivablesForSite", "number", queryable=False),
        attr("TotalTransactionsDueForSite", "number", queryable=False),
        attr("Status", description="Stand-in attribute (UNCONFIRMED): A active, I inactive."),
        attr("BusinessUnit", description="Stand-in attribute (UNCONFIRMED)."),
        attr("CurrencyCode", description="Stand-in attribute (UNCONFIRMED): preferred currency."),
        attr("EmailAddress", description="Stand-in attribute (UNCONFIRMED): bill-to contact e-mail."),
        attr("AddressLine1"),
        attr("AddressLine2"),
        attr("AddressLine3"),
        attr("AddressLine4"),
        attr("City"),
        attr("State"),
        attr("Province"),
        attr("PostalCode"),
        attr("Country", description="ISO 3166-1 alpha-2 country code."),
    ),
    children=(PAYMENT_SCHEDULES,),
    operations=READ_ONLY,
    finders=(
        AdfFinder(
            "CustomerAccountSiteActivitiesFinder",
            {
                "AccountNumber": "AccountNumber",
                "BillToSiteNumber": "BillToSiteNumber",
                "CustomerName": "CustomerName",
                "TaxRegistrationNumber": "TaxRegistrationNumber",
                "TaxpayerIdentificationNumber": "TaxpayerIdentificationNumber",
            },
        ),
    ),
    alternate_keys=(("AccountNumber", "BillToSiteNumber"),),
    seed=seed_customers,
    id_start=300000047112001,
)
