"""The Oracle Fusion Cloud ERP stand-in (REST API 11.13.18.05), sandbox system ``fusion``.

Wire behaviour follows ``contracts/oracle_fusion_netsuite.md`` part A and the checklist in part C:

* ``POST /oauth2/v1/token`` — the IAM identity domain's client-credentials grant; the client
  authenticates with HTTP Basic or ``client_id``/``client_secret`` form fields, the ``scope``
  must end with ``urn:opc:resource:consumer::all``; errors are RFC 6749 JSON
  (``invalid_client`` 401, ``invalid_scope`` 400, …). Tokens last ``token_ttl`` seconds (3600 by
  default) on the sandbox clock.
* ``/fscmRestApi/resources/11.13.18.05/*`` and ``/fscmRestApi/resources/latest/*`` — with a valid
  unexpired bearer token or HTTP Basic credentials of a configured user (anything else is a
  ``401`` with a short ``text/plain`` body):

  - the ADF REST resources declared in :attr:`FusionSandbox.resources` (see :mod:`.adf`): AR
    customers ``receivablesCustomerAccountSiteActivities`` (:mod:`.customers`), AR invoices
    ``receivablesInvoices`` (:mod:`.receivables`), the chart of accounts
    ``accountCombinationsLOV`` and the imported journals ``journalBatches`` (:mod:`.gl`),
    ``suppliers`` with their ``sites`` and AP ``invoices`` with ``invoiceLines`` and
    ``invoiceDistributions`` (:mod:`.payables`);
  - ``erpintegrations`` — FBDI ``importBulkData`` of ``GlInterface.zip`` with
    ``JournalImportLauncher``, and the ESS finders ``ESSJobStatusRF``, ``ESSExecutionDetailsRF``
    and ``ESSJobExecutionDetailsRF`` (:class:`.gl.JournalImportService`).
* ``/ess/rest/scheduler/v1/requests`` — the ESS scheduler REST for the import's requests (list
  with ``q=absParentRequestId eq <id>``, item, ``hold``, ``release``), same credentials.
* Admin API (besides the framework's ``/__sandbox__/…``): ``/__sandbox__/fusion/resources``
  (list the declared resources), ``GET|POST /__sandbox__/fusion/resources/<name>`` (dump, or
  create/change items — read-only resources included — stamping ``LastUpdateDate``),
  ``DELETE /__sandbox__/fusion/resources/<name>/<key>``, ``POST /__sandbox__/fusion/customers``
  (create/change AR customers, see :meth:`FusionSandbox.upsert_customer`),
  ``POST /__sandbox__/fusion/invoices`` (create/change AR invoices, see
  :meth:`FusionSandbox.upsert_invoice`), ``POST /__sandbox__/fusion/suppliers`` (create/change
  suppliers with their sites, see :meth:`FusionSandbox.upsert_supplier`; the generic
  ``resources/suppliers`` route does the same), ``GET /__sandbox__/fusion/gl-interface`` (the rows
  Journal Import left in ``GL_INTERFACE``), ``GET /__sandbox__/fusion/ess-jobs`` (the ESS
  requests with their logs), ``POST /__sandbox__/fusion/ess/hold-next`` (``{"state": "HOLD"}`` or
  ``"PAUSED"``: the next Import Journals request is created held), ``POST
  /__sandbox__/fusion/ess/requests/<id>/hold|release``, ``POST /__sandbox__/fusion/ess/run``
  (``{"ticks": n}``, or until nothing moves), ``GET|POST /__sandbox__/fusion/gl-settings`` (ledger,
  sources, categories, currencies, open periods, ticks per request, state names, descendant
  look-ups, slow imports, ``like`` on batch names, see :class:`.gl.GlSettings`), ``GET|POST /__sandbox__/fusion/payables/settings`` (payables
  business units, duplicate-number scope, see :class:`.payables.PayablesSettings`) and
  ``GET|POST /__sandbox__/fusion/settings`` (page-size cap, default page size, tie order, and
  how a pod that differs answers: ``refused_operators`` (``in``/``like`` in ``q`` → 400),
  ``forbidden_resources`` (→ 403 ``INSUFFICIENT_PERMISSION``), ``doubled_quotes`` (``false``:
  ``''`` inside a text literal → 400), ``removed_finders``
  (``<resource>.<finder>`` → 400 and left out of ``describe``)). A clock offset
  (``POST /__sandbox__/clock {"offset": s}``) also shows in the ``Date`` header of REST answers.

Faults (429 with or without ``Retry-After``, 503, dropped connections, slow pages, expired tokens)
come from the framework: ``system.faults.add(FaultRule.rate_limit(path="receivablesCustomer"))``
or ``POST /__sandbox__/faults``; ``POST /__sandbox__/tokens/expire`` expires every token.
"""

from __future__ import annotations

import copy
import hmac
import re
from collections.abc import Callable, Collection, Mapping, Sequence
from dataclasses import replace
from email.utils import formatdate
from typing import Any, ClassVar, Literal, cast

from fastapi import APIRouter, Body, Depends, FastAPI, HTTPException, Request
from fastapi.responses import JSONResponse, PlainTextResponse, Response
from pydantic import BaseModel, ConfigDict, Field, ValidationError, field_validator

from ml_connector_sandbox.auth import AuthFailure, OAuthError, Principal, TokenRequest
from ml_connector_sandbox.base import ADMIN_PREFIX, SandboxClock, SandboxSystem
from ml_connector_sandbox.systems.fusion.adf import AdfError, AdfResource, AdfService, framework_version
from ml_connector_sandbox.systems.fusion.customers import (
    ADDRESS_ATTRIBUTES,
    CUSTOMER_RESOURCE_NAME,
    CUSTOMERS_RESOURCE,
    format_site_address,
)
from ml_connector_sandbox.systems.fusion.gl import (
    ACCOUNT_COMBINATION_RESOURCE_NAME,
    ACCOUNT_COMBINATIONS_RESOURCE,
    ERP_INTEGRATIONS,
    JOURNAL_BATCH_RESOURCE_NAME,
    JOURNAL_BATCHES_RESOURCE,
    DetailsLayout,
    EssStateError,
    GlSettings,
    JournalImportService,
    StateNames,
)
from ml_connector_sandbox.systems.fusion.journal_setup import (
    JOURNAL_CATEGORIES_RESOURCE,
    JOURNAL_SOURCES_RESOURCE,
)
from ml_connector_sandbox.systems.fusion.payables import (
    AP_INVOICE_RESOURCE_NAME,
    AP_INVOICES_RESOURCE,
    PAYABLES_SETTINGS_KEY,
    SUPPLIER_RESOURCE_NAME,
    SUPPLIERS_RESOURCE,
    DuplicateScope,
    PayablesSettings,
)
from ml_connector_sandbox.systems.fusion.receivables import (
    INVOICE_LINES_NAME,
    INVOICE_RESOURCE_NAME,
    INVOICES_RESOURCE,
    next_line_id,
    prepare_invoice,
)

__all__ = [
    "API_VERSIONS",
    "BASIC_PASSWORD",
    "BASIC_USER",
    "CLIENT_ID",
    "CLIENT_SECRET",
    "REST_PREFIX",
    "SCHEDULER_PREFIX",
    "SCOPE",
    "SCOPE_SUFFIX",
    "TOKEN_PATH",
    "FusionSandbox",
]

TOKEN_PATH = "/oauth2/v1/token"
REST_PREFIX = "/fscmRestApi/resources"
SCHEDULER_PREFIX = "/ess/rest/scheduler/v1/requests"
_LIKE = re.compile(r"\blike\b", re.IGNORECASE)
_QUOTED = re.compile(r"'(?:[^']|'')*'")
API_VERSIONS = ("11.13.18.05", "latest")
SCOPE_SUFFIX = "urn:opc:resource:consumer::all"
SCOPE = "urn:opc:resource:fa:instanceid=1234567" + SCOPE_SUFFIX
CLIENT_ID = "ML_CONNECTOR_INTEGRATION"
CLIENT_SECRET = "idcs-sandbox-5f0c2b7e9a4d41c8"
BASIC_USER = "FIN_INTEGRATION_USER"
BASIC_PASSWORD = "Sandbox-Basic-8d61e2"


class _Settings(BaseModel):
    model_config = ConfigDict(extra="forbid")

    max_limit: int | None = Field(default=None, ge=1)
    default_limit: int | None = Field(default=None, ge=1)
    tie_order: Literal["key", "random"] | None = None
    # What a pod that differs answers (switches for ``ml-connector check``; see FusionSandbox):
    refused_operators: list[Literal["in", "like"]] | None = None
    forbidden_resources: list[str] | None = None
    removed_finders: list[str] | None = None
    doubled_quotes: bool | None = None

    @field_validator("removed_finders")
    @classmethod
    def _finder_names(cls, value: list[str] | None) -> list[str] | None:
        if value is not None and not all(
            len(name.split(".")) == 2 and all(name.split(".")) for name in value
        ):
            raise ValueError("name each finder as <resource>.<finder>, e.g. erpintegrations.ESSJobStatusRF")
        return value


class _GlSettingsBody(BaseModel):
    model_config = ConfigDict(extra="forbid")

    ledger_id: int | None = None
    ledger_name: str | None = Field(default=None, min_length=1)
    data_access_set_id: int | None = None
    sources: list[str] | None = None
    categories: list[str] | None = None
    currencies: list[str] | None = None
    open_periods: list[str] | None = None
    polls_to_terminal: int | None = Field(default=None, ge=0)
    rejected_status: Literal["ERROR", "WARNING", "SUCCEEDED"] | None = None
    state_names: StateNames | None = None
    execution_details_finder: bool | None = None
    execution_details_layout: DetailsLayout | None = None
    scheduler_rest: bool | None = None
    import_delay_polls: int | None = Field(default=None, ge=0)
    import_delay_seconds: float | None = Field(default=None, ge=0)
    batch_name_like: bool | None = None


class _HoldBody(BaseModel):
    model_config = ConfigDict(extra="forbid")

    state: Literal["HOLD", "PAUSED"] | None = "HOLD"


class _RunBody(BaseModel):
    model_config = ConfigDict(extra="forbid")

    ticks: int | None = Field(default=None, ge=0)


class _PayablesSettingsBody(BaseModel):
    model_config = ConfigDict(extra="forbid")

    business_units: list[str] | None = Field(default=None, min_length=1)
    duplicate_scope: DuplicateScope | None = None

    @field_validator("business_units")
    @classmethod
    def _named(cls, value: list[str] | None) -> list[str] | None:
        if value is not None and not all(name.strip() for name in value):
            raise ValueError("business unit names must not be blank")
        return value


def _settings_changes(
    body_type: type[BaseModel], changes: Mapping[str, Any], *, nullable: Collection[str] = ()
) -> dict[str, Any]:
    """The settings ``changes`` sets, validated by ``body_type`` (the admin route's body), for
    :func:`dataclasses.replace`: lists become tuples; ``None`` leaves a setting as it is unless
    the setting is ``nullable``.

    :raises ValueError: an unknown setting or an invalid value.
    """
    try:
        body = body_type(**changes)
    except ValidationError as exc:
        raise ValueError(str(exc)) from None
    updates: dict[str, Any] = {}
    for name in body.model_fields_set:
        value = getattr(body, name)
        if value is None and name not in nullable:
            continue
        updates[name] = tuple(value) if isinstance(value, list) else value
    return updates


class FusionSandbox(SandboxSystem):
    """Local stand-in of Oracle Fusion Cloud ERP's REST API.

    Resources are declarations served by a generic ADF engine (:class:`.adf.AdfService`): AR
    customers (``receivablesCustomerAccountSiteActivities``, read-only), AR invoices
    (``receivablesInvoices`` with ``receivablesInvoiceLines``), the chart of accounts
    (``accountCombinationsLOV``, read-only), journal batches (``journalBatches`` with
    ``journalHeaders`` and ``journalLines``, read and delete), suppliers (``suppliers`` with
    ``sites``, read-only) and AP invoices (``invoices`` with ``invoiceLines`` and their
    ``invoiceDistributions``), whose behaviour where the contract is UNCONFIRMED is
    :attr:`payables_settings`. ``erpintegrations`` (FBDI journal import and ESS status) is served
    by :class:`.gl.JournalImportService`, whose ledger setup is :attr:`gl_settings`. A later
    resource is added by appending its :class:`.adf.AdfResource` to :attr:`resources` (or passing
    it in ``extra_resources``).

    :param clock: share a clock with other systems (default: a new one).
    :param token_ttl: token lifetime in seconds (default 3600).
    :param clients: OAuth clients, id → secret (default :data:`CLIENT_ID` / :data:`CLIENT_SECRET`).
    :param basic_users: HTTP Basic users, name → password (default :data:`BASIC_USER`).
    :param extra_resources: more resource declarations to serve.
    :param default_limit: page size when ``limit`` is absent (25).
    :param max_limit: page-size cap (500; whether real pods cap at 499 is UNCONFIRMED).
    :param tie_order: ``"key"`` (rows tied under ``orderBy`` come in key order) or ``"random"``
        (shuffled per request, like a database without a unique sort).
    :param require_scope: refuse token requests whose scope does not end with
        ``urn:opc:resource:consumer::all``.
    """

    name = "fusion"
    title = "Oracle Fusion Cloud ERP"
    conn_type = "oracle_fusion"
    token_ttl = 3600.0
    clients: ClassVar[Mapping[str, str]] = {CLIENT_ID: CLIENT_SECRET}
    basic_users: ClassVar[Mapping[str, str]] = {BASIC_USER: BASIC_PASSWORD}
    resources: ClassVar[tuple[AdfResource, ...]] = (
        CUSTOMERS_RESOURCE,
        INVOICES_RESOURCE,
        ACCOUNT_COMBINATIONS_RESOURCE,
        JOURNAL_BATCHES_RESOURCE,
        SUPPLIERS_RESOURCE,
        AP_INVOICES_RESOURCE,
        JOURNAL_SOURCES_RESOURCE,
        JOURNAL_CATEGORIES_RESOURCE,
    )
    """The resources served; later changes append their declarations here."""

    def __init__(
        self,
        *,
        clock: SandboxClock | None = None,
        token_ttl: float | None = None,
        clients: Mapping[str, str] | None = None,
        basic_users: Mapping[str, str] | None = None,
        extra_resources: Sequence[AdfResource] = (),
        default_limit: int = 25,
        max_limit: int = 500,
        tie_order: Literal["key", "random"] = "key",
        require_scope: bool = True,
    ) -> None:
        super().__init__(clock=clock, token_ttl=token_ttl, clients=clients)
        self.basic_credentials: dict[str, str] = dict(
            type(self).basic_users if basic_users is None else basic_users
        )
        self.require_scope = require_scope
        self.service = AdfService(
            (*self.resources, *extra_resources),
            state=self.state,
            now=self.clock.now,
            default_limit=default_limit,
            max_limit=max_limit,
            tie_order=tie_order,
        )
        self.refused_operators: frozenset[str] = frozenset()
        """``q`` operators every resource refuses with 400 (``in``, ``like``): whether a pod
        allows ``in`` lists is UNCONFIRMED (contract A4.2 lists it for framework version 2)."""
        self.forbidden_resources: frozenset[str] = frozenset()
        """Resources the integration user lacks the privilege for: 403 with ADF's
        ``INSUFFICIENT_PERMISSION`` (contract A6: "Authenticated but lacks privilege")."""
        self.doubled_quotes = True
        """Whether a ``'`` inside a ``q`` text literal may be written doubled (``'O''Brien'``):
        UNCONFIRMED (contract A4.2 says only that text literals are single-quoted); off, a
        literal holding a doubled quote answers 400."""
        self._initial_settings = self._settings()
        self.gl_settings = GlSettings()
        """The general ledger setup (ledger, sources, categories, periods, ESS progression)."""
        self.journal_import = JournalImportService(
            self.service, self.state, self.clock.now, lambda: self.gl_settings
        )

    def reset(self, *, state: bool = True, **others: bool) -> None:
        """Back to a fresh start (see :meth:`SandboxSystem.reset`, which takes the same flags);
        paging, GL and payables settings too, with the state."""
        super().reset(state=state, **others)
        if state:
            self.gl_settings = GlSettings()
            self.service.max_limit = self._initial_settings["max_limit"]
            self.service.default_limit = self._initial_settings["default_limit"]
            self.service.tie_order = self._initial_settings["tie_order"]
            self.refused_operators = frozenset()
            self.forbidden_resources = frozenset()
            self.service.removed_finders = set()
            self.doubled_quotes = True

    # -- state ----------------------------------------------------------------------------------

    def seed(self) -> Mapping[str, Any]:
        """Every declared resource's seed items (``customers.seed_customers``,
        ``receivables.seed_invoices``, ``gl.seed_account_combinations``,
        ``payables.seed_suppliers``, ``payables.seed_ap_invoices``; no journal batches), no ESS
        requests, an empty ``GL_INTERFACE`` and the default payables settings."""
        return {
            **self.service.seed(),
            **JournalImportService.initial_state(),
            PAYABLES_SETTINGS_KEY: PayablesSettings(),
        }

    def items(self, resource: str) -> list[dict[str, Any]]:
        """A copy of the stored items of a top-level resource (children included)."""
        self.service.resource(resource)
        with self.state as db:
            return copy.deepcopy(list(db.get(resource, [])))

    def customers(self) -> list[dict[str, Any]]:
        """A copy of the AR customer rows (one per bill-to site)."""
        return self.items(CUSTOMER_RESOURCE_NAME)

    def invoices(self) -> list[dict[str, Any]]:
        """A copy of the AR invoices, each with its ``receivablesInvoiceLines`` list."""
        return self.items(INVOICE_RESOURCE_NAME)

    def upsert_invoice(
        self, values: Mapping[str, Any], lines: Sequence[Mapping[str, Any]] | None = None
    ) -> dict[str, Any]:
        """Create or change an AR invoice from the admin side; ``LastUpdateDate`` moves to the
        sandbox time unless ``values`` sets it.

        The invoice is matched by ``CustomerTransactionId``, else by ``TransactionSource`` +
        ``TransactionNumber``. A new invoice gets the next id and, unless given, the REST defaults
        (see :mod:`.receivables`): ``TransactionSource`` ``Manual``, a generated number, the
        customer's name, site, business unit and currency, ``Complete``, dates from the sandbox
        date and the payment terms. ``lines`` (or a ``receivablesInvoiceLines`` list in
        ``values``) replace the invoice's lines: each gets an id, a ``LineNumber`` and a
        ``LineAmount`` (quantity × price, rounded to the currency) unless given, and the header's
        ``EnteredAmount`` and ``InvoiceBalanceAmount`` are recomputed unless ``values`` sets them.
        Unknown customers are accepted here (the REST API refuses them).

        :returns: a copy of the stored invoice.
        :raises ValueError: an attribute is unknown or a value does not fit its type.
        """
        given = dict(values)
        if lines is not None:
            given[INVOICE_LINES_NAME] = [dict(line) for line in lines]
        with self.state as db:
            rows = db.setdefault(INVOICE_RESOURCE_NAME, [])
            existing = self.service.find_alternate(rows, INVOICES_RESOURCE, given)
            merged: dict[str, Any] = copy.deepcopy(existing) if existing is not None else {}
            merged.update(given)
            new_lines = given.get(INVOICE_LINES_NAME)
            if new_lines is not None:
                if not isinstance(new_lines, list) or not all(isinstance(line, dict) for line in new_lines):
                    raise ValueError(f"{INVOICE_LINES_NAME} must be a list of objects")
                for line in new_lines:
                    if line.get("CustomerTransactionLineId") is None:
                        line["CustomerTransactionLineId"] = next_line_id(db, new_lines)
                for name in ("EnteredAmount", "InvoiceBalanceAmount"):
                    if name not in values:
                        merged[name] = None
            for name in ("LastUpdateDate", "LastUpdatedBy"):
                if name not in values:
                    merged.pop(name, None)
            try:
                prepare_invoice(merged, db, self.clock.now().date(), strict=False)
                return self.service.admin_upsert(db, INVOICE_RESOURCE_NAME, merged)
            except AdfError as exc:
                raise ValueError(exc.message) from None

    def account_combinations(self) -> list[dict[str, Any]]:
        """A copy of the chart of accounts (``accountCombinationsLOV``)."""
        return self.items(ACCOUNT_COMBINATION_RESOURCE_NAME)

    def suppliers(self) -> list[dict[str, Any]]:
        """A copy of the suppliers, each with its ``sites`` list."""
        return self.items(SUPPLIER_RESOURCE_NAME)

    def ap_invoices(self) -> list[dict[str, Any]]:
        """A copy of the AP invoices (``invoices``), each with its ``invoiceLines`` and their
        ``invoiceDistributions``."""
        return self.items(AP_INVOICE_RESOURCE_NAME)

    def upsert_supplier(self, values: Mapping[str, Any] | None = None, **attributes: Any) -> dict[str, Any]:
        """Create or change a supplier and its sites; ``LastUpdateDate`` moves to the sandbox time
        unless given (and so does that of every site given).

        The supplier is matched by ``SupplierId``, else by ``SupplierNumber``. A new one needs
        ``Supplier`` (its name) and gets the next ``SupplierId``, ``SupplierPartyId`` and
        ``SupplierNumber``, ``Status`` ``ACTIVE`` and ``BusinessRelationship``
        ``Spend Authorized`` unless given. Sites under ``sites`` are merged into the supplier's:
        matched by ``SupplierSiteId``, else by ``SupplierSite`` (+ ``ProcurementBU`` when given),
        and changed, or added with new ids, ``ProcurementBU`` ``US1 Business Unit`` and both
        purpose flags set unless given. Sites not given are kept.
        ``upsert_supplier(SupplierNumber="1001", Status="INACTIVE")`` deactivates a supplier;
        ``upsert_supplier(SupplierNumber="1001", sites=[{"SupplierSite": "MAIN-PAY",
        "InactiveDate": "2026-01-01"}])`` one of its sites. :meth:`upsert` of ``suppliers``
        (and the admin routes) does the same.

        :param values: attributes to set (merged with ``attributes``).
        :returns: a copy of the stored supplier.
        :raises ValueError: a new supplier without a name, an unknown attribute, or a value that
            does not fit its type.
        """
        return self.upsert(SUPPLIER_RESOURCE_NAME, {**(values or {}), **attributes})

    @property
    def payables_settings(self) -> PayablesSettings:
        """The payables behaviour where the contract is UNCONFIRMED (business units, duplicate
        scope); kept in the state, where the ``invoices`` rules read it, so a state reset
        restores the defaults."""
        settings: PayablesSettings = self.state[PAYABLES_SETTINGS_KEY]
        return settings

    @payables_settings.setter
    def payables_settings(self, settings: PayablesSettings) -> None:
        self.state[PAYABLES_SETTINGS_KEY] = settings

    def configure_payables(self, **changes: Any) -> dict[str, Any]:
        """Change the payables settings (:class:`.payables.PayablesSettings`), e.g.
        ``configure_payables(duplicate_scope="supplier_site")`` or
        ``configure_payables(business_units=["US1 Business Unit"])``; ``None`` leaves a setting
        as it is. Lasts until the next state reset.

        :returns: the settings now in force.
        :raises ValueError: an unknown setting or an invalid value.
        """
        updates = _settings_changes(_PayablesSettingsBody, changes)
        with self.state as db:
            db[PAYABLES_SETTINGS_KEY] = settings = replace(db[PAYABLES_SETTINGS_KEY], **updates)
        return settings.to_dict()

    def journal_batches(self) -> list[dict[str, Any]]:
        """A copy of the journal batches, each with its ``journalHeaders`` and their ``journalLines``."""
        return self.items(JOURNAL_BATCH_RESOURCE_NAME)

    def gl_interface_rows(self) -> list[dict[str, Any]]:
        """The rows Journal Import left in ``GL_INTERFACE`` (see :meth:`.gl.JournalImportService.interface_rows`)."""
        return self.journal_import.interface_rows()

    def ess_jobs(self) -> list[dict[str, Any]]:
        """The ESS requests of every import (see :meth:`.gl.JournalImportService.jobs`)."""
        return self.journal_import.jobs()

    def configure_gl(self, **changes: Any) -> dict[str, Any]:
        """Change the general ledger setup (:class:`.gl.GlSettings`), e.g.
        ``configure_gl(polls_to_terminal=5, open_periods=["Jan-26"])``; ``open_periods=None``
        restores the default (the current and previous month). Lasts until the next state reset.

        :returns: the settings now in force.
        :raises ValueError: an unknown setting or an invalid value.
        """
        updates = _settings_changes(_GlSettingsBody, changes, nullable={"open_periods"})
        self.gl_settings = replace(self.gl_settings, **updates)
        return self.gl_settings.to_dict(self.clock.now().date())

    def upsert(
        self, resource: str, values: Mapping[str, Any], *, user: str = "SANDBOX_ADMIN"
    ) -> dict[str, Any]:
        """Create or change an item of any declared resource, bypassing its allowed operations.

        The item is matched by key or alternate key. ``LastUpdateDate`` is stamped with the
        sandbox time unless ``values`` sets it (tests use that to place records precisely).
        A resource's ``on_admin_upsert`` hook completes the values first: suppliers are merged
        as :meth:`upsert_supplier` describes; AP invoices get their line and distribution
        numbers and, when new, the REST defaults, without the REST API's checks.

        :raises KeyError: the resource is not declared.
        :raises ValueError: an attribute is unknown, a value does not fit its type, or the
            resource's hook refuses the values.
        """
        with self.state as db:
            try:
                return self.service.admin_upsert(db, resource, values, user=user)
            except AdfError as exc:
                raise ValueError(exc.message) from None

    def upsert_customer(self, values: Mapping[str, Any] | None = None, **attributes: Any) -> dict[str, Any]:
        """Create or change an AR customer bill-to site; ``LastUpdateDate`` moves to the sandbox time.

        The row is matched by ``BillToSiteUseId``, else by ``AccountNumber`` + ``BillToSiteNumber``.
        A new row needs ``CustomerName``; it gets the next ``BillToSiteUseId`` and, unless given,
        the account ids of a row with the same ``AccountNumber`` (a new site of that account) or new
        ones, the next account and site numbers, ``Status`` ``A`` and zero balances.
        ``BillToSiteAddress`` is rebuilt from the structured address attributes.

        :param values: attributes to set (merged with ``attributes``).
        :returns: a copy of the stored row.
        """
        given = {**(values or {}), **attributes}
        with self.state as db:
            rows = db.setdefault(CUSTOMER_RESOURCE_NAME, [])
            existing = self.service.find_alternate(rows, CUSTOMERS_RESOURCE, given)
            if existing is None:
                if not given.get("CustomerName"):
                    raise ValueError("a new customer needs a CustomerName")
                self._new_customer_defaults(rows, given)
            if "BillToSiteAddress" not in given and (
                existing is None or any(name in given for name in ADDRESS_ATTRIBUTES)
            ):
                given["BillToSiteAddress"] = format_site_address({**(existing or {}), **given})
            try:
                return self.service.admin_upsert(db, CUSTOMER_RESOURCE_NAME, given)
            except AdfError as exc:
                raise ValueError(exc.message) from None

    @staticmethod
    def _new_customer_defaults(rows: Sequence[Mapping[str, Any]], given: dict[str, Any]) -> None:
        """Fill what a new bill-to site inherits from its account, or what a new account gets."""
        sibling = next((row for row in rows if row.get("AccountNumber") == given.get("AccountNumber")), None)
        if sibling is not None:
            for name in ("AccountId", "CustomerId", "AccountName", "BusinessUnit", "CurrencyCode"):
                given.setdefault(name, sibling.get(name))
        else:
            account_ids = [row["AccountId"] for row in rows if isinstance(row.get("AccountId"), int)]
            party_ids = [row["CustomerId"] for row in rows if isinstance(row.get("CustomerId"), int)]
            given.setdefault("AccountId", max(account_ids, default=300000047101000) + 1)
            given.setdefault("CustomerId", max(party_ids, default=300000047090000) + 1)
        if given.get("AccountNumber") is None:
            numbers = [
                int(row["AccountNumber"]) for row in rows if str(row.get("AccountNumber", "")).isdigit()
            ]
            given["AccountNumber"] = str(max(numbers, default=1000) + 1)
        if given.get("BillToSiteNumber") is None:
            numbers = [
                int(row["BillToSiteNumber"]) for row in rows if str(row.get("BillToSiteNumber", "")).isdigit()
            ]
            given["BillToSiteNumber"] = str(max(numbers, default=2000) + 1)
        given.setdefault("AccountName", given["CustomerName"])
        given.setdefault("Status", "A")
        given.setdefault("BusinessUnit", "US1 Business Unit")
        given.setdefault("TotalOpenReceivablesForSite", 0)
        given.setdefault("TotalTransactionsDueForSite", 0)

    def delete(self, resource: str, key: Any) -> bool:
        """Remove an item of a top-level resource; returns whether it existed."""
        declaration = self.service.resource(resource)
        with self.state as db:
            rows = db.setdefault(resource, [])
            item = self.service.find(rows, declaration, key)
            if item is None:
                return False
            rows.remove(item)
            return True

    # -- connections ----------------------------------------------------------------------------

    def connection(self, base_url: str) -> dict[str, Any]:
        """The ``oracle_fusion`` Airflow connection (JSON form) using OAuth 2.0 client credentials.

        The token endpoint is served by the stand-in itself (on a real tenancy it is the IAM
        identity domain's host).
        """
        return {
            "conn_type": self.conn_type,
            "host": base_url,
            "extra": {
                "auth_type": "oauth2_client_credentials",
                "token_url": base_url.rstrip("/") + TOKEN_PATH,
                "client_id": CLIENT_ID,
                "client_secret": self.tokens.clients.get(CLIENT_ID, CLIENT_SECRET),
                "scope": SCOPE,
                # A number, as the connection form stores it: Airflow hands every string extra to
                # its secret masker, which warns in each task about one shorter than 5 characters.
                "rest_framework_version": 4,
                "timeout": 30,
                # Both descendant look-ups of a journal import are served; which one a pod lets
                # the integration user call is UNCONFIRMED (contract A5.7c), so ess_descendants is
                # left empty: the client tries both (auto).
                "ess_descendants": None,
            },
        }

    def basic_connection(self, base_url: str) -> dict[str, Any]:
        """The ``oracle_fusion`` Airflow connection (JSON form) using HTTP Basic auth."""
        login, password = next(iter(self.basic_credentials.items()), (BASIC_USER, BASIC_PASSWORD))
        return {
            "conn_type": self.conn_type,
            "host": base_url,
            "login": login,
            "password": password,
            "extra": {"auth_type": "basic", "rest_framework_version": 4, "timeout": 30},
        }

    # -- routes ---------------------------------------------------------------------------------

    def register_routes(self, app: FastAPI) -> None:
        """Token endpoint, the REST resources under both version prefixes, and the admin routes."""
        self.add_token_endpoint(app, TOKEN_PATH, validate=self._check_scope)
        auth = self.require_bearer(basic=self._check_basic, unauthorized=_unauthorized)

        @app.api_route(
            REST_PREFIX + "/{version}/{path:path}",
            methods=["GET", "POST", "PATCH", "DELETE"],
            include_in_schema=False,
        )
        async def rest(request: Request, version: str, principal: Principal = Depends(auth)) -> Response:
            if version not in API_VERSIONS:
                return PlainTextResponse(f"The REST API version {version} does not exist.", status_code=404)
            base_path = f"{REST_PREFIX}/{version}"
            raw_path = bytes(request.scope.get("raw_path") or request.url.path.encode()).decode("latin-1")
            rest_path = raw_path[raw_path.find(base_path) + len(base_path) :] if base_path in raw_path else ""
            resource = rest_path.strip("/").split("/", 1)[0].split("?", 1)[0]
            response = await self._rest(request, base_path, rest_path, resource, principal.subject)
            if self.clock.offset:
                # A pod whose clock is off says so in its Date header (uvicorn adds the host's
                # own Date too; a client comparing clocks sees both, as behind a proxy).
                response.headers["Date"] = formatdate(self.clock.time(), usegmt=True)
            return response

        @app.api_route(SCHEDULER_PREFIX, methods=["GET"], include_in_schema=False)
        @app.api_route(SCHEDULER_PREFIX + "/{path:path}", methods=["GET", "POST"], include_in_schema=False)
        def scheduler(request: Request, path: str = "", principal: Principal = Depends(auth)) -> Response:
            # The ESS scheduler REST lives outside /fscmRestApi and takes the same credentials.
            status, body = self.journal_import.scheduler(request.method, path, dict(request.query_params))
            if isinstance(body, str):
                return PlainTextResponse(body, status_code=status)
            return JSONResponse(body, status_code=status)

        app.include_router(self._admin_router())

    async def _rest(
        self, request: Request, base_path: str, rest_path: str, resource: str, user: str
    ) -> Response:
        """One REST request, after the switches of a pod that differs (forbidden resources,
        refused operators)."""
        if resource in self.forbidden_resources:
            return AdfError(
                403,
                f"The user is not authorized to access the resource {resource}.",
                "INSUFFICIENT_PERMISSION",
            ).to_response(framework_version(request))
        refused = _refuse_operators(request, resource, self.refused_operators)
        if refused is None and not self.doubled_quotes:
            refused = _refuse_doubled_quotes(request, resource)
        if refused is not None:
            return refused
        if resource == ERP_INTEGRATIONS:
            return await self.journal_import.handle(request, base_path, rest_path, user)
        if resource == JOURNAL_BATCH_RESOURCE_NAME and not self.gl_settings.batch_name_like:
            refused = _refuse_like(request)
            if refused is not None:
                return refused
        return await self.service.handle(request, base_path, rest_path, user)

    def _check_scope(self, request: TokenRequest) -> None:
        if not self.require_scope:
            return
        scope = (request.scope or "").strip()
        if not scope.endswith(SCOPE_SUFFIX):
            raise OAuthError(
                "invalid_scope",
                f"The requested scope is invalid, unknown, or malformed: the scope must end with {SCOPE_SUFFIX}.",
            )

    def _check_basic(self, user: str, password: str) -> bool:
        expected = self.basic_credentials.get(user)
        return expected is not None and hmac.compare_digest(expected.encode(), password.encode())

    def _admin_router(self) -> APIRouter:
        router = APIRouter(prefix=f"{ADMIN_PREFIX}/{self.name}", tags=["fusion sandbox admin"])

        def declared(name: str) -> AdfResource:
            try:
                return self.service.resource(name)
            except KeyError as exc:
                raise HTTPException(status_code=404, detail=str(exc.args[0])) from None

        def upsert_all(body: Any, upsert: Callable[[dict[str, Any]], dict[str, Any]]) -> Any:
            rows = body if isinstance(body, list) else [body]
            if not all(isinstance(row, dict) for row in rows):
                raise HTTPException(status_code=422, detail="send a JSON object or a list of objects")
            try:
                stored = [upsert(row) for row in rows]
            except ValueError as exc:
                raise HTTPException(status_code=400, detail=str(exc)) from None
            return stored if isinstance(body, list) else stored[0]

        @router.get("/resources")
        def list_resources() -> list[dict[str, Any]]:
            return [
                {
                    "name": resource.name,
                    "key": resource.key,
                    "operations": sorted(resource.operations),
                    "children": [child.name for child in resource.children],
                    "count": len(self.state.get(resource.name) or []),
                }
                for resource in self.service.resources.values()
            ]

        @router.get("/resources/{name}")
        def dump(name: str) -> list[dict[str, Any]]:
            declared(name)
            return self.items(name)

        @router.post("/resources/{name}")
        def upsert_items(name: str, body: Any = Body(...)) -> Any:
            declared(name)
            return upsert_all(body, lambda row: self.upsert(name, row))

        @router.delete("/resources/{name}/{key}")
        def delete_item(name: str, key: str) -> dict[str, Any]:
            resource = declared(name)
            if not self.delete(name, resource.parse_key(key)):
                raise HTTPException(status_code=404, detail=f"no {name} item {key}")
            return {"deleted": 1}

        @router.post("/customers")
        def upsert_customers(body: Any = Body(...)) -> Any:
            return upsert_all(body, self.upsert_customer)

        @router.post("/invoices")
        def upsert_invoices(body: Any = Body(...)) -> Any:
            return upsert_all(body, self.upsert_invoice)

        @router.post("/suppliers")
        def upsert_suppliers(body: Any = Body(...)) -> Any:
            return upsert_all(body, self.upsert_supplier)

        @router.get("/payables/settings")
        def read_payables_settings() -> dict[str, Any]:
            return self.payables_settings.to_dict()

        @router.post("/payables/settings")
        def change_payables_settings(settings: _PayablesSettingsBody) -> dict[str, Any]:
            return self.configure_payables(**settings.model_dump(exclude_unset=True))

        @router.get("/gl-interface")
        def gl_interface() -> list[dict[str, Any]]:
            return self.gl_interface_rows()

        @router.get("/ess-jobs")
        def ess_jobs() -> list[dict[str, Any]]:
            return self.ess_jobs()

        @router.get("/gl-settings")
        def read_gl_settings() -> dict[str, Any]:
            return self.gl_settings.to_dict(self.clock.now().date())

        @router.post("/gl-settings")
        def change_gl_settings(settings: _GlSettingsBody) -> dict[str, Any]:
            return self.configure_gl(**settings.model_dump(exclude_unset=True))

        def ess_call(action: Callable[[], Any]) -> Any:
            try:
                return action()
            except EssStateError as exc:
                raise HTTPException(status_code=exc.status, detail=str(exc)) from None

        @router.post("/ess/hold-next")
        def hold_next(body: _HoldBody) -> dict[str, Any]:
            self.journal_import.hold_next_import(body.state)
            return {"hold_next": body.state}

        @router.post("/ess/requests/{request_id}/hold")
        def hold_request(request_id: str, body: _HoldBody | None = Body(default=None)) -> dict[str, Any]:
            state = (body or _HoldBody()).state or "HOLD"
            return cast("dict[str, Any]", ess_call(lambda: self.journal_import.hold(request_id, state)))

        @router.post("/ess/requests/{request_id}/release")
        def release_request(request_id: str) -> dict[str, Any]:
            return cast("dict[str, Any]", ess_call(lambda: self.journal_import.release(request_id)))

        @router.post("/ess/run")
        def run_ess(body: _RunBody | None = Body(default=None)) -> list[dict[str, Any]]:
            return self.journal_import.run((body or _RunBody()).ticks)

        @router.get("/settings")
        def read_settings() -> dict[str, Any]:
            return self._settings()

        @router.post("/settings")
        def change_settings(settings: _Settings) -> dict[str, Any]:
            if settings.max_limit is not None:
                self.service.max_limit = settings.max_limit
            if settings.default_limit is not None:
                self.service.default_limit = settings.default_limit
            if settings.tie_order is not None:
                self.service.tie_order = settings.tie_order
            if self.service.default_limit > self.service.max_limit:
                self.service.default_limit = self.service.max_limit
            if settings.refused_operators is not None:
                self.refused_operators = frozenset(settings.refused_operators)
            if settings.forbidden_resources is not None:
                self.forbidden_resources = frozenset(settings.forbidden_resources)
            if settings.doubled_quotes is not None:
                self.doubled_quotes = settings.doubled_quotes
            if settings.removed_finders is not None:
                self.service.removed_finders = {
                    (name.split(".")[0], name.split(".")[1]) for name in settings.removed_finders
                }
            return self._settings()

        return router

    def _settings(self) -> dict[str, Any]:
        return {
            "max_limit": self.service.max_limit,
            "default_limit": self.service.default_limit,
            "tie_order": self.service.tie_order,
            "refused_operators": sorted(self.refused_operators),
            "forbidden_resources": sorted(self.forbidden_resources),
            "removed_finders": sorted(f"{r}.{f}" for r, f in self.service.removed_finders),
            "doubled_quotes": self.doubled_quotes,
        }


def _refuse_like(request: Request) -> Response | None:
    """The 400 a pod gives when ``journalBatches`` does not support ``like`` in ``q`` (whether
    it does is UNCONFIRMED; ADF answers 400 to a filter it cannot run, contract A4.2), or
    ``None`` when the request's ``q`` has no ``like``."""
    query = request.query_params.get("q") or ""
    if not _LIKE.search(_QUOTED.sub("''", query)):
        return None
    error = AdfError(
        400,
        f"The query expression '{query}' is not supported for resource {JOURNAL_BATCH_RESOURCE_NAME}: "
        "the operator like is not allowed.",
        "INVALID_QUERY",
    )
    return error.to_response(framework_version(request))


def _refuse_operators(request: Request, resource: str, operators: frozenset[str]) -> Response | None:
    """The 400 of a pod that does not allow one of ``operators`` in ``q`` (ADF answers 400 to a
    filter it cannot run, contract A4.2; which operators a pod allows is UNCONFIRMED), or
    ``None`` when the request's ``q`` uses none of them."""
    if not operators:
        return None
    query = request.query_params.get("q") or ""
    bare = _QUOTED.sub("''", query)
    for operator in sorted(operators):
        if re.search(rf"\b{operator}\b", bare, re.IGNORECASE):
            return AdfError(
                400,
                f"The query expression '{query}' is not supported for resource {resource}: the operator "
                f"{operator} is not allowed.",
                "INVALID_QUERY",
            ).to_response(framework_version(request))
    return None


def _refuse_doubled_quotes(request: Request, resource: str) -> Response | None:
    """The 400 of a pod that does not read ``''`` inside a ``q`` text literal as one quote (how a
    pod escapes a quote is UNCONFIRMED, contract A4.2), or ``None`` when ``q`` has no such literal."""
    query = request.query_params.get("q") or ""
    if not any("''" in literal[1:-1] for literal in _QUOTED.findall(query)):
        return None
    return AdfError(
        400,
        f"The query expression '{query}' for resource {resource} is not valid: unexpected text after a "
        "string literal.",
        "INVALID_QUERY",
    ).to_response(framework_version(request))


def _unauthorized(failure: AuthFailure, request: Request) -> Response:
    return PlainTextResponse(f"Unauthorized: {failure.description}", status_code=401)
