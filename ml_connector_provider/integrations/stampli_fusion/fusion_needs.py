"""What the ``stampli_fusion`` streams ask of Oracle Fusion, per stream (for ``ml-connector check``).

Built from the same names the streams and the AP writer query with (:mod:`.streams`,
:mod:`~ml_connector_provider.targets.fusion_ap`); a test runs the streams against the stand-in
and fails when a request uses a resource, attribute, child or finder not declared here
(:func:`~ml_connector_provider.checks.fusion.undeclared_requests`).
"""

from __future__ import annotations

from collections.abc import Iterable

from ml_connector_provider.checks.fusion import FusionNeed
from ml_connector_provider.integrations.stampli_fusion.settings import StampliFusionSettings
from ml_connector_provider.integrations.stampli_fusion.streams import ACCOUNTS_RESOURCE, SUPPLIERS_RESOURCE
from ml_connector_provider.targets.fusion_ap import INVOICES_RESOURCE

__all__ = ["fusion_needs"]

_SUPPLIER_ATTRIBUTES = ("SupplierId", "SupplierNumber", "Supplier", "Status")
_SITE_ATTRIBUTES = (("sites", "SupplierSiteId"), ("sites", "SupplierSite"), ("sites", "SitePurposePayFlag"))


def _accounts(used_by: str, settings: StampliFusionSettings) -> FusionNeed:
    segments = tuple(f"Segment{n}" for n in range(1, settings.segment_count + 1))
    return FusionNeed(
        ACCOUNTS_RESOURCE,
        used_by,
        attributes=(*segments, "EnabledFlag", "AccountType"),
        queryable=(*segments, "EnabledFlag"),
    )


def fusion_needs(streams: Iterable[str], settings: StampliFusionSettings) -> list[FusionNeed]:
    """The needs of the given (enabled) streams, in stream order.

    :param streams: the tenant's enabled streams.
    :param settings: the tenant's settings (the chart of accounts' segment count).
    """
    needs: list[FusionNeed] = []
    for stream in streams:
        if stream == "invoices":
            needs += [
                FusionNeed(
                    SUPPLIERS_RESOURCE,
                    "invoices (suppliers)",
                    key="SupplierId",
                    attributes=_SUPPLIER_ATTRIBUTES,
                    queryable=("SupplierNumber",),
                    children=("sites",),
                    child_attributes=_SITE_ATTRIBUTES,
                    in_lists=True,
                ),
                _accounts("invoices (account combinations)", settings),
                FusionNeed(
                    INVOICES_RESOURCE,
                    "invoices (AP invoices)",
                    key="InvoiceId",
                    attributes=(
                        "InvoiceId",
                        "InvoiceNumber",
                        "SupplierNumber",
                        "BusinessUnit",
                        "CanceledFlag",
                    ),
                    queryable=("InvoiceNumber", "SupplierNumber", "BusinessUnit"),
                    in_lists=True,
                    writes=True,
                ),
            ]
        elif stream == "reference_data":
            needs += [
                FusionNeed(
                    SUPPLIERS_RESOURCE,
                    "reference_data (vendors)",
                    key="SupplierId",
                    attributes=_SUPPLIER_ATTRIBUTES,
                    queryable=("SupplierNumber",),
                    children=("sites",),
                    child_attributes=_SITE_ATTRIBUTES,
                ),
                _accounts("reference_data (GL accounts)", settings),
            ]
    return needs
