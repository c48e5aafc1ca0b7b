"""Options of the provider read from Airflow's configuration (the ``[ml_connector]`` section).

This module imports nothing from the provider, so both the tenant configuration (at DAG parse
time) and the ledger (at run time) can use it without depending on each other.
"""

from __future__ import annotations

#: Default ledger connection id, used when neither the tenant file nor Airflow's ``[ml_connector]``
#: configuration names one.
DEFAULT_LEDGER_CONN_ID = "ml_connector_ledger"


def default_ledger_conn_id() -> str:
    """The ledger connection id when nothing else names one: Airflow's
    ``[ml_connector] ledger_conn_id`` option, else :data:`DEFAULT_LEDGER_CONN_ID`.

    Reads the Airflow configuration when called, never at import.
    """
    from airflow.sdk import conf

    value = conf.get("ml_connector", "ledger_conn_id", fallback=DEFAULT_LEDGER_CONN_ID)
    return (value or "").strip() or DEFAULT_LEDGER_CONN_ID
