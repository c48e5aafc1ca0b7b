"""Cursors, run windows and leases, on SQLite and PostgreSQL."""

from __future__ import annotations

import random
import threading
from contextlib import ExitStack
from datetime import datetime, timedelta

import pytest
import sqlalchemy as sa

from ml_connector_provider.engine.types import RunRef, Window
from ml_connector_provider.ledger import LeaseHeld, Ledger, LedgerError
from tests.unit.ledger.helpers import KEY, OTHER, RUN, T0, Clock, in_threads, migrated, refusal

# -- cursors ------------------------------------------------------------------------------------


def test_cursor_only_moves_forward(ledger: Ledger, clock: Clock) -> None:
    assert ledger.get_cursor(KEY) is None
    assert ledger.advance_cursor(KEY, T0, {"seen": ["evt_1"]}) is True
    assert ledger.advance_cursor(KEY, T0) is False
    assert ledger.advance_cursor(KEY, T0 - timedelta(seconds=1), {"seen": []}) is False
    clock.advance(timedelta(minutes=1))
    assert ledger.advance_cursor(KEY, T0 + timedelta(microseconds=1)) is True
    cursor = ledger.get_cursor(KEY)
    assert cursor is not None
    assert (cursor.position, cursor.state, cursor.updated_at) == (
        T0 + timedelta(microseconds=1),
        {"seen": ["evt_1"]},
        T0 + timedelta(minutes=1),
    )
    assert ledger.get_cursor(OTHER) is None


def test_set_cursor_overrides_and_deletes(ledger: Ledger) -> None:
    ledger.advance_cursor(KEY, T0, {"a": 1})
    ledger.set_cursor(KEY, T0 - timedelta(days=3))
    cursor = ledger.get_cursor(KEY)
    assert cursor is not None
    assert (cursor.position, cursor.state) == (T0 - timedelta(days=3), {"a": 1})
    ledger.set_cursor(KEY, T0 - timedelta(days=4), {"b": 2})
    cursor = ledger.get_cursor(KEY)
    assert cursor is not None
    assert (cursor.position, cursor.state) == (T0 - timedelta(days=4), {"b": 2})
    ledger.set_cursor(KEY, None)
    assert ledger.get_cursor(KEY) is None


def test_concurrent_advances_never_move_the_cursor_back(ledger_url: str) -> None:
    migrated(ledger_url)
    writers, advances = 8, 50
    rng = random.Random(20250101)
    plans = [
        [T0 + timedelta(seconds=rng.randrange(100_000)) for _ in range(advances)] for _ in range(writers)
    ]
    stores = [Ledger(ledger_url) for _ in range(writers + 1)]
    done = threading.Event()
    observed: list[datetime] = []

    def observe() -> None:
        while not done.is_set():
            cursor = stores[-1].get_cursor(KEY)
            if cursor is not None:
                observed.append(cursor.position)

    def write(i: int) -> list[tuple[datetime, bool, datetime]]:
        seen = []
        for position in plans[i]:
            moved = stores[i].advance_cursor(KEY, position)
            cursor = stores[i].get_cursor(KEY)
            assert cursor is not None
            seen.append((position, moved, cursor.position))
        return seen

    observer = threading.Thread(target=observe)
    observer.start()
    try:
        results = in_threads(writers, write)
    finally:
        done.set()
        observer.join()
        for store in stores:
            store.dispose()

    final = Ledger(ledger_url)
    cursor = final.get_cursor(KEY)
    final.dispose()
    highest = max(max(plan) for plan in plans)
    assert cursor is not None
    assert cursor.position == highest
    for seen in results:
        after = [position_after for _, _, position_after in seen]
        assert after == sorted(after), "a writer saw the cursor go back"
        assert all(position_after >= position for position, _, position_after in seen)
    assert observed == sorted(observed), "an observer saw the cursor go back"


# -- runs ---------------------------------------------------------------------------------------


def test_claim_run_window_replays_the_stored_window(ledger: Ledger, clock: Clock) -> None:
    first = Window(T0 - timedelta(hours=1), T0)
    assert ledger.claim_run_window(KEY, RUN, first, mode="incremental", params={"a": 1}) == first
    ledger.finish_run(KEY, RUN, {"created": 3})
    finished = ledger.get_run(KEY, RUN.run_id)
    assert finished is not None
    assert (finished.finished_at, finished.summary) == (T0, {"created": 3})

    clock.advance(timedelta(hours=2))
    retry = RunRef(RUN.run_id, try_number=2, dag_id=RUN.dag_id, task_id=RUN.task_id)
    later = Window(T0, T0 + timedelta(hours=2))
    assert ledger.claim_run_window(KEY, retry, later, mode="replay_range", params={"b": 2}) == first

    stored = ledger.get_run(KEY, RUN.run_id)
    assert stored is not None
    assert stored.key == KEY
    assert stored.window == first
    assert (stored.mode, stored.params, stored.try_number) == ("incremental", {"a": 1}, 2)
    assert (stored.started_at, stored.finished_at, stored.summary) == (T0 + timedelta(hours=2), None, None)
    assert (stored.dag_id, stored.task_id) == (RUN.dag_id, RUN.task_id)
    # the same run id on another stream is another run
    assert ledger.claim_run_window(OTHER, RUN, later, mode="incremental", params={}) == later
    assert ledger.get_run(KEY, "other-run") is None


def test_concurrent_claims_agree_on_one_window(ledger_url: str) -> None:
    migrated(ledger_url)
    stores = [Ledger(ledger_url) for _ in range(4)]
    windows = [Window(T0, T0 + timedelta(minutes=i + 1)) for i in range(4)]
    try:
        claimed = in_threads(
            4, lambda i: stores[i].claim_run_window(KEY, RUN, windows[i], mode="incremental", params={})
        )
    finally:
        for store in stores:
            store.dispose()
    assert len(set(claimed)) == 1
    assert claimed[0] in windows


def test_finish_run_and_list_runs(ledger: Ledger, clock: Clock) -> None:
    with pytest.raises(LedgerError, match="never claimed a window"):
        ledger.finish_run(KEY, RUN, {})
    with pytest.raises(ValueError, match="unknown run mode"):
        ledger.claim_run_window(KEY, RUN, Window(T0, T0), mode="full", params={})
    for i, key in enumerate([KEY, OTHER, KEY]):
        clock.advance(timedelta(minutes=1))
        ledger.claim_run_window(key, RunRef(f"run-{i}"), Window(T0, T0), mode="incremental", params={})
    assert [r.run_id for r in ledger.list_runs()] == ["run-2", "run-1", "run-0"]
    assert [r.run_id for r in ledger.list_runs(stream="invoices")] == ["run-2", "run-0"]
    assert [r.run_id for r in ledger.list_runs(tenant="acme", limit=1)] == ["run-2"]
    assert ledger.list_runs(tenant="globex") == []


# -- leases -------------------------------------------------------------------------------------


def test_lease_is_exclusive_and_released(ledger: Ledger) -> None:
    with ledger.lease(KEY, owner="worker-a", ttl=timedelta(minutes=10)):
        held = refusal(ledger, KEY, "worker-b")
        assert (held.owner, held.expires_at, held.key) == ("worker-a", T0 + timedelta(minutes=10), KEY)
        with ledger.lease(OTHER, owner="worker-b"):
            pass
    with ledger.lease(KEY, owner="worker-b"):
        pass
    # Released rows stay (they keep the stream's last fencing token), marked released.
    with ledger.engine.connect() as conn:
        assert conn.scalar(sa.text("SELECT count(*) FROM mlc_leases WHERE released_at IS NULL")) == 0


def test_expired_lease_is_taken_over_and_not_released_by_the_old_owner(ledger: Ledger, clock: Clock) -> None:
    old = ExitStack()
    old.enter_context(ledger.lease(KEY, owner="old", ttl=timedelta(minutes=1)))
    clock.advance(timedelta(seconds=59))
    assert refusal(ledger, KEY, "new").owner == "old"
    clock.advance(timedelta(seconds=1))
    with ledger.lease(KEY, owner="new", ttl=timedelta(minutes=5)):
        old.close()  # the old holder finishes after losing its lease
        held = refusal(ledger, KEY, "third")
        assert (held.owner, held.expires_at) == ("new", clock.now + timedelta(minutes=5))
    with ledger.lease(KEY, owner="third"):
        pass


def test_same_owner_may_renew_its_lease(ledger: Ledger, clock: Clock) -> None:
    with ledger.lease(KEY, owner="a", ttl=timedelta(minutes=1)):
        clock.advance(timedelta(seconds=30))
        with ledger.lease(KEY, owner="a", ttl=timedelta(minutes=1)):
            assert refusal(ledger, KEY, "b").expires_at == T0 + timedelta(seconds=90)


def test_concurrent_lease_attempts_admit_one(ledger_url: str) -> None:
    migrated(ledger_url)
    stores = [Ledger(ledger_url) for _ in range(6)]
    attempted = threading.Barrier(6)

    def take(i: int) -> str:
        try:
            with stores[i].lease(KEY, owner=f"w{i}"):
                attempted.wait(timeout=30)
                return "held"
        except LeaseHeld:
            attempted.wait(timeout=30)
            return "refused"

    try:
        outcomes = in_threads(6, take)
    finally:
        for store in stores:
            store.dispose()
    assert sorted(outcomes) == ["held", "refused", "refused", "refused", "refused", "refused"]
