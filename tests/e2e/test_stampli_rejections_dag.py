"""Rejected data is visible, and can make a run red: the ``stampli_fusion`` DAG run with
``dag.test()`` in a real Airflow metadata DB, reading export files from a real OpenSSH SFTP server
and posting to the Oracle Fusion stand-in over HTTP.

Under ``on_dead_letters: fail`` a run that dead-letters an invoice and rejects a file fails on its
first try (no retry: a retry would not change the data) with a message naming the counts and the
command to list them, after everything good was committed: the good invoices are in Fusion, the
good file archived, the cursor moved. The task log ends with the table of what moved and what was
rejected. A threshold the run stays within keeps it green. The tests of this module build on each
other.
"""

from __future__ import annotations

import json
import time
from collections.abc import Iterator
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import pytest
from ml_connector_sandbox.runner import SandboxRunner, airflow_conn_env_var
from ml_connector_sandbox.stampli import OFFICE, Invoice, Line, render

from ml_connector_provider.engine.types import StreamKey
from ml_connector_provider.ledger import Ledger
from tests.harness.airflow_dags import (
    airflow_dag_env,
    open_ledger,
    rewrite_config,
    run_dag,
    stream_summary,
)
from tests.harness.sshd import SshdServer, sshd_server

__all__ = ["sshd_server"]

pytestmark = pytest.mark.airflow_db

DAG_ID = "mlc__acme__stampli_fusion"
KEY = StreamKey("acme", "stampli_fusion", "invoices")
CONFIG = ""  # built from CONFIG_TEMPLATE once the SFTP server's directory is known
CONFIG_TEMPLATE = """\
version: 1
defaults:
  retries: 3
  retry_delay: 300
  sync: {{lag: 0, batch_size: 3}}
  on_dead_letters: succeed
tenants:
  - id: acme
    name: ACME Corp
    on_dead_letters: {tenant_policy}
    integrations:
      stampli_fusion:
        schedule: null
        connections: {{fusion: acme_fusion, stampli: acme_stampli}}
        streams: {{reference_data: false}}
        settings:
          business_unit: US1 Business Unit
          sftp:
            outbound_dir: {root}/outbound
            archive_dir: {root}/archive
            error_dir: {root}/error
            min_file_age: 30
"""
TODAY = datetime.now(UTC).date()
OLD = time.time() - 600


def invoice(number: str, supplier: str = "1001") -> Invoice:
    return Invoice(
        f"STP-{number}",
        number,
        supplier,
        "Crestline Office Supply Co.",
        1,
        "10.00",
        "Misc",
        (Line("Sundries", "10.00", OFFICE, "110"),),
    )


@pytest.fixture(scope="module")
def root(sshd_server: SshdServer) -> Path:
    path = sshd_server.data_dir / "acme_rejections"
    for name in ("outbound", "archive", "error"):
        sshd_server.mkdir(str(path / name))
    return path


@pytest.fixture(scope="module")
def ledger(
    tmp_path_factory: pytest.TempPathFactory, sandbox: SandboxRunner, sshd_server: SshdServer, root: Path
) -> Iterator[Ledger]:
    base = tmp_path_factory.mktemp("stampli_rejections")
    config = CONFIG_TEMPLATE.format(root=root, tenant_policy="fail")
    sftp_env = {airflow_conn_env_var("acme_stampli"): json.dumps(sshd_server.connection())}
    with (
        airflow_dag_env(base, sandbox, config, {"fusion": "acme_fusion"}, sftp_env) as path,
        open_ledger(path) as led,
    ):
        yield led


def put(sshd: SshdServer, root: Path, name: str, content: bytes) -> None:
    sshd.put_file(str(root / "outbound" / name), content, mtime=OLD)


def names(directory: Path) -> list[str]:
    return sorted(p.name for p in directory.iterdir())


def ap_invoices(sandbox: SandboxRunner, number: str) -> list[dict[str, Any]]:
    fusion: Any = sandbox.system("fusion")
    return [i for i in fusion.ap_invoices() if i["InvoiceNumber"] == number]


def task_state(run_id: str) -> tuple[str, int, int]:
    from airflow.models import DagRun
    from airflow.utils.session import create_session

    with create_session() as session:
        run = session.query(DagRun).filter(DagRun.dag_id == DAG_ID, DagRun.run_id == run_id).one()
        [ti] = [t for t in run.get_task_instances(session=session) if t.task_id == "invoices"]
        return str(ti.state), int(ti.try_number), int(ti.max_tries)


def test_fail_policy_fails_the_run_after_everything_good_is_committed(
    sandbox: SandboxRunner,
    ledger: Ledger,
    sshd_server: SshdServer,
    root: Path,
    capfd: pytest.CaptureFixture[str],
) -> None:
    put(
        sshd_server,
        root,
        "STAMPLI_good.csv",
        render([invoice("G-1"), invoice("G-2"), invoice("B-1", "9999")], TODAY),
    )
    no_currency = tuple(
        h for h in render([invoice("C-1")], TODAY).decode().splitlines()[0].split(",") if h != "Currency"
    )
    put(sshd_server, root, "STAMPLI_bad.csv", render([invoice("C-1")], TODAY, header=no_currency))
    capfd.readouterr()

    run_id = run_dag(DAG_ID, expect="failed")

    # Failed on the first try, no retry, with a message naming the counts and the command.
    assert task_state(run_id) == ("failed", 1, 3)
    log = "".join(capfd.readouterr())
    assert (
        "AirflowFailException: acme/stampli_fusion/invoices: 1 record(s) dead-lettered and 1 file(s) "
        "rejected in this run (on_dead_letters is 'fail'). Everything else was committed: 2 created"
    ) in log
    assert (
        "ml-connector dead-letters list --tenant acme --integration stampli_fusion --stream invoices" in log
    )
    # The end-of-task table, before the failure.
    assert "acme/stampli_fusion: what moved and what was rejected" in log
    header = "stream    read  created  updated  skipped  unchanged  dead-lettered  files rejected"
    assert header in log
    assert "invoices     3        2        0        0          0              1               1" in log
    assert "file:STAMPLI_bad.csv" in log
    assert "9999/B-1" in log
    assert log.index(header) < log.index("AirflowFailException")

    # Everything good was committed before: posted, archived, cursor moved, run recorded.
    assert len(ap_invoices(sandbox, "G-1")) == len(ap_invoices(sandbox, "G-2")) == 1
    assert ap_invoices(sandbox, "C-1") == []
    assert names(root / "archive") == ["STAMPLI_good.csv"]
    assert names(root / "error") == ["STAMPLI_bad.csv", "STAMPLI_bad.csv.reason.txt"]
    assert names(root / "outbound") == []
    assert ledger.get_cursor(KEY) is not None
    counts = stream_summary(ledger, "acme", run_id, "invoices")
    assert (counts["created"], counts["dead_lettered"], counts["files_rejected"]) == (2, 1, 1)
    assert {d.source_id for d in ledger.list_dead_letters(tenant="acme")} == {
        "9999/B-1",
        "file:STAMPLI_bad.csv",
    }


def test_a_threshold_the_run_stays_within_keeps_it_green_and_one_it_exceeds_fails_it(
    sandbox: SandboxRunner,
    ledger: Ledger,
    sshd_server: SshdServer,
    root: Path,
    capfd: pytest.CaptureFixture[str],
) -> None:
    rewrite_config(CONFIG_TEMPLATE.format(root=root, tenant_policy="{max_count: 1}"))
    put(sshd_server, root, "STAMPLI_day2.csv", render([invoice("G-3"), invoice("B-2", "9999")], TODAY))
    run_id = run_dag(DAG_ID)  # one rejection, max_count 1: green
    assert task_state(run_id)[0] == "success"
    assert len(ap_invoices(sandbox, "G-3")) == 1

    rewrite_config(CONFIG_TEMPLATE.format(root=root, tenant_policy="{max_count: 5, max_ratio: 0.5}"))
    put(
        sshd_server,
        root,
        "STAMPLI_day3.csv",
        render([invoice("G-4"), invoice("B-3", "9999"), invoice("B-4", "9999")], TODAY),
    )
    capfd.readouterr()
    run_id = run_dag(DAG_ID, expect="failed")  # two of three rejected: above half
    assert task_state(run_id) == ("failed", 1, 3)
    log = "".join(capfd.readouterr())
    assert "on_dead_letters threshold exceeded: 66.7% of 3, more than max_ratio 0.5" in log
    assert len(ap_invoices(sandbox, "G-4")) == 1
