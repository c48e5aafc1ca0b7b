"""Airflow hook for Oracle Fusion Cloud ERP's REST API (``fscmRestApi``, version 11.13.18.05).

The hook owns authentication and transport: it reads an ``oracle_fusion`` Airflow connection,
builds one pooled :class:`~ml_connector_provider.transport.HttpTransport` (retries with backoff that
honour ``Retry-After`` on 429/502/503/504, a new OAuth token after a 401) and speaks the Oracle ADF
REST conventions every Fusion resource follows: the ``items/count/hasMore/limit/offset`` envelope,
offset paging capped at 500 rows, ``q`` filters in two dialects, ``onlyData``, ``fields``,
``expand``, finders, ``Location`` on create and ``/action/<name>`` calls.

Journals cannot be created through REST: :meth:`OracleFusionHook.import_journals` builds the FBDI
``GlInterface.csv`` (:mod:`ml_connector_provider.hooks.oracle_fusion.fbdi`), zips it and submits it to
``erpintegrations`` (``importBulkData`` with ``JournalImportLauncher``);
:meth:`~OracleFusionHook.wait_for_ess_tree` polls the load request and the *Import Journals*
requests it spawns until all are terminal, :meth:`~OracleFusionHook.ess_job_log` reads the
child's report (``ESSJobExecutionDetailsRF``) and
:func:`~ml_connector_provider.hooks.oracle_fusion.journal_import_report.parse_journal_import_report`
pulls the rejected journals out of it; :meth:`~OracleFusionHook.find_by_prefix` then looks the
batches up by name prefix (Journal Import extends the names). The submission is
not idempotent and is never repeated once it may have reached Fusion (see
:meth:`~OracleFusionHook.import_bulk_data`).

Connection (``conn_type`` ``oracle_fusion``; fields declared in ``get_provider_info``):

* ``host`` — the pod URL, ``https://<pod>.fa.<region>.oraclecloud.com`` (a missing scheme means
  https; a trailing ``/fscmRestApi/...`` path is ignored).
* ``extra.auth_type`` — ``oauth2_client_credentials`` (default when a client id is set) or
  ``basic`` (``login``/``password``; default when only those are set).
* ``extra.token_url``, ``extra.client_id``, ``extra.client_secret``, ``extra.scope`` — the IAM
  identity domain's token endpoint and confidential application; the scope is the Fusion audience
  followed by ``urn:opc:resource:consumer::all``.
* ``extra.rest_framework_version`` — sent as ``REST-Framework-Version`` (default 4). It selects
  the ``q`` dialect the hook writes: 1 → query-by-example (``Attr>=value;Attr<value``), 2 and
  later → expressions (``Attr >= 'value' and Attr < 'value'``); 4 and later also make Fusion
  return JSON error details.
* ``extra.timeout`` — seconds per HTTP request (default 60).
* ``extra.ess_descendants`` — how the requests an ESS request spawns are listed: ``auto``
  (default), ``execution_details`` (``ESSExecutionDetailsRF``) or ``scheduler``
  (``/ess/rest/scheduler/v1/requests``); see :mod:`~ml_connector_provider.hooks.oracle_fusion.ess`.
* Optional extras not shown in the form: ``client_auth`` (``basic``, the default, sends the client
  credentials in an HTTP Basic header; ``post`` sends them as form fields), ``retry_attempts``,
  ``retry_base_delay``, ``retry_max_delay``, ``retry_max_retry_after``, ``retry_statuses`` (see
  :meth:`RetryPolicy.from_mapping <ml_connector_provider.transport.RetryPolicy.from_mapping>`),
  ``api_version`` (default ``11.13.18.05``; ``latest`` also works) and ``test_resource`` (the
  collection :meth:`OracleFusionHook.test_connection` reads; default
  ``receivablesCustomerAccountSiteActivities``).

Tolerance where the contract is UNCONFIRMED: timestamps are parsed with or without milliseconds,
with ``Z``, ``+00:00``, ``+0000`` or no offset, and as bare dates (:func:`parse_timestamp`); the
page-size cap may be 499 rather than 500, so paging follows ``hasMore`` and the returned item count,
never the requested size; error bodies are read both as plain text and as the framework-4 JSON
payload; keys are taken from ``links[rel=self].href`` when the caller passes one; expanded
children are read as arrays or as collection objects (:func:`expanded_items`); ESS logs are read
as a zip, as text or as plain content, and an unknown log format parses to nothing.

The package, one module per concern (add to the module a new need belongs to):

* :mod:`~ml_connector_provider.hooks.oracle_fusion.hook` — :class:`OracleFusionHook`, composed of
  the parts below, plus the connection and the transport;
* :mod:`~ml_connector_provider.hooks.oracle_fusion.connection` — :class:`FusionConnectionSettings`:
  the connection's fields, the pod URL, the auth they select;
* :mod:`~ml_connector_provider.hooks.oracle_fusion.rest` — any REST resource: the collection
  envelope and offset paging (:func:`~ml_connector_provider.transport.iter_offset_pages`), items,
  actions, look-ups by attribute, :func:`expanded_items`;
* :mod:`~ml_connector_provider.hooks.oracle_fusion.changes` — incremental reads by change timestamp;
* :mod:`~ml_connector_provider.hooks.oracle_fusion.query` — ``q`` filters in both dialects,
  :func:`parse_timestamp` and :func:`format_timestamp`;
* :mod:`~ml_connector_provider.hooks.oracle_fusion.ess` — ESS request status, wait and log;
* :mod:`~ml_connector_provider.hooks.oracle_fusion.bulk_import` — ``importBulkData`` and the FBDI
  imports built on it (GL journals);
* :mod:`~ml_connector_provider.hooks.oracle_fusion.fbdi` — the FBDI files themselves (pure);
* :mod:`~ml_connector_provider.hooks.oracle_fusion.errors` — the :class:`OracleFusionError` family.

Callers import from the package: the names below are its public surface.
"""

from __future__ import annotations

from ml_connector_provider.hooks.oracle_fusion.bulk_import import DEFAULT_JOB_OPTIONS
from ml_connector_provider.hooks.oracle_fusion.connection import FusionConnectionSettings
from ml_connector_provider.hooks.oracle_fusion.errors import (
    FusionApiError,
    FusionBadRequest,
    FusionEssHeld,
    FusionEssJobError,
    FusionEssRequestNotFound,
    FusionEssTimeout,
    FusionFilterValueError,
    FusionResponseError,
    OracleFusionError,
)
from ml_connector_provider.hooks.oracle_fusion.ess import (
    ERP_INTEGRATIONS,
    ESS_HELD_STATUSES,
    ESS_RUNNING_STATUSES,
    ESS_SUCCESS_STATUSES,
    ESS_TERMINAL_STATUSES,
    EssRequest,
    EssTree,
    normalize_ess_state,
)
from ml_connector_provider.hooks.oracle_fusion.hook import OracleFusionHook
from ml_connector_provider.hooks.oracle_fusion.query import format_timestamp, parse_timestamp
from ml_connector_provider.hooks.oracle_fusion.rest import ACTION_MEDIA_TYPE, ITEM_MEDIA_TYPE, expanded_items

__all__ = [
    "ACTION_MEDIA_TYPE",
    "DEFAULT_JOB_OPTIONS",
    "ERP_INTEGRATIONS",
    "ESS_HELD_STATUSES",
    "ESS_RUNNING_STATUSES",
    "ESS_SUCCESS_STATUSES",
    "ESS_TERMINAL_STATUSES",
    "ITEM_MEDIA_TYPE",
    "EssRequest",
    "EssTree",
    "FusionApiError",
    "FusionBadRequest",
    "FusionConnectionSettings",
    "FusionEssHeld",
    "FusionEssJobError",
    "FusionEssRequestNotFound",
    "FusionEssTimeout",
    "FusionFilterValueError",
    "FusionResponseError",
    "OracleFusionError",
    "OracleFusionHook",
    "expanded_items",
    "format_timestamp",
    "normalize_ess_state",
    "parse_timestamp",
]
