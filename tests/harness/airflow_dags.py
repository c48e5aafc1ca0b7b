"""Running the factory's DAGs with ``dag.test()`` in the test session's Airflow metadata DB.

Each test module gets a DAG bundle of its own (a temporary folder holding the DAG file), its own
tenant YAML, its own ledger (SQLite file) and Airflow connections pointing at stand-ins served over
HTTP. Everything between the DAG and the stand-ins is the real thing.
"""

from __future__ import annotations

import json
import os
import signal
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
import signal
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


def rewrite_config(config: str) -> None:
    """Replace the tenant file of the current DAG environment (the next run's DAG is built from it)."""
    path = Path(os.environ["ML_CONNECTOR_CONFIG"])
    if path.read_text() != config:
        path.write_text(config)


_RUN_IN_CHILD = """\
import sys
from datetime import datetime
from tests.harness.airflow_dags import run_dag
run_dag(sys.argv[1], logical_date=datetime.fromisoformat(sys.argv[2]))
"""


def start_dag_process(dag_id: str, logical_date: datetime, log: Path) -> subprocess.Popen[bytes]:
    """Run the DAG with ``dag.test()`` in a process of its own (a worker that can be killed), in
    the current DAG environment, importing this source tree; output goes to ``log``.

    It runs in a new session: :func:`kill_process_group` kills it with its children.
    """
    root = Path(__file__).resolve().parents[2]
    path = [str(root), str(root / "sandbox"), os.environ.get("PYTHONPATH", "")]
    env = {**os.environ, "PYTHONPATH": os.pathsep.join(p for p in path if p)}
    with log.open("wb") as out:
        return subprocess.Popen(
            [sys.executable, "-c", _RUN_IN_CHILD, dag_id, logical_date.isoformat()],
            env=env,
            cwd=root,
            stdout=out,
            stderr=subprocess.STDOUT,
            start_new_session=True,
        )


def kill_process_group(process: subprocess.Popen[bytes]) -> None:
    """SIGKILL a process started by :func:`start_dag_process` and its children (no clean-up runs
    in them), and reap it."""
    if process.poll() is None:
        os.killpg(process.pid, signal.SIGKILL)
    process.wait(timeout=30)
