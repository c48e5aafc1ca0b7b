"""The ledger is never a surprise, seen from a task: a DAG of the factory run with ``dag.test()``.

A ledger connection named by the tenant file but missing fails the task with the message of
``ml_connector_provider.ledger.connection``; so does the SQLite fallback under a distributed
executor; the fallback under the local executor works and the task log says which file it used.
Everything is the real thing: Airflow's configuration and connections from ``AIRFLOW__*`` and
``AIRFLOW_CONN_*`` variables, a migrated metadata DB, the stand-ins of Fusion and Stripe.
"""

from __future__ import annotations

import os
from collections.abc import Iterator
from pathlib import Path

import pytest
from ml_connector_sandbox.runner import SandboxRunner

from tests.harness.airflow_dags import airflow_dag_env, run_dag

CONN_IDS = {"fusion": "acme_fusion", "stripe": "acme_stripe"}
DAG_ID = "mlc__acme__fusion_stripe"

CONFIG = """\
version: 1
defaults:
  retries: 0
tenants:
  - id: acme
    integrations:
      fusion_stripe:
        schedule: null
        connections: {fusion: acme_fusion, stripe: acme_stripe}
        streams: {customers: true, invoices: false}
"""

NAMED = CONFIG.replace("  - id: acme\n", "  - id: acme\n    ledger_conn_id: acme_ledger\n")


@pytest.fixture(scope="module")
def sandbox() -> Iterator[SandboxRunner]:
    with SandboxRunner(["fusion", "stripe"]) as runner:
        yield runner


@pytest.fixture
def dag_env(tmp_path: Path, sandbox: SandboxRunner, monkeypatch: pytest.MonkeyPatch) -> Iterator[Path]:
    """The DAG environment of ``CONFIG``, without any ledger connection; yields the directory
    where the SQLite fallback goes (``AIRFLOW_HOME`` as the task reads it, one per test)."""
    with airflow_dag_env(tmp_path, sandbox, CONFIG, CONN_IDS):
        monkeypatch.delenv("AIRFLOW_CONN_ML_CONNECTOR_LEDGER")
        monkeypatch.delenv("AIRFLOW__ML_CONNECTOR__LEDGER_CONN_ID", raising=False)
        monkeypatch.setenv("AIRFLOW__CORE__EXECUTOR", "LocalExecutor")
        home = tmp_path / "home"
        home.mkdir()
        # After the metadata DB was migrated: the fallback file of this test only.
        monkeypatch.setenv("AIRFLOW_HOME", str(home))
        yield home


def _config(text: str) -> None:
    Path(os.environ["ML_CONNECTOR_CONFIG"]).write_text(text)


def test_a_named_ledger_connection_that_does_not_exist_fails_the_task(
    dag_env: Path, capfd: pytest.CaptureFixture[str], caplog: pytest.LogCaptureFixture
) -> None:
    _config(NAMED)

    run_dag(DAG_ID, expect="failed")

    logged = caplog.text + "".join(capfd.readouterr())
    assert (
        "the ledger connection 'acme_ledger' does not exist; it is named by the tenant file "
        "(ledger_conn_id of the tenant or of its defaults)"
    ) in logged
    assert not (dag_env / "ml_connector_ledger.db").exists()


def test_the_sqlite_fallback_is_refused_under_the_celery_executor(
    dag_env: Path,
    monkeypatch: pytest.MonkeyPatch,
    capfd: pytest.CaptureFixture[str],
    caplog: pytest.LogCaptureFixture,
) -> None:
    monkeypatch.setenv("AIRFLOW__CORE__EXECUTOR", "CeleryExecutor")

    run_dag(DAG_ID, expect="failed")

    logged = caplog.text + "".join(capfd.readouterr())
    assert "the executor CeleryExecutor ([core] executor) may run tasks on several machines" in logged
    assert not (dag_env / "ml_connector_ledger.db").exists()


def test_the_sqlite_fallback_under_the_local_executor_is_logged_by_the_task(
    dag_env: Path, capfd: pytest.CaptureFixture[str], caplog: pytest.LogCaptureFixture
) -> None:
    run_dag(DAG_ID, expect="success")

    logged = caplog.text + "".join(capfd.readouterr())
    assert (
        "no ledger connection is named and the Airflow connection 'ml_connector_ledger' does not exist; "
        f"using the SQLite file {dag_env / 'ml_connector_ledger.db'} on this machine"
    ) in logged
    assert (dag_env / "ml_connector_ledger.db").is_file()
