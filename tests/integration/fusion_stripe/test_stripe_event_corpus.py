"""The Stripe event corpus (``tests/corpus/stripe/*.json``) through the payments stream's reading
and mapping, over real HTTP: each broken event, listed by the Stripe stand-in next to a real one,
ends in a dead letter naming the event and the field, and the real event's payment is read and
mapped to its journal as if the broken one were not there.

A corpus file holds ``event`` (``"__CREATED__"`` stands for the real event's ``created``, so the
broken one lies in the same window), ``field`` (the field the dead letter names) and ``reason``
(a part of its text).
"""

from __future__ import annotations

import json
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest
import stripe
from ml_connector_sandbox import FaultRule, SandboxRunner
from ml_connector_sandbox.systems.fusion.receivables import SEEDED_INVOICES

from ml_connector_provider.engine.types import DeadLetter, StreamKey, Window, Write
from ml_connector_provider.hooks.oracle_fusion import OracleFusionHook
from ml_connector_provider.hooks.stripe import StripeHook
from ml_connector_provider.integrations.fusion_stripe.payments import StripePaymentsToFusionJournals
from ml_connector_provider.integrations.fusion_stripe.settings import FusionStripeSettings
from ml_connector_provider.ledger import Ledger
from tests.integration.fusion_stripe.conftest import CONN_IDS

CORPUS = Path(__file__).parents[2] / "corpus" / "stripe"
CASES = sorted(path.stem for path in CORPUS.glob("*.json"))
GL = {
    "ledger_id": "300000046975971",
    "ledger_name": "US Primary Ledger",
    "data_access_set_id": "300000046975980",
    "journal_source": "Stripe",
    "cash_clearing_account": "101-000-11250-000-000",
    "ar_suspense_account": "101-000-12990-000-000",
    "fee_account": "101-000-65110-000-000",
    "subscription_revenue_account": "101-000-40100-000-000",
}


def _load(name: str, created: int) -> dict[str, Any]:
    text = (CORPUS / f"{name}.json").read_text(encoding="utf-8")
    case: dict[str, Any] = json.loads(text.replace('"__CREATED__"', str(created)))
    return case


@pytest.fixture
def paid(stand_ins: SandboxRunner) -> dict[str, Any]:
    """A succeeded payment of a seeded Fusion invoice, and its ``payment_intent.succeeded`` event."""
    system: Any = stand_ins.system("stripe")
    client = stripe.StripeClient(
        system.secret_key, base_addresses={"api": stand_ins.url("stripe")}, max_network_retries=0
    )
    number = next(iter(SEEDED_INVOICES))
    intent = client.v1.payment_intents.create(
        params={
            "amount": 125000,
            "currency": "usd",
            "payment_method": "pm_card_visa",
            "confirm": True,
            "metadata": {"fusion_transaction_number": number},
        }
    )
    [event] = [e for e in system.events("payment_intent.succeeded") if e["data"]["object"]["id"] == intent.id]
    return event


@pytest.fixture
def stream(stand_ins: SandboxRunner, tmp_path: Path) -> StripePaymentsToFusionJournals:
    settings = FusionStripeSettings.model_validate({"gl": GL})
    assert settings.gl is not None
    ledger = Ledger(f"sqlite:///{tmp_path / 'ledger.db'}")
    ledger.migrate()
    return StripePaymentsToFusionJournals(
        StripeHook(CONN_IDS["stripe"]),
        OracleFusionHook(CONN_IDS["fusion"]),
        settings,
        settings.gl,
        ledger,
        StreamKey("acme", "fusion_stripe", "payments"),
    )


@pytest.mark.parametrize("name", CASES)
def test_a_broken_event_is_dead_lettered_and_the_page_goes_on(
    stand_ins: SandboxRunner, paid: dict[str, Any], stream: StripePaymentsToFusionJournals, name: str
) -> None:
    case = _load(name, paid["created"])
    broken = case["event"]
    page = {"object": "list", "url": "/v1/events", "has_more": False, "data": [broken, paid]}
    stand_ins.system("stripe").faults.add(FaultRule.error(200, path="^/v1/events$", body=page, times=None))
    when = datetime.fromtimestamp(paid["created"], tz=UTC)

    records = [
        r
        for batch in stream.read(Window(when - timedelta(minutes=5), when + timedelta(minutes=5)))
        for r in batch
    ]
    lookups = stream.prepare(records, {})
    verdicts = {record.id: stream.map(record, lookups) for record in records}

    broken_id = broken.get("id") if isinstance(broken.get("id"), str) else "#0"
    payment_id = paid["data"]["object"]["id"]
    assert set(verdicts) == {f"event:{broken_id}", payment_id}
    dead = verdicts[f"event:{broken_id}"]
    assert isinstance(dead, DeadLetter)
    assert dead.field == case["field"]
    assert dead.reason.startswith(f"Stripe event {broken_id}: ")
    assert case["reason"] in dead.reason, dead.reason
    # The rest of the page: the real payment maps to its journal.
    journal = verdicts[payment_id]
    assert isinstance(journal, Write), journal
    assert payment_id in json.dumps(journal.payload)


def test_a_reference_no_fusion_filter_can_hold_is_dead_lettered(
    stand_ins: SandboxRunner, paid: dict[str, Any], stream: StripePaymentsToFusionJournals
) -> None:
    # A second payment whose Stripe metadata names its Fusion invoice with a line break in it.
    system: Any = stand_ins.system("stripe")
    client = stripe.StripeClient(
        system.secret_key, base_addresses={"api": stand_ins.url("stripe")}, max_network_retries=0
    )
    odd = client.v1.payment_intents.create(
        params={
            "amount": 5000,
            "currency": "usd",
            "payment_method": "pm_card_visa",
            "confirm": True,
            "metadata": {"fusion_transaction_number": "INV-1\nINV-2"},
        }
    )
    when = datetime.fromtimestamp(paid["created"], tz=UTC)

    records = [
        r
        for batch in stream.read(Window(when - timedelta(minutes=5), when + timedelta(minutes=5)))
        for r in batch
    ]
    lookups = stream.prepare(records, {})
    verdicts = {record.id: stream.map(record, lookups) for record in records}

    dead = verdicts[odd.id]
    assert isinstance(dead, DeadLetter)
    assert dead.field == "metadata.fusion_transaction_number"
    assert "'INV-1\\nINV-2'" in dead.reason
    assert "control characters" in dead.reason
    assert isinstance(verdicts[paid["data"]["object"]["id"]], Write)  # the batch went on
