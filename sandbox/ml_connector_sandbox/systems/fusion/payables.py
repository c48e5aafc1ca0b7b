"""Payables in the Fusion stand-in: ``suppliers`` (with ``sites``) and AP ``invoices``.

Contract A5.4 (AP invoices), A5.5 (suppliers) and A5.8 (account combinations).

Suppliers
---------

``suppliers`` is read-only over REST (collection, item, ``expand=sites``,
``suppliers/{SupplierId}/child/sites``); the admin side creates and changes suppliers
(``FusionSandbox.upsert_supplier``, or ``POST /__sandbox__/fusion/resources/suppliers`` with the
sites inline). Header attributes: ``SupplierId`` (key), ``SupplierPartyId``, ``Supplier`` (the
name), ``SupplierNumber`` (text), ``AlternateName``, ``SupplierType``, ``Status``,
``BusinessRelationship`` (``Spend Authorized`` / ``Prospective``), ``TaxpayerId`` and the who
columns; ``LastUpdateDate`` is queryable and moves on every change. Child ``sites`` (key
``SupplierSiteId``): ``SupplierSite`` (the site code, e.g. ``MAIN-PAY``), ``ProcurementBU``,
``SupplierAddressId``, ``SitePurposePayFlag``, ``SitePurposePurchasingFlag``, ``InactiveDate`` and
``PaymentTerms``. **UNCONFIRMED** (contract A5.5): every name beyond ``SupplierId``,
``SupplierNumber``, ``Supplier`` and ``SupplierSiteId``, and the ``Status`` value set (the
stand-in uses ``ACTIVE`` / ``INACTIVE``). See :data:`SEEDED_SUPPLIERS` for the seed.

AP invoices
-----------

``invoices`` (key ``InvoiceId``) with child ``invoiceLines`` (key ``LineNumber``) and grandchild
``invoiceDistributions`` (key ``DistributionLineNumber``); ``expand=invoiceLines`` or
``expand=invoiceLines.invoiceDistributions`` inlines them. Operations: ``GET``, ``POST`` (with
lines and distributions), ``DELETE``, and ``PATCH`` of ``Description`` only (any other attribute
answers 400 naming it; lines cannot be changed). Lines and distributions exist only with their
invoice: posting one to an existing invoice answers 400. ``Upsert-Mode: true`` matches by
``InvoiceId`` only.

A create is refused (400: a ``text/plain`` message, or the framework-4 JSON payload, naming the
attribute and the value) when:

* ``InvoiceNumber``, ``InvoiceAmount``, ``InvoiceDate``, ``BusinessUnit``, ``SupplierSite``, a
  currency (``InvoiceCurrency``; ``InvoiceCurrencyCode`` is accepted on input and stored as
  ``InvoiceCurrency``) or both ``Supplier`` and ``SupplierNumber`` are missing;
* ``BusinessUnit`` is not a payables business unit (:attr:`PayablesSettings.business_units`);
* the supplier is unknown (looked up by ``SupplierNumber``, else by exact ``Supplier`` name), the
  two name different suppliers, or the supplier is not ``ACTIVE`` or is ``Prospective``
  (refusing prospective suppliers is the stand-in's choice, UNCONFIRMED);
* ``SupplierSite`` is not a site of the supplier, is not assigned to the invoice's business unit
  (the stand-in models Fusion's site assignments by the site's ``ProcurementBU``, UNCONFIRMED),
  is not a pay site, or is inactive on the invoice date (``InactiveDate`` on or before it);
* the currency is not one of :data:`.gl.CURRENCIES`, or an amount has more decimals than the
  currency allows (:func:`.receivables.currency_places`);
* another invoice has the same business unit, supplier and ``InvoiceNumber`` (compared
  case-insensitively) — and the same ``SupplierSite`` when :attr:`PayablesSettings.duplicate_scope`
  is ``supplier_site``;
* a line or distribution ``DistributionCombination`` is not an account combination of
  ``accountCombinationsLOV`` (segments joined by ``-``), is disabled, or is not active on the
  invoice date (:func:`.gl.combination_problem`, the rule Journal Import applies too; the
  stand-in refuses the invoice, its documented choice for contract A5.8);
* a line's explicit distributions do not add up to its ``LineAmount``.

Server-side defaults: ``InvoiceType`` ``Standard``, ``InvoiceSource`` ``Manual invoice entry``,
``AccountingDate`` and ``TermsDate`` the invoice date, ``PaymentCurrency`` the invoice currency,
``PaymentTerms`` the site's (``Immediate`` when the site has none), ``ProcurementBU`` the site's,
``Supplier``/``SupplierNumber`` the supplier's, ``ValidationStatus`` ``Not validated``,
``ApprovalStatus`` ``Required``, ``PaidStatus`` ``Unpaid``, ``AmountPaid`` 0, ``CanceledFlag``
false. A line's ``LineNumber`` is the next number, ``LineType`` ``Item`` and ``AccountingDate`` the
invoice's (a distribution's, its line's); a line with a ``DistributionCombination`` and no
distributions gets one ``Item`` distribution for its full amount. ``InvoiceAmount`` need not equal
the sum of the lines (Fusion holds such an invoice at validation; the stand-in does not validate).
Admin writes (``FusionSandbox.upsert("invoices", …)`` and the generic admin route) skip the rules
above but fill the same defaults.

**UNCONFIRMED** (contract A5.4): the attributes beyond Oracle's example (``TermsDate``,
``ValidationStatus``, ``ApprovalStatus``, ``PaidStatus``, ``AmountPaid``, ``CanceledFlag``) and
their value sets, the duplicate-number message and error codes (the stand-in's own), whether
uniqueness is per supplier or per supplier site (hence :attr:`PayablesSettings.duplicate_scope`),
whether Fusion accepts ``InvoiceCurrencyCode``, and which date Fusion checks site and account
validity against (the stand-in uses the invoice date). See :data:`SEEDED_AP_INVOICES`.
"""

from __future__ import annotations

import copy
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from datetime import date, datetime, timedelta
from decimal import Decimal
from typing import Any, Literal

from ml_connector_sandbox.systems.fusion.adf import (
    CRUD,
    READ_ONLY,
    AdfAttribute,
    AdfError,
    AdfResource,
    WriteContext,
    attr,
)
from ml_connector_sandbox.systems.fusion.gl import (
    CURRENCIES,
    FREIGHT_EXPENSE_ACCOUNT,
    FREIGHT_SALES_ACCOUNT,
    OFFICE_SUPPLIES_ENGINEERING_ACCOUNT,
    OFFICE_SUPPLIES_EXPENSE_ACCOUNT,
    PROFESSIONAL_FEES_EXPENSE_ACCOUNT,
    SEGMENT_DELIMITER,
    SEGMENTS,
    combination_problem,
    combinations_by_segments,
)
from ml_connector_sandbox.systems.fusion.receivables import currency_places
from ml_connector_sandbox.systems.fusion.values import format_timestamp, json_number

__all__ = [
    "AP_INVOICES_RESOURCE",
    "AP_INVOICE_DISTRIBUTIONS_NAME",
    "AP_INVOICE_DISTRIBUTIONS_RESOURCE",
    "AP_INVOICE_LINES_NAME",
    "AP_INVOICE_LINES_RESOURCE",
    "AP_INVOICE_RESOURCE_NAME",
    "PAYABLES_BUSINESS_UNITS",
    "PAYABLES_SETTINGS_KEY",
    "SEEDED_AP_INVOICES",
    "SEEDED_SUPPLIERS",
    "SUPPLIERS_RESOURCE",
    "SUPPLIER_RESOURCE_NAME",
    "SUPPLIER_SITES_NAME",
    "SUPPLIER_SITES_RESOURCE",
    "DuplicateScope",
    "PayablesSettings",
    "seed_ap_invoices",
    "seed_suppliers",
]

SUPPLIER_RESOURCE_NAME = "suppliers"
SUPPLIER_SITES_NAME = "sites"
AP_INVOICE_RESOURCE_NAME = "invoices"
AP_INVOICE_LINES_NAME = "invoiceLines"
AP_INVOICE_DISTRIBUTIONS_NAME = "invoiceDistributions"

#: The business units the stand-in's Payables accepts by default.
PAYABLES_BUSINESS_UNITS: tuple[str, ...] = ("US1 Business Unit", "US2 Business Unit", "DE1 Business Unit")
#: ``supplier``: an invoice number is unique per business unit and supplier (the default);
#: ``supplier_site``: per business unit, supplier and supplier site.
DuplicateScope = Literal["supplier", "supplier_site"]
#: Where the :class:`PayablesSettings` live in the stand-in's state (so a state reset restores them).
PAYABLES_SETTINGS_KEY = "_payablesSettings"

_ACTIVE = "ACTIVE"
_SPEND_AUTHORIZED = "Spend Authorized"
_PROSPECTIVE = "Prospective"
_DEFAULT_TERMS = "Immediate"

_SUPPLIER_ID_START = 300000048110001
_SUPPLIER_PARTY_ID_START = 300000048100001
_SITE_ID_START = 300000048120001
_ADDRESS_ID_START = 300000048130001
_INVOICE_ID_START = 300000048200001


# -- settings ---------------------------------------------------------------------------------------------


@dataclass(frozen=True)
class PayablesSettings:
    """What the stand-in's Payables does where the contract is UNCONFIRMED; tests change it through
    ``FusionSandbox.configure_payables(...)`` or ``POST /__sandbox__/fusion/payables/settings``
    (which validate it). It lives in the stand-in's state, so a state reset restores the defaults.

    :param business_units: the business units invoices may be entered in.
    :param duplicate_scope: ``supplier`` — an invoice number must be unique per business unit and
        supplier; ``supplier_site`` — per business unit, supplier and supplier site.
    """

    business_units: tuple[str, ...] = PAYABLES_BUSINESS_UNITS
    duplicate_scope: DuplicateScope = "supplier"

    def to_dict(self) -> dict[str, Any]:
        """The settings as JSON (what the admin API answers)."""
        return {"business_units": list(self.business_units), "duplicate_scope": self.duplicate_scope}


# -- helpers ----------------------------------------------------------------------------------------------


def _decimal(value: Any) -> Decimal:
    return Decimal(str(value))


def _check_places(value: Any, currency: str, what: str, path: str) -> None:
    """Refuse an amount with more decimals than ``currency`` has."""
    if value is None:
        return
    places = currency_places(currency)
    exponent = _decimal(value).normalize().as_tuple().exponent
    if isinstance(exponent, int) and exponent < -places:
        raise AdfError(
            400,
            f"The amount {value} of {what} has more decimal places than the currency {currency} "
            f"allows ({places}).",
            "INVALID_AMOUNT",
            path,
        )


def _day(value: Any) -> date:
    return date.fromisoformat(str(value))


def _stored(db: Mapping[str, Any], parent: Mapping[str, Any] | None) -> bool:
    """Whether ``parent`` (an invoice or an invoice line) is already stored."""
    for invoice in db.get(AP_INVOICE_RESOURCE_NAME, []):
        if invoice is parent:
            return True
        if any(line is parent for line in invoice.get(AP_INVOICE_LINES_NAME) or ()):
            return True
    return False


def _max_int(values: Iterable[Any], floor: int) -> int:
    return max([floor, *(v for v in values if isinstance(v, int) and not isinstance(v, bool))])


# -- suppliers --------------------------------------------------------------------------------------------


SUPPLIER_SITES_RESOURCE = AdfResource(
    name=SUPPLIER_SITES_NAME,
    key="SupplierSiteId",
    title="Supplier Sites",
    attributes=(
        attr("SupplierSiteId", "integer", generated=True),
        attr("SupplierSite", description="The site code, e.g. MAIN-PAY (UNCONFIRMED name)."),
        attr("ProcurementBU", description="UNCONFIRMED name: the procurement business unit of the site."),
        attr("SupplierAddressId", "integer", description="UNCONFIRMED name."),
        attr("SitePurposePayFlag", "boolean", description="UNCONFIRMED name: a pay site."),
        attr("SitePurposePurchasingFlag", "boolean", description="UNCONFIRMED name: a purchasing site."),
        attr("InactiveDate", "date", description="UNCONFIRMED name: inactive from this date on."),
        attr("PaymentTerms", description="UNCONFIRMED name: default terms of invoices for the site."),
    ),
    operations=READ_ONLY,
    id_start=_SITE_ID_START,
)

#: The seeded suppliers: supplier number → (``SupplierId``, name, what the supplier is there for).
SEEDED_SUPPLIERS: Mapping[str, tuple[int, str, str]] = {
    "1001": (300000048110001, "Crestline Office Supply Co.", "ordinary: one active pay site MAIN-PAY in US1"),
    "1002": (
        300000048110002,
        "Harborview Legal LLP",
        "ordinary: one active pay site MAIN-PAY in US1, 45 Net",
    ),
    "1003": (300000048110003, "Nimbus Cloud Software Inc.", "ordinary: one active pay site MAIN-PAY in US1"),
    "1004": (300000048110004, "Trailhead Travel Management", "ordinary: one active pay site MAIN-PAY in US1"),
    "1005": (
        300000048110005,
        "Keystone Freight Lines Inc.",
        "two active pay sites in US1 (DALLAS-PAY, NEWARK-PAY) and a purchasing-only site DALLAS-PUR",
    ),
    "1006": (
        300000048110006,
        "Brightwater Utilities Cooperative",
        "one pay site per business unit: MAIN-PAY in US1, US2-PAY in US2",
    ),
    "1007": (300000048110007, "Old Mill Printing Company", "INACTIVE supplier (its site is still active)"),
    "1008": (
        300000048110008,
        "Redwood Catering Services",
        "active supplier whose only site MAIN-PAY became inactive 45 days ago",
    ),
    "1009": (300000048110009, "Quantum Leap Consulting Group", "Prospective supplier without sites"),
}

#: Per seeded supplier: alternate name, supplier type, status, business relationship, taxpayer id,
#: days since created, days since last changed, and its sites as (site code, procurement BU, pay
#: flag, purchasing flag, days since inactive or ``None``, payment terms).
# fmt: off
_SUPPLIER_DETAILS: Mapping[str, tuple[Any, ...]] = {
    "1001": ("Crestline", "Supplier", "ACTIVE", "Spend Authorized", "41-1837265", 900, 21,
             (("MAIN-PAY", "US1 Business Unit", True, True, None, "30 Net"),)),
    "1002": (None, "Supplier", "ACTIVE", "Spend Authorized", "13-4409127", 700, 40,
             (("MAIN-PAY", "US1 Business Unit", True, False, None, "45 Net"),)),
    "1003": ("Nimbus Cloud", "Supplier", "ACTIVE", "Spend Authorized", "77-0392611", 420, 12,
             (("MAIN-PAY", "US1 Business Unit", True, True, None, "Immediate"),)),
    "1004": (None, "Supplier", "ACTIVE", "Spend Authorized", "84-2217390", 365, 33,
             (("MAIN-PAY", "US1 Business Unit", True, True, None, "30 Net"),)),
    "1005": ("Keystone Freight", "Supplier", "ACTIVE", "Spend Authorized", "75-3310842", 1200, 8,
             (("DALLAS-PAY", "US1 Business Unit", True, False, None, "30 Net"),
              ("NEWARK-PAY", "US1 Business Unit", True, False, None, "30 Net"),
              ("DALLAS-PUR", "US1 Business Unit", False, True, None, "30 Net"))),
    "1006": (None, "Supplier", "ACTIVE", "Spend Authorized", "91-1654208", 1500, 27,
             (("MAIN-PAY", "US1 Business Unit", True, False, None, "Immediate"),
              ("US2-PAY", "US2 Business Unit", True, False, None, "Immediate"))),
    "1007": (None, "Supplier", "INACTIVE", "Spend Authorized", "36-2904417", 2100, 60,
             (("MAIN-PAY", "US1 Business Unit", True, True, None, "30 Net"),)),
    "1008": (None, "Supplier", "ACTIVE", "Spend Authorized", "94-3021186", 800, 45,
             (("MAIN-PAY", "US1 Business Unit", True, True, 45, "30 Net"),)),
    "1009": ("Quantum Leap", "Supplier", "ACTIVE", "Prospective", None, 15, 15, ()),
}
# fmt: on


def seed_suppliers(now: datetime) -> list[dict[str, Any]]:
    """The suppliers of :data:`SEEDED_SUPPLIERS`, created years to days before ``now`` and last
    changed 8–60 days before it (not in key order); inactive dates are relative to ``now``.

    :param now: the sandbox time the seed is built at.
    """
    rows: list[dict[str, Any]] = []
    site_number = 0
    for number, (supplier_id, name, _story) in SEEDED_SUPPLIERS.items():
        alternate, kind, status, relationship, taxpayer, created, updated, sites = _SUPPLIER_DETAILS[number]
        created_at = format_timestamp(now - timedelta(days=created))
        updated_at = format_timestamp(now - timedelta(days=updated, hours=3, minutes=int(number) % 60))
        site_rows = []
        for code, bu, pay, purchasing, inactive_days, terms in sites:
            site_rows.append(
                {
                    "SupplierSiteId": _SITE_ID_START + site_number,
                    "SupplierSite": code,
                    "ProcurementBU": bu,
                    "SupplierAddressId": _ADDRESS_ID_START + site_number,
                    "SitePurposePayFlag": pay,
                    "SitePurposePurchasingFlag": purchasing,
                    "InactiveDate": (
                        None
                        if inactive_days is None
                        else (now.date() - timedelta(days=inactive_days)).isoformat()
                    ),
                    "PaymentTerms": terms,
                    "CreatedBy": "PROCUREMENT_MGR",
                    "CreationDate": created_at,
                    "LastUpdatedBy": "PROCUREMENT_MGR",
                    "LastUpdateDate": updated_at,
                }
            )
            site_number += 1
        rows.append(
            {
                "SupplierId": supplier_id,
                "SupplierPartyId": _SUPPLIER_PARTY_ID_START + (supplier_id - _SUPPLIER_ID_START),
                "Supplier": name,
                "SupplierNumber": number,
                "AlternateName": alternate,
                "SupplierType": kind,
                "Status": status,
                "BusinessRelationship": relationship,
                "TaxpayerId": taxpayer,
                "CreatedBy": "PROCUREMENT_MGR",
                "CreationDate": created_at,
                "LastUpdatedBy": "PROCUREMENT_MGR",
                "LastUpdateDate": updated_at,
                SUPPLIER_SITES_NAME: site_rows,
            }
        )
    return rows


def _complete_supplier(context: WriteContext) -> None:
    """``on_admin_upsert`` of ``suppliers``: what an admin create or change of a supplier stores.

    A new supplier needs ``Supplier`` (its name) and gets, unless given, the next
    ``SupplierPartyId`` and ``SupplierNumber``, ``SupplierType`` ``Supplier``, ``Status``
    ``ACTIVE`` and ``BusinessRelationship`` ``Spend Authorized``. Sites given under ``sites`` are
    merged into the supplier's: a site matching an existing one by ``SupplierSiteId``, else by
    ``SupplierSite`` (and ``ProcurementBU`` when given), is changed; any other is added with the
    next ``SupplierSiteId`` and ``SupplierAddressId`` (unique across suppliers) and, unless given,
    ``ProcurementBU`` ``US1 Business Unit``, both purpose flags true and no inactive date. Sites
    not mentioned are kept. Changed and new sites are stamped with the sandbox time and user.

    :raises AdfError: 400 for a new supplier without a name, sites that are not a list of
        objects, or a site attribute that does not exist.
    """
    values, existing = context.item, context.previous
    suppliers: list[Mapping[str, Any]] = context.db.get(SUPPLIER_RESOURCE_NAME, [])
    if existing is None:
        if not values.get("Supplier"):
            raise AdfError(
                400, "A new supplier needs a Supplier (its name).", "MANDATORY_ATTRIBUTE", "Supplier"
            )
        if values.get("SupplierPartyId") is None:
            party_ids = (row.get("SupplierPartyId") for row in suppliers)
            values["SupplierPartyId"] = _max_int(party_ids, _SUPPLIER_PARTY_ID_START - 1) + 1
        if values.get("SupplierNumber") is None:
            numbers = [
                int(row["SupplierNumber"]) for row in suppliers if str(row.get("SupplierNumber")).isdigit()
            ]
            values["SupplierNumber"] = str(max(numbers, default=1000) + 1)
        values.setdefault("SupplierType", "Supplier")
        values.setdefault("Status", _ACTIVE)
        values.setdefault("BusinessRelationship", _SPEND_AUTHORIZED)
    given_sites = values.get(SUPPLIER_SITES_NAME)
    if given_sites is None:
        values.pop(SUPPLIER_SITES_NAME, None)
        return
    if not isinstance(given_sites, list) or not all(isinstance(site, dict) for site in given_sites):
        raise AdfError(
            400, f"{SUPPLIER_SITES_NAME} must be a list of objects.", "INVALID_VALUE", SUPPLIER_SITES_NAME
        )
    known = SUPPLIER_SITES_RESOURCE.attribute_map
    sites: list[dict[str, Any]] = copy.deepcopy(list((existing or {}).get(SUPPLIER_SITES_NAME) or []))
    every_site = [site for row in suppliers for site in row.get(SUPPLIER_SITES_NAME) or ()]
    stamp = format_timestamp(context.now)
    for site_values in given_sites:
        unknown = sorted(set(site_values) - set(known))
        if unknown:
            raise AdfError(
                400,
                f"Attributes not defined for resource {SUPPLIER_SITES_NAME}: {', '.join(unknown)}.",
                "INVALID_ATTRIBUTE",
            )
        match = _match_site(sites, site_values)
        if match is None:
            match = {
                "SupplierSiteId": _max_int(
                    (s.get("SupplierSiteId") for s in (*every_site, *sites)), _SITE_ID_START - 1
                )
                + 1,
                "SupplierAddressId": _max_int(
                    (s.get("SupplierAddressId") for s in (*every_site, *sites)), _ADDRESS_ID_START - 1
                )
                + 1,
                "ProcurementBU": PAYABLES_BUSINESS_UNITS[0],
                "SitePurposePayFlag": True,
                "SitePurposePurchasingFlag": True,
                "CreatedBy": context.user,
                "CreationDate": stamp,
            }
            sites.append(match)
        match.update(site_values)
        if "LastUpdateDate" not in site_values:
            match["LastUpdateDate"] = stamp
        if "LastUpdatedBy" not in site_values:
            match["LastUpdatedBy"] = context.user
    values[SUPPLIER_SITES_NAME] = sites


def _match_site(sites: Sequence[dict[str, Any]], values: Mapping[str, Any]) -> dict[str, Any] | None:
    site_id = values.get("SupplierSiteId")
    if site_id is not None:
        return next((site for site in sites if str(site.get("SupplierSiteId")) == str(site_id)), None)
    code = values.get("SupplierSite")
    if code is None:
        return None
    bu = values.get("ProcurementBU")
    return next(
        (
            site
            for site in sites
            if site.get("SupplierSite") == code and (bu is None or site.get("ProcurementBU") == bu)
        ),
        None,
    )


SUPPLIERS_RESOURCE = AdfResource(
    name=SUPPLIER_RESOURCE_NAME,
    key="SupplierId",
    title="Suppliers",
    attributes=(
        attr("SupplierId", "integer", generated=True),
        attr("SupplierPartyId", "integer", description="UNCONFIRMED name."),
        attr("Supplier", description="The supplier's name."),
        attr("SupplierNumber"),
        attr("AlternateName", description="UNCONFIRMED name."),
        attr("SupplierType", description="UNCONFIRMED name."),
        attr("Status", description="UNCONFIRMED name and values: ACTIVE or INACTIVE."),
        attr("BusinessRelationship", description="UNCONFIRMED name: Spend Authorized or Prospective."),
        attr("TaxpayerId", description="UNCONFIRMED name."),
    ),
    children=(SUPPLIER_SITES_RESOURCE,),
    operations=READ_ONLY,
    alternate_keys=(("SupplierNumber",),),
    on_admin_upsert=_complete_supplier,
    seed=seed_suppliers,
    id_start=_SUPPLIER_ID_START,
)


# -- AP invoices: declarations ----------------------------------------------------------------------------


def _on_create_child(context: WriteContext) -> None:
    """Lines and distributions are created with their invoice only."""
    if _stored(context.db, context.parent):
        raise AdfError(
            400,
            f"The stand-in creates {context.resource.name} only together with their invoice: send them "
            f"inline in POST {AP_INVOICE_RESOURCE_NAME}.",
            "INVALID_OPERATION",
            context.resource.name,
        )


AP_INVOICE_DISTRIBUTIONS_RESOURCE = AdfResource(
    name=AP_INVOICE_DISTRIBUTIONS_NAME,
    key="DistributionLineNumber",
    title="Invoice Distributions",
    attributes=(
        attr("DistributionLineNumber", "integer", updatable=False),
        attr("DistributionLineType", updatable=False, default="Item"),
        attr("DistributionAmount", "number", updatable=False, mandatory=True),
        attr(
            "DistributionCombination",
            updatable=False,
            mandatory=True,
            description="Account combination, segments joined by '-'.",
        ),
        attr("AccountingDate", "date", updatable=False),
    ),
    operations=frozenset({"get", "create"}),
    on_create=_on_create_child,
    id_start=1,
)

AP_INVOICE_LINES_RESOURCE = AdfResource(
    name=AP_INVOICE_LINES_NAME,
    key="LineNumber",
    title="Invoice Lines",
    attributes=(
        attr("LineNumber", "integer", updatable=False),
        attr("LineType", updatable=False, default="Item"),
        attr("LineAmount", "number", updatable=False, mandatory=True),
        attr("Description", updatable=False),
        attr(
            "DistributionCombination",
            updatable=False,
            description="Account combination the line's distribution is generated for.",
        ),
        attr("AccountingDate", "date", updatable=False),
    ),
    children=(AP_INVOICE_DISTRIBUTIONS_RESOURCE,),
    operations=frozenset({"get", "create"}),
    on_create=_on_create_child,
    id_start=1,
)


def _fixed(name: str, type_: Any = "string", **options: Any) -> AdfAttribute:
    return attr(name, type_, updatable=False, **options)


def _server(name: str, type_: Any = "string", **options: Any) -> AdfAttribute:
    return attr(name, type_, updatable=False, generated=True, **options)


# -- AP invoices: the create rules ------------------------------------------------------------------------


def _suppliers_named(db: Mapping[str, Any], number: Any, name: Any) -> list[Mapping[str, Any]]:
    """The suppliers an invoice names: by ``SupplierNumber`` when given, else by exact ``Supplier``."""
    suppliers: list[Mapping[str, Any]] = db.get(SUPPLIER_RESOURCE_NAME, [])
    if number is not None:
        return [row for row in suppliers if row.get("SupplierNumber") == str(number)]
    return [row for row in suppliers if name is not None and row.get("Supplier") == name]


def _sites_coded(supplier: Mapping[str, Any], code: Any) -> list[Mapping[str, Any]]:
    """The sites of ``supplier`` whose ``SupplierSite`` is ``code``."""
    return [site for site in supplier.get(SUPPLIER_SITES_NAME) or () if site.get("SupplierSite") == code]


def _resolve_supplier(item: Mapping[str, Any], db: Mapping[str, Any]) -> Mapping[str, Any]:
    number, name = item.get("SupplierNumber"), item.get("Supplier")
    path = "SupplierNumber" if number is not None else "Supplier"
    named = _suppliers_named(db, number, name)
    if not named:
        given = f"supplier number {number}" if number is not None else f"supplier {name}"
        raise AdfError(400, f"The {given} is not valid.", "INVALID_SUPPLIER", path)
    if len(named) > 1:
        raise AdfError(
            400,
            f"More than one supplier is named {name}; identify the supplier by SupplierNumber.",
            "INVALID_SUPPLIER",
            path,
        )
    supplier = named[0]
    if number is not None and name is not None and supplier.get("Supplier") != name:
        raise AdfError(
            400,
            f"The supplier {name} does not match supplier number {number} ({supplier.get('Supplier')}).",
            "SUPPLIER_MISMATCH",
            "Supplier",
        )
    label = f"{supplier.get('Supplier')} (supplier number {supplier.get('SupplierNumber')})"
    if supplier.get("Status") != _ACTIVE:
        raise AdfError(
            400,
            f"The supplier {label} is inactive (Status {supplier.get('Status')}); invoices cannot be entered for it.",
            "INACTIVE_SUPPLIER",
            path,
        )
    if supplier.get("BusinessRelationship") == _PROSPECTIVE:
        raise AdfError(
            400,
            f"The supplier {label} is a prospective supplier and is not spend authorized; invoices cannot be "
            "entered for it.",
            "INACTIVE_SUPPLIER",
            path,
        )
    return supplier


def _resolve_site(
    item: Mapping[str, Any], supplier: Mapping[str, Any], invoice_date: date
) -> Mapping[str, Any]:
    code = item["SupplierSite"]
    business_unit = item["BusinessUnit"]
    procurement_bu = item.get("ProcurementBU")
    label = f"{supplier.get('Supplier')} (supplier number {supplier.get('SupplierNumber')})"
    candidates = [
        site
        for site in _sites_coded(supplier, code)
        if procurement_bu is None or site.get("ProcurementBU") == procurement_bu
    ]
    if not candidates:
        where = f" in procurement business unit {procurement_bu}" if procurement_bu is not None else ""
        raise AdfError(
            400,
            f"The supplier site {code} is not a site of supplier {label}{where}.",
            "INVALID_SUPPLIER_SITE",
            "SupplierSite",
        )
    site = next((s for s in candidates if s.get("ProcurementBU") == business_unit), None)
    if site is None:
        raise AdfError(
            400,
            f"The supplier site {code} of supplier {label} is not assigned to business unit {business_unit}.",
            "INVALID_SUPPLIER_SITE",
            "SupplierSite",
        )
    if not site.get("SitePurposePayFlag"):
        raise AdfError(
            400,
            f"The supplier site {code} of supplier {label} is not a pay site.",
            "INVALID_SUPPLIER_SITE",
            "SupplierSite",
        )
    inactive = site.get("InactiveDate")
    if inactive is not None and _day(inactive) <= invoice_date:
        raise AdfError(
            400,
            f"The supplier site {code} of supplier {label} is inactive since {inactive} "
            f"(invoice date {invoice_date.isoformat()}).",
            "INACTIVE_SUPPLIER_SITE",
            "SupplierSite",
        )
    return site


def _check_currencies(item: Mapping[str, Any]) -> None:
    for name in ("InvoiceCurrency", "PaymentCurrency"):
        value = item.get(name)
        if value is not None and value not in CURRENCIES:
            raise AdfError(
                400,
                f"The currency {value} of attribute {name} is not valid; enabled currencies: {', '.join(CURRENCIES)}.",
                "INVALID_CURRENCY",
                name,
            )


def _find_duplicate(
    item: Mapping[str, Any], invoices: Iterable[Mapping[str, Any]], scope: DuplicateScope
) -> Mapping[str, Any] | None:
    number = str(item["InvoiceNumber"]).casefold()
    for other in invoices:
        if other is item:
            continue
        if (
            other.get("BusinessUnit") == item["BusinessUnit"]
            and other.get("SupplierNumber") == item["SupplierNumber"]
            and str(other.get("InvoiceNumber") or "").casefold() == number
            and (scope == "supplier" or other.get("SupplierSite") == item["SupplierSite"])
        ):
            return other
    return None


def _duplicate_error(item: Mapping[str, Any], scope: DuplicateScope) -> AdfError:
    supplier = f"supplier {item['Supplier']} (supplier number {item['SupplierNumber']})"
    if scope == "supplier_site":
        where = f"{supplier}, supplier site {item['SupplierSite']}, in business unit {item['BusinessUnit']}"
        rule = "The invoice number must be unique for the supplier site."
    else:
        where = f"{supplier} in business unit {item['BusinessUnit']}"
        rule = "The invoice number must be unique for the supplier."
    return AdfError(
        400,
        f"The invoice number {item['InvoiceNumber']} already exists for {where}. {rule}",
        "DUPLICATE_INVOICE_NUMBER",
        "InvoiceNumber",
    )


def _check_combination(
    combinations: Mapping[tuple[str, ...], Mapping[str, Any]],
    text: Any,
    on_date: date,
    where: str,
) -> None:
    """Refuse a ``DistributionCombination`` Journal Import would reject (:func:`.gl.combination_problem`)."""
    combination = combinations.get(tuple(str(text).split(SEGMENT_DELIMITER)))
    problem = combination_problem(combination, on_date)
    if problem is None:
        return
    if problem == "unknown":
        reason = (
            f"is not an account combination of the chart of accounts ({len(SEGMENTS)} segments joined by "
            f"'{SEGMENT_DELIMITER}')"
        )
    elif problem == "disabled":
        reason = "is disabled"
    else:
        assert combination is not None
        start, end = combination.get("StartDateActive"), combination.get("EndDateActive")
        reason = (
            f"is not active on {on_date.isoformat()} "
            f"(active from {start or 'the beginning'} to {end or 'no end date'})"
        )
    raise AdfError(
        400,
        f"The distribution combination {text} on {where} {reason}.",
        "INVALID_DISTRIBUTION_COMBINATION",
        "DistributionCombination",
    )


def _check_lines(item: Mapping[str, Any], db: Mapping[str, Any], invoice_date: date) -> None:
    """The create rules of the lines and distributions: amounts fit the currency, combinations
    are usable on the invoice date, and explicit distributions add up to their line."""
    currency = item["InvoiceCurrency"]
    combinations = combinations_by_segments(db)
    for line in item.get(AP_INVOICE_LINES_NAME) or ():
        where = f"invoice line {line['LineNumber']}"
        _check_places(line.get("LineAmount"), currency, f"LineAmount of {where}", "LineAmount")
        if line.get("DistributionCombination") is not None:
            _check_combination(combinations, line["DistributionCombination"], invoice_date, where)
        distributions = line.get(AP_INVOICE_DISTRIBUTIONS_NAME) or []
        for distribution in distributions:
            inner = f"distribution {distribution['DistributionLineNumber']} of {where}"
            _check_places(
                distribution.get("DistributionAmount"),
                currency,
                f"DistributionAmount of {inner}",
                "DistributionAmount",
            )
            _check_combination(combinations, distribution["DistributionCombination"], invoice_date, inner)
        if distributions:
            total = sum((_decimal(d["DistributionAmount"]) for d in distributions), Decimal(0))
            if total != _decimal(line["LineAmount"]):
                raise AdfError(
                    400,
                    f"The distributions of {where} total {json_number(total)}, not the line amount "
                    f"{line['LineAmount']}.",
                    "DISTRIBUTION_TOTAL_MISMATCH",
                    AP_INVOICE_DISTRIBUTIONS_NAME,
                )


def _on_create_invoice(context: WriteContext) -> None:
    item, db = context.item, context.db
    settings: PayablesSettings = db[PAYABLES_SETTINGS_KEY]
    _check_currencies(item)
    if item.get("Supplier") is None and item.get("SupplierNumber") is None:
        raise AdfError(
            400,
            f"Attribute SupplierNumber or Supplier in resource {AP_INVOICE_RESOURCE_NAME} is required.",
            "MANDATORY_ATTRIBUTE",
            "SupplierNumber",
        )
    business_unit = item["BusinessUnit"]
    if business_unit not in settings.business_units:
        raise AdfError(
            400,
            f"The business unit {business_unit} is not valid for Payables; use one of "
            f"{', '.join(settings.business_units)}.",
            "INVALID_BUSINESS_UNIT",
            "BusinessUnit",
        )
    invoice_date = _day(item["InvoiceDate"])
    supplier = _resolve_supplier(item, db)
    site = _resolve_site(item, supplier, invoice_date)
    item["Supplier"] = supplier.get("Supplier")
    item["SupplierNumber"] = supplier.get("SupplierNumber")
    item["ProcurementBU"] = site.get("ProcurementBU")
    _check_places(item["InvoiceAmount"], item["InvoiceCurrency"], "InvoiceAmount", "InvoiceAmount")
    if _find_duplicate(item, db.get(AP_INVOICE_RESOURCE_NAME, []), settings.duplicate_scope) is not None:
        raise _duplicate_error(item, settings.duplicate_scope)
    _check_lines(item, db, invoice_date)
    _fill_defaults(item, site)
    _fill_lines(item, item[AP_INVOICE_LINES_NAME], context.now, context.user)


def _on_update_invoice(context: WriteContext) -> None:
    for child in context.resource.children:
        if child.name in context.payload:
            raise AdfError(
                400,
                f"The child {child.name} cannot be changed when an invoice is updated; the stand-in "
                "updates the invoice Description only.",
                "READ_ONLY_ATTRIBUTE",
                child.name,
            )


# -- AP invoices: defaults (REST, admin and seed) -------------------------------------------------------


def _fill_defaults(item: dict[str, Any], site: Mapping[str, Any] | None) -> None:
    """The server-side defaults of a new invoice header, in place (given values are kept)."""
    defaults: dict[str, Any] = {
        "InvoiceType": "Standard",
        "InvoiceSource": "Manual invoice entry",
        "AccountingDate": item.get("InvoiceDate"),
        "TermsDate": item.get("InvoiceDate"),
        "PaymentCurrency": item.get("InvoiceCurrency"),
        "PaymentTerms": (site or {}).get("PaymentTerms") or _DEFAULT_TERMS,
        "ValidationStatus": "Not validated",
        "ApprovalStatus": "Required",
        "PaidStatus": "Unpaid",
        "AmountPaid": 0,
        "CanceledFlag": False,
    }
    for name, value in defaults.items():
        if item.get(name) is None:
            item[name] = value


def _fill_lines(header: Mapping[str, Any], lines: Iterable[dict[str, Any]], now: datetime, user: str) -> None:
    """What lines and distributions take from above, in place: a line's ``AccountingDate`` is the
    invoice's, a distribution's its line's; a line with a ``DistributionCombination`` and no
    distributions gets one ``Item`` distribution for its full amount (who columns ``now``/``user``)."""
    for line in lines:
        if line.get("AccountingDate") is None:
            line["AccountingDate"] = header.get("AccountingDate") or header.get("InvoiceDate")
        distributions: list[dict[str, Any]] = line.get(AP_INVOICE_DISTRIBUTIONS_NAME) or []
        for distribution in distributions:
            if distribution.get("AccountingDate") is None:
                distribution["AccountingDate"] = line["AccountingDate"]
        if (
            not distributions
            and line.get("DistributionCombination") is not None
            and line.get("LineAmount") is not None
        ):
            distributions.append(_generated_distribution(line, now, user))
        line[AP_INVOICE_DISTRIBUTIONS_NAME] = distributions


def _generated_distribution(line: Mapping[str, Any], now: datetime, user: str) -> dict[str, Any]:
    stamp = format_timestamp(now)
    row: dict[str, Any] = {a.name: None for a in AP_INVOICE_DISTRIBUTIONS_RESOURCE.all_attributes}
    row.update(
        {
            "DistributionLineNumber": 1,
            "DistributionLineType": "Item",
            "DistributionAmount": line["LineAmount"],
            "DistributionCombination": line["DistributionCombination"],
            "AccountingDate": line["AccountingDate"],
            "CreatedBy": user,
            "CreationDate": stamp,
            "LastUpdatedBy": user,
            "LastUpdateDate": stamp,
        }
    )
    return row


def _lenient_site(values: dict[str, Any], db: Mapping[str, Any]) -> Mapping[str, Any] | None:
    """Fill a new invoice's ``Supplier``, ``SupplierNumber`` and ``ProcurementBU`` from its
    supplier and site when they exist (nothing is refused); the site, preferably the one in the
    invoice's business unit."""
    named = _suppliers_named(db, values.get("SupplierNumber"), values.get("Supplier"))
    if not named:
        return None
    supplier = named[0]
    values.setdefault("Supplier", supplier.get("Supplier"))
    values.setdefault("SupplierNumber", supplier.get("SupplierNumber"))
    sites = _sites_coded(supplier, values.get("SupplierSite"))
    site = next((s for s in sites if s.get("ProcurementBU") == values.get("BusinessUnit")), None)
    site = site or next(iter(sites), None)
    if site is not None and values.get("ProcurementBU") is None:
        values["ProcurementBU"] = site.get("ProcurementBU")
    return site


def _complete_admin_invoice(context: WriteContext) -> None:
    """``on_admin_upsert`` of ``invoices``: what an admin create or change stores (no business
    rule is checked).

    A new invoice gets the REST defaults where the values leave them out (the supplier's and
    site's data when they exist; unknown ones are accepted here). Given ``invoiceLines`` replace
    the invoice's: lines and distributions without a number get the next one, and
    :func:`_fill_lines` completes them.

    :raises AdfError: 400 when ``invoiceLines`` or ``invoiceDistributions`` are not lists of objects.
    """
    values = context.item
    if context.previous is None:
        _fill_defaults(values, _lenient_site(values, context.db))
    lines = values.get(AP_INVOICE_LINES_NAME)
    if lines is None:
        return
    _number_rows(lines, AP_INVOICE_LINES_NAME, "LineNumber")
    for line in lines:
        distributions = line.get(AP_INVOICE_DISTRIBUTIONS_NAME)
        if distributions:
            _number_rows(distributions, AP_INVOICE_DISTRIBUTIONS_NAME, "DistributionLineNumber")
    _fill_lines({**(context.previous or {}), **values}, lines, context.now, context.user)


def _number_rows(rows: Any, name: str, key: str) -> None:
    if not isinstance(rows, list) or not all(isinstance(row, dict) for row in rows):
        raise AdfError(400, f"{name} must be a list of objects.", "INVALID_VALUE", name)
    for row in rows:
        if row.get(key) is None:
            row[key] = _max_int((other.get(key) for other in rows), 0) + 1


# -- AP invoices: seed ------------------------------------------------------------------------------------


#: The seeded AP invoices, entered by hand in US1 Business Unit: invoice number → (``InvoiceId``,
#: supplier number, what the invoice is there for). Details in :func:`seed_ap_invoices`.
SEEDED_AP_INVOICES: Mapping[str, tuple[int, str, str]] = {
    "CR-20931": (
        300000048200001,
        "1001",
        "USD 1,284.50 office supplies, two lines (cost centres 110 and 120), validated and approved, "
        "unpaid — the number tests re-send (also as cr-20931) to prove duplicate rejection",
    ),
    "HV-2025-118": (
        300000048200002,
        "1002",
        "USD 7,500.00 legal fees, one line, validated, approved and paid",
    ),
    "KF-558120": (
        300000048200003,
        "1005",
        "USD 880.00 freight at site NEWARK-PAY, one line split into two distributions (110 and 130), "
        "not yet validated — the same number at DALLAS-PAY is a duplicate only per supplier",
    ),
}

#: Per seeded invoice: site, days since the invoice date, days since last changed, description,
#: header values other than the defaults, and lines as (description, amount, combination,
#: distributions as (amount, combination) or empty for one generated distribution).
# fmt: off
_AP_SEED_DETAILS: Mapping[str, tuple[Any, ...]] = {
    "CR-20931": ("MAIN-PAY", 20, 18, "Office supplies restock",
                 {"ValidationStatus": "Validated", "ApprovalStatus": "Approved"},
                 (("Printer paper and toner, 40 cases", 846.5, OFFICE_SUPPLIES_EXPENSE_ACCOUNT, ()),
                  ("Ergonomic chairs, engineering floor", 438, OFFICE_SUPPLIES_ENGINEERING_ACCOUNT, ()))),
    "HV-2025-118": ("MAIN-PAY", 35, 4, "Contract review, master services agreement",
                    {"ValidationStatus": "Validated", "ApprovalStatus": "Approved", "PaidStatus": "Paid",
                     "AmountPaid": 7500},
                    (("Legal services, 25 hours", 7500, PROFESSIONAL_FEES_EXPENSE_ACCOUNT, ()),)),
    "KF-558120": ("NEWARK-PAY", 6, 5, "Inbound freight, pallets from Newark", {},
                  (("Freight, 4 pallets", 880, None, ((500, FREIGHT_EXPENSE_ACCOUNT),
                                                      (380, FREIGHT_SALES_ACCOUNT))),)),
}
# fmt: on


def seed_ap_invoices(now: datetime) -> list[dict[str, Any]]:
    """The AP invoices of :data:`SEEDED_AP_INVOICES`, dated 6–35 days before ``now`` and last
    changed 4–18 days before it, for the seeded suppliers (:func:`seed_suppliers`).

    :param now: the sandbox time the seed is built at.
    """
    suppliers = {SUPPLIER_RESOURCE_NAME: seed_suppliers(now)}
    rows: list[dict[str, Any]] = []
    for number, (invoice_id, supplier_number, _story) in SEEDED_AP_INVOICES.items():
        site_code, age, updated, description, header, lines = _AP_SEED_DETAILS[number]
        created = now - timedelta(days=age - 1, hours=5)
        who = {
            "CreatedBy": "AP_SPECIALIST",
            "CreationDate": format_timestamp(created),
            "LastUpdatedBy": "AP_SPECIALIST",
            "LastUpdateDate": format_timestamp(created),
        }
        item: dict[str, Any] = {
            "InvoiceId": invoice_id,
            "InvoiceNumber": number,
            "InvoiceCurrency": "USD",
            "InvoiceAmount": json_number(sum((_decimal(line[1]) for line in lines), Decimal(0))),
            "InvoiceDate": (now.date() - timedelta(days=age)).isoformat(),
            "BusinessUnit": PAYABLES_BUSINESS_UNITS[0],
            "SupplierNumber": supplier_number,
            "SupplierSite": site_code,
            "Description": description,
            **header,
            **who,
            "LastUpdateDate": format_timestamp(now - timedelta(days=updated, hours=2, minutes=age)),
            AP_INVOICE_LINES_NAME: [
                {
                    "LineNumber": line_number,
                    "LineAmount": amount,
                    "Description": text,
                    "DistributionCombination": combination,
                    **who,
                    AP_INVOICE_DISTRIBUTIONS_NAME: [
                        {
                            "DistributionLineNumber": n,
                            "DistributionAmount": part_amount,
                            "DistributionCombination": part_combination,
                            **who,
                        }
                        for n, (part_amount, part_combination) in enumerate(splits, start=1)
                    ],
                }
                for line_number, (text, amount, combination, splits) in enumerate(lines, start=1)
            ],
        }
        _fill_defaults(item, _lenient_site(item, suppliers))
        _fill_lines(item, item[AP_INVOICE_LINES_NAME], created, "AP_SPECIALIST")
        rows.append(item)
    return rows


AP_INVOICES_RESOURCE = AdfResource(
    name=AP_INVOICE_RESOURCE_NAME,
    key="InvoiceId",
    title="Invoices",
    attributes=(
        attr("InvoiceId", "integer", generated=True),
        _fixed("InvoiceNumber", mandatory=True),
        _fixed(
            "InvoiceCurrency",
            mandatory=True,
            description="Also accepted as InvoiceCurrencyCode (UNCONFIRMED on Fusion).",
        ),
        _fixed("PaymentCurrency"),
        _fixed("InvoiceAmount", "number", mandatory=True),
        _fixed("InvoiceDate", "date", mandatory=True),
        _fixed("BusinessUnit", mandatory=True),
        _fixed("Supplier", description="The supplier's name."),
        _fixed("SupplierNumber"),
        _fixed("ProcurementBU"),
        _fixed("SupplierSite", mandatory=True, description="The site code of the supplier's pay site."),
        _fixed("InvoiceGroup"),
        _fixed("AccountingDate", "date"),
        attr("Description"),
        _fixed("InvoiceSource"),
        _fixed("InvoiceType"),
        _fixed("PaymentTerms"),
        _fixed("TermsDate", "date", description="UNCONFIRMED name."),
        _server("ValidationStatus", description="UNCONFIRMED name and values: Not validated, Validated, …"),
        _server("ApprovalStatus", description="UNCONFIRMED name and values: Required, Approved, …"),
        _server("PaidStatus", description="UNCONFIRMED name and values: Unpaid, Paid, Partially paid."),
        _server("AmountPaid", "number", description="UNCONFIRMED name."),
        _server("CanceledFlag", "boolean", description="UNCONFIRMED name."),
    ),
    children=(AP_INVOICE_LINES_RESOURCE,),
    operations=CRUD,
    input_aliases=(("InvoiceCurrencyCode", "InvoiceCurrency"),),
    on_create=_on_create_invoice,
    on_update=_on_update_invoice,
    on_admin_upsert=_complete_admin_invoice,
    seed=seed_ap_invoices,
    id_start=_INVOICE_ID_START,
)
