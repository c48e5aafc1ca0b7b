"""The provider's Airflow plugin.

Registered through the ``airflow.plugins`` entry point so every Airflow component loads it. It is
deliberately empty for now: importing this module must stay cheap and free of side effects, since
the scheduler, the DAG processor and the workers all import it.
"""

from __future__ import annotations

from airflow.providers.common.compat.sdk import AirflowPlugin


class MlConnectorPlugin(AirflowPlugin):
    """Airflow plugin of the ml-connector provider."""

    name = "ml_connector"


__all__ = ["MlConnectorPlugin"]
