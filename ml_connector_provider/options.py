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
    from airflow.providers.common.compat.sdk import conf

    value = conf.get("ml_connector", "ledger_conn_id", fallback=DEFAULT_LEDGER_CONN_ID)
    return (value or "").strip() or DEFAULT_LEDGER_CONN_ID


#: Executors that run every task on the one machine of the scheduler (the ``[core] executor``
#: names, or the class names of their import paths). Any other executor — CeleryExecutor,
#: KubernetesExecutor, EdgeExecutor, the cloud ones, a custom one — may run two tasks on two
#: machines, so a file on the local disk is not shared between them.
LOCAL_EXECUTORS = frozenset({"LocalExecutor", "SequentialExecutor", "DebugExecutor"})


def configured_executors() -> tuple[str, ...]:
    """The executors of Airflow's ``[core] executor`` option, as class names, in order.

    The option lists one or more executors, comma-separated, each a core name
    (``CeleryExecutor``), an import path (``my.module.MyExecutor``) or ``alias:import.path``. Unset
    means Airflow's default, ``LocalExecutor``. Reads the Airflow configuration when called.
    """
    from airflow.providers.common.compat.sdk import conf

    value = conf.get("core", "executor", fallback="") or ""
    names = []
    for entry in value.split(","):
        entry = entry.strip()
        if not entry:
            continue
        path = entry.split(":", 1)[1] if ":" in entry else entry
        names.append(path.strip().rsplit(".", 1)[-1])
    return tuple(names) or ("LocalExecutor",)


def distributed_executors() -> tuple[str, ...]:
    """The executors of ``[core] executor`` that may run tasks on more than one machine (every
    executor outside :data:`LOCAL_EXECUTORS`); empty when all tasks run on this machine."""
    return tuple(name for name in configured_executors() if name not in LOCAL_EXECUTORS)
