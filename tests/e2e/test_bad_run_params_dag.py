"""A run triggered with bad params fails on its first try, without retries, saying what to fix.

``dag.test()`` of the ``fusion_stripe`` DAG in a real Airflow metadata DB, with three retries
configured: a half range used to raise ``ValueError`` on every try and hold the DAG's only run slot
through all of them.
"""

from __future__ import annotations

import time

import pytest
from ml_connector_sandbox.runner import SandboxRunner

from ml_connector_provider.ledger import Ledger
from tests.harness.airflow_dags import run_dag

pytestmark = pytest.mark.airflow_db

DAG_ID = "mlc__acme__fusion_stripe"
CONFIG = """\
version: 1
defaults:
  retries: 3
  retry_delay: 300
  retry_exponential_backoff: false
  sync: {overlap: 600, lag: 0, batch_size: 4}
tenants:
  - id: acme
    name: ACME Corp
    integrations:
      fusion_stripe:
        schedule: null
        connections: {fusion: acme_fusion, stripe: acme_stripe}
        streams: {invoices: false}
"""


def test_a_half_range_fails_the_first_try_without_retries(
    sandbox: SandboxRunner, ledger: Ledger, capfd: pytest.CaptureFixture[str]
) -> None:
    from airflow.models import DagRun
    from airflow.utils.session import create_session

    started = time.monotonic()
    run_id = run_dag(DAG_ID, {"replay_from": "2026-03-01T00:00:00Z"}, expect="failed")
    assert time.monotonic() - started < 120  # not 3 × 300 s of retry delays

    with create_session() as session:
        run = session.query(DagRun).filter(DagRun.dag_id == DAG_ID, DagRun.run_id == run_id).one()
        states = {
            ti.task_id: (ti.state, ti.try_number, ti.max_tries)
            for ti in run.get_task_instances(session=session)
        }
    first, *rest = list(states)
    assert states[first] == ("failed", 1, 3)  # failed outright: no up_for_retry
    assert all(states[task][0] == "upstream_failed" for task in rest)
    log = "".join(capfd.readouterr())  # the task's log: Airflow's task runner writes it to the console
    assert (
        "AirflowFailException: Invalid run params, fix them and trigger a new run: replay_from and replay_to "
        "must be given together: replay_from is set but replay_to is empty"
    ) in log
    assert ledger.list_runs(tenant="acme") == []  # nothing claimed, nothing read
