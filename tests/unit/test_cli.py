"""The ``ml-connector`` command line, run in-process and as the installed console script."""

from __future__ import annotations

import io
import json
import signal
import subprocess
import sys
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest
import requests
import yaml

from ml_connector_provider.cli import main
from ml_connector_provider.engine.core import SyncEngine, SyncOptions
from ml_connector_provider.engine.types import RunRef, StreamKey
from ml_connector_provider.ledger import Ledger
from tests.unit.engine.memory import MemorySource, MemoryStream, MemoryTarget

EXAMPLE = Path(__file__).resolve().parents[2] / "config" / "tenants.example.yaml"
DEMO = Path(__file__).resolve().parents[2] / "ml_connector_provider" / "config" / "tenants.demo.yaml"


def run_cli(args: list[str], capsys: pytest.CaptureFixture[str]) -> tuple[int, str, str]:
    code = main(args)
    captured = capsys.readouterr()
    return code, captured.out, captured.err


def test_validate_example(capsys: pytest.CaptureFixture[str]) -> None:
    code, out, _ = run_cli(["validate", str(EXAMPLE), "--json"], capsys)
    assert code == 0
    report = json.loads(out)
    assert report["valid"] is True
    assert [d["dag_id"] for d in report["dags"]] == [
        "mlc__acme__fusion_stripe",
        "mlc__acme__stampli_fusion",
        "mlc__acme__stripe_netsuite",
        "mlc__globex__fusion_stripe",
        "mlc__globex__stampli_fusion",
        "mlc__initech__fusion_stripe",
    ]


def test_validate_reports_file_tenant_and_field(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    bad = tmp_path / "tenants.yaml"
    bad.write_text(
        "version: 1\ntenants:\n  - id: acme\n    name: A\n    integrations:\n"
        "      fusion_stripe:\n        connections: {fusion: f}\n"
    )
    code, _, err = run_cli(["validate", str(bad)], capsys)
    assert code == 1
    assert f"{bad}: tenant 'acme': integrations.fusion_stripe.connections: missing role 'stripe'" in err


@pytest.fixture
def populated_ledger(tmp_path: Path) -> str:
    """A ledger with one stream run: two records created, one dead-lettered."""
    url = f"sqlite:///{tmp_path / 'ledger.db'}"
    ledger = Ledger(url)
    ledger.migrate()
    now = datetime(2026, 5, 1, tzinfo=UTC)
    source, target = MemorySource(), MemoryTarget()
    source.change("r1", {"value": 1}, now - timedelta(hours=2))
    source.change("r2", {"value": 2}, now - timedelta(hours=2))
    source.change("r3", {"value": 3, "ref": "X"}, now - timedelta(hours=2))
    engine = SyncEngine(ledger, SyncOptions(initial_start=now - timedelta(days=1)), clock=lambda: now)
    engine.run(StreamKey("acme", "memory", "records"), MemoryStream(source, target), RunRef("scheduled__1"))
    ledger.dispose()
    return url


def test_audit_and_runs(populated_ledger: str, capsys: pytest.CaptureFixture[str]) -> None:
    code, out, _ = run_cli(["audit", "--ledger-url", populated_ledger, "--record-id", "r3", "--json"], capsys)
    assert code == 0
    [row] = json.loads(out)
    assert (row["action"], row["source"], row["reason"]) == (
        "dead_lettered",
        "memsrc:r3",
        "reference X is not set up in the target (field ref)",
    )
    code, out, _ = run_cli(["runs", "--ledger-url", populated_ledger], capsys)
    assert code == 0
    assert "scheduled__1" in out
    header, _, row = out.splitlines()[:3]
    assert header.split()[-4:] == ["created", "updated", "skipped", "dead_lettered"]
    assert row.split()[:5] == ["scheduled__1", "acme", "memory", "records", "partial"]
    assert row.split()[-4:] == ["2", "0", "0", "1"]
    assert "2026-04-30T00:00:00+00:00 – 2026-04-30T23:59:00+00:00" in row


def test_dead_letters_list_retry_resolve(populated_ledger: str, capsys: pytest.CaptureFixture[str]) -> None:
    code, out, _ = run_cli(["dead-letters", "list", "--ledger-url", populated_ledger, "--json"], capsys)
    [letter] = json.loads(out)
    assert (code, letter["source_id"], letter["attempts"]) == (0, "r3", 1)

    code, out, _ = run_cli(
        ["dead-letters", "retry", str(letter["id"]), "--ledger-url", populated_ledger], capsys
    )
    assert (code, out.strip()) == (0, "1 dead letter(s) will be retried by the next run of their stream")

    code, _, err = run_cli(
        ["dead-letters", "resolve", str(letter["id"]), "--ledger-url", populated_ledger], capsys
    )
    assert code == 2
    assert "--note" in err
    args = [
        "dead-letters",
        "resolve",
        str(letter["id"]),
        "--note",
        "fixed by hand",
        "--ledger-url",
        populated_ledger,
    ]
    code, out, _ = run_cli(args, capsys)
    assert (code, out.strip()) == (0, "1 dead letter(s) resolved")
    code, out, _ = run_cli(["dead-letters", "list", "--ledger-url", populated_ledger, "--json"], capsys)
    assert json.loads(out) == []


def test_dead_letters_retry_a_whole_scope(populated_ledger: str, capsys: pytest.CaptureFixture[str]) -> None:
    """What an operator (and the demo) runs once the missing reference data exists."""
    scope = ["--tenant", "acme", "--integration", "memory", "--ledger-url", populated_ledger, "--json"]
    code, out, _ = run_cli(["dead-letters", "retry", "--tenant", "globex", *scope[2:]], capsys)
    assert (code, json.loads(out)["count"]) == (0, 0)
    code, out, _ = run_cli(["dead-letters", "retry", *scope], capsys)
    assert (code, json.loads(out)) == (0, {"count": 1, "not_found": [], "already_resolved": []})
    code, _, err = run_cli(["dead-letters", "retry", "--ledger-url", populated_ledger], capsys)
    assert code == 2
    assert "--tenant/--integration/--stream" in err


def test_report_json(populated_ledger: str, capsys: pytest.CaptureFixture[str]) -> None:
    code, out, _ = run_cli(["report", "--ledger-url", populated_ledger, "--json"], capsys)
    assert code == 0
    report = json.loads(out)
    assert report["streams"] == [
        {
            "tenant": "acme",
            "integration": "memory",
            "stream": "records",
            "run_id": "scheduled__1",
            "read": 3,
            "created": 2,
            "updated": 0,
            "skipped": 0,
            "unchanged": 0,
            "dead_lettered": 1,
        }
    ]
    assert sorted((r["stream"], r["action"], r["source"]) for r in report["records"]) == [
        ("memory/records", "created", "memsrc:r1"),
        ("memory/records", "created", "memsrc:r2"),
        ("memory/records", "dead_lettered", "memsrc:r3"),
    ]
    targets = {r["source"]: r["target"] for r in report["records"]}
    assert targets["memsrc:r3"] == ""
    assert targets["memsrc:r1"].startswith("memtgt:")
    assert report["dead_letters"] == [
        {
            "tenant": "acme",
            "stream": "memory/records",
            "source": "r3",
            "attempts": 1,
            "reason": "reference X is not set up in the target (field ref)",
        }
    ]
    code, out, _ = run_cli(
        ["report", "--ledger-url", populated_ledger, "--tenant", "globex", "--json"], capsys
    )
    assert json.loads(out) == {"streams": [], "records": [], "dead_letters": []}


def test_report_tables(populated_ledger: str, capsys: pytest.CaptureFixture[str]) -> None:
    code, out, _ = run_cli(["report", "--ledger-url", populated_ledger], capsys)
    assert code == 0
    sections = out.split("\n\n")
    assert [s.splitlines()[0] for s in sections] == [
        "What moved, per stream",
        "Records (audit trail)",
        "Open dead letters (retried on later runs; see `ml-connector dead-letters list`)",
    ]
    assert sections[0].splitlines()[3].split() == [
        "acme",
        "memory",
        "records",
        "scheduled__1",
        "3",
        "2",
        "0",
        "0",
        "0",
        "1",
    ]
    assert sections[2].splitlines()[3].split()[:4] == ["acme", "memory/records", "r3", "1"]


def test_validate_json_lists_connections_of_each_dag(capsys: pytest.CaptureFixture[str]) -> None:
    """The demo reads which DAGs run and which connections they need from here."""
    code, out, _ = run_cli(["validate", str(DEMO), "--json"], capsys)
    assert code == 0
    dags = {d["dag_id"]: d for d in json.loads(out)["dags"]}
    assert {dag_id: d["enabled"] for dag_id, d in dags.items()} == {
        "mlc__acme__fusion_stripe": True,
        "mlc__acme__stampli_fusion": True,
        "mlc__acme__stripe_netsuite": True,  # enabled in the demo only (the example: false)
        "mlc__globex__fusion_stripe": True,
        "mlc__globex__stampli_fusion": True,
        "mlc__initech__fusion_stripe": False,
    }
    acme = dags["mlc__acme__stampli_fusion"]
    assert (acme["tenant"], acme["integration"]) == ("acme", "stampli_fusion")
    assert {c["role"]: (c["conn_id"], c["conn_type"]) for c in acme["connections"]} == {
        "fusion": ("acme_fusion", "oracle_fusion"),
        "stampli": ("acme_stampli_sftp", "sftp"),
    }


def test_the_demo_config_is_the_example_with_two_tenants_enabled() -> None:
    """The demo runs the documented example: the two files differ only in ``enabled``, acme's
    stripe_netsuite retry delay of unmapped products (a minute in the demo), and comments."""
    example = yaml.safe_load(EXAMPLE.read_text())
    demo = yaml.safe_load(DEMO.read_text())
    assert [t.get("enabled", True) for t in example["tenants"]] == [False, False, False]
    assert [t.get("enabled", True) for t in demo["tenants"]] == [True, True, False]
    example_ns = example["tenants"][0]["integrations"]["stripe_netsuite"]
    demo_ns = demo["tenants"][0]["integrations"]["stripe_netsuite"]
    assert (example_ns.pop("enabled"), demo_ns.pop("enabled")) == (False, True)
    assert (
        example_ns["settings"].pop("unmapped_retry_after"),
        demo_ns["settings"].pop("unmapped_retry_after"),
    ) == (3600, 60)
    for tenant in demo["tenants"]:
        tenant.pop("enabled", None)
    for tenant in example["tenants"]:
        tenant.pop("enabled", None)
    assert demo == example


def test_demo_defaults_to_the_demo_config() -> None:
    from ml_connector_provider.cli import DEMO_CONFIG

    assert DEMO_CONFIG.resolve() == DEMO.resolve()


# The provider never imports the sandbox; run the CLI in a fresh interpreter in which
# `ml_connector_sandbox` cannot be imported, as when the distribution is not installed.
WITHOUT_SANDBOX = (
    "import sys\n"
    "sys.modules['ml_connector_sandbox'] = None  # import and find_spec now fail as for a missing package\n"
    "from ml_connector_provider.cli import main\n"
    "sys.exit(main(sys.argv[1:]))\n"
)


@pytest.mark.parametrize("command", ["demo", "sandbox"])
def test_demo_and_sandbox_say_what_to_install_without_the_sandbox(command: str) -> None:
    proc = subprocess.run(
        [sys.executable, "-c", WITHOUT_SANDBOX, command],
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )
    assert proc.returncode == 1, proc.stderr
    assert proc.stdout == ""
    assert proc.stderr == (
        f"ml-connector {command} needs the sandbox (local stand-ins of the external systems), "
        "which is not installed.\n"
        "Install it with:\n"
        "    pip install 'ml-connector-provider[sandbox]'\n"
        "or, from a checkout of the ml-connector repository:\n"
        "    pip install -e ./sandbox\n"
    )


def test_sandbox_command_serves_the_stand_ins_until_terminated() -> None:
    """`ml-connector sandbox` runs `python -m ml_connector_sandbox` and stops it with itself."""
    script = Path(sys.executable).with_name("ml-connector")
    process = subprocess.Popen(
        [str(script), "sandbox", "--json"],
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )
    try:
        assert process.stdout is not None
        lines: list[str] = []
        for line in process.stdout:
            lines.append(line)
            if line == "}\n":
                break
        document = json.loads("".join(lines))
        url = document["systems"]["fusion"]["url"]
        health = requests.get(url + "/__sandbox__/health", timeout=5).json()
        assert health == {"status": "ok", "system": "fusion"}
        assert sorted(document["systems"]) == ["fusion", "netsuite", "sftp", "stripe"]
        sftp = document["systems"]["sftp"]
        assert sftp["connection"]["extra"]["host_key"] == sftp["host_key"]
        sftp_root = Path(sftp["root"])
        assert sorted(p.name for p in sftp_root.iterdir()) == ["archive", "error", "outbound"]
        process.send_signal(signal.SIGTERM)
        assert process.wait(timeout=15) == 0
    finally:
        if process.poll() is None:
            process.kill()
            process.wait()
    with pytest.raises(requests.exceptions.ConnectionError):
        requests.get(url + "/__sandbox__/health", timeout=2)
    assert not sftp_root.exists()  # the SFTP server stopped with the command and removed its root


def test_table_output_is_aligned() -> None:
    from ml_connector_provider.cli import table

    out = io.StringIO()
    table([{"a": "x", "b": 10}, {"a": "longer", "b": None}], ["a", "b"], out)
    assert out.getvalue().splitlines() == ["a       b", "------  --", "x       10", "longer"]
