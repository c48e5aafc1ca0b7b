"""Property tests of the sync engine on real ledgers (SQLite and PostgreSQL).

For random change histories, random crash points and re-runs (including cleared tasks, date-range
and id replays), once the data problems are fixed and the engine has run to a fixed point, the
target equals the source: one target object per source record, no duplicate, nothing lost, no
open dead letter.
"""

from __future__ import annotations

import contextlib
import itertools
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Any

from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from ml_connector_provider.engine.core import RunRequest, SyncEngine, SyncOptions
from ml_connector_provider.engine.types import RunRef, StreamKey
from ml_connector_provider.ledger import Ledger
from tests.unit.engine.memory import Crash, Crasher, MemorySource, MemoryStream, MemoryTarget

OPTIONS = SyncOptions(
    overlap=timedelta(minutes=10),
    lag=timedelta(minutes=1),
    batch_size=2,
    initial_start=datetime(2026, 1, 1, tzinfo=UTC),
)
IDS = [f"r{i}" for i in range(6)]
REFS = ["A", "B"]
_tenants = itertools.count()


class Clock:
    def __init__(self) -> None:
        self.now = datetime(2026, 1, 1, 1, 0, tzinfo=UTC)

    def __call__(self) -> datetime:
        return self.now


class CrashingLedger:
    """The real ledger, with crash checkpoints before and after its writes."""

    CHECKED = ("mark_pending", "commit_batch", "advance_cursor", "finish_run")

    def __init__(self, ledger: Ledger, crasher: Crasher) -> None:
        self._ledger = ledger
        self._crasher = crasher

    def __getattr__(self, name: str) -> Any:
        attr = getattr(self._ledger, name)
        if name not in self.CHECKED:
            return attr

        def wrapped(*args: Any, **kwargs: Any) -> Any:
            self._crasher.checkpoint(f"{name}.before")
            result = attr(*args, **kwargs)
            self._crasher.checkpoint(f"{name}.after")
            return result

        return wrapped


# --- the histories ----------------------------------------------------------------------------

change = st.tuples(
    st.just("change"),
    st.sampled_from(IDS),
    st.integers(0, 99),  # value
    st.sampled_from([None, *REFS]),  # reference (A and B must be "set up" to post)
    st.sampled_from(["ok", "ok", "ok", "bad", "skip"]),
    st.integers(0, 10),  # minutes of commit delay (≤ overlap + lag: caught by the next window)
)
# A run happens 0-15 minutes after the previous step and crashes at the N-th checkpoint (0: never).
run = st.tuples(st.just("run"), st.integers(0, 40), st.integers(0, 15))
clear = st.tuples(st.just("clear"), st.integers(0, 40), st.integers(0, 15))  # a cleared task re-runs
replay_ids = st.tuples(
    st.just("replay_ids"), st.lists(st.sampled_from(IDS), min_size=1, max_size=3, unique=True)
)
replay_range = st.tuples(st.just("replay_range"), st.integers(1, 120))  # a range must not be empty
set_up_ref = st.tuples(st.just("set_up_ref"), st.sampled_from(REFS))
tick = st.tuples(st.just("tick"), st.integers(1, 400))  # minutes
history = st.lists(
    st.one_of(change, change, run, run, clear, replay_ids, replay_range, set_up_ref, tick),
    min_size=1,
    max_size=25,
)


@dataclass
class World:
    key: StreamKey
    ledger: Ledger
    source: MemorySource
    target: MemoryTarget
    known_refs: set[str]
    clock: Clock
    runs: itertools.count  # type: ignore[type-arg]
    last_run: RunRef | None = None
    last_request: RunRequest | None = None

    def engine(self, crasher: Crasher) -> tuple[SyncEngine, MemoryStream]:
        stream = MemoryStream(self.source, self.target, crasher, self.known_refs)
        return SyncEngine(CrashingLedger(self.ledger, crasher), OPTIONS, clock=self.clock), stream  # type: ignore[arg-type]

    def run(self, request: RunRequest, crash_at: int, ref: RunRef | None = None) -> None:
        ref = ref or RunRef(run_id=f"scheduled__{next(self.runs)}")
        self.last_run, self.last_request = ref, request
        engine, stream = self.engine(Crasher(at=crash_at))
        # A crash means the worker died; Airflow retries, or a later run picks the work up.
        with contextlib.suppress(Crash):
            engine.run(self.key, stream, ref, request)


def apply(world: World, step: tuple[Any, ...]) -> None:
    kind = step[0]
    if kind == "change":
        _, record_id, value, ref, flavour, delay = step
        data: dict[str, Any] = {
            "value": value,
            "ref": ref,
            "bad": flavour == "bad",
            "skip": flavour == "skip",
        }
        changed_at = world.clock.now - timedelta(minutes=delay)
        previous = world.source.rows.get(record_id)
        if previous is not None:  # a record's change timestamps only grow
            changed_at = max(changed_at, previous.changed_at + timedelta(seconds=1))
        world.source.change(record_id, data, changed_at)
        world.clock.now += timedelta(seconds=30)
    elif kind == "run":
        world.clock.now += timedelta(minutes=step[2])
        world.run(RunRequest(), step[1])
    elif kind == "clear" and world.last_run is not None:
        world.clock.now += timedelta(minutes=step[2])
        previous = world.last_run
        # Clearing re-runs the task with its DAG run's params: the same request.
        world.run(
            world.last_request or RunRequest(), step[1], RunRef(previous.run_id, previous.try_number + 1)
        )
    elif kind == "replay_ids":
        world.run(RunRequest(mode="replay_ids", record_ids=tuple(step[1])), 0)
    elif kind == "replay_range":
        end = world.clock.now
        world.run(
            RunRequest(mode="replay_range", replay_from=end - timedelta(minutes=step[1]), replay_to=end), 0
        )
    elif kind == "set_up_ref":
        world.known_refs.add(step[1])
    elif kind == "tick":
        world.clock.now += timedelta(minutes=step[1])


def settle(world: World) -> None:
    """Fix every data problem, let dead letters fall due, and run until nothing changes."""
    world.known_refs.update(REFS)
    for record in list(world.source.rows.values()):
        if record.data.get("bad"):
            world.source.change(record.id, {**record.data, "bad": False}, world.clock.now)
    world.clock.now += timedelta(hours=7)  # past the longest dead-letter back-off
    for _ in range(2):
        world.run(RunRequest(), 0)
        world.clock.now += timedelta(hours=7)


def check(world: World) -> None:
    key, ledger, source, target = world.key, world.ledger, world.source, world.target
    expected = {rid: r for rid, r in source.rows.items() if not r.data.get("skip")}
    links = ledger.get_links(key, list(source.rows))
    for rid, record in expected.items():
        assert target.count_for(rid) == 1, f"{rid}: {target.count_for(rid)} target objects"
        assert rid in links, f"{rid} is in the target but not linked"
        obj = target.objects[links[rid].target_id]
        assert obj == {"source_id": rid, "value": record.data["value"], "ref": record.data["ref"]}
    pending = ledger.pending_for(key, list(source.rows))
    for rid, record in source.rows.items():
        if record.data.get("skip") and rid not in links and target.count_for(rid):
            # Created by an attempt that crashed before the ledger commit, then skipped: the
            # object stays, and so does the write intent, so a later write looks before creating.
            assert target.count_for(rid) == 1
            assert rid in pending
    assert ledger.list_dead_letters(tenant=key.tenant) == []
    assert target.creates == len({o["source_id"] for o in target.objects.values()})


def _world(shared: Ledger) -> World:
    key = StreamKey(f"t{next(_tenants)}", "memory", "records")
    clock = Clock()
    ledger = Ledger(shared.engine, clock=clock)  # the ledger's back-off runs on the same clock
    return World(key, ledger, MemorySource(), MemoryTarget(), set(), clock, itertools.count(1))


@settings(
    max_examples=60,
    deadline=None,
    suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow],
)
@given(steps=history)
def test_target_converges_to_source(shared_ledger: Ledger, steps: list[tuple[Any, ...]]) -> None:
    world = _world(shared_ledger)
    for step in steps:
        apply(world, step)
    settle(world)
    check(world)


@settings(max_examples=30, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(steps=history, crash_at=st.integers(1, 60))
def test_crash_then_retry_of_the_same_run_loses_nothing(
    shared_ledger: Ledger, steps: list[tuple[Any, ...]], crash_at: int
) -> None:
    """A crash at any checkpoint, followed by Airflow's retry of that same run, converges."""
    world = _world(shared_ledger)
    for step in steps:
        apply(world, step)
    ref = RunRef("scheduled__crashing", 1)
    world.run(RunRequest(), crash_at, ref)
    world.run(RunRequest(), 0, RunRef(ref.run_id, 2))
    settle(world)
    check(world)
