"""Oracle NetSuite: the ``netsuite`` connection type and :class:`NetSuiteHook`.

* :mod:`~ml_connector_provider.hooks.netsuite.connection` — the connection's fields, the REST host
  of an account id, the retry policy;
* :mod:`~ml_connector_provider.hooks.netsuite.hook` — :class:`NetSuiteHook`: OAuth 2.0 client
  credentials with a JWT client assertion, the record service, SuiteQL, the concurrency limit;
* :mod:`~ml_connector_provider.hooks.netsuite.suiteql` — SuiteQL literals and look-up queries;
* :mod:`~ml_connector_provider.hooks.netsuite.ids` — record types, internal and external ids in paths;
* :mod:`~ml_connector_provider.hooks.netsuite.errors` — the typed errors.

Contract: ``oracle_fusion_netsuite.md`` part B; docs/systems/netsuite.md.
"""

from __future__ import annotations

from ml_connector_provider.hooks.netsuite.connection import (
    DEFAULT_CONCURRENCY,
    NETSUITE_RETRY,
    NetSuiteConnectionSettings,
    account_slug,
    default_base_url,
)
from ml_connector_provider.hooks.netsuite.errors import (
    CONCURRENCY_LIMIT_EXCEEDED,
    NetSuiteAuthError,
    NetSuiteConcurrencyError,
    NetSuiteError,
    NetSuiteNotFoundError,
    NetSuitePermissionError,
    NetSuiteQueryError,
    NetSuiteResponseError,
    NetSuiteUnknownOutcomeError,
    NetSuiteValidationError,
    NetSuiteValueError,
    is_concurrency_limit,
    parse_error_body,
)
from ml_connector_provider.hooks.netsuite.hook import NetSuiteHook, clear_token_cache
from ml_connector_provider.hooks.netsuite.ids import check_external_id
from ml_connector_provider.hooks.netsuite.suiteql import (
    ql_identifier,
    ql_literal,
    select_where_equals,
    select_where_in,
)

__all__ = [
    "CONCURRENCY_LIMIT_EXCEEDED",
    "DEFAULT_CONCURRENCY",
    "NETSUITE_RETRY",
    "NetSuiteAuthError",
    "NetSuiteConcurrencyError",
    "NetSuiteConnectionSettings",
    "NetSuiteError",
    "NetSuiteHook",
    "NetSuiteNotFoundError",
    "NetSuitePermissionError",
    "NetSuiteQueryError",
    "NetSuiteResponseError",
    "NetSuiteUnknownOutcomeError",
    "NetSuiteValidationError",
    "NetSuiteValueError",
    "account_slug",
    "check_external_id",
    "clear_token_cache",
    "default_base_url",
    "is_concurrency_limit",
    "parse_error_body",
    "ql_identifier",
    "ql_literal",
    "select_where_equals",
    "select_where_in",
]
