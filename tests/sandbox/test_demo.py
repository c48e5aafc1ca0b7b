"""The demo (``ml-connector demo``, what ``make demo`` runs): the provider starts the sandbox's demo,
which drives the provider only through the ``airflow`` and ``ml-connector`` commands."""

from __future__ import annotations

import json
import subprocess
import sys
from collections import Counter
from pathlib import Path

import pytest


def test_demo_help_from_the_command_line() -> None:
    result = subprocess.run(
        [sys.executable, "-m", "ml_connector_sandbox", "demo", "--help"],
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )
    assert result.returncode == 0, result.stderr
    assert result.stdout.startswith("usage: python -m ml_connector_sandbox demo")
    for option in ("--config", "--workdir", "--json"):
        assert option in result.stdout


def test_demo_needs_a_config() -> None:
    result = subprocess.run(
        [sys.executable, "-m", "ml_connector_sandbox", "demo"],
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )
    assert result.returncode == 2
    assert "the following arguments are required: --config" in result.stderr


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
    # acme: 8 customers (4 skipped): 2 link customers the Stripe account already had (onboarding),
    # 1 is ambiguous (dead-lettered), 5 are created; 7 invoices; 6 paid + 1 refund posted,
    # subscriptions 2 cycles. globex syncs every business unit: 9 customers (6 created), 9
    # invoices, 8 paid + 1 refund.
    # Stampli: 4 invoices from the first exports, then the new export's one and, once its supplier
    # exists, the invoice of the vendor that was not set up; acme also exports its reference data.
    assert created == {
        ("acme", "fusion_stripe/customers"): 5,
        ("acme", "fusion_stripe/invoices"): 7,
        ("acme", "fusion_stripe/payments"): 7,
        ("acme", "fusion_stripe/subscriptions"): 2,
        ("acme", "stampli_fusion/invoices"): 6,
        ("acme", "stampli_fusion/reference_data"): 3,
        ("globex", "fusion_stripe/customers"): 6,
        ("globex", "fusion_stripe/invoices"): 9,
        ("globex", "fusion_stripe/payments"): 9,
        ("globex", "fusion_stripe/subscriptions"): 2,
        ("globex", "stampli_fusion/invoices"): 6,
    }
    # What stays dead-lettered: the customer onboarding cannot tell apart (two Stripe customers
    # share its e-mail), the payment naming a Fusion invoice that does not exist, the Stampli
    # invoice with an impossible date, and the Stampli file missing a column (a dead letter of the
    # whole file), once per tenant.
    open_by_stream = Counter((r["tenant"], r["stream"]) for r in report["dead_letters"])
    assert open_by_stream == {
        (tenant, stream): 2 if stream == "stampli_fusion/invoices" else 1
        for tenant in ("acme", "globex")
        for stream in ("fusion_stripe/customers", "fusion_stripe/payments", "stampli_fusion/invoices")
    }
    stampli_dead = [r for r in report["dead_letters"] if r["stream"] == "stampli_fusion/invoices"]
    stampli_records = [r for r in stampli_dead if not r["source"].startswith("file:")]
    stampli_files = [r for r in stampli_dead if r["source"].startswith("file:")]
    assert {r["source"] for r in stampli_records} == {"1002/HV-2026-031"}
    assert all("column 'Invoice Date'" in r["reason"] for r in stampli_records)
    assert len(stampli_files) == 2  # one per tenant
    assert all("lacks the required column 'Currency'" in r["reason"] for r in stampli_files), stampli_files
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
    # The operator's retry went through `ml-connector dead-letters retry` against the demo's ledger.
    retried = [a["what"] for a in report["activity"] if "dead-letters retry" in a["what"]]
    assert (
        retried
        # the invoice of the vendor now set up, the one with an impossible date, and the file missing
        # a column (read again and rejected again)
        == ["operator ran `ml-connector dead-letters retry` for stampli_fusion: 3 dead letter(s) due now"] * 2
    )
    # Before the first runs each tenant's Stripe account holds customers of its own, and
    # `ml-connector onboard` (a dry run, exit code 1 for the ambiguous site) says what the first
    # sync will link, create and leave alone.
    assert len(report["before_first_run"]) == 8
    plans = {plan["tenant"]: plan for plan in report["onboarding"]}
    assert set(plans) == {"acme", "globex"}
    for plan in plans.values():
        assert plan["applied"] is False
        summary = plan["summary"]
        assert (summary["link"], summary["ambiguous"], summary["left_alone"]) == (2, 1, 1)
        assert sorted(s["rule"] for s in plan["sites"] if s["action"] == "link") == ["email", "name_country"]
    # Each tenant's SFTP stand-in receives that tenant's later exports.
    uploads = [
        (a["tenant"], a["what"]) for a in report["activity"] if a["what"].endswith("uploaded to /outbound")
    ]
    assert len(uploads) == 4
    for tenant, what in uploads:
        assert what.startswith(f"STAMPLI_{tenant}_"), (tenant, what)


def test_scenario_amounts_use_stripe_exponents() -> None:
    from ml_connector_sandbox.scenarios import _money

    assert _money(123456, "usd") == "1234.56 USD"
    assert _money(399690, "jpy") == "399690 JPY"
    assert _money(12500, "bhd") == "12.500 BHD"
    assert _money(5, "eur") == "0.05 EUR"
