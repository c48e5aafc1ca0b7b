"""Tenant configuration: the YAML schema, its loader and the per-DAG resolution.

Typical use::

    from ml_connector_provider.config import effective_tenant_integrations, load_config

    config = load_config("config/tenants.yaml")  # raises ConfigError naming file, tenant and field
    for item in effective_tenant_integrations(config):
        print(item.dag_id, item.schedule, item.streams)
"""

from __future__ import annotations

from ml_connector_provider.config.loader import (
    DAG_ID_PREFIX,
    ConfigError,
    ConfigProblem,
    PartialConfig,
    TenantIntegration,
    clear_config_cache,
    dag_id_for,
    effective_tenant_integrations,
    load_config,
    load_config_by_tenant,
    parse_config,
    parse_config_by_tenant,
)
from ml_connector_provider.config.schema import (
    DefaultsConfig,
    IntegrationConfig,
    StreamConfig,
    SyncOptions,
    SyncOverrides,
    TenantConfig,
    TenantsConfig,
)
from ml_connector_provider.options import DEFAULT_LEDGER_CONN_ID, default_ledger_conn_id

__all__ = [
    "DAG_ID_PREFIX",
    "DEFAULT_LEDGER_CONN_ID",
    "ConfigError",
    "ConfigProblem",
    "DefaultsConfig",
    "IntegrationConfig",
    "PartialConfig",
    "StreamConfig",
    "SyncOptions",
    "SyncOverrides",
    "TenantConfig",
    "TenantIntegration",
    "TenantsConfig",
    "clear_config_cache",
    "dag_id_for",
    "default_ledger_conn_id",
    "effective_tenant_integrations",
    "load_config",
    "load_config_by_tenant",
    "parse_config",
    "parse_config_by_tenant",
]
