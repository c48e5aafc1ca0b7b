"""``ml-connector runs`` and ``dead-letters``: status, window, counts, whole reasons, resolved
dead letters, ids that do not exist; all against a real SQLite ledger written by the real engine."""

from __future__ import annotations

import json
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest

from ml_connector_provider.cli import main
from ml_connector_provider.engine.core import SyncEngine, SyncOptions, lease_owner
from ml_connector_provider.engine.types import RunRef, StreamKey, Window
from ml_connector_provider.ledger import Ledger
from tests.unit.engine.memory import MemorySource, MemoryStream, MemoryTarget

NOW = datetime(2026, 5, 1, tzinfo=UTC)
KEY = StreamKey("acme", "memory", "records")
LONG_REFERENCE = "R" * 150


def run_cli(args: list[str], capsys: pytest.CaptureFixture[str]) -> tuple[int, str, str]:
    code = main(args)
    captured = capsys.readouterr()
    return code, captured.out, captured.err


@pytest.fixture
def ledger(tmp_path: Path) -> Ledger:
    """Runs in every state: ``scheduled__1`` partial (one record dead-lettered, its reason longer
    than 80 characters), ``scheduled__2`` succeeded (other stream), ``manual__3`` failed (claimed a
    window, never finished, nobody holds the lease)."""
    store = Ledger(f"sqlite:///{tmp_path / 'ledger.db'}")
    store.migrate()
    source, target = MemorySource(), MemoryTarget()
    source.change("r1", {"value": 1}, NOW - timedelta(hours=2))
    source.change("r2", {"value": 2, "ref": LONG_REFERENCE}, NOW - timedelta(hours=2))
    engine = SyncEngine(store, SyncOptions(initial_start=NOW - timedelta(days=1)), clock=lambda: NOW)
    engine.run(KEY, MemoryStream(source, target), RunRef("scheduled__1"))
    other = StreamKey("acme", "memory", "others")
    clean = MemorySource()
    clean.change("o1", {"value": 1}, NOW - timedelta(hours=2))
    engine.run(other, MemoryStream(clean, MemoryTarget()), RunRef("scheduled__2"))
    store.claim_run_window(
        StreamKey("globex", "memory", "records"),
        RunRef("manual__3"),
        Window(NOW - timedelta(hours=1), NOW),
        mode="incremental",
        params={},
    )
    yield store
    store.dispose()


def url(store: Ledger) -> str:
    return store.engine.url.render_as_string(hide_password=False)


def test_runs_show_status_window_and_counts(ledger: Ledger, capsys: pytest.CaptureFixture[str]) -> None:
    code, out, _ = run_cli(["runs", "--ledger-url", url(ledger), "--json"], capsys)
    assert code == 0
    runs = {r["run_id"]: r for r in json.loads(out)}
    assert {run_id: r["status"] for run_id, r in runs.items()} == {
        "scheduled__1": "partial",
        "scheduled__2": "succeeded",
        "manual__3": "failed",
    }
    first = runs["scheduled__1"]
    assert (first["window_start"], first["window_end"]) == (
        "2026-04-30T00:00:00+00:00",
        "2026-04-30T23:59:00+00:00",
    )
    assert [first[c] for c in ("read", "created", "updated", "skipped", "dead_lettered")] == [2, 1, 0, 0, 1]
    assert first["finished"] is not None
    assert first["duration_seconds"] >= 0
    assert first["summary"]["dead_lettered"] == 1
    assert runs["manual__3"]["finished"] is None
    assert runs["manual__3"]["created"] is None

    code, out, _ = run_cli(["runs", "--ledger-url", url(ledger)], capsys)
    header, _rule, *rows = out.splitlines()
    assert header.split()[:5] == ["run_id", "tenant", "integration", "stream", "status"]
    assert len(rows) == 3
    failed = next(r for r in rows if r.startswith("manual__3"))
    assert failed.split()[4] == "failed"
    assert "2026-04-30T23:00:00+00:00 – 2026-05-01T00:00:00+00:00" in failed


def test_a_run_whose_stream_lease_it_holds_is_running(
    ledger: Ledger, capsys: pytest.CaptureFixture[str]
) -> None:
    key = StreamKey("globex", "memory", "records")
    run = RunRef("manual__3")
    with ledger.lease(key, owner=lease_owner(run)):
        code, out, _ = run_cli(["runs", "--ledger-url", url(ledger), "--status", "running", "--json"], capsys)
        assert (code, [r["run_id"] for r in json.loads(out)]) == (0, ["manual__3"])
    code, out, _ = run_cli(["runs", "--ledger-url", url(ledger), "--status", "running", "--json"], capsys)
    assert (code, json.loads(out)) == (0, [])


def test_runs_filters(ledger: Ledger, capsys: pytest.CaptureFixture[str]) -> None:
    def ids(*args: str) -> list[str]:
        code, out, err = run_cli(["runs", "--ledger-url", url(ledger), "--json", *args], capsys)
        assert code == 0, err
        return sorted(r["run_id"] for r in json.loads(out))

    assert ids("--status", "succeeded") == ["scheduled__2"]
    assert ids("--status", "partial", "--tenant", "acme") == ["scheduled__1"]
    assert ids("--run-id", "scheduled__2") == ["scheduled__2"]
    # The ledger stamps runs with the real clock: all started within the last hour, none tomorrow.
    assert ids("--since", "1h") == ["manual__3", "scheduled__1", "scheduled__2"]
    assert ids("--since", "2999-01-01") == []
    assert ids("--until", "2000-01-01") == []
    assert ids("--limit", "1", "--status", "failed") == ["manual__3"]


def test_unknown_run_id_is_not_found(ledger: Ledger, capsys: pytest.CaptureFixture[str]) -> None:
    for command in ("runs", "report"):
        code, out, err = run_cli([command, "--ledger-url", url(ledger), "--run-id", "nope"], capsys)
        assert code == 1
        assert out == ""
        assert (
            err
            == f"ml-connector {command}: not found: run 'nope' (no stream run of it matches the filters given)\n"
        )


def test_dead_letters_list_status_and_whole_reasons(
    ledger: Ledger, capsys: pytest.CaptureFixture[str]
) -> None:
    code, out, _ = run_cli(["dead-letters", "list", "--ledger-url", url(ledger)], capsys)
    assert code == 0
    header, _, row = out.splitlines()
    assert "status" in header.split()
    assert "open" in row.split()
    assert row.endswith("...")  # cut at 80 characters in the default table
    code, out, _ = run_cli(["dead-letters", "list", "--wide", "--ledger-url", url(ledger)], capsys)
    assert LONG_REFERENCE in out.splitlines()[2]
    code, out, _ = run_cli(["dead-letters", "list", "--json", "--ledger-url", url(ledger)], capsys)
    [letter] = json.loads(out)
    assert LONG_REFERENCE in letter["reason"]
    assert (letter["status"], letter["source_id"], letter["attempts"]) == ("open", "r2", 1)
    assert letter["resolution"] is None
    assert letter["created_at"]
    assert letter["updated_at"]
    assert LONG_REFERENCE in json.dumps(letter["record"])  # the copy kept for its retry


def test_resolved_dead_letters_show_who_when_and_how(
    ledger: Ledger, capsys: pytest.CaptureFixture[str]
) -> None:
    [letter] = ledger.list_dead_letters()
    code, out, _ = run_cli(
        [
            "dead-letters",
            "resolve",
            str(letter.id),
            "--note",
            "vendor R set up by hand",
            "--by",
            "alice",
            "--ledger-url",
            url(ledger),
        ],
        capsys,
    )
    assert (code, out) == (0, "1 dead letter(s) resolved\n")
    code, out, _ = run_cli(["dead-letters", "list", "--ledger-url", url(ledger)], capsys)
    assert out == "(none)\n"
    code, out, _ = run_cli(["dead-letters", "list", "--status", "all", "--ledger-url", url(ledger)], capsys)
    header, _, row = out.splitlines()
    assert header.split()[-2:] == ["resolved_at", "resolution"]
    assert row.split()[6] == "resolved"
    assert row.split()[4] == "record"
    assert row.endswith("vendor R set up by hand (by alice)")
    code, out, _ = run_cli(
        ["dead-letters", "list", "--status", "resolved", "--json", "--ledger-url", url(ledger)], capsys
    )
    [resolved] = json.loads(out)
    assert resolved["resolution"] == "vendor R set up by hand (by alice)"
    assert resolved["resolved_at"] is not None
    # Resolving or retrying it again changes nothing and says so.
    code, out, _ = run_cli(
        ["dead-letters", "retry", str(letter.id), "--json", "--ledger-url", url(ledger)], capsys
    )
    assert (code, json.loads(out)) == (0, {"count": 0, "not_found": [], "already_resolved": [letter.id]})


def test_unknown_dead_letter_ids(ledger: Ledger, capsys: pytest.CaptureFixture[str]) -> None:
    [letter] = ledger.list_dead_letters()
    code, out, err = run_cli(["dead-letters", "retry", "999", "--ledger-url", url(ledger)], capsys)
    assert code == 1
    assert out == "0 dead letter(s) will be retried by the next run of their stream\n"
    assert err == "ml-connector dead-letters: not found: dead letter(s) 999\n"
    # Partly known: the known one is acted on, the unknown ones named, exit code 1.
    code, out, err = run_cli(
        ["dead-letters", "retry", str(letter.id), "999", "998", "--json", "--ledger-url", url(ledger)], capsys
    )
    assert code == 1
    assert json.loads(out) == {"count": 1, "not_found": [999, 998], "already_resolved": []}
    assert err == "ml-connector dead-letters: not found: dead letter(s) 999, 998\n"
    code, out, err = run_cli(
        ["dead-letters", "resolve", "999", str(letter.id), "--note", "n", "--ledger-url", url(ledger)], capsys
    )
    assert (code, out) == (1, "1 dead letter(s) resolved\n")
    assert err == "ml-connector dead-letters: not found: dead letter(s) 999\n"
    assert ledger.get_dead_letters([letter.id])[0].status == "resolved"


def test_audit_record_id_that_matches_nothing(ledger: Ledger, capsys: pytest.CaptureFixture[str]) -> None:
    code, out, err = run_cli(["audit", "--record-id", "nope", "--json", "--ledger-url", url(ledger)], capsys)
    assert (code, json.loads(out)) == (1, [])
    assert err == "ml-connector audit: not found: no audit row of record 'nope' matches the filters given\n"
    code, out, _ = run_cli(["audit", "--record-id", "r1", "--json", "--ledger-url", url(ledger)], capsys)
    assert (code, [r["action"] for r in json.loads(out)]) == (0, ["created"])
    # Without an id, an empty answer is an answer.
    code, out, _ = run_cli(["audit", "--tenant", "nobody", "--json", "--ledger-url", url(ledger)], capsys)
    assert (code, json.loads(out)) == (0, [])


def test_audit_and_report_windows(ledger: Ledger, capsys: pytest.CaptureFixture[str]) -> None:
    code, out, _ = run_cli(["audit", "--since", "1h", "--json", "--ledger-url", url(ledger)], capsys)
    assert (code, len(json.loads(out))) == (0, 3)
    code, out, _ = run_cli(["audit", "--until", "yesterday", "--json", "--ledger-url", url(ledger)], capsys)
    assert (code, json.loads(out)) == (0, [])
    code, out, _ = run_cli(["report", "--since", "2999-01-01", "--json", "--ledger-url", url(ledger)], capsys)
    assert (code, json.loads(out)) == (0, {"streams": [], "records": [], "dead_letters": []})
    code, out, _ = run_cli(
        ["report", "--run-id", "scheduled__1", "--json", "--ledger-url", url(ledger)], capsys
    )
    report = json.loads(out)
    assert [s["run_id"] for s in report["streams"]] == ["scheduled__1"]
    assert sorted(r["source"] for r in report["records"]) == ["memsrc:r1", "memsrc:r2"]


def test_a_resolution_records_the_user_by_default(ledger: Ledger, capsys: pytest.CaptureFixture[str]) -> None:
    import getpass

    [letter] = ledger.list_dead_letters()
    code, _, _ = run_cli(
        ["dead-letters", "resolve", str(letter.id), "--note", "not ours", "--ledger-url", url(ledger)], capsys
    )
    assert code == 0
    [resolved] = ledger.list_dead_letter_details(status="resolved")
    assert resolved["resolution"] == f"not ours (by {getpass.getuser()})"
