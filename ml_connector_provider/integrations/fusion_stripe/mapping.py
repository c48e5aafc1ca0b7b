"""Pure mappings of the ``fusion_stripe`` integration: Oracle Fusion records → Stripe payloads.

No I/O here. Each function takes a Fusion record (as returned by the REST API, ``onlyData``) and
returns a :class:`~ml_connector_provider.engine.types.Write`, :class:`Skip` or :class:`DeadLetter`.
"""

from __future__ import annotations

import re
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from datetime import UTC, date, datetime, time
from decimal import Decimal
from typing import Any

from ml_connector_provider.engine.types import DeadLetter, MapResult, Skip, Write
from ml_connector_provider.formats.money import (
    MoneyError,
    as_decimal,
    from_stripe_minor_units,
    to_stripe_minor_units,
)

# Stripe limits (API reference): customer name and description ≤ 256 characters here by policy,
# metadata values ≤ 500 characters, keys ≤ 40.
_MAX_NAME = 256
_MAX_METADATA_VALUE = 500
_EMAIL = re.compile(r"^[^@\s]+@[^@\s]+\.[^@\s]+$")
_COUNTRY = re.compile(r"^[A-Z]{2}$")
_INACTIVE = {"I", "INACTIVE"}
_ADDRESS_FIELDS = ("line1", "line2", "city", "state", "postal_code", "country")


def customer_metadata_keys(prefix: str) -> dict[str, str]:
    """Names of the Stripe metadata keys that carry the Fusion ids of a customer."""
    return {
        "site_use_id": f"{prefix}bill_to_site_use_id",
        "site_number": f"{prefix}bill_to_site_number",
        "account_number": f"{prefix}account_number",
        "account_id": f"{prefix}account_id",
        "business_unit": f"{prefix}business_unit",
    }


class _WrongType(Exception):
    """A Fusion attribute holds a value of a type it cannot have (an object, an array, a boolean
    where text or a number belongs); the public mappings turn it into a dead letter."""

    def __init__(self, name: str, value: Any) -> None:
        kind = (
            "an object"
            if isinstance(value, Mapping)
            else "an array"
            if isinstance(value, list)
            else "a boolean"
        )
        shown = repr(value)
        super().__init__(
            f"{name} is {kind} ({shown if len(shown) <= 60 else shown[:59] + '…'}), not a text or number"
        )
        self.name = name


def _text(record: Mapping[str, Any], name: str) -> str | None:
    value = record.get(name)
    if value is None:
        return None
    if isinstance(value, Mapping | list | bool):
        raise _WrongType(name, value)
    text = str(value).strip()
    return text or None


def _wrong_type(error: _WrongType, what: str, field: str | None = None) -> DeadLetter:
    return DeadLetter(f"{what}: {error}", field=field or error.name)


def map_customer(
    record: Mapping[str, Any],
    *,
    metadata_prefix: str = "fusion_",
    business_units: Sequence[str] = (),
) -> MapResult:
    """Map a Fusion customer bill-to site to Stripe customer parameters (see :func:`_map_customer`);
    an attribute of the wrong type (an object, an array, a boolean) is a dead letter naming it."""
    try:
        return _map_customer(record, metadata_prefix=metadata_prefix, business_units=business_units)
    except _WrongType as error:
        return _wrong_type(error, "the Fusion customer row has an attribute of the wrong type")


def _map_customer(
    record: Mapping[str, Any],
    *,
    metadata_prefix: str = "fusion_",
    business_units: Sequence[str] = (),
) -> MapResult:
    """Map a Fusion customer bill-to site (``receivablesCustomerAccountSiteActivities``) to Stripe
    customer parameters.

    One Stripe customer per bill-to site, because a Stripe customer has one billing address and
    Fusion invoices name their bill-to site. The Fusion ids go into the customer's metadata so the
    link is visible from Stripe too.

    :param record: the Fusion row.
    :param metadata_prefix: prefix of the metadata keys carrying Fusion ids.
    :param business_units: when not empty, only sites of these business units are synced.
    """
    site_use_id = _text(record, "BillToSiteUseId")
    if site_use_id is None:
        return DeadLetter("the Fusion row has no bill-to site use id", field="BillToSiteUseId")
    status = (_text(record, "Status") or "A").upper()
    if status in _INACTIVE:
        return Skip("bill-to site is inactive in Fusion")
    business_unit = _text(record, "BusinessUnit")
    if business_units and business_unit not in business_units:
        return Skip(f"business unit {business_unit or '(none)'} is not synced for this tenant")

    name = _text(record, "CustomerName") or _text(record, "AccountName")
    if name is None:
        return DeadLetter("the customer has no name", field="CustomerName")
    if len(name) > _MAX_NAME:
        name = name[: _MAX_NAME - 1] + "…"

    email = _text(record, "EmailAddress")
    if email is not None and not _EMAIL.match(email):
        return DeadLetter(f"e-mail address {email!r} is not valid", field="EmailAddress")

    address: dict[str, str] = {}
    line1 = _text(record, "AddressLine1")
    rest = [t for t in (_text(record, f"AddressLine{i}") for i in (2, 3, 4)) if t]
    if line1:
        address["line1"] = line1
    if rest:
        address["line2"] = ", ".join(rest)
    for target, source in (("city", "City"), ("postal_code", "PostalCode")):
        value = _text(record, source)
        if value:
            address[target] = value
    region = _text(record, "State") or _text(record, "Province")
    if region:
        address["state"] = region
    country = _text(record, "Country")
    if country is not None:
        country = country.upper()
        if not _COUNTRY.match(country):
            return DeadLetter(f"country {country!r} is not an ISO 3166-1 alpha-2 code", field="Country")
        address["country"] = country

    keys = customer_metadata_keys(metadata_prefix)
    metadata = {
        keys["site_use_id"]: site_use_id,
        keys["site_number"]: _text(record, "BillToSiteNumber") or "",
        keys["account_number"]: _text(record, "AccountNumber") or "",
        keys["account_id"]: _text(record, "AccountId") or "",
        keys["business_unit"]: business_unit or "",
    }
    metadata = {k: v[:_MAX_METADATA_VALUE] for k, v in metadata.items() if v}

    account_number = _text(record, "AccountNumber")
    site_number = _text(record, "BillToSiteNumber")
    description = "Oracle Fusion customer"
    if account_number:
        description += f" account {account_number}"
    if site_number:
        description += f", bill-to site {site_number}"

    # Every field is sent, empty ones as "": Stripe merges nested hashes on update, so a field
    # cleared in Fusion must be cleared explicitly, and "" unsets a field on create too.
    params: dict[str, Any] = {
        "name": name,
        "description": description,
        "email": email or "",
        "metadata": metadata,
    }
    if address:
        params["address"] = {field: address.get(field, "") for field in _ADDRESS_FIELDS}
    return Write(params)


# -- invoices -------------------------------------------------------------------------------------

# Stripe limits: 250 invoice items per invoice, 4 custom fields (name ≤ 40, value ≤ 140 characters).
MAX_INVOICE_ITEMS = 250
_MAX_ITEM_DESCRIPTION = 500
_MAX_CUSTOM_FIELD_VALUE = 140
_COMPLETE = {"COMPLETE", "C", "Y"}


def invoice_metadata_keys(prefix: str) -> dict[str, str]:
    """Names of the Stripe metadata keys that carry the Fusion ids of an invoice and its lines."""
    return {
        "transaction_id": f"{prefix}transaction_id",
        "transaction_number": f"{prefix}transaction_number",
        "business_unit": f"{prefix}business_unit",
        "site_use_id": f"{prefix}bill_to_site_use_id",
        "line_id": f"{prefix}line_id",
        "line_number": f"{prefix}line_number",
    }


@dataclass(frozen=True)
class InvoiceCustomer:
    """The bill-to site of a Fusion invoice as the invoice mapping needs it.

    :param site_use_id: the Fusion bill-to site use id (``BillToSiteUseId``).
    :param stripe_customer_id: the Stripe customer linked to that site, ``None`` when the
        customers stream has not synced it (yet).
    :param reason: why the site was not synced, when the customers stream skipped or dead-lettered it.
    """

    site_use_id: str
    stripe_customer_id: str | None
    reason: str | None = None


def _due_timestamp(value: Any) -> int | None:
    if value in (None, ""):
        return None
    if not isinstance(value, str):
        raise ValueError(f"not a date: {value!r}")
    day = date.fromisoformat(value[:10])
    # The end of the due date in UTC: a customer paying on the due date is on time anywhere.
    return int(datetime.combine(day, time(23, 59, 59), tzinfo=UTC).timestamp())


def _line_amount(line: Mapping[str, Any], label: str) -> Decimal:
    if line.get("LineAmount") not in (None, ""):
        return as_decimal(line["LineAmount"], what=f"{label} LineAmount")
    quantity = as_decimal(line.get("Quantity"), what=f"{label} Quantity")
    price = as_decimal(line.get("UnitSellingPrice"), what=f"{label} UnitSellingPrice")
    return quantity * price


def map_invoice(
    record: Mapping[str, Any],
    *,
    customer: InvoiceCustomer | None,
    metadata_prefix: str = "fusion_",
    business_units: Sequence[str] = (),
    default_days_until_due: int = 30,
) -> MapResult:
    """Map a Fusion receivables invoice to a Stripe invoice (see :func:`_map_invoice`); an
    attribute of the wrong type, lines that are not a list of objects, or a line number that is
    not a number are dead letters naming the field."""
    lines = record.get("receivablesInvoiceLines")
    if lines is not None and not isinstance(lines, list):
        return DeadLetter(
            f"the Fusion invoice's receivablesInvoiceLines is {type(lines).__name__}, not a list of lines",
            field="receivablesInvoiceLines",
        )
    for index, line in enumerate(lines or []):
        if not isinstance(line, Mapping):
            return DeadLetter(
                f"line {index + 1} of the Fusion invoice is {type(line).__name__}, not an object",
                field=f"receivablesInvoiceLines[{index}]",
            )
        number = line.get("LineNumber")
        if number not in (None, "") and (isinstance(number, bool) or not str(number).strip().isdigit()):
            return DeadLetter(
                f"line {index + 1} of the Fusion invoice has LineNumber {number!r}, not a whole number",
                field=f"receivablesInvoiceLines[{index}].LineNumber",
            )
    try:
        return _map_invoice(
            record,
            customer=customer,
            metadata_prefix=metadata_prefix,
            business_units=business_units,
            default_days_until_due=default_days_until_due,
        )
    except _WrongType as error:
        return _wrong_type(error, "the Fusion invoice has an attribute of the wrong type")


def _map_invoice(
    record: Mapping[str, Any],
    *,
    customer: InvoiceCustomer | None,
    metadata_prefix: str = "fusion_",
    business_units: Sequence[str] = (),
    default_days_until_due: int = 30,
) -> MapResult:
    """Map a Fusion receivables invoice (with its ``receivablesInvoiceLines``) to a Stripe invoice.

    The payload has two parts: ``invoice`` (the parameters of ``POST /v1/invoices``:
    ``send_invoice`` collection, the due date, the Fusion ids in ``metadata``) and ``items`` (one
    ``POST /v1/invoiceitems`` per Fusion line, in the currency's minor unit, exact or not at all),
    plus ``total`` in minor units, which the writer checks against the draft before finalizing.

    :param record: the Fusion invoice, lines expanded.
    :param customer: the invoice's bill-to site and its Stripe customer, ``None`` when Fusion has
        no such site.
    :param metadata_prefix: prefix of the metadata keys carrying Fusion ids.
    :param business_units: when not empty, only invoices of these business units are sent.
    :param default_days_until_due: used when the invoice has no due date.
    """
    transaction_id = _text(record, "CustomerTransactionId")
    if transaction_id is None:
        return DeadLetter("the Fusion invoice has no CustomerTransactionId", field="CustomerTransactionId")
    number = _text(record, "TransactionNumber")
    if number is None:
        return DeadLetter("the Fusion invoice has no transaction number", field="TransactionNumber")
    status = (_text(record, "InvoiceStatus") or "Complete").upper()
    if status not in _COMPLETE:
        return Skip(f"invoice {number} is not complete in Fusion (status {_text(record, 'InvoiceStatus')})")
    business_unit = _text(record, "BusinessUnit")
    if business_units and business_unit not in business_units:
        return Skip(f"business unit {business_unit or '(none)'} is not synced for this tenant")

    site = f"customer {_text(record, 'BillToCustomerNumber')} site {_text(record, 'BillToSite')}"
    if customer is None:
        return DeadLetter(f"bill-to {site} does not exist in Fusion", field="BillToSite")
    if customer.stripe_customer_id is None:
        why = f": {customer.reason}" if customer.reason else " yet"
        return DeadLetter(
            f"bill-to {site} (site use {customer.site_use_id}) is not in Stripe{why}", field="BillToSite"
        )

    currency = _text(record, "InvoiceCurrencyCode")
    if currency is None or not re.fullmatch(r"[A-Za-z]{3}", currency):
        return DeadLetter(f"currency {currency!r} is not an ISO 4217 code", field="InvoiceCurrencyCode")
    currency = currency.lower()

    lines = sorted(
        record.get("receivablesInvoiceLines") or [],
        key=lambda line: (int(line.get("LineNumber") or 0), str(line.get("CustomerTransactionLineId"))),
    )
    if not lines:
        return DeadLetter(f"invoice {number} has no lines", field="receivablesInvoiceLines")
    if len(lines) > MAX_INVOICE_ITEMS:
        return DeadLetter(
            f"invoice {number} has {len(lines)} lines; a Stripe invoice holds at most {MAX_INVOICE_ITEMS}",
            field="receivablesInvoiceLines",
        )
    keys = invoice_metadata_keys(metadata_prefix)
    items: list[dict[str, Any]] = []
    total = 0
    for line in lines:
        line_number = _text(line, "LineNumber") or "?"
        label = f"line {line_number}"
        try:
            minor = to_stripe_minor_units(_line_amount(line, label), currency, what=f"{label} amount")
        except MoneyError as err:
            return DeadLetter(str(err), field=f"receivablesInvoiceLines[{line_number}].LineAmount")
        line_id = _text(line, "CustomerTransactionLineId") or line_number
        description = (
            _text(line, "Description") or _text(line, "ItemNumber") or _text(line, "MemoLine") or label
        )
        items.append(
            {
                "amount": minor,
                "currency": currency,
                "description": description[:_MAX_ITEM_DESCRIPTION],
                "metadata": {keys["line_id"]: line_id, keys["line_number"]: line_number},
            }
        )
        total += minor
    if record.get("EnteredAmount") not in (None, ""):
        try:
            header = to_stripe_minor_units(record["EnteredAmount"], currency, what="EnteredAmount")
        except MoneyError as err:
            return DeadLetter(str(err), field="EnteredAmount")
        if header != total:
            return DeadLetter(
                f"the lines of invoice {number} add up to {from_stripe_minor_units(total, currency)} "
                f"but its amount is {from_stripe_minor_units(header, currency)}",
                field="EnteredAmount",
            )
    if total <= 0:
        return Skip(
            f"invoice {number} totals {from_stripe_minor_units(total, currency)}; only amounts due go to Stripe"
        )

    metadata = {
        keys["transaction_id"]: transaction_id,
        keys["transaction_number"]: number,
        keys["business_unit"]: business_unit or "",
        keys["site_use_id"]: customer.site_use_id,
    }
    custom_fields = [{"name": "Invoice number", "value": number[:_MAX_CUSTOM_FIELD_VALUE]}]
    purchase_order = _text(record, "PurchaseOrder")
    if purchase_order:
        custom_fields.append({"name": "PO number", "value": purchase_order[:_MAX_CUSTOM_FIELD_VALUE]})
    invoice: dict[str, Any] = {
        "customer": customer.stripe_customer_id,
        "currency": currency,
        "collection_method": "send_invoice",
        "auto_advance": False,
        "pending_invoice_items_behavior": "exclude",
        "description": f"Invoice {number}",
        "custom_fields": custom_fields,
        "metadata": {k: v[:_MAX_METADATA_VALUE] for k, v in metadata.items() if v},
    }
    try:
        due = _due_timestamp(record.get("DueDate"))
    except ValueError:
        return DeadLetter(f"due date {record.get('DueDate')!r} is not a date", field="DueDate")
    if due is not None:
        invoice["due_date"] = due
    else:
        invoice["days_until_due"] = default_days_until_due
    return Write({"invoice": invoice, "items": items, "total": total, "number": number})
