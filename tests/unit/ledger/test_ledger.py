"""The ledger against real databases: a SQLite file and a PostgreSQL server (``ledger_url``)."""

from __future__ import annotations

import functools
import json
import random
import threading
from collections.abc import Callable, Iterator
from concurrent.futures import ThreadPoolExecutor
from contextlib import ExitStack
from datetime import UTC, datetime, timedelta, timezone
from pathlib import Path
from typing import Any, TypeVar

import pytest
import sqlalchemy as sa

from ml_connector_provider.engine.types import (
    Action,
    Outcome,
    RunRef,
    SourceRecord,
    StreamKey,
    Window,
    record_from_json,
    record_to_json,
)
from ml_connector_provider.ledger import AuditRow, LeaseHeld, Ledger, LedgerError
from ml_connector_provider.ledger.connection import ledger_url_from_airflow, shared_engine
from ml_connector_provider.ledger.schema import LATEST_VERSION, dead_letters, links, metadata, schema_version

T = TypeVar("T")

KEY = StreamKey("acme", "fusion_stripe", "invoices")
OTHER = StreamKey("acme", "fusion_stripe", "customers")
RUN = RunRef("scheduled__2025-01-01", try_number=1, dag_id="mlc__acme__fusion_stripe", task_id="invoices")
T0 = datetime(2025, 1, 1, 12, 0, tzinfo=UTC)


class Clock:
    """A clock the test moves by hand."""

    def __init__(self, now: datetime = T0) -> None:
        self.now = now

    def __call__(self) -> datetime:
        return self.now

    def advance(self, delta: timedelta) -> datetime:
        self.now += delta
        return self.now


@pytest.fixture
def clock() -> Clock:
    return Clock()


@pytest.fixture
def ledger(ledger_url: str, clock: Clock) -> Iterator[Ledger]:
    store = Ledger(ledger_url, clock=clock)
    store.migrate()
    yield store
    store.dispose()


def record(source_id: str, version: str = "v1", label: str | None = None) -> SourceRecord:
    return SourceRecord(
        id=source_id, version=version, changed_at=T0, data={"amount": 10, "id": source_id}, label=label
    )


def outcome(
    source_id: str,
    action: Action,
    target_id: str | None = None,
    *,
    reason: str | None = None,
    version: str = "v1",
    payload_hash: str | None = "h1",
    label: str | None = None,
) -> Outcome:
    return Outcome(
        record=record(source_id, version, label),
        action=action,
        source_system="fusion",
        target_system="stripe",
        target_id=target_id,
        reason=reason,
        payload_hash=payload_hash,
        idempotency_key=f"idem-{source_id}-{version}",
    )


def in_threads(count: int, work: Callable[[int], T]) -> list[T]:
    """Run ``work(i)`` in ``count`` threads released together; re-raise the first failure."""
    barrier = threading.Barrier(count)

    def start(i: int) -> T:
        barrier.wait()
        return work(i)

    with ThreadPoolExecutor(count) as pool:
        return list(pool.map(start, range(count)))


def migrated(url: str) -> str:
    store = Ledger(url)
    store.migrate()
    store.dispose()
    return url


def refusal(store: Ledger, key: StreamKey, owner: str) -> LeaseHeld:
    """The :class:`LeaseHeld` raised when ``owner`` tries to take the lease (the test fails if it gets it)."""
    with pytest.raises(LeaseHeld) as held, store.lease(key, owner=owner):
        pass
    return held.value


def rows(store: Ledger, table: sa.Table) -> list[dict[str, Any]]:
    with store.engine.connect() as conn:
        return [dict(r._mapping) for r in conn.execute(sa.select(table).order_by(*table.primary_key))]


# -- schema -------------------------------------------------------------------------------------


def test_migrate_creates_every_table_and_is_idempotent(ledger_url: str) -> None:
    store = Ledger(ledger_url)
    try:
        assert store.migrate() == LATEST_VERSION == 1
        assert store.migrate() == 1
        names = set(sa.inspect(store.engine).get_table_names())
        assert names == set(metadata.tables)
        assert all(name.startswith("mlc_") for name in names)
        assert [r["version"] for r in rows(store, schema_version)] == [1]
    finally:
        store.dispose()


def test_concurrent_migrations_apply_once(ledger_url: str) -> None:
    stores = [Ledger(ledger_url) for _ in range(4)]
    try:
        assert in_threads(4, lambda i: stores[i].migrate()) == [1, 1, 1, 1]
        assert [r["version"] for r in rows(stores[0], schema_version)] == [1]
    finally:
        for store in stores:
            store.dispose()


def test_migrate_refuses_a_newer_schema(ledger: Ledger) -> None:
    with ledger.engine.begin() as conn:
        conn.execute(schema_version.insert().values(version=99, description="future", applied_at=T0))
    with pytest.raises(LedgerError, match="version 99, newer than this provider supports"):
        ledger.migrate()


def test_timestamps_come_back_aware_utc_and_naive_ones_are_refused(ledger: Ledger) -> None:
    plus_two = timezone(timedelta(hours=2))
    ledger.set_cursor(KEY, datetime(2025, 3, 1, 14, 30, 0, 123456, tzinfo=plus_two))
    cursor = ledger.get_cursor(KEY)
    assert cursor is not None
    assert cursor.position == datetime(2025, 3, 1, 12, 30, 0, 123456, tzinfo=UTC)
    assert cursor.position.utcoffset() == timedelta(0)
    assert cursor.updated_at == T0
    with pytest.raises(sa.exc.StatementError, match="naive datetime"):
        ledger.set_cursor(KEY, datetime(2025, 3, 1))


def test_a_new_sqlite_file_opened_by_many_connections_at_once(tmp_path: Path) -> None:
    # Switching a new file to WAL races between connections; none of them may fail.
    def journal_mode(url: str, _: int) -> str:
        store = Ledger(url)
        try:
            with store.engine.connect() as conn:
                return str(conn.exec_driver_sql("PRAGMA journal_mode").scalar())
        finally:
            store.dispose()

    for attempt in range(60):
        url = f"sqlite:///{tmp_path / f'new-{attempt}.db'}"
        assert in_threads(8, functools.partial(journal_mode, url)) == ["wal"] * 8


def test_in_memory_sqlite_keeps_one_database() -> None:
    store = Ledger("sqlite://")
    try:
        store.migrate()
        assert store.advance_cursor(KEY, T0) is True
        cursor = store.get_cursor(KEY)
        assert cursor is not None
        assert cursor.position == T0
    finally:
        store.dispose()


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


# -- pending intents, links and batches ---------------------------------------------------------


def test_pending_intents_are_upserted_and_cleared_by_the_batch(ledger: Ledger) -> None:
    ledger.mark_pending(KEY, [("a", "k0"), ("b", "k2"), ("a", "k1")])
    assert ledger.pending_for(KEY, ["a"]) == {"a": "k1"}
    ledger.mark_pending(KEY, [("a", "k3")])
    ledger.mark_pending(OTHER, [("a", "other")])
    assert ledger.pending_for(KEY, ["a", "b", "c"]) == {"a": "k3", "b": "k2"}
    ledger.commit_batch(KEY, RUN, [outcome("a", Action.CREATED, "in_1")])
    assert ledger.pending_for(KEY, ["a", "b"]) == {"b": "k2"}
    assert ledger.pending_for(OTHER, ["a"]) == {"a": "other"}


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


# -- dead letters -------------------------------------------------------------------------------


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


# -- audit --------------------------------------------------------------------------------------


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


# -- leases -------------------------------------------------------------------------------------


def test_lease_is_exclusive_and_released(ledger: Ledger) -> None:
    with ledger.lease(KEY, owner="worker-a", ttl=timedelta(minutes=10)):
        held = refusal(ledger, KEY, "worker-b")
        assert (held.owner, held.expires_at, held.key) == ("worker-a", T0 + timedelta(minutes=10), KEY)
        with ledger.lease(OTHER, owner="worker-b"):
            pass
    with ledger.lease(KEY, owner="worker-b"):
        pass
    with ledger.engine.connect() as conn:
        assert conn.scalar(sa.text("SELECT count(*) FROM mlc_leases")) == 0


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


# -- files --------------------------------------------------------------------------------------

SUM_A = "a" * 64
SUM_B = "b" * 64


def test_files_are_known_by_checksum(ledger: Ledger, clock: Clock) -> None:
    assert ledger.file_by_checksum("acme", "stampli_fusion", SUM_A) is None
    first = ledger.begin_file(
        "acme", "stampli_fusion", path="/out/inv1.csv", size=120, checksum=SUM_A.upper()
    )
    assert (first.path, first.size, first.checksum, first.outcome, first.first_seen_at) == (
        "/out/inv1.csv",
        120,
        SUM_A,
        "processing",
        T0,
    )
    clock.advance(timedelta(minutes=1))
    again = ledger.begin_file("acme", "stampli_fusion", path="/out/renamed.csv", size=120, checksum=SUM_A)
    assert again == first
    ledger.finish_file("acme", "stampli_fusion", checksum=SUM_A, outcome="processed", detail="3 invoices")
    done = ledger.file_by_checksum("acme", "stampli_fusion", SUM_A)
    assert done is not None
    assert (done.id, done.outcome, done.detail, done.processed_at) == (
        first.id,
        "processed",
        "3 invoices",
        clock.now,
    )
    other = ledger.begin_file("globex", "stampli_fusion", path="/out/inv1.csv", size=120, checksum=SUM_A)
    assert other.id != first.id
    assert other.outcome == "processing"

    with pytest.raises(LedgerError, match="no file with checksum"):
        ledger.finish_file("acme", "stampli_fusion", checksum=SUM_B, outcome="failed")
    with pytest.raises(ValueError, match="unknown file outcome"):
        ledger.finish_file("acme", "stampli_fusion", checksum=SUM_A, outcome="done")
    with pytest.raises(ValueError, match="not a SHA-256"):
        ledger.begin_file("acme", "stampli_fusion", path="x", size=1, checksum="abc")


# -- control numbers ----------------------------------------------------------------------------


def test_control_numbers_count_per_partner_and_kind_and_wrap(ledger: Ledger) -> None:
    assert [ledger.next_control_number("acme", "walmart", "ISA", maximum=3) for _ in range(5)] == [
        1,
        2,
        3,
        1,
        2,
    ]
    assert [ledger.next_control_number("acme", "walmart", "GS") for _ in range(2)] == [1, 2]
    assert ledger.next_control_number("acme", "target", "ISA") == 1
    assert ledger.next_control_number("globex", "walmart", "ISA") == 1
    assert ledger.next_control_number("acme", "walmart", "ISA") == 3
    with pytest.raises(ValueError, match="at least 1"):
        ledger.next_control_number("acme", "walmart", "ISA", maximum=0)


def test_concurrent_control_numbers_are_distinct_and_consecutive(ledger_url: str) -> None:
    migrated(ledger_url)
    stores = [Ledger(ledger_url) for _ in range(4)]
    try:
        numbers = in_threads(
            4, lambda i: [stores[i].next_control_number("acme", "walmart", "ST") for _ in range(100)]
        )
    finally:
        for store in stores:
            store.dispose()
    assert sorted(n for batch in numbers for n in batch) == list(range(1, 401))
    assert all(batch == sorted(batch) for batch in numbers)


# -- where the ledger lives ---------------------------------------------------------------------


def _connection(monkeypatch: pytest.MonkeyPatch, **fields: Any) -> None:
    monkeypatch.setenv("AIRFLOW_CONN_ML_CONNECTOR_LEDGER", json.dumps(fields))


def test_postgres_connection_becomes_a_psycopg2_url(monkeypatch: pytest.MonkeyPatch) -> None:
    _connection(
        monkeypatch,
        conn_type="postgres",
        host="db.internal",
        port=5433,
        login="mlc",
        password="p@ss/w:rd",
        schema="ledger",
    )
    url = ledger_url_from_airflow()
    assert url == "postgresql+psycopg2://mlc:p%40ss%2Fw%3Ard@db.internal:5433/ledger"
    assert sa.engine.make_url(url).password == "p@ss/w:rd"
    store = Ledger(url)
    assert store.url_for_display == "postgresql+psycopg2://mlc:***@db.internal:5433/ledger"
    assert "p@ss" not in repr(store)
    store.dispose()


def test_sqlalchemy_url_extra_and_sqlite_connections(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    _connection(
        monkeypatch, conn_type="postgres", host="ignored", extra={"sqlalchemy_url": "sqlite:////tmp/x.db"}
    )
    assert ledger_url_from_airflow() == "sqlite:////tmp/x.db"
    _connection(monkeypatch, conn_type="sqlite", host=str(tmp_path / "l.db"))
    assert ledger_url_from_airflow() == f"sqlite:///{tmp_path / 'l.db'}"
    first = Ledger.from_airflow()
    second = Ledger.from_airflow(dead_letter_base_delay=timedelta(minutes=1))
    try:
        assert first.engine is second.engine
        assert first.engine is shared_engine(f"sqlite:///{tmp_path / 'l.db'}")
        assert first.migrate() == 1
        assert (tmp_path / "l.db").is_file()
    finally:
        first.dispose()


def test_unknown_connection_type_is_refused_without_the_password(monkeypatch: pytest.MonkeyPatch) -> None:
    _connection(monkeypatch, conn_type="mysql", host="db", login="u", password="s3cret-value")
    with pytest.raises(LedgerError) as error:
        ledger_url_from_airflow()
    assert str(error.value) == (
        "Airflow connection 'ml_connector_ledger' has type 'mysql'; the ledger needs a 'postgres' or "
        "'sqlite' connection, or an extra 'sqlalchemy_url'"
    )


def test_missing_connection_falls_back_to_sqlite_under_airflow_home(
    monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    monkeypatch.delenv("AIRFLOW_CONN_ML_CONNECTOR_LEDGER", raising=False)
    monkeypatch.setenv("AIRFLOW_HOME", str(tmp_path))
    assert (
        ledger_url_from_airflow("mlc_ledger_not_defined")
        == f"sqlite:///{tmp_path / 'ml_connector_ledger.db'}"
    )


def test_default_connection_follows_the_airflow_option(
    monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    monkeypatch.setenv("AIRFLOW__ML_CONNECTOR__LEDGER_CONN_ID", "finance_ledger")
    monkeypatch.setenv(
        "AIRFLOW_CONN_FINANCE_LEDGER", json.dumps({"conn_type": "sqlite", "host": str(tmp_path / "f.db")})
    )
    assert ledger_url_from_airflow() == f"sqlite:///{tmp_path / 'f.db'}"
    _connection(monkeypatch, conn_type="mysql", host="db")
    monkeypatch.delenv("AIRFLOW__ML_CONNECTOR__LEDGER_CONN_ID")
    with pytest.raises(LedgerError, match="Airflow connection 'ml_connector_ledger' has type 'mysql'"):
        ledger_url_from_airflow()
