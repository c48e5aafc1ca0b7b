"""Oracle Fusion ⇄ Stripe: the integration's declaration and tenant settings."""

from __future__ import annotations

import re
from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field, field_validator, model_validator

_ACCOUNT = r"^[A-Za-z0-9]+([-.][A-Za-z0-9]+)*$"


class GeneralLedgerSettings(BaseModel):
    """Where and how Stripe money is posted in the Fusion general ledger (FBDI journal import).

    Accounts are full account combinations, segments joined by :attr:`segment_delimiter`
    (``101-000-11250-000-000``); each must exist and be enabled in Fusion, or Journal Import rejects
    the journal and the payment is dead-lettered with Fusion's reason.
    """

    model_config = ConfigDict(extra="forbid")

    ledger_id: str = Field(pattern=r"^[0-9]+$", description="Fusion ledger id (ParameterList LedgerId).")
    ledger_name: str = Field(min_length=1, description="Fusion ledger name (GL_INTERFACE LEDGER_NAME).")
    data_access_set_id: str = Field(
        pattern=r"^[0-9]+$", description="Data access set id (ParameterList DataAccessSetId)."
    )
    journal_source: str = Field(
        default="Spreadsheet",
        min_length=1,
        max_length=25,
        description="Journal source name; must exist in Fusion (USER_JE_SOURCE_NAME).",
    )
    journal_category: str = Field(
        default="Receipts",
        min_length=1,
        max_length=25,
        description="Journal category name; must exist in Fusion (USER_JE_CATEGORY_NAME).",
    )
    cash_clearing_account: str = Field(
        pattern=_ACCOUNT, description="Debited with the net amount of each payment (undeposited funds)."
    )
    ar_suspense_account: str = Field(
        pattern=_ACCOUNT, description="Credited with the gross amount of each invoice payment."
    )
    fee_account: str = Field(pattern=_ACCOUNT, description="Debited with Stripe's processing fees.")
    subscription_revenue_account: str | None = Field(
        default=None,
        pattern=_ACCOUNT,
        description="Credited with paid subscription invoices; empty means the AR suspense account.",
    )
    segment_delimiter: Literal["-", "."] = "-"
    import_timeout: int = Field(
        default=1800, ge=60, le=6 * 3600, description="Seconds to wait for one journal import (ESS job)."
    )
    poll_interval: float = Field(
        default=10.0, gt=0, le=600, description="Seconds between the first ESS status polls."
    )
    hold_timeout: int = Field(
        default=900,
        ge=0,
        le=6 * 3600,
        description=(
            "Seconds an import's ESS request may stay on HOLD before the task fails naming the request "
            "to release or cancel in Fusion (nothing is re-submitted while it is held)."
        ),
    )

    @model_validator(mode="after")
    def _distinct_accounts(self) -> GeneralLedgerSettings:
        if self.cash_clearing_account == self.ar_suspense_account:
            raise ValueError("cash_clearing_account and ar_suspense_account must differ")
        return self


OnboardingRule = Literal["email", "name_country"]
"""A rule of the onboarding matching pass besides the Fusion metadata, which always comes first."""


def _default_rules() -> list[OnboardingRule]:
    return ["email", "name_country"]


_SITE_USE_ID = re.compile(r"^[0-9]{1,30}$")
_STRIPE_CUSTOMER_ID = re.compile(r"^cus_[A-Za-z0-9]{1,250}$")


class OnboardingSettings(BaseModel):
    """How the ``customers`` stream matches a Fusion bill-to site with a customer the tenant's Stripe
    account already has, so the first sync links it instead of creating a second copy.

    Matching is decided in this order: an explicit entry of :attr:`links`; the Stripe metadata
    ``<customer_metadata_prefix>bill_to_site_use_id``; then each of :attr:`rules`. Several
    candidates, or one Stripe customer matched by several sites, are never guessed: the site is
    dead-lettered with every candidate named until :attr:`links` settles it.
    """

    model_config = ConfigDict(extra="forbid")

    enabled: bool = Field(
        default=True,
        description=(
            "Run the matching pass on the customers stream's first sync; false: every site without "
            "a ledger link or Fusion metadata in Stripe becomes a new Stripe customer."
        ),
    )
    rules: list[OnboardingRule] = Field(
        default_factory=_default_rules,
        description=(
            "Rules tried after the Fusion metadata, in order: email (the same e-mail address, "
            "ignoring case), name_country (the same name ignoring case, punctuation and spacing, "
            "and the same address country). Empty: metadata and links only."
        ),
    )
    links: dict[str, str] = Field(
        default_factory=dict,
        description=(
            "Fusion bill-to site use id → Stripe customer id (cus_…): links an operator sets to "
            "settle an ambiguous match; they win over every rule."
        ),
    )

    @field_validator("rules")
    @classmethod
    def _distinct_rules(cls, value: list[OnboardingRule]) -> list[OnboardingRule]:
        if len(set(value)) != len(value):
            raise ValueError("each onboarding rule may be listed once")
        return value

    @field_validator("links", mode="before")
    @classmethod
    def _ids_as_text(cls, value: Any) -> Any:
        # YAML reads an unquoted site use id (300000047112001: cus_…) as a number.
        if isinstance(value, dict):
            return {
                str(k) if isinstance(k, int) and not isinstance(k, bool) else k: v for k, v in value.items()
            }
        return value

    @field_validator("links")
    @classmethod
    def _valid_links(cls, value: dict[str, str]) -> dict[str, str]:
        for site, customer in value.items():
            if not _SITE_USE_ID.match(site):
                raise ValueError(f"{site!r} is not a Fusion bill-to site use id (digits only)")
            if not _STRIPE_CUSTOMER_ID.match(customer):
                raise ValueError(f"{customer!r} (site {site}) is not a Stripe customer id (cus_…)")
        sites_by_customer: dict[str, list[str]] = {}
        for site, customer in value.items():
            sites_by_customer.setdefault(customer, []).append(site)
        shared = {c: s for c, s in sites_by_customer.items() if len(s) > 1}
        if shared:
            customer, sites = sorted(shared.items())[0]
            raise ValueError(
                f"{customer} is linked to several sites ({', '.join(sites)}); a Stripe customer "
                "belongs to one bill-to site"
            )
        return value


class FusionStripeSettings(BaseModel):
    """Tenant settings of the ``fusion_stripe`` integration."""

    model_config = ConfigDict(extra="forbid")

    business_units: list[str] = Field(
        default_factory=list,
        description="Fusion business units whose customers and invoices are synced; empty means all.",
    )
    customer_metadata_prefix: str = Field(
        default="fusion_",
        description="Prefix of the Stripe metadata keys that carry Fusion ids.",
        pattern=r"^[a-z0-9_]{0,20}$",
    )
    invoice_mode: Literal["automatic", "on_demand"] = Field(
        default="automatic",
        description=(
            "automatic: every new complete Fusion invoice goes to Stripe; on_demand: only the "
            "invoice numbers given in a DAG run's invoice_numbers param."
        ),
    )
    email_invoices: bool = Field(
        default=True, description="Ask Stripe to e-mail each finalized invoice to the customer."
    )
    default_days_until_due: int = Field(
        default=30, ge=0, le=365, description="Days until due for a Fusion invoice without a due date."
    )
    past_due_date: Literal["postpone", "dead_letter"] = Field(
        default="postpone",
        description=(
            "What to do with an invoice whose Fusion due date has passed (Stripe refuses due dates in "
            "the past): postpone = send it due past_due_days from today, the original date kept in "
            "the metadata and shown on the invoice; dead_letter = keep it out of Stripe with the reason."
        ),
    )
    past_due_days: int = Field(
        default=7, ge=1, le=365, description="Days from today given to an invoice whose due date has passed."
    )
    gl: GeneralLedgerSettings | None = Field(
        default=None,
        description="General-ledger posting of Stripe payments; required by the payments and subscriptions streams.",
    )
    onboarding: OnboardingSettings = Field(
        default_factory=OnboardingSettings,
        description=(
            "Matching of Fusion sites with the customers the Stripe account already has, on the "
            "customers stream's first sync (see docs/integrations/fusion_stripe.md, Onboarding)."
        ),
    )
