"""A record whose mapping raises is dead-lettered alone; infrastructure errors still fail the task."""

from __future__ import annotations

import itertools
import logging
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest

from ml_connector_provider.engine.core import ERROR_TEXT_LIMIT, EngineError, SyncEngine, SyncOptions
from ml_connector_provider.engine.types import MapResult, RunRef, SourceRecord, StreamKey
from ml_connector_provider.ledger import Ledger, LedgerError
from tests.unit.engine.memory import MemorySource, MemoryStream, MemoryTarget

T0 = datetime(2026, 3, 1, 12, 0, tzinfo=UTC)
_tenants = itertools.count()


class Clock:
    def __init__(self, now: datetime) -> None:
        self.now = now

    def __call__(self) -> datetime:
        return self.now


class SettingsMissing(Exception):
    """A stream's configuration error, declared fatal by the stream."""


class PoisonStream(MemoryStream):
    """Converts ``data["digits"]`` with ``int()`` (as a careless mapping would), and raises
    ``raises[record id]`` for the records listed there."""

    fatal_errors = (SettingsMissing,)

    def __init__(self, *args: Any, raises: dict[str, BaseException] | None = None, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self.raises = raises or {}

    def map(self, record: SourceRecord, lookups: Any) -> MapResult:
        if record.id in self.raises:
            raise self.raises[record.id]
        if "digits" in record.data:
            record = SourceRecord(
                record.id,
                record.version,
                record.changed_at,
                {"value": int(record.data["digits"])},
            )
        return super().map(record, lookups)


@pytest.fixture
def key() -> StreamKey:
    return StreamKey(f"poison{next(_tenants)}", "memory", "records")


@pytest.fixture
def clock() -> Clock:
    return Clock(T0)


@pytest.fixture
def ledger(shared_ledger: Ledger, clock: Clock) -> Ledger:
    return Ledger(shared_ledger.engine, clock=clock)


def make(ledger: Ledger, clock: Clock) -> SyncEngine:
    options = SyncOptions(lag=timedelta(minutes=1), batch_size=3, initial_start=T0 - timedelta(days=1))
    return SyncEngine(ledger, options, clock=clock)


def five_records(poison: dict[str, Any] | None = None) -> MemorySource:
    source = MemorySource()
    for n in range(5):
        data = (poison or {}).get(f"r{n}", {"value": n})
        source.change(f"r{n}", data, T0 - timedelta(hours=1, minutes=5 - n))
    return source


def test_a_record_whose_mapping_raises_is_dead_lettered_and_the_batch_goes_on(
    ledger: Ledger, key: StreamKey, clock: Clock, caplog: pytest.LogCaptureFixture
) -> None:
    source, target = five_records({"r1": {"digits": "1" * 4301}}), MemoryTarget()
    caplog.set_level(logging.WARNING, logger="ml_connector_provider.engine.core")

    summary = make(ledger, clock).run(key, PoisonStream(source, target), RunRef("run-1"))

    assert (summary.read, summary.created, summary.dead_lettered) == (5, 4, 1)
    assert summary.cursor_advanced
    assert sorted(o["source_id"] for o in target.objects.values()) == ["r0", "r2", "r3", "r4"]
    [letter] = ledger.list_dead_letters(tenant=key.tenant)
    assert letter.source_id == "r1"
    assert letter.reason.startswith(
        "mapping failed: ValueError: Exceeds the limit (4300 digits) for integer string conversion"
    )
    assert "Traceback" not in letter.reason
    assert letter.record["data"] == {"digits": "1" * 4301}  # the copy a replay by id would use
    # The traceback is in the task log, once, at WARNING.
    [logged] = [r for r in caplog.records if r.exc_info]
    assert logged.levelno == logging.WARNING
    assert "r1" in logged.getMessage()


def test_the_reason_is_one_line_of_bounded_length(ledger: Ledger, key: StreamKey, clock: Clock) -> None:
    message = "first line\n  second line " + "x" * 5000
    stream = PoisonStream(five_records(), MemoryTarget(), raises={"r2": ValueError(message)})
    make(ledger, clock).run(key, stream, RunRef("run-1"))
    [letter] = ledger.list_dead_letters(tenant=key.tenant)
    assert letter.reason.startswith("mapping failed: ValueError: first line second line xxx")
    assert len(letter.reason) == len("mapping failed: ValueError: ") + ERROR_TEXT_LIMIT
    assert letter.reason.endswith("…")


def test_a_message_less_exception_is_named_by_its_type(ledger: Ledger, key: StreamKey, clock: Clock) -> None:
    stream = PoisonStream(five_records(), MemoryTarget(), raises={"r0": ZeroDivisionError()})
    make(ledger, clock).run(key, stream, RunRef("run-1"))
    [letter] = ledger.list_dead_letters(tenant=key.tenant)
    assert letter.reason == "mapping failed: ZeroDivisionError"


def test_the_dead_letter_posts_once_the_mapping_copes(ledger: Ledger, key: StreamKey, clock: Clock) -> None:
    source, target = five_records(), MemoryTarget()
    engine = make(ledger, clock)
    engine.run(key, PoisonStream(source, target, raises={"r3": RuntimeError("bug")}), RunRef("run-1"))
    [letter] = ledger.list_dead_letters(tenant=key.tenant)
    assert letter.reason == "mapping failed: RuntimeError: bug"

    ledger.retry_dead_letters_now([letter.id])
    clock.now += timedelta(minutes=1)
    summary = engine.run(key, PoisonStream(source, target), RunRef("run-2"))
    assert (summary.retried, summary.recovered) == (1, 1)
    assert ledger.list_dead_letters(tenant=key.tenant) == []
    assert target.count_for("r3") == 1


@pytest.mark.parametrize(
    "error",
    [
        EngineError("contract broken"),
        LedgerError("ledger unusable"),
        ConnectionResetError("peer reset"),
        TimeoutError("timed out"),
        MemoryError(),
        SettingsMissing("business_unit is not set"),
        KeyboardInterrupt(),
    ],
    ids=lambda error: type(error).__name__,
)
def test_infrastructure_and_configuration_errors_still_fail_the_task(
    ledger: Ledger, key: StreamKey, clock: Clock, error: BaseException
) -> None:
    source, target = five_records(), MemoryTarget()
    with pytest.raises(type(error)):
        make(ledger, clock).run(key, PoisonStream(source, target, raises={"r4": error}), RunRef("run-1"))
    assert ledger.list_dead_letters(tenant=key.tenant) == []
    assert ledger.get_cursor(key) is None  # the window is processed again by the next try
