"""Running the factory's DAGs with ``dag.test()`` in the test session's Airflow metadata DB.

Each test module gets a DAG bundle of its own (a temporary folder holding the DAG file), its own
tenant YAML, its own ledger (SQLite file) and Airflow connections pointing at stand-ins served over
HTTP. Everything between the DAG and the stand-ins is the real thing.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
from collections.abc import Iterator
from contextlib import contextmanager
from datetime import datetime
from pathlib import Path
from typing import Any

from ml_connector_sandbox.runner import SandboxRunner

from ml_connector_provider.ledger import Ledger

DAG_FILE = """\
import os
from ml_connector_provider.dag_factory import build_dags  # airflow dag
build_dags(os.environ["ML_CONNECTOR_CONFIG"])
"""


@contextmanager
def airflow_dag_env(
    root: Path,
    sandbox: SandboxRunner,
    config: str,
    conn_ids: dict[str, str],
    extra_env: dict[str, str] | None = None,
) -> Iterator[Path]:
    """Set up the environment for ``dag.test()`` runs of ``config``; yields the ledger DB path.

    :param extra_env: more environment variables (connections to servers that are not HTTP
        stand-ins, such as the SFTP server).
    """
    import pytest
    from airflow.configuration import AIRFLOW_HOME, conf

    dags = root / "dags"
    dags.mkdir()
    (dags / "ml_connector.py").write_text(DAG_FILE)
    # dag.test() runs DAGs of a configured bundle only: a bundle of its own, in a temporary folder.
    bundles = [
        {
            "name": f"e2e-{root.name}",
            "classpath": "airflow.dag_processing.bundles.local.LocalDagBundle",
            "kwargs": {"path": str(dags), "refresh_interval": 0},
        }
    ]
    config_file = root / "tenants.yaml"
    config_file.write_text(config)
    ledger_db = root / "ledger.db"
    env = {
        "AIRFLOW_HOME": AIRFLOW_HOME,
        "AIRFLOW__DATABASE__SQL_ALCHEMY_CONN": conf.get("database", "sql_alchemy_conn"),
        "AIRFLOW__CORE__DAGS_FOLDER": str(dags),
        "AIRFLOW__DAG_PROCESSOR__DAG_BUNDLE_CONFIG_LIST": json.dumps(bundles),
        "ML_CONNECTOR_CONFIG": str(config_file),
        "AIRFLOW_CONN_ML_CONNECTOR_LEDGER": json.dumps({"conn_type": "sqlite", "host": str(ledger_db)}),
        **sandbox.airflow_env(conn_ids),
        **(extra_env or {}),
    }
    with pytest.MonkeyPatch.context() as patch:
        for name, value in env.items():
            patch.setenv(name, value)
        airflow = Path(sys.executable).with_name("airflow")
        migrate = subprocess.run(
            [str(airflow), "db", "migrate"], env=dict(os.environ), capture_output=True, text=True, check=False
        )
        assert migrate.returncode == 0, migrate.stderr[-2000:]
        yield ledger_db


@contextmanager
def open_ledger(path: Path) -> Iterator[Ledger]:
    ledger = Ledger(f"sqlite:///{path}")
    ledger.migrate()
    try:
        yield ledger
    finally:
        ledger.dispose()


def run_dag(
    dag_id: str,
    conf: dict[str, Any] | None = None,
    *,
    expect: str = "success",
    logical_date: datetime | None = None,
) -> str:
    """Run the DAG once with ``dag.test()``; returns the run id.

    :param logical_date: run for this logical date; when a run of that date exists, Airflow clears
        its task instances and runs them again (what clearing a task in the UI does).
    """
    from airflow.dag_processing.dagbag import DagBag

    bag = DagBag(dag_folder=os.environ["AIRFLOW__CORE__DAGS_FOLDER"])
    assert bag.import_errors == {}
    dag = bag.dags[dag_id]
    run = (
        dag.test(run_conf=conf)
        if logical_date is None
        else dag.test(run_conf=conf, logical_date=logical_date, run_after=logical_date)
    )
    assert run.state == expect, f"DAG run ended {run.state}"
    return str(run.run_id)


def stream_summary(ledger: Ledger, tenant: str, run_id: str, stream: str) -> dict[str, Any]:
    """The summary one stream's task of one run recorded."""
    [row] = [r for r in ledger.list_runs(tenant=tenant) if r.run_id == run_id and r.key.stream == stream]
    assert row.summary is not None
    return dict(row.summary)
