"""``ml-connector`` as the installed console script, in a fresh process: every ``--json`` output is
one JSON document on standard output while logs and warnings go to standard error, bad input is one
line and a non-zero exit code (never a traceback), and ``--version``/``--debug``."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from collections.abc import Sequence
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest

from ml_connector_provider.engine.core import SyncEngine, SyncOptions
from ml_connector_provider.engine.types import RunRef, StreamKey
from ml_connector_provider.ledger import Ledger
from tests.unit.engine.memory import MemorySource, MemoryStream, MemoryTarget

REPO = Path(__file__).resolve().parents[2]
EXAMPLE = REPO / "config" / "tenants.example.yaml"
DEMO = REPO / "ml_connector_provider" / "config" / "tenants.demo.yaml"
FALLBACK_WARNING = "Ledger: no ledger connection is named"


def ml_connector(
    args: Sequence[str], home: Path, env: dict[str, str] | None = None
) -> subprocess.CompletedProcess[str]:
    """Run the console script with a fresh ``AIRFLOW_HOME`` (and no ledger connection)."""
    clean = {k: v for k, v in os.environ.items() if not k.startswith(("AIRFLOW_", "AIRFLOW__"))}
    clean.pop("ML_CONNECTOR_CONFIG", None)
    clean.update({"AIRFLOW_HOME": str(home), "AIRFLOW__CORE__LOAD_EXAMPLES": "False", **(env or {})})
    return subprocess.run(
        [str(Path(sys.executable).with_name("ml-connector")), *args],
        env=clean,
        cwd=home,
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )


@pytest.fixture(scope="module")
def home(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """An Airflow home whose default SQLite ledger (the fallback, which logs a warning at every
    start) holds one run: two records created, one dead-lettered."""
    path = tmp_path_factory.mktemp("airflow-home")
    ledger = Ledger(f"sqlite:///{path / 'ml_connector_ledger.db'}")
    ledger.migrate()
    now = datetime(2026, 5, 1, tzinfo=UTC)
    source = MemorySource()
    source.change("r1", {"value": 1}, now - timedelta(hours=2))
    source.change("r2", {"value": 2}, now - timedelta(hours=2))
    source.change("r3", {"value": 3, "ref": "X"}, now - timedelta(hours=2))
    engine = SyncEngine(ledger, SyncOptions(initial_start=now - timedelta(days=1)), clock=lambda: now)
    engine.run(
        StreamKey("acme", "memory", "records"), MemoryStream(source, MemoryTarget()), RunRef("scheduled__1")
    )
    ledger.dispose()
    return path


@pytest.mark.parametrize(
    ("args", "code"),
    [
        (["validate", str(EXAMPLE), "--json"], 0),
        (["validate", str(DEMO), "--connections", "--json"], 1),
        (["audit", "--json"], 0),
        (["audit", "--since", "yesterday", "--record-id", "r3", "--json"], 0),
        (["runs", "--json"], 0),
        (["runs", "--status", "partial", "--since", "1d", "--json"], 0),
        (["report", "--json"], 0),
        (["dead-letters", "list", "--status", "all", "--json"], 0),
        (["dead-letters", "retry", "--tenant", "globex", "--json"], 0),
        (["dead-letters", "retry", "999", "--json"], 1),
        (["check", str(EXAMPLE), "--json"], 0),
    ],
)
def test_json_output_is_pure_json(home: Path, args: list[str], code: int) -> None:
    """The ledger commands open the fallback ledger, which Airflow's logging reports: on standard
    error, never in the document."""
    result = ml_connector(args, home)
    assert result.returncode == code, result.stderr
    json.loads(result.stdout)
    assert "Traceback" not in result.stderr
    if args[0] not in ("validate", "check"):
        assert FALLBACK_WARNING in result.stderr
        assert FALLBACK_WARNING not in result.stdout


def test_runs_json_from_the_console_script(home: Path) -> None:
    result = ml_connector(["runs", "--json"], home)
    [run] = json.loads(result.stdout)
    assert (run["run_id"], run["status"], run["created"], run["dead_lettered"]) == (
        "scheduled__1",
        "partial",
        2,
        1,
    )


@pytest.mark.parametrize(
    ("args", "code", "message"),
    [
        (["validate", "/no/such/tenants.yaml"], 1, "cannot read the tenant configuration"),
        (["validate", "{bad_yaml}"], 1, "YAML syntax error"),
        (["validate", str(EXAMPLE), "--tenant", "nobody"], 1, "not found: tenant 'nobody'"),
        (["check", "/no/such/tenants.yaml"], 1, "cannot read the tenant configuration"),
        (["onboard", "--tenant", "acme", "--config", "/no/such/tenants.yaml"], 2, "cannot read"),
        (["onboard", "--tenant", "nobody", "--config", str(EXAMPLE)], 1, "not found: tenant 'nobody'"),
        (["audit", "--since", "yesterdy"], 2, "argument --since: invalid time 'yesterdy'"),
        (["audit", "--record-id", "nope"], 1, "not found: no audit row of record 'nope'"),
        (["runs", "--until", "later"], 2, "argument --until: invalid time 'later'"),
        (["runs", "--run-id", "nope"], 1, "not found: run 'nope'"),
        (["report", "--run-id", "nope"], 1, "not found: run 'nope'"),
        (["dead-letters", "retry", "999"], 1, "not found: dead letter(s) 999"),
        (["dead-letters", "resolve", "999", "--note", "n"], 1, "not found: dead letter(s) 999"),
        (["dead-letters", "retry", "abc"], 2, "argument ids: invalid int value: 'abc'"),
        (["dead-letters", "list", "--limit", "-1"], 2, "argument --limit: invalid count '-1'"),
        (["runs", "--limit", "many"], 2, "argument --limit: invalid count 'many'"),
        (["runs", "--ledger-url", "not a url"], 2, "--ledger-url is not a database URL"),
        (
            ["runs", "--ledger-url", "postgresql+psycopg2://mlc:s3cret-pw@127.0.0.1:1/ledger"],
            1,
            "cannot open the ledger postgresql+psycopg2://mlc:***@127.0.0.1:1/ledger: OperationalError",
        ),
        (["report", "--ledger-url", "sqlite:////no/such/dir/ledger.db"], 1, "unable to open database file"),
        (["audit", "--ledger-conn-id", "no_such_ledger"], 1, "'no_such_ledger' does not exist"),
        (["sandbox", "--systems", "nope"], 2, "unknown system(s): nope"),
        (["demo", "--config", "/no/such/tenants.yaml"], 1, "cannot read the tenant configuration"),
    ],
)
def test_bad_input_is_one_clear_line(home: Path, args: list[str], code: int, message: str) -> None:
    bad_yaml = home / "bad.yaml"
    bad_yaml.write_text("version: 1\ntenants: [\n")
    args = [str(bad_yaml) if a == "{bad_yaml}" else a for a in args]
    result = ml_connector(args, home)
    assert result.returncode == code, result.stdout + result.stderr
    assert message in result.stderr
    assert "Traceback" not in result.stdout + result.stderr
    assert "s3cret-pw" not in result.stdout + result.stderr
    own = [line for line in result.stderr.splitlines() if message in line]
    assert len(own) == 1


def test_version(home: Path) -> None:
    from importlib import metadata

    result = ml_connector(["--version"], home)
    assert result.returncode == 0
    lines = result.stdout.splitlines()
    assert lines[0] == f"ml-connector-provider {metadata.version('ml-connector-provider')}"
    assert lines[1] == f"ml-connector-sandbox {metadata.version('ml-connector-sandbox')}"


def test_version_without_the_sandbox() -> None:
    """The sandbox's version comes from installed metadata: the sandbox is never imported."""
    script = (
        "import sys\n"
        "from importlib import metadata\n"
        "real = metadata.version\n"
        "def version(name):\n"
        "    if name == 'ml-connector-sandbox':\n"
        "        raise metadata.PackageNotFoundError(name)\n"
        "    return real(name)\n"
        "metadata.version = version\n"
        "from ml_connector_provider.cli import version_text\n"
        "print(version_text())\n"
        "print('ml_connector_sandbox' in sys.modules)\n"
    )
    result = subprocess.run(
        [sys.executable, "-c", script], capture_output=True, text=True, timeout=120, check=False
    )
    assert result.returncode == 0, result.stderr
    assert result.stdout.splitlines()[1:] == ["ml-connector-sandbox not installed", "False"]


def test_an_unexpected_error_is_one_line_unless_debug(
    monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    from ml_connector_provider import cli

    def broken(args: object, out: object) -> int:
        raise RuntimeError("the disk is on fire\nsecond line")

    parser = cli.build_parser()
    monkeypatch.setattr(cli, "build_parser", lambda: parser)
    parser._subparsers._group_actions[0].choices["runs"].set_defaults(func=broken)  # type: ignore[union-attr]
    assert cli.main(["runs"]) == 1
    assert capsys.readouterr().err == (
        "ml-connector runs: RuntimeError: the disk is on fire (run with --debug for the traceback)\n"
    )
    with pytest.raises(RuntimeError, match="the disk is on fire"):
        cli.main(["runs", "--debug"])
    with pytest.raises(RuntimeError, match="the disk is on fire"):
        cli.main(["--debug", "runs"])


def test_the_sandbox_child_owns_standard_output(home: Path) -> None:
    """``ml-connector demo``/``sandbox`` hand their standard output to the sandbox process; what
    the command itself logs or warns meanwhile (Airflow's logging writes to standard output) goes
    to standard error, so ``demo --json`` is one JSON document."""
    script = (
        "import logging, sys, warnings\n"
        "from ml_connector_provider import cli\n"
        "real = cli.run_sandbox\n"
        "def noisy(command, argv, stdout=None):\n"
        "    logging.getLogger('ml_connector_provider.cli').warning('a log line of the command')\n"
        "    warnings.warn('DSA is deprecated', UserWarning)\n"
        "    return real(command, [*argv, '--help'], stdout)\n"
        "cli.run_sandbox = noisy\n"
        "sys.exit(cli.main(['demo', '--json']))\n"
    )
    env = {k: v for k, v in os.environ.items() if not k.startswith(("AIRFLOW_", "AIRFLOW__"))}
    env["AIRFLOW_HOME"] = str(home)
    result = subprocess.run(
        [sys.executable, "-c", script], env=env, capture_output=True, text=True, timeout=120, check=False
    )
    assert result.returncode == 0, result.stderr
    assert result.stdout.startswith("usage: python -m ml_connector_sandbox demo")
    assert "a log line of the command" in result.stderr
    assert "DSA is deprecated" in result.stderr
