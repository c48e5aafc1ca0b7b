"""Dead letters: backoff, lifecycle, retry now and manual resolution."""

from __future__ import annotations

from datetime import timedelta

import pytest

from ml_connector_provider.engine.types import Action, Outcome, record_from_json, record_to_json
from ml_connector_provider.ledger import Ledger
from ml_connector_provider.ledger.schema import dead_letters
from tests.unit.ledger.helpers import KEY, OTHER, RUN, T0, Clock, outcome, record, rows


def test_dead_letter_backoff_doubles_up_to_the_cap(ledger: Ledger, clock: Clock) -> None:
    expected_minutes = [5, 10, 20, 40, 80, 160, 320, 360, 360, 360]
    for attempt, minutes in enumerate(expected_minutes, 1):
        now = clock.advance(timedelta(hours=7))
        ledger.commit_batch(KEY, RUN, [outcome("x", Action.DEAD_LETTERED, reason=f"fail {attempt}")])
        [letter] = ledger.list_dead_letters()
        assert (letter.attempts, letter.reason, letter.status) == (attempt, f"fail {attempt}", "open")
        assert letter.next_retry_at == now + timedelta(minutes=minutes)
        assert (letter.created_at, letter.updated_at) == (T0 + timedelta(hours=7), now)


def test_dead_letter_lifecycle(ledger: Ledger, clock: Clock) -> None:
    original = record("x", "v1", "INV-9")
    failed = Outcome(original, Action.DEAD_LETTERED, "fusion", "stripe", reason="unknown customer")
    ledger.commit_batch(KEY, RUN, [failed])
    [letter] = ledger.list_dead_letters()
    assert letter.record == record_to_json(original)
    assert record_from_json(letter.record) == original
    assert letter.next_retry_at == T0 + timedelta(minutes=5)

    assert ledger.due_dead_letters(KEY, now=T0 + timedelta(minutes=4, seconds=59)) == []
    assert [d.id for d in ledger.due_dead_letters(KEY, now=T0 + timedelta(minutes=5))] == [letter.id]
    assert ledger.due_dead_letters(OTHER, now=T0 + timedelta(days=1)) == []

    clock.advance(timedelta(minutes=30))
    ledger.commit_batch(KEY, RUN, [outcome("x", Action.DEAD_LETTERED, reason="still unknown", version="v2")])
    [letter] = ledger.get_dead_letters([letter.id])
    assert (letter.attempts, letter.source_version, letter.reason) == (2, "v2", "still unknown")
    assert letter.next_retry_at == T0 + timedelta(minutes=40)

    # success resolves it
    clock.advance(timedelta(minutes=30))
    ledger.commit_batch(KEY, RUN, [outcome("x", Action.UPDATED, "in_1")])
    assert ledger.list_dead_letters() == []
    [resolved] = ledger.list_dead_letters(status="resolved")
    assert (resolved.id, resolved.status, resolved.next_retry_at) == (letter.id, "resolved", None)
    [row] = rows(ledger, dead_letters)
    assert (row["resolution"], row["resolved_at"]) == ("synced", T0 + timedelta(hours=1))

    # a new failure re-opens it, starting the backoff again
    clock.advance(timedelta(minutes=30))
    ledger.commit_batch(KEY, RUN, [outcome("x", Action.DEAD_LETTERED, reason="broken again")])
    [reopened] = ledger.list_dead_letters()
    assert (reopened.id, reopened.attempts, reopened.status) == (letter.id, 1, "open")
    assert reopened.next_retry_at == T0 + timedelta(minutes=95)
    [row] = rows(ledger, dead_letters)
    assert (row["resolution"], row["resolved_at"]) == (None, None)

    # UNCHANGED also resolves (the target already holds this content)
    ledger.commit_batch(KEY, RUN, [outcome("x", Action.UNCHANGED, "in_1")])
    assert ledger.list_dead_letters() == []


def test_retry_now_and_manual_resolution(ledger: Ledger, clock: Clock) -> None:
    ledger.commit_batch(KEY, RUN, [outcome(s, Action.DEAD_LETTERED, reason="bad") for s in ("a", "b", "c")])
    ledger.commit_batch(OTHER, RUN, [outcome("d", Action.DEAD_LETTERED, reason="bad")])
    a, b, c, d = ledger.list_dead_letters()
    assert [x.source_id for x in (a, b, c, d)] == ["a", "b", "c", "d"]

    now = clock.advance(timedelta(minutes=1))
    assert ledger.retry_dead_letters_now([a.id, 10_000]) == 1
    assert [x.source_id for x in ledger.due_dead_letters(KEY, now=now)] == ["a"]
    assert ledger.retry_dead_letters_now(stream="customers") == 1
    assert [x.source_id for x in ledger.due_dead_letters(OTHER, now=now)] == ["d"]
    assert ledger.retry_dead_letters_now([b.id, d.id], stream="invoices") == 1
    assert ledger.retry_dead_letters_now([]) == 0

    with pytest.raises(ValueError, match="note is required"):
        ledger.resolve_dead_letters([c.id], note="  ")
    assert ledger.resolve_dead_letters([c.id, 10_000], note="customer merged in Fusion") == 1
    assert ledger.resolve_dead_letters([c.id], note="again") == 0
    resolved = {r["source_id"]: r for r in rows(ledger, dead_letters)}["c"]
    assert (resolved["status"], resolved["resolution"], resolved["resolved_at"]) == (
        "resolved",
        "customer merged in Fusion",
        now,
    )
    assert ledger.retry_dead_letters_now([c.id]) == 0
    assert ledger.retry_dead_letters_now(tenant="acme") == 3
    assert [x.source_id for x in ledger.list_dead_letters(integration="fusion_stripe")] == ["a", "b", "d"]
    assert [x.source_id for x in ledger.list_dead_letters(status=None, stream="invoices")] == ["a", "b", "c"]
    assert [x.source_id for x in ledger.list_dead_letters(limit=2)] == ["a", "b"]
    assert [x.source_id for x in ledger.get_dead_letters([d.id, a.id, a.id])] == ["a", "d"]
