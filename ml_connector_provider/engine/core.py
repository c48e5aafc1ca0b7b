"""The sync loop, written once for every integration.

read what changed since the cursor → map → write idempotently → record link and audit row →
advance the cursor. See ``docs/engine.md`` for the guarantees and how each is achieved.
"""

from __future__ import annotations

import hashlib
import logging
from collections import OrderedDict
from collections.abc import Callable, Collection, Iterable, Iterator, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from typing import TYPE_CHECKING, Any

from sqlalchemy.exc import SQLAlchemyError

from ml_connector_provider.engine.types import (
    Action,
    DeadLetter,
    Outcome,
    RunRef,
    Skip,
    SourceRecord,
    StreamKey,
    Window,
    Write,
    WriteItem,
    WriteResult,
    idempotency_key,
    payload_hash,
    record_from_json,
    utcnow,
)
from ml_connector_provider.ledger.schema import LedgerError

if TYPE_CHECKING:
    from ml_connector_provider.engine.stream import Stream
    from ml_connector_provider.ledger import Ledger

log = logging.getLogger(__name__)

INCREMENTAL = "incremental"
REPLAY_RANGE = "replay_range"
REPLAY_IDS = "replay_ids"


class EngineError(RuntimeError):
    """A stream broke the engine's contract (for example reported a result for an unknown record)."""


@dataclass(frozen=True)
class SyncOptions:
    """How windows and batches are cut.

    :param overlap: how far each window reaches back before the cursor, to catch records whose
        change timestamp was assigned before the previous window's end but committed after it.
        Records seen again are recognised through the ledger and not written twice.
    :param lag: how far behind "now" a window ends, so in-flight source transactions settle.
    :param batch_size: records per target write and per ledger transaction.
    :param initial_lookback: where the very first window starts, counted back from now.
    :param initial_start: an absolute start for the very first window (wins over the look-back).
    :param max_window: the longest window one run processes; a stream far behind catches up
        over several runs instead of one huge run.
    :param dead_letter_limit: how many due dead letters one run retries.
    :param lease_ttl: how long the stream's lease stands after its last renewal; a run renews it
        on every ledger write, before every target write and from a heartbeat every third of it,
        so it lapses only when its holder's process is gone; another run then takes it over. A
        retry of the same task instance takes it over at once.
    """

    overlap: timedelta = timedelta(minutes=10)
    lag: timedelta = timedelta(minutes=1)
    batch_size: int = 100
    initial_lookback: timedelta = timedelta(days=30)
    initial_start: datetime | None = None
    max_window: timedelta | None = None
    dead_letter_limit: int = 500
    lease_ttl: timedelta = timedelta(minutes=5)

    def __post_init__(self) -> None:
        if self.batch_size < 1:
            raise ValueError("batch_size must be at least 1")
        for name in ("overlap", "lag", "initial_lookback"):
            if getattr(self, name) < timedelta(0):
                raise ValueError(f"{name} must not be negative")
        if self.max_window is not None and self.max_window <= timedelta(0):
            raise ValueError("max_window must be positive")
        if self.lease_ttl <= timedelta(0):
            raise ValueError("lease_ttl must be positive")

    @classmethod
    def from_mapping(cls, values: Mapping[str, Any]) -> SyncOptions:
        """Build options from the tenant config's ``sync`` block (durations in seconds)."""

        def seconds(name: str) -> timedelta | None:
            value = values.get(name)
            return None if value is None else timedelta(seconds=float(value))

        kwargs: dict[str, Any] = {}
        for name in ("overlap", "lag", "initial_lookback", "max_window", "lease_ttl"):
            if name in values:
                kwargs[name] = seconds(name)
        for name in ("batch_size", "dead_letter_limit"):
            if values.get(name) is not None:
                kwargs[name] = int(values[name])
        if values.get("initial_start"):
            start = values["initial_start"]
            kwargs["initial_start"] = (
                start if isinstance(start, datetime) else datetime.fromisoformat(str(start))
            )
        return cls(**{k: v for k, v in kwargs.items() if v is not None or k == "max_window"})


@dataclass(frozen=True)
class RunRequest:
    """What a run should process: the next incremental window, a date range, or a list of ids."""

    mode: str = INCREMENTAL
    replay_from: datetime | None = None
    replay_to: datetime | None = None
    record_ids: tuple[str, ...] = ()

    def __post_init__(self) -> None:
        if self.mode not in (INCREMENTAL, REPLAY_RANGE, REPLAY_IDS):
            raise ValueError(f"unknown run mode {self.mode!r}")
        if self.mode == REPLAY_RANGE and (self.replay_from is None or self.replay_to is None):
            raise ValueError("a range replay needs both replay_from and replay_to")
        if self.mode == REPLAY_IDS and not self.record_ids:
            raise ValueError("an id replay needs at least one record id")

    @classmethod
    def from_params(
        cls, params: Mapping[str, Any] | None, *, streams: Collection[str] | None = None
    ) -> RunRequest:
        """Read a request from DAG-run params (``replay_from``, ``replay_to``, ``record_ids``, ``stream``).

        Empty values (``None``, ``""``, ``[]``) mean "not given". ``record_ids`` is a list of ids or
        one comma-separated string; dates are ISO 8601 (a date alone is midnight, no offset is UTC).

        :param params: the run's params.
        :param streams: the stream names ``stream`` may take (not checked when ``None``).
        :raises ValueError: params that cannot describe a run, with a message saying what to fix:
            half a range, ``replay_to`` not after ``replay_from``, a malformed date, a malformed or
            empty id, ids together with a range, or an unknown ``stream``.
        """
        params = params or {}
        problems: list[str] = []
        selected = params.get("stream")
        known = None if streams is None else tuple(streams)
        if selected not in (None, "") and known is not None and selected not in known:
            choices = ", ".join(repr(name) for name in known)
            problems.append(
                f"stream {selected!r} is not a stream of this DAG: use one of {choices}, or leave it empty"
            )
        record_ids = cls._record_ids(params.get("record_ids"), problems)
        start = cls._replay_bound(params, "replay_from", problems)
        end = cls._replay_bound(params, "replay_to", problems)
        given = [name for name in ("replay_from", "replay_to") if params.get(name) not in (None, "")]
        if record_ids and given:
            problems.append(
                "record_ids and " + " / ".join(given) + " were both given: an id replay re-syncs the ids "
                "whatever their change time, so give either record_ids or a replay range, not both"
            )
        elif len(given) == 1:
            missing = "replay_to" if given == ["replay_from"] else "replay_from"
            problems.append(
                f"replay_from and replay_to must be given together: {given[0]} is set but {missing} is "
                f"empty; give both (the range is [replay_from, replay_to)) or neither"
            )
        elif start is not None and end is not None and end <= start:
            problems.append(
                f"replay_to ({end.isoformat()}) must be after replay_from ({start.isoformat()}); "
                "swap them or widen the range"
            )
        if problems:
            raise ValueError("; ".join(problems))
        if record_ids:
            return cls(mode=REPLAY_IDS, record_ids=record_ids)
        if start is not None and end is not None:
            return cls(mode=REPLAY_RANGE, replay_from=start, replay_to=end)
        return cls()

    @staticmethod
    def _record_ids(value: Any, problems: list[str]) -> tuple[str, ...]:
        if value is None or value == "" or value == []:
            return ()
        if isinstance(value, str):
            parts: list[Any] = value.split(",")
        elif isinstance(value, list | tuple):
            parts = list(value)
        else:
            problems.append(f"record_ids must be a list of ids, got {type(value).__name__} {value!r}")
            return ()
        ids: list[str] = []
        for position, part in enumerate(parts, start=1):
            if isinstance(part, bool) or not isinstance(part, str | int):
                problems.append(f"record_ids: id {position} must be a string, got {part!r}")
            elif not str(part).strip():
                problems.append(f"record_ids: id {position} is empty; remove it or fill it in")
            else:
                ids.append(str(part).strip())
        return tuple(ids)

    @staticmethod
    def _replay_bound(params: Mapping[str, Any], name: str, problems: list[str]) -> datetime | None:
        value = params.get(name)
        if value is None or value == "":
            return None
        if isinstance(value, str | datetime):
            try:
                return _as_utc(value)
            except ValueError:
                pass
        problems.append(
            f"{name} {value!r} is not an ISO 8601 date-time; write it like 2026-03-01T00:00:00+00:00 "
            "(or 2026-03-01, midnight UTC)"
        )
        return None

    def as_params(self) -> dict[str, Any]:
        return {
            "replay_from": self.replay_from.isoformat() if self.replay_from else None,
            "replay_to": self.replay_to.isoformat() if self.replay_to else None,
            "record_ids": list(self.record_ids),
        }


@dataclass
class Summary:
    """Counts of one stream run; :meth:`as_dict` is what goes to XCom."""

    key: StreamKey
    mode: str
    window: Window | None = None
    read: int = 0
    created: int = 0
    updated: int = 0
    skipped: int = 0
    unchanged: int = 0
    dead_lettered: int = 0
    retried: int = 0
    recovered: int = 0
    missing_ids: list[str] = field(default_factory=list)
    cursor_advanced: bool = False
    #: Units (files) rejected as a whole, counted by kind.
    rejected: dict[str, int] = field(default_factory=dict)
    #: The first dead letters of the run, ``(source id, reason)``, for the end-of-task table
    #: (at most :data:`REASONS_KEPT`; kept out of :meth:`as_dict`).
    reasons: list[tuple[str, str]] = field(default_factory=list)
    _units_noted: int = field(default=0, repr=False)

    @property
    def files_rejected(self) -> int:
        """Files rejected as a whole in this run."""
        return self.rejected.get("file", 0)

    @property
    def new_dead_letters(self) -> int:
        """Records dead-lettered among those this run read (the automatic retries of earlier dead
        letters that failed again are not new)."""
        return max(self.dead_lettered - (self.retried - self.recovered), 0)

    @property
    def rejections(self) -> int:
        """What this run newly rejected: records dead-lettered plus units rejected whole."""
        return self.new_dead_letters + sum(self.rejected.values())

    @property
    def total_dead_letters(self) -> int:
        """Every dead letter this run opened or re-opened, records and units."""
        return self.dead_lettered + sum(self.rejected.values())

    def note_reason(self, source_id: str, reason: str | None, *, unit: bool = False) -> None:
        """Keep the reason of one of the run's first dead letters; a rejected unit (a file) goes
        before the records, as it rejected more than one record's worth."""
        entry = (source_id, reason or "")
        if unit:
            self.reasons.insert(self._units_noted, entry)
            self._units_noted += 1
            del self.reasons[REASONS_KEPT:]
            self._units_noted = min(self._units_noted, REASONS_KEPT)
        elif len(self.reasons) < REASONS_KEPT:
            self.reasons.append(entry)

    def count(self, action: Action) -> None:
        attr = {
            Action.CREATED: "created",
            Action.UPDATED: "updated",
            Action.SKIPPED: "skipped",
            Action.UNCHANGED: "unchanged",
            Action.DEAD_LETTERED: "dead_lettered",
        }[action]
        setattr(self, attr, getattr(self, attr) + 1)

    def as_dict(self) -> dict[str, Any]:
        return {
            "tenant": self.key.tenant,
            "integration": self.key.integration,
            "stream": self.key.stream,
            "mode": self.mode,
            "window": self.window.as_dict() if self.window else None,
            "read": self.read,
            "created": self.created,
            "updated": self.updated,
            "skipped": self.skipped,
            "unchanged": self.unchanged,
            "dead_lettered": self.dead_lettered,
            "dead_letters_retried": self.retried,
            "dead_letters_recovered": self.recovered,
            "files_rejected": self.files_rejected,
            "rejected_units": dict(sorted(self.rejected.items())),
            "missing_ids": list(self.missing_ids),
            "cursor_advanced": self.cursor_advanced,
        }


class SyncEngine:
    """Runs streams against the ledger.

    :param ledger: the provider's store (cursors, links, audit, dead letters).
    :param options: window and batching options.
    :param clock: returns the current UTC time; injectable for tests and the sandbox.
    """

    def __init__(
        self,
        ledger: Ledger,
        options: SyncOptions | None = None,
        *,
        clock: Callable[[], datetime] = utcnow,
    ) -> None:
        self.ledger = ledger
        self.options = options or SyncOptions()
        self.clock = clock

    # -- public -------------------------------------------------------------------------------

    def run(
        self,
        key: StreamKey,
        stream: Stream,
        run: RunRef,
        request: RunRequest | None = None,
        *,
        owner: str | None = None,
    ) -> Summary:
        """Process one run of ``stream`` and return its summary.

        The cursor moves only after every batch of the window is committed, so a crash anywhere
        leaves the window to be processed again; idempotent writes and the ledger's links make
        that safe. The run holds the stream's lease throughout (see ``docs/engine.md``, Leases).

        :param owner: who holds the lease: the task instance, the same for every try of it
            (default :func:`lease_owner` of ``run``).
        :raises LeaseHeld: another run holds a live lease on the stream.
        :raises LeaseLost: the lease was taken over while this run worked; it wrote nothing since.
        """
        request = request or RunRequest()
        ttl = self.options.lease_ttl
        with self.ledger.lease(
            key, owner=owner or lease_owner(run), ttl=ttl, try_number=run.try_number, heartbeat=ttl / 3
        ):
            earlier = self.ledger.get_run(key, run.run_id)
            if earlier is not None:
                # A retried or cleared task does again what its first try did: same mode, same
                # window or ids, whatever the request says now.
                stored = RunRequest.from_params(earlier.params)
                if stored != request:
                    log.info("%s: run %s first ran as %s; doing the same again", key, run.run_id, stored.mode)
                request = stored
            summary = Summary(key=key, mode=request.mode)
            # Only the records with a due dead letter need remembering (so the retry at the end
            # skips what the window already did): a run's memory does not grow with its size.
            due = self.ledger.due_dead_letters(key, now=self.clock(), limit=self.options.dead_letter_limit)
            processed = _Processed({d.source_id for d in due})
            if request.mode == REPLAY_IDS:
                now = self.clock()
                self._claim(key, run, request, Window(now, now))
                records = self._fetch(key, stream, request.record_ids, summary)
                self._process(
                    key, stream, run, _pages(records, self.options.batch_size), summary, processed, force=True
                )
            else:
                # A retry keeps the window of its first try (and never re-reads the cursor for it).
                window = self._claim(
                    key, run, request, earlier.window if earlier else self._next_window(key, request)
                )
                summary.window = window
                log.info(
                    "%s: %s window %s → %s",
                    key,
                    request.mode,
                    window.start.isoformat(),
                    window.end.isoformat(),
                )
                force = request.mode == REPLAY_RANGE
                self._take_again(key, stream)
                self._process(key, stream, run, stream.read(window), summary, processed, force=force)
                stream.finish()
                self._record_rejected_units(key, stream, run, summary)
                if request.mode == INCREMENTAL:
                    summary.cursor_advanced = self.ledger.advance_cursor(key, window.end)
            self._retry_dead_letters(key, stream, run, summary, processed)
            self.ledger.finish_run(key, run, summary.as_dict())
        log.info("%s: %s", key, _describe(summary))
        return summary

    # -- windows ------------------------------------------------------------------------------

    def _next_window(self, key: StreamKey, request: RunRequest) -> Window:
        if request.mode == REPLAY_RANGE:
            assert request.replay_from is not None
            assert request.replay_to is not None
            return Window(request.replay_from, request.replay_to)
        now = self.clock()
        end = now - self.options.lag
        cursor = self.ledger.get_cursor(key)
        if cursor is not None:
            start = cursor.position - self.options.overlap
        elif self.options.initial_start is not None:
            start = _as_utc(self.options.initial_start)
        else:
            start = now - self.options.initial_lookback
        start = min(start, end)
        if self.options.max_window is not None and end - start > self.options.max_window:
            # Catch up in steps; the overlap is already inside `start`, so step from the cursor.
            end = start + self.options.max_window
        return Window(start, end)

    def _claim(self, key: StreamKey, run: RunRef, request: RunRequest, window: Window) -> Window:
        """Record the run's window (the ledger keeps the first one of a run)."""
        return self.ledger.claim_run_window(key, run, window, mode=request.mode, params=request.as_params())

    # -- records ------------------------------------------------------------------------------

    def _fetch(
        self, key: StreamKey, stream: Stream, ids: Sequence[str], summary: Summary
    ) -> list[SourceRecord]:
        """The records to replay by id: fresh from the source, or, from a source that cannot be
        read by id (a queue of files, events already consumed), the copies kept with their dead
        letters."""
        try:
            records = list(stream.fetch(ids))
        except NotImplementedError:
            stored = self.ledger.dead_letters_for(key, ids)
            if not stored:
                raise EngineError(
                    f"stream {type(stream).__name__} cannot re-read records by id and none of "
                    f"{', '.join(list(ids)[:10])} is a dead letter of {key}; replay a date range instead"
                ) from None
            records = [record_from_json(stored[i].record) for i in ids if i in stored]
        found = {r.id for r in records}
        summary.missing_ids.extend(i for i in ids if i not in found)
        return records

    def _process(
        self,
        key: StreamKey,
        stream: Stream,
        run: RunRef,
        pages: Iterable[Sequence[SourceRecord]],
        summary: Summary,
        processed: _Processed,
        *,
        force: bool,
    ) -> None:
        batch: dict[str, SourceRecord] = {}
        # The newest read of each recent record: a source whose paging shifted repeats records of
        # nearby pages. Bounded, so memory stays flat; a repeat further back than this is simply
        # written again, which the ledger's links turn into "unchanged".
        seen: OrderedDict[str, tuple[datetime, str]] = OrderedDict()
        for page in pages:
            for record in page:
                summary.read += 1
                mark = (record.changed_at, record.version)
                previous = seen.get(record.id)
                if previous is not None and mark <= previous:
                    # The source repeated a record (paging shifted, overlapping pages): the first
                    # read in this run already handles it.
                    summary.count(Action.UNCHANGED)
                    continue
                if record.id in batch:
                    summary.count(Action.UNCHANGED)  # superseded by the newer read just made
                seen[record.id] = mark
                seen.move_to_end(record.id)
                if len(seen) > SEEN_LIMIT:
                    seen.popitem(last=False)
                processed.add(record.id)
                batch[record.id] = record
                if len(batch) >= self.options.batch_size:
                    self._process_batch(key, stream, run, list(batch.values()), summary, force=force)
                    batch = {}
        if batch:
            self._process_batch(key, stream, run, list(batch.values()), summary, force=force)

    def _process_batch(
        self,
        key: StreamKey,
        stream: Stream,
        run: RunRef,
        records: Sequence[SourceRecord],
        summary: Summary,
        *,
        force: bool,
    ) -> list[Outcome]:
        ids = [r.id for r in records]
        links = self.ledger.get_links(key, ids)
        pending = self.ledger.pending_intents(key, ids)
        attempts = self.ledger.open_attempts(key, ids)
        lookups = stream.prepare(records, links)

        outcomes: list[Outcome] = []
        items: list[WriteItem] = []
        hashes: dict[str, str] = {}
        for record in records:
            try:
                verdict = stream.map(record, lookups)
            except _FATAL_MAP_ERRORS:
                raise
            except Exception as error:
                if isinstance(error, getattr(stream, "fatal_errors", ())):
                    raise
                # One record the mapping cannot handle must not stop the records behind it.
                log.warning("%s: map() raised for %s; dead-lettered", key, record.id, exc_info=True)
                verdict = DeadLetter(f"mapping failed: {describe_error(error)}")
            if isinstance(verdict, Skip):
                outcomes.append(self._outcome(stream, record, Action.SKIPPED, reason=verdict.reason))
            elif isinstance(verdict, DeadLetter):
                outcomes.append(
                    self._outcome(stream, record, Action.DEAD_LETTERED, reason=verdict.describe())
                )
            elif isinstance(verdict, Write):
                content = payload_hash(verdict.payload)
                hashes[record.id] = content
                link = links.get(record.id)
                if link is not None and link.payload_hash == content and not force:
                    outcomes.append(
                        self._outcome(
                            stream, record, Action.UNCHANGED, target_id=link.target_id, content=content
                        )
                    )
                    continue
                intent = pending.get(record.id) if link is None else None
                items.append(
                    WriteItem(
                        record=record,
                        payload=verdict.payload,
                        idempotency_key=idempotency_key(key, record.id, content),
                        target_id=link.target_id if link else None,
                        uncertain=intent is not None,
                        pending_since=intent.since if intent else None,
                        pending_key=intent.idempotency_key if intent else None,
                        attempt=attempts.get(record.id, 0),
                    )
                )
            else:  # pragma: no cover - guarded by the type checker
                raise EngineError(f"map() returned {type(verdict).__name__}, not Write/Skip/DeadLetter")

        if items:
            creates = [(i.record.id, i.idempotency_key) for i in items if i.target_id is None]
            if creates:
                # Written before the target call: if we crash after the target accepted the write
                # but before the ledger commit, the next attempt knows to look before creating.
                self.ledger.mark_pending(key, creates)
            self.ledger.check_lease(key)  # a worker that lost its lease must not write on
            results = stream.write(items)
            outcomes.extend(self._results_to_outcomes(stream, items, results, hashes))

        self.ledger.commit_batch(key, run, outcomes)
        for outcome in outcomes:
            summary.count(outcome.action)
            if outcome.action == Action.DEAD_LETTERED:
                summary.note_reason(outcome.record.id, outcome.reason)
        return outcomes

    def _results_to_outcomes(
        self,
        stream: Stream,
        items: Sequence[WriteItem],
        results: Sequence[WriteResult],
        hashes: Mapping[str, str],
    ) -> list[Outcome]:
        by_id = {item.record.id: item for item in items}
        outcomes: list[Outcome] = []
        seen: set[str] = set()
        for result in results:
            item = by_id.get(result.source_id)
            if item is None or result.source_id in seen:
                raise EngineError(
                    f"{type(stream).__name__}.write() reported {result.source_id!r}, "
                    "which was not in the batch or was reported twice"
                )
            seen.add(result.source_id)
            if result.action in (Action.CREATED, Action.UPDATED, Action.SKIPPED) and not result.target_id:
                raise EngineError(
                    f"{type(stream).__name__}.write() gave no target id for {result.source_id!r}"
                )
            outcomes.append(
                self._outcome(
                    stream,
                    item.record,
                    result.action,
                    target_id=result.target_id,
                    reason=result.reason,
                    content=hashes.get(item.record.id) if result.action != Action.DEAD_LETTERED else None,
                    key=item.idempotency_key,
                )
            )
        missing = [i for i in by_id if i not in seen]
        if missing:
            raise EngineError(
                f"{type(stream).__name__}.write() reported nothing for {', '.join(missing[:10])}"
            )
        return outcomes

    @staticmethod
    def _outcome(
        stream: Stream,
        record: SourceRecord,
        action: Action,
        *,
        target_id: str | None = None,
        reason: str | None = None,
        content: str | None = None,
        key: str | None = None,
    ) -> Outcome:
        return Outcome(
            record=record,
            action=action,
            source_system=stream.source_system,
            target_system=stream.target_system,
            target_id=target_id,
            reason=reason,
            payload_hash=content,
            idempotency_key=key,
        )

    # -- dead letters -------------------------------------------------------------------------

    def _take_again(self, key: StreamKey, stream: Stream) -> None:
        """Hand the stream the rejected units an operator asked to retry, and resolve those it took."""
        due = self.ledger.due_unit_dead_letters(key, now=self.clock(), limit=self.options.dead_letter_limit)
        if not due:
            return
        taken = dict(stream.take_again(due))
        unknown = sorted(set(taken) - {d.id for d in due})
        if unknown:
            raise EngineError(
                f"{type(stream).__name__}.take_again() reported dead letters {unknown[:10]} it was not given"
            )
        self.ledger.resolve_taken_again(taken)
        for dead_letter in due:
            if dead_letter.id in taken:
                log.info("%s: %s taken again: %s", key, dead_letter.source_id, taken[dead_letter.id])
            else:
                log.warning(
                    "%s: %s was not taken again; its dead letter stays open", key, dead_letter.source_id
                )

    def _record_rejected_units(self, key: StreamKey, stream: Stream, run: RunRef, summary: Summary) -> None:
        """Open a dead letter (and an audit row) for each unit the stream rejected whole."""
        units = list(stream.rejected_units())
        if not units:
            return
        self.ledger.dead_letter_units(
            key, run, units, source_system=stream.source_system, target_system=stream.target_system
        )
        for unit in units:
            summary.rejected[unit.kind] = summary.rejected.get(unit.kind, 0) + 1
            summary.note_reason(unit.source_id, unit.reason, unit=True)
            log.warning("%s: %s %s rejected: %s", key, unit.kind, unit.name, unit.reason)

    def _retry_dead_letters(
        self, key: StreamKey, stream: Stream, run: RunRef, summary: Summary, processed: _Processed
    ) -> None:
        due = [
            d
            for d in self.ledger.due_dead_letters(key, now=self.clock(), limit=self.options.dead_letter_limit)
            if d.source_id not in processed
        ]
        if not due:
            return
        stored = {d.source_id: record_from_json(d.record) for d in due}
        try:
            fresh = {r.id: r for r in stream.fetch(list(stored))}
        except NotImplementedError:
            fresh = {}
        records = [fresh.get(source_id, record) for source_id, record in stored.items()]
        log.info("%s: retrying %d dead letter(s)", key, len(records))
        for page in _pages(records, self.options.batch_size):
            outcomes = self._process_batch(key, stream, run, page, summary, force=False)
            summary.retried += len(outcomes)
            summary.recovered += sum(1 for o in outcomes if o.action != Action.DEAD_LETTERED)
            processed.update(r.id for r in page)


_FATAL_MAP_ERRORS: tuple[type[BaseException], ...] = (
    EngineError,
    LedgerError,
    SQLAlchemyError,
    OSError,
    MemoryError,
)
"""Exceptions of :meth:`Stream.map` that fail the task instead of dead-lettering the record: the
engine's and the ledger's own errors, and I/O and resource failures (transient: Airflow retries the
task). ``KeyboardInterrupt``, ``SystemExit`` and Airflow's task timeouts are not ``Exception`` and
always propagate. A stream adds its own (transport, configuration) in :attr:`Stream.fatal_errors`."""

ERROR_TEXT_LIMIT = 500
"""The longest exception message kept in a dead letter's reason."""


def describe_error(error: BaseException) -> str:
    """``"<type>: <message>"`` on one line, the message cut to :data:`ERROR_TEXT_LIMIT` characters."""
    try:
        message = " ".join(str(error).split())
    except Exception:  # noqa: BLE001 - a broken __str__ must not hide the error itself
        message = ""
    if len(message) > ERROR_TEXT_LIMIT:
        message = message[: ERROR_TEXT_LIMIT - 1] + "…"
    name = type(error).__name__
    return f"{name}: {message}" if message else name


def lease_owner(run: RunRef, map_index: int = -1) -> str:
    """The lease owner of a task instance: the same for every try, so a retry takes its lease back."""
    owner = f"{run.dag_id or '-'}.{run.task_id or '-'}/{run.run_id}"
    if map_index >= 0:
        owner = f"{owner}[{map_index}]"
    if len(owner) > LEASE_OWNER_MAX:  # the ledger's column; keep it unique with a digest
        owner = f"{owner[: LEASE_OWNER_MAX - 65]}#{hashlib.sha256(owner.encode()).hexdigest()}"
    return owner


LEASE_OWNER_MAX = 250


REASONS_KEPT = 5
"""How many dead letters of a run a :class:`Summary` keeps the reason of, for the task log."""

SEEN_LIMIT = 10_000
"""How many recently read record ids a run remembers to drop repeats of the source's paging."""


class _Processed:
    """The records of a run that had a due dead letter when the run started and were processed."""

    def __init__(self, watched: set[str]) -> None:
        self.watched = watched
        self.done: set[str] = set()

    def add(self, source_id: str) -> None:
        if source_id in self.watched:
            self.done.add(source_id)

    def update(self, source_ids: Iterable[str]) -> None:
        for source_id in source_ids:
            self.add(source_id)

    def __contains__(self, source_id: object) -> bool:
        return source_id in self.done


def _pages(records: Sequence[SourceRecord], size: int) -> Iterator[Sequence[SourceRecord]]:
    for start in range(0, len(records), size):
        yield records[start : start + size]


def _as_utc(value: Any) -> datetime:

    parsed = (
        value if isinstance(value, datetime) else datetime.fromisoformat(str(value).replace("Z", "+00:00"))
    )
    if parsed.tzinfo is None:
        parsed = parsed.replace(tzinfo=UTC)
    return parsed.astimezone(UTC)


def _describe(summary: Summary) -> str:
    return (
        f"read {summary.read}, created {summary.created}, updated {summary.updated}, "
        f"skipped {summary.skipped}, unchanged {summary.unchanged}, dead-lettered {summary.dead_lettered}, "
        f"dead letters retried {summary.retried} (recovered {summary.recovered}), "
        f"files rejected {summary.files_rejected}"
    )
