"""Behaviour of the sync engine, example by example, on real ledgers."""

from __future__ import annotations

import itertools
from collections.abc import Sequence
from datetime import UTC, datetime, timedelta

import pytest

from ml_connector_provider.engine.core import EngineError, RunRequest, SyncEngine, SyncOptions
from ml_connector_provider.engine.types import Action, RunRef, StreamKey, Window, WriteItem, WriteResult
from ml_connector_provider.ledger import Ledger
from tests.unit.engine.memory import Crash, Crasher, MemorySource, MemoryStream, MemoryTarget

T0 = datetime(2026, 3, 1, 12, 0, tzinfo=UTC)
_tenants = itertools.count()


class Clock:
    def __init__(self, now: datetime) -> None:
        self.now = now

    def __call__(self) -> datetime:
        return self.now


@pytest.fixture
def key() -> StreamKey:
    return StreamKey(f"tenant{next(_tenants)}", "memory", "records")


@pytest.fixture
def clock() -> Clock:
    return Clock(T0)


@pytest.fixture
def ledger(shared_ledger: Ledger, clock: Clock) -> Ledger:
    """The shared database, with the ledger's own time on the test clock."""
    return Ledger(shared_ledger.engine, clock=clock)


def make(ledger: Ledger, clock: Clock, **options: object) -> SyncEngine:
    defaults: dict[str, object] = {
        "overlap": timedelta(minutes=10),
        "lag": timedelta(minutes=1),
        "batch_size": 2,
        "initial_start": T0 - timedelta(days=1),
    }
    defaults.update(options)
    return SyncEngine(ledger, SyncOptions(**defaults), clock=clock)  # type: ignore[arg-type]


def one_record(
    ledger: Ledger, clock: Clock, changed_at: datetime, **options: object
) -> tuple[MemorySource, MemoryTarget, SyncEngine]:
    """A source holding ``r1`` (``{"value": 1}``, changed at ``changed_at``), an empty target, an engine."""
    source = MemorySource()
    source.change("r1", {"value": 1}, changed_at)
    return source, MemoryTarget(), make(ledger, clock, **options)


def test_first_run_creates_then_second_run_is_unchanged(ledger: Ledger, key: StreamKey, clock: Clock) -> None:
    source, target = MemorySource(), MemoryTarget()
    for i in range(5):
        source.change(f"r{i}", {"value": i}, T0 - timedelta(hours=1, minutes=i))
    engine = make(ledger, clock)

    first = engine.run(key, MemoryStream(source, target), RunRef("run1"))
    assert first.as_dict() | {"window": None} == {
        "tenant": key.tenant,
        "integration": "memory",
        "stream": "records",
        "mode": "incremental",
        "window": None,
        "read": 5,
        "created": 5,
        "updated": 0,
        "skipped": 0,
        "unchanged": 0,
        "dead_lettered": 0,
        "dead_letters_retried": 0,
        "dead_letters_recovered": 0,
        "files_rejected": 0,
        "rejected_units": {},
        "missing_ids": [],
        "cursor_advanced": True,
    }
    assert first.window == Window(T0 - timedelta(days=1), T0 - timedelta(minutes=1))
    assert ledger.get_cursor(key).position == T0 - timedelta(minutes=1)  # type: ignore[union-attr]

    # The next window starts `overlap` before the cursor; records there are recognised as synced.
    source.change("r0", {"value": 100}, T0 - timedelta(minutes=5))
    clock.now = T0 + timedelta(minutes=15)
    second = engine.run(key, MemoryStream(source, target), RunRef("run2"))
    assert second.window == Window(T0 - timedelta(minutes=11), T0 + timedelta(minutes=14))
    assert (second.read, second.updated, second.created) == (1, 1, 0)
    assert sorted(o["value"] for o in target.objects.values()) == [1, 2, 3, 4, 100]


def test_overlap_rereads_are_unchanged_and_not_written(ledger: Ledger, key: StreamKey, clock: Clock) -> None:
    source, target, engine = one_record(ledger, clock, T0 - timedelta(minutes=3), lag=timedelta(0))
    engine.run(key, MemoryStream(source, target), RunRef("a"))
    clock.now += timedelta(minutes=1)
    again = engine.run(key, MemoryStream(source, target), RunRef("b"))
    assert (again.read, again.unchanged, again.updated, again.created) == (1, 1, 0, 0)
    assert len(ledger.query_audit(tenant=key.tenant)) == 1  # the re-read leaves no audit row


def test_cleared_task_replays_its_own_window(ledger: Ledger, key: StreamKey, clock: Clock) -> None:
    source, target, engine = one_record(ledger, clock, T0 - timedelta(hours=2))
    first = engine.run(key, MemoryStream(source, target), RunRef("scheduled__1"))

    clock.now += timedelta(hours=3)  # much later, an operator clears the task of that run
    target.objects.clear()  # …because the target lost the object
    replay = engine.run(key, MemoryStream(source, target), RunRef("scheduled__1", try_number=2))
    assert replay.window == first.window
    # A plain re-run finds the link and the same content: it is not rewritten. A forced replay is
    # what repairs a target; see the next test.
    assert replay.unchanged == 1


def test_replay_by_ids_forces_the_write(ledger: Ledger, key: StreamKey, clock: Clock) -> None:
    source, target = MemorySource(), MemoryTarget()
    source.change("r1", {"value": 1}, T0 - timedelta(hours=2))
    source.change("r2", {"value": 2}, T0 - timedelta(hours=2))
    engine = make(ledger, clock)
    engine.run(key, MemoryStream(source, target), RunRef("s1"))
    cursor_before = ledger.get_cursor(key)

    target.objects[ledger.get_links(key, ["r1"])["r1"].target_id]["value"] = -1  # drift in the target
    summary = engine.run(
        key,
        MemoryStream(source, target),
        RunRef("manual__1"),
        RunRequest(mode="replay_ids", record_ids=("r1", "zz")),
    )
    assert (summary.updated, summary.created, summary.missing_ids) == (1, 0, ["zz"])
    assert target.objects[ledger.get_links(key, ["r1"])["r1"].target_id]["value"] == 1
    assert ledger.get_cursor(key) == cursor_before  # replays never move the cursor


def test_replay_range_does_not_move_cursor(ledger: Ledger, key: StreamKey, clock: Clock) -> None:
    source, target, engine = one_record(ledger, clock, T0 - timedelta(days=3))
    engine.run(key, MemoryStream(source, target), RunRef("s1"))
    assert target.creates == 0  # before the initial start
    request = RunRequest(
        mode="replay_range", replay_from=T0 - timedelta(days=4), replay_to=T0 - timedelta(days=2)
    )
    summary = engine.run(key, MemoryStream(source, target), RunRef("manual__r"), request)
    assert (summary.created, summary.cursor_advanced) == (1, False)
    assert ledger.get_cursor(key).position == T0 - timedelta(minutes=1)  # type: ignore[union-attr]


def test_dead_letter_then_fixed_reference_posts_on_retry(
    ledger: Ledger, key: StreamKey, clock: Clock
) -> None:
    source, target = MemorySource(), MemoryTarget()
    source.change("r1", {"value": 1, "ref": "A"}, T0 - timedelta(hours=1))
    source.change("r2", {"value": 2}, T0 - timedelta(hours=1))
    refs: set[str] = set()
    engine = make(ledger, clock)
    first = engine.run(key, MemoryStream(source, target, known_refs=refs), RunRef("s1"))
    assert (first.created, first.dead_lettered) == (1, 1)
    [letter] = ledger.list_dead_letters(tenant=key.tenant)
    assert (letter.source_id, letter.reason, letter.attempts) == (
        "r1",
        "reference A is not set up in the target (field ref)",
        1,
    )

    refs.add("A")  # the reference is fixed in the target; the source record does not change
    clock.now += timedelta(minutes=1)
    not_due = engine.run(key, MemoryStream(source, target, known_refs=refs), RunRef("s2"))
    assert not_due.retried == 0  # back-off: not due yet

    ledger.retry_dead_letters_now([letter.id])
    retried = engine.run(key, MemoryStream(source, target, known_refs=refs), RunRef("s3"))
    assert (retried.retried, retried.recovered, retried.created) == (1, 1, 1)
    assert ledger.list_dead_letters(tenant=key.tenant) == []
    actions = {(row.source_id, row.action) for row in ledger.query_audit(tenant=key.tenant)}
    assert actions == {("r1", "dead_lettered"), ("r1", "created"), ("r2", "created")}


def test_dead_letters_retry_from_stored_copy_when_source_cannot_refetch(
    ledger: Ledger, key: StreamKey, clock: Clock
) -> None:
    source, target = MemorySource(), MemoryTarget()
    source.change("r1", {"value": 7, "ref": "B"}, T0 - timedelta(hours=1))
    refs: set[str] = set()
    engine = make(ledger, clock)
    engine.run(key, MemoryStream(source, target, known_refs=refs, refetch=False), RunRef("s1"))
    source.rows.clear()  # e.g. the file it came from is archived
    refs.add("B")
    clock.now += timedelta(hours=7)
    summary = engine.run(key, MemoryStream(source, target, known_refs=refs, refetch=False), RunRef("s2"))
    assert summary.recovered == 1
    assert list(target.objects.values()) == [{"source_id": "r1", "value": 7, "ref": "B"}]


def test_replay_by_id_of_a_source_that_cannot_refetch_uses_the_dead_letter_copies(
    ledger: Ledger, key: StreamKey, clock: Clock
) -> None:
    source, target = MemorySource(), MemoryTarget()
    source.change("r1", {"value": 7, "ref": "B"}, T0 - timedelta(hours=1))
    refs: set[str] = set()
    engine = make(ledger, clock)
    engine.run(key, MemoryStream(source, target, known_refs=refs, refetch=False), RunRef("s1"))
    source.rows.clear()  # the file it came from is archived
    refs.add("B")
    # Not due yet; replayed on demand, by id, from the copy kept with the dead letter.
    summary = engine.run(
        key,
        MemoryStream(source, target, known_refs=refs, refetch=False),
        RunRef("s2"),
        RunRequest(mode="replay_ids", record_ids=("r1", "zz")),
    )
    assert (summary.created, summary.missing_ids) == (1, ["zz"])
    assert list(target.objects.values()) == [{"source_id": "r1", "value": 7, "ref": "B"}]
    with pytest.raises(EngineError, match="none of zz is a dead letter"):
        engine.run(
            key,
            MemoryStream(source, target, refetch=False),
            RunRef("s3"),
            RunRequest(mode="replay_ids", record_ids=("zz",)),
        )


def test_crash_after_target_write_marks_the_retry_uncertain(
    ledger: Ledger, key: StreamKey, clock: Clock
) -> None:
    source, target, engine = one_record(ledger, clock, T0 - timedelta(hours=1))
    crasher = Crasher(at=3)  # read.page, write.before, write.after → crash before the ledger commit
    with pytest.raises(Crash):
        engine.run(key, MemoryStream(source, target, crasher), RunRef("s1"))
    assert target.creates == 1
    assert ledger.get_links(key, ["r1"]) == {}
    assert list(ledger.pending_for(key, ["r1"])) == ["r1"]

    # The source record changes before the retry: a new payload, hence a new idempotency key, so
    # only the look-up prompted by `uncertain` prevents a second object.
    source.change("r1", {"value": 2}, T0 - timedelta(minutes=30))
    seen: list[WriteItem] = []

    class Spy(MemoryStream):
        def write(self, items: Sequence[WriteItem]) -> Sequence[WriteResult]:
            seen.extend(items)
            return super().write(items)

    summary = engine.run(key, Spy(source, target), RunRef("s1", try_number=2))
    assert [(i.record.id, i.uncertain, i.target_id) for i in seen] == [("r1", True, None)]
    assert (summary.updated, target.creates) == (1, 1)
    assert ledger.pending_for(key, ["r1"]) == {}


def test_write_reporting_unknown_record_is_an_engine_error(
    ledger: Ledger, key: StreamKey, clock: Clock
) -> None:
    source, target, engine = one_record(ledger, clock, T0 - timedelta(hours=1))

    class Broken(MemoryStream):
        def write(self, items: Sequence[WriteItem]) -> Sequence[WriteResult]:
            return [WriteResult("nope", Action.CREATED, "x")]

    with pytest.raises(EngineError, match="'nope', which was not in the batch"):
        engine.run(key, Broken(source, target), RunRef("s1"))
    assert ledger.get_cursor(key) is None


def test_max_window_catches_up_in_steps(ledger: Ledger, key: StreamKey, clock: Clock) -> None:
    source, target = MemorySource(), MemoryTarget()
    for day in range(4):
        source.change(f"r{day}", {"value": day}, T0 - timedelta(days=3 - day, hours=1))
    engine = make(ledger, clock, initial_start=T0 - timedelta(days=4), max_window=timedelta(days=1))
    windows = []
    for n in range(5):
        windows.append(engine.run(key, MemoryStream(source, target), RunRef(f"s{n}")).window)
        clock.now += timedelta(seconds=1)
    assert windows[0] == Window(T0 - timedelta(days=4), T0 - timedelta(days=3))
    assert windows[1] == Window(T0 - timedelta(days=3, minutes=10), T0 - timedelta(days=2, minutes=10))
    assert target.creates == 4


@pytest.mark.parametrize(
    ("params", "expected"),
    [
        ({}, RunRequest()),
        ({"record_ids": "a, b"}, RunRequest(mode="replay_ids", record_ids=("a", "b"))),
        ({"record_ids": ["x"], "replay_from": None}, RunRequest(mode="replay_ids", record_ids=("x",))),
        (
            {"replay_from": "2026-01-01T00:00:00Z", "replay_to": "2026-01-02"},
            RunRequest(
                mode="replay_range",
                replay_from=datetime(2026, 1, 1, tzinfo=UTC),
                replay_to=datetime(2026, 1, 2, tzinfo=UTC),
            ),
        ),
    ],
    ids=["incremental", "ids-csv", "ids-list", "range"],
)
def test_run_request_from_params(params: dict[str, object], expected: RunRequest) -> None:
    assert RunRequest.from_params(params) == expected


def test_run_request_rejects_half_range() -> None:
    with pytest.raises(ValueError, match="must be given together"):
        RunRequest.from_params({"replay_from": "2026-01-01"})


def test_retry_of_a_replay_run_replays_again_and_keeps_the_cursor(
    ledger: Ledger, key: StreamKey, clock: Clock
) -> None:
    source, target, engine = one_record(ledger, clock, T0 - timedelta(hours=2))
    engine.run(key, MemoryStream(source, target), RunRef("s1"))
    cursor = ledger.get_cursor(key)
    replay = RunRequest(
        mode="replay_range", replay_from=T0 - timedelta(hours=3), replay_to=T0 - timedelta(hours=1)
    )
    engine.run(key, MemoryStream(source, target), RunRef("manual__1"), replay)

    clock.now += timedelta(days=1)
    # The retry arrives without params (as a task retried by hand might): it still replays the range.
    again = engine.run(key, MemoryStream(source, target), RunRef("manual__1", try_number=2), RunRequest())
    assert (again.mode, again.window, again.updated) == ("replay_range", replay_window(replay), 1)
    assert ledger.get_cursor(key) == cursor


def replay_window(request: RunRequest) -> Window:
    assert request.replay_from is not None
    assert request.replay_to is not None
    return Window(request.replay_from, request.replay_to)


class AcknowledgingStream(MemoryStream):
    """Records, at each ``finish()``, which source records the ledger had already committed."""

    def __init__(self, *args: object, ledger: Ledger, key: StreamKey, **kwargs: object) -> None:
        super().__init__(*args, **kwargs)  # type: ignore[arg-type]
        self.ledger = ledger
        self.key = key
        self.finished: list[set[str]] = []

    def finish(self) -> None:
        ids = sorted(self.source.rows)
        self.finished.append(set(self.ledger.get_links(self.key, ids)))


def test_finish_runs_once_after_every_batch_is_committed(
    ledger: Ledger, key: StreamKey, clock: Clock
) -> None:
    source, target = MemorySource(page_size=2), MemoryTarget()
    for n in range(5):
        source.change(f"r{n}", {"value": n}, T0 - timedelta(minutes=30 - n))
    stream = AcknowledgingStream(source, target, ledger=ledger, key=key)
    make(ledger, clock, batch_size=2).run(key, stream, RunRef("run-1"))
    # One call, after the last (partial) batch: every record was already linked when it came.
    assert stream.finished == [{f"r{n}" for n in range(5)}]


def test_finish_is_not_reached_when_a_batch_fails(ledger: Ledger, key: StreamKey, clock: Clock) -> None:
    source, target = MemorySource(page_size=2), MemoryTarget()
    for n in range(3):
        source.change(f"r{n}", {"value": n}, T0 - timedelta(minutes=30 - n))
    stream = AcknowledgingStream(source, target, Crasher(at=2), ledger=ledger, key=key)
    with pytest.raises(Crash):
        make(ledger, clock, batch_size=2).run(key, stream, RunRef("run-1"))
    assert stream.finished == []
