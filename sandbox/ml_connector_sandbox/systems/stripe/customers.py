"""Customers: create, retrieve, update, delete, list and search (contract A8), and ``/v1/balance``."""

from __future__ import annotations

import re
from collections.abc import Mapping
from typing import TYPE_CHECKING, Any

from ml_connector_sandbox.systems.stripe.errors import resource_missing
from ml_connector_sandbox.systems.stripe.listing import search_page
from ml_connector_sandbox.systems.stripe.objects import (
    address_object,
    clone,
    customer_object,
    deleted_object,
    new_id,
)
from ml_connector_sandbox.systems.stripe.params import (
    EXPAND,
    PAGING,
    RETRIEVE,
    Arr,
    Enum,
    Int,
    Metadata,
    Obj,
    Spec,
    Str,
    merge_metadata,
    validate,
)
from ml_connector_sandbox.systems.stripe.search import FieldKind
from ml_connector_sandbox.systems.stripe.store import changed_attributes, find, list_response

if TYPE_CHECKING:
    from ml_connector_sandbox.systems.stripe.api import StripeApi, StripeRequest

__all__ = ["CUSTOMER_SEARCH_FIELDS", "register_balance", "register_customers"]

_EMAIL_RE = re.compile(r"^[^@\s]+@[^@\s]+\.[^@\s]+$")
_INVOICE_PREFIX_RE = re.compile(r"^[A-Z0-9]{1,12}$")


def _email_problem(value: str) -> str | None:
    return None if _EMAIL_RE.match(value) else f"Invalid email address: {value}"


def _prefix_problem(value: str) -> str | None:
    if _INVOICE_PREFIX_RE.match(value):
        return None
    return "Invalid invoice_prefix: must be 1 to 12 uppercase letters or numbers."


ADDRESS = Obj(
    {
        "city": Str(max_length=200),
        "country": Str(max_length=200),
        "line1": Str(max_length=200),
        "line2": Str(max_length=200),
        "postal_code": Str(max_length=200),
        "state": Str(max_length=200),
    }
)
SHIPPING = Obj({"address": ADDRESS, "name": Str(max_length=5000), "phone": Str(max_length=5000)})
INVOICE_SETTINGS = Obj(
    {
        "custom_fields": Arr(Obj({"name": Str(max_length=40), "value": Str(max_length=140)}), max_items=4),
        "default_payment_method": Str(),
        "footer": Str(),
        "rendering_options": Obj(
            {
                "amount_tax_display": Enum("exclude_tax", "include_inclusive_tax"),
                "template": Str(),
            }
        ),
    }
)
_COMMON_FIELDS: dict[str, Spec] = {
    "address": ADDRESS,
    "balance": Int(),
    "business_name": Str(max_length=150),
    "description": Str(),
    "email": Str(max_length=512, pattern_check=_email_problem),
    "expand": EXPAND,
    "individual_name": Str(max_length=150),
    "invoice_prefix": Str(pattern_check=_prefix_problem),
    "invoice_settings": INVOICE_SETTINGS,
    "metadata": Metadata(),
    "name": Str(max_length=256),
    "next_invoice_sequence": Int(minimum=1),
    "phone": Str(max_length=20),
    "preferred_locales": Arr(Str()),
    "shipping": SHIPPING,
    "tax_exempt": Enum("none", "exempt", "reverse"),
}
CREATE_FIELDS: dict[str, Spec] = {
    **_COMMON_FIELDS,
    "payment_method": Str(),
    "source": Str(),
    "tax_id_data": Arr(Obj({"type": Str(), "value": Str()})),
    "test_clock": Str(),
}
UPDATE_FIELDS: dict[str, Spec] = {**_COMMON_FIELDS, "default_source": Str()}
LIST_FIELDS: dict[str, Spec] = {**PAGING, "email": Str(max_length=512), "test_clock": Str()}
SEARCH_FIELDS: dict[str, Spec] = {"expand": EXPAND, "limit": Int(), "page": Str(), "query": Str()}

CUSTOMER_SEARCH_FIELDS: Mapping[str, FieldKind] = {
    "created": "number",
    "email": "string",
    "metadata": "metadata",
    "name": "string",
    "phone": "string",
}
"""Searchable customer fields and their kinds."""


# -- customers -------------------------------------------------------------------------------------


def _apply_update(customer: dict[str, Any], fields: Mapping[str, Any]) -> None:
    for key, value in fields.items():
        if key == "expand":
            continue
        if key == "metadata":
            customer["metadata"] = merge_metadata(customer.get("metadata"), value)
        elif key == "address":
            if value is None:
                customer["address"] = None
            else:
                current = customer.get("address") or {}
                customer["address"] = address_object({**current, **value})
        elif key == "shipping":
            if value is None:
                customer["shipping"] = None
            else:
                current = customer.get("shipping") or {}
                address = value.get("address", current.get("address"))
                customer["shipping"] = {
                    "address": address_object({**(current.get("address") or {}), **(address or {})})
                    if address is not None
                    else None,
                    "name": value.get("name", current.get("name")),
                    "phone": value.get("phone", current.get("phone")),
                }
        elif key == "invoice_settings":
            current = customer.get("invoice_settings") or {}
            customer["invoice_settings"] = {**current, **(value or {})}
        elif key == "preferred_locales":
            customer["preferred_locales"] = list(value or [])
        elif key == "tax_exempt":
            customer["tax_exempt"] = value or "none"
        elif key == "default_source":
            customer["default_source"] = value
        elif key in customer:
            customer[key] = value


def register_customers(api: StripeApi) -> None:
    """Mount ``/v1/customers`` (create, list, search, retrieve, update, delete)."""
    system = api.system

    @api.post("/v1/customers")
    def create(request: StripeRequest) -> dict[str, Any]:
        fields = validate(request.params, CREATE_FIELDS)
        metadata = merge_metadata({}, fields.get("metadata") or {})
        with system.state as db:
            customer = customer_object(new_id("cus"), system.timestamp(), {**fields, "metadata": metadata})
            db["customers"][customer["id"]] = customer
            # one copy serves the search index, the event and the answer (none of them changes it)
            snapshot = clone(customer)
            system.index_for_search("customer", customer["id"], snapshot, owned=True)
        system.record_event("customer.created", snapshot)
        return snapshot

    @api.get("/v1/customers")
    def list_customers(request: StripeRequest) -> dict[str, Any]:
        """Live customers only (never deleted ones), newest first; ``email`` is an exact,
        case-sensitive filter answered from an index (contract A8 "Customer")."""
        params = validate(request.params, LIST_FIELDS)
        email = params.get("email")

        def wanted(customer: Mapping[str, Any]) -> bool:
            return email is None or customer.get("email") == email

        with system.state as db:
            order = system.creation_order("customer")
            return list_response(
                db,
                "customer",
                "/v1/customers",
                params,
                system.clock.time(),
                wanted,
                order=order,
                candidates=None if email is None else lambda: order.values.ids(email),
            )

    @api.get("/v1/customers/search")
    def search_customers(request: StripeRequest) -> dict[str, Any]:
        """What the search index shows (:mod:`.searchindex`): writes appear after ``search_lag``,
        deletes after ``search_delete_lag`` (contract Appendix S)."""
        params = validate(request.params, SEARCH_FIELDS)
        return search_page(
            "/v1/customers/search",
            params,
            CUSTOMER_SEARCH_FIELDS,
            lambda query: system.search("customer", query),
        )

    @api.get("/v1/customers/{id}")
    def retrieve(request: StripeRequest) -> dict[str, Any]:
        validate(request.params, RETRIEVE)
        customer_id = request.path_params["id"]
        with system.state as db:
            customer = db["customers"].get(customer_id)
            if customer is None:
                raise resource_missing("customer", customer_id)
            return clone(customer)

    @api.post("/v1/customers/{id}")
    def update(request: StripeRequest) -> dict[str, Any]:
        customer_id = request.path_params["id"]
        fields = validate(request.params, UPDATE_FIELDS)
        with system.state as db:
            customer = find(db, "customer", customer_id)
            changed = clone(customer)
            _apply_update(changed, fields)  # raises before anything is stored
            db["customers"][customer_id] = changed
            system.creation_order("customer").values.move(
                customer_id, customer.get("email"), changed.get("email")
            )
            previous = changed_attributes(customer, changed)
            snapshot = clone(changed)
            if previous:
                system.index_for_search("customer", customer_id, snapshot, owned=True)
        if previous:
            system.record_event("customer.updated", snapshot, previous)
        return snapshot

    @api.delete("/v1/customers/{id}")
    def delete(request: StripeRequest) -> dict[str, Any]:
        customer_id = request.path_params["id"]
        with system.state as db:
            customer = find(db, "customer", customer_id)
            db["customers"][customer_id] = deleted_object(customer_id, "customer")
            system.creation_order("customer").values.move(customer_id, customer.get("email"), None)
            system.index_for_search("customer", customer_id, None)
        system.record_event("customer.deleted", customer)  # no longer stored: the event may keep it
        return deleted_object(customer_id, "customer")


def register_balance(api: StripeApi) -> None:
    """Mount ``GET /v1/balance`` (what ``test_connection`` calls)."""
    system = api.system

    @api.get("/v1/balance")
    def balance(request: StripeRequest) -> dict[str, Any]:
        validate(request.params, RETRIEVE)
        return clone(system.state["balance"])
