"""The demo (``ml-connector demo``, what ``make demo`` runs): the provider starts the sandbox's demo,
which drives the provider only through the ``airflow`` and ``ml-connector`` commands."""

from __future__ import annotations

import json
import re
import subprocess
import sys
from collections import Counter
from decimal import ROUND_HALF_UP, Decimal
from pathlib import Path
from typing import Any

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
        timeout=600,
        check=False,
    )
    assert proc.returncode == 0, proc.stdout[-3000:] + proc.stderr[-3000:]
    report = json.loads(proc.stdout)
    assert [(d["dag_id"], d["ok"]) for d in report["dags"]] == [
        ("mlc__acme__fusion_stripe", True),
        ("mlc__acme__stampli_fusion", True),
        ("mlc__acme__stripe_netsuite", True),
        ("mlc__globex__fusion_stripe", True),
        ("mlc__globex__stampli_fusion", True),
        ("mlc__acme__fusion_stripe, 2nd run", True),
        ("mlc__acme__stampli_fusion, 2nd run", True),
        ("mlc__acme__stripe_netsuite, 2nd run", True),
        ("mlc__acme__stripe_netsuite, 3rd run", True),
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
    # acme's stripe_netsuite reads the same Stripe account: a NetSuite customer for each of its 10
    # Stripe customers (5 of its own, 5 fusion_stripe created) and the 2 who buy later; invoices
    # for the USD and JPY charges, the 2 paid subscription invoices and, after its item exists,
    # the charge of the unmapped product; a credit memo per refund.
    assert created == {
        ("acme", "stripe_netsuite/customers"): 12,
        ("acme", "stripe_netsuite/invoices"): 5,
        ("acme", "stripe_netsuite/refunds"): 2,
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
    # whole file), once per tenant. At acme, stripe_netsuite also sees the Stripe activity of
    # fusion_stripe's scenario: the card payment naming AR-99999 (no product) and the two invoices
    # of the "Platform subscription" (a product NetSuite has no item for) stay unmapped, and the
    # partial refund of a Fusion-billed Stripe invoice waits for a NetSuite invoice that never
    # comes (the invoices stream skips payments of non-subscription invoices; the refunds stream
    # does not skip their refunds yet).
    open_by_stream = Counter((r["tenant"], r["stream"]) for r in report["dead_letters"])
    assert open_by_stream == {
        **{
            (tenant, stream): 2 if stream == "stampli_fusion/invoices" else 1
            for tenant in ("acme", "globex")
            for stream in ("fusion_stripe/customers", "fusion_stripe/payments", "stampli_fusion/invoices")
        },
        ("acme", "stripe_netsuite/invoices"): 3,
        ("acme", "stripe_netsuite/refunds"): 1,
    }
    netsuite_dead = [r for r in report["dead_letters"] if r["stream"].startswith("stripe_netsuite/")]
    assert all(
        r["reason"].startswith("unmapped product ") and "prod_DemoWorkshop" not in r["reason"]
        for r in netsuite_dead
        if r["stream"] == "stripe_netsuite/invoices"
    ), netsuite_dead
    assert all(
        "is not posted yet" in r["reason"] and "stripe-in_" in r["reason"]
        for r in netsuite_dead
        if r["stream"] == "stripe_netsuite/refunds"
    ), netsuite_dead
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
        "stripe_netsuite/customers": "netsuite:",
        "stripe_netsuite/invoices": "netsuite:",
        "stripe_netsuite/refunds": "netsuite:",
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
    assert len(report["before_first_run"]) == 12  # 4 per tenant for fusion_stripe, 4 products at acme
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

    assert_stripe_netsuite(report)


def assert_stripe_netsuite(report: dict[str, Any]) -> None:
    """acme's stripe_netsuite in the demo's report and in what NetSuite holds afterwards."""
    sales = [a["what"] for a in report["activity"] if a["integration"] == "stripe_netsuite"]
    charges: dict[str, tuple[str, int, int, str]] = {}  # product → (charge, amount, fee, currency)
    for line in sales:
        found = re.search(
            r"paid (\d+(?:\.\d+)?) ([A-Z]{3}) by card for (prod_\w+) \(charge (ch_\w+), "
            r"Stripe fee (\d+(?:\.\d+)?) [A-Z]{3}\)",
            line,
        )
        if found:
            amount, currency, product, charge, fee = found.groups()
            charges[product] = (charge, _minor(amount), _minor(fee), currency)
    assert set(charges) == {"prod_SeedProAnnual", "prod_SeedOnboarding", "prod_DemoWorkshop"}, sales

    posted = [t for t in report["netsuite_transactions"] if t["tenant"] == "acme"]
    assert not [t for t in report["netsuite_transactions"] if t["tenant"] != "acme"]
    by_type = Counter(t["type"] for t in posted)
    assert by_type == {"invoice": 5, "customerpayment": 5, "creditmemo": 2}, by_type
    invoices = {t["external_id"]: t for t in posted if t["type"] == "invoice"}
    assert all(t["target"] == f"netsuite:{t['type']}/{t['id']}" for t in posted)
    # Each posted invoice is the target of one created record of the invoices stream.
    invoice_targets = {
        r["target"]
        for r in report["records"]
        if r["stream"] == "stripe_netsuite/invoices" and r["action"] == "created"
    }
    assert invoice_targets == {f"netsuite:{t['id']}" for t in invoices.values()}
    # Paid: a customer payment applied to each invoice, nothing left open.
    payments = [t for t in posted if t["type"] == "customerpayment"]
    assert sorted(p["applied_to"][0] for p in payments) == sorted(t["id"] for t in invoices.values())
    assert all(t["open"] is not None and Decimal(t["open"]) == 0 for t in invoices.values()), invoices

    # The net amount charged, exact in the charge's currency: JPY has no minor unit.
    for product, (charge, amount, fee, currency) in charges.items():
        invoice = invoices[f"stripe-{charge}"]
        assert invoice["currency"] == currency
        exponent = 0 if currency == "JPY" else 2
        expected = Decimal(amount - fee).scaleb(-exponent)
        assert Decimal(invoice["total"]) == expected, (product, invoice)
        assert sum(Decimal(line["amount"]) for line in invoice["lines"]) == expected
        if currency == "JPY":
            assert invoice["total"] == str(amount - fee)  # no decimals on a yen invoice
    # The two paid invoices of the subscription to prod_SeedProMonthly.
    assert len([eid for eid in invoices if eid.startswith("stripe-in_")]) == 2

    # The unmapped product: dead-lettered by the 2nd run, created by the automatic retry of the 3rd
    # once the finance team added its item; no dead letter of it stays open.
    unmapped = [
        r
        for r in report["records"]
        if r["stream"] == "stripe_netsuite/invoices" and "prod_DemoWorkshop" in (r["reason"] or "")
    ]
    assert unmapped, "the charge of the unmapped product was never dead-lettered"
    workshop = [r for r in report["records"] if r["source"] == unmapped[0]["source"]]
    assert [r["action"] for r in workshop][:1] == ["dead_lettered"], workshop
    assert workshop[-1]["action"] == "created", workshop
    workshop_invoice = invoices["stripe-" + charges["prod_DemoWorkshop"][0]]
    assert workshop[-1]["target"] == f"netsuite:{workshop_invoice['id']}"
    assert workshop_invoice["lines"][0]["item"] == "Implementation Workshop"
    assert any("finance team added NetSuite item" in line for line in sales)

    # A credit memo per refund, created from the refunded invoice: the JPY charge in full, a
    # quarter of the USD one.
    memos = {t["created_from"]: t for t in posted if t["type"] == "creditmemo"}
    jpy = invoices[f"stripe-{charges['prod_SeedOnboarding'][0]}"]
    usd = invoices[f"stripe-{charges['prod_SeedProAnnual'][0]}"]
    assert set(memos) == {jpy["id"], usd["id"]}
    assert memos[jpy["id"]]["total"] == jpy["total"]
    assert memos[usd["id"]]["total"] == str(
        (Decimal(usd["total"]) / 4).quantize(Decimal("0.01"), rounding=ROUND_HALF_UP)
    )


def _minor(text: str) -> int:
    return int(text.replace(".", ""))


def test_scenario_amounts_use_stripe_exponents() -> None:
    from ml_connector_sandbox.scenarios import _money

    assert _money(123456, "usd") == "1234.56 USD"
    assert _money(399690, "jpy") == "399690 JPY"
    assert _money(12500, "bhd") == "12.500 BHD"
    assert _money(5, "eur") == "0.05 EUR"
