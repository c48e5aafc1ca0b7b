"""The ``ml-connector`` command line, run in-process and as the installed console script."""

from __future__ import annotations

import io
import json
import subprocess
import sys
from collections import Counter
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest

from ml_connector_provider.cli import main
from ml_connector_provider.engine.core import SyncEngine, SyncOptions
from ml_connector_provider.engine.types import RunRef, StreamKey
from ml_connector_provider.ledger import Ledger
from tests.unit.engine.memory import MemorySource, MemoryStream, MemoryTarget

EXAMPLE = Path(__file__).resolve().parents[2] / "config" / "tenants.example.yaml"


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
    assert out.splitlines()[2].split()[-6:] == ["3", "2", "0", "0", "0", "1"]


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


@pytest.mark.slow
def test_demo_runs_every_integration_and_reports_what_moved(tmp_path: Path) -> None:
    """`ml-connector demo` (what `make demo` runs), as a user would start it."""
    script = Path(sys.executable).with_name("ml-connector")
    proc = subprocess.run(
        [str(script), "demo", "--json", "--workdir", str(tmp_path / "demo")],
        capture_output=True,
        text=True,
        timeout=300,
        check=False,
    )
    assert proc.returncode == 0, proc.stdout[-3000:] + proc.stderr[-3000:]
    report = json.loads(proc.stdout)
    assert [(d["dag_id"], d["ok"]) for d in report["dags"]] == [
        ("mlc__acme__fusion_stripe", True),
        ("mlc__acme__stampli_fusion", True),
        ("mlc__globex__fusion_stripe", True),
        ("mlc__globex__stampli_fusion", True),
        ("mlc__acme__fusion_stripe, 2nd run", True),
        ("mlc__acme__stampli_fusion, 2nd run", True),
        ("mlc__globex__fusion_stripe, 2nd run", True),
        ("mlc__globex__stampli_fusion, 2nd run", True),
    ]
    created: dict[tuple[str, str], int] = {}
    for row in report["streams"]:
        key = (row["tenant"], f"{row['integration']}/{row['stream']}")
        created[key] = created.get(key, 0) + row["created"]
    # acme: 8 customers (4 skipped), 7 invoices; 6 paid + 1 refund posted, subscriptions 2 cycles.
    # globex syncs every business unit: 9 customers, 9 invoices, 8 paid + 1 refund.
    # Stampli: 4 invoices from the first exports, then the new export's one and, once its supplier
    # exists, the invoice of the vendor that was not set up; acme also exports its reference data.
    assert created == {
        ("acme", "fusion_stripe/customers"): 8,
        ("acme", "fusion_stripe/invoices"): 7,
        ("acme", "fusion_stripe/payments"): 7,
        ("acme", "fusion_stripe/subscriptions"): 2,
        ("acme", "stampli_fusion/invoices"): 6,
        ("acme", "stampli_fusion/reference_data"): 3,
        ("globex", "fusion_stripe/customers"): 9,
        ("globex", "fusion_stripe/invoices"): 9,
        ("globex", "fusion_stripe/payments"): 9,
        ("globex", "fusion_stripe/subscriptions"): 2,
        ("globex", "stampli_fusion/invoices"): 6,
    }
    # What stays dead-lettered: the payment naming a Fusion invoice that does not exist, and the
    # Stampli invoice with an impossible date, once per tenant.
    open_by_stream = Counter((r["tenant"], r["stream"]) for r in report["dead_letters"])
    assert open_by_stream == {
        (tenant, stream): 1
        for tenant in ("acme", "globex")
        for stream in ("fusion_stripe/payments", "stampli_fusion/invoices")
    }
    stampli_dead = [r for r in report["dead_letters"] if r["stream"] == "stampli_fusion/invoices"]
    assert {r["source"] for r in stampli_dead} == {"1002/HV-2026-031"}
    assert all("column 'Invoice Date'" in r["reason"] for r in stampli_dead)
    prefixes = {
        "fusion_stripe/customers": "stripe:cus_",
        "fusion_stripe/invoices": "stripe:in_",
        "fusion_stripe/payments": "fusion:",
        "fusion_stripe/subscriptions": "fusion:",
        "stampli_fusion/invoices": "fusion:",
        "stampli_fusion/reference_data": "stampli:/inbound/",
    }
    created_records = [record for record in report["records"] if record["action"] == "created"]
    assert {record["stream"] for record in created_records} == set(prefixes)
    for record in created_records:
        assert record["target"].startswith(prefixes[record["stream"]]), record
    assert any("AR-99999" in a["what"] for a in report["activity"])
    assert any("set up in Fusion" in a["what"] for a in report["activity"])


def test_table_output_is_aligned() -> None:
    from ml_connector_provider.cli import table

    out = io.StringIO()
    table([{"a": "x", "b": 10}, {"a": "longer", "b": None}], ["a", "b"], out)
    assert out.getvalue().splitlines() == ["a       b", "------  --", "x       10", "longer"]
