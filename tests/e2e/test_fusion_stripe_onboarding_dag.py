"""A tenant whose Stripe account already has customers: the first sync links them, never copies them.

The ``fusion_stripe`` DAG runs with ``dag.test()`` against the Fusion and Stripe stand-ins. Before
the first run the Stripe account holds customers an earlier process created: one with a Fusion
site's e-mail, one with a site's name and country, two sharing one site's e-mail, and one unrelated.
"""

from __future__ import annotations

from typing import Any

import pytest
import stripe as stripe_sdk
from ml_connector_sandbox.runner import SandboxRunner

from ml_connector_provider.engine.types import StreamKey
from ml_connector_provider.ledger import Ledger
from tests.harness.airflow_dags import rewrite_config, stream_summary
from tests.harness.airflow_dags import run_dag as harness_run_dag

pytestmark = pytest.mark.airflow_db

DAG_ID = "mlc__acme__fusion_stripe"
SITE_KEY = "fusion_bill_to_site_use_id"
CUSTOMERS = StreamKey("acme", "fusion_stripe", "customers")
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
        streams: {invoices: false, payments: false, subscriptions: false}
"""


def site(n: int) -> str:
    """The use id of seeded Fusion site ``n`` (the stand-in's ``seed_customers``)."""
    return str(300000047112000 + n)


ACME, NORTHWIND, RIVERBEND = site(1), site(4), site(11)


def client(sandbox: SandboxRunner) -> stripe_sdk.StripeClient:
    return stripe_sdk.StripeClient(
        sandbox.system("stripe").secret_key,  # type: ignore[attr-defined]
        base_addresses={"api": sandbox.url("stripe")},
    )


def stripe_customers(sandbox: SandboxRunner) -> list[dict[str, Any]]:
    return list(sandbox.system("stripe").customers())  # type: ignore[attr-defined]


@pytest.fixture(scope="module")
def existing(sandbox: SandboxRunner) -> dict[str, str]:
    """The Stripe account's customers before the connector: label → id."""
    params: dict[str, dict[str, Any]] = {
        "acme": {"name": "ACME Industrial (old import)", "email": "AP@Acme-Industrial.example.com"},
        "north": {"name": "NORTHWIND ANALYTICS CORP.", "address": {"line1": "1 Federal St", "country": "US"}},
        "river1": {"name": "Riverbend CU", "email": "vendor.payments@riverbendcu.example.org"},
        "river2": {"name": "Riverbend Credit Union", "email": "vendor.payments@riverbendcu.example.org"},
        "pos": {"name": "Walk-in customer", "email": "pos@example.com"},
    }
    api = client(sandbox)
    return {label: api.v1.customers.create(params=p).id for label, p in params.items()}


def test_the_dry_run_shows_the_plan_and_changes_nothing(
    sandbox: SandboxRunner, ledger: Ledger, existing: dict[str, str]
) -> None:
    before = stripe_customers(sandbox)
    seq = sandbox.system("stripe").requests.entries()[-1].seq
    harness_run_dag(DAG_ID, {"onboarding_dry_run": True})
    assert stripe_customers(sandbox) == before
    writes = [e for e in sandbox.system("stripe").requests.entries(since=seq) if e.method == "POST"]
    assert writes == []
    assert ledger.get_cursor(CUSTOMERS) is None
    assert ledger.get_links(CUSTOMERS, [ACME, NORTHWIND, RIVERBEND]) == {}


def test_the_first_sync_links_existing_customers_and_holds_the_ambiguous_site(
    sandbox: SandboxRunner, ledger: Ledger, existing: dict[str, str]
) -> None:
    run_id = harness_run_dag(DAG_ID)
    counts = stream_summary(ledger, "acme", run_id, "customers")
    assert counts["dead_lettered"] == 1
    links = ledger.get_links(CUSTOMERS, [ACME, NORTHWIND, RIVERBEND])
    assert links[ACME].target_id == existing["acme"]
    assert links[NORTHWIND].target_id == existing["north"]
    assert RIVERBEND not in links
    [letter] = ledger.list_dead_letters(tenant="acme")
    assert letter.source_id == RIVERBEND
    assert existing["river1"] in letter.reason
    assert existing["river2"] in letter.reason
    assert "onboarding.links" in letter.reason

    by_id = {c["id"]: c for c in stripe_customers(sandbox)}
    # The linked customers now carry Fusion's data and metadata; nothing was copied.
    assert by_id[existing["acme"]]["metadata"][SITE_KEY] == ACME
    assert by_id[existing["north"]]["metadata"][SITE_KEY] == NORTHWIND
    assert by_id[existing["pos"]]["metadata"] == {}
    per_site: dict[str, int] = {}
    for customer in by_id.values():
        owner = (customer.get("metadata") or {}).get(SITE_KEY)
        if owner:
            per_site[owner] = per_site.get(owner, 0) + 1
    assert all(n == 1 for n in per_site.values()), per_site
    assert RIVERBEND not in per_site


def test_the_operator_names_the_customer_and_the_retry_links_it(
    sandbox: SandboxRunner, ledger: Ledger, existing: dict[str, str]
) -> None:
    rewrite_config(
        CONFIG
        + "        settings:\n"
        + "          onboarding:\n"
        + f"            links: {{'{RIVERBEND}': {existing['river2']}}}\n"
    )
    ledger.retry_dead_letters_now(tenant="acme")
    run_id = harness_run_dag(DAG_ID)
    counts = stream_summary(ledger, "acme", run_id, "customers")
    assert counts["dead_letters_recovered"] == 1
    assert ledger.get_links(CUSTOMERS, [RIVERBEND])[RIVERBEND].target_id == existing["river2"]
    assert ledger.list_dead_letters(tenant="acme") == []
    river1 = next(c for c in stripe_customers(sandbox) if c["id"] == existing["river1"])
    assert SITE_KEY not in (river1.get("metadata") or {})
