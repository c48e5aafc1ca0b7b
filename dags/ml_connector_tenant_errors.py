"""Airflow DAG file of the ml-connector provider that reports tenants left out; it defines no DAG.

``ml_connector.py`` builds the DAGs of every valid tenant and leaves out a tenant with a problem of
its own (a misspelt key, a missing connection role…). This file fails to import when that happens,
so the Airflow UI lists those problems as its import error, each naming the tenant file, the tenant
and the field, while the other tenants' DAGs keep loading. Deploy it next to ``ml_connector.py``.
See docs/configuration.md.
"""

from __future__ import annotations

from ml_connector_provider.dag_factory import raise_for_skipped_tenants, resolve_config_path

raise_for_skipped_tenants(resolve_config_path(__file__))
