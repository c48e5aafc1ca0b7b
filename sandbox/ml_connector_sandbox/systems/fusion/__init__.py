"""Oracle Fusion Cloud ERP stand-in: a generic ADF REST engine plus resource declarations.

* :mod:`.adf` — the engine: :class:`~.adf.AdfResource` declarations served with Fusion's
  collection envelope, paging, ``q`` (both dialects, :mod:`.query`), ``fields``, ``expand``,
  finders, writes, actions and error formats.
* :mod:`.customers` — AR customers (``receivablesCustomerAccountSiteActivities``) and their seed.
* :mod:`.receivables` — AR invoices (``receivablesInvoices`` with ``receivablesInvoiceLines``) and
  their seed.
* :mod:`.gl` — the chart of accounts (``accountCombinationsLOV``), ``journalBatches``, and
  ``erpintegrations`` (FBDI journal import, ESS status and logs); the ledger setup constants.
* :mod:`.payables` — suppliers (``suppliers`` with ``sites``) and AP invoices (``invoices`` with
  ``invoiceLines`` and ``invoiceDistributions``), their seeds and :class:`~.payables.PayablesSettings`.
* :mod:`.system` — :class:`FusionSandbox`, the sandbox system registered as ``fusion``.
"""

from __future__ import annotations

from ml_connector_sandbox.systems.fusion.adf import (
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
from ml_connector_sandbox.systems.fusion.customers import CUSTOMER_RESOURCE_NAME, CUSTOMERS_RESOURCE
from ml_connector_sandbox.systems.fusion.gl import (
    ACCOUNT_COMBINATION_RESOURCE_NAME,
    ACCOUNT_COMBINATIONS_RESOURCE,
    DATA_ACCESS_SET_ID,
    JOURNAL_BATCH_RESOURCE_NAME,
    JOURNAL_BATCHES_RESOURCE,
    LEDGER_ID,
    LEDGER_NAME,
    GlSettings,
)
from ml_connector_sandbox.systems.fusion.payables import (
    AP_INVOICE_RESOURCE_NAME,
    AP_INVOICES_RESOURCE,
    SEEDED_AP_INVOICES,
    SEEDED_SUPPLIERS,
    SUPPLIER_RESOURCE_NAME,
    SUPPLIERS_RESOURCE,
    PayablesSettings,
)
from ml_connector_sandbox.systems.fusion.receivables import (
    INVOICE_RESOURCE_NAME,
    INVOICES_RESOURCE,
    SEEDED_INVOICES,
)
from ml_connector_sandbox.systems.fusion.system import (
    BASIC_PASSWORD,
    BASIC_USER,
    CLIENT_ID,
    CLIENT_SECRET,
    SCOPE,
    TOKEN_PATH,
    FusionSandbox,
)

__all__ = [
    "ACCOUNT_COMBINATIONS_RESOURCE",
    "ACCOUNT_COMBINATION_RESOURCE_NAME",
    "AP_INVOICES_RESOURCE",
    "AP_INVOICE_RESOURCE_NAME",
    "BASIC_PASSWORD",
    "BASIC_USER",
    "CLIENT_ID",
    "CLIENT_SECRET",
    "CRUD",
    "CUSTOMERS_RESOURCE",
    "CUSTOMER_RESOURCE_NAME",
    "DATA_ACCESS_SET_ID",
    "INVOICES_RESOURCE",
    "INVOICE_RESOURCE_NAME",
    "JOURNAL_BATCHES_RESOURCE",
    "JOURNAL_BATCH_RESOURCE_NAME",
    "LEDGER_ID",
    "LEDGER_NAME",
    "READ_ONLY",
    "SCOPE",
    "SEEDED_AP_INVOICES",
    "SEEDED_INVOICES",
    "SEEDED_SUPPLIERS",
    "SUPPLIERS_RESOURCE",
    "SUPPLIER_RESOURCE_NAME",
    "TOKEN_PATH",
    "ActionContext",
    "AdfAction",
    "AdfAttribute",
    "AdfError",
    "AdfFinder",
    "AdfResource",
    "AdfService",
    "FusionSandbox",
    "GlSettings",
    "PayablesSettings",
    "WriteContext",
    "attr",
]
