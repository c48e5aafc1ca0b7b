"""Oracle Fusion Cloud ERP stand-in: a generic ADF REST engine plus resource declarations.

* :mod:`.adf` — the engine: :class:`~.adf.AdfResource` declarations served with Fusion's
  collection envelope, paging, ``q`` (both dialects, :mod:`.query`), ``fields``, ``expand``,
  finders, writes, actions and error formats.
* :mod:`.customers` — AR customers (``receivablesCustomerAccountSiteActivities``) and their seed.
* :mod:`.system` — :class:`FusionSandbox`, the sandbox system registered as ``fusion``.
"""

from __future__ import annotations

from ml_connector_provider.sandbox.systems.fusion.adf import (
    CRUD,
    READ_ONLY,
    ActionContext,
    AdfAction,
    AdfAttribute,
    AdfError,
    AdfFinder,
    AdfResource,
    AdfService,
    WriteContext,
    attr,
)
from ml_connector_provider.sandbox.systems.fusion.customers import CUSTOMER_RESOURCE_NAME, CUSTOMERS_RESOURCE
from ml_connector_provider.sandbox.systems.fusion.system import (
    BASIC_PASSWORD,
    BASIC_USER,
    CLIENT_ID,
    CLIENT_SECRET,
    SCOPE,
    TOKEN_PATH,
    FusionSandbox,
)

__all__ = [
    "BASIC_PASSWORD",
    "BASIC_USER",
    "CLIENT_ID",
    "CLIENT_SECRET",
    "CRUD",
    "CUSTOMERS_RESOURCE",
    "CUSTOMER_RESOURCE_NAME",
    "READ_ONLY",
    "SCOPE",
    "TOKEN_PATH",
    "ActionContext",
    "AdfAction",
    "AdfAttribute",
    "AdfError",
    "AdfFinder",
    "AdfResource",
    "AdfService",
    "FusionSandbox",
    "WriteContext",
    "attr",
]
