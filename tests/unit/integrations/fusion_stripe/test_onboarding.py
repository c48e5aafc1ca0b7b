"""The onboarding matcher (pure), its settings, the plan's text and JSON forms, and applying a plan
to a real SQLite ledger."""

from __future__ import annotations

from collections.abc import Mapping
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import pytest
from pydantic import ValidationError

from ml_connector_provider.engine.types import Action, RunRef, SourceRecord, StreamKey
from ml_connector_provider.integrations.fusion_stripe import SPEC
from ml_connector_provider.integrations.fusion_stripe.onboarding import (
    AMBIGUOUS_REASON_PREFIX,
    MatchAction,
    MatchRule,
    OnboardingPlan,
    SiteMatch,
    apply_onboarding,
    link_reason,
    match_customers,
    normalize_name,
    plan_to_json,
    render_plan,
)
from ml_connector_provider.integrations.fusion_stripe.settings import FusionStripeSettings
from ml_connector_provider.ledger import Ledger

META = "fusion_bill_to_site_use_id"


def site(
    n: int,
    name: str,
    *,
    email: str | None = None,
    country: str | None = "US",
    changed: datetime = datetime(2026, 3, 1, 10, tzinfo=UTC),
    **extra: Any,
) -> SourceRecord:
    """A Fusion bill-to site row as a source record: site use id 30000000000000<n>."""
    row: dict[str, Any] = {
        "BillToSiteUseId": 300000000000000 + n,
        "BillToSiteNumber": str(2000 + n),
        "AccountNumber": str(1000 + n),
        "CustomerName": name,
        "Status": "A",
        "BusinessUnit": "US1 Business Unit",
        "EmailAddress": email,
        "AddressLine1": "1 Main St",
        "City": "Springfield",
        "Country": country,
        "LastUpdateDate": "2026-03-01T10:00:00.000+00:00",
        **extra,
    }
    return SourceRecord(
        id=str(row["BillToSiteUseId"]),
        version=row["LastUpdateDate"],
        changed_at=changed,
        data=row,
        label=name,
    )


def sid(n: int) -> str:
    return str(300000000000000 + n)


def customer(
    cid: str,
    *,
    name: str | None = None,
    email: str | None = None,
    country: str | None = None,
    metadata: Mapping[str, str] | None = None,
    created: int = 1_700_000_000,
) -> dict[str, Any]:
    """A customer as the Stripe API returns it."""
    return {
        "id": cid,
        "object": "customer",
        "name": name,
        "email": email,
        "address": {"line1": "x", "country": country} if country else None,
        "metadata": dict(metadata or {}),
        "created": created,
    }


def settings(**onboarding: Any) -> FusionStripeSettings:
    return FusionStripeSettings.model_validate({"onboarding": onboarding})


def verdicts(plan: OnboardingPlan) -> dict[str, tuple[str, tuple[str, ...], str | None]]:
    return {
        m.site_use_id: (m.action.value, m.customer_ids, m.rule.value if m.rule else None)
        for m in plan.matches
    }


# -- rules ----------------------------------------------------------------------------------------


def test_email_matches_ignoring_case_and_spaces() -> None:
    plan = match_customers(
        [site(1, "Acme Inc.", email="AP@Acme.example")],
        [customer("cus_a", name="Something else", email=" ap@acme.EXAMPLE ")],
        settings(),
    )
    assert verdicts(plan) == {sid(1): ("link", ("cus_a",), "email")}
    assert plan.left_alone == ()


def test_email_needs_the_same_address() -> None:
    plan = match_customers(
        [site(1, "Acme Inc.", email="ap@acme.example")],
        [customer("cus_a", email="ap2@acme.example"), customer("cus_b", email="ap@acme.example.com")],
        settings(),
    )
    assert verdicts(plan) == {sid(1): ("create", (), None)}
    assert plan.left_alone == ("cus_a", "cus_b")


def test_name_country_matches_the_normalized_name_in_the_same_country() -> None:
    plan = match_customers(
        [site(1, "ACME,  Industrial-Supply Inc.", country="US")],
        [customer("cus_a", name="acme industrialsupply inc", country="us")],
        settings(),
    )
    assert verdicts(plan) == {sid(1): ("link", ("cus_a",), "name_country")}


def test_name_country_needs_the_same_country() -> None:
    plan = match_customers(
        [site(1, "Acme Inc.", country="US")],
        [customer("cus_a", name="Acme Inc.", country="CA")],
        settings(),
    )
    assert verdicts(plan) == {sid(1): ("create", (), None)}


def test_name_country_needs_a_country_on_both_sides() -> None:
    plan = match_customers(
        [site(1, "Acme Inc.", country=None), site(2, "Globex", country="US")],
        [customer("cus_a", name="Acme Inc.", country="US"), customer("cus_b", name="Globex")],
        settings(),
    )
    assert verdicts(plan) == {sid(1): ("create", (), None), sid(2): ("create", (), None)}


def test_email_rule_ignores_customers_and_sites_without_email() -> None:
    # No e-mail on either side is no match; the name rule still applies.
    plan = match_customers(
        [site(1, "Acme Inc."), site(2, "Globex", email="ap@globex.example")],
        [customer("cus_a", name="Acme Inc.", country="US"), customer("cus_b", name="Other")],
        settings(rules=["email"]),
    )
    assert verdicts(plan) == {sid(1): ("create", (), None), sid(2): ("create", (), None)}
    plan = match_customers(
        [site(1, "Acme Inc.")],
        [customer("cus_a", name="Acme Inc.", country="US")],
        settings(rules=["email", "name_country"]),
    )
    assert verdicts(plan) == {sid(1): ("link", ("cus_a",), "name_country")}


@pytest.mark.parametrize(
    ("left", "right", "same"),
    [
        ("Acme, Inc.", "ACME Inc", True),
        ("  Acme   Inc ", "acme inc", True),
        ("Ｍüller Präzisionstechnik", "müller präzisionstechnik", True),  # NFKC: fullwidth M
        ("Straße AG", "STRASSE AG", True),  # casefold: ß = ss
        ("O'Brien & Sons", "OBrien & Sons", True),  # & is punctuation (Po)
        ("Acme-Industrial", "Acme Industrial", False),  # removed, not replaced by a space
        ("Acme Inc", "Acme Ltd", False),
        ("ﬁnance co", "finance co", True),  # NFKC: the fi ligature
    ],
)
def test_normalize_name(left: str, right: str, same: bool) -> None:
    assert (normalize_name(left) == normalize_name(right)) is same


def test_normalize_name_of_nothing() -> None:
    assert normalize_name(None) == ""
    assert normalize_name(" ... ") == ""


# -- order of the rules ---------------------------------------------------------------------------


def test_metadata_comes_first_even_when_the_email_points_elsewhere() -> None:
    plan = match_customers(
        [site(1, "Acme Inc.", email="ap@acme.example")],
        [
            customer("cus_email", email="ap@acme.example"),
            customer("cus_meta", name="Old name", metadata={META: sid(1)}),
        ],
        settings(),
    )
    assert verdicts(plan) == {sid(1): ("link", ("cus_meta",), "metadata")}
    assert plan.left_alone == ("cus_email",)


def test_metadata_uses_the_tenants_prefix() -> None:
    tenant = FusionStripeSettings.model_validate({"customer_metadata_prefix": "erp_"})
    plan = match_customers(
        [site(1, "Acme")],
        [
            customer("cus_fusion", metadata={META: sid(1)}),
            customer("cus_erp", metadata={"erp_bill_to_site_use_id": sid(1)}),
        ],
        tenant,
    )
    assert verdicts(plan) == {sid(1): ("link", ("cus_erp",), "metadata")}
    assert plan.matches[0].reason == link_reason("cus_erp", "metadata erp_bill_to_site_use_id")


def test_explicit_links_win_over_every_rule() -> None:
    plan = match_customers(
        [site(1, "Acme Inc.", email="ap@acme.example")],
        [
            customer("cus_meta", metadata={META: sid(1)}),
            customer("cus_email", email="ap@acme.example"),
            customer("cus_chosen", name="Unrelated"),
        ],
        settings(links={sid(1): "cus_chosen"}),
    )
    assert verdicts(plan) == {sid(1): ("link", ("cus_chosen",), "links")}


def test_an_explicitly_linked_customer_is_no_candidate_for_other_sites() -> None:
    plan = match_customers(
        [site(1, "Acme Inc.", email="ap@acme.example"), site(2, "Acme Inc.", email="ap@acme.example")],
        [customer("cus_a", email="ap@acme.example")],
        settings(links={sid(1): "cus_a"}),
    )
    assert verdicts(plan) == {sid(1): ("link", ("cus_a",), "links"), sid(2): ("create", (), None)}


def test_an_explicit_link_to_a_customer_stripe_does_not_have_is_ambiguous() -> None:
    plan = match_customers(
        [site(1, "Acme Inc.", email="ap@acme.example")],
        [customer("cus_a", email="ap@acme.example")],
        settings(links={sid(1): "cus_gone"}),
    )
    assert verdicts(plan) == {sid(1): ("ambiguous", ("cus_gone",), "links")}
    reason = plan.matches[0].reason
    assert "cus_gone, which is not a live customer of this Stripe account" in reason
    assert (
        f"Correct fusion_stripe settings.onboarding.links: {{'{sid(1)}': 'cus_…'}} in the tenant config"
        in reason
    )
    assert reason.startswith(AMBIGUOUS_REASON_PREFIX)


def test_a_site_matched_by_an_earlier_rule_is_not_considered_by_later_ones() -> None:
    # Site 1 links by e-mail; its name would match cus_name, which stays free for nobody else.
    plan = match_customers(
        [site(1, "Acme Inc.", email="ap@acme.example")],
        [customer("cus_email", email="ap@acme.example"), customer("cus_name", name="Acme Inc", country="US")],
        settings(),
    )
    assert verdicts(plan) == {sid(1): ("link", ("cus_email",), "email")}
    assert plan.left_alone == ("cus_name",)


def test_an_ambiguous_site_does_not_fall_through_to_a_later_rule() -> None:
    plan = match_customers(
        [site(1, "Acme Inc.", email="ap@acme.example")],
        [
            customer("cus_1", email="ap@acme.example"),
            customer("cus_2", email="AP@acme.example"),
            customer("cus_name", name="Acme Inc.", country="US"),
        ],
        settings(),
    )
    assert verdicts(plan) == {sid(1): ("ambiguous", ("cus_1", "cus_2"), "email")}


def test_rules_run_in_the_configured_order() -> None:
    sites = [site(1, "Acme Inc.", email="ap@acme.example")]
    customers = [
        customer("cus_email", email="ap@acme.example"),
        customer("cus_name", name="Acme Inc.", country="US"),
    ]
    assert verdicts(match_customers(sites, customers, settings(rules=["name_country", "email"]))) == {
        sid(1): ("link", ("cus_name",), "name_country")
    }
    assert verdicts(match_customers(sites, customers, settings(rules=[]))) == {sid(1): ("create", (), None)}


def test_a_customer_linked_by_an_earlier_rule_is_no_candidate_for_a_later_one() -> None:
    plan = match_customers(
        [site(1, "Acme Inc.", email="ap@acme.example"), site(2, "Acme Inc.")],
        [customer("cus_a", name="Acme Inc.", email="ap@acme.example", country="US")],
        settings(),
    )
    assert verdicts(plan) == {sid(1): ("link", ("cus_a",), "email"), sid(2): ("create", (), None)}


def test_customers_carrying_another_sites_metadata_are_excluded() -> None:
    plan = match_customers(
        [site(1, "Acme Inc.", email="ap@acme.example")],
        [
            customer(
                "cus_other", name="Acme Inc.", email="ap@acme.example", country="US", metadata={META: sid(9)}
            ),
        ],
        settings(),
    )
    assert verdicts(plan) == {sid(1): ("create", (), None)}
    assert plan.left_alone == ("cus_other",)


def test_a_customer_carrying_another_sites_metadata_does_not_make_a_match_ambiguous() -> None:
    plan = match_customers(
        [site(1, "Acme Inc.", email="ap@acme.example"), site(2, "Acme West", email="ap@acme.example")],
        [
            customer("cus_2", email="ap@acme.example", metadata={META: sid(2)}),
            customer("cus_new", email="ap@acme.example"),
        ],
        settings(),
    )
    assert verdicts(plan) == {
        sid(1): ("link", ("cus_new",), "email"),
        sid(2): ("link", ("cus_2",), "metadata"),
    }


# -- ambiguity -------------------------------------------------------------------------------------


def test_several_candidates_are_ambiguous_and_all_named() -> None:
    plan = match_customers(
        [site(1, "Riverbend CU", email="ap@riverbend.example")],
        [
            customer("cus_new", email="ap@riverbend.example", created=1_700_000_500),
            customer("cus_old", email="AP@riverbend.example", created=1_700_000_100),
        ],
        settings(),
    )
    (match,) = plan.matches
    assert match.action is MatchAction.AMBIGUOUS
    assert match.customer_ids == ("cus_old", "cus_new")  # oldest first
    assert match.customer_id is None
    assert plan.left_alone == ()
    reason = match.reason
    assert "cus_old, cus_new" in reason
    assert f"site use {sid(1)} (account 1001, site 2001)" in reason
    assert "matched by email" in reason
    assert f"settings.onboarding.links: {{'{sid(1)}': 'cus_…'}}" in reason
    assert "remove the duplicates in Stripe" in reason
    assert "ml-connector dead-letters retry" in reason


def test_one_customer_matched_by_several_sites_is_ambiguous_for_each() -> None:
    plan = match_customers(
        [site(5, "Pinnacle Foods Co."), site(6, "Pinnacle Foods Co"), site(7, "Elsewhere")],
        [customer("cus_p", name="PINNACLE FOODS CO", country="US"), customer("cus_x", name="Unrelated")],
        settings(),
    )
    assert verdicts(plan) == {
        sid(5): ("ambiguous", ("cus_p",), "name_country"),
        sid(6): ("ambiguous", ("cus_p",), "name_country"),
        sid(7): ("create", (), None),
    }
    first, second, _ = plan.matches
    assert first.also_matched_by == (sid(6),)
    assert second.also_matched_by == (sid(5),)
    assert f"Fusion site(s) {sid(6)} match the same customer" in first.reason
    assert plan.left_alone == ("cus_x",)


def test_several_customers_with_one_sites_metadata_are_ambiguous() -> None:
    plan = match_customers(
        [site(1, "Acme")],
        [customer("cus_1", metadata={META: sid(1)}), customer("cus_2", metadata={META: sid(1)})],
        settings(),
    )
    assert verdicts(plan) == {sid(1): ("ambiguous", ("cus_1", "cus_2"), "metadata")}


def test_a_customer_contested_by_an_earlier_rule_is_not_linked_by_a_later_one() -> None:
    # Site 1 is ambiguous by e-mail between cus_1 and cus_2; site 2 matches cus_1 by name: guessing
    # that cus_1 is site 2's could take site 1's customer.
    plan = match_customers(
        [site(1, "Acme Inc.", email="ap@acme.example"), site(2, "Acme Holdings")],
        [
            customer("cus_1", name="Acme Holdings", email="ap@acme.example", country="US"),
            customer("cus_2", email="ap@acme.example"),
        ],
        settings(),
    )
    assert verdicts(plan) == {
        sid(1): ("ambiguous", ("cus_1", "cus_2"), "email"),
        sid(2): ("ambiguous", ("cus_1",), "name_country"),
    }
    assert plan.matches[1].also_matched_by == (sid(1),)


# -- what is compared ----------------------------------------------------------------------------


def test_sites_the_stream_does_not_write_are_left_out() -> None:
    plan = match_customers(
        [
            site(1, "Inactive", email="ap@x.example", Status="I"),
            site(2, "Elsewhere", email="ap@y.example", BusinessUnit="DE1 Business Unit"),
            site(3, "Active", email="ap@z.example"),
        ],
        [customer("cus_x", email="ap@x.example"), customer("cus_z", email="ap@z.example")],
        FusionStripeSettings.model_validate({"business_units": ["US1 Business Unit"]}),
    )
    assert verdicts(plan) == {sid(3): ("link", ("cus_z",), "email")}
    assert [(s.record.id, s.reason) for s in plan.not_synced] == [
        (sid(1), "bill-to site is inactive in Fusion"),
        (sid(2), "business unit DE1 Business Unit is not synced for this tenant"),
    ]
    assert plan.left_alone == ("cus_x",)


def test_deleted_customers_are_ignored_and_repeated_sites_count_once() -> None:
    plan = match_customers(
        [
            site(1, "Acme", email="ap@acme.example", changed=datetime(2026, 3, 2, tzinfo=UTC)),
            site(1, "Acme", email="old@acme.example"),
        ],
        [
            {"id": "cus_gone", "object": "customer", "deleted": True},
            customer("cus_a", email="ap@acme.example"),
        ],
        settings(),
    )
    # The site was read twice: its latest version (the new e-mail) is matched.
    assert verdicts(plan) == {sid(1): ("link", ("cus_a",), "email")}
    assert plan.customers_read == 1


def test_ledger_links_are_kept_and_their_customers_claimed() -> None:
    plan = match_customers(
        [site(1, "Acme", email="ap@acme.example"), site(2, "Acme", email="ap@acme.example")],
        [customer("cus_a", email="ap@acme.example")],
        settings(),
        linked={sid(1): "cus_a", sid(9): "cus_z"},
    )
    assert verdicts(plan) == {sid(1): ("link", ("cus_a",), "ledger"), sid(2): ("create", (), None)}


# -- settings --------------------------------------------------------------------------------------


def test_onboarding_settings_defaults() -> None:
    onboarding = FusionStripeSettings().onboarding
    assert onboarding.enabled is True
    assert onboarding.rules == ["email", "name_country"]
    assert onboarding.links == {}


def test_onboarding_links_accept_numeric_site_ids_from_yaml() -> None:
    parsed = settings(links={300000047112011: "cus_Abc123"})
    assert parsed.onboarding.links == {"300000047112011": "cus_Abc123"}


@pytest.mark.parametrize(
    ("onboarding", "message"),
    [
        ({"rules": ["email", "email"]}, "listed once"),
        ({"rules": ["phone"]}, "Input should be 'email' or 'name_country'"),
        ({"links": {"abc": "cus_1"}}, "not a Fusion bill-to site use id"),
        ({"links": {"1": "acct_1"}}, "not a Stripe customer id"),
        ({"links": {"1": "cus_1", "2": "cus_1"}}, "cus_1 is linked to several sites (1, 2)"),
        ({"enable": True}, "Extra inputs are not permitted"),
    ],
)
def test_onboarding_settings_refuse(onboarding: dict[str, Any], message: str) -> None:
    with pytest.raises(ValidationError, match=message.replace("(", r"\(").replace(")", r"\)")):
        settings(**onboarding)


def test_the_dry_run_param_is_declared() -> None:
    (param,) = [p for p in SPEC.params if p.name == "onboarding_dry_run"]
    assert param.schema == {"type": ["null", "boolean"]}
    assert param.description.startswith("customers task: print the onboarding plan")


# -- showing a plan --------------------------------------------------------------------------------


def _mixed_plan() -> OnboardingPlan:
    return match_customers(
        [
            site(1, "Acme Inc.", email="ap@acme.example"),
            site(2, "Blue Harbor"),
            site(3, "Riverbend", email="ap@riverbend.example"),
            site(4, "Inactive", Status="I"),
        ],
        [
            customer("cus_acme", email="AP@acme.example"),
            customer("cus_r1", email="ap@riverbend.example"),
            customer("cus_r2", email="ap@riverbend.example"),
            customer("cus_pos", name="Walk-in"),
        ],
        settings(),
    )


def test_render_plan() -> None:
    plan = _mixed_plan()
    text = render_plan(plan)
    lines = text.splitlines()
    assert lines[0].split() == ["site_use_id", "account", "site", "name", "action", "stripe", "rule"]
    assert lines[2].split() == [sid(1), "1001", "2001", "Acme", "Inc.", "link", "cus_acme", "email"]
    assert lines[3].split() == [sid(2), "1002", "2002", "Blue", "Harbor", "create"]
    assert lines[4].split() == [
        sid(3),
        "1003",
        "2003",
        "Riverbend",
        "ambiguous",
        "cus_r1,",
        "cus_r2",
        "email",
    ]
    assert (
        "1 to link, 1 to create, 1 ambiguous; 1 of 4 Stripe customer(s) left alone; 1 Fusion site(s) not synced"
        in text
    )
    assert "Ambiguous (dead-lettered by the customers stream until settled):" in text
    assert "cus_pos" not in text
    verbose = render_plan(plan, verbose=True)
    assert "Stripe customers left alone: cus_pos" in verbose
    assert f"- {sid(4)}: bill-to site is inactive in Fusion" in verbose


def test_plan_to_json() -> None:
    plan = _mixed_plan()
    document = plan_to_json(plan)
    assert document["summary"] == {
        "link": 1,
        "create": 1,
        "ambiguous": 1,
        "left_alone": 1,
        "stripe_customers": 4,
        "not_synced": 1,
    }
    assert document["left_alone"] == {"count": 1}
    first = document["sites"][0]
    assert first == {
        "site_use_id": sid(1),
        "account_number": "1001",
        "site_number": "2001",
        "name": "Acme Inc.",
        "action": "link",
        "stripe_ids": ["cus_acme"],
        "rule": "email",
        "reason": "linked existing Stripe customer cus_acme (matched by email)",
    }
    assert document["sites"][1]["rule"] is None
    verbose = plan_to_json(plan, verbose=True)
    assert verbose["left_alone"] == {"count": 1, "ids": ["cus_pos"]}
    assert verbose["not_synced"] == [{"site_use_id": sid(4), "reason": "bill-to site is inactive in Fusion"}]


# -- applying a plan -------------------------------------------------------------------------------


def test_apply_writes_links_without_payload_hash_and_keeps_existing_ones(tmp_path: Path) -> None:
    ledger = Ledger(f"sqlite:///{tmp_path / 'ledger.db'}")
    ledger.migrate()
    key = StreamKey("acme", "fusion_stripe", "customers")
    plan = match_customers(
        [
            site(1, "Acme Inc.", email="ap@acme.example"),
            site(2, "Blue Harbor"),
            site(3, "Riverbend", email="ap@riverbend.example"),
            site(5, "Northwind", email="ap@northwind.example"),
        ],
        [
            customer("cus_acme", email="AP@acme.example"),
            customer("cus_blue", name="BLUE HARBOR", country="US"),
            customer("cus_r1", email="ap@riverbend.example"),
            customer("cus_r2", email="ap@riverbend.example"),
            customer("cus_north", email="ap@northwind.example"),
        ],
        settings(),
    )
    # The sync linked site 5 meanwhile (to the customer it created): onboarding leaves it.
    from ml_connector_provider.engine.types import Outcome

    ledger.commit_batch(
        key,
        RunRef("scheduled__1"),
        [
            Outcome(
                plan.matches[3].site.record,
                Action.CREATED,
                "fusion",
                "stripe",
                "cus_created",
                payload_hash="h",
            )
        ],
    )
    result = apply_onboarding(plan, ledger, key, RunRef("onboard-20260301T100000Z"))
    assert [m.site_use_id for m in result.linked] == [sid(1), sid(2)]
    assert [(m.site_use_id, target) for m, target in result.kept] == [(sid(5), "cus_created")]
    assert [m.site_use_id for m in result.ambiguous] == [sid(3)]
    links = ledger.get_links(key, [sid(n) for n in (1, 2, 3, 5)])
    assert {k: (v.target_id, v.payload_hash) for k, v in links.items()} == {
        sid(1): ("cus_acme", None),
        sid(2): ("cus_blue", None),
        sid(5): ("cus_created", "h"),
    }
    assert links[sid(1)].source_version == "2026-03-01T10:00:00.000+00:00"
    audit = ledger.query_audit(tenant="acme", run_id="onboard-20260301T100000Z")
    assert sorted((a.source_id, a.action, a.target_id, a.reason) for a in audit) == [
        (sid(1), Action.SKIPPED, "cus_acme", "linked existing Stripe customer cus_acme (matched by email)"),
        (
            sid(2),
            Action.SKIPPED,
            "cus_blue",
            "linked existing Stripe customer cus_blue (matched by name and country)",
        ),
    ]
    assert ledger.list_dead_letters(tenant="acme") == []


def test_apply_of_an_empty_plan_writes_nothing(tmp_path: Path) -> None:
    ledger = Ledger(f"sqlite:///{tmp_path / 'ledger.db'}")
    ledger.migrate()
    key = StreamKey("acme", "fusion_stripe", "customers")
    result = apply_onboarding(OnboardingPlan(matches=()), ledger, key, RunRef("onboard-x"))
    assert result.linked == result.kept == result.ambiguous == ()
    assert ledger.query_audit(tenant="acme") == []


def test_site_match_reason_for_create() -> None:
    plan = match_customers([site(1, "Acme")], [], settings())
    (match,) = plan.matches
    assert isinstance(match, SiteMatch)
    assert match.rule is None
    assert match.reason == "no existing Stripe customer matches; a new one is created"
    assert MatchRule("name_country") is MatchRule.NAME_COUNTRY
