"""The engine under its stream lease, on real ledgers: a retry takes its lease back, another run
waits for expiry, a long run keeps its lease, and a worker that lost its lease writes no more."""

from __future__ import annotations

import itertools
import logging
import threading
from collections.abc import Sequence
from contextlib import ExitStack
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest

from ml_connector_provider.engine.core import SyncEngine, SyncOptions, lease_owner
from ml_connector_provider.engine.types import RunRef, SourceRecord, StreamKey, WriteItem, WriteResult
from ml_connector_provider.ledger import LeaseHeld, LeaseLost, Ledger
from tests.unit.engine.memory import MemorySource, MemoryStream, MemoryTarget

T0 = datetime(2026, 3, 1, 12, 0, tzinfo=UTC)
TTL = timedelta(minutes=5)
DAG, TASK = "mlc__acme__memory", "records"
_tenants = itertools.count()


class Clock:
    def __init__(self, now: datetime) -> None:
        self.now = now

    def __call__(self) -> datetime:
        return self.now


@pytest.fixture
def key() -> StreamKey:
    return StreamKey(f"lease{next(_tenants)}", "memory", "records")


@pytest.fixture
def clock() -> Clock:
    return Clock(T0)


@pytest.fixture
def ledger(shared_ledger: Ledger, clock: Clock) -> Ledger:
    return Ledger(shared_ledger.engine, clock=clock)


def make(ledger: Ledger, clock: Clock) -> SyncEngine:
    options = SyncOptions(batch_size=2, initial_start=T0 - timedelta(days=1), lease_ttl=TTL)
    return SyncEngine(ledger, options, clock=clock)


def run_ref(run_id: str, try_number: int = 1) -> RunRef:
    return RunRef(run_id, try_number=try_number, dag_id=DAG, task_id=TASK)


def source_of(count: int) -> MemorySource:
    source = MemorySource()
    for i in range(count):
        source.change(f"r{i}", {"value": i}, T0 - timedelta(hours=2, minutes=i))
    return source


def test_lease_owner_is_the_task_instance_whatever_the_try() -> None:
    assert lease_owner(run_ref("scheduled__x", 1)) == lease_owner(run_ref("scheduled__x", 7))
    assert lease_owner(run_ref("scheduled__x")) == f"{DAG}.{TASK}/scheduled__x"
    assert lease_owner(run_ref("scheduled__x"), map_index=0) == f"{DAG}.{TASK}/scheduled__x[0]"
    assert lease_owner(run_ref("scheduled__x")) != lease_owner(run_ref("scheduled__y"))
    long = lease_owner(RunRef("r" * 300, dag_id="d", task_id="t"))
    assert len(long) == 250
    assert long != lease_owner(RunRef("r" * 299 + "s", dag_id="d", task_id="t"))


def test_a_retry_takes_the_lease_of_its_killed_try_at_once(
    ledger: Ledger, key: StreamKey, clock: Clock, caplog: pytest.LogCaptureFixture
) -> None:
    killed = ExitStack()  # try 1 was killed holding the lease: no release ever comes
    killed.enter_context(ledger.lease(key, owner=lease_owner(run_ref("s1")), ttl=TTL, try_number=1))
    clock.now += timedelta(seconds=20)
    source, target = source_of(3), MemoryTarget()
    engine = make(ledger, clock)

    with pytest.raises(LeaseHeld, match=lease_owner(run_ref("s1"))):  # another run still waits
        engine.run(key, MemoryStream(source, target), run_ref("s2"))
    with caplog.at_level(logging.INFO, logger="ml_connector_provider.ledger.runs"):
        summary = engine.run(key, MemoryStream(source, target), run_ref("s1", try_number=2))
    assert (summary.created, target.creates) == (3, 3)
    [line] = [r for r in caplog.records if "took over" in r.getMessage()]
    assert (
        f"try 2 of {lease_owner(run_ref('s1'))} took over the lease of its earlier try 1" in line.getMessage()
    )
    killed.close()


def test_another_run_is_refused_until_the_dead_holder_s_lease_expires(
    ledger: Ledger, key: StreamKey, clock: Clock, caplog: pytest.LogCaptureFixture
) -> None:
    dead = ExitStack()
    dead.enter_context(ledger.lease(key, owner=lease_owner(run_ref("s1")), ttl=TTL, try_number=1))
    source, target = source_of(1), MemoryTarget()
    engine = make(ledger, clock)
    clock.now += TTL - timedelta(seconds=1)
    with pytest.raises(LeaseHeld):
        engine.run(key, MemoryStream(source, target), run_ref("s2"))
    assert target.creates == 0
    clock.now += timedelta(seconds=1)
    with caplog.at_level(logging.INFO, logger="ml_connector_provider.ledger.runs"):
        assert engine.run(key, MemoryStream(source, target), run_ref("s2")).created == 1
    [line] = [r for r in caplog.records if "took over" in r.getMessage()]
    assert line.levelno == logging.WARNING
    assert f"took over the lease of {lease_owner(run_ref('s1'))!r} (try 1" in line.getMessage()
    dead.close()


def test_a_run_longer_than_the_ttl_keeps_its_lease(ledger: Ledger, key: StreamKey, clock: Clock) -> None:
    source, target = source_of(12), MemoryTarget()
    engine = make(ledger, clock)
    refused: list[str] = []

    class Slow(MemoryStream):
        def write(self, items: Sequence[WriteItem]) -> Sequence[WriteResult]:
            clock.now += timedelta(minutes=4)  # each batch takes most of the ttl
            try:
                with ledger.lease(key, owner=lease_owner(run_ref("next")), ttl=TTL):
                    pass
            except LeaseHeld as held:
                refused.append(held.owner)
            return super().write(items)

    summary = engine.run(key, Slow(source, target), run_ref("long"))
    assert clock.now - T0 == timedelta(minutes=24)  # six batches: far past the 5-minute ttl
    assert (summary.created, summary.cursor_advanced) == (12, True)
    assert refused == [lease_owner(run_ref("long"))] * 6
    assert make(ledger, clock).run(key, MemoryStream(source, target), run_ref("next")).unchanged == 0


class Takeover:
    """Another worker (its own engine and thread) runs ``run_id`` to its end after the lease of the
    slow worker lapsed."""

    def __init__(
        self, ledger: Ledger, clock: Clock, key: StreamKey, source: MemorySource, target: MemoryTarget
    ):
        self.ledger, self.clock, self.key, self.source, self.target = ledger, clock, key, source, target
        self.summary: Any = None

    def __call__(self) -> None:
        self.clock.now += TTL + timedelta(seconds=1)
        worker = threading.Thread(target=self._run)
        worker.start()
        worker.join()
        assert self.summary is not None

    def _run(self) -> None:
        other = make(self.ledger, self.clock)
        self.summary = other.run(self.key, MemoryStream(self.source, self.target), run_ref("fast"))


@pytest.mark.parametrize("updates", [False, True], ids=["creates", "updates"])
def test_a_holder_slower_than_its_lease_writes_nothing_after_losing_it(
    ledger: Ledger, key: StreamKey, clock: Clock, updates: bool
) -> None:
    source, target = source_of(4), MemoryTarget()
    if updates:  # linked records: no write intent to record, only the check before the write fences
        make(ledger, clock).run(key, MemoryStream(source, target), run_ref("earlier"))
        clock.now += timedelta(minutes=10)
        for i in range(4):
            source.change(f"r{i}", {"value": 100 + i}, clock.now - timedelta(minutes=5))
    takeover = Takeover(ledger, clock, key, source, target)
    writes: list[list[str]] = []

    class Stalled(MemoryStream):
        """Stalls (a GC pause, a frozen VM) between mapping its first batch and writing it."""

        def prepare(self, records: Sequence[SourceRecord], links: Any) -> Any:
            if not writes and takeover.summary is None:
                takeover()
            return super().prepare(records, links)

        def write(self, items: Sequence[WriteItem]) -> Sequence[WriteResult]:
            writes.append([i.record.id for i in items])
            return super().write(items)

    with pytest.raises(LeaseLost) as lost:
        make(ledger, clock).run(key, Stalled(source, target), run_ref("slow"))
    assert lost.value.key == key
    assert lost.value.holder is None  # the fast run has finished and released it meanwhile
    assert writes == []  # the stream's write was never called after the loss
    assert (takeover.summary.created, takeover.summary.updated) == ((0, 4) if updates else (4, 0))
    assert target.creates == 4
    assert sorted(o["value"] for o in target.objects.values()) == [
        100 + i if updates else i for i in range(4)
    ]
    assert_nothing_from(ledger, key, "slow")


def test_a_holder_whose_write_outlives_its_lease_records_nothing_and_writes_no_more(
    ledger: Ledger, key: StreamKey, clock: Clock
) -> None:
    source, target = source_of(4), MemoryTarget()
    takeover = Takeover(ledger, clock, key, source, target)
    writes: list[list[str]] = []

    class SlowWrite(MemoryStream):
        """Its first target call hangs past the lease; another worker takes over meanwhile."""

        def write(self, items: Sequence[WriteItem]) -> Sequence[WriteResult]:
            writes.append([i.record.id for i in items])
            results = super().write(items)
            if len(writes) == 1:
                takeover()
            return results

    with pytest.raises(LeaseLost, match=r"lost the lease on .*: it is released since"):
        make(ledger, clock).run(key, SlowWrite(source, target), run_ref("slow"))
    assert len(writes) == 1  # the batch in flight; no further batch reached the target
    # The fast run found the slow one's pending intents and looked before creating: no duplicate.
    assert (target.creates, len(target.objects)) == (4, 4)
    assert_nothing_from(ledger, key, "slow")


def assert_nothing_from(ledger: Ledger, key: StreamKey, run_id: str) -> None:
    """No audit row, no finished run and no cursor position of ``run_id`` reached the ledger."""
    assert ledger.query_audit(tenant=key.tenant, run_id=run_id) == []
    slow = ledger.get_run(key, run_id)
    assert slow is not None
    assert slow.finished_at is None
    fast = ledger.get_run(key, "fast")
    assert fast is not None
    cursor = ledger.get_cursor(key)
    assert cursor is not None
    assert cursor.position == fast.window.end
    links = ledger.get_links(key, [f"r{i}" for i in range(4)])
    assert len(links) == 4
    assert {a.source_id for a in ledger.query_audit(tenant=key.tenant, run_id="fast")} == set(links)
