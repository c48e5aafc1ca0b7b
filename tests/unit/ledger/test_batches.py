"""``commit_batch``: links, audit rows, dead letters and intents in one transaction."""

from __future__ import annotations

from datetime import UTC

import pytest
import sqlalchemy as sa

from ml_connector_provider.engine.types import Action
from ml_connector_provider.ledger import AuditRow, Ledger
from ml_connector_provider.ledger.schema import links
from tests.unit.ledger.helpers import KEY, RUN, T0, in_threads, migrated, outcome, rows


def test_commit_batch_records_links_audit_and_dead_letters(ledger: Ledger) -> None:
    ids = ["created", "updated", "skipped", "unchanged", "failed", "skipped-no-target"]
    ledger.mark_pending(KEY, [(i, f"k-{i}") for i in ids])
    ledger.commit_batch(
        KEY,
        RUN,
        [
            outcome("created", Action.CREATED, "in_c", label="INV-1"),
            outcome("updated", Action.UPDATED, "in_u"),
            outcome("skipped", Action.SKIPPED, "in_s", reason="already in Stripe"),
            outcome("unchanged", Action.UNCHANGED, "in_x"),
            outcome("failed", Action.DEAD_LETTERED, reason="unknown customer"),
            outcome("skipped-no-target", Action.SKIPPED, reason="zero amount"),
        ],
    )
    found = ledger.get_links(KEY, ids)
    assert {k: v.target_id for k, v in found.items()} == {
        "created": "in_c",
        "updated": "in_u",
        "skipped": "in_s",
    }
    link = found["created"]
    assert (link.key, link.source_system, link.target_system, link.source_version, link.payload_hash) == (
        KEY,
        "fusion",
        "stripe",
        "v1",
        "h1",
    )
    assert (link.updated_at, link.updated_at.tzinfo) == (T0, UTC)

    audit = sorted(ledger.query_audit(), key=lambda r: r.id)
    assert [(r.source_id, r.action, r.target_id, r.reason) for r in audit] == [
        ("created", Action.CREATED, "in_c", None),
        ("updated", Action.UPDATED, "in_u", None),
        ("skipped", Action.SKIPPED, "in_s", "already in Stripe"),
        ("failed", Action.DEAD_LETTERED, None, "unknown customer"),
        ("skipped-no-target", Action.SKIPPED, None, "zero amount"),
    ]
    first = audit[0]
    assert first == AuditRow(
        id=first.id,
        key=KEY,
        run_id=RUN.run_id,
        try_number=1,
        dag_id=RUN.dag_id,
        task_id=RUN.task_id,
        source_system="fusion",
        source_id="created",
        source_version="v1",
        source_label="INV-1",
        target_system="stripe",
        target_id="in_c",
        action=Action.CREATED,
        reason=None,
        idempotency_key="idem-created-v1",
        created_at=T0,
    )
    [letter] = ledger.list_dead_letters()
    assert (letter.key, letter.source_id, letter.reason, letter.attempts) == (
        KEY,
        "failed",
        "unknown customer",
        1,
    )
    # Intents stay for the records that got no target id: an earlier attempt may have created them.
    assert ledger.pending_for(KEY, ids) == {"failed": "k-failed", "skipped-no-target": "k-skipped-no-target"}


def test_a_record_repeated_in_a_batch_ends_in_its_last_state(ledger: Ledger) -> None:
    ledger.commit_batch(
        KEY,
        RUN,
        [
            outcome("a", Action.CREATED, "in_1"),
            outcome("a", Action.DEAD_LETTERED, reason="rejected"),
            outcome("b", Action.DEAD_LETTERED, reason="rejected"),
            outcome("b", Action.UPDATED, "in_2", version="v2"),
            outcome("b", Action.UPDATED, "in_3", version="v3"),
        ],
    )
    assert {k: (v.target_id, v.source_version) for k, v in ledger.get_links(KEY, ["a", "b"]).items()} == {
        "a": ("in_1", "v1"),
        "b": ("in_3", "v3"),
    }
    assert [(d.source_id, d.status) for d in ledger.list_dead_letters(status=None)] == [("a", "open")]
    assert len(ledger.query_audit()) == 5


def test_commit_batch_is_all_or_nothing(ledger: Ledger) -> None:
    ledger.mark_pending(KEY, [("good", "k1"), ("bad", "k2")])
    batch = [
        outcome("good", Action.CREATED, "in_1"),
        outcome("bad", Action.DEAD_LETTERED, reason=None),  # a dead letter needs a reason: NOT NULL
    ]
    with pytest.raises(sa.exc.IntegrityError):
        ledger.commit_batch(KEY, RUN, batch)
    assert ledger.get_links(KEY, ["good", "bad"]) == {}
    assert ledger.query_audit() == []
    assert ledger.list_dead_letters(status=None) == []
    assert ledger.pending_for(KEY, ["good", "bad"]) == {"good": "k1", "bad": "k2"}


def test_concurrent_batches_on_the_same_records_leave_one_link_each(ledger_url: str) -> None:
    migrated(ledger_url)
    ids = [f"r{i:03d}" for i in range(200)]
    stores = [Ledger(ledger_url) for _ in range(2)]

    def commit(i: int) -> None:
        for round_ in range(5):
            order = ids if i == 0 else list(reversed(ids))
            stores[i].commit_batch(
                KEY, RUN, [outcome(s, Action.CREATED, f"w{i}-{round_}-{s}") for s in order]
            )

    try:
        in_threads(2, commit)
        stored = rows(stores[0], links)
        counts = stores[0].audit_counts()
    finally:
        for store in stores:
            store.dispose()
    assert sorted(r["source_id"] for r in stored) == ids
    # every batch writes every record, so the batch committed last holds all of them
    assert len({r["target_id"][:5] for r in stored}) == 1
    assert stored[0]["target_id"][:5] in ("w0-4-", "w1-4-")
    assert counts == [
        {
            "tenant": "acme",
            "integration": "fusion_stripe",
            "stream": "invoices",
            "action": "created",
            "count": 2000,
        }
    ]
