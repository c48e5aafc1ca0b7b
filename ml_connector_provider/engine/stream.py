"""The contract between the sync engine and an integration's stream."""

from __future__ import annotations

import abc
from collections.abc import Iterable, Mapping, Sequence
from typing import TYPE_CHECKING, Any, ClassVar

from ml_connector_provider.engine.types import (
    DeadLetterRow,
    Link,
    MapResult,
    RejectedUnit,
    SourceRecord,
    Window,
    WriteItem,
    WriteResult,
)

if TYPE_CHECKING:
    from typing import Self

    from ml_connector_provider.engine.context import StreamContext


class Stream(abc.ABC):
    """One flow of records from a source system to a target system.

    A stream reads, maps and writes; the engine decides what to read, what is new, what has to be
    retried, and records everything in the ledger. Implementations are small: the hooks do the
    I/O and the mapping is a pure function.

    Subclasses set :attr:`source_system` and :attr:`target_system` and implement
    :meth:`from_context`, :meth:`read`, :meth:`map` and :meth:`write`. Streams that can re-read single records by id also implement
    :meth:`fetch`; then replays by id and dead-letter retries work from fresh source data instead
    of the copy stored with the dead letter.
    """

    source_system: str = ""
    target_system: str = ""
    #: Exception classes that :meth:`map` may raise and that must fail the task instead of
    #: dead-lettering the record (see :meth:`map`). Default: none beyond the engine's own.
    fatal_errors: ClassVar[tuple[type[Exception], ...]] = ()

    @classmethod
    def from_context(cls, ctx: StreamContext) -> Self:
        """Build the stream for one tenant and run: its hooks from ``ctx.connections`` by role,
        its settings from ``ctx.settings``. The integration's spec names the class; the operator
        calls this when the task runs.

        :raises NotImplementedError: a stream only built by hand (in tests) need not implement it.
        """
        raise NotImplementedError(f"{cls.__qualname__} cannot be built from a StreamContext")

    def dry_run(self) -> Mapping[str, Any] | None:
        """Called before the run. A stream asked by its run params for a dry run (a plan of what
        it would do) returns that plan here, and the run stops: nothing is read through the
        engine, written, or moved in the ledger. Default: ``None``, a normal run."""
        return None

    @abc.abstractmethod
    def read(self, window: Window) -> Iterable[Sequence[SourceRecord]]:
        """Yield pages of the records changed in ``[window.start, window.end)``.

        Pages must be ordered by change timestamp, then primary key, so paging is stable.
        """

    def fetch(self, ids: Sequence[str]) -> Iterable[SourceRecord]:
        """Yield the current state of the given records; ids that no longer exist are left out.

        :raises NotImplementedError: when the source cannot be read by id (the default).
        """
        raise NotImplementedError

    def prepare(self, records: Sequence[SourceRecord], links: Mapping[str, Link]) -> Any:
        """Gather what :meth:`map` needs for a batch (look-ups), once per batch. Default: nothing.

        :param records: the batch.
        :param links: the ledger links the batch's records already have, by source id (the
            engine reads them anyway; a stream whose mapping depends on "posted before" uses them
            instead of asking the ledger again).
        """
        return None

    @abc.abstractmethod
    def map(self, record: SourceRecord, lookups: Any) -> MapResult:
        """Turn one source record into a :class:`Write`, :class:`Skip` or :class:`DeadLetter`. Pure.

        A record the mapping cannot handle must not stop the others: any other exception raised
        here dead-letters that one record with the reason ``"mapping failed: <type>: <message>"``
        (the message on one line, cut to 500 characters; the traceback goes to the task log at
        WARNING), and the batch goes on. The dead letter is retried like any other, so a fixed
        mapping picks the record up again.

        These still fail the task (Airflow retries it; the cursor has not moved):
        ``KeyboardInterrupt``, ``SystemExit`` and Airflow's task timeouts (not ``Exception``),
        :class:`~ml_connector_provider.engine.core.EngineError`, the ledger's errors
        (``LedgerError``, SQLAlchemy's), ``OSError`` (connections, timeouts, disks),
        ``MemoryError``, and the classes in :attr:`fatal_errors` (a stream whose mapping can meet
        a transport or configuration error names them there). Exceptions of :meth:`prepare` and
        :meth:`write` are not caught at all.
        """

    @abc.abstractmethod
    def write(self, items: Sequence[WriteItem]) -> Sequence[WriteResult]:
        """Write a batch idempotently and report one :class:`WriteResult` per item.

        A record the target refuses for a data reason is reported as ``DEAD_LETTERED`` with the
        reason; transient failures (after the transport's retries) are raised and fail the task.
        """

    def finish(self) -> None:  # noqa: B027 - optional hook
        """Called once every batch read from the window is committed to the ledger, before the
        cursor moves. A stream whose source is a queue (files in a directory) acknowledges what it
        read here; a crash before this call leaves the source as it was, to be read again.
        """

    def rejected_units(self) -> Sequence[RejectedUnit]:
        """The units bigger than a record this run rejected as a whole (files moved to an error
        directory), asked for right after :meth:`finish`. The engine opens a dead letter of the
        unit's kind for each (listed with the record dead letters, audited, counted in the run's
        summary). Default: none."""
        return ()

    def take_again(self, dead_letters: Sequence[DeadLetterRow]) -> Mapping[int, str]:
        """Take rejected units again: called at the start of a run (before :meth:`read`) with the
        stream's open dead letters of units that an operator asked to retry
        (``ml-connector dead-letters retry``).

        A stream puts each unit back where :meth:`read` finds it (a file back in the inbound
        directory) and returns, by dead-letter id, a note of what it did; the engine resolves
        those dead letters with the note. A unit rejected again opens its dead letter again. The
        records the unit holds must be safe to read twice: what was posted from them before is
        linked in the ledger and not posted again. Default: nothing is taken again (the dead
        letters stay open and due).
        """
        return {}

    def close(self) -> None:  # noqa: B027 - optional hook
        """Release clients. Called once when the run ends."""
