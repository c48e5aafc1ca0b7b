"""The ledger: the provider's own record of cursors, runs, links, audit, dead letters and files.

Every method runs in its own transaction and is safe to call from several threads and processes at
once. Concurrency is handled by the database, not by read-modify-write in Python: cursors,
leases, control numbers, dead letters and links are single ``INSERT … ON CONFLICT DO UPDATE``
statements whose update clause carries the rule (only forward, only if expired, wrap at maximum,
attempts + 1). The only difference between SQLite and PostgreSQL is which dialect builds the insert.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator, Mapping, Sequence
from contextlib import AbstractContextManager, contextmanager
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any, TypeVar

import sqlalchemy as sa
from sqlalchemy.dialects import postgresql, sqlite
from sqlalchemy.engine import Connection, Engine, Row

from ml_connector_provider.engine.types import (
    Action,
    DeadLetterRow,
    Link,
    Outcome,
    RunRef,
    StreamKey,
    Window,
    record_to_json,
    utcnow,
)
from ml_connector_provider.ledger import schema
from ml_connector_provider.ledger.connection import (
    ledger_url_from_airflow,
    make_engine,
    shared_engine,
)
from ml_connector_provider.ledger.schema import (
    LedgerError,
    UTCDateTime,
    audit,
    control_numbers,
    cursors,
    dead_letters,
    files,
    leases,
    links,
    pending,
    runs,
)

IN_LIST_CHUNK = 500
RUN_MODES = frozenset({"incremental", "replay_range", "replay_ids"})
FILE_OUTCOMES = frozenset({"processed", "failed"})
_LINKED_ACTIONS = frozenset({Action.CREATED, Action.UPDATED, Action.SKIPPED})
# Backoff steps are precomputed into a CASE expression; past this many doublings the cap applies.
_MAX_BACKOFF_STEPS = 32

T = TypeVar("T")


class LeaseHeld(LedgerError):
    """Another worker holds the lease of a stream.

    :param owner: who holds it.
    :param expires_at: when it lapses unless renewed.
    :param key: the stream.
    """

    def __init__(self, owner: str, expires_at: datetime, key: StreamKey | None = None) -> None:
        self.owner = owner
        self.expires_at = expires_at
        self.key = key
        where = f" on {key}" if key else ""
        super().__init__(f"the lease{where} is held by {owner!r} until {expires_at.isoformat()}")


@dataclass(frozen=True)
class Cursor:
    """How far a stream has been synced.

    :param position: every source change strictly before this instant has been committed.
    :param state: stream-specific extras (e.g. Stripe event ids seen inside the overlap).
    :param updated_at: when the cursor last moved.
    """

    position: datetime
    state: Mapping[str, Any]
    updated_at: datetime


@dataclass(frozen=True)
class RunRow:
    """The window one Airflow run of one stream claimed, and how the run ended."""

    key: StreamKey
    run_id: str
    dag_id: str | None
    task_id: str | None
    mode: str
    window: Window
    params: Mapping[str, Any]
    try_number: int
    started_at: datetime
    finished_at: datetime | None
    summary: Mapping[str, Any] | None


@dataclass(frozen=True)
class AuditRow:
    """One line of the audit trail: what one run did to one source record."""

    id: int
    key: StreamKey
    run_id: str
    try_number: int
    dag_id: str | None
    task_id: str | None
    source_system: str
    source_id: str
    source_version: str | None
    source_label: str | None
    target_system: str
    target_id: str | None
    action: Action
    reason: str | None
    idempotency_key: str | None
    created_at: datetime


@dataclass(frozen=True)
class FileRow:
    """A file seen by a file-based integration, identified by its SHA-256 checksum."""

    id: int
    tenant: str
    integration: str
    path: str
    size: int
    checksum: str
    outcome: str
    detail: str | None
    first_seen_at: datetime
    processed_at: datetime | None


def _chunks(items: Sequence[T], size: int = IN_LIST_CHUNK) -> Iterator[Sequence[T]]:
    for start in range(0, len(items), size):
        yield items[start : start + size]


def _key_values(key: StreamKey) -> dict[str, str]:
    return {"tenant": key.tenant, "integration": key.integration, "stream": key.stream}


def _of_stream(table: sa.Table, key: StreamKey) -> list[sa.ColumnElement[bool]]:
    return [
        table.c.tenant == key.tenant,
        table.c.integration == key.integration,
        table.c.stream == key.stream,
    ]


def _matching(table: sa.Table, **values: Any) -> list[sa.ColumnElement[bool]]:
    """Equality conditions for the given column values that are not ``None``."""
    return [table.c[name] == value for name, value in values.items() if value is not None]


def _stream_of(row: Row[Any]) -> StreamKey:
    return StreamKey(row.tenant, row.integration, row.stream)


def _link(row: Row[Any]) -> Link:
    return Link(
        key=_stream_of(row),
        source_system=row.source_system,
        source_id=row.source_id,
        target_system=row.target_system,
        target_id=row.target_id,
        source_version=row.source_version,
        payload_hash=row.payload_hash,
        updated_at=row.updated_at,
    )


def _run(row: Row[Any]) -> RunRow:
    return RunRow(
        key=_stream_of(row),
        run_id=row.run_id,
        dag_id=row.dag_id,
        task_id=row.task_id,
        mode=row.mode,
        window=Window(row.window_start, row.window_end),
        params=row.params,
        try_number=row.try_number,
        started_at=row.started_at,
        finished_at=row.finished_at,
        summary=row.summary,
    )


def _dead_letter(row: Row[Any]) -> DeadLetterRow:
    return DeadLetterRow(
        id=row.id,
        key=_stream_of(row),
        source_id=row.source_id,
        source_version=row.source_version,
        reason=row.reason,
        record=row.record,
        attempts=row.attempts,
        next_retry_at=row.next_retry_at,
        status=row.status,
        created_at=row.created_at,
        updated_at=row.updated_at,
    )


def _audit(row: Row[Any]) -> AuditRow:
    return AuditRow(
        id=row.id,
        key=_stream_of(row),
        run_id=row.run_id,
        try_number=row.try_number,
        dag_id=row.dag_id,
        task_id=row.task_id,
        source_system=row.source_system,
        source_id=row.source_id,
        source_version=row.source_version,
        source_label=row.source_label,
        target_system=row.target_system,
        target_id=row.target_id,
        action=Action(row.action),
        reason=row.reason,
        idempotency_key=row.idempotency_key,
        created_at=row.created_at,
    )


def _file(row: Row[Any]) -> FileRow:
    return FileRow(
        id=row.id,
        tenant=row.tenant,
        integration=row.integration,
        path=row.path,
        size=row.size,
        checksum=row.checksum,
        outcome=row.outcome,
        detail=row.detail,
        first_seen_at=row.first_seen_at,
        processed_at=row.processed_at,
    )


class Ledger:
    """The provider's own store (SQLAlchemy Core; SQLite by default, PostgreSQL in production).

    :param engine_or_url: an engine from :func:`~ml_connector_provider.ledger.connection.make_engine`
        or a SQLAlchemy URL (the ledger then owns its engine).
    :param dead_letter_base_delay: delay before the first automatic retry of a dead letter; it
        doubles with every failed attempt.
    :param dead_letter_max_delay: the longest delay between automatic retries.
    :param clock: returns the current aware UTC time (tests pin it).
    """

    def __init__(
        self,
        engine_or_url: Engine | str,
        *,
        dead_letter_base_delay: timedelta = timedelta(minutes=5),
        dead_letter_max_delay: timedelta = timedelta(hours=6),
        clock: Callable[[], datetime] = utcnow,
    ) -> None:
        if dead_letter_base_delay <= timedelta(0) or dead_letter_max_delay < dead_letter_base_delay:
            raise ValueError("dead-letter delays must satisfy 0 < base delay <= max delay")
        self._engine = make_engine(engine_or_url) if isinstance(engine_or_url, str) else engine_or_url
        if self._engine.dialect.name not in ("sqlite", "postgresql"):
            raise LedgerError(f"the ledger supports SQLite and PostgreSQL, not {self._engine.dialect.name}")
        self._reader = self._engine.execution_options(mlc_read_only=True)
        self._insert = postgresql.insert if self._engine.dialect.name == "postgresql" else sqlite.insert
        self._clock = clock
        self._max_delay = dead_letter_max_delay
        self._backoff: list[timedelta] = []
        while len(self._backoff) < _MAX_BACKOFF_STEPS:
            delay = dead_letter_base_delay * 2 ** len(self._backoff)
            if delay >= dead_letter_max_delay:
                break
            self._backoff.append(delay)

    @classmethod
    def from_airflow(cls, conn_id: str | None = None, **kwargs: Any) -> Ledger:
        """The ledger named by an Airflow connection (see :mod:`~ml_connector_provider.ledger.connection`).

        Engines are shared per URL within a process, so calling this in every task is cheap.

        :param conn_id: Airflow connection id; ``None`` means the configured default
            (``[ml_connector] ledger_conn_id``, else ``ml_connector_ledger``).
        :param kwargs: passed on to :class:`Ledger`.
        """
        return cls(shared_engine(ledger_url_from_airflow(conn_id)), **kwargs)

    @property
    def url_for_display(self) -> str:
        """The database URL with the password masked."""
        return self._engine.url.render_as_string(hide_password=True)

    @property
    def engine(self) -> Engine:
        """The underlying SQLAlchemy engine."""
        return self._engine

    def __repr__(self) -> str:
        return f"Ledger({self.url_for_display!r})"

    def migrate(self) -> int:
        """Create or upgrade the ledger tables; see :func:`~ml_connector_provider.ledger.schema.migrate`.

        :return: the schema version.
        """
        return schema.migrate(self._engine)

    def dispose(self) -> None:
        """Close the pooled connections of the engine."""
        self._engine.dispose()

    def _write(self) -> AbstractContextManager[Connection]:
        return self._engine.begin()

    def _read(self) -> AbstractContextManager[Connection]:
        return self._reader.connect()

    def _upsert(self, table: sa.Table) -> postgresql.Insert | sqlite.Insert:
        return self._insert(table)

    # -- cursors -------------------------------------------------------------------------------

    def get_cursor(self, key: StreamKey) -> Cursor | None:
        """The cursor of a stream, ``None`` if it never ran."""
        with self._read() as conn:
            row = conn.execute(sa.select(cursors).where(*_of_stream(cursors, key))).first()
        return None if row is None else Cursor(row.position, row.state, row.updated_at)

    def advance_cursor(
        self, key: StreamKey, position: datetime, state: Mapping[str, Any] | None = None
    ) -> bool:
        """Move the cursor forward to ``position``, never backwards.

        Atomic: the comparison happens inside the database, so concurrent writers cannot move the
        cursor back whatever order they commit in.

        :param state: replaces the stored state when the cursor moves; ``None`` keeps it.
        :return: whether the cursor moved (``False`` if it was already at or past ``position``).
        """
        stmt = self._upsert(cursors).values(
            **_key_values(key), position=position, state=dict(state or {}), updated_at=self._clock()
        )
        changes = {"position": stmt.excluded.position, "updated_at": stmt.excluded.updated_at}
        if state is not None:
            changes["state"] = stmt.excluded.state
        stmt = stmt.on_conflict_do_update(
            index_elements=list(cursors.primary_key), set_=changes, where=cursors.c.position < position
        )
        with self._write() as conn:
            return conn.execute(stmt).rowcount == 1

    def set_cursor(
        self, key: StreamKey, position: datetime | None, state: Mapping[str, Any] | None = None
    ) -> None:
        """Operator override: put the cursor anywhere, including backwards.

        :param position: the new position; ``None`` deletes the cursor (the next run starts from the
            configured initial start).
        :param state: replaces the stored state; ``None`` keeps it.
        """
        with self._write() as conn:
            if position is None:
                conn.execute(sa.delete(cursors).where(*_of_stream(cursors, key)))
                return
            stmt = self._upsert(cursors).values(
                **_key_values(key), position=position, state=dict(state or {}), updated_at=self._clock()
            )
            changes = {"position": stmt.excluded.position, "updated_at": stmt.excluded.updated_at}
            if state is not None:
                changes["state"] = stmt.excluded.state
            conn.execute(stmt.on_conflict_do_update(index_elements=list(cursors.primary_key), set_=changes))

    # -- run windows ---------------------------------------------------------------------------

    def claim_run_window(
        self, key: StreamKey, run: RunRef, window: Window, *, mode: str, params: Mapping[str, Any]
    ) -> Window:
        """Record the window a run is about to process, or return the one it recorded before.

        A cleared or retried task therefore replays exactly the window of its first try. The
        stored row's ``try_number`` and ``started_at`` are updated and its end state cleared.

        :param mode: ``incremental``, ``replay_range`` or ``replay_ids``.
        :param params: the run's replay parameters, kept for the record.
        :return: the window to process.
        """
        if mode not in RUN_MODES:
            raise ValueError(f"unknown run mode {mode!r}; expected one of {sorted(RUN_MODES)}")
        insert = self._upsert(runs).values(
            **_key_values(key),
            run_id=run.run_id,
            dag_id=run.dag_id,
            task_id=run.task_id,
            mode=mode,
            window_start=window.start,
            window_end=window.end,
            params=dict(params),
            try_number=run.try_number,
            started_at=self._clock(),
        )
        stmt = insert.on_conflict_do_update(
            index_elements=list(runs.primary_key),
            set_={
                "try_number": insert.excluded.try_number,
                "started_at": insert.excluded.started_at,
                "finished_at": None,
                "summary": None,
            },
        ).returning(runs.c.window_start, runs.c.window_end)
        with self._write() as conn:
            row = conn.execute(stmt).one()
        return Window(row.window_start, row.window_end)

    def finish_run(self, key: StreamKey, run: RunRef, summary: Mapping[str, Any]) -> None:
        """Record the end of a run and its summary (counts, window).

        :raises LedgerError: if the run never claimed a window.
        """
        stmt = (
            sa.update(runs)
            .where(*_of_stream(runs, key), runs.c.run_id == run.run_id)
            .values(finished_at=self._clock(), summary=dict(summary), try_number=run.try_number)
        )
        with self._write() as conn:
            if conn.execute(stmt).rowcount == 0:
                raise LedgerError(f"run {run.run_id!r} of {key} never claimed a window")

    def get_run(self, key: StreamKey, run_id: str) -> RunRow | None:
        """The stored run, ``None`` if it never claimed a window."""
        with self._read() as conn:
            row = conn.execute(sa.select(runs).where(*_of_stream(runs, key), runs.c.run_id == run_id)).first()
        return None if row is None else _run(row)

    def list_runs(
        self,
        *,
        tenant: str | None = None,
        integration: str | None = None,
        stream: str | None = None,
        limit: int = 100,
    ) -> list[RunRow]:
        """Runs, most recently started first."""
        stmt = (
            sa.select(runs)
            .where(*_matching(runs, tenant=tenant, integration=integration, stream=stream))
            .order_by(runs.c.started_at.desc(), runs.c.run_id.desc())
            .limit(limit)
        )
        with self._read() as conn:
            return [_run(row) for row in conn.execute(stmt)]

    # -- write intents -------------------------------------------------------------------------

    def mark_pending(self, key: StreamKey, items: Sequence[tuple[str, str]]) -> None:
        """Record that these records are about to be written to the target.

        A pending intent that survives to the next run means the earlier write may have happened
        without the ledger learning of it; the writer must then look before it creates.

        :param items: ``(source_id, idempotency_key)`` pairs; a later pair for the same id wins.
        """
        latest = dict(items)
        if not latest:
            return
        now = self._clock()
        rows = [
            {**_key_values(key), "source_id": source_id, "idempotency_key": idem, "created_at": now}
            for source_id, idem in sorted(latest.items())
        ]
        stmt = self._upsert(pending)
        stmt = stmt.on_conflict_do_update(
            index_elements=list(pending.primary_key),
            set_={"idempotency_key": stmt.excluded.idempotency_key, "created_at": stmt.excluded.created_at},
        )
        with self._write() as conn:
            conn.execute(stmt, rows)

    def pending_for(self, key: StreamKey, source_ids: Sequence[str]) -> dict[str, str]:
        """The pending intents among ``source_ids``: source id → idempotency key."""
        found: dict[str, str] = {}
        with self._read() as conn:
            for chunk in _chunks(list(dict.fromkeys(source_ids))):
                stmt = sa.select(pending.c.source_id, pending.c.idempotency_key).where(
                    *_of_stream(pending, key), pending.c.source_id.in_(chunk)
                )
                found.update({row.source_id: row.idempotency_key for row in conn.execute(stmt)})
        return found

    # -- links ---------------------------------------------------------------------------------

    def get_links(self, key: StreamKey, source_ids: Sequence[str]) -> dict[str, Link]:
        """The links of these source records in a stream: source id → link."""
        found: dict[str, Link] = {}
        with self._read() as conn:
            for chunk in _chunks(list(dict.fromkeys(source_ids))):
                stmt = sa.select(links).where(*_of_stream(links, key), links.c.source_id.in_(chunk))
                found.update({row.source_id: _link(row) for row in conn.execute(stmt)})
        return found

    def links_for_target(self, target_system: str, target_id: str) -> list[Link]:
        """Every source record linked to one target record (across tenants and streams)."""
        stmt = (
            sa.select(links)
            .where(links.c.target_system == target_system, links.c.target_id == target_id)
            .order_by(links.c.tenant, links.c.integration, links.c.stream, links.c.source_id)
        )
        with self._read() as conn:
            return [_link(row) for row in conn.execute(stmt)]

    def find_link(self, *, tenant: str, integration: str, stream: str, source_id: str) -> Link | None:
        """The link of one source record, ``None`` if it was never written."""
        return self.get_links(StreamKey(tenant, integration, stream), [source_id]).get(source_id)

    # -- batches -------------------------------------------------------------------------------

    def commit_batch(self, key: StreamKey, run: RunRef, outcomes: Sequence[Outcome]) -> None:
        """Record what happened to a batch of records, all or nothing, in one transaction.

        * created / updated / skipped with a target id: the link is upserted;
        * every action except ``unchanged``: an audit row;
        * dead-lettered: the dead letter is opened (or re-opened) with attempts + 1 and the next
          retry after an exponential backoff (``base * 2**(attempts-1)``, capped);
        * any other action resolves the record's open dead letter as ``synced``;
        * the pending intents of the records that have a target id are cleared; a record skipped or
          dead-lettered keeps its intent, since an earlier attempt may have created it in the
          target, and its next write must look there first.

        When a record appears more than once, its last outcome decides its dead-letter state and
        its last linked outcome its link.
        """
        if not outcomes:
            return
        now = self._clock()
        keyed = _key_values(key)
        final = {o.record.id: o for o in outcomes}
        linked = {o.record.id: o for o in outcomes if Action(o.action) in _LINKED_ACTIONS and o.target_id}
        link_rows = [
            {
                **keyed,
                "source_system": o.source_system,
                "source_id": sid,
                "target_system": o.target_system,
                "target_id": o.target_id,
                "source_version": o.record.version,
                "payload_hash": o.payload_hash,
                "created_at": now,
                "updated_at": now,
            }
            for sid, o in sorted(linked.items())
        ]
        audit_rows = [
            {
                **keyed,
                "run_id": run.run_id,
                "try_number": run.try_number,
                "dag_id": run.dag_id,
                "task_id": run.task_id,
                "source_system": o.source_system,
                "source_id": o.record.id,
                "source_version": o.record.version,
                "source_label": o.record.label,
                "target_system": o.target_system,
                "target_id": o.target_id,
                "action": Action(o.action).value,
                "reason": o.reason,
                "idempotency_key": o.idempotency_key,
                "created_at": now,
            }
            for o in outcomes
            if Action(o.action) is not Action.UNCHANGED
        ]
        failed_rows = [
            {
                **keyed,
                "source_id": sid,
                "source_version": o.record.version,
                "reason": o.reason,
                "record": record_to_json(o.record),
                "attempts": 1,
                "next_retry_at": now + self._retry_delay(1),
                "status": "open",
                "created_at": now,
                "updated_at": now,
            }
            for sid, o in sorted(final.items())
            if Action(o.action) is Action.DEAD_LETTERED
        ]
        synced_ids = sorted(sid for sid, o in final.items() if Action(o.action) is not Action.DEAD_LETTERED)

        with self._write() as conn:
            if link_rows:
                conn.execute(self._link_upsert(), link_rows)
            if audit_rows:
                conn.execute(sa.insert(audit), audit_rows)
            if failed_rows:
                conn.execute(self._dead_letter_upsert(now), failed_rows)
            for chunk in _chunks(synced_ids):
                conn.execute(
                    sa.update(dead_letters)
                    .where(
                        *_of_stream(dead_letters, key),
                        dead_letters.c.status == "open",
                        dead_letters.c.source_id.in_(chunk),
                    )
                    .values(
                        status="resolved",
                        resolution="synced",
                        resolved_at=now,
                        updated_at=now,
                        next_retry_at=None,
                    )
                )
            for chunk in _chunks(sorted(sid for sid, o in final.items() if o.target_id)):
                conn.execute(
                    sa.delete(pending).where(*_of_stream(pending, key), pending.c.source_id.in_(chunk))
                )

    def _link_upsert(self) -> sa.Insert:
        stmt = self._upsert(links)
        return stmt.on_conflict_do_update(
            index_elements=list(links.primary_key),
            set_={
                "target_system": stmt.excluded.target_system,
                "target_id": stmt.excluded.target_id,
                "source_version": stmt.excluded.source_version,
                "payload_hash": sa.func.coalesce(stmt.excluded.payload_hash, links.c.payload_hash),
                "updated_at": stmt.excluded.updated_at,
            },
        )

    def _retry_delay(self, attempts: int) -> timedelta:
        return self._backoff[attempts - 1] if attempts <= len(self._backoff) else self._max_delay

    def _dead_letter_upsert(self, now: datetime) -> sa.Insert:
        """Open a dead letter, or count one more attempt on it (attempt 1 again if it was resolved)."""
        stmt = self._upsert(dead_letters)
        attempts = sa.case((dead_letters.c.status == "open", dead_letters.c.attempts + 1), else_=1)
        retry_at = sa.case(
            *(
                (attempts == n, sa.literal(now + delay, UTCDateTime()))
                for n, delay in enumerate(self._backoff, 1)
            ),
            else_=sa.literal(now + self._max_delay, UTCDateTime()),
        )
        return stmt.on_conflict_do_update(
            index_elements=[
                dead_letters.c.tenant,
                dead_letters.c.integration,
                dead_letters.c.stream,
                dead_letters.c.source_id,
            ],
            set_={
                "source_version": stmt.excluded.source_version,
                "reason": stmt.excluded.reason,
                "record": stmt.excluded.record,
                "attempts": attempts,
                "next_retry_at": retry_at,
                "status": "open",
                "resolution": None,
                "resolved_at": None,
                "updated_at": stmt.excluded.updated_at,
            },
        )

    # -- dead letters --------------------------------------------------------------------------

    def due_dead_letters(
        self, key: StreamKey, *, now: datetime | None = None, limit: int = 500
    ) -> list[DeadLetterRow]:
        """Open dead letters of a stream whose next retry is due, the longest-waiting first."""
        stmt = (
            sa.select(dead_letters)
            .where(
                *_of_stream(dead_letters, key),
                dead_letters.c.status == "open",
                dead_letters.c.next_retry_at <= (now or self._clock()),
            )
            .order_by(dead_letters.c.next_retry_at, dead_letters.c.id)
            .limit(limit)
        )
        with self._read() as conn:
            return [_dead_letter(row) for row in conn.execute(stmt)]

    def dead_letters_for(self, key: StreamKey, source_ids: Sequence[str]) -> dict[str, DeadLetterRow]:
        """The dead letters (open or resolved) of these source records of a stream, by source id."""
        found: dict[str, DeadLetterRow] = {}
        with self._read() as conn:
            for chunk in _chunks(sorted(set(source_ids))):
                stmt = sa.select(dead_letters).where(
                    *_of_stream(dead_letters, key), dead_letters.c.source_id.in_(chunk)
                )
                found.update((row.source_id, row) for row in map(_dead_letter, conn.execute(stmt)))
        return found

    def list_dead_letters(
        self,
        *,
        tenant: str | None = None,
        integration: str | None = None,
        stream: str | None = None,
        status: str | None = "open",
        limit: int = 1000,
    ) -> list[DeadLetterRow]:
        """Dead letters, oldest first.

        :param status: ``open``, ``resolved``, or ``None`` for both.
        """
        stmt = (
            sa.select(dead_letters)
            .where(
                *_matching(dead_letters, tenant=tenant, integration=integration, stream=stream, status=status)
            )
            .order_by(dead_letters.c.id)
            .limit(limit)
        )
        with self._read() as conn:
            return [_dead_letter(row) for row in conn.execute(stmt)]

    def get_dead_letters(self, ids: Sequence[int]) -> list[DeadLetterRow]:
        """The dead letters with these ids (unknown ids are ignored), ordered by id."""
        found: list[DeadLetterRow] = []
        with self._read() as conn:
            for chunk in _chunks(sorted(set(ids))):
                stmt = sa.select(dead_letters).where(dead_letters.c.id.in_(chunk)).order_by(dead_letters.c.id)
                found.extend(_dead_letter(row) for row in conn.execute(stmt))
        return found

    def retry_dead_letters_now(
        self,
        ids: Sequence[int] | None = None,
        *,
        tenant: str | None = None,
        integration: str | None = None,
        stream: str | None = None,
    ) -> int:
        """Make open dead letters due immediately, so the next run retries them.

        :param ids: the dead letters to retry; ``None`` selects every open one matching the filters.
        :return: how many were made due.
        """
        now = self._clock()
        conditions = [
            dead_letters.c.status == "open",
            *_matching(dead_letters, tenant=tenant, integration=integration, stream=stream),
        ]
        stmt = sa.update(dead_letters).values(next_retry_at=now, updated_at=now)
        with self._write() as conn:
            if ids is None:
                return conn.execute(stmt.where(*conditions)).rowcount
            return sum(
                conn.execute(stmt.where(*conditions, dead_letters.c.id.in_(chunk))).rowcount
                for chunk in _chunks(sorted(set(ids)))
            )

    def resolve_dead_letters(self, ids: Sequence[int], *, note: str) -> int:
        """Close open dead letters by hand (the record was fixed or is not to be synced).

        :param note: why, for the record; required.
        :return: how many were resolved (already resolved ones are left as they are).
        """
        if not note.strip():
            raise ValueError("a note is required to resolve dead letters by hand")
        now = self._clock()
        stmt = sa.update(dead_letters).values(
            status="resolved", resolution=note, resolved_at=now, updated_at=now, next_retry_at=None
        )
        with self._write() as conn:
            return sum(
                conn.execute(
                    stmt.where(dead_letters.c.status == "open", dead_letters.c.id.in_(chunk))
                ).rowcount
                for chunk in _chunks(sorted(set(ids)))
            )

    # -- audit ---------------------------------------------------------------------------------

    def query_audit(
        self,
        *,
        tenant: str | None = None,
        integration: str | None = None,
        stream: str | None = None,
        record_id: str | None = None,
        action: str | None = None,
        run_id: str | None = None,
        since: datetime | None = None,
        limit: int = 200,
    ) -> list[AuditRow]:
        """Audit rows, newest first.

        :param record_id: matches the source id or the target id.
        :param action: an :class:`~ml_connector_provider.engine.types.Action` value.
        :param since: only rows recorded at or after this instant.
        """
        conditions = _matching(
            audit,
            tenant=tenant,
            integration=integration,
            stream=stream,
            run_id=run_id,
            action=None if action is None else Action(action).value,
        )
        if record_id is not None:
            conditions.append(sa.or_(audit.c.source_id == record_id, audit.c.target_id == record_id))
        if since is not None:
            conditions.append(audit.c.created_at >= since)
        stmt = (
            sa.select(audit)
            .where(*conditions)
            .order_by(audit.c.created_at.desc(), audit.c.id.desc())
            .limit(limit)
        )
        with self._read() as conn:
            return [_audit(row) for row in conn.execute(stmt)]

    def audit_counts(
        self, *, tenant: str | None = None, integration: str | None = None, run_id: str | None = None
    ) -> list[dict[str, Any]]:
        """Audit rows counted per tenant, integration, stream and action.

        :return: dicts with keys ``tenant``, ``integration``, ``stream``, ``action`` and ``count``,
            sorted by those keys.
        """
        group = (audit.c.tenant, audit.c.integration, audit.c.stream, audit.c.action)
        stmt = (
            sa.select(*group, sa.func.count().label("count"))
            .where(*_matching(audit, tenant=tenant, integration=integration, run_id=run_id))
            .group_by(*group)
            .order_by(*group)
        )
        with self._read() as conn:
            return [dict(row._mapping) for row in conn.execute(stmt)]

    # -- leases --------------------------------------------------------------------------------

    @contextmanager
    def lease(self, key: StreamKey, *, owner: str, ttl: timedelta = timedelta(minutes=30)) -> Iterator[None]:
        """Hold the stream for ``owner`` while the block runs.

        The lease is taken atomically: inserted, or taken over only when it has expired or is
        already ``owner``'s. It is released on exit, unless someone else took it over meanwhile.

        :param owner: who takes it (e.g. the task instance).
        :param ttl: how long the lease stands if its holder dies without releasing it.
        :raises LeaseHeld: when someone else holds an unexpired lease.
        """
        self._acquire_lease(key, owner, ttl)
        try:
            yield
        finally:
            with self._write() as conn:
                conn.execute(sa.delete(leases).where(*_of_stream(leases, key), leases.c.owner == owner))

    def _acquire_lease(self, key: StreamKey, owner: str, ttl: timedelta) -> None:
        while True:
            now = self._clock()
            stmt = self._upsert(leases).values(
                **_key_values(key), owner=owner, expires_at=now + ttl, acquired_at=now
            )
            stmt = stmt.on_conflict_do_update(
                index_elements=list(leases.primary_key),
                set_={
                    "owner": stmt.excluded.owner,
                    "expires_at": stmt.excluded.expires_at,
                    "acquired_at": stmt.excluded.acquired_at,
                },
                where=sa.or_(leases.c.expires_at <= now, leases.c.owner == owner),
            )
            with self._write() as conn:
                if conn.execute(stmt).rowcount == 1:
                    return
                holder = conn.execute(
                    sa.select(leases.c.owner, leases.c.expires_at).where(*_of_stream(leases, key))
                ).first()
            if holder is not None:  # else: released between the two statements; try again
                raise LeaseHeld(holder.owner, holder.expires_at, key)

    # -- processed files -----------------------------------------------------------------------

    def file_by_checksum(self, tenant: str, integration: str, checksum: str) -> FileRow | None:
        """The file with this SHA-256 checksum, ``None`` if it was never seen."""
        stmt = sa.select(files).where(
            *_matching(files, tenant=tenant, integration=integration, checksum=checksum)
        )
        with self._read() as conn:
            row = conn.execute(stmt).first()
        return None if row is None else _file(row)

    def begin_file(self, tenant: str, integration: str, *, path: str, size: int, checksum: str) -> FileRow:
        """Record a file as being processed, unless its content is already known.

        :param checksum: SHA-256 of the content, hex.
        :return: the new row (outcome ``processing``), or the existing row for this checksum
            whatever its path and outcome; the caller decides what a known file means.
        """
        checksum = checksum.lower()
        if len(checksum) != 64 or any(c not in "0123456789abcdef" for c in checksum):
            raise ValueError(f"checksum {checksum!r} is not a SHA-256 hex digest")
        stmt = (
            self._upsert(files)
            .values(
                tenant=tenant,
                integration=integration,
                path=path,
                size=size,
                checksum=checksum,
                outcome="processing",
                first_seen_at=self._clock(),
            )
            .on_conflict_do_nothing(index_elements=[files.c.tenant, files.c.integration, files.c.checksum])
        )
        with self._write() as conn:
            conn.execute(stmt)
            row = conn.execute(
                sa.select(files).where(
                    *_matching(files, tenant=tenant, integration=integration, checksum=checksum)
                )
            ).one()
        return _file(row)

    def finish_file(
        self, tenant: str, integration: str, *, checksum: str, outcome: str, detail: str | None = None
    ) -> None:
        """Record how processing a file ended.

        :param outcome: ``processed`` or ``failed``.
        :param detail: counts or the error, for operators.
        :raises LedgerError: if the file was never begun.
        """
        if outcome not in FILE_OUTCOMES:
            raise ValueError(f"unknown file outcome {outcome!r}; expected one of {sorted(FILE_OUTCOMES)}")
        stmt = (
            sa.update(files)
            .where(*_matching(files, tenant=tenant, integration=integration, checksum=checksum.lower()))
            .values(outcome=outcome, detail=detail, processed_at=self._clock())
        )
        with self._write() as conn:
            if conn.execute(stmt).rowcount == 0:
                raise LedgerError(f"no file with checksum {checksum} was begun for {tenant}/{integration}")

    def note_file(self, tenant: str, integration: str, *, checksum: str, detail: str) -> None:
        """Record progress of a file still being processed (its outcome stays ``processing``).

        :raises LedgerError: if the file was never begun.
        """
        stmt = (
            sa.update(files)
            .where(*_matching(files, tenant=tenant, integration=integration, checksum=checksum.lower()))
            .values(detail=detail)
        )
        with self._write() as conn:
            if conn.execute(stmt).rowcount == 0:
                raise LedgerError(f"no file with checksum {checksum} was begun for {tenant}/{integration}")

    def files_in_progress(self, tenant: str, integration: str, *, path_prefix: str = "") -> list[FileRow]:
        """Files begun but not finished (outcome ``processing``), oldest first.

        After a crash these are the files whose processing may or may not have happened.
        """
        stmt = (
            sa.select(files)
            .where(
                *_matching(files, tenant=tenant, integration=integration, outcome="processing"),
                files.c.path.startswith(path_prefix, autoescape=True),
            )
            .order_by(files.c.first_seen_at, files.c.id)
        )
        with self._read() as conn:
            return [_file(row) for row in conn.execute(stmt)]

    # -- EDI control numbers -------------------------------------------------------------------

    def next_control_number(self, tenant: str, partner: str, kind: str, *, maximum: int = 999_999_999) -> int:
        """The next EDI control number of one kind for one trading partner.

        Atomic: concurrent callers never get the same number. Starts at 1 and wraps to 1 after
        ``maximum`` (X12 ISA13 and GS06 are at most nine digits).

        :param kind: ``ISA``, ``GS``, ``ST``…
        """
        if maximum < 1:
            raise ValueError("maximum must be at least 1")
        insert = self._upsert(control_numbers).values(
            tenant=tenant, partner=partner, kind=kind, last_value=1, updated_at=self._clock()
        )
        current = control_numbers.c.last_value
        stmt = insert.on_conflict_do_update(
            index_elements=list(control_numbers.primary_key),
            set_={
                "last_value": sa.case((current >= maximum, 1), else_=current + 1),
                "updated_at": insert.excluded.updated_at,
            },
        ).returning(current)
        with self._write() as conn:
            return int(conn.execute(stmt).scalar_one())
