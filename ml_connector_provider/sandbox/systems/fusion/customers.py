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

from collections.abc import Iterable, Mapping
from datetime import datetime, timedelta
from typing import Any

from ml_connector_provider.sandbox.systems.fusion.adf import READ_ONLY, AdfFinder, AdfResource, attr
from ml_connector_provider.sandbox.systems.fusion.values import format_timestamp

__all__ = [
    "ADDRESS_ATTRIBUTES",
    "CUSTOMERS_RESOURCE",
    "CUSTOMER_RESOURCE_NAME",
    "STAND_IN_ATTRIBUTES",
    "format_site_address",
    "seed_customers",
]

CUSTOMER_RESOURCE_NAME = "receivablesCustomerAccountSiteActivities"

#: Attributes the stand-in adds to the documented ones (names UNCONFIRMED on a real pod).
STAND_IN_ATTRIBUTES = (
    "AccountName",
    "Status",
    "BusinessUnit",
    "CurrencyCode",
    "EmailAddress",
    "AddressLine1",
    "AddressLine2",
    "AddressLine3",
    "AddressLine4",
    "City",
    "State",
    "Province",
    "PostalCode",
    "Country",
)

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


def _customer(
    n: int,
    *,
    account: int,
    site: int,
    name: str,
    address: tuple[str, ...],
    city: str,
    state: str | None,
    postal: str,
    country: str = "US",
    email: str | None,
    status: str = "A",
    currency: str | None = "USD",
    bu: str = "US1 Business Unit",
    tin: str | None = None,
    tax_reg: str | None = None,
    created_days_ago: float,
    updated: datetime,
    open_amount: float = 0,
    due_amount: float = 0,
    province: str | None = None,
    account_name: str | None = None,
    schedules: Iterable[Mapping[str, Any]] = (),
    now: datetime,
) -> dict[str, Any]:
    lines = (*address, None, None, None, None)[:4]
    row: dict[str, Any] = {
        "BillToSiteUseId": 300000047112000 + n,
        "BillToSiteNumber": str(site),
        "AccountNumber": str(account),
        "AccountId": 300000047101000 + account % 1000,
        "AccountName": account_name or name,
        "CustomerName": name,
        "CustomerId": 300000047090000 + account % 1000,
        "TaxRegistrationNumber": tax_reg,
        "TaxpayerIdentificationNumber": tin,
        "TotalOpenReceivablesForSite": open_amount,
        "TotalTransactionsDueForSite": due_amount,
        "Status": status,
        "BusinessUnit": bu,
        "CurrencyCode": currency,
        "EmailAddress": email,
        "AddressLine1": lines[0],
        "AddressLine2": lines[1],
        "AddressLine3": lines[2],
        "AddressLine4": lines[3],
        "City": city,
        "State": state,
        "Province": province,
        "PostalCode": postal,
        "Country": country,
        "CreatedBy": "FIN_IMPL",
        "CreationDate": format_timestamp(now - timedelta(days=created_days_ago)),
        "LastUpdatedBy": "AR_SPECIALIST",
        "LastUpdateDate": format_timestamp(updated),
        "transactionPaymentSchedules": list(schedules),
    }
    row["BillToSiteAddress"] = format_site_address(row)
    return row


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
    long_name = (
        "The Greater Tri-County Metropolitan Area Regional Healthcare and Community Wellness "
        "Cooperative Association, Incorporated"
    )
    return [
        _customer(
            1,
            now=now,
            account=1001,
            site=2001,
            name="Acme Industrial Supply Inc.",
            address=("500 Congress Ave", "Suite 200"),
            city="Austin",
            state="TX",
            postal="78701",
            email="ap@acme-industrial.example.com",
            tin="74-1234567",
            created_days_ago=720,
            updated=ago(3, 2, 120),
            open_amount=12450.75,
            due_amount=4380.0,
            schedules=(
                {
                    "InstallmentId": 300000047300101,
                    "InstallmentNumber": 1,
                    "TransactionNumber": "INV-10045",
                    "TransactionId": 300000047400045,
                    "TransactionDate": (now - timedelta(days=40)).date().isoformat(),
                    "TransactionClass": "Invoice",
                    "PaymentScheduleDueDate": (now - timedelta(days=10)).date().isoformat(),
                    "TotalOriginalAmount": 8070.75,
                    "TotalBalanceAmount": 8070.75,
                    "InstallmentStatus": "Open",
                    "EnteredCurrency": "USD",
                },
                {
                    "InstallmentId": 300000047300102,
                    "InstallmentNumber": 1,
                    "TransactionNumber": "INV-10061",
                    "TransactionId": 300000047400061,
                    "TransactionDate": (now - timedelta(days=12)).date().isoformat(),
                    "TransactionClass": "Invoice",
                    "PaymentScheduleDueDate": (now + timedelta(days=18)).date().isoformat(),
                    "TotalOriginalAmount": 4380.0,
                    "TotalBalanceAmount": 4380.0,
                    "InstallmentStatus": "Open",
                    "EnteredCurrency": "USD",
                },
            ),
        ),
        _customer(
            2,
            now=now,
            account=1002,
            site=2002,
            name="Blue Harbor Logistics LLC",
            address=("1201 Alaskan Way", "Pier 56"),
            city="Seattle",
            state="WA",
            postal="98101",
            email="billing@blueharbor.example.com",
            tin="91-2345678",
            created_days_ago=540,
            updated=ago(27, 4, 5),
            open_amount=2300.0,
            due_amount=2300.0,
            schedules=(
                {
                    "InstallmentId": 300000047300201,
                    "InstallmentNumber": 1,
                    "TransactionNumber": "INV-10052",
                    "TransactionId": 300000047400052,
                    "TransactionDate": (now - timedelta(days=30)).date().isoformat(),
                    "TransactionClass": "Invoice",
                    "PaymentScheduleDueDate": now.date().isoformat(),
                    "TotalOriginalAmount": 2300.0,
                    "TotalBalanceAmount": 2300.0,
                    "InstallmentStatus": "Open",
                    "EnteredCurrency": "USD",
                },
            ),
        ),
        _customer(
            3,
            now=now,
            account=1003,
            site=2003,
            name="Cedar Ridge Medical Group",
            address=("3000 E 1st Ave",),
            city="Denver",
            state="CO",
            postal="80206",
            email="accounts.payable@cedarridge.example.org",
            status="I",
            tin="84-3456789",
            created_days_ago=1500,
            updated=ago(19, 7, 410),
        ),
        _customer(
            4,
            now=now,
            account=1004,
            site=2004,
            name="Northwind Analytics Corp.",
            address=("1 Federal St", "Floor 12"),
            city="Boston",
            state="MA",
            postal="02110",
            email=None,
            tin="04-4567890",
            created_days_ago=90,
            updated=shared_import_time,
            open_amount=980.4,
            due_amount=0,
        ),
        _customer(
            5,
            now=now,
            account=1005,
            site=2005,
            name="Pinnacle Foods Distribution Co.",
            address=("233 S Wacker Dr",),
            city="Chicago",
            state="IL",
            postal="60606",
            email="payables@pinnaclefoods.example.com",
            tin="36-5678901",
            created_days_ago=1100,
            updated=ago(22, 1, 999),
            open_amount=15999.99,
            due_amount=7200.0,
        ),
        _customer(
            6,
            now=now,
            account=1005,
            site=2006,
            name="Pinnacle Foods Distribution Co.",
            address=("88 E Broad St", "Distribution Center 4"),
            city="Columbus",
            state="OH",
            postal="43215",
            email="columbus.ap@pinnaclefoods.example.com",
            tin="36-5678901",
            created_days_ago=400,
            updated=shared_import_time,
        ),
        _customer(
            7,
            now=now,
            account=1007,
            site=2007,
            name="Müller Präzisionstechnik GmbH",
            address=("Leopoldstraße 244",),
            city="München",
            state=None,
            postal="80807",
            country="DE",
            email="buchhaltung@mueller-praezision.example.de",
            currency="EUR",
            bu="DE1 Business Unit",
            tax_reg="DE129273398",
            created_days_ago=300,
            updated=ago(7, 9, 42),
            open_amount=5400.0,
            due_amount=5400.0,
        ),
        _customer(
            8,
            now=now,
            account=1008,
            site=2008,
            name=long_name,
            account_name="Tri-County Healthcare Cooperative",
            address=("4400 Medical Center Pkwy", "Building C, Accounts Payable Department", "Mail Stop 12-B"),
            city="Harrisburg",
            state="PA",
            postal="17110-1234",
            email="ap-invoices@tricounty-health-coop.example.org",
            tin="23-6789012",
            created_days_ago=2000,
            updated=ago(13, 3, 333),
            open_amount=48210.5,
            due_amount=12000.0,
        ),
        _customer(
            9,
            now=now,
            account=1009,
            site=2009,
            name="Summit Peak Outdoor Gear",
            address=("2150 S 1300 E",),
            city="Salt Lake City",
            state="UT",
            postal="84106",
            email="finance@summitpeak.example.com",
            status="I",
            tin="87-7890123",
            created_days_ago=800,
            updated=ago(29, 6, 500),
        ),
        _customer(
            10,
            now=now,
            account=1010,
            site=2010,
            name="Golden Gate Software Partners",
            address=("101 California St", "Suite 2450"),
            city="San Francisco",
            state="CA",
            postal="94111",
            email="ar-contact@goldengatesw.example.com",
            tin="94-8901234",
            created_days_ago=60,
            updated=ago(1, 1, 1),
            open_amount=0,
            due_amount=0,
        ),
        _customer(
            11,
            now=now,
            account=1011,
            site=2011,
            name="Riverbend Credit Union",
            address=("1700 Farnam St",),
            city="Omaha",
            state="NE",
            postal="68102",
            email="vendor.payments@riverbendcu.example.org",
            tin="47-9012345",
            created_days_ago=250,
            updated=ago(0, 6, 600),
            open_amount=310.0,
            due_amount=310.0,
        ),
        _customer(
            12,
            now=now,
            account=1012,
            site=2012,
            name="Evergreen Facilities Services",
            address=("805 SW Broadway",),
            city="Portland",
            state="OR",
            postal="97205",
            email="ap@evergreenfacilities.example.com",
            status="I",
            currency=None,
            tin="93-0123456",
            created_days_ago=1300,
            updated=ago(16, 8, 77),
        ),
    ]


def _derive_address(values: dict[str, Any]) -> None:
    if any(name in values for name in ADDRESS_ATTRIBUTES):
        values["BillToSiteAddress"] = format_site_address(values)


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


def customer_values(values: Mapping[str, Any]) -> dict[str, Any]:
    """Prepare admin-side customer values: derive ``BillToSiteAddress`` from address parts.

    :param values: attributes to set.
    """
    prepared = dict(values)
    if "BillToSiteAddress" not in prepared:
        _derive_address(prepared)
    return prepared
