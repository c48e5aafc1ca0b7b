"""Large export files, over OpenSSH's sshd with the Fusion stand-in over HTTP: a file above
``sftp.max_file_bytes`` is quarantined without being downloaded while the rest of the listing
posts; a file's invoices are read in pages, and the file is moved only once every page was taken;
the problems list next to an archived file is bounded."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from typing import Any

import pytest
from ml_connector_sandbox.stampli import OFFICE, Invoice, Line, render

from ml_connector_provider.engine.core import Summary
from ml_connector_provider.engine.types import Window
from ml_connector_provider.hooks.oracle_fusion import OracleFusionHook
from ml_connector_provider.hooks.stampli import StampliHook
from ml_connector_provider.integrations.stampli_fusion import streams
from ml_connector_provider.integrations.stampli_fusion.settings import StampliFusionSettings
from ml_connector_provider.ledger import Ledger
from tests.harness.sshd import SshdServer
from tests.integration.stampli.pipeline import (
    OLD,
    TODAY,
    build,
    file_outcomes,
    make_settings,
    names,
    posted,
    put,
)
from tests.integration.stampli.pipeline import run as run_stream
from tests.integration.stampli.test_stampli_poison_files import invoice


def unbalanced(number: str) -> Invoice:
    """An invoice whose line does not add up to its amount (a group with a problem)."""
    return Invoice(
        f"STP-{number}",
        number,
        "1001",
        "Crestline Office Supply Co.",
        1,
        "11.00",
        "Misc",
        (Line("Sundries", "10.00", OFFICE, "110"),),
    )


def read_text(sshd: SshdServer, path: str) -> str:
    return sshd.local_path(sshd.remote_path(path)).read_text(encoding="utf-8")


def test_a_file_above_max_file_bytes_is_quarantined_unread_and_the_rest_of_the_listing_posts(
    sshd: SshdServer,
    sftp_conn_id: str,
    fusion: OracleFusionHook,
    ledger: Ledger,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    good = render([invoice("G-1")], TODAY)
    big = render([invoice(f"B-{n}") for n in range(40)], TODAY)
    limit = len(good) + 100
    assert len(big) > limit
    settings = make_settings(sshd, max_file_bytes=limit)
    put(sshd, "A_big.csv", big, mtime=OLD - 60)
    put(sshd, "B_good.csv", good)
    downloads: list[str] = []
    download = StampliHook.download

    def recording(self: StampliHook, path: str, **options: Any) -> Any:
        downloads.append(path.rsplit("/", 1)[-1])
        return download(self, path, **options)

    monkeypatch.setattr(StampliHook, "download", recording)

    summary = run(sftp_conn_id, fusion, settings, ledger, "run-1")

    assert downloads == ["B_good.csv"]
    assert (summary.read, summary.created, summary.dead_lettered) == (1, 1, 0)
    assert len(posted(fusion, "G-1")) == 1
    assert posted(fusion, "B-0") == []
    assert names(sshd, "outbound") == []
    assert names(sshd, "archive") == ["B_good.csv"]
    assert names(sshd, "error") == ["A_big.csv", "A_big.csv.reason.txt"]
    assert read_text(sshd, "error/A_big.csv.reason.txt") == (
        f"A_big.csv: the file has {len(big)} bytes, more than the {limit} allowed (sftp.max_file_bytes); "
        "it was not read (ask for smaller exports or raise the limit)\n"
    )
    # The ledger knows files by the checksum of their content, which was never read.
    assert file_outcomes(ledger) == {"B_good.csv": "processed"}

    again = run(sftp_conn_id, fusion, settings, ledger, "run-2")
    assert (again.read, again.created) == (0, 0)


def test_a_file_is_read_in_pages_and_moved_only_once_every_page_was_taken(
    sshd: SshdServer, sftp_conn_id: str, fusion: OracleFusionHook, ledger: Ledger
) -> None:
    settings = make_settings(sshd)
    put(sshd, "A.csv", render([invoice(f"P-{n}") for n in range(5)], TODAY))
    stream = build(sftp_conn_id, fusion, settings, ledger, page_size=2)
    now = datetime.now(UTC)
    try:
        pages = iter(stream.read(Window(now - timedelta(days=1), now)))
        first = next(pages)
        assert [record.label for record in first] == [
            "P-0 (Vendor ID 1001)",
            "P-1 (Vendor ID 1001)",
        ]
        # The file is still being read: acknowledging the run so far leaves it where it is.
        stream.finish()
        assert names(sshd, "outbound") == ["A.csv"]
        assert file_outcomes(ledger) == {"A.csv": "processing"}

        assert [len(page) for page in pages] == [2, 1]
        stream.finish()
    finally:
        stream.close()
    assert names(sshd, "outbound") == []
    assert names(sshd, "archive") == ["A.csv"]
    assert file_outcomes(ledger) == {"A.csv": "processed"}


def test_every_page_of_a_file_posts_and_its_problems_are_listed_next_to_it(
    sshd: SshdServer, sftp_conn_id: str, fusion: OracleFusionHook, ledger: Ledger
) -> None:
    settings = make_settings(sshd)
    invoices = [invoice(f"P-{n}") for n in range(5)]
    invoices.insert(2, unbalanced("U-1"))
    put(sshd, "A.csv", render(invoices, TODAY))

    summary = run(sftp_conn_id, fusion, settings, ledger, "run-1", page_size=2)

    assert (summary.read, summary.created, summary.dead_lettered) == (6, 5, 1)
    assert all(len(posted(fusion, f"P-{n}")) == 1 for n in range(5))
    assert names(sshd, "archive") == ["A.csv", "A.csv.problems.txt"]
    problems = read_text(sshd, "archive/A.csv.problems.txt").splitlines()
    assert len(problems) == 1
    assert problems[0].startswith(
        "U-1 (Vendor ID 1001): A.csv, column 'Invoice Amount': the invoice amount is 11.00 USD"
    )
    assert file_outcomes(ledger) == {"A.csv": "processed"}


def test_the_problems_list_of_a_file_is_bounded(
    sshd: SshdServer,
    sftp_conn_id: str,
    fusion: OracleFusionHook,
    ledger: Ledger,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.setattr(streams, "MAX_PROBLEM_LINES", 2)
    settings = make_settings(sshd)
    put(sshd, "A.csv", render([unbalanced(f"U-{n}") for n in range(5)], TODAY))

    summary = run(sftp_conn_id, fusion, settings, ledger, "run-1", page_size=2)

    assert (summary.read, summary.dead_lettered) == (5, 5)
    problems = read_text(sshd, "archive/A.csv.problems.txt").splitlines()
    assert [line.split(":")[0] for line in problems[:2]] == ["U-0 (Vendor ID 1001)", "U-1 (Vendor ID 1001)"]
    assert problems[2:] == [
        "… and 3 more invoice(s) with problems, not listed here; each is a dead letter of the run, "
        "with its problems"
    ]


def run(
    sftp_conn_id: str,
    fusion: OracleFusionHook,
    settings: StampliFusionSettings,
    ledger: Ledger,
    run_id: str,
    *,
    page_size: int = 500,
) -> Summary:
    """A run in batches of 3, so a page of a file spans several batches."""
    return run_stream(sftp_conn_id, fusion, settings, ledger, run_id, page_size=page_size, batch_size=3)
