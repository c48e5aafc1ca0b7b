"""What the ``fusion_stripe`` streams ask of Oracle Fusion, per stream (for ``ml-connector check``).

Built from the same names the streams query with (:mod:`.streams`, :mod:`.payments`,
:mod:`~ml_connector_provider.targets.fusion_gl`); a test runs the streams against the stand-in and
fails when a request uses a resource, attribute, child or finder not declared here
(:func:`~ml_connector_provider.checks.fusion.undeclared_requests`).
"""

from __future__ import annotations

from collections.abc import Iterable

from ml_connector_provider.checks.fusion import FusionNeed
from ml_connector_provider.integrations.fusion_stripe.streams import (
    CUSTOMER_KEY,
    CUSTOMER_RESOURCE,
    INVOICE_KEY,
    INVOICE_LINES,
    INVOICE_RESOURCE,
)
from ml_connector_provider.targets.fusion_gl import BATCHES_RESOURCE

__all__ = ["STREAM_NEEDS", "fusion_needs"]

#: Customer site attributes the customers stream maps (and onboarding matches on).
_CUSTOMER_ATTRIBUTES = (
    CUSTOMER_KEY,
    "LastUpdateDate",
    "AccountNumber",
    "BillToSiteNumber",
    "CustomerName",
    "Status",
)
_CUSTOMERS = FusionNeed(
    CUSTOMER_RESOURCE,
    "customers",
    key=CUSTOMER_KEY,
    attributes=_CUSTOMER_ATTRIBUTES,
    queryable=(CUSTOMER_KEY,),
    changed_since=True,
    in_lists=True,
    optional=("EmailAddress", "AddressLine1", "City", "PostalCode", "Country"),
)
_JOURNALS = FusionNeed(
    BATCHES_RESOURCE,
    "payments and subscriptions (journal import)",
    key="JeBatchId",
    attributes=("JeBatchId", "BatchName"),
    queryable=("BatchName", "JeBatchId"),
)
_PAYMENT_INVOICES = FusionNeed(
    INVOICE_RESOURCE,
    "payments",
    key=INVOICE_KEY,
    attributes=(INVOICE_KEY, "TransactionNumber"),
    queryable=(INVOICE_KEY, "TransactionNumber"),
    in_lists=True,
)

#: Stream name → what it asks of Fusion.
STREAM_NEEDS: dict[str, tuple[FusionNeed, ...]] = {
    "customers": (_CUSTOMERS,),
    "invoices": (
        FusionNeed(
            INVOICE_RESOURCE,
            "invoices",
            key=INVOICE_KEY,
            attributes=(
                INVOICE_KEY,
                "LastUpdateDate",
                "TransactionNumber",
                "BillToCustomerNumber",
                "InvoiceCurrencyCode",
                "DueDate",
            ),
            queryable=(INVOICE_KEY, "TransactionNumber"),
            children=(INVOICE_LINES,),
            changed_since=True,
            in_lists=True,
            optional=("EnteredAmount", "InvoiceStatus"),
            child_attributes=(
                (INVOICE_LINES, "CustomerTransactionLineId"),
                (INVOICE_LINES, "LineNumber"),
                (INVOICE_LINES, "Quantity"),
                (INVOICE_LINES, "UnitSellingPrice"),
            ),
        ),
        FusionNeed(
            CUSTOMER_RESOURCE,
            "invoices (bill-to customers)",
            key=CUSTOMER_KEY,
            attributes=(CUSTOMER_KEY, "AccountNumber"),
            queryable=("AccountNumber",),
            in_lists=True,
        ),
    ),
    "payments": (_PAYMENT_INVOICES, _JOURNALS),
    "subscriptions": (_JOURNALS,),
}


def fusion_needs(streams: Iterable[str]) -> list[FusionNeed]:
    """The needs of the given (enabled) streams, in stream order."""
    return [need for stream in streams for need in STREAM_NEEDS.get(stream, ())]
