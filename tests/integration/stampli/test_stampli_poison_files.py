"""A file that cannot be parsed, for whatever reason, is quarantined alone: the invoices stream,
reading from OpenSSH's sshd and posting to the Fusion stand-in over HTTP, moves it to the error
directory with its reason and still posts the other files of the same listing in the same run."""

from __future__ import annotations

import csv
import hashlib
import io
from typing import Any

import pytest
from ml_connector_sandbox.stampli import OFFICE, Invoice, Line, render

from ml_connector_provider.hooks.oracle_fusion import OracleFusionHook
from ml_connector_provider.integrations.stampli_fusion import csv_export
from ml_connector_provider.integrations.stampli_fusion.settings import StampliFusionSettings
from ml_connector_provider.ledger import Ledger
from tests.harness.sshd import SshdServer
from tests.integration.stampli.pipeline import OLD, TODAY, file_outcomes, names, posted, put, run

POISON_LINE_NUMBER = "0" * 4300 + "1"  # 4,301 digits: int() refuses it with a bare ValueError


def invoice(number: str) -> Invoice:
    return Invoice(
        f"STP-{number}",
        number,
        "1001",
        "Crestline Office Supply Co.",
        1,
        "10.00",
        "Misc",
        (Line("Sundries", "10.00", OFFICE, "110"),),
    )


def with_line_number(content: bytes, number: str) -> bytes:
    """``content`` with the first data row's Line Number replaced by ``number``."""
    rows = list(csv.reader(io.StringIO(content.decode("utf-8"), newline="")))
    rows[1][rows[0].index("Line Number")] = number
    buffer = io.StringIO()
    csv.writer(buffer, lineterminator="\r\n").writerows(rows)
    return buffer.getvalue().encode("utf-8")


def _failing_parse(monkeypatch: pytest.MonkeyPatch, error: Exception, file_name: str) -> None:
    """Make the parse of ``file_name`` raise ``error`` (a parser bug the file trips)."""
    original = csv_export.parse_export
    failing = file_name

    def parse(data: Any, *, file_name: str, template: Any) -> Any:
        if file_name == failing:
            raise error
        return original(data, file_name=file_name, template=template)

    monkeypatch.setattr(csv_export, "parse_export", parse)


@pytest.mark.parametrize("poison", ["line number of 4301 digits", "parser bug"])
def test_a_poison_file_is_quarantined_and_the_rest_of_the_listing_posts(
    sshd: SshdServer,
    sftp_conn_id: str,
    fusion: OracleFusionHook,
    settings: StampliFusionSettings,
    ledger: Ledger,
    monkeypatch: pytest.MonkeyPatch,
    poison: str,
) -> None:
    content = render([invoice("P-1")], TODAY)
    if poison == "parser bug":
        _failing_parse(monkeypatch, KeyError("Line Amount"), "A_poison.csv")
    else:
        content = with_line_number(content, POISON_LINE_NUMBER)
    # Oldest first: the poison file is read before the good one.
    put(sshd, "A_poison.csv", content, mtime=OLD - 60)
    put(sshd, "B_good.csv", render([invoice("G-1")], TODAY))

    summary = run(sftp_conn_id, fusion, settings, ledger, "run-1")

    assert (summary.read, summary.created, summary.dead_lettered) == (1, 1, 0)
    assert len(posted(fusion, "G-1")) == 1
    assert posted(fusion, "P-1") == []
    assert names(sshd, "outbound") == []
    assert names(sshd, "archive") == ["B_good.csv"]
    assert names(sshd, "error") == ["A_poison.csv", "A_poison.csv.reason.txt"]
    reason = sshd.local_path(sshd.remote_path("error/A_poison.csv.reason.txt")).read_text()
    if poison == "parser bug":
        assert reason == (
            "A_poison.csv: the file could not be read (KeyError: 'Line Amount'); an unexpected error, "
            "whose traceback is in the task log\n"
        )
    else:
        assert reason.startswith("A_poison.csv row 2, column 'Line Number': '000")
        assert "it has 4301 characters" in reason
    assert "Traceback" not in reason
    assert file_outcomes(ledger) == {"A_poison.csv": "failed", "B_good.csv": "processed"}

    # The next run finds nothing left to trip on.
    again = run(sftp_conn_id, fusion, settings, ledger, "run-2")
    assert (again.read, again.created, again.dead_lettered) == (0, 0, 0)
    assert len(posted(fusion, "G-1")) == 1


def test_a_file_left_processing_by_a_crashed_run_is_quarantined_on_the_next(
    sshd: SshdServer,
    sftp_conn_id: str,
    fusion: OracleFusionHook,
    settings: StampliFusionSettings,
    ledger: Ledger,
) -> None:
    content = with_line_number(render([invoice("P-2")], TODAY), POISON_LINE_NUMBER)
    put(sshd, "A_poison.csv", content)
    ledger.begin_file(
        "acme",
        "stampli_fusion",
        path=sshd.remote_path("outbound/A_poison.csv"),
        size=len(content),
        checksum=hashlib.sha256(content).hexdigest(),
    )
    assert file_outcomes(ledger) == {"A_poison.csv": "processing"}

    run(sftp_conn_id, fusion, settings, ledger, "run-1")

    assert names(sshd, "error") == ["A_poison.csv", "A_poison.csv.reason.txt"]
    assert file_outcomes(ledger) == {"A_poison.csv": "failed"}


def test_a_failure_of_the_worker_itself_fails_the_run_and_leaves_the_files(
    sshd: SshdServer,
    sftp_conn_id: str,
    fusion: OracleFusionHook,
    settings: StampliFusionSettings,
    ledger: Ledger,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    # Not the file's fault (the worker's disk): the task fails and Airflow retries it later.
    _failing_parse(monkeypatch, OSError(28, "No space left on device"), "A_fine.csv")
    put(sshd, "A_fine.csv", render([invoice("F-1")], TODAY), mtime=OLD - 60)
    put(sshd, "B_good.csv", render([invoice("G-2")], TODAY))

    with pytest.raises(OSError, match="No space left"):
        run(sftp_conn_id, fusion, settings, ledger, "run-1")

    assert names(sshd, "outbound") == ["A_fine.csv", "B_good.csv"]
    assert names(sshd, "error") == []
