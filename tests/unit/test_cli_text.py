"""Record text printed by ``ml-connector`` (dead letters, audit, report) cannot drive the terminal:
control and text-direction characters from a source record are shown as ``\\uXXXX``."""

from __future__ import annotations

import json
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest

from ml_connector_provider.cli import main
from ml_connector_provider.engine.core import SyncEngine, SyncOptions
from ml_connector_provider.engine.types import RunRef, StreamKey
from ml_connector_provider.ledger import Ledger
from tests.unit.engine.memory import MemorySource, MemoryStream, MemoryTarget

HOSTILE = "\x1b]0;owned\x07\x1b[2J\u202eexe.txt\r"


@pytest.fixture
def ledger_url(tmp_path: Path) -> str:
    """A ledger whose one dead letter's reason quotes a reference full of escape sequences."""
    url = f"sqlite:///{tmp_path / 'ledger.db'}"
    ledger = Ledger(url)
    ledger.migrate()
    now = datetime(2026, 5, 1, tzinfo=UTC)
    source = MemorySource()
    source.change("r1", {"value": 1, "ref": HOSTILE}, now - timedelta(hours=2))
    engine = SyncEngine(ledger, SyncOptions(initial_start=now - timedelta(days=1)), clock=lambda: now)
    engine.run(StreamKey("acme", "memory", "records"), MemoryStream(source, MemoryTarget()), RunRef("run-1"))
    ledger.dispose()
    return url


@pytest.mark.parametrize("command", [["dead-letters", "list"], ["audit"], ["report"]])
def test_tables_escape_what_a_terminal_would_run(
    ledger_url: str, command: list[str], capsys: pytest.CaptureFixture[str]
) -> None:
    assert main([*command, "--ledger-url", ledger_url]) == 0
    out = capsys.readouterr().out
    assert "\\u001B]0;owned\\u0007" in out
    for char in ("\x1b", "\x07", "\u202e", "\r"):
        assert char not in out


def test_json_output_keeps_the_text_exact_and_escaped(
    ledger_url: str, capsys: pytest.CaptureFixture[str]
) -> None:
    assert main(["dead-letters", "list", "--ledger-url", ledger_url, "--json"]) == 0
    out = capsys.readouterr().out
    assert "\x1b" not in out
    [letter] = json.loads(out)
    assert HOSTILE in letter["reason"]
