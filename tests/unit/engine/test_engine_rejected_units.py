"""Units a stream rejects whole: the engine opens their dead letters after ``finish()``, counts them,
hands the ones an operator retried back to the stream before ``read()`` and resolves those it took."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from datetime import timedelta

import pytest

from ml_connector_provider.engine.core import EngineError
from ml_connector_provider.engine.types import DeadLetterRow, RejectedUnit, RunRef, StreamKey
from ml_connector_provider.ledger import Ledger
from tests.unit.engine.memory import MemorySource, MemoryStream, MemoryTarget
from tests.unit.engine.test_engine import T0, Clock, clock, key, ledger, make

__all__ = ["clock", "key", "ledger"]


class RejectingStream(MemoryStream):
    """A memory stream that also rejects named "files" and records what it was asked to take again."""

    def __init__(self, rejects: Sequence[str] = (), take: bool = True, extra_id: int | None = None) -> None:
        super().__init__(MemorySource(), MemoryTarget())
        self.rejects = list(rejects)
        self.take = take
        self.extra_id = extra_id
        self.finished = False
        self.given: list[str] = []

    def finish(self) -> None:
        self.finished = True

    def rejected_units(self) -> Sequence[RejectedUnit]:
        assert self.finished  # asked only after finish()
        return [
            RejectedUnit("file", name, f"{name}: no header", {"path": f"/error/{name}"})
            for name in self.rejects
        ]

    def take_again(self, dead_letters: Sequence[DeadLetterRow]) -> Mapping[int, str]:
        assert not self.finished  # before read()
        self.given = [d.name for d in dead_letters]
        taken = {d.id: f"moved {d.record['path']} back" for d in dead_letters} if self.take else {}
        if self.extra_id is not None:
            taken[self.extra_id] = "not given"
        return taken


def test_rejected_units_become_dead_letters_counted_in_the_summary(
    ledger: Ledger, clock: Clock, key: StreamKey
) -> None:
    summary = make(ledger, clock).run(key, RejectingStream(["a.csv", "b.csv"]), RunRef("run1"))

    assert (summary.files_rejected, summary.rejected, summary.dead_lettered) == (2, {"file": 2}, 0)
    assert summary.as_dict()["files_rejected"] == 2
    assert [r[0] for r in summary.reasons] == ["file:a.csv", "file:b.csv"]
    stored = ledger.get_run(key, "run1")
    assert stored is not None
    assert stored.summary is not None
    assert stored.summary["rejected_units"] == {"file": 2}
    assert sorted(d.source_id for d in ledger.list_dead_letters(tenant=key.tenant)) == [
        "file:a.csv",
        "file:b.csv",
    ]


def test_retried_units_are_handed_back_before_read_and_resolved(
    ledger: Ledger, clock: Clock, key: StreamKey
) -> None:
    engine = make(ledger, clock)
    engine.run(key, RejectingStream(["a.csv"]), RunRef("run1"))
    [dead] = ledger.list_dead_letters(tenant=key.tenant)

    # Not asked: the next run is not handed anything.
    clock.now = T0 + timedelta(hours=1)
    quiet = RejectingStream()
    engine.run(key, quiet, RunRef("run2"))
    assert quiet.given == []

    ledger.retry_dead_letters_now([dead.id])
    clock.now = T0 + timedelta(hours=2)
    taker = RejectingStream()
    engine.run(key, taker, RunRef("run3"))
    assert taker.given == ["a.csv"]
    assert ledger.list_dead_letters(tenant=key.tenant) == []
    [resolved] = ledger.list_dead_letters(tenant=key.tenant, status="resolved")
    assert resolved.id == dead.id


def test_a_unit_the_stream_does_not_take_stays_open_and_due(
    ledger: Ledger, clock: Clock, key: StreamKey
) -> None:
    engine = make(ledger, clock)
    engine.run(key, RejectingStream(["a.csv"]), RunRef("run1"))
    ledger.retry_dead_letters_now(tenant=key.tenant)
    clock.now = T0 + timedelta(hours=1)
    engine.run(key, RejectingStream(take=False), RunRef("run2"))
    assert [d.name for d in ledger.due_unit_dead_letters(key, now=clock.now)] == ["a.csv"]


def test_taking_a_dead_letter_not_given_is_an_engine_error(
    ledger: Ledger, clock: Clock, key: StreamKey
) -> None:
    engine = make(ledger, clock)
    engine.run(key, RejectingStream(["a.csv"]), RunRef("run1"))
    ledger.retry_dead_letters_now(tenant=key.tenant)
    clock.now = T0 + timedelta(hours=1)
    with pytest.raises(EngineError, match=r"reported dead letters \[999999\] it was not given"):
        engine.run(key, RejectingStream(extra_id=999_999), RunRef("run2"))
