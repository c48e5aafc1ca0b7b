"""Products and prices: create, retrieve and list (contract A8 "Product / Price").

Prices are ``per_unit`` only (no tiers, no metered usage); ``recurring`` prices drive
subscriptions (:mod:`.subscriptions`). :func:`inline_price` builds the price behind a
``price_data`` parameter of invoice items and subscription items: a real, retrievable price
created inactive and without a ``price.created`` event (how Stripe reports inline prices is
UNCONFIRMED).
"""

from __future__ import annotations

from collections.abc import Mapping
from decimal import Decimal
from typing import TYPE_CHECKING, Any

from ml_connector_sandbox.systems.stripe.errors import StripeAPIError, invalid_request, missing_param
from ml_connector_sandbox.systems.stripe.objects import decimal_string, new_id
from ml_connector_sandbox.systems.stripe.params import (
    EXPAND,
    PAGING,
    Arr,
    Bool,
    Currency,
    Dec,
    Enum,
    Int,
    Metadata,
    Obj,
    Spec,
    Str,
    exclusive,
    merge_metadata,
    require,
    validate,
)
from ml_connector_sandbox.systems.stripe.store import (
    Operation,
    expand,
    find_param,
    list_route,
    operation,
    refused,
    retrieve_route,
)

if TYPE_CHECKING:
    from ml_connector_sandbox.systems.stripe.api import StripeApi, StripeRequest

__all__ = [
    "PRICE_DATA",
    "RECURRING",
    "inline_price",
    "price_unit_amount",
    "register_catalog",
]

RECURRING = Obj(
    {
        "interval": Enum("day", "week", "month", "year"),
        "interval_count": Int(minimum=1),
        "usage_type": Enum("licensed"),
    }
)
"""``recurring`` of a price (metered usage is not supported by the stand-in)."""
PRICE_DATA = Obj(
    {
        "currency": Currency(),
        "product": Str(),
        "recurring": RECURRING,
        "tax_behavior": Enum("exclusive", "inclusive", "unspecified"),
        "unit_amount": Int(minimum=0),
        "unit_amount_decimal": Dec(minimum=Decimal(0)),
    }
)
"""``price_data`` of invoice items and subscription items."""

PRODUCT_CREATE: dict[str, Spec] = {
    "active": Bool(),
    "default_price_data": Obj(
        {
            "currency": Currency(),
            "metadata": Metadata(),
            "recurring": RECURRING,
            "tax_behavior": Enum("exclusive", "inclusive", "unspecified"),
            "unit_amount": Int(minimum=0),
            "unit_amount_decimal": Dec(minimum=Decimal(0)),
        }
    ),
    "description": Str(max_length=40000),
    "expand": EXPAND,
    "id": Str(max_length=200),
    "images": Arr(Str(max_length=2048), max_items=8),
    "metadata": Metadata(),
    "name": Str(),
    "shippable": Bool(),
    "statement_descriptor": Str(max_length=22),
    "tax_code": Str(),
    "type": Enum("good", "service"),
    "unit_label": Str(max_length=12),
    "url": Str(),
}
PRODUCT_LIST: dict[str, Spec] = {
    **PAGING,
    "active": Bool(),
    "ids": Arr(Str()),
    "shippable": Bool(),
    "url": Str(),
}
PRICE_CREATE: dict[str, Spec] = {
    "active": Bool(),
    "billing_scheme": Enum("per_unit"),
    "currency": Currency(),
    "expand": EXPAND,
    "lookup_key": Str(max_length=200),
    "metadata": Metadata(),
    "nickname": Str(),
    "product": Str(),
    "product_data": Obj(
        {
            "active": Bool(),
            "id": Str(max_length=200),
            "metadata": Metadata(),
            "name": Str(),
            "statement_descriptor": Str(max_length=22),
            "tax_code": Str(),
            "unit_label": Str(max_length=12),
        }
    ),
    "recurring": RECURRING,
    "tax_behavior": Enum("exclusive", "inclusive", "unspecified"),
    "transfer_lookup_key": Bool(),
    "unit_amount": Int(minimum=0),
    "unit_amount_decimal": Dec(minimum=Decimal(0)),
}
PRICE_LIST: dict[str, Spec] = {
    **PAGING,
    "active": Bool(),
    "currency": Currency(),
    "lookup_keys": Arr(Str(max_length=200), max_items=10),
    "product": Str(),
    "recurring": Obj({"interval": Enum("day", "week", "month", "year"), "usage_type": Enum("licensed")}),
    "type": Enum("one_time", "recurring"),
}
_MAX_INTERVAL = {"day": 365, "week": 52, "month": 12, "year": 1}


# -- objects -----------------------------------------------------------------------------------------


def product_object(product_id: str, created: int, fields: Mapping[str, Any]) -> dict[str, Any]:
    """A product (16.1.0 field set) from coerced create parameters."""
    return {
        "id": product_id,
        "object": "product",
        "active": fields.get("active", True) is not False,
        "created": created,
        "default_price": None,
        "description": fields.get("description"),
        "images": list(fields.get("images") or []),
        "livemode": False,
        "marketing_features": [],
        "metadata": merge_metadata({}, fields.get("metadata") or {}),
        "name": fields["name"],
        "package_dimensions": None,
        "shippable": fields.get("shippable"),
        "statement_descriptor": fields.get("statement_descriptor"),
        "tax_code": fields.get("tax_code"),
        "type": fields.get("type") or "service",
        "unit_label": fields.get("unit_label"),
        "updated": created,
        "url": fields.get("url"),
    }


def _unit_amounts(fields: Mapping[str, Any], prefix: str) -> tuple[int | None, str]:
    which = exclusive(fields, "unit_amount", "unit_amount_decimal")
    if which is None:
        raise missing_param(f"{prefix}unit_amount")
    if which == "unit_amount":
        amount = int(fields["unit_amount"])
        return amount, str(amount)
    value: Decimal = fields["unit_amount_decimal"]
    integral = value == value.to_integral_value()
    return (int(value) if integral else None), decimal_string(value)


def _recurring(value: Mapping[str, Any] | None, prefix: str) -> dict[str, Any] | None:
    if value is None:
        return None
    interval = value.get("interval")
    if not interval:
        raise missing_param(f"{prefix}recurring[interval]")
    count = int(value.get("interval_count") or 1)
    if count > _MAX_INTERVAL[interval]:
        raise invalid_request(
            "Invalid recurring interval: the maximum interval is 1 year (1 year, 12 months, 52 weeks or 365 days).",
            param=f"{prefix}recurring[interval_count]",
        )
    return {
        "interval": interval,
        "interval_count": count,
        "meter": None,
        "trial_period_days": None,
        "usage_type": value.get("usage_type") or "licensed",
    }


def price_object(
    price_id: str, created: int, product_id: str, fields: Mapping[str, Any], *, prefix: str = ""
) -> dict[str, Any]:
    """A price (16.1.0 field set) from coerced parameters (``currency``, ``unit_amount`` ...).

    :param prefix: the enclosing parameter for error names (``price_data[``).
    """
    currency = fields.get("currency")
    if not currency:
        raise missing_param(f"{prefix}currency")
    unit_amount, unit_amount_decimal = _unit_amounts(fields, prefix)
    recurring = _recurring(fields.get("recurring"), prefix)
    return {
        "id": price_id,
        "object": "price",
        "active": fields.get("active", True) is not False,
        "billing_scheme": "per_unit",
        "created": created,
        "currency": currency,
        "custom_unit_amount": None,
        "livemode": False,
        "lookup_key": fields.get("lookup_key"),
        "metadata": merge_metadata({}, fields.get("metadata") or {}),
        "nickname": fields.get("nickname"),
        "product": product_id,
        "recurring": recurring,
        "tax_behavior": fields.get("tax_behavior") or "unspecified",
        "tiers_mode": None,
        "transform_quantity": None,
        "type": "recurring" if recurring else "one_time",
        "unit_amount": unit_amount,
        "unit_amount_decimal": unit_amount_decimal,
    }


def price_unit_amount(price: Mapping[str, Any]) -> Decimal:
    """The unit amount of a price in minor units, fractional when set with ``unit_amount_decimal``."""
    return Decimal(str(price["unit_amount_decimal"]))


def inline_price(op: Operation, data: Mapping[str, Any], *, param: str, recurring: bool) -> dict[str, Any]:
    """Build the price behind a ``price_data`` parameter (inactive, no event); the caller stores it
    (``op.store("price", price)``) once nothing else can refuse the request.

    :param param: the parameter's name (``price_data``, ``items[0][price_data]``) for errors.
    :param recurring: whether the price must be recurring (subscription items) or one-time.
    """
    product_id = data.get("product")
    if not product_id:
        raise missing_param(f"{param}[product]")
    find_param(op.db, "product", product_id, f"{param}[product]")
    if recurring and data.get("recurring") is None:
        raise missing_param(f"{param}[recurring]")
    if not recurring and data.get("recurring") is not None:
        raise invalid_request(f"Received unknown parameter: {param}[recurring]", param=f"{param}[recurring]")
    return price_object(new_id("price"), op.now, product_id, {**data, "active": False}, prefix=f"{param}[")


# -- routes ------------------------------------------------------------------------------------------


def _claim_lookup_key(op: Operation, fields: Mapping[str, Any]) -> None:
    lookup_key = fields.get("lookup_key")
    if lookup_key is None:
        return
    holders = [p for p in op.db["prices"].values() if p.get("lookup_key") == lookup_key]
    if holders and not fields.get("transfer_lookup_key"):
        raise refused(f"A price (`{holders[0]['id']}`) already uses that lookup key.", param="lookup_key")
    for holder in holders:
        holder["lookup_key"] = None


def register_catalog(api: StripeApi) -> None:
    """Mount ``/v1/products`` and ``/v1/prices`` (create, retrieve, list)."""
    system = api.system

    @api.post("/v1/products")
    def create_product(request: StripeRequest) -> dict[str, Any]:
        fields = validate(request.params, PRODUCT_CREATE)
        require(fields, "name")
        with operation(system) as op:
            product_id = fields.get("id") or new_id("prod")
            if product_id in op.db["products"]:
                raise StripeAPIError(
                    400, "Product already exists.", code="resource_already_exists", param="id"
                )
            product = product_object(product_id, op.now, fields)
            default = fields.get("default_price_data")
            price = (
                price_object(new_id("price"), op.now, product_id, default, prefix="default_price_data[")
                if default is not None
                else None
            )
            if price is not None:
                product["default_price"] = price["id"]
            op.store("product", product)
            op.emit("product.created", product)
            if price is not None:
                op.store("price", price)
                op.emit("price.created", price)
            return expand(op.db, product, request.expand, op.now)

    list_route(
        api,
        "/v1/products",
        "product",
        PRODUCT_LIST,
        match=("active", "shippable", "url"),
        where=lambda product, params: "ids" not in params or product["id"] in (params["ids"] or []),
    )
    retrieve_route(api, "/v1/products/{id}", "product")

    @api.post("/v1/prices")
    def create_price(request: StripeRequest) -> dict[str, Any]:
        fields = validate(request.params, PRICE_CREATE)
        which = exclusive(fields, "product", "product_data")
        if which is None:
            raise missing_param("product")
        with operation(system) as op:
            new_product: dict[str, Any] | None = None
            if which == "product":
                product_id = str(fields["product"])
                find_param(op.db, "product", product_id, "product")
            else:
                data = fields["product_data"]
                require(data, "name")
                product_id = data.get("id") or new_id("prod")
                if product_id in op.db["products"]:
                    raise StripeAPIError(
                        400,
                        "Product already exists.",
                        code="resource_already_exists",
                        param="product_data[id]",
                    )
                new_product = product_object(product_id, op.now, data)
            price = price_object(new_id("price"), op.now, product_id, fields)  # refusals before any write
            _claim_lookup_key(op, fields)
            if new_product is not None:
                op.store("product", new_product)
                op.emit("product.created", new_product)
            op.store("price", price)
            op.emit("price.created", price)
            return expand(op.db, price, request.expand, op.now)

    def price_wanted(price: Mapping[str, Any], params: Mapping[str, Any]) -> bool:
        recurring = params.get("recurring") or {}
        interval = (price.get("recurring") or {}).get("interval")
        return ("lookup_keys" not in params or price["lookup_key"] in (params["lookup_keys"] or [])) and (
            "interval" not in recurring or interval == recurring["interval"]
        )

    list_route(
        api,
        "/v1/prices",
        "price",
        PRICE_LIST,
        match=("active", "currency", "product", "type"),
        where=price_wanted,
    )
    retrieve_route(api, "/v1/prices/{id}", "price")
