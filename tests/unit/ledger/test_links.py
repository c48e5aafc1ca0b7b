"""Write intents and links, on SQLite and PostgreSQL."""

from __future__ import annotations

from datetime import timedelta

from ml_connector_provider.engine.types import Action
from ml_connector_provider.ledger import Ledger
from ml_connector_provider.ledger.schema import links
from tests.unit.ledger.helpers import KEY, OTHER, RUN, T0, Clock, outcome, rows


def test_pending_intents_keep_the_first_key_and_time_and_are_cleared_by_the_batch(
    ledger: Ledger, clock: Clock
) -> None:
    ledger.mark_pending(KEY, [("a", "k0"), ("b", "k2"), ("a", "k1")])
    assert ledger.pending_for(KEY, ["a"]) == {"a": "k1"}
    clock.advance(timedelta(hours=2))
    # A later attempt (new content, new key) does not move the intent: the first attempt's key and
    # time are what tell a writer whether the target may still replay it and since when to look.
    ledger.mark_pending(KEY, [("a", "k3"), ("c", "k4")])
    ledger.mark_pending(OTHER, [("a", "other")])
    assert ledger.pending_for(KEY, ["a", "b", "c", "d"]) == {"a": "k1", "b": "k2", "c": "k4"}
    intents = ledger.pending_intents(KEY, ["a", "c"])
    assert (intents["a"].idempotency_key, intents["a"].since) == ("k1", T0)
    assert (intents["c"].idempotency_key, intents["c"].since) == ("k4", T0 + timedelta(hours=2))
    ledger.commit_batch(KEY, RUN, [outcome("a", Action.CREATED, "in_1")])
    assert ledger.pending_for(KEY, ["a", "b"]) == {"b": "k2"}
    assert ledger.pending_for(OTHER, ["a"]) == {"a": "other"}


def test_open_attempts_count_only_open_dead_letters(ledger: Ledger) -> None:
    ledger.commit_batch(
        KEY,
        RUN,
        [outcome("a", Action.DEAD_LETTERED, reason="r"), outcome("b", Action.DEAD_LETTERED, reason="r")],
    )
    ledger.commit_batch(KEY, RUN, [outcome("a", Action.DEAD_LETTERED, reason="r")])
    assert ledger.open_attempts(KEY, ["a", "b", "c"]) == {"a": 2, "b": 1}
    ledger.commit_batch(KEY, RUN, [outcome("b", Action.CREATED, "in_2")])
    assert ledger.open_attempts(KEY, ["a", "b"]) == {"a": 2}
    assert ledger.open_attempts(OTHER, ["a"]) == {}


def test_links_are_upserted(ledger: Ledger, clock: Clock) -> None:
    ledger.commit_batch(KEY, RUN, [outcome("a", Action.CREATED, "in_1", payload_hash="h1")])
    clock.advance(timedelta(minutes=5))
    ledger.commit_batch(KEY, RUN, [outcome("a", Action.UPDATED, "in_1", version="v2", payload_hash="h2")])
    clock.advance(timedelta(minutes=5))
    ledger.commit_batch(KEY, RUN, [outcome("a", Action.SKIPPED, "in_1", version="v3", payload_hash=None)])
    [row] = rows(ledger, links)
    assert (row["source_version"], row["payload_hash"], row["target_id"]) == ("v3", "h2", "in_1")
    assert (row["created_at"], row["updated_at"]) == (T0, T0 + timedelta(minutes=10))
    assert [lk.source_id for lk in ledger.links_for_target("stripe", "in_1")] == ["a"]
    assert ledger.links_for_target("stripe", "in_2") == []
    found = ledger.find_link(tenant="acme", integration="fusion_stripe", stream="invoices", source_id="a")
    assert found is not None
    assert found.target_id == "in_1"
    assert (
        ledger.find_link(tenant="acme", integration="fusion_stripe", stream="customers", source_id="a")
        is None
    )


def test_get_links_chunks_long_id_lists(ledger: Ledger) -> None:
    ids = [f"r{i:04d}" for i in range(1203)]
    ledger.commit_batch(KEY, RUN, [outcome(i, Action.CREATED, f"t-{i}") for i in ids])
    found = ledger.get_links(KEY, [*ids, "missing", ids[0]])
    assert sorted(found) == ids
    assert found["r1202"].target_id == "t-r1202"
    assert len(ledger.query_audit(limit=5000)) == 1203
