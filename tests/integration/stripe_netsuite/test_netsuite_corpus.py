"""The NetSuite bad-input corpus (``tests/corpus/netsuite/``) over real HTTP against the stand-ins.

* ``errors/*.json``: an error answer of NetSuite, served by the stand-in's fault framework in place
  of the first sale's invoice upsert, mid-run. ``expect: dead_letter`` (once): that sale is a dead
  letter naming its record and NetSuite's message, the other sale posts. ``expect: fails``
  (forever; not a data problem): the task fails with a typed NetSuite error and nothing is
  dead-lettered. Fields: ``status``, ``body`` (JSON, a string, or ``null``), ``content_type``,
  ``reason`` (a part of the dead letter's reason or of the error), ``max_reason_length``.
* ``suiteql/*.json``: a value a look-up writes into a SuiteQL query (``value``, or
  ``value_repeat: [text, n]``). ``expect: escaped``: the query reaches NetSuite and finds exactly
  the customer of that name (seeded), never another row; ``expect: refused``: the hook refuses it
  with :class:`NetSuiteValueError` naming ``reason`` before any request.
* ``stripe/*.json``: input from Stripe for this integration. ``event``: a broken event listed next
  to a real charge's (``"__CREATED__"`` is the real event's ``created``), dead-lettered naming
  ``field``; ``charge``: a real one-time charge whose data the mapping refuses (``__PRODUCT__`` is
  a mapped product), dead-lettered with ``reason``. Either way the real charge posts.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest
import stripe
from ml_connector_sandbox import FaultRule, SandboxRunner

from ml_connector_provider.hooks.netsuite import NetSuiteHook, NetSuiteValueError
from ml_connector_provider.integrations.stripe_netsuite.streams import StripeSalesToNetSuiteInvoices
from ml_connector_provider.ledger import Ledger
from tests.integration.stripe_netsuite.conftest import CONN_IDS, netsuite
from tests.integration.stripe_netsuite.test_streams import (
    INVOICES,
    PRO_ANNUAL,
    by_external_id,
    one_time_charge,
    run,
    settings,
)

CORPUS = Path(__file__).parents[2] / "corpus" / "netsuite"


def _cases(kind: str) -> list[str]:
    return sorted(path.stem for path in (CORPUS / kind).glob("*.json"))


def _load(kind: str, name: str) -> dict[str, Any]:
    case: dict[str, Any] = json.loads((CORPUS / kind / f"{name}.json").read_text(encoding="utf-8"))
    return case


def _dead_letters(ledger: Ledger) -> list[Any]:
    return ledger.list_dead_letters(
        tenant=INVOICES.tenant, integration=INVOICES.integration, stream=INVOICES.stream
    )


def _two_sales(client: stripe.StripeClient) -> tuple[str, str, str, str]:
    """Two one-time charges of a mapped product: their charge ids, the product, the first's intent."""
    customer = client.v1.customers.create(params={"name": "Corpus Ltd"}).id
    product = client.v1.products.create(params={"name": "Pro annual"}).id
    first = one_time_charge(client, customer, 10_000, product)
    second = one_time_charge(client, customer, 20_000, product)
    charges = [str(client.v1.payment_intents.retrieve(i.id).latest_charge) for i in (first, second)]
    return charges[0], charges[1], product, first.id


@pytest.mark.parametrize("name", _cases("errors"))
def test_a_netsuite_error_body_mid_run(
    stand_ins: SandboxRunner, client: stripe.StripeClient, ledger: Ledger, name: str
) -> None:
    case = _load("errors", name)
    hit, other, product, hit_intent = _two_sales(client)
    forever = case["expect"] == "fails"
    netsuite(stand_ins).faults.add(
        FaultRule(
            kind="status",
            status=case["status"],
            body=case["body"],
            content_type=case.get("content_type"),
            path=f"^/services/rest/record/v1/invoice/eid:stripe-{hit}$",
            method="PUT",
            times=None if forever else 1,
        )
    )
    config = settings(items={product: PRO_ANNUAL})

    if forever:
        with pytest.raises(Exception) as raised:
            run(StripeSalesToNetSuiteInvoices, ledger, config, "run-1")
        error = raised.value
        assert type(error).__module__.startswith("ml_connector_provider"), repr(error)
        assert "NetSuite" in type(error).__name__, repr(error)
        assert case["reason"] in str(error), str(error)
        assert not _dead_letters(ledger)
        assert f"stripe-{hit}" not in by_external_id(stand_ins, "invoice")
        return

    summary = run(StripeSalesToNetSuiteInvoices, ledger, config, "run-1")
    assert (summary.created, summary.dead_lettered) == (1, 1), summary
    [dead] = _dead_letters(ledger)
    # The record is the hit sale (its payment intent is the source id), and NetSuite's own words
    # are in the reason.
    assert dead.source_id == hit_intent, dead
    assert case["reason"] in dead.reason, dead.reason[:500]
    if "max_reason_length" in case:
        assert len(dead.reason) <= case["max_reason_length"], len(dead.reason)
    # The neighbour posted, and the hit one posts on the retry once NetSuite accepts it.
    assert f"stripe-{other}" in by_external_id(stand_ins, "invoice")
    assert f"stripe-{hit}" not in by_external_id(stand_ins, "invoice")


def _value(case: dict[str, Any]) -> str:
    if "value_repeat" in case:
        text, times = case["value_repeat"]
        return str(text) * int(times)
    return str(case["value"])


@pytest.mark.parametrize("name", _cases("suiteql"))
def test_a_suiteql_value_is_escaped_or_refused_never_injected(stand_ins: SandboxRunner, name: str) -> None:
    case = _load("suiteql", name)
    value = _value(case)
    system = netsuite(stand_ins)
    hook = NetSuiteHook(CONN_IDS["netsuite"])
    try:
        if case["expect"] == "refused":
            before = len(system.requests.entries(path="suiteql"))
            with pytest.raises(NetSuiteValueError) as refused:
                hook.find_one("customer", "companyname", value, ("id", "companyname"))
            assert case["reason"] in str(refused.value), str(refused.value)
            assert len(system.requests.entries(path="suiteql")) == before, "a refused value was sent"
            return
        # Nobody has that name: nothing is found (an injected OR would find every customer).
        assert hook.find_one("customer", "companyname", value, ("id", "companyname")) is None
        # A customer of exactly that name: found, and only it.
        system.write("customer", {"companyName": value, "subsidiary": {"id": "1"}, "externalId": "corpus-ql"})
        row = hook.find_one("customer", "companyname", value, ("id", "companyname", "externalid"))
        assert row is not None
        assert row["companyname"] == value
        assert row["externalid"] == "corpus-ql"
    finally:
        hook.close()


@pytest.mark.parametrize("name", _cases("stripe"))
def test_stripe_input_for_this_integration_is_dead_lettered_and_the_rest_posts(
    stand_ins: SandboxRunner, client: stripe.StripeClient, ledger: Ledger, name: str
) -> None:
    case = _load("stripe", name)
    customer = client.v1.customers.create(params={"name": "Corpus Inc"}).id
    product = client.v1.products.create(params={"name": "Pro annual"}).id
    good = one_time_charge(client, customer, 15_000, product)
    good_charge = str(client.v1.payment_intents.retrieve(good.id).latest_charge)
    config = settings(items={product: PRO_ANNUAL})
    stripe_sb: Any = stand_ins.system("stripe")

    if "event" in case:
        [real] = [e for e in stripe_sb.events("charge.succeeded") if e["data"]["object"]["id"] == good_charge]
        broken = json.loads(json.dumps(case["event"]).replace('"__CREATED__"', str(real["created"])))
        page = {"object": "list", "url": "/v1/events", "has_more": False, "data": [broken, real]}
        stripe_sb.faults.add(FaultRule.error(200, path="^/v1/events$", body=page, times=None))
        summary = run(StripeSalesToNetSuiteInvoices, ledger, config, "run-1")
        [dead] = _dead_letters(ledger)
        assert dead.reason.strip(), dead
        assert case["field"] in dead.reason, dead.reason
    else:
        spec = json.loads(json.dumps(case["charge"]).replace("__PRODUCT__", product))
        bad = client.v1.payment_intents.create(
            params={**spec, "customer": customer, "payment_method": "pm_card_visa", "confirm": True}
        )
        summary = run(StripeSalesToNetSuiteInvoices, ledger, config, "run-1")
        [dead] = _dead_letters(ledger)
        assert dead.source_id == bad.id
        assert case["reason"] in dead.reason, dead.reason
    assert summary.created == 1, summary
    assert f"stripe-{good_charge}" in by_external_id(stand_ins, "invoice")
