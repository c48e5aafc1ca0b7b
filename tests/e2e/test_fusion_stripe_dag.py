"""The ``fusion_stripe`` DAG, run with ``dag.test()`` in a real Airflow metadata DB, against the
Oracle Fusion and Stripe stand-ins over HTTP.

Everything here is real: the DAG built by the factory from a tenant YAML, Airflow's task runner,
the operator, the engine, the hooks (OAuth token, paging, Stripe SDK) and the ledger. The only
thing the test controls is the stand-ins' data and faults.
"""

from __future__ import annotations

from typing import Any

import pytest
from ml_connector_sandbox.faults import FaultRule
from ml_connector_sandbox.runner import SandboxRunner

from ml_connector_provider.ledger import Ledger
from tests.harness.airflow_dags import run_dag as harness_run_dag
from tests.harness.airflow_dags import stream_summary

pytestmark = pytest.mark.airflow_db

DAG_ID = "mlc__acme__fusion_stripe"
SITE_KEY = "fusion_bill_to_site_use_id"
CONFIG = """\
version: 1
defaults:
  retries: 0
  sync: {overlap: 600, lag: 0, batch_size: 4}
tenants:
  - id: acme
    name: ACME Corp
    integrations:
      fusion_stripe:
        schedule: null
        connections: {fusion: acme_fusion, stripe: acme_stripe}
        streams: {invoices: false}
"""


def run_dag(conf: dict[str, Any] | None = None) -> str:
    return harness_run_dag(DAG_ID, conf)


def summary(ledger: Ledger, run_id: str) -> dict[str, Any]:
    return stream_summary(ledger, "acme", run_id, "customers")


def stripe_by_site(sandbox: SandboxRunner) -> dict[str, list[dict[str, Any]]]:
    by_site: dict[str, list[dict[str, Any]]] = {}
    for customer in sandbox.system("stripe").customers():  # type: ignore[attr-defined]
        by_site.setdefault(customer["metadata"][SITE_KEY], []).append(customer)
    return by_site


def fusion_sites(sandbox: SandboxRunner) -> list[dict[str, Any]]:
    with sandbox.system("fusion").state as db:
        return [dict(r) for r in db["receivablesCustomerAccountSiteActivities"]]


def assert_in_sync(sandbox: SandboxRunner, ledger: Ledger) -> None:
    """Every active Fusion site has exactly one Stripe customer with its current data, linked."""
    sites = fusion_sites(sandbox)
    active = {str(s["BillToSiteUseId"]): s for s in sites if s.get("Status", "A") == "A"}
    by_site = stripe_by_site(sandbox)
    assert set(by_site) == set(active)
    assert all(len(customers) == 1 for customers in by_site.values()), {
        k: [c["id"] for c in v] for k, v in by_site.items() if len(v) > 1
    }
    from ml_connector_provider.engine.types import StreamKey

    links = ledger.get_links(StreamKey("acme", "fusion_stripe", "customers"), list(active))
    for site_id, site in active.items():
        [customer] = by_site[site_id]
        assert links[site_id].target_id == customer["id"]
        assert customer["name"] == site["CustomerName"]
        assert (customer.get("email") or None) == (site.get("EmailAddress") or None)


def test_first_run_creates_every_active_customer(sandbox: SandboxRunner, ledger: Ledger) -> None:
    run_id = run_dag()
    counts = summary(ledger, run_id)
    assert (counts["read"], counts["created"], counts["skipped"], counts["dead_lettered"]) == (12, 9, 3, 0)
    assert counts["window"] is not None
    assert_in_sync(sandbox, ledger)
    audit = ledger.query_audit(tenant="acme", run_id=run_id, action="created")
    assert len(audit) == 9
    assert all(row.target_id and row.target_id.startswith("cus_") for row in audit)
    assert all(row.source_system == "fusion" and row.target_system == "stripe" for row in audit)


def test_second_run_moves_nothing(sandbox: SandboxRunner, ledger: Ledger) -> None:
    before = {c["id"] for c in sandbox.system("stripe").customers()}  # type: ignore[attr-defined]
    counts = summary(ledger, run_dag())
    assert (counts["created"], counts["updated"]) == (0, 0)
    assert {c["id"] for c in sandbox.system("stripe").customers()} == before  # type: ignore[attr-defined]


def test_changes_flow_through_token_expiry_429_and_503(sandbox: SandboxRunner, ledger: Ledger) -> None:
    fusion, stripe = sandbox.system("fusion"), sandbox.system("stripe")
    site = fusion_sites(sandbox)[0]
    fusion.upsert_customer(BillToSiteUseId=site["BillToSiteUseId"], EmailAddress="billing@changed.example")  # type: ignore[attr-defined]
    fusion.upsert_customer(
        CustomerName="Harbor Freight Partners", AccountNumber="2001", City="Tacoma", Country="US"
    )  # type: ignore[attr-defined]
    fusion.tokens.expire_all()
    fusion.faults.add(FaultRule.rate_limit(path="receivablesCustomerAccountSiteActivities", retry_after=0))
    fusion.faults.add(FaultRule.unavailable(path="receivablesCustomerAccountSiteActivities"))
    stripe.faults.add(
        FaultRule.rate_limit(path="^/v1/customers$", method="POST", headers={"Stripe-Should-Retry": "true"})
    )
    stripe.faults.add(FaultRule.unavailable(path="^/v1/customers/cus_", method="POST"))

    counts = summary(ledger, run_dag())
    assert (counts["created"], counts["updated"]) == (1, 1)
    assert_in_sync(sandbox, ledger)
    applied = [s for s in fusion.faults.status() + stripe.faults.status() if s["applied"]]  # type: ignore[operator]
    assert len(applied) == 4, "every injected fault was hit"


def test_dead_letter_posts_after_the_record_is_fixed(sandbox: SandboxRunner, ledger: Ledger) -> None:
    fusion = sandbox.system("fusion")
    row = fusion.upsert_customer(CustomerName="Nordlicht Handel AG", AccountNumber="3001", Country="Germany")  # type: ignore[attr-defined]
    site_id = str(row["BillToSiteUseId"])
    counts = summary(ledger, run_dag())
    assert counts["dead_lettered"] == 1
    [letter] = ledger.list_dead_letters(tenant="acme")
    assert (letter.source_id, letter.reason) == (
        site_id,
        "country 'GERMANY' is not an ISO 3166-1 alpha-2 code (field Country)",
    )
    assert site_id not in stripe_by_site(sandbox)

    fusion.upsert_customer(BillToSiteUseId=row["BillToSiteUseId"], Country="DE")  # type: ignore[attr-defined]
    counts = summary(ledger, run_dag({"record_ids": [site_id]}))
    assert (counts["mode"], counts["created"]) == ("replay_ids", 1)
    assert ledger.list_dead_letters(tenant="acme") == []
    assert_in_sync(sandbox, ledger)
