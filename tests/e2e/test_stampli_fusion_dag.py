"""The ``stampli_fusion`` DAG, run with ``dag.test()`` in a real Airflow metadata DB, reading export
files from a real OpenSSH SFTP server and posting to the Oracle Fusion stand-in over HTTP.

Everything between the files and Fusion is the real thing: the DAG built from a tenant YAML,
Airflow's task runner, the operator, the engine, the SFTP provider's hook (host key pinned), the
Fusion hook and the ledger. The tests control only the files on the server and the stand-in.
The tests of this module run in order and build on each other, as days of an AP team would.
"""

from __future__ import annotations

import csv
import hashlib
import io
import json
import time
from collections.abc import Iterator
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import pytest
from ml_connector_sandbox.faults import FaultRule
from ml_connector_sandbox.runner import SandboxRunner, airflow_conn_env_var
from ml_connector_sandbox.stampli import (
    FIRST_BATCH,
    LATER_BATCH,
    NEW_VENDOR_ID,
    OFFICE,
    SECOND_BATCH,
    TRAVEL,
    Invoice,
    Line,
    new_supplier,
    render,
)
from ml_connector_sandbox.systems.fusion.gl import DISABLED_EXPENSE_ACCOUNT

from ml_connector_provider.engine.types import StreamKey
from ml_connector_provider.ledger import Ledger
from tests.harness.airflow_dags import airflow_dag_env, open_ledger, stream_summary
from tests.harness.airflow_dags import run_dag as harness_run_dag
from tests.harness.sshd import SshdServer, sshd_server

__all__ = ["sshd_server"]

pytestmark = pytest.mark.airflow_db

DAG_ID = "mlc__acme__stampli_fusion"
KEY = StreamKey("acme", "stampli_fusion", "invoices")
CONFIG = ""  # built from CONFIG_TEMPLATE once the SFTP server's directory is known
CONFIG_TEMPLATE = """\
version: 1
defaults:
  retries: 0
  sync: {{lag: 0, batch_size: 3}}
tenants:
  - id: acme
    name: ACME Corp
    integrations:
      stampli_fusion:
        schedule: null
        connections: {{fusion: acme_fusion, stampli: acme_stampli}}
        settings:
          business_unit: US1 Business Unit
          sftp:
            outbound_dir: {root}/outbound
            archive_dir: {root}/archive
            error_dir: {root}/error
            min_file_age: 30
          reference_data:
            inbound_dir: {root}/inbound
"""
TODAY = datetime.now(UTC).date()
OLD = time.time() - 600  # an mtime old enough for a complete file

# The demo's export batches (see ml_connector_sandbox.stampli) tell most of the story.
MULTI_LINE, NEWLINE_TEXT, _ = FIRST_BATCH  # quoted comma and quotes; a line break in a description
SECOND_SITE, KEYED_BY_HAND, UNKNOWN_VENDOR, BAD_DATE = SECOND_BATCH
(LATE_FILE,) = LATER_BATCH
BAD_SUM = Invoice(
    "STP-7",
    "TT-9902",
    "1004",
    "Trailhead Travel Management",
    4,
    "3180.70",
    "Customer visits",
    (Line("Flights", "1920.00", TRAVEL, "110"), Line("Hotel", "1260.00", TRAVEL, "120")),
)
DISABLED_ACCOUNT = Invoice(
    "STP-8",
    "CR-30001",
    "1001",
    "Crestline Office Supply Co.",
    1,
    "99.00",
    "Equipment rental",
    (Line("Projector rental", "99.00", DISABLED_EXPENSE_ACCOUNT),),
)


def invoice(number: str, *, supplier: str = "1001", days: int = 1, amount: str = "10.00") -> Invoice:
    return Invoice(
        f"STP-{number}",
        number,
        supplier,
        "Crestline Office Supply Co.",
        days,
        amount,
        "Misc",
        (Line("Sundries", amount, OFFICE, "110"),),
    )


@pytest.fixture(scope="module")
def root(sshd_server: SshdServer) -> Path:
    """The tenant's directory tree on the SFTP server (local path = remote path)."""
    path = sshd_server.data_dir / "acme"
    for name in ("outbound", "archive", "error", "inbound"):
        sshd_server.mkdir(str(path / name))
    return path


@pytest.fixture(scope="module")
def ledger(
    tmp_path_factory: pytest.TempPathFactory, sandbox: SandboxRunner, sshd_server: SshdServer, root: Path
) -> Iterator[Ledger]:
    base = tmp_path_factory.mktemp("stampli_fusion")
    config = CONFIG_TEMPLATE.format(root=root)
    sftp_env = {airflow_conn_env_var("acme_stampli"): json.dumps(sshd_server.connection())}
    with (
        airflow_dag_env(base, sandbox, config, {"fusion": "acme_fusion"}, sftp_env) as path,
        open_ledger(path) as led,
    ):
        yield led


def run_dag(conf: dict[str, Any] | None = None, **kwargs: Any) -> str:
    return harness_run_dag(DAG_ID, conf, **kwargs)


def put(sshd: SshdServer, root: Path, name: str, content: bytes, *, mtime: float = OLD) -> None:
    sshd.put_file(str(root / "outbound" / name), content, mtime=mtime)


def names(directory: Path) -> list[str]:
    return sorted(p.name for p in directory.iterdir())


def ap_invoices(sandbox: SandboxRunner, number: str, supplier: str = "1001") -> list[dict[str, Any]]:
    fusion: Any = sandbox.system("fusion")
    return [
        i
        for i in fusion.ap_invoices()
        if i["InvoiceNumber"].casefold() == number.casefold() and i["SupplierNumber"] == supplier
    ]


def open_dead_letters(ledger: Ledger, kind: str = "record") -> dict[str, str]:
    rows = ledger.list_dead_letters(tenant="acme", integration="stampli_fusion", stream="invoices", kind=kind)
    return {row.source_id: row.reason for row in rows}


def test_first_run_posts_valid_invoices_dead_letters_bad_ones_and_archives(
    sandbox: SandboxRunner, ledger: Ledger, sshd_server: SshdServer, root: Path
) -> None:
    put(
        sshd_server,
        root,
        "STAMPLI_acme_A.csv",
        render([MULTI_LINE, NEWLINE_TEXT], TODAY, bom=True, crlf=True),
    )
    put(
        sshd_server,
        root,
        "STAMPLI_acme_B.csv",
        render(
            [SECOND_SITE, KEYED_BY_HAND, UNKNOWN_VENDOR, BAD_DATE, BAD_SUM, DISABLED_ACCOUNT],
            TODAY,
            crlf=False,
        ),
    )
    no_currency = tuple(
        h for h in render([LATE_FILE], TODAY).decode().splitlines()[0].split(",") if h != "Currency"
    )
    put(sshd_server, root, "STAMPLI_acme_C.csv", render([LATE_FILE], TODAY, header=no_currency))
    half = render([LATE_FILE], TODAY)
    put(sshd_server, root, "STAMPLI_acme_D.csv", half[: len(half) // 2], mtime=time.time())

    run_id = run_dag()
    counts = stream_summary(ledger, "acme", run_id, "invoices")
    assert (counts["read"], counts["created"], counts["skipped"], counts["dead_lettered"]) == (8, 3, 1, 4)

    # Multi-line invoice: one line and one distribution per export row, cost centre put into segment 2.
    [posted] = ap_invoices(sandbox, "77120")
    assert posted["InvoiceAmount"] == 1462.35
    assert posted["BusinessUnit"] == "US1 Business Unit"
    assert posted["SupplierSite"] == "MAIN-PAY"
    lines = sorted(posted["invoiceLines"], key=lambda line: line["LineNumber"])
    assert [(line["LineAmount"], line["DistributionCombination"]) for line in lines] == [
        (612.4, "101-110-61100-000-000"),
        (849.95, "101-120-61100-000-000"),
    ]
    assert lines[0]["Description"] == 'Copy paper, "premium" white, 20 cases'
    assert [[d["DistributionAmount"] for d in line["invoiceDistributions"]] for line in lines] == [
        [612.4],
        [849.95],
    ]
    [licences] = ap_invoices(sandbox, "NC-4471", "1003")
    assert licences["invoiceLines"][0]["Description"] == "Collaboration suite, 40 seats\nrenewal Dec–Nov"
    [freight] = ap_invoices(sandbox, "KF-559001", "1005")
    assert freight["SupplierSite"] == "DALLAS-PAY"

    # Entered by hand before: linked, not posted again.
    [by_hand] = ap_invoices(sandbox, "CR-20931")
    assert ledger.get_links(KEY, ["1001/CR-20931"])["1001/CR-20931"].target_id == str(by_hand["InvoiceId"])

    # Every bad invoice is dead-lettered naming the file, row and column; the rest went through.
    dead = open_dead_letters(ledger)
    assert set(dead) == {"2040/SFS-1187", "1002/HV-2026-031", "1004/TT-9902", "1001/CR-30001"}
    assert dead["2040/SFS-1187"].startswith("vendor not set up in Fusion")
    assert "STAMPLI_acme_B.csv row 7, column 'Invoice Date'" in dead["1002/HV-2026-031"]
    assert "STAMPLI_acme_B.csv" in dead["1004/TT-9902"]
    assert "3180.70" in dead["1004/TT-9902"]
    assert DISABLED_EXPENSE_ACCOUNT in dead["1001/CR-30001"]
    assert "disabled" in dead["1001/CR-30001"]
    assert "column 'GL Account'" in dead["1001/CR-30001"]

    # Files: read ones archived, the unreadable one in error/ with its reason, the partial one untouched.
    assert names(root / "outbound") == ["STAMPLI_acme_D.csv"]
    assert names(root / "archive") == [
        "STAMPLI_acme_A.csv",
        "STAMPLI_acme_B.csv",
        "STAMPLI_acme_B.csv.problems.txt",
    ]
    assert names(root / "error") == ["STAMPLI_acme_C.csv", "STAMPLI_acme_C.csv.reason.txt"]
    reason = (root / "error" / "STAMPLI_acme_C.csv.reason.txt").read_text()
    assert "STAMPLI_acme_C.csv row 1" in reason
    assert "'Currency'" in reason
    # The unreadable file is a dead letter of its own, with the reason file's text.
    assert open_dead_letters(ledger, kind="file") == {"file:STAMPLI_acme_C.csv": reason}
    assert counts["files_rejected"] == 1
    assert "HV-2026-031" in (root / "archive" / "STAMPLI_acme_B.csv.problems.txt").read_text()
    outcomes = {row.path.rsplit("/", 1)[-1]: row.outcome for row in _files(ledger)}
    assert outcomes == {
        "STAMPLI_acme_A.csv": "processed",
        "STAMPLI_acme_B.csv": "processed",
        "STAMPLI_acme_C.csv": "failed",
    }

    # Reference data for Stampli's look-ups.
    vendors = (root / "inbound" / "vendors.csv").read_text()
    assert vendors.startswith("Vendor ID,Vendor,Vendor Site,Status")
    assert "1005,Keystone Freight Lines Inc.,DALLAS-PAY,Active" in vendors
    assert "101-110-61100-000-000" in (root / "inbound" / "gl_accounts.csv").read_text()
    assert (root / "inbound" / "cost_centers.csv").read_text().split() == [
        "Cost",
        "Center",
        "000",
        "110",
        "120",
        "130",
    ]


def _files(ledger: Ledger) -> list[Any]:
    from ml_connector_provider.ledger.schema import files

    with ledger.engine.connect() as conn:
        return list(conn.execute(files.select().where(files.c.tenant == "acme")))


def test_a_file_still_being_written_is_read_once_complete(
    sandbox: SandboxRunner, ledger: Ledger, sshd_server: SshdServer, root: Path
) -> None:
    # Still growing: the rest arrives, with a fresh modification time.
    put(sshd_server, root, "STAMPLI_acme_D.csv", render([LATE_FILE], TODAY), mtime=time.time())
    counts = stream_summary(ledger, "acme", run_dag(), "invoices")
    assert counts["read"] == 0
    assert ap_invoices(sandbox, "77188") == []
    assert "STAMPLI_acme_D.csv" in names(root / "outbound")

    sshd_server.set_mtime(str(root / "outbound" / "STAMPLI_acme_D.csv"), OLD)
    counts = stream_summary(ledger, "acme", run_dag(), "invoices")
    assert (counts["read"], counts["created"]) == (1, 1)
    assert len(ap_invoices(sandbox, "77188")) == 1
    assert names(root / "outbound") == []


def test_reuploads_and_cleared_tasks_never_post_twice(
    sandbox: SandboxRunner, ledger: Ledger, sshd_server: SshdServer, root: Path
) -> None:
    fusion: Any = sandbox.system("fusion")
    before = len(fusion.ap_invoices())
    # The same content under another name, and a re-export holding an invoice already posted.
    first = (root / "archive" / "STAMPLI_acme_A.csv").read_bytes()
    put(sshd_server, root, "STAMPLI_acme_A_resent.csv", first)
    put(sshd_server, root, "STAMPLI_acme_E.csv", render([MULTI_LINE, invoice("E-1")], TODAY))
    logical_date = datetime.now(UTC)
    run_id = run_dag(logical_date=logical_date)
    counts = stream_summary(ledger, "acme", run_id, "invoices")
    assert (counts["created"], counts["unchanged"]) == (1, 1)  # E-1 new; 77120 already posted
    assert len(fusion.ap_invoices()) == before + 1
    assert "STAMPLI_acme_A_resent.csv" in names(root / "archive")

    # Clearing the run's tasks runs them again under the same run id: nothing new is posted.
    again = run_dag(logical_date=logical_date)
    assert again == run_id
    assert len(fusion.ap_invoices()) == before + 1
    assert len(ap_invoices(sandbox, "77120")) == 1

    # A create whose answer is lost: Fusion has the invoice, the run does not know it.
    fusion.faults.add(FaultRule.disconnect(path="/invoices$", method="POST", process=True))
    put(sshd_server, root, "STAMPLI_acme_F.csv", render([invoice("F-1")], TODAY))
    counts = stream_summary(ledger, "acme", run_dag(), "invoices")
    assert counts["dead_lettered"] == 1
    assert "no answer from Fusion" in open_dead_letters(ledger)["1001/F-1"]
    assert len(ap_invoices(sandbox, "F-1")) == 1
    # Replayed by id: looked up before any new create, found, linked.
    counts = stream_summary(ledger, "acme", run_dag({"record_ids": ["1001/F-1"]}), "invoices")
    assert (counts["skipped"], counts["created"]) == (1, 0)
    assert len(ap_invoices(sandbox, "F-1")) == 1
    assert "1001/F-1" not in open_dead_letters(ledger)


def test_unknown_vendor_posts_once_the_supplier_exists(
    sandbox: SandboxRunner, ledger: Ledger, sshd_server: SshdServer, root: Path
) -> None:
    fusion: Any = sandbox.system("fusion")
    # Not set up yet: a later run retries and dead-letters it again.
    ledger.retry_dead_letters_now(tenant="acme", integration="stampli_fusion")
    counts = stream_summary(ledger, "acme", run_dag(), "invoices")
    assert counts["dead_letters_recovered"] == 0
    assert "2040/SFS-1187" in open_dead_letters(ledger)

    fusion.upsert_supplier(new_supplier())
    ledger.retry_dead_letters_now(tenant="acme", integration="stampli_fusion")
    counts = stream_summary(ledger, "acme", run_dag(), "invoices")
    assert counts["dead_letters_recovered"] == 1
    [posted] = ap_invoices(sandbox, "SFS-1187", NEW_VENDOR_ID)
    assert posted["InvoiceAmount"] == 1850
    assert "2040/SFS-1187" not in open_dead_letters(ledger)
    assert set(open_dead_letters(ledger)) == {"1002/HV-2026-031", "1004/TT-9902", "1001/CR-30001"}


def test_reference_data_never_hands_stampli_users_a_formula(
    sandbox: SandboxRunner, ledger: Ledger, sshd_server: SshdServer, root: Path
) -> None:
    fusion: Any = sandbox.system("fusion")
    # A supplier name from self-registration that a spreadsheet would run as a formula.
    name = '=HYPERLINK("http://evil.example","Click")'
    fusion.upsert_supplier({**new_supplier(), "SupplierNumber": "2041", "Supplier": name})
    run_dag()
    rows = list(csv.reader(io.StringIO((root / "inbound" / "vendors.csv").read_text())))
    [row] = [r for r in rows if r[0] == "2041"]
    assert row[1] == "'" + name
    assert not [cell for r in rows for cell in r if cell.startswith(("=", "+", "@"))]


def test_fusion_throttling_slows_the_run_down_and_a_503_after_the_create_posts_once(
    sandbox: SandboxRunner, ledger: Ledger, sshd_server: SshdServer, root: Path
) -> None:
    fusion: Any = sandbox.system("fusion")
    fusion.faults.add(FaultRule.rate_limit(path="/invoices$", method="POST", times=2))
    put(sshd_server, root, "STAMPLI_acme_G.csv", render([invoice("G-1"), invoice("G-2")], TODAY))
    counts = stream_summary(ledger, "acme", run_dag(), "invoices")
    assert (counts["created"], counts["dead_lettered"]) == (2, 0)

    # The pod creates the invoice, then the edge answers 503: the create is not repeated (a 503 is
    # not known to mean "not processed"), the invoice is dead-lettered as unavailable, and its
    # retry finds it in Fusion instead of creating it again.
    fusion.faults.add(FaultRule.error(503, path="/invoices$", method="POST", times=1, process=True))
    put(sshd_server, root, "STAMPLI_acme_H.csv", render([invoice("H-1")], TODAY))
    counts = stream_summary(ledger, "acme", run_dag(), "invoices")
    assert counts["dead_lettered"] == 1
    assert "unavailable" in open_dead_letters(ledger)["1001/H-1"]
    assert len(ap_invoices(sandbox, "H-1")) == 1
    assert all(rule["applied"] for rule in fusion.faults.status())

    ledger.retry_dead_letters_now(tenant="acme", integration="stampli_fusion")
    counts = stream_summary(ledger, "acme", run_dag(), "invoices")
    assert counts["dead_letters_recovered"] == 1
    assert len(ap_invoices(sandbox, "H-1")) == 1
    assert len(ap_invoices(sandbox, "G-1")) == len(ap_invoices(sandbox, "G-2")) == 1


def with_line_number(content: bytes, number: str) -> bytes:
    """``content`` with the first data row's Line Number replaced by ``number``."""
    rows = list(csv.reader(io.StringIO(content.decode("utf-8"), newline="")))
    rows[1][rows[0].index("Line Number")] = number
    buffer = io.StringIO()
    csv.writer(buffer, lineterminator="\r\n").writerows(rows)
    return buffer.getvalue().encode("utf-8")


def test_a_poison_file_is_quarantined_and_the_rest_of_the_listing_posts(
    sandbox: SandboxRunner, ledger: Ledger, sshd_server: SshdServer, root: Path
) -> None:
    # 4,301 digits (leading zeros): int() refuses the string with a bare ValueError.
    poison = with_line_number(render([invoice("P-1"), invoice("P-2")], TODAY), "0" * 4300 + "1")
    # Listed before the good file (oldest first), as in the field: it used to stop the run there.
    put(sshd_server, root, "STAMPLI_acme_P.csv", poison, mtime=OLD - 60)
    put(sshd_server, root, "STAMPLI_acme_Q.csv", render([invoice("Q-1")], TODAY))
    # An earlier run crashed on the file after recording it: it is still "processing" in the ledger.
    ledger.begin_file(
        "acme",
        "stampli_fusion",
        path=str(root / "outbound" / "STAMPLI_acme_P.csv"),
        size=len(poison),
        checksum=hashlib.sha256(poison).hexdigest(),
    )

    counts = stream_summary(ledger, "acme", run_dag(), "invoices")
    assert (counts["read"], counts["created"], counts["dead_lettered"]) == (1, 1, 0)
    assert len(ap_invoices(sandbox, "Q-1")) == 1
    assert ap_invoices(sandbox, "P-1") == ap_invoices(sandbox, "P-2") == []
    assert names(root / "outbound") == []
    assert "STAMPLI_acme_Q.csv" in names(root / "archive")
    assert {"STAMPLI_acme_P.csv", "STAMPLI_acme_P.csv.reason.txt"} <= set(names(root / "error"))
    reason = (root / "error" / "STAMPLI_acme_P.csv.reason.txt").read_text()
    assert reason.startswith("STAMPLI_acme_P.csv row 2, column 'Line Number': '000")
    assert "it has 4301 characters" in reason
    assert len(reason) < 500  # the cell is shown cut short
    outcomes = {row.path.rsplit("/", 1)[-1]: row.outcome for row in _files(ledger)}
    assert (outcomes["STAMPLI_acme_P.csv"], outcomes["STAMPLI_acme_Q.csv"]) == ("failed", "processed")

    # The next run has nothing left to trip on.
    counts = stream_summary(ledger, "acme", run_dag(), "invoices")
    assert (counts["read"], counts["dead_lettered"]) == (0, 0)
    assert len(ap_invoices(sandbox, "Q-1")) == 1
