"""Airflow DAG file of the ml-connector provider: one DAG per tenant × integration.

The tenant file is ``$ML_CONNECTOR_CONFIG``, else the Airflow option
``[ml_connector] tenant_config_path``, else ``tenants.yaml`` next to this file.
See docs/configuration.md.
"""

from __future__ import annotations

from ml_connector_provider.dag_factory import build_dags, resolve_config_path

build_dags(resolve_config_path(__file__))
