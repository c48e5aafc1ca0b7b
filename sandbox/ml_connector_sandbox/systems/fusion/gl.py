"""General ledger in the Fusion stand-in: account combinations, journal batches, FBDI journal import.

Contract A5.7, A5.7b, A5.7c and A5.8. Fusion's REST API cannot create journals; a client uploads
``GlInterface.zip`` through ``erpintegrations`` (``importBulkData``), an ESS request loads
``GlInterface.csv`` into the ``GL_INTERFACE`` table, later requests run Journal Import, and the
journals then appear, unposted, in ``journalBatches``. The stand-in does the same
with its own parser, so it checks the client's file rather than trusting it.

Resources
---------

* ``accountCombinationsLOV`` — read-only list of the chart of accounts' combinations, path key
  literally ``_CODE_COMBINATION_ID``; attributes ``_CODE_COMBINATION_ID``,
  ``_CHART_OF_ACCOUNTS_ID``, ``EnabledFlag`` (``Y``/``N``), ``AccountType`` (``A`` asset, ``L``
  liability, ``O`` equity, ``R`` revenue, ``E`` expense), ``StartDateActive``, ``EndDateActive``,
  ``Segment1``…``Segment5``. Names beyond the key are **UNCONFIRMED**. The seeded chart
  (:data:`ACCOUNT_COMBINATIONS`) has five segments joined by ``-``:
  company-costcentre-account-subaccount-product; cost centres ``000`` (balance sheet), ``110``
  Administration, ``120`` Engineering and ``130`` Sales. :data:`AP_EXPENSE_ACCOUNTS` are the
  expense combinations payables invoice lines may use (:mod:`.payables` checks distribution
  combinations against this resource); :data:`DISABLED_EXPENSE_ACCOUNT` and
  :data:`ENDED_EXPENSE_ACCOUNT` are the disabled and the ended expense combination.
* ``journalBatches`` — read (collection, item, children) and ``DELETE``; key ``JeBatchId``;
  ``BatchName`` (``<REFERENCE1> <source> A <GROUP_ID> <child request id> N``, contract A5.7c),
  ``BatchDescription`` (``REFERENCE2``), ``Status`` (``Unposted``), ``AccountingPeriod``,
  ``JournalSource``, ``RequestId`` (``null``: ``GL_JE_BATCHES.REQUEST_ID`` is NULL, A5.7c),
  ``LedgerName`` and the who columns; child ``journalHeaders`` (``JeHeaderId``, ``JournalName`` =
  ``REFERENCE4``, ``Description`` = ``REFERENCE5``, ``LedgerName``, ``CurrencyCode``,
  ``JournalCategory``, ``AccountingDate``, ``PeriodName``, ``RunningTotalEnteredDr``/``Cr``) with
  child ``journalLines`` (``JeLineNumber``, ``AccountCombination`` joined by ``-``, ``EnteredDr``,
  ``EnteredCr``, ``Description`` = ``REFERENCE10``, ``LineReference`` = position 53). Names beyond
  ``JeBatchId`` are **UNCONFIRMED**. ``BatchName`` is queryable in both ``q`` dialects (``in (…)``
  and ``like`` from version 2; :attr:`GlSettings.batch_name_like` off makes ``like`` a 400).
* ``erpintegrations`` — served by :class:`JournalImportService`, not by the ADF engine:

  - ``POST`` with ``OperationName`` ``importBulkData`` (the only operation the stand-in knows):
    ``ContentType`` ``zip``, ``DocumentContent`` the base64 of a zip, ``FileName``,
    ``DocumentAccount`` ``fin$/generalLedger$/import$`` or ``fin/generalLedger/import``,
    ``JobName`` ``/oracle/apps/ess/financials/generalLedger/programs/common,JournalImportLauncher``
    and a ``ParameterList`` of seven values (``DataAccessSetId, JournalSource, LedgerId, GroupId,
    PostErrorsToSuspense, CreateSummaryJournals, ImportDFF``; ``#NULL`` is empty). A request that
    is malformed in itself answers 400. Otherwise 201 with the body echoed — ``DocumentContent``
    included — in the attribute order of contract A5.7, ``ReqstId`` set to the id of the **load**
    request (a string of digits) and a ``Location`` header.
  - ``GET erpintegrations?finder=ESSJobStatusRF;requestId=<id>`` — one item with
    ``RequestStatus`` for any of the import's requests; unknown ids give no items.
  - ``GET erpintegrations?finder=ESSExecutionDetailsRF;requestId=<id>`` — one item whose
    ``RequestStatus`` is a JSON string of the request tree (see :meth:`JournalImportService._details`).
  - ``GET erpintegrations?finder=ESSJobExecutionDetailsRF;requestId=<id>,fileType=LOG`` (or
    ``OUT``, ``ALL``) — one item whose ``DocumentContent`` is the base64 of a zip holding
    ``<id>.log`` (and/or ``<id>.out``, the same text); ``null`` before the request is terminal.
* ``/ess/rest/scheduler/v1/requests`` (outside ``/fscmRestApi``, same credentials) — the ESS
  scheduler REST for the import's requests (:meth:`JournalImportService.scheduler`).

The requests of one import
--------------------------

Contract A5.7c. ``importBulkData`` creates **Load Interface File for Import**
(``InterfaceLoaderController``). Once it ends, **Import Journals** (``JournalImportLauncher``) is
a new request with a higher id, which submits **Import Journals: Child** (``JournalImport``);
the child runs Journal Import and the launcher ends with its child's state. The scheduler moves
every active request one step per *tick*, and any status read is a tick (``ESSJobStatusRF``,
``ESSExecutionDetailsRF``, the scheduler REST; ``POST /__sandbox__/fusion/ess/run`` ticks until
nothing moves). The load and the child each end on their
:attr:`GlSettings.polls_to_terminal`-th tick (default 2), so with the defaults a client polling
the load sees ``RUNNING`` then ``SUCCEEDED`` while Import Journals has not started.

At submission the zip's ``GlInterface.csv`` (by that exact name) is read as UTF-8 with the
stand-in's own CSV reader — no header, positional, **149 fields per row**. A row with another
field count, an empty or malformed ``DATE_CREATED`` (``YYYY/MM/DD``), an amount or ``GROUP_ID``
that is not a number, a file that is not UTF-8 or CSV, or a zip without ``GlInterface.csv``
fails the load: it ends ``ERROR``, no row reaches ``GL_INTERFACE`` and no Import Journals runs.
Otherwise the load puts its rows in ``GL_INTERFACE`` (status ``NEW``) and ends ``SUCCEEDED``,
whatever Journal Import later makes of them. The child then:

1. checks the parameters: the data access set, the ledger and the journal source must be the
   stand-in's (:class:`GlSettings`); otherwise it ends ``ERROR`` and selects nothing;
2. selects the interface rows — this load's and any earlier load's still in the table — whose
   ``USER_JE_SOURCE_NAME`` is the source parameter and whose ``GROUP_ID`` is the group parameter
   (``ALL`` selects every group, ``#NULL`` the rows without one). None selected: ``ERROR``;
3. validates each row; the first problem found sets its ``STATUS`` and ``STATUS_DESCRIPTION``:

   ========  ===================================================================================
   code      meaning
   ========  ===================================================================================
   ``EM03``  the row's ``LEDGER_ID``/``LEDGER_NAME`` is not the ledger of the parameters
   ``EM04``  ``ACTUAL_FLAG`` is not ``A`` (the stand-in imports actuals only) — stand-in code
   ``EC08``  the currency is not enabled (:attr:`GlSettings.currencies`)
   ``EM01``  the journal category does not exist (:attr:`GlSettings.categories`) — stand-in code
   ``EP01``  the accounting date is missing, malformed (``YYYY/MM/DD``), outside the open periods
             (:meth:`GlSettings.open_period_names`), or outside a given ``PERIOD_NAME``
   ``EF04``  the account is not valid: ``FLEX-VALUE DOES NOT EXIST (SEGMENT=Account)
             (VALUESET=Corporate Account) (VALUE=99999)`` for an unknown segment value, or
             ``COMBINATION DOES NOT EXIST …`` when every value exists but the combination does not
   ``EF03``  the combination is disabled (``EnabledFlag`` ``N``)
   ``EF01``  the accounting date is outside the combination's ``StartDateActive``/``EndDateActive``
   ``P``     the row is valid but another row of its group was rejected
   ========  ===================================================================================

   Unbalanced journals are accepted (A5.7b live note), so no row gets ``EU02``;
4. one rejected row rejects the whole group (A5.7b): no batch at all, every selected row stays in
   ``GL_INTERFACE`` (``GET /__sandbox__/fusion/gl-interface``) and is selected again by a later
   import of the same group; the child ends :attr:`GlSettings.rejected_status` (``WARNING``);
5. otherwise the rows form batches by ``REFERENCE1`` and journals by ``REFERENCE4`` + currency
   (an empty ``REFERENCE4`` becomes ``<category> <currency>``), become ``journalBatches`` items,
   leave ``GL_INTERFACE``, and the child ends ``SUCCEEDED``.

The child's log and output are the fixed-width execution report of :meth:`_ImportRun.report_text`.
"""

from __future__ import annotations

import base64
import binascii
import copy
import io
import json
import re
import zipfile
from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import asdict, dataclass
from datetime import date, datetime, timedelta
from decimal import Decimal, InvalidOperation
from typing import Any, Literal, cast

from starlette.requests import Request
from starlette.responses import JSONResponse, Response

from ml_connector_sandbox.base import SandboxState
from ml_connector_sandbox.systems.fusion.adf import (
    READ_ONLY,
    AdfError,
    AdfResource,
    AdfService,
    attr,
    framework_version,
    parse_finder,
    read_json_object,
    unquote_segments,
)
from ml_connector_sandbox.systems.fusion.values import format_timestamp, json_number

__all__ = [
    "ACCOUNTS_PAYABLE_ACCOUNT",
    "ACCOUNTS_RECEIVABLE_ACCOUNT",
    "ACCOUNT_COMBINATIONS",
    "ACCOUNT_COMBINATIONS_RESOURCE",
    "ACCOUNT_COMBINATION_RESOURCE_NAME",
    "AP_EXPENSE_ACCOUNTS",
    "AR_SUSPENSE_ACCOUNT",
    "CASH_CLEARING_ACCOUNT",
    "CHART_OF_ACCOUNTS_ID",
    "CURRENCIES",
    "DATA_ACCESS_SET_ID",
    "DEFERRED_REVENUE_ACCOUNT",
    "DISABLED_ACCOUNT",
    "DISABLED_EXPENSE_ACCOUNT",
    "DOCUMENT_ACCOUNTS",
    "ENDED_EXPENSE_ACCOUNT",
    "ERP_INTEGRATIONS",
    "ERROR_KEY",
    "ESS_JOBS",
    "ESS_STATES",
    "FREIGHT_EXPENSE_ACCOUNT",
    "FREIGHT_SALES_ACCOUNT",
    "GL_INTERFACE_FIELDS",
    "JOURNAL_BATCHES_RESOURCE",
    "JOURNAL_BATCH_RESOURCE_NAME",
    "JOURNAL_CATEGORIES",
    "JOURNAL_IMPORT_JOB_NAME",
    "JOURNAL_SOURCES",
    "LEDGER_ID",
    "LEDGER_NAME",
    "OFFICE_SUPPLIES_ENGINEERING_ACCOUNT",
    "OFFICE_SUPPLIES_EXPENSE_ACCOUNT",
    "OFFICE_SUPPLIES_SALES_ACCOUNT",
    "PROFESSIONAL_FEES_ENGINEERING_ACCOUNT",
    "PROFESSIONAL_FEES_EXPENSE_ACCOUNT",
    "SALES_TAX_PAYABLE_ACCOUNT",
    "SEGMENTS",
    "SEGMENT_DELIMITER",
    "SERVICES_REVENUE_ACCOUNT",
    "SOFTWARE_ADMINISTRATION_ACCOUNT",
    "SOFTWARE_EXPENSE_ACCOUNT",
    "SOFTWARE_SALES_ACCOUNT",
    "STRIPE_FEES_ACCOUNT",
    "SUBSCRIPTION_REVENUE_ACCOUNT",
    "TRAVEL_ADMINISTRATION_ACCOUNT",
    "TRAVEL_ENGINEERING_ACCOUNT",
    "TRAVEL_EXPENSE_ACCOUNT",
    "UNDEPOSITED_FUNDS_ACCOUNT",
    "UTILITIES_EXPENSE_ACCOUNT",
    "CombinationProblem",
    "CsvError",
    "DetailsLayout",
    "EssStateError",
    "GlSettings",
    "JournalImportService",
    "StateNames",
    "combination_problem",
    "combinations_by_segments",
    "parse_csv",
    "period_name",
    "render_state",
]

ACCOUNT_COMBINATION_RESOURCE_NAME = "accountCombinationsLOV"
JOURNAL_BATCH_RESOURCE_NAME = "journalBatches"
ERP_INTEGRATIONS = "erpintegrations"

#: The ledger of the stand-in (contract A5.7 example values).
LEDGER_ID = 300000046975971
LEDGER_NAME = "US Primary Ledger"
DATA_ACCESS_SET_ID = 300000046975980
CHART_OF_ACCOUNTS_ID = 50248
#: Journal sources and categories defined in the stand-in.
JOURNAL_SOURCES = ("Spreadsheet", "Stripe", "Manual")
JOURNAL_CATEGORIES = ("Adjustment", "Receipts", "Revenue")
#: Currencies enabled in the stand-in.
CURRENCIES = ("USD", "EUR", "GBP", "CAD", "AUD", "JPY", "CHF", "MXN")

#: The ESS job that loads ``GlInterface.csv`` and runs Journal Import.
JOURNAL_IMPORT_JOB_NAME = "/oracle/apps/ess/financials/generalLedger/programs/common,JournalImportLauncher"
#: Both spellings of the GL import UCM account seen in public code.
DOCUMENT_ACCOUNTS = ("fin$/generalLedger$/import$", "fin/generalLedger/import")
#: The segments of the chart of accounts: (segment name, value set name).
SEGMENTS = (
    ("Company", "Corporate Company"),
    ("Cost Center", "Corporate Cost Center"),
    ("Account", "Corporate Account"),
    ("Sub-Account", "Corporate Sub-Account"),
    ("Product", "Corporate Product"),
)
SEGMENT_DELIMITER = "-"

# -- the chart of accounts --------------------------------------------------------------------------------

CASH_CLEARING_ACCOUNT = "101-000-11250-000-000"
"""Cash clearing for card-processor settlements (asset)."""
UNDEPOSITED_FUNDS_ACCOUNT = "101-000-11300-000-000"
"""Undeposited funds (asset)."""
ACCOUNTS_RECEIVABLE_ACCOUNT = "101-000-12100-000-000"
"""Trade receivables (asset)."""
AR_SUSPENSE_ACCOUNT = "101-000-12990-000-000"
"""Receivables suspense: customer money not yet applied to invoices (asset)."""
DISABLED_ACCOUNT = "101-000-11900-000-000"
"""A retired clearing account: exists but disabled (``EnabledFlag`` ``N``), so journals on it fail ``EF03``."""
ACCOUNTS_PAYABLE_ACCOUNT = "101-000-21100-000-000"
"""Trade payables (liability)."""
SALES_TAX_PAYABLE_ACCOUNT = "101-000-22300-000-000"
"""Sales tax payable (liability)."""
DEFERRED_REVENUE_ACCOUNT = "101-000-24100-000-000"
"""Deferred revenue (liability)."""
SUBSCRIPTION_REVENUE_ACCOUNT = "101-000-40100-000-000"
"""Subscription revenue (revenue)."""
SERVICES_REVENUE_ACCOUNT = "101-000-40200-000-000"
"""Professional services revenue (revenue)."""
OFFICE_SUPPLIES_EXPENSE_ACCOUNT = "101-110-61100-000-000"
"""Office supplies, cost centre 110 Administration (expense)."""
SOFTWARE_EXPENSE_ACCOUNT = "101-120-62300-000-000"
"""Software subscriptions, cost centre 120 Engineering (expense)."""
PROFESSIONAL_FEES_EXPENSE_ACCOUNT = "101-110-63500-000-000"
"""Legal and professional fees, cost centre 110 Administration (expense)."""
TRAVEL_EXPENSE_ACCOUNT = "101-130-64200-000-000"
"""Travel, cost centre 130 Sales (expense)."""
STRIPE_FEES_ACCOUNT = "101-000-65110-000-000"
"""Card processing (Stripe) fees (expense)."""
OFFICE_SUPPLIES_ENGINEERING_ACCOUNT = "101-120-61100-000-000"
"""Office supplies, cost centre 120 Engineering (expense)."""
OFFICE_SUPPLIES_SALES_ACCOUNT = "101-130-61100-000-000"
"""Office supplies, cost centre 130 Sales (expense)."""
SOFTWARE_ADMINISTRATION_ACCOUNT = "101-110-62300-000-000"
"""Software subscriptions, cost centre 110 Administration (expense)."""
SOFTWARE_SALES_ACCOUNT = "101-130-62300-000-000"
"""Software subscriptions, cost centre 130 Sales (expense)."""
PROFESSIONAL_FEES_ENGINEERING_ACCOUNT = "101-120-63500-000-000"
"""Legal and professional fees, cost centre 120 Engineering (expense)."""
TRAVEL_ADMINISTRATION_ACCOUNT = "101-110-64200-000-000"
"""Travel, cost centre 110 Administration (expense)."""
TRAVEL_ENGINEERING_ACCOUNT = "101-120-64200-000-000"
"""Travel, cost centre 120 Engineering (expense)."""
FREIGHT_EXPENSE_ACCOUNT = "101-110-66100-000-000"
"""Freight and delivery, cost centre 110 Administration (expense)."""
FREIGHT_SALES_ACCOUNT = "101-130-66100-000-000"
"""Freight and delivery, cost centre 130 Sales (expense)."""
UTILITIES_EXPENSE_ACCOUNT = "101-110-67200-000-000"
"""Utilities, cost centre 110 Administration (expense)."""
DISABLED_EXPENSE_ACCOUNT = "101-120-61900-000-000"
"""Equipment rental, cost centre 120 Engineering: exists but disabled (``EnabledFlag`` ``N``) and
has no end date, so AP lines on it are refused and journals on it fail ``EF03``."""
ENDED_EXPENSE_ACCOUNT = "101-130-64900-000-000"
"""Trade shows, cost centre 130 Sales: enabled, but its ``EndDateActive`` is 30 days before the
sandbox clock's start, so it is valid only for earlier dates (journals after it fail ``EF01``)."""

#: The seeded combinations: (combination, ``AccountType``, enabled, ``_CODE_COMBINATION_ID``).
ACCOUNT_COMBINATIONS: tuple[tuple[str, str, bool, int], ...] = (
    (CASH_CLEARING_ACCOUNT, "A", True, 13001),
    (UNDEPOSITED_FUNDS_ACCOUNT, "A", True, 13002),
    (ACCOUNTS_RECEIVABLE_ACCOUNT, "A", True, 13003),
    (AR_SUSPENSE_ACCOUNT, "A", True, 13004),
    (DISABLED_ACCOUNT, "A", False, 13005),
    (ACCOUNTS_PAYABLE_ACCOUNT, "L", True, 13006),
    (SALES_TAX_PAYABLE_ACCOUNT, "L", True, 13007),
    (DEFERRED_REVENUE_ACCOUNT, "L", True, 13008),
    (SUBSCRIPTION_REVENUE_ACCOUNT, "R", True, 13009),
    (SERVICES_REVENUE_ACCOUNT, "R", True, 13010),
    (OFFICE_SUPPLIES_EXPENSE_ACCOUNT, "E", True, 13011),
    (SOFTWARE_EXPENSE_ACCOUNT, "E", True, 13012),
    (PROFESSIONAL_FEES_EXPENSE_ACCOUNT, "E", True, 13013),
    (TRAVEL_EXPENSE_ACCOUNT, "E", True, 13014),
    (STRIPE_FEES_ACCOUNT, "E", True, 13015),
    (OFFICE_SUPPLIES_ENGINEERING_ACCOUNT, "E", True, 13016),
    (OFFICE_SUPPLIES_SALES_ACCOUNT, "E", True, 13017),
    (SOFTWARE_ADMINISTRATION_ACCOUNT, "E", True, 13018),
    (SOFTWARE_SALES_ACCOUNT, "E", True, 13019),
    (PROFESSIONAL_FEES_ENGINEERING_ACCOUNT, "E", True, 13020),
    (TRAVEL_ADMINISTRATION_ACCOUNT, "E", True, 13021),
    (TRAVEL_ENGINEERING_ACCOUNT, "E", True, 13022),
    (FREIGHT_EXPENSE_ACCOUNT, "E", True, 13023),
    (FREIGHT_SALES_ACCOUNT, "E", True, 13024),
    (UTILITIES_EXPENSE_ACCOUNT, "E", True, 13025),
    (DISABLED_EXPENSE_ACCOUNT, "E", False, 13026),
    (ENDED_EXPENSE_ACCOUNT, "E", True, 13027),
)
#: Combinations whose ``EndDateActive`` lies in the past: combination → days before the sandbox
#: time the seed is built at (all others have no end date).
_ENDED_DAYS_AGO: Mapping[str, int] = {DISABLED_ACCOUNT: 90, ENDED_EXPENSE_ACCOUNT: 30}
#: The expense combinations an AP invoice line may use (enabled, no end date), for demos and tests.
AP_EXPENSE_ACCOUNTS: tuple[str, ...] = (
    OFFICE_SUPPLIES_EXPENSE_ACCOUNT,
    OFFICE_SUPPLIES_ENGINEERING_ACCOUNT,
    OFFICE_SUPPLIES_SALES_ACCOUNT,
    SOFTWARE_ADMINISTRATION_ACCOUNT,
    SOFTWARE_EXPENSE_ACCOUNT,
    SOFTWARE_SALES_ACCOUNT,
    PROFESSIONAL_FEES_EXPENSE_ACCOUNT,
    PROFESSIONAL_FEES_ENGINEERING_ACCOUNT,
    TRAVEL_ADMINISTRATION_ACCOUNT,
    TRAVEL_ENGINEERING_ACCOUNT,
    TRAVEL_EXPENSE_ACCOUNT,
    FREIGHT_EXPENSE_ACCOUNT,
    FREIGHT_SALES_ACCOUNT,
    UTILITIES_EXPENSE_ACCOUNT,
)


def seed_account_combinations(now: datetime) -> list[dict[str, Any]]:
    """The chart of accounts of :data:`ACCOUNT_COMBINATIONS`, active since 2020.

    :data:`DISABLED_ACCOUNT` also ended 90 days before ``now`` and :data:`ENDED_EXPENSE_ACCOUNT`
    (enabled) 30 days before it; every other combination, :data:`DISABLED_EXPENSE_ACCOUNT`
    included, has no end date.
    """
    rows = []
    for combination, account_type, enabled, ccid in ACCOUNT_COMBINATIONS:
        segments = combination.split(SEGMENT_DELIMITER)
        row: dict[str, Any] = {
            "_CODE_COMBINATION_ID": ccid,
            "_CHART_OF_ACCOUNTS_ID": CHART_OF_ACCOUNTS_ID,
            "EnabledFlag": "Y" if enabled else "N",
            "AccountType": account_type,
            "StartDateActive": "2020-01-01",
            "EndDateActive": (
                (now.date() - timedelta(days=_ENDED_DAYS_AGO[combination])).isoformat()
                if combination in _ENDED_DAYS_AGO
                else None
            ),
            "CreatedBy": "FIN_IMPL",
            "CreationDate": "2020-01-01T00:00:00.000+00:00",
            "LastUpdatedBy": "FIN_IMPL",
            "LastUpdateDate": "2020-01-01T00:00:00.000+00:00",
        }
        for number, value in enumerate(segments, start=1):
            row[f"Segment{number}"] = value
        rows.append(row)
    return rows


ACCOUNT_COMBINATIONS_RESOURCE = AdfResource(
    name=ACCOUNT_COMBINATION_RESOURCE_NAME,
    key="_CODE_COMBINATION_ID",
    title="Account Combinations List of Values",
    attributes=(
        attr("_CODE_COMBINATION_ID", "integer", generated=True),
        attr("_CHART_OF_ACCOUNTS_ID", "integer", description="UNCONFIRMED name."),
        attr("EnabledFlag", description="UNCONFIRMED name: Y or N."),
        attr("AccountType", description="UNCONFIRMED name: A, L, O, R or E."),
        attr("StartDateActive", "date", description="UNCONFIRMED name."),
        attr("EndDateActive", "date", description="UNCONFIRMED name."),
        *(attr(f"Segment{n}", description=f"UNCONFIRMED name: {SEGMENTS[n - 1][0]}.") for n in range(1, 6)),
    ),
    operations=READ_ONLY,
    seed=seed_account_combinations,
    id_start=13001,
)

CombinationProblem = Literal["unknown", "disabled", "inactive"]
"""Why an account combination cannot be used (see :func:`combination_problem`)."""


def combinations_by_segments(db: Mapping[str, Any]) -> dict[tuple[str, ...], Mapping[str, Any]]:
    """The stored chart of accounts (``accountCombinationsLOV`` in the stand-in state ``db``) by
    segment values: ``("101", "110", "61100", "000", "000")`` → its row."""
    return {
        tuple(str(row.get(f"Segment{n}") or "") for n in range(1, len(SEGMENTS) + 1)): row
        for row in db.get(ACCOUNT_COMBINATION_RESOURCE_NAME, [])
    }


def combination_problem(combination: Mapping[str, Any] | None, on_date: date) -> CombinationProblem | None:
    """Why an account combination cannot be used on ``on_date``, or ``None`` when it can.

    The one rule Journal Import (``EF04``/``EF03``/``EF01``) and payables distributions share:
    ``unknown`` — not in the chart (``combination`` is ``None``); ``disabled`` — ``EnabledFlag``
    is not ``Y``; ``inactive`` — ``on_date`` lies before ``StartDateActive`` or after
    ``EndDateActive``.

    :param combination: a row of :func:`combinations_by_segments`, or ``None``.
    :param on_date: the accounting or invoice date.
    """
    if combination is None:
        return "unknown"
    if combination.get("EnabledFlag") != "Y":
        return "disabled"
    start, end = combination.get("StartDateActive"), combination.get("EndDateActive")
    if (start and on_date < date.fromisoformat(str(start))) or (
        end and on_date > date.fromisoformat(str(end))
    ):
        return "inactive"
    return None


_JOURNAL_LINES = AdfResource(
    name="journalLines",
    key="JeLineNumber",
    title="Journal Lines",
    attributes=(
        attr("JeLineNumber", "integer", generated=True),
        attr("AccountCombination", description="UNCONFIRMED name: segments joined by '-'."),
        attr("EnteredDr", "number", queryable=False),
        attr("EnteredCr", "number", queryable=False),
        attr("Description", description="REFERENCE10."),
        attr("LineReference", description="UNCONFIRMED name: the per-line reference (position 53)."),
    ),
    who_columns=False,
    id_start=1,
)

_JOURNAL_HEADERS = AdfResource(
    name="journalHeaders",
    key="JeHeaderId",
    title="Journal Headers",
    attributes=(
        attr("JeHeaderId", "integer", generated=True),
        attr("JournalName", description="REFERENCE4."),
        attr("Description", description="REFERENCE5."),
        attr("LedgerName"),
        attr("CurrencyCode"),
        attr("JournalCategory"),
        attr("AccountingDate", "date"),
        attr("PeriodName"),
        attr("RunningTotalEnteredDr", "number", queryable=False),
        attr("RunningTotalEnteredCr", "number", queryable=False),
    ),
    children=(_JOURNAL_LINES,),
    who_columns=False,
    id_start=300000047710001,
)

JOURNAL_BATCHES_RESOURCE = AdfResource(
    name=JOURNAL_BATCH_RESOURCE_NAME,
    key="JeBatchId",
    title="Journal Batches",
    attributes=(
        attr("JeBatchId", "integer", generated=True),
        attr("BatchName", description="REFERENCE1 (UNCONFIRMED name)."),
        attr("BatchDescription", description="REFERENCE2 (UNCONFIRMED name)."),
        attr("Status", description="UNCONFIRMED name: Unposted after an import."),
        attr("AccountingPeriod", description="UNCONFIRMED name."),
        attr("JournalSource", description="UNCONFIRMED name."),
        attr("RequestId", "integer", description="UNCONFIRMED name: the ESS request that imported it."),
        attr("LedgerName", description="UNCONFIRMED name."),
    ),
    children=(_JOURNAL_HEADERS,),
    operations=frozenset({"get", "delete"}),
    id_start=300000047700001,
)


# -- settings -----------------------------------------------------------------------------------------------

_MONTHS = ("Jan", "Feb", "Mar", "Apr", "May", "Jun", "Jul", "Aug", "Sep", "Oct", "Nov", "Dec")


def period_name(day: date) -> str:
    """The accounting period of ``day`` in the stand-in's monthly calendar: ``Nov-26``."""
    return f"{_MONTHS[day.month - 1]}-{day.year % 100:02d}"


StateNames = Literal["spaces", "underscores"]
"""How ``erpintegrations`` writes multi-word ESS states: ``VALIDATION FAILED`` or ``VALIDATION_FAILED``."""
DetailsLayout = Literal["nested", "flat"]
"""How ``ESSExecutionDetailsRF`` lays out the request tree (see :class:`JournalImportService`)."""


@dataclass
class GlSettings:
    """The stand-in's general ledger setup; tests change it through
    ``FusionSandbox.configure_gl(...)`` or ``POST /__sandbox__/fusion/gl-settings``.

    :param ledger_id: the ledger's id.
    :param ledger_name: the ledger's name.
    :param data_access_set_id: the data access set that grants the ledger.
    :param sources: journal sources that exist.
    :param categories: journal categories that exist.
    :param currencies: enabled currencies.
    :param open_periods: names of the open periods; ``None`` means the sandbox clock's current
        and previous month.
    :param polls_to_terminal: how many scheduler ticks each ESS request of an import runs
        (a tick is any status read: ``ESSJobStatusRF``, ``ESSExecutionDetailsRF`` or the
        scheduler REST); 0 runs the whole import at submission.
    :param rejected_status: terminal status of the Journal Import child when rows were
        rejected (A5.7c: ``WARNING``).
    :param state_names: ``spaces`` (``VALIDATION FAILED``, as the contract shows for
        ``ESSJobStatusRF``) or ``underscores`` (the ESS enum names).
    :param execution_details_finder: serve ``ESSExecutionDetailsRF``; off, it answers 400 as an
        undefined finder does.
    :param execution_details_layout: ``nested`` (each request's ``CHILD`` list under it) or
        ``flat`` (a ``JOBS`` list).
    :param scheduler_rest: serve ``/ess/rest/scheduler/v1/requests``; off, it answers 403.
    :param import_delay_polls: extra ticks Import Journals stays ``RUNNING`` after the load
        succeeded (fault: a slow import).
    :param import_delay_seconds: sandbox-clock seconds after the load ended before Import
        Journals may finish (fault: a slow import).
    :param batch_name_like: ``journalBatches`` accepts ``like`` in ``q``; off, ``like`` answers
        400 as an unsupported filter does.
    """

    ledger_id: int = LEDGER_ID
    ledger_name: str = LEDGER_NAME
    data_access_set_id: int = DATA_ACCESS_SET_ID
    sources: tuple[str, ...] = JOURNAL_SOURCES
    categories: tuple[str, ...] = JOURNAL_CATEGORIES
    currencies: tuple[str, ...] = CURRENCIES
    open_periods: tuple[str, ...] | None = None
    polls_to_terminal: int = 2
    rejected_status: Literal["WARNING", "ERROR", "SUCCEEDED"] = "WARNING"
    state_names: StateNames = "spaces"
    execution_details_finder: bool = True
    execution_details_layout: DetailsLayout = "nested"
    scheduler_rest: bool = True
    import_delay_polls: int = 0
    import_delay_seconds: float = 0.0
    batch_name_like: bool = True

    def open_period_names(self, today: date) -> tuple[str, ...]:
        """The open periods on ``today`` (the sandbox date)."""
        if self.open_periods is not None:
            return tuple(self.open_periods)
        previous = today.replace(day=1) - timedelta(days=1)
        return (period_name(previous), period_name(today))

    def to_dict(self, today: date | None = None) -> dict[str, Any]:
        """The settings as JSON-able data (with the effective open periods when ``today`` is given)."""
        data = asdict(self)
        for name in ("sources", "categories", "currencies", "open_periods"):
            if data[name] is not None:
                data[name] = list(data[name])
        if today is not None:
            data["effective_open_periods"] = list(self.open_period_names(today))
        return data


# -- the stand-in's CSV reader ---------------------------------------------------------------------------

#: 1-based positions of the ``GlInterface.csv`` fields the stand-in reads (contract A5.7b).
GL_INTERFACE_FIELDS: Mapping[str, int] = {
    "STATUS": 1,
    "LEDGER_ID": 2,
    "ACCOUNTING_DATE": 3,
    "USER_JE_SOURCE_NAME": 4,
    "USER_JE_CATEGORY_NAME": 5,
    "CURRENCY_CODE": 6,
    "DATE_CREATED": 7,
    "ACTUAL_FLAG": 8,
    **{f"SEGMENT{n}": 8 + n for n in range(1, 31)},
    "ENTERED_DR": 39,
    "ENTERED_CR": 40,
    "REFERENCE1": 43,
    "REFERENCE2": 44,
    "REFERENCE4": 46,
    "REFERENCE5": 47,
    "REFERENCE10": 52,
    "REFERENCE21": 53,
    "GROUP_ID": 67,
    "LEDGER_NAME": 92,
    "PERIOD_NAME": 95,
}
_FIELD_COUNT = 149


class CsvError(ValueError):
    """The text is not valid CSV.

    :param message: what is wrong.
    :param line: the 1-based line where it was found.
    """

    def __init__(self, message: str, line: int) -> None:
        super().__init__(f"line {line}: {message}")
        self.line = line


def parse_csv(text: str) -> list[tuple[int, list[str]]]:
    """Split CSV text into rows of fields (RFC 4180: ``,`` separators, ``"`` quoting with ``""``
    escapes, CRLF, LF or CR line ends). Blank lines are skipped.

    :returns: ``(line number where the row starts, fields)`` per row.
    :raises CsvError: a quote is left open, or text follows a closing quote.
    """
    rows: list[tuple[int, list[str]]] = []
    fields: list[str] = []
    chars: list[str] = []
    line = row_line = 1
    index, size = 0, len(text)
    quoted = after_quote = False
    started = False  # the current row has content (a field separator or a character)
    while index < size:
        char = text[index]
        if quoted:
            if char == '"':
                if index + 1 < size and text[index + 1] == '"':
                    chars.append('"')
                    index += 2
                    continue
                quoted, after_quote = False, True
            else:
                if char == "\n":
                    line += 1
                chars.append(char)
            index += 1
            continue
        if char == ",":
            fields.append("".join(chars))
            chars, after_quote, started = [], False, True
        elif char in "\r\n":
            if char == "\r" and index + 1 < size and text[index + 1] == "\n":
                index += 1
            if started or chars or after_quote:
                fields.append("".join(chars))
                rows.append((row_line, fields))
            fields, chars, after_quote, started = [], [], False, False
            line += 1
            row_line = line
        elif after_quote:
            raise CsvError(f"unexpected character {char!r} after a closing quote", line)
        elif char == '"' and not chars:
            quoted, started = True, True
        else:
            chars.append(char)
            started = True
        index += 1
    if quoted:
        raise CsvError("a quoted field is not closed", row_line)
    if started or chars or after_quote:
        fields.append("".join(chars))
        rows.append((row_line, fields))
    return rows


# -- journal import -------------------------------------------------------------------------------------------

_ESS_ATTRIBUTES = (
    "OperationName",
    "DocumentId",
    "DocumentContent",
    "FileName",
    "ContentType",
    "FileType",
    "DocumentAccount",
    "Comments",
    "ProcessName",
    "LoadRequestId",
    "JobPackageName",
    "JobDefName",
    "ReqstId",
    "RequestStatus",
    "JobName",
    "ParameterList",
    "NotificationCode",
    "CallbackURL",
    "JobOptions",
    "StatusCode",
    "ESSParameters",
)
_ACCEPTED_ATTRIBUTES = frozenset(_ESS_ATTRIBUTES)
_PARAMETER_NAMES = (
    "DataAccessSetId",
    "JournalSource",
    "LedgerId",
    "GroupId",
    "PostErrorsToSuspense",
    "CreateSummaryJournals",
    "ImportDescriptiveFlexfields",
)
_CSV_NAME = "GlInterface.csv"
_JOBS = "_essJobs"
_INTERFACE = "_glInterface"
_HOLD_NEXT = "_essHoldNextImport"
_REQUEST_START = 2345001
_HEADER_ID_START = 300000047710001
_DATE = re.compile(r"^(\d{4})/(\d{2})/(\d{2})$")
_SETTLE_LIMIT = 10_000

#: The three ESS requests of one import: kind → (display name, package, job definition).
#: Contract A5.7c: importBulkData returns the id of "Load Interface File for Import"; "Import
#: Journals" (JournalImportLauncher) and "Import Journals: Child" are separate, later requests.
#: InterfaceLoaderController is the loader's definition (public SQL that reads ESS_REQUEST_HISTORY,
#: github.com/throwing-cheese/oracle-fusion-cloud-sql-scripts, sa-requests-properties-single-param-values.sql);
#: the child's definition name ``JournalImport`` is UNCONFIRMED.
ESS_JOBS: Mapping[str, tuple[str, str, str]] = {
    "load": (
        "Load Interface File for Import",
        "/oracle/apps/ess/financials/commonModules/shared/common/interfaceLoader",
        "InterfaceLoaderController",
    ),
    "launcher": (
        "Import Journals",
        "/oracle/apps/ess/financials/generalLedger/programs/common",
        "JournalImportLauncher",
    ),
    "child": (
        "Import Journals: Child",
        "/oracle/apps/ess/financials/generalLedger/programs/common",
        "JournalImport",
    ),
}
#: ESS request states (Oracle Enterprise Scheduler ``State`` enum, contract A5.7c), as stored.
ESS_STATES = (
    "WAIT",
    "READY",
    "RUNNING",
    "COMPLETED",
    "BLOCKED",
    "HOLD",
    "CANCELLING",
    "EXPIRED",
    "CANCELLED",
    "ERROR",
    "WARNING",
    "SUCCEEDED",
    "PAUSED",
    "PENDING_VALIDATION",
    "VALIDATION_FAILED",
    "SCHEDULE_ENDED",
    "FINISHED",
    "ERROR_AUTO_RETRY",
    "ERROR_MANUAL_RECOVERY",
    "UNKNOWN",
)
_ACTIVE_STATES = frozenset({"WAIT", "READY", "RUNNING", "BLOCKED", "HOLD", "PAUSED", "PENDING_VALIDATION"})
_HELD_STATES = frozenset({"HOLD", "PAUSED"})
#: The Journal Import error codes and their meaning, as Oracle's "Error Codes for Journal Import"
#: (Fusion General Ledger guide, e.g. docs.oracle.com/cd/G31366_01/trans/G31246-01/error-codes-for-journal-import.html)
#: lists them; the report's "Error Key" lists every code whatever the run found (as the public
#: parser of github.com/kavin0831/GLFBDI services/fusion_service.py ``analyze_ess_logs`` notes).
ERROR_KEY: tuple[tuple[str, str], ...] = (
    ("EP01", "This date is not in an open or future enterable period."),
    ("EP02", "This ledger has no open or future enterable period."),
    ("WU01", "This journal is unbalanced; suspense posting is allowed in this ledger, so it was processed."),
    ("EU02", "This journal is unbalanced and suspense posting is not allowed in this ledger."),
    ("EF01", "The account is inactive for the accounting date."),
    ("EF02", "Detail posting is not allowed for this account."),
    ("EF03", "Disabled account."),
    ("EF04", "The account is not valid. Check the cross-validation rules and segment values."),
    ("EF05", "There is no account with this account combination id."),
    ("EC08", "Invalid currency code."),
    ("EM01", "Invalid journal entry category (stand-in code)."),
    ("EM03", "Invalid ledger (stand-in code)."),
    ("EM04", "Invalid actual flag (stand-in code)."),
)


def render_state(state: str, names: StateNames) -> str:
    """An ESS state as ``erpintegrations`` writes it: ``VALIDATION FAILED`` with ``spaces``."""
    return state.replace("_", " ") if names == "spaces" else state


class _LoadError(Exception):
    pass


@dataclass
class _Row:
    """One ``GL_INTERFACE`` row; the state keeps it as a plain dict (``dataclasses.asdict``)."""

    values: dict[str, str]
    file_line: int
    load_request_id: str
    status: str = "NEW"
    description: str | None = None
    request_id: str | None = None
    interface_id: int = 0


class EssStateError(ValueError):
    """A hold or release that the request's state does not allow.

    :param status: the HTTP status to answer with (404 unknown request, 400 wrong state).
    :param message: what is wrong.
    """

    def __init__(self, status: int, message: str) -> None:
        super().__init__(message)
        self.status = status


class JournalImportService:
    """``erpintegrations`` of the stand-in (``importBulkData`` for ``JournalImportLauncher`` and
    the ESS finders), the ESS scheduler REST for the import's requests, and the Journal Import
    that fills ``journalBatches``.

    :param service: the ADF engine (its state holds every resource).
    :param state: the system state; ESS requests live under ``_essJobs``, the interface table
        under ``_glInterface``.
    :param now: the sandbox clock.
    :param settings: returns the current :class:`GlSettings`.
    """

    def __init__(
        self,
        service: AdfService,
        state: SandboxState,
        now: Callable[[], datetime],
        settings: Callable[[], GlSettings],
    ) -> None:
        self.service = service
        self.state = state
        self.now = now
        self.settings = settings

    # -- state helpers ---------------------------------------------------------------------------

    @staticmethod
    def initial_state() -> dict[str, Any]:
        """The non-resource part of the seed: no ESS requests, an empty interface table."""
        return {_JOBS: {}, _INTERFACE: [], _HOLD_NEXT: None}

    def jobs(self) -> list[dict[str, Any]]:
        """Every ESS request in id order: ``request_id``, ``kind`` (``load``, ``launcher``,
        ``child``), ``name``, ``parent_id``, ``abs_parent_id``, ``status`` (enum name), ``polls``,
        ``parameters``, ``summary`` and ``log`` (text, once terminal) among others (copies)."""
        with self.state as db:
            return [
                {key: copy.deepcopy(value) for key, value in job.items() if key != "rows"}
                for job in sorted(db.setdefault(_JOBS, {}).values(), key=lambda job: int(job["request_id"]))
            ]

    def interface_rows(self) -> list[dict[str, Any]]:
        """The ``GL_INTERFACE`` table: the rows not imported (rejected, or never selected).

        Each row has the named columns of :data:`GL_INTERFACE_FIELDS` as loaded (text), with
        ``STATUS`` the row's current status (``NEW``, ``P`` or an error code), plus
        ``STATUS_DESCRIPTION``, ``INTERFACE_ID``, ``LOAD_REQUEST_ID`` (the request that loaded it),
        ``REQUEST_ID`` (the last Journal Import child that selected it) and ``FILE_LINE`` (its line
        in ``GlInterface.csv``).
        """
        with self.state as db:
            return [
                {
                    **row["values"],
                    "STATUS": row["status"],
                    "STATUS_DESCRIPTION": row["description"],
                    "INTERFACE_ID": row["interface_id"],
                    "LOAD_REQUEST_ID": row["load_request_id"],
                    "REQUEST_ID": row["request_id"],
                    "FILE_LINE": row["file_line"],
                }
                for row in db.setdefault(_INTERFACE, [])
            ]

    # -- admin controls ---------------------------------------------------------------------------

    def hold_next_import(self, state: Literal["HOLD", "PAUSED"] | None) -> None:
        """Create the next Import Journals request in ``state`` (``None`` cancels the order)."""
        with self.state as db:
            db[_HOLD_NEXT] = state

    def hold(self, request_id: str, state: Literal["HOLD", "PAUSED"] = "HOLD") -> dict[str, Any]:
        """Put a waiting request on hold (ESS holds requests that have not started).

        :raises EssStateError: unknown request, or one that is not ``WAIT``/``READY``.
        """
        with self.state as db:
            job = self._job(db, request_id)
            if job["status"] not in ("WAIT", "READY"):
                raise EssStateError(400, f"The request {request_id} is {job['status']} and cannot be held.")
            job["status"] = state
            return self._public(job)

    def release(self, request_id: str) -> dict[str, Any]:
        """Release a held or paused request: it waits again and runs on the next ticks.

        :raises EssStateError: unknown request, or one that is not held.
        """
        with self.state as db:
            job = self._job(db, request_id)
            if job["status"] not in _HELD_STATES:
                raise EssStateError(400, f"The request {request_id} is {job['status']}, not held.")
            job["status"] = "WAIT"
            return self._public(job)

    def run(self, ticks: int | None = None) -> list[dict[str, Any]]:
        """Advance the scheduler ``ticks`` times, or until nothing more can move (held
        requests and requests waiting for the sandbox clock stay as they are)."""
        settings = self.settings()
        with self.state as db:
            if ticks is None:
                self._settle(db, settings)
            else:
                for _ in range(ticks):
                    self._tick(db, settings)
        return self.jobs()

    @staticmethod
    def _job(db: dict[str, Any], request_id: str) -> dict[str, Any]:
        job = db.setdefault(_JOBS, {}).get(str(request_id))
        if job is None:
            raise EssStateError(404, f"The request {request_id} does not exist.")
        return cast("dict[str, Any]", job)

    @staticmethod
    def _public(job: Mapping[str, Any]) -> dict[str, Any]:
        return {key: copy.deepcopy(value) for key, value in job.items() if key != "rows"}

    # -- HTTP: erpintegrations ----------------------------------------------------------------------

    async def handle(self, request: Request, base_path: str, path: str, user: str) -> Response:
        """Answer a request for ``erpintegrations`` (``path`` starts with it)."""
        version = framework_version(request)
        try:
            segments = unquote_segments(path)
            base = str(request.base_url).rstrip("/") + "/" + base_path.strip("/")
            href = f"{base}/{ERP_INTEGRATIONS}"
            params = {name.lower(): value for name, value in request.query_params.items()}
            only_data = (params.get("onlydata") or "").strip().lower() == "true"
            if len(segments) != 1:
                raise AdfError(404, "The requested resource does not exist.", "NOT_FOUND")
            if request.method == "POST":
                item = self.submit(await read_json_object(request), user)
                location = f"{href}/{item['OperationName']}"
                body = self._render(item, location, only_data)
                return JSONResponse(body, status_code=201, headers={"Location": location})
            if request.method != "GET":
                raise AdfError(405, f"The method {request.method} is not allowed here.", "METHOD_NOT_ALLOWED")
            items = self.find(params.get("finder") or "")
            return JSONResponse(
                {
                    "items": [
                        self._render(item, f"{href}/{item['OperationName']}", only_data) for item in items
                    ],
                    "count": len(items),
                    "hasMore": False,
                    "limit": 25,
                    "offset": 0,
                    "links": [{"rel": "self", "href": href, "name": ERP_INTEGRATIONS, "kind": "collection"}],
                }
            )
        except AdfError as exc:
            return exc.to_response(version)

    @staticmethod
    def _render(item: Mapping[str, Any], href: str, only_data: bool) -> dict[str, Any]:
        out = {name: item.get(name) for name in _ESS_ATTRIBUTES}
        if not only_data:
            out["links"] = [
                {"rel": "self", "href": href, "name": ERP_INTEGRATIONS, "kind": "item"},
                {"rel": "canonical", "href": href, "name": ERP_INTEGRATIONS, "kind": "item"},
            ]
        return out

    # -- importBulkData -----------------------------------------------------------------------------

    def submit(self, payload: Mapping[str, Any], user: str) -> dict[str, Any]:
        """Validate an ``importBulkData`` body, read its file, and queue the load request.

        :returns: the answer item (the body echoed, ``ReqstId`` = the load request's id).
        :raises AdfError: 400 for a malformed request.
        """
        parameters, file_name = self._check_payload(payload)
        content = str(payload["DocumentContent"])
        try:
            document = base64.b64decode("".join(content.split()), validate=True)
        except (binascii.Error, ValueError):
            raise AdfError(
                400, "DocumentContent is not valid base64.", "INVALID_VALUE", "DocumentContent"
            ) from None
        try:
            archive = zipfile.ZipFile(io.BytesIO(document))
        except (zipfile.BadZipFile, OSError):
            raise AdfError(
                400, "DocumentContent is not a zip file.", "INVALID_VALUE", "DocumentContent"
            ) from None
        with archive:
            csv_bytes, load_error = _read_member(archive)

        settings = self.settings()
        with self.state as db:
            load = self._new_request(db, "load", None, user, parameters)
            rows: list[dict[str, Any]] = []
            if load_error is None and csv_bytes is not None:
                try:
                    rows = [asdict(row) for row in _load(csv_bytes, load["request_id"])]
                except _LoadError as exc:
                    load_error = str(exc)
            load.update(
                file_name=file_name,
                load_error=load_error,
                rows=rows,
                rows_loaded=0 if load_error else len(rows),
                import_delay_polls=settings.import_delay_polls,
                import_delay_seconds=settings.import_delay_seconds,
            )
            echo = {name: payload.get(name) for name in _ESS_ATTRIBUTES}
            echo["ReqstId"] = load["request_id"]
            if settings.polls_to_terminal <= 0:
                self._settle(db, settings)
        return echo

    @staticmethod
    def _check_payload(payload: Mapping[str, Any]) -> tuple[dict[str, str], str]:
        unknown = sorted(name for name in payload if name not in _ACCEPTED_ATTRIBUTES and name != "links")
        if unknown:
            raise AdfError(
                400,
                f"Attribute {unknown[0]} is not defined for resource {ERP_INTEGRATIONS}.",
                "INVALID_ATTRIBUTE",
                unknown[0],
            )
        operation = payload.get("OperationName")
        if operation != "importBulkData":
            raise AdfError(
                400,
                f"The operation {operation!r} is not supported by the stand-in; it serves importBulkData only.",
                "INVALID_OPERATION",
                "OperationName",
            )
        content_type = payload.get("ContentType")
        if not isinstance(content_type, str) or content_type.strip().lower() != "zip":
            raise AdfError(
                400,
                f"The ContentType {content_type!r} is not valid; use zip.",
                "INVALID_VALUE",
                "ContentType",
            )
        file_name = payload.get("FileName")
        if not isinstance(file_name, str) or not file_name.strip():
            raise AdfError(400, "Attribute FileName is required.", "MANDATORY_ATTRIBUTE", "FileName")
        account = payload.get("DocumentAccount")
        if account not in DOCUMENT_ACCOUNTS:
            raise AdfError(
                400,
                f"The document account {account!r} is not valid for Journal Import; use "
                f"{DOCUMENT_ACCOUNTS[0]} or {DOCUMENT_ACCOUNTS[1]}.",
                "INVALID_VALUE",
                "DocumentAccount",
            )
        job_name = payload.get("JobName")
        if job_name != JOURNAL_IMPORT_JOB_NAME:
            raise AdfError(
                400,
                f"The job {job_name!r} does not exist; the stand-in runs {JOURNAL_IMPORT_JOB_NAME}.",
                "INVALID_VALUE",
                "JobName",
            )
        parameter_list = payload.get("ParameterList")
        if not isinstance(parameter_list, str):
            raise AdfError(
                400, "Attribute ParameterList is required.", "MANDATORY_ATTRIBUTE", "ParameterList"
            )
        values = [value.strip() for value in parameter_list.split(",")]
        if len(values) != len(_PARAMETER_NAMES):
            raise AdfError(
                400,
                f"JournalImportLauncher takes {len(_PARAMETER_NAMES)} parameters "
                f"({', '.join(_PARAMETER_NAMES)}); the ParameterList has {len(values)}.",
                "INVALID_VALUE",
                "ParameterList",
            )
        content = payload.get("DocumentContent")
        if not isinstance(content, str) or not content.strip():
            raise AdfError(
                400, "Attribute DocumentContent is required.", "MANDATORY_ATTRIBUTE", "DocumentContent"
            )
        parameters = {
            name: ("" if value == "#NULL" else value)
            for name, value in zip(_PARAMETER_NAMES, values, strict=True)
        }
        return parameters, file_name

    def _new_request(
        self,
        db: dict[str, Any],
        kind: str,
        parent: Mapping[str, Any] | None,
        user: str,
        parameters: Mapping[str, str],
        state: str = "WAIT",
    ) -> dict[str, Any]:
        # Ids come from one sequence, so a descendant always has a higher id than its parent (A5.7c).
        request_id = str(self.state.next_id("ess-request", _REQUEST_START))
        name, package, definition = ESS_JOBS[kind]
        job: dict[str, Any] = {
            "request_id": request_id,
            "kind": kind,
            "name": name,
            "package": package,
            "definition": definition,
            "parent_id": None if parent is None else parent["request_id"],
            # "All child requests created on behalf of that request have the same absolute parent"
            # (Oracle, ESS REST "Get job request information", absParentRequestId); the submitted
            # request is its own absolute parent (the public get_descendant_requests of
            # github.com/kavin0831/GLFBDI services/fusion_service.py drops the parent itself from
            # the absParentRequestId answer).
            "abs_parent_id": request_id if parent is None else parent["abs_parent_id"],
            "status": state,
            "polls": 0,
            "polls_to_terminal": self.settings().polls_to_terminal,
            "extra_polls": 0,
            "not_before": None,
            "submitted": format_timestamp(self.now()),
            "started": None,
            "finished": None,
            "user": user,
            "parameters": dict(parameters),
            "file_name": None if parent is None else parent.get("file_name"),
            "summary": None,
            "log": None,
            "report": None,
        }
        db.setdefault(_JOBS, {})[request_id] = job
        return job

    # -- the scheduler ------------------------------------------------------------------------------

    def _tick(self, db: dict[str, Any], settings: GlSettings) -> None:
        """One scheduler step: every active, unheld request moves on once; a parent whose
        children are all terminal ends with the worst of their states."""
        now = self.now()
        jobs: dict[str, dict[str, Any]] = db.setdefault(_JOBS, {})
        for job in sorted(jobs.values(), key=lambda job: int(job["request_id"])):
            if job["finished"] is not None or job["status"] not in _ACTIVE_STATES - _HELD_STATES:
                continue
            if job["kind"] == "launcher":
                if job["status"] in ("WAIT", "READY"):
                    # Import Journals starts and submits its child as a separate request (A5.7c).
                    self._start(job, now)
                    child = self._new_request(db, "child", job, job["user"], job["parameters"])
                    child.update(extra_polls=job["extra_polls"], not_before=job["not_before"])
                continue
            need = job["polls_to_terminal"] + job["extra_polls"]
            if job["polls"] < need:
                job["polls"] += 1
            due = job["not_before"] is None or now >= datetime.fromisoformat(job["not_before"])
            if job["polls"] >= need and due:
                self._finish(db, job, settings)
            elif job["status"] != "RUNNING":
                self._start(job, now)
        for job in jobs.values():
            if job["kind"] != "launcher" or job["finished"] is not None or job["status"] != "RUNNING":
                continue
            children = [child for child in jobs.values() if child["parent_id"] == job["request_id"]]
            if children and all(child["finished"] is not None for child in children):
                worst = _worst(child["status"] for child in children)
                self._end(job, worst, now)
                job["log"] = (
                    f"Import Journals, request {job['request_id']}\n"
                    + "".join(
                        f"Submitted Import Journals: Child, request {child['request_id']}: {child['status']}\n"
                        for child in children
                    )
                    + f"Request status: {worst}\n"
                )

    def _settle(self, db: dict[str, Any], settings: GlSettings) -> None:
        """Tick until no request moves any more."""
        for _ in range(_SETTLE_LIMIT):
            before = [(job["status"], job["polls"]) for job in db.setdefault(_JOBS, {}).values()]
            self._tick(db, settings)
            after = [(job["status"], job["polls"]) for job in db[_JOBS].values()]
            if before == after:
                return

    @staticmethod
    def _start(job: dict[str, Any], now: datetime) -> None:
        job["status"] = "RUNNING"
        job["started"] = job["started"] or format_timestamp(now)

    @staticmethod
    def _end(job: dict[str, Any], status: str, now: datetime) -> None:
        job["status"] = status
        job["started"] = job["started"] or format_timestamp(now)
        job["finished"] = format_timestamp(now)

    def _finish(self, db: dict[str, Any], job: dict[str, Any], settings: GlSettings) -> None:
        now = self.now()
        if job["kind"] == "load":
            self._finish_load(db, job, now)
            return
        load = db[_JOBS][job["abs_parent_id"]]
        run = _ImportRun(job, load, settings, now)
        run.execute(db, self.service)
        self._end(job, run.status, now)
        job["summary"] = run.summary
        job["report"] = job["log"] = run.report_text()

    def _finish_load(self, db: dict[str, Any], job: dict[str, Any], now: datetime) -> None:
        lines = [
            "Load Interface File for Import",
            f"Request id: {job['request_id']}",
            f"File: {job['file_name']} ({_CSV_NAME}), interface GL_INTERFACE",
        ]
        if job["load_error"] is not None:
            lines.append(f"Load failed: {job['load_error']} No rows were loaded into GL_INTERFACE.")
            self._end(job, "ERROR", now)
        else:
            interface: list[dict[str, Any]] = db.setdefault(_INTERFACE, [])
            next_id = max([0, *(row.get("interface_id", 0) for row in interface)]) + 1
            for number, row in enumerate(job["rows"]):
                row["interface_id"] = next_id + number
                interface.append(row)
            job["rows"] = []
            # The load succeeds once its rows are in GL_INTERFACE, whatever Journal Import later
            # makes of them (A5.7c: "a load whose journals were all rejected still shows SUCCEEDED").
            self._end(job, "SUCCEEDED", now)
            held = db.get(_HOLD_NEXT)
            db[_HOLD_NEXT] = None
            launcher = self._new_request(db, "launcher", job, job["user"], job["parameters"], held or "WAIT")
            lines.append(f"Rows loaded: {job['rows_loaded']}")
            lines.append(f"Submitted Import Journals, request {launcher['request_id']}")
            self._delay(job, launcher, now)
        lines.append(f"Request status: {job['status']}")
        job["summary"] = {"rows_loaded": job["rows_loaded"]}
        job["log"] = "\n".join(lines) + "\n"

    @staticmethod
    def _delay(load: Mapping[str, Any], launcher: dict[str, Any], now: datetime) -> None:
        """Carry the slow-import fault of the load onto its Import Journals request, whose child
        inherits it: the child runs ``extra_polls`` more ticks and not before ``not_before``."""
        launcher["extra_polls"] = load["import_delay_polls"]
        if load["import_delay_seconds"]:
            launcher["not_before"] = format_timestamp(now + timedelta(seconds=load["import_delay_seconds"]))

    # -- finders ------------------------------------------------------------------------------------

    def find(self, finder_text: str) -> list[dict[str, Any]]:
        """Run an ``erpintegrations`` finder: ``ESSJobStatusRF``, ``ESSExecutionDetailsRF`` or
        ``ESSJobExecutionDetailsRF``."""
        name, pairs = parse_finder(finder_text)
        binds = {var.lower(): value.strip() for var, value in pairs}
        settings = self.settings()
        finders = {"ESSJobStatusRF": {"requestid"}, "ESSJobExecutionDetailsRF": {"requestid", "filetype"}}
        if settings.execution_details_finder:
            finders["ESSExecutionDetailsRF"] = {"requestid"}
        for resource, removed in self.service.removed_finders:
            if resource == ERP_INTEGRATIONS:
                finders.pop(removed, None)
        if name not in finders:
            if not name:
                raise AdfError(
                    400,
                    f"erpintegrations is read with a finder: {', '.join(finders)}.",
                    "INVALID_FINDER",
                )
            # A pod without the finder answers as ADF does for any undefined finder: 400.
            raise AdfError(
                400, f"The finder {name} is not defined for resource {ERP_INTEGRATIONS}.", "INVALID_FINDER"
            )
        extra = sorted(set(binds) - finders[name])
        if extra:
            raise AdfError(
                400, f"The bind variable {extra[0]} is not defined for finder {name}.", "INVALID_FINDER"
            )
        request_id = binds.get("requestid", "")
        with self.state as db:
            job = db.setdefault(_JOBS, {}).get(request_id)
            if job is None:
                return []
            if name == "ESSJobStatusRF":
                self._tick(db, settings)
                return [
                    {
                        "OperationName": "getESSJobStatus",
                        "ReqstId": request_id,
                        "RequestStatus": render_state(job["status"], settings.state_names),
                    }
                ]
            if name == "ESSExecutionDetailsRF":
                self._tick(db, settings)
                return [
                    {
                        "OperationName": "getESSExecutionDetails",
                        "ReqstId": request_id,
                        "RequestStatus": json.dumps(self._details(db, job, settings)),
                    }
                ]
            return [self._execution_files(job, binds.get("filetype") or "LOG", settings)]

    def _details(self, db: dict[str, Any], root: Mapping[str, Any], settings: GlSettings) -> dict[str, Any]:
        """The ``ESSExecutionDetailsRF`` tree: the request and every descendant.

        Key names are those the public reader of this finder uses
        (github.com/kavin0831/GLFBDI services/fusion_service.py ``get_execution_details``: the
        item's ``RequestStatus`` is a JSON string with ``JOBS`` — one object or a list — whose
        entries carry ``JOBNAME``, ``JOBPATH``, ``REQUESTID``, ``STATUS`` and may nest ``CHILD``).
        Which layout a pod sends is UNCONFIRMED: :attr:`GlSettings.execution_details_layout`.
        """
        jobs = sorted(db[_JOBS].values(), key=lambda job: int(job["request_id"]))

        def node(job: Mapping[str, Any]) -> dict[str, Any]:
            return {
                "JOBNAME": job["name"],
                "JOBPATH": job["package"],
                "REQUESTID": job["request_id"],
                "STATUS": render_state(job["status"], settings.state_names),
            }

        def nested(job: Mapping[str, Any]) -> dict[str, Any]:
            out = node(job)
            children = [nested(child) for child in jobs if child["parent_id"] == job["request_id"]]
            if children:
                out["CHILD"] = children
            return out

        if settings.execution_details_layout == "nested":
            return {"JOBS": nested(root)}
        descendants = [job for job in jobs if _descends(db[_JOBS], job, root["request_id"])]
        return {"JOBS": [node(root), *(node(job) for job in descendants)]}

    @staticmethod
    def _execution_files(job: Mapping[str, Any], file_type_text: str, settings: GlSettings) -> dict[str, Any]:
        file_type = file_type_text.upper()
        if file_type not in ("LOG", "OUT", "ALL"):
            raise AdfError(
                400, f"The fileType {file_type} is not valid; use LOG, OUT or ALL.", "INVALID_VALUE"
            )
        request_id = job["request_id"]
        content = None
        if job["log"] is not None:
            content = base64.b64encode(_log_zip(request_id, job["log"], file_type)).decode("ascii")
        return {
            "OperationName": "downloadESSJobExecutionDetails",
            "DocumentContent": content,
            "FileName": f"{request_id}.zip",
            "ContentType": "zip",
            "FileType": file_type,
            "ReqstId": request_id,
            "RequestStatus": render_state(job["status"], settings.state_names),
        }

    # -- HTTP: the ESS scheduler REST -----------------------------------------------------------------

    def scheduler(self, method: str, path: str, params: Mapping[str, str]) -> tuple[int, Any]:
        """Answer ``/ess/rest/scheduler/v1/requests…`` (``path`` is what follows ``requests``):
        ``GET`` the list (``q`` in SCIM form, e.g. ``absParentRequestId eq 2345001``; ``fields``),
        ``GET /<id>``, ``POST /<id>/hold`` and ``POST /<id>/release``.

        Operations and field names are Oracle's (Applications Common REST, "Scheduler REST
        Endpoints": docs.oracle.com/en/cloud/saas/applications-common/25b/farca/api-scheduler.html;
        ``RequestDetails`` of "Get job request information"; the list's ``RequestQueryResponse``
        has ``items`` and ``count``). ``name`` and ``requestParameters`` (``submit.argumentN``)
        follow the public client github.com/kavin0831/GLFBDI services/fusion_service.py
        (``get_descendant_requests``, ``get_ji_group_id``).

        :returns: status and JSON body (a text body for errors).
        """
        settings = self.settings()
        if not settings.scheduler_rest:
            # A pod that does not grant the integration user the scheduler REST: 403 (UNCONFIRMED).
            return 403, "Forbidden: the user has no access to the Enterprise Scheduler REST API."
        parts = [part for part in path.split("/") if part]
        with self.state as db:
            jobs: dict[str, dict[str, Any]] = db.setdefault(_JOBS, {})
            if method == "GET" and not parts:
                try:
                    predicate = _scim_filter(params.get("q") or "")
                except ValueError as exc:
                    return 400, str(exc)
                self._tick(db, settings)
                fields = [name.strip() for name in (params.get("fields") or "").split(",") if name.strip()]
                items = [
                    _project(self._scheduler_item(job), fields)
                    for job in sorted(jobs.values(), key=lambda job: int(job["request_id"]))
                    if predicate(self._scheduler_item(job))
                ]
                return 200, {"items": items, "count": len(items)}
            if not parts[0].isdigit() or parts[0] not in jobs:
                return 404, f"The request {parts[0]} does not exist."
            if method == "GET" and len(parts) == 1:
                self._tick(db, settings)
                fields = [name.strip() for name in (params.get("fields") or "").split(",") if name.strip()]
                return 200, _project(self._scheduler_item(jobs[parts[0]]), fields)
            if method == "POST" and len(parts) == 2 and parts[1] in ("hold", "release"):
                try:
                    self.hold(parts[0]) if parts[1] == "hold" else self.release(parts[0])
                except EssStateError as exc:
                    return exc.status, str(exc)
                return 200, self._scheduler_item(jobs[parts[0]])
        return 404, "The requested resource does not exist."

    @staticmethod
    def _scheduler_item(job: Mapping[str, Any]) -> dict[str, Any]:
        parameters = [job["parameters"][name] for name in _PARAMETER_NAMES]
        if job["kind"] == "load":
            parameters = [job["file_name"] or ""]
        return {
            "requestId": int(job["request_id"]),
            "parentRequestId": None if job["parent_id"] is None else int(job["parent_id"]),
            "absParentRequestId": int(job["abs_parent_id"]),
            "name": job["name"],
            "jobDefinitionId": f"JobDefinition:/{job['package']}/{job['definition']}",
            "application": "FscmEss",
            "state": job["status"],
            "submitter": job["user"],
            "submissionTime": job["submitted"],
            "processStartTime": job["started"],
            "processEndTime": job["finished"],
            "completedTime": job["finished"],
            "requestParameters": [
                {"name": f"submit.argument{number}", "value": value or "#NULL"}
                for number, value in enumerate(parameters, start=1)
            ],
        }


def _worst(states: Iterable[str]) -> str:
    """The state a parent ends with: its worst child's (ERROR over WARNING over SUCCEEDED)."""
    order = {"SUCCEEDED": 0, "WARNING": 1, "ERROR": 2}
    return max(states, key=lambda state: order.get(state, 2))


def _descends(jobs: Mapping[str, Mapping[str, Any]], job: Mapping[str, Any], ancestor: str) -> bool:
    parent = job["parent_id"]
    while parent is not None:
        if parent == ancestor:
            return True
        parent = jobs[parent]["parent_id"]
    return False


_SCIM_CLAUSE = re.compile(r"^\s*(\w+)\s+eq\s+(?:'([^']*)'|\"([^\"]*)\"|(\S+))\s*$", re.IGNORECASE)
_SCIM_FIELDS = ("requestId", "absParentRequestId", "parentRequestId", "state", "name")


def _scim_filter(text: str) -> Callable[[Mapping[str, Any]], bool]:
    """A predicate for the SCIM filters a client uses here: ``<field> eq <value>`` joined by
    ``and`` (fields :data:`_SCIM_FIELDS`); an empty filter matches everything.

    :raises ValueError: another form or field.
    """
    clauses: list[tuple[str, str]] = []
    for part in re.split(r"\s+and\s+", text.strip(), flags=re.IGNORECASE) if text.strip() else []:
        match = _SCIM_CLAUSE.match(part)
        if match is None:
            raise ValueError(
                f"Invalid query string: {text!r} (the stand-in supports '<field> eq <value>' and 'and')."
            )
        field = match[1]
        if field not in _SCIM_FIELDS:
            raise ValueError(f"Invalid query field {field}; the stand-in queries {', '.join(_SCIM_FIELDS)}.")
        clauses.append((field, next(value for value in match.groups()[1:] if value is not None)))

    def matches(item: Mapping[str, Any]) -> bool:
        return all(str(item.get(field)) == value for field, value in clauses)

    return matches


def _project(item: dict[str, Any], fields: Sequence[str]) -> dict[str, Any]:
    return {name: value for name, value in item.items() if name in fields} if fields else item


def _read_member(archive: zipfile.ZipFile) -> tuple[bytes | None, str | None]:
    names = [info.filename for info in archive.infolist() if not info.is_dir()]
    match = next((name for name in names if name.rsplit("/", 1)[-1] == _CSV_NAME), None)
    if match is None:
        found = ", ".join(names) or "nothing"
        return None, f"The zip holds no {_CSV_NAME} (it holds {found})."
    try:
        return archive.read(match), None
    except (zipfile.BadZipFile, OSError, RuntimeError, NotImplementedError, EOFError) as exc:
        return None, f"{_CSV_NAME} cannot be read from the zip: {exc}"


def _load(data: bytes, request_id: str) -> list[_Row]:
    """The load step: ``GlInterface.csv`` → interface rows, or :class:`_LoadError` (nothing loaded)."""
    try:
        text = data.decode("utf-8-sig")
    except UnicodeDecodeError as exc:
        raise _LoadError(f"{_CSV_NAME} is not UTF-8 text ({exc.reason} at byte {exc.start}).") from None
    try:
        records = parse_csv(text)
    except CsvError as exc:
        raise _LoadError(f"{_CSV_NAME} is not valid CSV: {exc}.") from None
    if not records:
        raise _LoadError(f"{_CSV_NAME} has no rows.")
    rows: list[_Row] = []
    for line, fields in records:
        if len(fields) != _FIELD_COUNT:
            raise _LoadError(
                f"{_CSV_NAME} line {line} has {len(fields)} fields; each row must have {_FIELD_COUNT}."
            )
        values = {name: fields[position - 1] for name, position in GL_INTERFACE_FIELDS.items()}
        created = values["DATE_CREATED"].strip()
        if not created:
            raise _LoadError(f"{_CSV_NAME} line {line}: DATE_CREATED (field 7) is required.")
        if _parse_date(created) is None:
            raise _LoadError(f"{_CSV_NAME} line {line}: DATE_CREATED {created!r} is not a YYYY/MM/DD date.")
        for name in ("ENTERED_DR", "ENTERED_CR"):
            if values[name].strip() and _parse_amount(values[name]) is None:
                raise _LoadError(f"{_CSV_NAME} line {line}: {name} {values[name]!r} is not a number.")
        group = values["GROUP_ID"].strip()
        if group and not group.isdigit():
            raise _LoadError(f"{_CSV_NAME} line {line}: GROUP_ID {group!r} is not a number.")
        rows.append(_Row(values=values, file_line=line, load_request_id=request_id))
    return rows


def _parse_date(text: str) -> date | None:
    match = _DATE.match(text.strip())
    if match is None:
        return None
    try:
        return date(int(match[1]), int(match[2]), int(match[3]))
    except ValueError:
        return None


def _parse_amount(text: str) -> Decimal | None:
    stripped = text.strip()
    if not stripped:
        return Decimal(0)
    if not re.fullmatch(r"-?(\d+(\.\d*)?|\.\d+)", stripped):
        return None
    try:
        return Decimal(stripped)
    except InvalidOperation:  # pragma: no cover - guarded by the pattern
        return None


def _log_zip(request_id: str, text: str, file_type: str) -> bytes:
    buffer = io.BytesIO()
    with zipfile.ZipFile(buffer, "w", compression=zipfile.ZIP_DEFLATED) as archive:
        if file_type in ("LOG", "ALL"):
            archive.writestr(f"{request_id}.log", text.encode("utf-8"))
        if file_type in ("OUT", "ALL"):
            archive.writestr(f"{request_id}.out", text.encode("utf-8"))
    return buffer.getvalue()


_Column = tuple[str, int, bool]  # title, width, right-aligned
_SUMMARY_COLUMNS: tuple[_Column, ...] = (
    ("Source", 25, False),
    ("Group ID", 18, False),
    ("Status", 9, False),
    ("Lines Read", 10, True),
    ("Lines Imported", 15, True),
    ("Lines Rejected", 15, True),
    ("Batches", 8, True),
)
_BATCH_COLUMNS: tuple[_Column, ...] = (
    ("Batch Name", 69, False),
    ("Batch ID", 15, True),
    ("Journals", 9, True),
)
_ERROR_COLUMNS: tuple[_Column, ...] = (
    ("Status", 6, False),
    ("Source", 25, False),
    ("Accounting Date", 15, False),
    ("Currency", 8, False),
    ("Group ID", 18, False),
    ("Batch Name (REFERENCE1)", 30, False),
    ("Journal Name (REFERENCE4)", 30, False),
    ("Line", 6, True),
)


def _table_row(columns: Sequence[_Column], values: Sequence[Any]) -> str:
    """One fixed-width line: each value cut or padded to its column, columns one space apart."""
    cells = []
    for (_title, width, right), value in zip(columns, values, strict=True):
        text = str(value)[:width]
        cells.append(text.rjust(width) if right else text.ljust(width))
    return " ".join(cells).rstrip()


def _table_head(columns: Sequence[_Column]) -> list[str]:
    """A table's title line and its dashes."""
    return [
        _table_row(columns, [title for title, _width, _right in columns]),
        " ".join("-" * width for _title, width, _right in columns),
    ]


class _ImportRun:
    """One run of Journal Import (the "Import Journals: Child" request).

    :param job: the child request.
    :param load: the load request it descends from (file name, rows loaded).
    :param settings: the ledger setup.
    :param now: the sandbox time.
    """

    def __init__(
        self, job: dict[str, Any], load: Mapping[str, Any], settings: GlSettings, now: datetime
    ) -> None:
        self.job = job
        self.load = load
        self.settings = settings
        self.now = now
        self.status = "ERROR"
        self.messages: list[str] = []
        self.selected: list[dict[str, Any]] = []
        self.batches: list[tuple[str, int, int]] = []  # (name, JeBatchId, journals)
        self.imported_rows = 0

    @property
    def rejected(self) -> list[dict[str, Any]]:
        """The selected rows left in ``GL_INTERFACE`` with an error code."""
        return [row for row in self.selected if row["status"] not in ("NEW", "P")]

    @property
    def summary(self) -> dict[str, Any]:
        """Row counts of the run."""
        return {
            "rows_loaded": self.load["rows_loaded"],
            "rows_selected": len(self.selected),
            "rows_imported": self.imported_rows,
            "rows_rejected": len(self.selected) - self.imported_rows,
            "batches": [name for name, _batch_id, _journals in self.batches],
        }

    def execute(self, db: dict[str, Any], service: AdfService) -> None:
        """Select, validate and import the group's rows, or reject the whole group."""
        settings = self.settings
        parameters = self.job["parameters"]
        problems = []
        if parameters["DataAccessSetId"] != str(settings.data_access_set_id):
            problems.append(
                f"The data access set {parameters['DataAccessSetId'] or '(none)'} does not exist."
            )
        if parameters["LedgerId"] != str(settings.ledger_id):
            problems.append(
                f"The ledger {parameters['LedgerId'] or '(none)'} is not in data access set "
                f"{parameters['DataAccessSetId'] or '(none)'}."
            )
        source = parameters["JournalSource"]
        if source not in settings.sources:
            problems.append(f"The journal source {source or '(none)'} does not exist.")
        if problems:
            self.messages.extend(f"Journal Import did not start: {problem}" for problem in problems)
            return
        group = parameters["GroupId"]
        interface: list[dict[str, Any]] = db.setdefault(_INTERFACE, [])
        # Leftovers of an earlier import of the same group are selected again (A5.7c).
        self.selected = [
            row
            for row in interface
            if row["values"]["USER_JE_SOURCE_NAME"] == source
            and (group.upper() == "ALL" or row["values"]["GROUP_ID"].strip() == group)
        ]
        if not self.selected:
            self.messages.append(
                f"No rows were selected: GL_INTERFACE has no rows with USER_JE_SOURCE_NAME {source!r} "
                f"and GROUP_ID {group or '(empty)'}."
            )
            return
        combinations = combinations_by_segments(db)
        known_values = [{key[index] for key in combinations} for index in range(len(SEGMENTS))]
        open_periods = settings.open_period_names(self.now.date())
        for row in self.selected:
            row["request_id"] = self.job["request_id"]
            row["status"], row["description"] = "NEW", None
            problem = self._validate(row["values"], combinations, known_values, open_periods)
            if problem is not None:
                row["status"], row["description"] = problem
        # No balance check: a live import accepted an unbalanced journal (A5.7b live note), so
        # the client must refuse unbalanced journals itself.
        if self.rejected:
            # One bad line rejects every journal of its group: no batch at all (A5.7b live probe).
            for row in self.selected:
                if row["status"] == "NEW":
                    row["status"] = "P"
                    row["description"] = "The row is valid but another row of its group was rejected."
            self.status = settings.rejected_status
            return
        batches: dict[str, list[dict[str, Any]]] = {}
        for row in self.selected:
            batches.setdefault(row["values"]["REFERENCE1"].strip(), []).append(row)
        for reference, rows in batches.items():
            name = self._batch_name(reference, rows[0])
            batch_id = self._store_batch(db, service, name, rows)
            self.batches.append((name, batch_id, len(self._journals(rows))))
            self.imported_rows += len(rows)
        imported = {id(row) for row in self.selected}
        interface[:] = [row for row in interface if id(row) not in imported]
        self.status = "SUCCEEDED"

    # -- the report ----------------------------------------------------------------------------------

    def report_text(self) -> str:
        """The Journal Import execution report: fixed-width, an "Error Lines" table and the
        "Error Key" legend.

        Modelled on what a public client parses out of real reports (github.com/kavin0831/GLFBDI
        services/fusion_service.py ``analyze_ess_logs``): a totals row ``<source> <group>
        Error|Warning|Success <count>``; error lines that start with the code, then the source and
        the accounting date (``EF04   Manual   2026-05-16  USD …``); the problem text (``FLEX-VALUE
        DOES NOT EXIST …``) in the body; a legend headed by ``=====`` lines around "Error Key".
        The exact columns of a pod's report are UNCONFIRMED.
        """
        parameters = self.job["parameters"]
        outcome = {"SUCCEEDED": "Success", "WARNING": "Warning"}.get(self.status, "Error")
        rule = "=" * 30
        lines = [
            f"{'Journal Import Execution Report':<60}Report Date: {self.now.strftime('%Y-%m-%d %H:%M:%S')}",
            f"Request ID: {self.job['request_id']}    Load Request ID: {self.load['request_id']}    "
            f"File: {self.load['file_name']}",
            f"Ledger: {self.settings.ledger_name}    Data Access Set: {parameters['DataAccessSetId'] or '#NULL'}",
            f"Post Errors to Suspense: {parameters['PostErrorsToSuspense'] or 'N'}    "
            f"Create Summary Journals: {parameters['CreateSummaryJournals'] or 'N'}    "
            f"Import Descriptive Flexfields: {parameters['ImportDescriptiveFlexfields'] or 'N'}",
            "",
            *self.messages,
            *([""] if self.messages else []),
            *_table_head(_SUMMARY_COLUMNS),
            _table_row(
                _SUMMARY_COLUMNS,
                [
                    parameters["JournalSource"],
                    parameters["GroupId"] or "#NULL",
                    outcome,
                    len(self.selected),
                    self.imported_rows,
                    len(self.selected) - self.imported_rows,
                    len(self.batches),
                ],
            ),
            "",
        ]
        if self.batches:
            lines.extend(_table_head(_BATCH_COLUMNS))
            lines.extend(_table_row(_BATCH_COLUMNS, batch) for batch in self.batches)
            lines.append("")
        lines.append(f"{rule} Error Lines {rule}")
        lines.extend(_table_head(_ERROR_COLUMNS))
        if not self.rejected:
            lines.append("No errors were found.")
        for row in self.rejected:
            values = row["values"]
            accounting = _parse_date(values["ACCOUNTING_DATE"])
            cells = [
                row["status"],
                values["USER_JE_SOURCE_NAME"],
                accounting.isoformat() if accounting else values["ACCOUNTING_DATE"].strip(),
                values["CURRENCY_CODE"].strip(),
                values["GROUP_ID"].strip(),
                values["REFERENCE1"].strip(),
                values["REFERENCE4"].strip(),
                row["file_line"],
            ]
            lines.append(_table_row(_ERROR_COLUMNS, cells))
            lines.append(f"       {row['description']}")
        lines.append("")
        lines.append(f"{rule} Error Key {rule}")
        lines.extend(f"{code:<7}{text}" for code, text in ERROR_KEY)
        return "\n".join(lines) + "\n"

    # -- validation --------------------------------------------------------------------------------------

    def _validate(
        self,
        values: Mapping[str, str],
        combinations: Mapping[tuple[str, ...], Mapping[str, Any]],
        known_values: Sequence[set[str]],
        open_periods: Sequence[str],
    ) -> tuple[str, str] | None:
        settings = self.settings
        ledger_id = values["LEDGER_ID"].strip()
        ledger_name = values["LEDGER_NAME"].strip()
        if (ledger_id and ledger_id != str(settings.ledger_id)) or (
            ledger_name and ledger_name != settings.ledger_name
        ):
            return (
                "EM03",
                f"Invalid ledger (LEDGER_ID {ledger_id or '(empty)'}, LEDGER_NAME {ledger_name or '(empty)'}).",
            )
        if not ledger_id and not ledger_name:
            return "EM03", "Invalid ledger: neither LEDGER_ID nor LEDGER_NAME is given."
        if values["ACTUAL_FLAG"].strip() != "A":
            return (
                "EM04",
                f"Invalid actual flag {values['ACTUAL_FLAG']!r}: the stand-in imports actual journals (A) only.",
            )
        currency = values["CURRENCY_CODE"].strip()
        if currency not in settings.currencies:
            return "EC08", f"Invalid currency code {currency or '(empty)'}."
        category = values["USER_JE_CATEGORY_NAME"].strip()
        if category not in settings.categories:
            return "EM01", f"Invalid journal entry category {category or '(empty)'}."
        accounting_text = values["ACCOUNTING_DATE"].strip()
        accounting = _parse_date(accounting_text)
        if accounting is None:
            return (
                "EP01",
                f"This date is not in any open or future enterable period (ACCOUNTING_DATE {accounting_text or '(empty)'} is not a YYYY/MM/DD date).",
            )
        period = period_name(accounting)
        given_period = values["PERIOD_NAME"].strip()
        if given_period and given_period != period:
            return (
                "EP01",
                f"This date is not in any open or future enterable period ({accounting_text} is not in PERIOD_NAME {given_period}).",
            )
        if period not in open_periods:
            return (
                "EP01",
                f"This date is not in any open or future enterable period ({accounting_text} is in {period}, which is not open).",
            )
        segments = [values[f"SEGMENT{n}"].strip() for n in range(1, 31)]
        for index, (segment, value_set) in enumerate(SEGMENTS):
            value = segments[index]
            if not value:
                return "EF04", f"A VALUE IS REQUIRED (SEGMENT={segment}) (VALUESET={value_set})."
            if value not in known_values[index]:
                return (
                    "EF04",
                    f"FLEX-VALUE DOES NOT EXIST (SEGMENT={segment}) (VALUESET={value_set}) (VALUE={value})",
                )
        surplus = [value for value in segments[len(SEGMENTS) :] if value]
        if surplus:
            return (
                "EF04",
                f"The chart of accounts has {len(SEGMENTS)} segments; SEGMENT{len(SEGMENTS) + 1} and later must be empty (found {surplus[0]}).",
            )
        key = tuple(segments[: len(SEGMENTS)])
        concatenated = SEGMENT_DELIMITER.join(key)
        problem = combination_problem(combinations.get(key), accounting)
        if problem == "unknown":
            return (
                "EF04",
                f"COMBINATION DOES NOT EXIST ({concatenated}): these segment values are not a valid account and dynamic insertion is not allowed.",
            )
        if problem == "disabled":
            return "EF03", f"Disabled account {concatenated}."
        if problem == "inactive":
            return "EF01", f"The account {concatenated} is not active on {accounting.isoformat()}."
        return None

    # -- names and storage ----------------------------------------------------------------------------------

    def _batch_name(self, reference: str, row: Mapping[str, Any]) -> str:
        """The imported batch's name: ``<REFERENCE1> <source> A <GROUP_ID> <child request id> N``.

        Journal Import extends the name; a live pod named a batch ``93294RT-JNL-G1 Spreadsheet A
        238 10070490 N`` (contract A5.7c), so clients look batches up by prefix. Without a
        REFERENCE1 the name starts with the source.
        """
        parts = [
            reference,
            row["values"]["USER_JE_SOURCE_NAME"].strip(),
            "A",
            row["values"]["GROUP_ID"].strip(),
            self.job["request_id"],
            "N",
        ]
        return " ".join(part for part in parts if part)

    @classmethod
    def _journals(cls, rows: Sequence[dict[str, Any]]) -> dict[tuple[str, str], list[dict[str, Any]]]:
        """The rows of each journal: journal name and currency → rows, in file order."""
        journals: dict[tuple[str, str], list[dict[str, Any]]] = {}
        for row in rows:
            journals.setdefault((cls._journal_name(row), row["values"]["CURRENCY_CODE"].strip()), []).append(
                row
            )
        return journals

    @staticmethod
    def _journal_name(row: Mapping[str, Any]) -> str:
        values = row["values"]
        name = str(values["REFERENCE4"]).strip()
        return name or f"{values['USER_JE_CATEGORY_NAME'].strip()} {values['CURRENCY_CODE'].strip()}"

    def _store_batch(
        self, db: dict[str, Any], service: AdfService, name: str, rows: Sequence[dict[str, Any]]
    ) -> int:
        batches: list[dict[str, Any]] = db.setdefault(JOURNAL_BATCH_RESOURCE_NAME, [])
        header_id = (
            max(
                [
                    _HEADER_ID_START - 1,
                    *(h.get("JeHeaderId") or 0 for b in batches for h in b.get("journalHeaders") or ()),
                ]
            )
            + 1
        )
        headers = []
        for offset, ((journal_name, currency), journal_rows) in enumerate(self._journals(rows).items()):
            first = journal_rows[0]["values"]
            accounting = _parse_date(first["ACCOUNTING_DATE"])
            assert accounting is not None  # validated
            lines = []
            debit_total = credit_total = Decimal(0)
            for number, row in enumerate(journal_rows, start=1):
                values = row["values"]
                debit = _parse_amount(values["ENTERED_DR"]) if values["ENTERED_DR"].strip() else None
                credit = _parse_amount(values["ENTERED_CR"]) if values["ENTERED_CR"].strip() else None
                debit_total += debit or 0
                credit_total += credit or 0
                lines.append(
                    {
                        "JeLineNumber": number,
                        "AccountCombination": SEGMENT_DELIMITER.join(
                            values[f"SEGMENT{n}"].strip() for n in range(1, len(SEGMENTS) + 1)
                        ),
                        "EnteredDr": None if debit is None else json_number(debit),
                        "EnteredCr": None if credit is None else json_number(credit),
                        "Description": values["REFERENCE10"] or None,
                        "LineReference": values["REFERENCE21"] or None,
                    }
                )
            headers.append(
                {
                    "JeHeaderId": header_id + offset,
                    "JournalName": journal_name,
                    "Description": first["REFERENCE5"] or None,
                    "LedgerName": self.settings.ledger_name,
                    "CurrencyCode": currency,
                    "JournalCategory": first["USER_JE_CATEGORY_NAME"].strip(),
                    "AccountingDate": accounting.isoformat(),
                    "PeriodName": period_name(accounting),
                    "RunningTotalEnteredDr": json_number(debit_total),
                    "RunningTotalEnteredCr": json_number(credit_total),
                    "journalLines": lines,
                }
            )
        first_values = rows[0]["values"]
        stored = service.admin_upsert(
            db,
            JOURNAL_BATCH_RESOURCE_NAME,
            {
                "BatchName": name,
                "BatchDescription": first_values["REFERENCE2"] or None,
                "Status": "Unposted",
                "AccountingPeriod": headers[0]["PeriodName"],
                "JournalSource": first_values["USER_JE_SOURCE_NAME"],
                # GL_JE_BATCHES.REQUEST_ID is NULL after a journal import (contract A5.7c).
                "RequestId": None,
                "LedgerName": self.settings.ledger_name,
                "journalHeaders": headers,
            },
            user=self.job["user"],
        )
        return int(stored["JeBatchId"])
