"""Onboarding against the Fusion and Stripe stand-ins over HTTP: the plan from the seeded Fusion
sites and pre-existing Stripe customers, its links in a real SQLite ledger, the re-check of one
site, and ``ml-connector onboard`` (dry run and ``--apply``)."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest
from ml_connector_sandbox import SandboxRunner

from ml_connector_provider.cli import main
from ml_connector_provider.engine.types import Action, Outcome, RunRef, StreamKey
from ml_connector_provider.hooks.oracle_fusion import OracleFusionHook
from ml_connector_provider.hooks.stripe import StripeHook
from ml_connector_provider.integrations.fusion_stripe.onboarding import (
    MatchAction,
    ambiguous_dead_letters,
    apply_onboarding,
    ledger_claims,
    plan_onboarding,
    rematch_site,
    rematch_sites,
)
from ml_connector_provider.integrations.fusion_stripe.settings import FusionStripeSettings
from ml_connector_provider.ledger import Ledger
from tests.integration.fusion_stripe.conftest import CONN_IDS

KEY = StreamKey("acme", "fusion_stripe", "customers")


def site(n: int) -> str:
    """The use id of seeded Fusion site ``n`` (see the stand-in's ``seed_customers``)."""
    return str(300000047112000 + n)


ACME, BLUE_HARBOR, CEDAR, NORTHWIND, PINNACLE_CHI, PINNACLE_COL, MUELLER, TRI_COUNTY = (
    site(n) for n in range(1, 9)
)
SUMMIT, GOLDEN_GATE, RIVERBEND, EVERGREEN = (site(n) for n in range(9, 13))


def seed_stripe(hook: StripeHook) -> dict[str, str]:
    """Customers the Stripe account had before the connector; name → Stripe id."""
    customers: dict[str, dict[str, Any]] = {
        # e-mail of Acme's site, in another case
        "acme": {"name": "ACME Industrial (old import)", "email": "AP@Acme-Industrial.example.com"},
        # Northwind's site has no e-mail: name (case differs) and country
        "north": {"name": "NORTHWIND ANALYTICS CORP.", "address": {"line1": "1 Federal St", "country": "US"}},
        # both Pinnacle sites have this name and country
        "pinnacle": {"name": "Pinnacle Foods Distribution Co.", "address": {"country": "US"}},
        # Müller's name with other punctuation and spacing, in Germany
        "mueller": {"name": "Müller  Präzisionstechnik, GmbH", "address": {"country": "DE"}},
        # already tagged with the Tri-County site's Fusion metadata
        "tagged": {"name": "TCHC", "metadata": {"fusion_bill_to_site_use_id": TRI_COUNTY}},
        # two customers share Riverbend's e-mail
        "river1": {"name": "Riverbend CU", "email": "vendor.payments@riverbendcu.example.org"},
        "river2": {"name": "Riverbend Credit Union", "email": "vendor.payments@riverbendcu.example.org"},
        # nothing in Fusion
        "pos": {"name": "Walk-in customer", "email": "pos@example.com"},
        # Blue Harbor's e-mail, but deleted
        "gone": {"name": "Blue Harbor", "email": "billing@blueharbor.example.com"},
    }
    ids = {
        label: str(hook.create_customer(params, idempotency_key=f"seed-{label}")["id"])
        for label, params in customers.items()
    }
    hook.client.v1.customers.delete(ids["gone"])
    return ids


@pytest.fixture
def hooks(stand_ins: SandboxRunner) -> tuple[OracleFusionHook, StripeHook]:
    return OracleFusionHook(CONN_IDS["fusion"]), StripeHook(CONN_IDS["stripe"])


@pytest.fixture
def stripe_ids(stand_ins: SandboxRunner, hooks: tuple[OracleFusionHook, StripeHook]) -> dict[str, str]:
    ids = seed_stripe(hooks[1])
    # The account had these customers long before the connector: search has indexed them.
    stand_ins.system("stripe").clock.advance(3600)
    return ids


@pytest.fixture
def ledger(tmp_path: Path) -> Ledger:
    ledger = Ledger(f"sqlite:///{tmp_path / 'ledger.db'}")
    ledger.migrate()
    return ledger


def test_plan_and_apply_over_http(
    hooks: tuple[OracleFusionHook, StripeHook], stripe_ids: dict[str, str], ledger: Ledger
) -> None:
    fusion, stripe = hooks
    plan = plan_onboarding(fusion, stripe, FusionStripeSettings())
    got = {m.site_use_id: (m.action, m.customer_ids, m.rule and m.rule.value) for m in plan.matches}
    ids = stripe_ids
    assert got == {
        ACME: (MatchAction.LINK, (ids["acme"],), "email"),
        BLUE_HARBOR: (MatchAction.CREATE, (), None),
        NORTHWIND: (MatchAction.LINK, (ids["north"],), "name_country"),
        PINNACLE_CHI: (MatchAction.AMBIGUOUS, (ids["pinnacle"],), "name_country"),
        PINNACLE_COL: (MatchAction.AMBIGUOUS, (ids["pinnacle"],), "name_country"),
        MUELLER: (MatchAction.LINK, (ids["mueller"],), "name_country"),
        TRI_COUNTY: (MatchAction.LINK, (ids["tagged"],), "metadata"),
        GOLDEN_GATE: (MatchAction.CREATE, (), None),
        # created in the same second: oldest first, then by id
        RIVERBEND: (MatchAction.AMBIGUOUS, tuple(sorted((ids["river1"], ids["river2"]))), "email"),
    }
    assert plan.left_alone == (ids["pos"],)
    assert plan.customers_read == 8
    assert sorted(s.record.id for s in plan.not_synced) == [CEDAR, SUMMIT, EVERGREEN]
    assert plan.match_for(PINNACLE_CHI) is not None
    assert PINNACLE_COL in plan.match_for(PINNACLE_CHI).reason  # type: ignore[union-attr]

    result = apply_onboarding(plan, ledger, KEY, RunRef("onboard-test"))
    assert [m.site_use_id for m in result.ambiguous] == [PINNACLE_CHI, PINNACLE_COL, RIVERBEND]
    links = ledger.get_links(KEY, [m.site_use_id for m in plan.matches])
    assert {k: (v.target_id, v.payload_hash, v.source_system, v.target_system) for k, v in links.items()} == {
        ACME: (ids["acme"], None, "fusion", "stripe"),
        NORTHWIND: (ids["north"], None, "fusion", "stripe"),
        MUELLER: (ids["mueller"], None, "fusion", "stripe"),
        TRI_COUNTY: (ids["tagged"], None, "fusion", "stripe"),
    }
    audit = {a.source_id: a for a in ledger.query_audit(tenant="acme", run_id="onboard-test")}
    assert set(audit) == set(links)
    assert audit[ACME].action is Action.SKIPPED
    assert audit[ACME].reason == f"linked existing Stripe customer {ids['acme']} (matched by email)"
    assert audit[ACME].source_label == "1001 2001 Acme Industrial Supply Inc."

    # Planned again with the ledger: the links are the ledger's now, and applying changes nothing.
    again = plan_onboarding(fusion, stripe, FusionStripeSettings(), ledger=ledger, key=KEY)
    assert {m.site_use_id for m in again.links if m.rule and m.rule.value == "ledger"} == set(links)
    second = apply_onboarding(again, ledger, KEY, RunRef("onboard-again"))
    assert second.linked == ()
    assert ledger.query_audit(tenant="acme", run_id="onboard-again") == []


def test_business_units_and_rules_of_the_tenant(
    hooks: tuple[OracleFusionHook, StripeHook], stripe_ids: dict[str, str]
) -> None:
    settings = FusionStripeSettings.model_validate(
        {"business_units": ["US1 Business Unit"], "onboarding": {"rules": ["email"]}}
    )
    plan = plan_onboarding(*hooks, settings)
    assert MUELLER in {s.record.id for s in plan.not_synced}
    assert {m.site_use_id for m in plan.links} == {ACME, TRI_COUNTY}
    assert {m.site_use_id for m in plan.ambiguous} == {RIVERBEND}
    assert set(plan.left_alone) == {stripe_ids[k] for k in ("north", "pinnacle", "mueller", "pos")}


def fusion_row(sandbox: SandboxRunner, site_use_id: str) -> dict[str, Any]:
    rows: list[dict[str, Any]] = sandbox.system("fusion").customers()  # type: ignore[attr-defined]
    return next(r for r in rows if str(r["BillToSiteUseId"]) == site_use_id)


def test_rematch_one_site(
    stand_ins: SandboxRunner, hooks: tuple[OracleFusionHook, StripeHook], stripe_ids: dict[str, str]
) -> None:
    _, stripe = hooks
    settings = FusionStripeSettings()
    riverbend = fusion_row(stand_ins, RIVERBEND)
    match = rematch_site(riverbend, stripe, settings)
    assert (match.action, match.customer_ids) == (
        MatchAction.AMBIGUOUS,
        tuple(sorted((stripe_ids["river1"], stripe_ids["river2"]))),
    )
    # The operator deletes the duplicate: the retry links the one left (lists are consistent).
    stripe.client.v1.customers.delete(stripe_ids["river2"])
    match = rematch_site(riverbend, stripe, settings)
    assert (match.action, match.customer_id, match.rule and match.rule.value) == (
        MatchAction.LINK,
        stripe_ids["river1"],
        "email",
    )
    # …unless the ledger gave that customer to another site meanwhile.
    claimed = {stripe_ids["river1"]: GOLDEN_GATE}
    match = rematch_site(riverbend, stripe, settings, claimed_by=claimed.get)
    assert match.action is MatchAction.CREATE

    # Both Pinnacle sites match one customer. A retry that sees only one of them would hand it
    # the customer; with the other site's open dead letter in view it stays ambiguous.
    pinnacle = fusion_row(stand_ins, PINNACLE_COL)
    alone = rematch_site(pinnacle, stripe, settings)
    assert (alone.action, alone.customer_id) == (MatchAction.LINK, stripe_ids["pinnacle"])
    other = fusion_row(stand_ins, PINNACLE_CHI)
    match = rematch_site(pinnacle, stripe, settings, competing=[other, pinnacle])
    assert (match.action, match.customer_ids, match.also_matched_by) == (
        MatchAction.AMBIGUOUS,
        (stripe_ids["pinnacle"],),
        (PINNACLE_CHI,),
    )
    both = rematch_sites([pinnacle, other], stripe, settings)
    assert {k: m.action for k, m in both.items()} == {
        PINNACLE_COL: MatchAction.AMBIGUOUS,
        PINNACLE_CHI: MatchAction.AMBIGUOUS,
    }

    # An explicit link wins; one naming a deleted customer is reported, not followed.
    linked = FusionStripeSettings.model_validate({"onboarding": {"links": {PINNACLE_COL: stripe_ids["pos"]}}})
    match = rematch_site(pinnacle, stripe, linked)
    assert (match.action, match.customer_id, match.rule and match.rule.value) == (
        MatchAction.LINK,
        stripe_ids["pos"],
        "links",
    )
    gone = FusionStripeSettings.model_validate({"onboarding": {"links": {PINNACLE_COL: stripe_ids["gone"]}}})
    match = rematch_site(pinnacle, stripe, gone)
    assert match.action is MatchAction.AMBIGUOUS
    assert "not a live customer of this Stripe account" in match.reason

    # Name and country through search: the whole name, ignoring case only (documented).
    north = rematch_site(fusion_row(stand_ins, NORTHWIND), stripe, settings)
    assert (north.action, north.customer_id) == (MatchAction.LINK, stripe_ids["north"])
    mueller = rematch_site(fusion_row(stand_ins, MUELLER), stripe, settings)
    assert mueller.action is MatchAction.CREATE  # "Müller  Präzisionstechnik, GmbH" is another name to search
    # Metadata through search.
    tagged = rematch_site(fusion_row(stand_ins, TRI_COUNTY), stripe, settings)
    assert (tagged.action, tagged.customer_id, tagged.rule and tagged.rule.value) == (
        MatchAction.LINK,
        stripe_ids["tagged"],
        "metadata",
    )


def test_rematch_with_ledger_claims(
    stand_ins: SandboxRunner,
    hooks: tuple[OracleFusionHook, StripeHook],
    stripe_ids: dict[str, str],
    ledger: Ledger,
) -> None:
    fusion, stripe = hooks
    plan = plan_onboarding(fusion, stripe, FusionStripeSettings())
    result = apply_onboarding(plan, ledger, KEY, RunRef("onboard-1"))
    # What the customers stream does with the ambiguous sites: dead-letter them with the reason.
    outcomes = [
        Outcome(m.site.record, Action.DEAD_LETTERED, "fusion", "stripe", reason=m.reason)
        for m in result.ambiguous
    ]
    outcomes.append(
        Outcome(plan.creates[0].site.record, Action.DEAD_LETTERED, "fusion", "stripe", reason="other")
    )
    ledger.commit_batch(KEY, RunRef("scheduled__1"), outcomes)
    waiting = ambiguous_dead_letters(ledger, KEY)
    assert [r.id for r in waiting] == [PINNACLE_CHI, PINNACLE_COL, RIVERBEND]
    retried = rematch_sites(
        [fusion_row(stand_ins, PINNACLE_COL)],
        stripe,
        FusionStripeSettings(),
        claimed_by=ledger_claims(ledger, KEY),
        competing=waiting,
    )
    assert set(retried) == {PINNACLE_COL}
    assert retried[PINNACLE_COL].action is MatchAction.AMBIGUOUS
    assert retried[PINNACLE_COL].also_matched_by == (PINNACLE_CHI,)

    claims = ledger_claims(ledger, KEY)
    assert claims(stripe_ids["acme"]) == ACME
    assert claims(stripe_ids["pos"]) is None
    # A second Acme site with the same e-mail: the customer belongs to the first one.
    fusion_system: Any = stand_ins.system("fusion")
    new = fusion_system.upsert_customer(
        CustomerName="Acme Industrial Supply Inc.",
        AccountNumber="1001",
        BillToSiteNumber="2099",
        EmailAddress="ap@acme-industrial.example.com",
        Country="US",
    )
    match = rematch_site(new, stripe, FusionStripeSettings(), claimed_by=claims)
    assert match.action is MatchAction.CREATE


CONFIG = """\
version: 1
tenants:
  - id: acme
    name: ACME Corp
    integrations:
      fusion_stripe:
        connections: {fusion: acme_fusion, stripe: acme_stripe}
        settings:
          onboarding:
            links: %s
"""


def write_config(tmp_path: Path, links: dict[str, str] | None = None) -> Path:
    path = tmp_path / "tenants.yaml"
    path.write_text(CONFIG % json.dumps(links or {}))
    return path


def test_cli_dry_run_writes_nothing(
    tmp_path: Path, stripe_ids: dict[str, str], capsys: pytest.CaptureFixture[str]
) -> None:
    config = write_config(tmp_path)
    missing = tmp_path / "no-ledger.db"
    code = main(
        ["onboard", "--tenant", "acme", "--config", str(config), "--ledger-url", f"sqlite:///{missing}"]
    )
    out = capsys.readouterr().out
    assert code == 1  # ambiguous matches
    assert not missing.exists()
    lines = out.splitlines()
    assert lines[0] == "Onboarding plan of tenant acme (fusion_stripe customers; dry run, nothing written)"
    rows = {line.split()[0]: line.split() for line in lines if line[:15].isdigit()}
    assert rows[ACME][:4] == [ACME, "1001", "2001", "Acme"]
    assert rows[ACME][-3:] == ["link", stripe_ids["acme"], "email"]
    assert rows[BLUE_HARBOR][-1] == "create"
    # The candidates are listed oldest first (by Stripe's creation second, then id).
    verdict, first, second, rule = rows[RIVERBEND][-4:]
    assert (verdict, rule) == ("ambiguous", "email")
    assert first.endswith(",")
    assert {first.rstrip(","), second} == {stripe_ids["river1"], stripe_ids["river2"]}
    assert "4 to link, 2 to create, 3 ambiguous; 1 of 8 Stripe customer(s) left alone" in out
    assert stripe_ids["pos"] not in out
    assert "Nothing was written. Run again with --apply" in out

    # With an existing ledger: still nothing written, and --verbose names what is left alone.
    ledger_path = tmp_path / "ledger.db"
    existing = Ledger(f"sqlite:///{ledger_path}")
    existing.migrate()
    existing.dispose()
    before = ledger_path.read_bytes()
    code = main(
        [
            "onboard",
            "--tenant",
            "acme",
            "--config",
            str(config),
            "--ledger-url",
            f"sqlite:///{ledger_path}",
            "--verbose",
            "--json",
        ]
    )
    document = json.loads(capsys.readouterr().out)
    assert code == 1
    assert ledger_path.read_bytes() == before
    assert {p.name for p in tmp_path.iterdir()} == {"tenants.yaml", "ledger.db"}
    assert document["applied"] is False
    assert document["summary"] == {
        "link": 4,
        "create": 2,
        "ambiguous": 3,
        "left_alone": 1,
        "stripe_customers": 8,
        "not_synced": 3,
    }
    assert document["left_alone"] == {"count": 1, "ids": [stripe_ids["pos"]]}
    assert "ledger" not in document


def test_cli_apply_then_settle_with_links(
    tmp_path: Path, stripe_ids: dict[str, str], capsys: pytest.CaptureFixture[str]
) -> None:
    url = f"sqlite:///{tmp_path / 'ledger.db'}"
    args = ["onboard", "--tenant", "acme", "--ledger-url", url, "--apply"]
    code = main([*args, "--config", str(write_config(tmp_path)), "--json"])
    document = json.loads(capsys.readouterr().out)
    assert code == 1
    assert document["applied"] is True
    assert document["run_id"].startswith("onboard-")
    assert document["ledger"] == {"linked": [ACME, NORTHWIND, MUELLER, TRI_COUNTY], "kept": []}
    ledger = Ledger(url)
    assert {k: v.target_id for k, v in ledger.get_links(KEY, [ACME, RIVERBEND]).items()} == {
        ACME: stripe_ids["acme"]
    }

    # The operator settles the ambiguous sites in the tenant config.
    settled = write_config(tmp_path, {PINNACLE_CHI: stripe_ids["pinnacle"], RIVERBEND: stripe_ids["river2"]})
    code = main([*args, "--config", str(settled)])
    out = capsys.readouterr().out
    assert code == 0
    assert "Wrote 2 link(s) into the ledger" in out
    assert "4 site(s) the ledger had linked already were left as they were" in out
    links = ledger.get_links(KEY, [PINNACLE_CHI, PINNACLE_COL, RIVERBEND])
    assert {k: v.target_id for k, v in links.items()} == {
        PINNACLE_CHI: stripe_ids["pinnacle"],
        RIVERBEND: stripe_ids["river2"],
    }
    # The other Pinnacle site no longer competes for that customer: it gets its own.
    assert [line.split()[-1] for line in out.splitlines() if line.startswith(PINNACLE_COL)] == ["create"]


def test_cli_needs_a_known_tenant(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    code = main(["onboard", "--tenant", "globex", "--config", str(write_config(tmp_path))])
    assert code == 1
    assert "not found: tenant 'globex'" in capsys.readouterr().err
