"""Audit trail queries and counts."""

from __future__ import annotations

from datetime import timedelta
from typing import Any

import pytest

from ml_connector_provider.engine.types import Action, RunRef, StreamKey
from ml_connector_provider.ledger import Ledger
from tests.unit.ledger.helpers import KEY, OTHER, RUN, T0, Clock, outcome


def test_audit_filters_and_counts(ledger: Ledger, clock: Clock) -> None:
    run2 = RunRef("manual__replay", try_number=3)
    ledger.commit_batch(
        KEY, RUN, [outcome("a", Action.CREATED, "in_a"), outcome("b", Action.UNCHANGED, "in_b")]
    )
    clock.advance(timedelta(hours=1))
    ledger.commit_batch(
        KEY, run2, [outcome("a", Action.UPDATED, "in_a"), outcome("c", Action.DEAD_LETTERED, reason="x")]
    )
    clock.advance(timedelta(hours=1))
    ledger.commit_batch(OTHER, run2, [outcome("in_a", Action.CREATED, "cus_1")])
    ledger.commit_batch(
        StreamKey("globex", "stripe_netsuite", "charges"), RUN, [outcome("ch_1", Action.SKIPPED)]
    )

    def ids(**filters: Any) -> list[tuple[str, str]]:
        return [(r.source_id, r.action.value) for r in ledger.query_audit(**filters)]

    assert ids() == [
        ("ch_1", "skipped"),
        ("in_a", "created"),
        ("c", "dead_lettered"),
        ("a", "updated"),
        ("a", "created"),
    ]
    assert ids(tenant="acme", stream="invoices") == [
        ("c", "dead_lettered"),
        ("a", "updated"),
        ("a", "created"),
    ]
    assert ids(record_id="in_a") == [("in_a", "created"), ("a", "updated"), ("a", "created")]
    assert ids(action="created") == [("in_a", "created"), ("a", "created")]
    assert ids(action=Action.DEAD_LETTERED) == [("c", "dead_lettered")]
    assert ids(run_id="manual__replay") == [("in_a", "created"), ("c", "dead_lettered"), ("a", "updated")]
    assert ids(since=T0 + timedelta(hours=1), integration="fusion_stripe") == [
        ("in_a", "created"),
        ("c", "dead_lettered"),
        ("a", "updated"),
    ]
    assert ids(limit=2) == [("ch_1", "skipped"), ("in_a", "created")]
    assert ids(record_id="b") == []
    assert [r.try_number for r in ledger.query_audit(run_id="manual__replay")] == [3, 3, 3]
    with pytest.raises(ValueError, match="'exploded' is not a valid Action"):
        ledger.query_audit(action="exploded")

    assert ledger.audit_counts(tenant="acme") == [
        {
            "tenant": "acme",
            "integration": "fusion_stripe",
            "stream": "customers",
            "action": "created",
            "count": 1,
        },
        {
            "tenant": "acme",
            "integration": "fusion_stripe",
            "stream": "invoices",
            "action": "created",
            "count": 1,
        },
        {
            "tenant": "acme",
            "integration": "fusion_stripe",
            "stream": "invoices",
            "action": "dead_lettered",
            "count": 1,
        },
        {
            "tenant": "acme",
            "integration": "fusion_stripe",
            "stream": "invoices",
            "action": "updated",
            "count": 1,
        },
    ]
    assert ledger.audit_counts(run_id=RUN.run_id) == [
        {
            "tenant": "acme",
            "integration": "fusion_stripe",
            "stream": "invoices",
            "action": "created",
            "count": 1,
        },
        {
            "tenant": "globex",
            "integration": "stripe_netsuite",
            "stream": "charges",
            "action": "skipped",
            "count": 1,
        },
    ]
    assert ledger.audit_counts(integration="nothing") == []
