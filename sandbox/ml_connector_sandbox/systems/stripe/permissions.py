"""Restricted keys (``rk_…``): which resource a request uses, and Stripe's 403 when the key may not.

A restricted key carries, per resource, *None*, *Read* or *Write* (Write includes Read). Stripe
names each permission ``rak_<resource>_<read|write>`` and, when a key lacks one, answers

* HTTP 403, ``error.type`` ``invalid_request_error``, no ``code`` (stripe-python maps any 403 to
  ``stripe.PermissionError``: contract A3, status table);
* ``error.message``: ``The provided key 'rk_test_****…1234' does not have the required permissions
  for this endpoint on account 'acct_…'. Having the 'rak_customer_read' permission would allow
  this request to continue.``

Sources (public, not Stripe's reference): the message text and the 403 with
``rawType: 'invalid_request_error'`` quoted in stripe/stripe-node#2246 (``rak_accounts_kyc_id_numbers_read``),
tylerjrichards/st-paywall#36 (``stripe.error.PermissionError`` … ``rak_subscription_read``) and
WWBN/AVideo#8516 (``rak_plan_write``). The resource names below come from public integrations
that pre-fill Stripe's create-key form (``rak_customer_read``, ``rak_invoice_read``,
``rak_charge_read``, ``rak_payment_intent_read``, ``rak_refund_read``, ``rak_event_read``,
``rak_balance_read``, ``rak_balance_transaction_source_read``, ``rak_subscription_read``,
``rak_plan_read`` for prices, ``rak_product_read``). UNCONFIRMED: which permission covers invoice
items and invoice payments (taken here as ``invoice``), how the key is masked (here as for a 401:
the prefix, stars, the last four characters), and whether expanding a related object
(``expand[]=balance_transaction``) also needs that object's permission (not simulated: only the
resource of the path is checked).
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Literal

from ml_connector_sandbox.systems.stripe.errors import StripeAPIError, mask_api_key

__all__ = ["RESOURCE_OF_PATH", "SANDBOX_ACCOUNT", "missing_permission", "permission_needed"]

SANDBOX_ACCOUNT = "acct_sandbox"
"""The account id named in the 403 message when the request sends no ``Stripe-Account``."""

RESOURCE_OF_PATH: dict[str, str] = {
    "customers": "customer",
    "invoices": "invoice",
    "invoiceitems": "invoice",  # UNCONFIRMED (see the module docstring)
    "invoice_payments": "invoice",  # UNCONFIRMED
    "charges": "charge",
    "payment_intents": "payment_intent",
    "refunds": "refund",
    "balance": "balance",
    "balance_transactions": "balance_transaction_source",
    "events": "event",
    "subscriptions": "subscription",
    "products": "product",
    "prices": "plan",
}
"""First path segment after ``/v1`` → the resource part of Stripe's permission name."""


def permission_needed(method: str, path: str) -> str | None:
    """``rak_<resource>_<read|write>`` a request needs (GET reads, anything else writes); ``None``
    for paths outside ``/v1`` (the sandbox admin API) and ``/v1/test_helpers``."""
    parts = [part for part in path.split("/") if part]
    if len(parts) < 2 or parts[0] != "v1" or parts[1] == "test_helpers":
        return None
    resource = RESOURCE_OF_PATH.get(parts[1], parts[1].rstrip("s"))
    access = "read" if method.upper() == "GET" else "write"
    return f"rak_{resource}_{access}"


def _allows(grants: Mapping[str, Literal["read", "write"]], permission: str) -> bool:
    body = permission.removeprefix("rak_")
    resource, _, access = body.rpartition("_")
    granted = grants.get(resource)
    return granted == "write" or (granted == "read" and access == "read")


def missing_permission(
    key: str,
    grants: Mapping[str, Literal["read", "write"]],
    method: str,
    path: str,
    account: str | None,
) -> StripeAPIError | None:
    """Stripe's 403 when the restricted ``key`` with ``grants`` may not send this request, else ``None``."""
    permission = permission_needed(method, path)
    if permission is None or _allows(grants, permission):
        return None
    return StripeAPIError(
        403,
        f"The provided key '{mask_api_key(key)}' does not have the required permissions for this endpoint "
        f"on account '{account or SANDBOX_ACCOUNT}'. Having the '{permission}' permission would allow this "
        "request to continue.",
    )
