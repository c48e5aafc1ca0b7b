"""The reason and problems files the invoices stream writes next to moved export files are safe to
open: cell text and file names quoted there cannot carry control or text-direction characters,
and no line starts as a spreadsheet formula. Formula-leading cells are flagged, not refused, by
default: the invoice is posted. Over OpenSSH's sshd and the Fusion stand-in."""

from __future__ import annotations

import dataclasses
import logging

import pytest
from ml_connector_sandbox.stampli import OFFICE, Invoice, Line, render

from ml_connector_provider.formats.spreadsheet import FORMULA_LEADS
from ml_connector_provider.formats.text import escape_invisible
from ml_connector_provider.hooks.oracle_fusion import OracleFusionHook
from ml_connector_provider.integrations.stampli_fusion.settings import StampliFusionSettings
from ml_connector_provider.ledger import Ledger
from tests.harness.sshd import SshdServer
from tests.integration.stampli.pipeline import KEY, TODAY, names, posted, put, run

FORMULA = '=HYPERLINK("http://evil.example","Open invoice")'


def invoice(number: str, *, description: str = "Misc", currency: str = "USD", lines: int = 1) -> Invoice:
    return Invoice(
        f"STP-{number}",
        number,
        "1001",
        "Crestline Office Supply Co.",
        1,
        f"{10 * lines}.00",
        description,
        tuple(Line(f"Sundries {n}", "10.00", OFFICE, "110") for n in range(lines)),
        currency=currency,
    )


def _assert_safe(text: str) -> None:
    assert text.endswith("\n")
    for line in text[:-1].split("\n"):
        assert escape_invisible(line) == line, line
        assert not line.startswith(FORMULA_LEADS), line


def test_problems_file_quotes_cells_safely_and_flagged_invoices_post(
    sshd: SshdServer,
    sftp_conn_id: str,
    fusion: OracleFusionHook,
    settings: StampliFusionSettings,
    ledger: Ledger,
    caplog: pytest.LogCaptureFixture,
) -> None:
    content = render(
        [
            invoice("=1+1", currency="XXQ"),  # dead letter: the label starts a formula
            invoice("T-\x1b[2J\u202e9"),  # dead letter: escape sequence and override in the key
            invoice("T-2", description="Office\u202esupplies", lines=2),  # an override: dead letter
            invoice("T-3", description=FORMULA),  # flagged, posted
        ],
        TODAY,
    )
    put(sshd, "A_text.csv", content)

    with caplog.at_level(logging.WARNING):
        summary = run(sftp_conn_id, fusion, settings, ledger)

    assert (summary.read, summary.created, summary.dead_lettered) == (4, 1, 3)
    [created] = posted(fusion, "T-3")
    assert created["Description"].startswith(FORMULA)  # passed on as text, as flagged
    assert any("A_text.csv row 6, column 'Description'" in r.getMessage() for r in caplog.records)

    assert names(sshd, "archive") == ["A_text.csv", "A_text.csv.problems.txt"]
    problems = sshd.local_path(sshd.remote_path("archive/A_text.csv.problems.txt")).read_text("utf-8")
    _assert_safe(problems)
    lines = problems.splitlines()
    # three dead-lettered invoices, and the one posted with a flagged cell
    assert len(lines) == 4
    assert lines[0].startswith("'=1+1 (Vendor ID 1001): A_text.csv row 2, column 'Currency': 'XXQ' is not")
    assert lines[1].startswith(
        "T-\\u001B[2J\\u202E9 (Vendor ID 1001): A_text.csv row 3, column 'Invoice Number'"
    )
    assert "U+202E (RIGHT-TO-LEFT OVERRIDE)" in lines[2]
    assert lines[3].startswith(
        "T-3 (Vendor ID 1001): posted, with warnings: A_text.csv row 6, column 'Description'"
    )


def test_reason_file_of_a_quarantined_file_is_safe(
    sshd: SshdServer,
    sftp_conn_id: str,
    fusion: OracleFusionHook,
    settings: StampliFusionSettings,
    ledger: Ledger,
) -> None:
    header_only = render([], TODAY)
    put(sshd, "@SUM(A1).csv", header_only)

    run(sftp_conn_id, fusion, settings, ledger)

    assert names(sshd, "error") == ["@SUM(A1).csv", "@SUM(A1).csv.reason.txt"]
    reason = sshd.local_path(sshd.remote_path("error/@SUM(A1).csv.reason.txt")).read_text("utf-8")
    _assert_safe(reason)
    assert reason == "'@SUM(A1).csv: the file has a header row but no invoice rows\n"


def test_a_value_no_fusion_filter_can_hold_dead_letters_its_invoice_only(
    sshd: SshdServer,
    sftp_conn_id: str,
    fusion: OracleFusionHook,
    settings: StampliFusionSettings,
    ledger: Ledger,
) -> None:
    """A vendor id or invoice number holding a line break (a quoted cell may) cannot go into a
    ``q`` filter: that invoice is dead-lettered naming why, the rest of the batch is posted."""
    good = invoice("L-1")
    bad_vendor = dataclasses.replace(invoice("L-2"), vendor_id="10\n01")
    bad_number = invoice("L-3\nX")
    put(sshd, "B_lookup.csv", render([good, bad_vendor, bad_number], TODAY))

    summary = run(sftp_conn_id, fusion, settings, ledger)

    assert (summary.read, summary.created, summary.dead_lettered) == (3, 1, 2)
    assert [i["InvoiceNumber"] for i in posted(fusion, "L-1")] == ["L-1"]
    reasons = {d.source_id: d.reason for d in ledger.list_dead_letters(tenant=KEY.tenant)}
    [vendor_reason] = [r for s, r in reasons.items() if s.endswith("/L-2")]
    assert "cannot be looked up in Fusion" in vendor_reason
    assert "control characters" in vendor_reason
    [number_reason] = [r for s, r in reasons.items() if "L-3" in s]
    assert "cannot be checked for a duplicate in Fusion" in number_reason
    assert names(sshd, "archive") == ["B_lookup.csv"]
