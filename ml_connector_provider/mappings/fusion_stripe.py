"""Pure mappings of the ``fusion_stripe`` integration: Oracle Fusion records → Stripe payloads.

No I/O here. Each function takes a Fusion record (as returned by the REST API, ``onlyData``) and
returns a :class:`~ml_connector_provider.engine.types.Write`, :class:`Skip` or :class:`DeadLetter`.
"""

from __future__ import annotations

import re
from collections.abc import Mapping, Sequence
from typing import Any

from ml_connector_provider.engine.types import DeadLetter, MapResult, Skip, Write

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


def _text(record: Mapping[str, Any], name: str) -> str | None:
    value = record.get(name)
    if value is None:
        return None
    text = str(value).strip()
    return text or None


def map_customer(
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
