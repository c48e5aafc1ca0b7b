"""A file moved to the error directory is a dead letter of kind ``file``: listed by the ledger and
by ``ml-connector dead-letters list``, audited, counted in the run; ``retry`` moves it back and the
next run reads it again without posting anything twice; ``resolve`` closes it and leaves the file.

The invoices stream reads OpenSSH's sshd and posts to the Fusion stand-in over HTTP, run by the
engine on a SQLite ledger; the CLI reads the same SQLite file.
"""

from __future__ import annotations

import io
import json
from contextlib import redirect_stdout
from datetime import UTC, datetime, timedelta
from typing import Any

from ml_connector_sandbox.stampli import OFFICE, Invoice, Line, render

from ml_connector_provider import cli
from ml_connector_provider.hooks.oracle_fusion import OracleFusionHook
from ml_connector_provider.integrations.stampli_fusion.settings import StampliFusionSettings
from ml_connector_provider.ledger import Ledger
from tests.harness.sshd import SshdServer
from tests.integration.stampli.pipeline import (
    KEY,
    OLD,
    TODAY,
    file_outcomes,
    make_settings,
    names,
    posted,
    put,
    run,
)


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


def cli_json(ledger: Ledger, *args: str) -> Any:
    out = io.StringIO()
    with redirect_stdout(out):
        code = cli.main([*args, "--ledger-url", str(ledger.engine.url), "--json"])
    assert code == 0
    return json.loads(out.getvalue())


def file_dead_letters(ledger: Ledger, status: str | None = "open") -> dict[str, Any]:
    return {d.source_id: d for d in ledger.list_dead_letters(tenant=KEY.tenant, kind="file", status=status)}


def test_a_rejected_file_is_a_dead_letter_listed_audited_and_counted(
    sshd: SshdServer,
    sftp_conn_id: str,
    fusion: OracleFusionHook,
    ledger: Ledger,
) -> None:
    settings = make_settings(sshd)
    settings = settings.model_copy(update={"template": settings.template.model_copy(update={"max_rows": 2})})
    put(sshd, "A_big.csv", render([invoice("R-1"), invoice("R-2"), invoice("R-3")], TODAY), mtime=OLD - 60)
    put(sshd, "B_good.csv", render([invoice("R-9")], TODAY))

    summary = run(sftp_conn_id, fusion, settings, ledger, "run-1")

    assert (summary.read, summary.created, summary.dead_lettered, summary.files_rejected) == (1, 1, 0, 1)
    assert names(sshd, "error") == ["A_big.csv", "A_big.csv.reason.txt"]
    reason_file = sshd.local_path(sshd.remote_path("error/A_big.csv.reason.txt")).read_text()

    # The ledger: one open dead letter of kind file, with the reason file's full text.
    [dead] = file_dead_letters(ledger).values()
    assert (dead.kind, dead.source_id, dead.name, dead.attempts) == ("file", "file:A_big.csv", "A_big.csv", 1)
    assert dead.reason == reason_file
    assert "more than 2 invoice rows (template.max_rows)" in dead.reason
    assert dead.record["path"] == sshd.remote_path("error/A_big.csv")
    assert len(dead.record["checksum"]) == 64
    assert dead.next_retry_at is None  # not retried on a backoff: the same file would fail again
    assert file_outcomes(ledger)["A_big.csv"] == "failed"

    # The CLI lists it next to record dead letters, with the file name and the full reason.
    listed = cli_json(ledger, "dead-letters", "list", "--tenant", "acme")
    [row] = [r for r in listed if r["source_id"] == "file:A_big.csv"]
    assert row["reason"] == reason_file
    assert row["status"] == "open"

    # The audit trail names the file; the run's counts include it.
    [audited] = ledger.query_audit(tenant="acme", action="dead_lettered")
    assert (audited.source_id, audited.source_label, audited.run_id) == (
        "file:A_big.csv",
        "A_big.csv",
        "run-1",
    )
    assert audited.reason == reason_file
    [stored] = ledger.list_runs(tenant="acme")
    assert stored.summary is not None
    assert (stored.summary["files_rejected"], stored.summary["rejected_units"]) == (1, {"file": 1})


def test_retry_reads_the_file_again_and_posts_nothing_twice(
    sshd: SshdServer,
    sftp_conn_id: str,
    fusion: OracleFusionHook,
    ledger: Ledger,
) -> None:
    settings = make_settings(sshd)
    strict = settings.model_copy(update={"template": settings.template.model_copy(update={"max_rows": 2})})
    # Day 1: two invoices posted from one file.
    put(sshd, "A_day1.csv", render([invoice("T-1"), invoice("T-2")], TODAY))
    assert run(sftp_conn_id, fusion, strict, ledger, "run-1").created == 2
    # Day 2: a corrected export holds both again and a new one; it is refused (too many rows).
    put(sshd, "B_day2.csv", render([invoice("T-1"), invoice("T-2"), invoice("T-3")], TODAY))
    assert run(sftp_conn_id, fusion, strict, ledger, "run-2").files_rejected == 1
    [dead] = file_dead_letters(ledger).values()

    # Not asked to retry: later runs leave it where it is.
    assert run(sftp_conn_id, fusion, settings, ledger, "run-3").read == 0
    assert names(sshd, "error") == ["B_day2.csv", "B_day2.csv.reason.txt"]

    # Retried by hand once the limit is raised: moved back, read, only the new invoice posted.
    assert cli_json(ledger, "dead-letters", "retry", str(dead.id)) == {
        "count": 1,
        "not_found": [],
        "already_resolved": [],
    }
    summary = run(sftp_conn_id, fusion, settings, ledger, "run-4")
    assert (summary.read, summary.created, summary.unchanged, summary.files_rejected) == (3, 1, 2, 0)
    for number in ("T-1", "T-2", "T-3"):
        assert len(posted(fusion, number)) == 1, number
    assert names(sshd, "error") == ["B_day2.csv.reason.txt"]
    assert "B_day2.csv" in names(sshd, "archive")
    assert file_outcomes(ledger)["B_day2.csv"] == "processed"
    assert file_dead_letters(ledger) == {}
    [resolved] = file_dead_letters(ledger, status="resolved").values()
    assert resolved.id == dead.id


def test_retry_of_a_file_still_refused_reopens_its_dead_letter(
    sshd: SshdServer,
    sftp_conn_id: str,
    fusion: OracleFusionHook,
    ledger: Ledger,
) -> None:
    settings = make_settings(sshd, max_file_bytes=100, marker_suffix=".done")
    put(sshd, "A_large.csv", render([invoice("L-1")], TODAY))
    put(sshd, "A_large.csv.done", b"")
    assert run(sftp_conn_id, fusion, settings, ledger, "run-1").files_rejected == 1
    assert names(sshd, "error") == ["A_large.csv", "A_large.csv.done", "A_large.csv.reason.txt"]
    [dead] = file_dead_letters(ledger).values()
    assert dead.record["checksum"] is None  # never downloaded
    assert "sftp.max_file_bytes" in dead.reason

    ledger.retry_dead_letters_now([dead.id])
    summary = run(sftp_conn_id, fusion, settings, ledger, "run-2")

    assert (summary.read, summary.created, summary.files_rejected) == (0, 0, 1)
    [again] = file_dead_letters(ledger).values()
    assert (again.id, again.attempts, again.next_retry_at) == (dead.id, 2, None)
    assert names(sshd, "error") == ["A_large.csv", "A_large.csv.done", "A_large.csv.reason.txt"]
    assert posted(fusion, "L-1") == []
    assert [a.run_id for a in ledger.query_audit(tenant="acme", action="dead_lettered")] == ["run-2", "run-1"]


def test_resolve_closes_it_with_the_note_and_leaves_the_file(
    sshd: SshdServer,
    sftp_conn_id: str,
    fusion: OracleFusionHook,
    ledger: Ledger,
) -> None:
    settings = make_settings(sshd, max_file_bytes=100)
    put(sshd, "A_large.csv", render([invoice("Q-1")], TODAY))
    run(sftp_conn_id, fusion, settings, ledger, "run-1")
    [dead] = file_dead_letters(ledger).values()

    out = io.StringIO()
    with redirect_stdout(out):
        code = cli.main(
            [
                "dead-letters",
                "resolve",
                str(dead.id),
                "--note",
                "re-exported in two parts",
                "--by",
                "ap-team",
                "--ledger-url",
                str(ledger.engine.url),
            ]
        )
    assert code == 0
    assert "1 dead letter(s) resolved" in out.getvalue()

    ledger.retry_dead_letters_now(tenant="acme")  # a resolved dead letter is not retried
    assert run(sftp_conn_id, fusion, settings, ledger, "run-2").read == 0
    assert names(sshd, "error") == ["A_large.csv", "A_large.csv.reason.txt"]
    [resolved] = file_dead_letters(ledger, status="resolved").values()
    assert resolved.id == dead.id
    with ledger.engine.connect() as conn:
        from ml_connector_provider.ledger.schema import dead_letters

        note = conn.execute(dead_letters.select().where(dead_letters.c.id == dead.id)).one().resolution
    assert note == "re-exported in two parts (by ap-team)"


def test_record_and_file_dead_letters_do_not_mix(
    sshd: SshdServer,
    sftp_conn_id: str,
    fusion: OracleFusionHook,
    settings: StampliFusionSettings,
    ledger: Ledger,
) -> None:
    bad_vendor = Invoice(
        "STP-X", "X-1", "9999", "Nobody", 1, "10.00", "Misc", (Line("Sundries", "10.00", OFFICE, "110"),)
    )
    put(sshd, "A.csv", render([bad_vendor], TODAY), mtime=OLD - 60)
    put(sshd, "B.csv", b"not,an,export\n")
    summary = run(sftp_conn_id, fusion, settings, ledger, "run-1")
    assert (summary.dead_lettered, summary.files_rejected) == (1, 1)

    [record] = ledger.list_dead_letters(tenant="acme", kind="record")
    [file] = ledger.list_dead_letters(tenant="acme", kind="file")
    assert record.source_id.endswith("/X-1")
    assert file.source_id == "file:B.csv"
    assert len(ledger.list_dead_letters(tenant="acme")) == 2
    later = datetime.now(UTC) + timedelta(days=365)
    # Automatic retries are of records only; a file waits until an operator asks.
    assert [d.source_id for d in ledger.due_dead_letters(KEY, now=later)] == [record.source_id]
    assert ledger.due_unit_dead_letters(KEY, now=later) == []
    assert ledger.retry_dead_letters_now(tenant="acme") == 2
    assert [d.source_id for d in ledger.due_unit_dead_letters(KEY, now=later)] == ["file:B.csv"]
    assert ledger.dead_letters_for(KEY, ["file:B.csv", record.source_id]).keys() == {record.source_id}


def test_a_reupload_of_a_rejected_file_is_rejected_too_and_either_retry_posts_once(
    sshd: SshdServer,
    sftp_conn_id: str,
    fusion: OracleFusionHook,
    ledger: Ledger,
) -> None:
    settings = make_settings(sshd)
    strict = settings.model_copy(update={"template": settings.template.model_copy(update={"max_rows": 2})})
    content = render([invoice("U-1"), invoice("U-2"), invoice("U-3")], TODAY)
    put(sshd, "A_first.csv", content)
    run(sftp_conn_id, fusion, strict, ledger, "run-1")
    # Uploaded again under another name: the same content is rejected again, visibly.
    put(sshd, "B_again.csv", content)
    summary = run(sftp_conn_id, fusion, strict, ledger, "run-2")

    assert summary.files_rejected == 1
    assert names(sshd, "error") == [
        "A_first.csv",
        "A_first.csv.reason.txt",
        "B_again.csv",
        "B_again.csv.reason.txt",
    ]
    again = file_dead_letters(ledger)["file:B_again.csv"]
    assert again.reason.startswith("B_again.csv: the same content (sha256 ")
    assert "A_first.csv, which was rejected: A_first.csv row" in again.reason
    assert file_outcomes(ledger) == {"A_first.csv": "failed"}  # the first file's record is kept

    # Fixed, then both retried: the invoices post once.
    ledger.retry_dead_letters_now([again.id])
    assert run(sftp_conn_id, fusion, settings, ledger, "run-3").created == 3
    ledger.retry_dead_letters_now(tenant="acme")
    summary = run(sftp_conn_id, fusion, settings, ledger, "run-4")
    assert (summary.read, summary.created, summary.files_rejected) == (0, 0, 0)
    for number in ("U-1", "U-2", "U-3"):
        assert len(posted(fusion, number)) == 1, number
    assert file_dead_letters(ledger) == {}
    assert sorted(names(sshd, "archive")) == ["A_first.csv", "B_again.csv"]
