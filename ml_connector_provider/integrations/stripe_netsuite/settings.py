"""Stripe → Oracle NetSuite: the tenant's ``settings`` block.

Every NetSuite reference here is an internal id (digits), as NetSuite's REST record service takes
references (contract B4: ``{"id": "614"}``). Pure: no I/O.
"""

from __future__ import annotations

import re
from typing import Literal

from pydantic import BaseModel, ConfigDict, Field, field_validator, model_validator

_INTERNAL_ID = r"^[0-9]+$"
_PRODUCT = re.compile(r"^prod_[A-Za-z0-9]+$")
_CUSTOM_BODY_FIELD = r"^custbody[a-z0-9_]+$"
_CUSTOM_ITEM_FIELD = r"^custitem[a-z0-9_]+$"

AmountMode = Literal["net", "gross_with_fee_line"]
RefundMode = Literal["credit_memo", "credit_memo_and_refund"]
ItemLookup = Literal["external_id", "custom_field"]


class StripeNetSuiteSettings(BaseModel):
    """How Stripe charges, paid subscription invoices and refunds are posted in NetSuite.

    See ``docs/integrations/stripe_netsuite.md`` for what each setting changes.
    """

    model_config = ConfigDict(extra="forbid")

    subsidiary_id: str = Field(
        pattern=_INTERNAL_ID, description="Internal id of the subsidiary every invoice and customer is in."
    )
    currencies: dict[str, str] = Field(
        min_length=1,
        description=(
            "NetSuite currency internal id per ISO 4217 code of the Stripe charge (USD: '1'); a charge "
            "in a currency missing here is dead-lettered 'currency not enabled'."
        ),
    )
    amount_mode: AmountMode = Field(
        default="net",
        description=(
            "net: revenue lines sum to the amount charged minus Stripe's fee; gross_with_fee_line: "
            "revenue lines at the amount charged plus a negative fee line on fee_item."
        ),
    )
    fee_item: str | None = Field(
        default=None,
        pattern=_INTERNAL_ID,
        description="Item internal id of the fee line (gross_with_fee_line).",
    )
    fee_account: str | None = Field(
        default=None,
        pattern=_INTERNAL_ID,
        description="Account internal id set on the fee line, overriding the fee item's account.",
    )
    apply_payments: bool = Field(
        default=True, description="Record a customer payment applied to each posted invoice."
    )
    payment_account: str | None = Field(
        default=None,
        pattern=_INTERNAL_ID,
        description="Bank account internal id of customer payments; empty: undeposited funds.",
    )
    refunds: RefundMode = Field(
        default="credit_memo",
        description="credit_memo, or credit_memo_and_refund (a customer refund paying the credit out).",
    )
    refund_account: str | None = Field(
        default=None, pattern=_INTERNAL_ID, description="Bank account internal id of customer refunds."
    )
    create_customers: bool = Field(
        default=False,
        description=(
            "Create a NetSuite customer (externalId stripe-<cus id>) for a Stripe customer not yet in "
            "NetSuite; otherwise its charges are dead-lettered 'customer not in NetSuite'."
        ),
    )
    items: dict[str, str] = Field(
        default_factory=dict, description="NetSuite item internal id per Stripe product id (prod_…)."
    )
    item_lookup: ItemLookup | None = Field(
        default=None,
        description=(
            "For a product not in items: find the item whose externalId is the product id "
            "(external_id) or whose item_custom_field holds it (custom_field)."
        ),
    )
    item_custom_field: str = Field(
        default="custitem_stripe_product_id",
        pattern=_CUSTOM_ITEM_FIELD,
        description="The item custom field holding the Stripe product id (item_lookup: custom_field).",
    )
    charge_product_metadata_key: str = Field(
        default="product",
        min_length=1,
        max_length=40,
        description="Metadata key of a one-time charge (or its payment intent) naming its Stripe product.",
    )
    unmapped_retry_after: int = Field(
        default=3600,
        ge=60,
        le=7 * 24 * 3600,
        description="Seconds before an 'unmapped product' dead letter is retried automatically.",
    )
    event_id_field: str | None = Field(
        default=None,
        pattern=_CUSTOM_BODY_FIELD,
        description="Transaction body field receiving the Stripe event id (default: memo only).",
    )
    object_id_field: str | None = Field(
        default=None,
        pattern=_CUSTOM_BODY_FIELD,
        description="Transaction body field receiving the Stripe object id (default: memo only).",
    )
    write_back_metadata: bool = Field(
        default=True,
        description="Write the NetSuite invoice internal id into the Stripe object's metadata.",
    )

    @field_validator("currencies")
    @classmethod
    def _currencies(cls, value: dict[str, str]) -> dict[str, str]:
        out: dict[str, str] = {}
        for code, internal_id in value.items():
            if not re.fullmatch(r"[A-Za-z]{3}", code):
                raise ValueError(f"currencies: {code!r} is not a three-letter ISO 4217 code")
            if not re.fullmatch(_INTERNAL_ID, str(internal_id)):
                raise ValueError(f"currencies.{code}: {internal_id!r} is not a NetSuite internal id (digits)")
            if code.upper() in out:
                raise ValueError(f"currencies: {code.upper()} is listed twice")
            out[code.upper()] = str(internal_id)
        return out

    @field_validator("items")
    @classmethod
    def _items(cls, value: dict[str, str]) -> dict[str, str]:
        for product, internal_id in value.items():
            if not _PRODUCT.fullmatch(product):
                raise ValueError(f"items: {product!r} is not a Stripe product id (prod_…)")
            if not re.fullmatch(_INTERNAL_ID, str(internal_id)):
                raise ValueError(
                    f"items.{product}: {internal_id!r} is not a NetSuite item internal id (digits)"
                )
        return {product: str(internal_id) for product, internal_id in value.items()}

    @model_validator(mode="after")
    def _consistent(self) -> StripeNetSuiteSettings:
        if self.amount_mode == "gross_with_fee_line" and self.fee_item is None:
            raise ValueError("amount_mode gross_with_fee_line needs fee_item (the item of the fee line)")
        if self.refunds == "credit_memo_and_refund" and self.refund_account is None:
            raise ValueError(
                "refunds credit_memo_and_refund needs refund_account (the account refunds are paid from)"
            )
        if self.event_id_field is not None and self.event_id_field == self.object_id_field:
            raise ValueError("event_id_field and object_id_field must be different fields")
        return self
